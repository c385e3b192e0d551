"""The command line through :func:`kbalance.cli.main`: the data commands, and every command's help and
bad-input exit code."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED_DATA, needs_shared
from kbalance import arguments, cli
from kbalance.arguments import SCHEDULER_TIMEOUT
from kbalance.errors import KbalanceInputError
from kbalance.outputs import RESERVATION


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
    assert "built 25 files" in capsys.readouterr().out
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
    ("backtest",): (lambda tmp: ["--origins", "2015", "1990", "--out", str(tmp / "report")], "'--origins'"),
    ("sensitivity",): (lambda tmp: ["--method", "bogus"], "'--method'"),
    ("whitepaper",): (lambda tmp: ["--out", _nonempty(tmp)], "'--out'"),
    ("evidence", "estimate"): (lambda tmp: ["--out", str(Path(_nonempty(tmp)) / "old.csv")], "'--out'"),
    ("levers", "evidence"): (lambda tmp: ["--members", "100000", "--out", str(tmp / "levers")], "'--members'"),
    ("reproduce",): (lambda tmp: [str(tmp / "nope.json")], "'MANIFEST'"),
    ("explore",): (lambda tmp: ["--port", "70000"], "'--port'"),
    ("municipal", "backtest"): (lambda tmp: ["--until", "2019"], "unrecognized arguments: --until"),
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


# --- arguments checked before any compute ----------------------------------------------------


def _no_compute(monkeypatch):
    """Make every computation fail the test: the checks must come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("computed before checking the arguments")
    for name in ("run_model",):
        monkeypatch.setattr(f"kbalance.runs.{name}", forbidden)
    monkeypatch.setattr("kbalance.sensitivity.pipeline.sensitivity_to_folder", forbidden)
    monkeypatch.setattr("kbalance.whitepaper.pipeline.run_whitepaper", forbidden)
    monkeypatch.setattr(cli, "calibrate", forbidden)
    monkeypatch.setattr(cli, "backtests", forbidden)
    monkeypatch.setattr(cli, "constrained_ensemble", forbidden)
    monkeypatch.setattr("kbalance.evidence.priors.write_evidence", forbidden)
    monkeypatch.setattr("kbalance.sensitivity.levers.write_lever_evidence", forbidden)


def _afile(tmp: Path) -> str:
    (tmp / "afile.txt").write_text("x")
    return str(tmp / "afile.txt" / "sub")


OUT_COMMANDS = (["run"], ["whitepaper"], ["sensitivity"], ["calibrate", "--version", "vtest"],
                ["backtest"], ["evidence", "estimate"], ["levers", "evidence"])


@pytest.mark.parametrize("command", OUT_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("out, needle", [(lambda tmp: "/proc/x", "cannot create a folder in /proc"),
                                         (_afile, "afile.txt is a file, not a folder"),
                                         (lambda tmp: "", "expected a folder path (not empty)")],
                         ids=["proc", "under_a_file", "empty"])
def test_every_output_target_is_checked_before_any_compute(tmp_path, capsys, monkeypatch, command, out, needle):
    _no_compute(monkeypatch)
    assert cli.main([*command, "--out", out(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "field '--out'" in err and needle in err and "Traceback" not in err


@pytest.mark.parametrize("arguments, needle", [
    (["sensitivity", "--seed", "-1"], "argument --seed: '-1' is not allowed; expected a random seed, a whole number in [0, 4,294,967,295]"),
    (["ensemble", "--seed", "-1"], "argument --seed: '-1' is not allowed"),
    (["sensitivity", "--workers", "-1"], "argument --workers: '-1' is not allowed; expected a number of local processes"),
    (["sensitivity", "--n", "1099511627776"], "argument --n: '1099511627776' is not allowed"),
    (["sensitivity", "--method", "morris", "--n", "1000000"], "field '--n': invalid value 1000000; expected at most 100,000"),
    (["ensemble", "--members", "100000000000"], "argument --members"),
    (["run", "--until", "1900"], "argument --until"),
    (["sensitivity", "--scheduler", "not a url"], "field '--scheduler': invalid value 'not a url'; expected a Dask scheduler address"),
    (["ensemble", "--scheduler", "tcp://localhost"], "field '--scheduler'"),
])
def test_bad_numbers_and_addresses_exit_2_naming_the_flag(tmp_path, capsys, monkeypatch, arguments, needle):
    _no_compute(monkeypatch)
    assert cli.main([*arguments, *(["--out", str(tmp_path / "o")] if arguments[0] != "ensemble" else [])]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_an_unreachable_scheduler_fails_within_seconds(capsys, monkeypatch):
    import time

    _no_compute(monkeypatch)
    start = time.perf_counter()
    assert cli.main(["ensemble", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert time.perf_counter() - start < SCHEDULER_TIMEOUT + 2
    assert "expected a running scheduler (no connection within 3 s" in capsys.readouterr().err


def test_a_scheduler_without_dask_installed(capsys, monkeypatch):
    _no_compute(monkeypatch)
    monkeypatch.setattr(arguments.importlib.util, "find_spec", lambda name: None)
    assert cli.main(["ensemble", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "dask.distributed installed for a scheduler" in capsys.readouterr().err


def test_ctrl_c_ends_with_one_line_and_exit_130(capsys, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt
    monkeypatch.setattr("kbalance.model.scenarios.list_scenarios", interrupted)  # the handler's first call
    assert cli.main(["scenarios", "list"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "kbalance: interrupted (Ctrl-C); nothing half-written was left\n" and captured.out == ""


def _run_manifest(tmp: Path) -> str:
    """A run manifest whose inputs are the project's as they are now (no run behind it)."""
    import json

    from kbalance.model.parameters import shipped_parameter_set
    from kbalance.outputs import input_hashes, project_path

    params = shipped_parameter_set()
    manifest = {"kbalance_run": 1, "command": "kbalance run", "engine": "fast", "until": 2003,
                "scenario": {"path": "model/scenarios/baseline.toml"},
                "parameter_set": {"path": project_path(params.path)}, "inputs": input_hashes()}
    (tmp / "recorded").mkdir(exist_ok=True)
    (tmp / "recorded" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return str(tmp / "recorded" / "manifest.json")


#: Every command that writes a new folder, given a scratch folder.
NEW_FOLDER_COMMANDS = {"run": lambda tmp: ["run"], "whitepaper": lambda tmp: ["whitepaper"],
                       "sensitivity": lambda tmp: ["sensitivity"],
                       "calibrate": lambda tmp: ["calibrate", "--version", "vtest"],
                       "reproduce": lambda tmp: ["reproduce", _run_manifest(tmp)]}


@pytest.mark.parametrize("name", list(NEW_FOLDER_COMMANDS))
def test_one_rule_for_an_existing_folder_in_every_command_that_writes_a_new_one(tmp_path, capsys, monkeypatch, name):
    _no_compute(monkeypatch)
    command = NEW_FOLDER_COMMANDS[name](tmp_path)
    empty = tmp_path / "empty"  # an empty folder is a new one: accepted, its mode kept
    empty.mkdir()
    os.chmod(empty, 0o750)
    with pytest.raises(AssertionError, match="computed before checking"):  # reached the compute
        cli.main([*command, "--out", str(empty)])
    assert empty.is_dir() and not any(empty.iterdir()) and empty.stat().st_mode & 0o777 == 0o750
    used = Path(_nonempty(tmp_path))  # a folder with entries: refused, untouched
    assert cli.main([*command, "--out", str(used)]) == 2
    assert "folder exists and is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in used.iterdir()) == ["old.csv"]
    busy = tmp_path / "busy"  # a folder another running command reserved: refused at the start
    busy.mkdir()
    (busy / RESERVATION).write_text(f"{os.getppid()}\n")
    assert cli.main([*command, "--out", str(busy)]) == 2
    assert f"folder is being written by process {os.getppid()}" in capsys.readouterr().err
    for bad, needle in (("/proc/x", "cannot create a folder in /proc"), (_afile(tmp_path), "is a file, not a folder")):
        assert cli.main([*command, "--out", bad]) == 2
        assert needle in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary sibling left


def test_ctrl_c_during_a_run_leaves_nothing_and_exits_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("kbalance.runs.run_model", interrupted)
    assert cli.main(["run", "--until", "2003", "--out", str(tmp_path / "run")]) == 130
    captured = capsys.readouterr()
    assert captured.err.splitlines()[-1] == "kbalance: interrupted (Ctrl-C); nothing half-written was left"
    assert "Traceback" not in captured.err and list(tmp_path.iterdir()) == []


def test_a_missing_ensemble_is_named_without_a_note_first(tmp_path, capsys):
    assert cli.main(["sensitivity", "--ensemble", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "newest ensemble" not in err and "nope.toml: field '--ensemble': file not found" in err
    assert not (tmp_path / "s").exists()


def test_a_folder_another_run_writes_is_refused_before_compute(tmp_path, capsys, monkeypatch):
    _no_compute(monkeypatch)
    out = tmp_path / "run"
    out.mkdir()
    (out / RESERVATION).write_text(f"{os.getppid()}\n")  # a running process reserved it
    assert cli.main(["run", "--out", str(out)]) == 2
    assert f"folder is being written by process {os.getppid()}" in capsys.readouterr().err


def test_run_accepts_an_empty_folder_and_validates_the_observations_first(tmp_path, capsys, monkeypatch):
    out = tmp_path / "empty"
    out.mkdir()
    assert cli.main(["run", "--until", "2003", "--out", str(out)]) == 0
    assert (out / "manifest.json").is_file()
    calls = []
    monkeypatch.setattr(cli, "validate_observation_set", lambda: calls.append("validated") or _bad_set())
    _no_compute(monkeypatch)
    assert cli.main(["run", "--until", "2003", "--out", str(tmp_path / "second")]) == 2
    assert calls == ["validated"] and "vital.csv" in capsys.readouterr().err
    assert not (tmp_path / "second").exists()


def _bad_set():
    raise KbalanceInputError("calibration/observations/vital.csv", "region_code", "series 'tfr', region 39: no rows",
                             "rows for every region")


def test_run_writes_the_municipal_layer_on_request(tmp_path, capsys):
    out = tmp_path / "municipal"
    assert cli.main(["run", "--until", "2030", "--municipal", "--out", str(out)]) == 0
    assert {"municipal.csv", "municipal_summary.csv", "municipal.nc"} <= {p.name for p in out.iterdir()}
    assert "municipal.nc" in capsys.readouterr().out
    assert cli.main(["run", "--until", "2010", "--municipal", "--out", str(tmp_path / "short")]) == 2
    assert "jump-off year" in capsys.readouterr().err and not (tmp_path / "short").exists()


def test_municipal_backtest_writes_its_table(tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert cli.main(["municipal", "backtest", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["base"].tolist() == [2015, 2019] and (table["mape_method"] < table["mape_naive"]).all()
    assert "wrote" in capsys.readouterr().out


def test_levers_evidence_writes_its_table(tmp_path, capsys):
    out = tmp_path / "levers"
    assert cli.main(["levers", "evidence", "--members", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out / "levers.csv", index_col="lever")
    assert "capital_region_regulation" in table.index and table["capital_2070_q05"].notna().all()
    assert "first 2 members" in (out / "levers.md").read_text(encoding="utf-8")
    assert "levers.csv" in capsys.readouterr().out
