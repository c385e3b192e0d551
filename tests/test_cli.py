"""The command line through :func:`kbalance.cli.main`: the data commands, and every command's help and
bad-input exit code."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def parser_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)parser under ``parser`` with the words that reach it, ``parser`` first."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += parser_paths(sub, (*path, name))
    return found


PARSERS = parser_paths(cli.build_parser())
#: The commands (parsers without sub-commands) and their handlers' keys.
COMMANDS = {path: sub.get_default("command") for path, sub in PARSERS
            if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)}


@pytest.mark.parametrize("path", [path for path, _ in PARSERS], ids=lambda path: " ".join(path) or "kbalance")
def test_every_command_prints_its_help(capsys, path):
    assert cli.main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(" ".join(["usage: kbalance", *path]))


def test_every_command_has_a_handler():
    assert len(COMMANDS) >= 11
    assert all(key in cli.DISPATCH for key in COMMANDS.values())
    assert set(cli.DISPATCH) == set(COMMANDS.values())


def _nonempty(tmp_path: Path) -> str:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "old.csv").write_text("")
    return str(tmp_path / "used")


#: One bad input per command: its arguments (given a scratch folder) and the field the message names.
BAD_INPUT = {
    ("data", "build"): (lambda tmp: ["--from", str(tmp / "nowhere"), "--to", str(tmp / "c")], "'harmonized file'"),
    ("data", "check"): (lambda tmp: ["--root", str(tmp)], "'sources table'"),
    ("model", "inputs"): (lambda tmp: ["--until", "2030"], "unrecognized arguments: --until"),
    ("run",): (lambda tmp: ["--scenario", "nosuch", "--out", str(tmp / "run")], "'scenario'"),
    ("scenarios", "list"): (lambda tmp: ["--all"], "unrecognized arguments: --all"),
    ("scenarios", "check"): (lambda tmp: [str(tmp / "nosuch.toml")], "'scenario'"),
    ("calibrate",): (lambda tmp: ["--version", "vtest", "--out", _nonempty(tmp)], "'--out'"),
    ("ensemble",): (lambda tmp: ["--fitted", str(tmp / "v1.toml")], "'--fitted'"),
    ("backtest",): (lambda tmp: ["--until", "2015", "--out", _nonempty(tmp)], "'--out'"),
    ("sensitivity",): (lambda tmp: ["--method", "bogus"], "'--method'"),
    ("whitepaper",): (lambda tmp: ["--out", _nonempty(tmp)], "'--out'"),
    ("explore",): (lambda tmp: ["--port", "70000"], "'--port'"),
}


def test_bad_input_cases_cover_every_command():
    assert set(BAD_INPUT) == set(COMMANDS)


@pytest.mark.parametrize("path", list(BAD_INPUT), ids=" ".join)
def test_bad_input_exits_2_naming_the_field(tmp_path, capsys, path):
    arguments, field = BAD_INPUT[path]
    assert cli.main([*path, *arguments(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "kbalance: error: " in err and field in err
    assert "Traceback" not in err
