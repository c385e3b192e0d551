"""Scenario files and run folders."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from kbalance.cli import main
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.scenarios import list_scenarios, read_scenario


def test_baseline_ships_and_sets_nothing():
    assert "baseline" in list_scenarios()
    assert read_scenario("baseline").constants == {}


def _write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_scenario_sets_the_lever_constants(tmp_path):
    path = _write(tmp_path, '[levers.local_share_of_total_tax]\ntarget = 30.0\nstart = 2026\nramp = 4\nref = "R4"\n')
    assert read_scenario(path).constants == {"local share target": 30.0, "local share start year": 2026.0,
                                             "local share ramp years": 4.0}


@pytest.mark.parametrize("text, field, allowed", [
    ("[levers.free_lunch]\ntarget = 1\nstart = 2030\n", "levers.free_lunch", "local_share_of_total_tax"),
    ('[levers.local_share_of_total_tax]\ntarget = "thirty"\nstart = 2030\n', "levers.local_share_of_total_tax.target", "[15.0, 50.0]"),
    ("[levers.local_share_of_total_tax]\ntarget = 90\nstart = 2030\n", "levers.local_share_of_total_tax.target", "[15.0, 50.0]"),
    ("[levers.local_share_of_total_tax]\ntarget = 30\nstart = 1990\n", "levers.local_share_of_total_tax.start", "[2025, 2100]"),
    ("[levers.local_share_of_total_tax]\ntarget = 30\nstart = 2030\nspeed = 2\n", "levers.local_share_of_total_tax.speed", "target"),
    ("[levers\n", "(file)", "valid TOML"),
])
def test_bad_scenarios_name_file_field_and_allowed(tmp_path, text, field, allowed):
    path = _write(tmp_path, text)
    with pytest.raises(InvalidValueError) as info:
        read_scenario(path)
    message = str(info.value)
    assert "s.toml" in message and f"'{field}'" in message and allowed in message


def test_missing_scenario_lists_the_shipped_ones():
    with pytest.raises(MissingFileError, match="baseline"):
        read_scenario("no-such-scenario")


def test_run_writes_a_folder_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--scenario", "baseline", "--until", "2006", "--out", str(out)]) == 0
    results = pd.read_csv(out / "results.csv", dtype={"region": str, "sex": str, "age": str})
    assert list(results.columns) == ["variable", "region", "sex", "age", "year", "value", "unit"]
    pop = results[results["variable"] == "total population"]
    assert set(pop["region"]) == {"11", "21", "22", "23", "24", "25", "26", "29", "31", "32", "33", "34", "35",
                                  "36", "37", "38", "39"}
    assert pop["year"].min() == 2001 and pop["year"].max() == 2006
    ages = results[results["variable"] == "Population"]["age"]
    assert "85+" in set(ages) and "0" in set(ages)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"]["name"] == "baseline" and len(manifest["model_sha256"]) == 64
    assert (out / "results.nc").stat().st_size > 0
    before = (out / "results.csv").read_bytes()
    assert main(["run", "--out", str(out), "--until", "2006"]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert (out / "results.csv").read_bytes() == before
    assert not list(tmp_path.glob(".run.tmp-*"))
