"""One run: the engines behind run_model, run folders and their manifests."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kbalance import paths
from kbalance.cli import main
from kbalance.engine.compiler import source_hash
from kbalance.errors import ChangedInputError, InvalidValueError
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import read_scenario
from kbalance.outputs import OBSERVATION_SET_KEY, file_hash
from kbalance.paths import calibration_dir, model_file
from kbalance.runs import (build_manifest, compare_folders, compare_results, compare_tables, manifest_kind,
                           reproduce_run, run_model, run_to_folder)

TWO_STEPS = """[levers.local_consumption_tax_rate]
steps = [
  { target = 30.0, start = 2026, ramp = 4, ref = "R4" },
  { target = 40.0, start = 2031, ramp = 10, ref = "hypothetical" },
]
"""


def test_a_two_step_path_reaches_both_targets(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(TWO_STEPS, encoding="utf-8")
    result = run_model(read_scenario(path), shipped_parameter_set(), 2045, ["local consumption tax rate"])
    series = result["local consumption tax rate"].to_series()
    assert series[2024] == pytest.approx(25.3) and series[2030] == pytest.approx(30.0)
    assert series[2036] == pytest.approx(35.0) and series[2045] == pytest.approx(40.0)


@pytest.mark.parametrize("engine, until, field", [("vensim", 2030, "--engine"), ("fast", 2101, "until"),
                                                  ("pysd", 2001, "until")])
def test_run_model_refuses_an_unknown_engine_or_year(engine, until, field):
    with pytest.raises(InvalidValueError, match=f"'{field}'"):
        run_model(read_scenario("baseline"), shipped_parameter_set(), until, ["national population"], engine)


def test_the_manifest_records_every_input_that_can_change_a_number():
    scenario = read_scenario("integrated")
    params = shipped_parameter_set()
    manifest = build_manifest(scenario, params, 2040, "fast", ["kbalance", "run"])
    assert manifest["seed"] is None  # a deterministic run draws no random numbers
    assert manifest["command"] == "kbalance run" and manifest["engine"] == "fast" and manifest["until"] == 2040
    assert manifest["dtype"] == "float64" and manifest["engine_source_sha256"] == source_hash()
    assert manifest["scenario"] == {"name": "integrated", "file": "integrated.toml",
                                    "path": "model/scenarios/integrated.toml",
                                    "sha256": file_hash([scenario.path]), "includes": list(scenario.includes),
                                    "constants": scenario.constants}
    assert scenario.includes  # the included scenarios are hashed too
    assert manifest["parameter_set"]["sha256"] == params.sha256()
    inputs = manifest["inputs"]
    assert inputs["calibration/parameters.toml"] == file_hash([calibration_dir() / "parameters.toml"])
    assert inputs[manifest["parameter_set"]["path"]] == params.sha256()
    assert inputs["model/kbalance.mdl"] == file_hash([model_file()])
    assert inputs[OBSERVATION_SET_KEY] == manifest["data_sha256"]
    for name in ("integrated", *scenario.includes):
        assert len(inputs[f"model/scenarios/{name}.toml"]) == 64
    assert {"model/inputs", "model/levers.toml"} <= set(inputs)
    assert {"pysd", "numpy", "kbalance"} <= set(manifest["versions"])


def test_run_writes_a_folder_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "run"
    assert run_to_folder("baseline", out, until=2006, command=["kbalance", "run"]) == out
    results = pd.read_csv(out / "results.csv", dtype={"region": str, "sex": str, "age": str})
    assert list(results.columns) == ["variable", "region", "sex", "age", "year", "value", "unit"]
    pop = results[results["variable"] == "total_population"]
    assert set(pop["region"]) == {"11", "21", "22", "23", "24", "25", "26", "29", "31", "32", "33", "34", "35",
                                  "36", "37", "38", "39"}
    assert pop["year"].min() == 2001 and pop["year"].max() == 2006
    ages = results[results["variable"] == "Population"]["age"]
    assert "100+" in set(ages) and "0" in set(ages)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"]["name"] == "baseline" and manifest["until"] == 2006 and manifest["seed"] is None
    with xr.open_dataset(out / "results.nc") as nc:  # the same names, coordinates and units as the CSV
        assert set(nc.data_vars) == set(results["variable"])
        assert list(nc["Population"].dims) == ["year", "region", "sex", "age"]
        assert set(nc["region"].values) == set(pop["region"]) and nc["region_name_ko"].values[0] == "서울특별시"
        units = results.groupby("variable")["unit"].first().fillna("")
        assert all(nc[v].attrs["units"] == units[v] for v in nc.data_vars)
        assert nc["capital_region_share"].attrs["units"] == "%"
        assert nc.attrs["fitted_set"] == manifest["parameter_set"]["name"] and nc.attrs["scenario"] == "baseline"
        assert {"title", "source", "history", "model_sha256", "Conventions"} <= set(nc.attrs)
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


def test_the_run_command_runs_under_a_named_variant_and_records_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--until", "2030", "--variant", "high", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variant"] == {"key": "high", "code": 5, "label": "UN WPP 2024 high variant"}
    assert manifest["scenario"]["constants"]["fertility variant"] == 5.0
    default = run_to_folder("baseline", tmp_path / "default", until=2030)
    assert json.loads((default / "manifest.json").read_text())["variant"]["key"] == "hold"
    with xr.open_dataset(out / "results.nc") as high, xr.open_dataset(default / "results.nc") as hold:
        assert float(high["births"].sel(year=2030).sum()) > 1.3 * float(hold["births"].sel(year=2030).sum())
    assert main(["run", "--until", "2030", "--variant", "medium", "--out", str(tmp_path / "bad")]) == 2
    assert "'--variant'" in capsys.readouterr().err


# --- reproducing a run from its manifest -------------------------------------------------


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """A copy of the project's model/, calibration/ and the reference list as the project folder."""
    root = tmp_path / "project"
    for name in ("model", "calibration"):
        shutil.copytree(paths.project_root() / name, root / name)
    (root / "docs").mkdir()
    shutil.copy2(paths.project_root() / "docs" / "references.md", root / "docs" / "references.md")
    monkeypatch.setenv("KBALANCE_HOME", str(root))
    paths.project_root.cache_clear()
    yield root
    monkeypatch.delenv("KBALANCE_HOME")
    paths.project_root.cache_clear()


def test_a_run_reproduces_then_a_changed_default_is_refused(project_copy, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["run", "--until", "2030", "--out", str(run)]) == 0
    assert main(["reproduce", str(run / "manifest.json"), "--out", str(tmp_path / "again")]) == 0
    out, err = capsys.readouterr()
    assert "matches  results.nc" in out and "matches  results.csv" in out
    assert "numbers match the original in 2 files" in out and err == ""
    assert json.loads((tmp_path / "again" / "manifest.json").read_text())["inputs"] == \
        json.loads((run / "manifest.json").read_text())["inputs"]

    # the numbers of the original changed: the file that differs is named, exit 1
    with xr.open_dataset(run / "results.nc") as nc:
        tampered = nc.load()
    tampered["total_population"] = tampered["total_population"] * (1 + 1e-9)
    tampered.to_netcdf(run / "results.nc")
    assert main(["reproduce", str(run), "--out", str(tmp_path / "differs")]) == 1
    out = capsys.readouterr().out
    assert "differs  results.nc: total_population (1e-09)" in out and "matches  results.csv" in out
    assert "numbers differ from the original in 1 of 2 files" in out

    # a default of parameters.toml that the fitted set does not override (issue: 2030 population moves)
    defaults = project_copy / "calibration" / "parameters.toml"
    text = defaults.read_text(encoding="utf-8")
    block = text.index("[tfr_path_deviation]")
    at = text.index("default = 0.0", block)
    defaults.write_text(text[:at] + "default = 1.5" + text[at + len("default = 0.0"):], encoding="utf-8")
    assert main(["reproduce", str(run), "--out", str(tmp_path / "changed")]) == 2
    err = capsys.readouterr().err
    assert "calibration/parameters.toml: field 'sha256': changed since" in err and str(run) in err
    assert not (tmp_path / "changed").exists()  # refused before any compute
    with pytest.raises(ChangedInputError, match="parameters.toml"):
        reproduce_run(run, tmp_path / "changed")


def test_reproduce_refuses_what_is_not_a_manifest_of_kbalance(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(json.dumps({"kbalance_sensitivity": 1}), encoding="utf-8")
    with pytest.raises(InvalidValueError, match="a sensitivity manifest"):
        reproduce_run(tmp_path, tmp_path / "y")  # only runs
    (tmp_path / "manifest.json").write_text(json.dumps({"kbalance_sensitivity": 1, "method": "sobol"}),
                                            encoding="utf-8")
    assert main(["reproduce", str(tmp_path / "manifest.json"), "--out", str(tmp_path / "x")]) == 2
    assert "field 'n': missing" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "v6"}), encoding="utf-8")
    assert main(["reproduce", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "another manifest" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text("{", encoding="utf-8")
    assert main(["reproduce", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "not a JSON file" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_manifest_kinds_are_known_by_their_marker():
    assert manifest_kind({"kbalance_run": 1}) == "run"
    assert manifest_kind({"kbalance_whitepaper": 1}) == "whitepaper"
    assert manifest_kind({"lang": "en", "scenarios": [], "fitted_set": {}}) == "whitepaper"  # written before the marker
    assert manifest_kind({"kbalance_sensitivity": 1}) == "sensitivity"
    assert manifest_kind({"lang": "en"}) is None and manifest_kind([1]) is None


def test_compare_tables_numbers_within_the_tolerance_and_text_exactly():
    old = pd.DataFrame({"region": ["11", "21"], "value": [1.0, np.nan], "label": ["a", None]})
    assert compare_tables(old.copy(), old) == {}
    near = old.assign(value=[1.0 + 1e-13, np.nan])
    assert compare_tables(near, old) == {}
    assert compare_tables(old.assign(value=[1.1, np.nan]), old) == {"value": pytest.approx(0.1 / 1.1)}
    assert compare_tables(old.assign(label=["a", "b"]), old) == {"label": float("inf")}
    assert compare_tables(old.iloc[:1], old) == {"(rows)": float("inf")}
    assert compare_tables(old.drop(columns="label"), old) == {"label": float("inf")}


def test_compare_folders_names_every_result_file(tmp_path):
    for name in ("old", "new"):
        (tmp_path / name / "results").mkdir(parents=True)
        pd.DataFrame({"v": [1.0, 2.0]}).to_csv(tmp_path / name / "results" / "a.csv", index=False)
        xr.Dataset({"x": ("t", [1.0, 2.0])}).to_netcdf(tmp_path / name / "b.nc")
    pd.DataFrame({"v": [1.0]}).to_csv(tmp_path / "old" / "only.csv", index=False)
    files = compare_folders(tmp_path / "new", tmp_path / "old")
    assert files == {"b.nc": {}, "only.csv": {"(file)": float("inf")}, "results/a.csv": {}}


def test_compare_results_within_the_relative_tolerance():
    old = xr.Dataset({"a": ("year", np.array([1.0, 2.0, np.nan])), "b": ("year", np.array([0.0, 1.0, 2.0]))})
    assert compare_results(old.copy(deep=True), old) == {}
    near = old.copy(deep=True)
    near["a"][0] = 1.0 + 1e-13
    assert compare_results(near, old) == {}
    far = old.copy(deep=True)
    far["b"][2] = 2.2
    assert compare_results(far, old) == {"b": pytest.approx(0.2 / 2.2)}
    assert compare_results(old[["a"]], old) == {"b": float("inf")}
