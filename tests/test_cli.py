"""``kbalance data build`` and ``kbalance data check`` through :func:`kbalance.cli.main`."""

from __future__ import annotations


import pytest

from conftest import SHARED_DATA, needs_shared
from kbalance import cli


def test_data_check_passes_on_committed_set(capsys):
    assert cli.main(["data", "check"]) == 0
    out = capsys.readouterr().out
    assert "pop_registered" in out and "DT_1B040A3" in out
    assert "PASS  regions sum to national: pop_registered:" in out
    assert "FAIL" not in out
    assert out.rstrip().endswith("0 failed")


@pytest.mark.parametrize("corrupt, needle", [
    (lambda root: (root / "observations" / "tax.csv").unlink(), "tax.csv"),
    (lambda root: (root / "observations" / "fiscal.csv").write_text(
        (root / "observations" / "fiscal.csv").read_text(encoding="utf-8").replace(",%\n", ",percent\n", 1),
        encoding="utf-8"), "expected the declared unit '%'"),
    (lambda root: (root / "sources.csv").unlink(), "sources.csv"),
])
def test_data_check_bad_input_exits_2_with_message(calib_copy, capsys, corrupt, needle):
    corrupt(calib_copy)
    assert cli.main(["data", "check", "--root", str(calib_copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kbalance: error: ") and needle in err
    assert "Traceback" not in err


def test_data_check_failing_identity_exits_1(calib_copy, capsys):
    path = calib_copy / "observations" / "population.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if line.startswith("pop_registered,26,2020,"))
    parts = lines[i].rstrip("\n").split(",")
    lines[i] = ",".join([*parts[:3], str(int(parts[3]) + 1000), parts[4]]) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    assert cli.main(["data", "check", "--root", str(calib_copy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  regions sum to national: pop_registered: 33 years; max |gap| 1000 in 2020" in out
    assert "FAIL  pop_registered_male + pop_registered_female = pop_registered" in out


def test_data_build_missing_source_exits_2(tmp_path, capsys):
    code = cli.main(["data", "build", "--from", str(tmp_path / "nowhere"), "--to", str(tmp_path / "calib")])
    assert code == 2
    err = capsys.readouterr().err
    assert "harmonized file" in err and "births_by_mother_age.csv" in err
    assert not (tmp_path / "calib").exists()


@needs_shared
def test_data_build_accepts_harmonized_subfolder(tmp_path, capsys):
    dest = tmp_path / "calib"
    assert cli.main(["data", "build", "--from", str(SHARED_DATA / "harmonized"), "--to", str(dest)]) == 0
    assert "built 14 files" in capsys.readouterr().out
    assert (dest / "observations" / "population.csv").is_file()
    assert cli.main(["data", "check", "--root", str(dest)]) == 0


def test_usage_errors_exit_2(capsys):
    assert cli.main([]) == 2
    assert cli.main(["data"]) == 2
    assert cli.main(["data", "frobnicate"]) == 2
    assert "usage: kbalance" in capsys.readouterr().err


def test_parser_has_dispatch_for_every_command():
    cli.build_parser()
    assert {("data", "build"), ("data", "check")} <= set(cli.DISPATCH)
