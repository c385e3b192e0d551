"""Output folders and manifests: new folders, regenerated entries, hashes, versions, netCDF names."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import kbalance
from kbalance import outputs
from kbalance.errors import InvalidValueError
from kbalance.paths import calibration_dir, model_file


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- hashes and versions ----------------------------------------------------------------


def test_file_hash_depends_on_names_and_bytes_not_order(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"1")
    b.write_bytes(b"2")
    first = outputs.file_hash([a, b])
    assert first == outputs.file_hash([b, a]) and len(first) == 64
    b.write_bytes(b"3")
    assert outputs.file_hash([a, b]) != first
    c = tmp_path / "c.csv"
    c.write_bytes(b"3")
    assert outputs.file_hash([a, c]) != outputs.file_hash([a, b])


def test_model_and_data_hashes_cover_their_files():
    root = calibration_dir()
    observed = [root / "sources.csv", root / "breaks.csv", *sorted((root / "observations").glob("*.csv"))]
    assert outputs.data_hash() == outputs.file_hash(observed)
    folder = model_file().parent
    assert outputs.model_hash() == outputs.file_hash([model_file(), folder / "levers.toml",
                                                      *(folder / "inputs").glob("*.csv")])
    assert outputs.model_hash() != outputs.data_hash()


def test_package_versions():
    versions = outputs.package_versions("surely-not-a-package")
    assert versions["kbalance"] == kbalance.__version__ and versions["numpy"] == np.__version__
    assert versions["surely-not-a-package"] == "not installed"


def test_netcdf_ready_names_and_text(tmp_path):
    ds = xr.Dataset({"total population": (("To Region",), [1.0, 2.0]),
                     "label": (("To Region",), np.array(["a", "b"], dtype=object))})
    ready = outputs.netcdf_ready(ds)
    assert set(ready.data_vars) == {"total_population", "label"} and ready["label"].dtype.kind == "U"
    assert ready["total_population"].dims == ("To_Region",)
    ready.to_netcdf(tmp_path / "ready.nc")
    with xr.open_dataset(tmp_path / "ready.nc") as back:
        assert list(back["total_population"].values) == [1.0, 2.0]


# --- new folders ----------------------------------------------------------------------


def test_check_new_folder_accepts_absent_and_empty_folders(tmp_path):
    assert outputs.check_new_folder(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert outputs.check_new_folder(tmp_path / "empty") == tmp_path / "empty"
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "file").write_text("a file", encoding="utf-8")
    for taken in ("busy", "file"):
        with pytest.raises(InvalidValueError, match="'--out'.*does not exist yet or is empty"):
            outputs.check_new_folder(tmp_path / taken)


def test_write_new_folder_renames_the_finished_folder_into_place(tmp_path):
    (tmp_path / "empty").mkdir()
    for name in ("out", "empty"):
        assert outputs.write_new_folder(tmp_path / name, lambda tmp: (tmp / "a.csv").write_text("1")) == tmp_path / name
        assert _tree(tmp_path / name) == {"a.csv": b"1"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "out"]
    with pytest.raises(InvalidValueError):
        outputs.write_new_folder(tmp_path / "out", lambda tmp: None)
    assert _tree(tmp_path / "out") == {"a.csv": b"1"}


def test_a_failure_while_writing_a_new_folder_leaves_nothing(tmp_path):
    def files(tmp):
        (tmp / "indices.csv").write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        outputs.write_new_folder(tmp_path / "out", files)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make, out, needle", [
    (lambda tmp: None, lambda tmp: "", "not empty"),
    (lambda tmp: (tmp / "afile.txt").write_text("x"), lambda tmp: tmp / "afile.txt" / "sub", "is a file, not a folder"),
    (lambda tmp: None, lambda tmp: "/proc/x", "cannot create a folder in /proc"),
])
def test_paths_that_cannot_become_a_folder_are_refused_before_any_compute(tmp_path, make, out, needle):
    make(tmp_path)
    for check in (outputs.check_new_folder, outputs.check_writable_folder):
        with pytest.raises(InvalidValueError, match="'--out'") as info:
            check(out(tmp_path))
        assert needle in str(info.value)


def test_an_empty_folder_keeps_its_mode_and_a_new_one_gets_the_umask(tmp_path):
    (tmp_path / "empty").mkdir()
    os.chmod(tmp_path / "empty", 0o750)
    outputs.write_new_folder(tmp_path / "empty", lambda tmp: (tmp / "a.csv").write_text("1"))
    assert (tmp_path / "empty").stat().st_mode & 0o777 == 0o750
    mask = os.umask(0o022)
    try:
        outputs.write_new_folder(tmp_path / "new", lambda tmp: None)
        with outputs.reserved_folder(tmp_path / "reserved") as folder:
            outputs.write_new_folder(folder, lambda tmp: None)
    finally:
        os.umask(mask)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700
    assert (tmp_path / "reserved").stat().st_mode & 0o777 == 0o755 and not any((tmp_path / "reserved").iterdir())


def test_a_reserved_folder_refuses_a_second_writer_until_it_is_released(tmp_path):
    out = tmp_path / "run"
    with outputs.reserved_folder(out) as folder:
        assert folder == out and (out / outputs.RESERVATION).read_text().strip() == str(os.getpid())
        (out / outputs.RESERVATION).write_text(f"{os.getppid()}\n")  # as if another running process held it
        with pytest.raises(InvalidValueError, match=f"being written by process {os.getppid()}"):
            outputs.check_new_folder(out)
        (out / outputs.RESERVATION).write_text(f"{os.getpid()}\n")
    assert not out.exists()  # released: the folder it created is gone
    out.mkdir()
    with pytest.raises(RuntimeError):
        with outputs.reserved_folder(out):
            raise RuntimeError("compute failed")
    assert out.is_dir() and not any(out.iterdir())  # an existing empty folder stays, unchanged


def test_a_reservation_of_a_process_no_longer_running_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / outputs.RESERVATION).write_text(dead.stdout)
    assert outputs.write_new_folder(out, lambda tmp: (tmp / "a.csv").write_text("1")) == out
    assert _tree(out) == {"a.csv": b"1"}


def test_stale_temporary_siblings_are_removed_and_reported(tmp_path, capsys):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    stale = [tmp_path / f".run.tmp-{dead}-abc", tmp_path / ".run.new-xyz", tmp_path / f".run.old-{dead}-q"]
    for folder in stale:
        (folder / "half").mkdir(parents=True)
    old = outputs.PROCESS_START - 60
    os.utime(tmp_path / ".run.new-xyz", (old, old))
    live = tmp_path / f".run.tmp-{os.getppid()}-def"  # a running writer's: kept
    live.mkdir()
    young = tmp_path / ".run.tmp-young"  # no process id, newer than this process: kept
    young.mkdir()
    other = tmp_path / ".other.tmp-1-x"
    other.mkdir()
    outputs.write_new_folder(tmp_path / "run", lambda tmp: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, young.name, other.name, "run"])
    err = capsys.readouterr().err
    assert all(f"removed {folder}, left by an interrupted command" in err for folder in stale)


# --- regenerated entries of an existing folder -----------------------------------------


@pytest.fixture
def calib(tmp_path):
    """A folder with an observation set of two entries and one other file."""
    folder = tmp_path / "calibration"
    (folder / "observations").mkdir(parents=True)
    (folder / "observations" / "old.csv").write_text("old", encoding="utf-8")
    (folder / "sources.csv").write_text("old sources", encoding="utf-8")
    (folder / "parameters.toml").write_text("not ours", encoding="utf-8")
    return folder


def _new_set(tmp):
    (tmp / "observations").mkdir()
    (tmp / "observations" / "new.csv").write_text("new", encoding="utf-8")
    (tmp / "sources.csv").write_text("new sources", encoding="utf-8")


ENTRIES = ("observations", "sources.csv")


def test_replace_entries_swaps_the_entries_and_keeps_the_rest(calib):
    written = outputs.replace_entries(calib, ENTRIES, _new_set)
    assert written == [calib / "observations", calib / "sources.csv"]
    assert _tree(calib) == {"observations/new.csv": b"new", "parameters.toml": b"not ours", "sources.csv": b"new sources"}
    assert [p.name for p in calib.parent.iterdir()] == ["calibration"]  # no temporary folder left


def test_replace_entries_creates_a_missing_folder(tmp_path):
    outputs.replace_entries(tmp_path / "a" / "calibration", ENTRIES, _new_set)
    assert _tree(tmp_path / "a" / "calibration") == {"observations/new.csv": b"new", "sources.csv": b"new sources"}


def test_a_failure_while_writing_leaves_the_old_entries(calib):
    before = _tree(calib)

    def half(tmp):
        _new_set(tmp)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        outputs.replace_entries(calib, ENTRIES, half)
    assert _tree(calib) == before
    assert [p.name for p in calib.parent.iterdir()] == ["calibration"]


def test_a_failure_in_the_middle_of_the_swap_puts_the_old_entries_back(calib, monkeypatch):
    """The old observations/ is aside and the new one in place when the next rename fails."""
    before = _tree(calib)
    rename, calls = os.rename, []

    def failing_third_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 3:  # 1: old observations aside, 2: new one in, 3: old sources.csv aside
            raise OSError("device busy")
        rename(src, dst)

    monkeypatch.setattr(outputs.os, "rename", failing_third_rename)
    with pytest.raises(OSError, match="device busy"):
        outputs.replace_entries(calib, ENTRIES, _new_set)
    assert len(calls) > 3  # the swapped entries were renamed back
    assert _tree(calib) == before
    assert [p.name for p in calib.parent.iterdir()] == ["calibration"]


def test_write_must_create_exactly_the_entries(calib):
    before = _tree(calib)
    with pytest.raises(ValueError, match="expected the entries"):
        outputs.replace_entries(calib, ENTRIES, lambda tmp: (tmp / "sources.csv").write_text("only this"))
    assert _tree(calib) == before


def test_replace_file_writes_and_replaces_whole(tmp_path):
    path = tmp_path / "sub" / "table.csv"
    assert outputs.replace_file(path, lambda tmp: tmp.write_text("a\n1\n")) == path
    assert path.read_text() == "a\n1\n"
    outputs.replace_file(path, lambda tmp: tmp.write_text("a\n2\n"))
    assert path.read_text() == "a\n2\n"
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old\n")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        outputs.replace_file(path, fail)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]
