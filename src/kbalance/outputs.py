"""Output folders and manifests: new folders checked and reserved before compute and
written atomically, atomic regeneration of the entries of an existing folder, stale
temporary siblings, file hashes, package versions, netCDF-ready datasets."""

from __future__ import annotations

import glob
import hashlib
import os
import platform
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Iterable

import xarray as xr

import kbalance
from kbalance.errors import InvalidValueError
from kbalance.paths import calibration_dir, model_dir, model_file, project_root


def file_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of the given files, in sorted order of their names."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_hash() -> str:
    """Hash of the model file, its inputs and the lever histories."""
    folder = model_dir()
    return file_hash([model_file(), folder / "levers.toml", *sorted((folder / "inputs").glob("*.csv"))])


def data_hash() -> str:
    """Hash of the observation set (calibration/observations, sources and breaks)."""
    root = calibration_dir()
    return file_hash([root / "sources.csv", root / "breaks.csv", *sorted((root / "observations").glob("*.csv"))])


#: The key of the observation set in :func:`input_hashes`.
OBSERVATION_SET_KEY = "calibration/observations, sources.csv, breaks.csv"


def project_path(path: Path | str) -> str:
    """``path`` relative to the project folder when inside it, else absolute (POSIX form)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(project_root().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def input_hashes(files: Iterable[Path] = ()) -> dict[str, str]:
    """SHA-256 of every input that can change a number: the model file, its input tables
    (one hash), the lever histories, the parameter definitions, the observation set (one
    hash, :func:`data_hash`) and ``files`` (parameter sets, scenarios, ensembles), keyed by
    their paths (:func:`project_path`)."""
    folder = model_dir()
    hashes = {
        "model/kbalance.mdl": file_hash([model_file()]),
        "model/inputs": file_hash(sorted((folder / "inputs").glob("*.csv"))),
        "model/levers.toml": file_hash([folder / "levers.toml"]),
        "calibration/parameters.toml": file_hash([calibration_dir() / "parameters.toml"]),
        OBSERVATION_SET_KEY: data_hash(),
    }
    for path in files:
        hashes[project_path(path)] = file_hash([path])
    return hashes


def changed_inputs(recorded: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """The inputs whose hash now differs from ``recorded`` (a manifest's ``inputs``, see
    :func:`input_hashes`): (key, recorded hash, hash now, or None when the file is gone)."""
    now = input_hashes()
    for key in recorded.keys() - now.keys():
        path = project_root() / key  # an absolute key stays absolute
        now[key] = file_hash([path]) if path.is_file() else None
    return [(key, old, now[key]) for key, old in recorded.items() if now[key] != old]


def netcdf_ready(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with netCDF-safe names (no spaces in dimensions and variables) and text
    instead of Python objects."""
    ds = ds.rename({d: d.replace(" ", "_") for d in ds.dims if " " in d})
    ds = ds.rename({v: v.replace(" ", "_") for v in ds.data_vars})
    for name in ds.variables:
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    return ds


def package_versions(*extra: str) -> dict[str, str]:
    """Versions of Python, kbalance and the packages a result depends on (plus ``extra``)."""
    out = {"python": platform.python_version(), "kbalance": kbalance.__version__}
    for package in ("pysd", "numpy", "pandas", "xarray", "scipy", *extra):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


#: A file inside a folder that a running command has reserved: it holds the process id.
RESERVATION = ".kbalance-writing"
#: When this process started [s since the epoch]: temporary siblings older than it are stale.
PROCESS_START = time.time()
#: The kinds of temporary sibling the writers below leave while they work.
TEMPORARY_KINDS = ("tmp", "new", "old")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reserved_by(folder: Path) -> int | None:
    """The process id in ``folder``'s reservation, None when it holds none."""
    try:
        text = (folder / RESERVATION).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() else 0


def _probe_writable(out: Path, start: Path | None = None) -> None:
    """Refuse ``out`` when the nearest existing folder at or above ``start`` (default
    ``out``'s parent) is a file or cannot be written (a probe folder is made and removed)."""
    ancestor = out.parent if start is None else start
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidValueError(out, "--out", f"{ancestor} is a file, not a folder",
                                "a path whose existing part is a folder")
    try:
        os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=".kbalance-probe-"))
    except OSError as exc:
        raise InvalidValueError(out, "--out", f"cannot create a folder in {ancestor} ({exc.strerror})",
                                "a path in a folder you can write") from None


def check_writable_folder(folder: Path | str) -> Path:
    """``folder`` as a Path when it is a writable folder or can be created (files in it
    are then replaced atomically); InvalidValueError naming ``--out`` otherwise. Nothing
    is created."""
    if str(folder).strip() == "":
        raise InvalidValueError("kbalance", "--out", str(folder), "a folder path (not empty)")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidValueError(folder, "--out", "a file exists there", "a folder")
    _probe_writable(folder, start=folder)
    return folder


def check_new_folder(out: Path | str) -> Path:
    """``out`` as a Path, checked before any compute.

    Accepted: a folder that does not exist yet and can be created (the nearest existing
    ancestor is a writable folder), or an existing empty folder (an empty folder is a new
    one in every command; a reservation left by a process no longer running counts as
    empty). Raises InvalidValueError naming ``--out`` for an empty path, a file, a folder
    with entries (output folders are never overwritten), a folder another running command
    has reserved (:func:`reserved_folder`), and a path that cannot be created.
    """
    if str(out).strip() == "":
        raise InvalidValueError("kbalance", "--out", str(out), "a folder path (not empty)")
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise InvalidValueError(out, "--out", "a file exists there",
                                    "a folder that does not exist yet or is empty (runs are never overwritten)")
        entries = [p.name for p in out.iterdir()]
        pid = _reserved_by(out)
        if entries == [RESERVATION] and pid is not None:
            if pid != os.getpid() and _running(pid):
                raise InvalidValueError(out, "--out", f"folder is being written by process {pid}",
                                        "a folder no other running command writes")
        elif entries:
            raise InvalidValueError(out, "--out", "folder exists and is not empty",
                                    "a folder that does not exist yet or is empty (runs are never overwritten)")
    _probe_writable(out)
    return out


@contextmanager
def reserved_folder(out: Path | str) -> Iterator[Path]:
    """Check ``out`` (:func:`check_new_folder`) and reserve it for this process before any
    compute: the folder is created with a reservation file naming the process, so a second
    command writing the same folder is refused at its start, not after its compute.

    :func:`write_new_folder` replaces the reserved folder with the finished one. When the
    block ends without that (an error, Ctrl-C), the reservation is removed, and the folder
    too when it was created here.
    """
    out = check_new_folder(out)
    if _reserved_by(out) == os.getpid():  # reserved by an enclosing block of this process
        yield out
        return
    remove_stale_siblings(out)
    created = not out.exists()
    marker = out / RESERVATION
    try:
        out.mkdir(parents=True, exist_ok=True)
        with open(marker, "x" if _reserved_by(out) is None else "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
    except FileExistsError:
        raise InvalidValueError(out, "--out", "another command reserved the folder at the same moment",
                                "a folder no other running command writes") from None
    except OSError as exc:
        raise InvalidValueError(out, "--out", f"cannot create the folder ({exc.strerror})",
                                "a path in a folder you can write") from None
    try:
        yield out
    finally:
        if _reserved_by(out) == os.getpid():  # not replaced by a finished folder
            marker.unlink(missing_ok=True)
            if created and not any(out.iterdir()):
                out.rmdir()


def remove_stale_siblings(path: Path) -> list[Path]:
    """Remove the temporary siblings of ``path`` (``.NAME.tmp-*``, ``.NAME.new-*``,
    ``.NAME.old-*``) that a killed command left: those whose process is no longer running,
    or, without a process id in the name, older than this process. Each removal is
    reported on standard error; returns the removed paths."""
    path = Path(path)
    removed = []
    for kind in TEMPORARY_KINDS:
        for sibling in path.parent.glob(f".{glob.escape(path.name)}.{kind}-*"):
            pid = sibling.name[len(f".{path.name}.{kind}-"):].split("-")[0]
            if pid.isdigit():
                stale = int(pid) != os.getpid() and not _running(int(pid))
            else:
                stale = sibling.lstat().st_mtime < PROCESS_START
            if not stale:
                continue
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling, ignore_errors=True)
            else:
                sibling.unlink(missing_ok=True)
            print(f"kbalance: removed {sibling}, left by an interrupted command", file=sys.stderr)
            removed.append(sibling)
    return removed


def _new_folder_mode(out: Path) -> int:
    """The permissions a finished folder gets: those of the existing (empty or reserved)
    ``out``, else what mkdir gives under the umask."""
    if out.is_dir():
        return stat.S_IMODE(out.stat().st_mode)
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def write_new_folder(out: Path, write: Callable[[Path], None]) -> Path:
    """Create the output folder ``out`` atomically: ``write(tmp)`` fills a temporary
    sibling, which is renamed to ``out`` at the end; on any failure it is removed, so
    nothing half-written is left. Refuses what :func:`check_new_folder` refuses; an empty
    or reserved ``out`` is replaced and its permissions kept (a new folder gets the
    umask's). Stale temporary siblings are removed first (:func:`remove_stale_siblings`)."""
    out = check_new_folder(out)
    remove_stale_siblings(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-{os.getpid()}-"))
    try:
        write(tmp)
        check_new_folder(out)
        os.chmod(tmp, _new_folder_mode(out))
        if _reserved_by(out) is not None:  # this process's reservation, or a stale one
            (out / RESERVATION).unlink()
        os.rename(tmp, out)  # replaces an empty folder in one step; fails on one with entries
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def replace_entries(folder: Path, entries: Sequence[str], write: Callable[[Path], None]) -> list[Path]:
    """Regenerate the entries ``entries`` (files or subfolders) of ``folder`` all at once.

    ``write(tmp)`` creates exactly ``entries`` in a temporary sibling ``tmp`` of
    ``folder``. Then each old entry is renamed aside and the new one renamed into its
    place; if ``write`` or any rename fails, the entries already swapped are put back,
    so ``folder`` holds either every old entry or every new one. A subfolder is
    replaced as a whole (files the new one lacks are gone); other entries of
    ``folder`` are not touched. ``folder`` is created if missing. Returns the paths
    ``folder / entry``. Raises ValueError when ``write`` creates other entries.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(folder)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.new-{os.getpid()}-"))
    aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-{os.getpid()}-"))
    moved: list[str] = []  # old entries renamed aside
    placed: list[str] = []  # new entries renamed into place
    try:
        write(tmp)
        made = sorted(p.name for p in tmp.iterdir())
        if made != sorted(entries):
            raise ValueError(f"{folder}: wrote {made}, expected the entries {sorted(entries)}")
        folder.mkdir(exist_ok=True)
        for name in entries:
            if os.path.lexists(folder / name):
                os.rename(folder / name, aside / name)
                moved.append(name)
            os.rename(tmp / name, folder / name)
            placed.append(name)
    except BaseException:
        for name in reversed(placed):
            os.rename(folder / name, tmp / name)
        for name in reversed(moved):
            os.rename(aside / name, folder / name)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(aside, ignore_errors=True)
    return [folder / name for name in entries]


def replace_file(path: Path, write: Callable[[Path], None]) -> Path:
    """Write the file ``path`` atomically: ``write(tmp)`` writes a temporary sibling,
    which then replaces ``path`` (an existing file is replaced whole, never half-written);
    on any failure the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")  # opened by write(), so the umask's permissions
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
