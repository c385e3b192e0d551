"""One run: the engines behind run_model, run folders and their manifests."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from kbalance.cli import main
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import read_scenario
from kbalance.outputs import file_hash
from kbalance.runs import build_manifest, run_model, run_to_folder

TWO_STEPS = """[levers.local_share_of_total_tax]
steps = [
  { target = 30.0, start = 2026, ramp = 4, ref = "R4" },
  { target = 40.0, start = 2031, ramp = 10, ref = "hypothetical" },
]
"""


def test_a_two_step_path_reaches_both_targets(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(TWO_STEPS, encoding="utf-8")
    result = run_model(read_scenario(path), shipped_parameter_set(), 2045, ["local share of total tax"])
    series = result["local share of total tax"].to_series()
    assert series[2024] == pytest.approx(25.3) and series[2030] == pytest.approx(30.0)
    assert series[2036] == pytest.approx(35.0) and series[2045] == pytest.approx(40.0)


@pytest.mark.parametrize("engine, until, field", [("vensim", 2030, "--engine"), ("fast", 2101, "until"),
                                                  ("pysd", 2001, "until")])
def test_run_model_refuses_an_unknown_engine_or_year(engine, until, field):
    with pytest.raises(InvalidValueError, match=f"'{field}'"):
        run_model(read_scenario("baseline"), shipped_parameter_set(), until, ["national population"], engine)


def test_the_manifest_records_what_the_run_used_and_no_seed():
    scenario = read_scenario("decentralization")
    params = shipped_parameter_set()
    manifest = build_manifest(scenario, params, 2040, "fast", ["kbalance", "run"])
    assert "seed" not in manifest  # a deterministic run draws no random numbers
    assert manifest["command"] == "kbalance run" and manifest["engine"] == "fast" and manifest["until"] == 2040
    assert manifest["scenario"] == {"name": "decentralization", "file": "decentralization.toml",
                                    "sha256": file_hash([scenario.path]), "constants": scenario.constants}
    assert manifest["parameter_set"]["sha256"] == params.sha256()
    assert len(manifest["model_sha256"]) == 64 and len(manifest["data_sha256"]) == 64
    assert {"pysd", "numpy", "kbalance"} <= set(manifest["versions"])


def test_run_writes_a_folder_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "run"
    assert run_to_folder("baseline", out, until=2006, command=["kbalance", "run"]) == out
    results = pd.read_csv(out / "results.csv", dtype={"region": str, "sex": str, "age": str})
    assert list(results.columns) == ["variable", "region", "sex", "age", "year", "value", "unit"]
    pop = results[results["variable"] == "total population"]
    assert set(pop["region"]) == {"11", "21", "22", "23", "24", "25", "26", "29", "31", "32", "33", "34", "35",
                                  "36", "37", "38", "39"}
    assert pop["year"].min() == 2001 and pop["year"].max() == 2006
    ages = results[results["variable"] == "Population"]["age"]
    assert "85+" in set(ages) and "0" in set(ages)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"]["name"] == "baseline" and manifest["until"] == 2006 and "seed" not in manifest
    assert (out / "results.nc").stat().st_size > 0
    before = (out / "results.csv").read_bytes()
    with pytest.raises(InvalidValueError, match="never overwritten"):
        run_to_folder("baseline", out, until=2006)
    assert (out / "results.csv").read_bytes() == before
    assert not list(tmp_path.glob(".run.tmp-*"))


def test_the_run_command_writes_a_folder_and_exits_2_on_an_existing_one(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--scenario", "baseline", "--until", "2003", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["command"].startswith("kbalance run")
    assert main(["run", "--out", str(out), "--until", "2003"]) == 2
    assert "never overwritten" in capsys.readouterr().err
