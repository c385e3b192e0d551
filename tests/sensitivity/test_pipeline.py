"""``kbalance sensitivity`` end to end: a tiny run writes every file of the output folder;
bad arguments are refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from kbalance import cli
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.model.scenarios import read_scenario
from kbalance.outputs import OBSERVATION_SET_KEY, file_hash
from kbalance.paths import project_root
from kbalance.sensitivity import design as sd
from kbalance.sensitivity import factors as sf
from kbalance.sensitivity import pipeline as sp


def test_tiny_sobol_run_writes_every_file_of_the_contract(tmp_path, capsys):
    out = tmp_path / "sa"
    code = cli.main(["sensitivity", "--method", "sobol", "--n", "8", "--until", "2030", "--outputs",
                     "population", "fiscal_autonomy_cv", "--workers", "1", "--fan-members", "8", "--seed", "5",
                     "--out", str(out)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "not converged" in stdout and "population" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["fan.csv", "figures", "indices.csv", "indices.nc",
                                                     "manifest.json", "summary.json"]
    figures = sorted(p.name for p in (out / "figures").iterdir())
    for outcome in ("population", "fiscal_autonomy_cv"):
        for kind in ("indices", "over_time", "fan"):
            assert f"{kind}_{outcome}.png" in figures and f"{kind}_{outcome}.svg" in figures
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 5 and manifest["n"] == 8 and manifest["method"] == "sobol"
    assert manifest["dtype"] == sf.DEFAULT_DTYPE == "float32"
    assert manifest["runs"] == 8 * (len(manifest["groups"]) + 2)
    assert manifest["scenario"]["name"] == "baseline" and len(manifest["model_sha256"]) == 64
    for key, indicator in sf.outcome_indicators(["population", "fiscal_autonomy_cv"]).items():
        assert manifest["outcomes"][key] == {"variable": indicator.variable, "scale": indicator.scale,
                                             "unit": indicator.unit_en, "label": indicator.label_en,
                                             "label_ko": indicator.label_ko}
    assert "SALib" in manifest["versions"] and manifest["timings_seconds"]["runs"] > 0
    ensemble = manifest["ensemble"]  # named with its hash
    assert ensemble["sha256"] == file_hash([project_root() / ensemble["path"]])
    assert manifest["inputs"][ensemble["path"]] == ensemble["sha256"]
    assert manifest["scenario"]["sha256"] == manifest["inputs"]["model/scenarios/baseline.toml"]
    for key in ("model/kbalance.mdl", "model/inputs", "model/levers.toml", "calibration/parameters.toml",
                OBSERVATION_SET_KEY, manifest["parameter_set"]["path"]):
        assert len(manifest["inputs"][key]) == 64, key
    assert len(manifest["engine_source_sha256"]) == 64 and len(manifest["data_sha256"]) == 64
    assert all({"name", "group", "low", "high", "source"} <= set(f) for f in manifest["factors"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["runs"] == manifest["runs"] and set(summary["convergence"]) == {"population", "fiscal_autonomy_cv"}
    assert summary["dtype"] == "float32" and "(float32)" in stdout
    assert set(summary["top_factors"]["population"]) == {"2030"}
    indices = pd.read_csv(out / "indices.csv")
    assert list(indices.columns) == ["method", "outcome", "year", "factor", "index", "value", "conf"]
    assert set(indices["year"]) == set(range(2025, 2031)) and set(indices["index"]) == {"S1", "ST"}
    with xr.open_dataset(out / "indices.nc") as ds:
        assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(ds.data_vars)
        assert ds["ST"].sizes == {"outcome": 2, "year": 6, "factor": len(manifest["groups"])}
        assert ds["ST"].attrs["units"] == "1" and ds["ST"].attrs["long_name"] == "total-order Sobol index"
        assert list(ds["outcome_units"].values) == [manifest["outcomes"][o]["unit"] for o in ds["outcome"].values]
        assert ds.attrs["fitted_set"] == Path(manifest["ensemble"]["fitted_set"]).stem and "history" in ds.attrs
    fan = pd.read_csv(out / "fan.csv")
    assert (fan["unit"] == fan["outcome"].map(lambda k: manifest["outcomes"][k]["unit"])).all()
    assert (fan["q05"] <= fan["q50"]).all() and (fan["q50"] <= fan["q95"]).all()
    assert not list(tmp_path.glob(".sa.tmp-*"))


def test_a_sensitivity_analysis_is_reproduced_from_its_manifest(tmp_path, capsys):
    out = tmp_path / "sa"
    assert cli.main(["sensitivity", "--method", "morris", "--n", "2", "--until", "2027", "--outputs", "population",
                     "--workers", "1", "--fan-members", "4", "--seed", "3", "--chunk-size", "20",
                     "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["chunk_size"] == 20
    capsys.readouterr()
    assert cli.main(["reproduce", str(out), "--out", str(tmp_path / "again")]) == 0
    stdout = capsys.readouterr().out
    assert all(f"matches  {name}" in stdout for name in ("fan.csv", "indices.csv", "indices.nc"))
    again = json.loads((tmp_path / "again" / "manifest.json").read_text(encoding="utf-8"))
    assert (again["seed"], again["n"], again["method"], again["chunk_size"]) == (3, 2, "morris", 20)
    assert again["command"].startswith("kbalance reproduce")

    fan = pd.read_csv(out / "fan.csv")  # an original number changed: the file is named
    fan.loc[0, "q50"] *= 1.01
    fan.to_csv(out / "fan.csv", index=False)
    assert cli.main(["reproduce", str(out), "--out", str(tmp_path / "differs")]) == 1
    stdout = capsys.readouterr().out
    assert "differs  fan.csv: q50" in stdout and "matches  indices.nc" in stdout


def test_tiny_morris_screening_of_the_model(factors):
    problem = sf.salib_problem(factors)
    constants = sf.base_constants(read_scenario("baseline"), factors)
    evaluate = sf.model_evaluator(factors, constants, 2028, ["capital_share"], workers=1)
    design = sd.sample_design(problem, "morris", 2, seed=4)
    assert design.runs == 2 * (len(sd.group_names(problem)) + 1)
    result = sd.run_pipeline(problem, design, evaluate, ["capital_share"], sf.projection_years(2028))
    assert set(result.indices["index"]) == {"mu_star", "sigma", "mu"}
    mu_star = result.indices[(result.indices["index"] == "mu_star") & (result.indices["year"] == 2028)]
    assert (mu_star["value"] >= 0).all() and mu_star["value"].max() > 0
    assert not result.convergence["capital_share"]["converged"]  # 1 trajectory is no convergence check
    summary = sp.build_summary(result, ["capital_share"], sf.projection_years(2028), 1.0)
    assert summary["top_factors"]["capital_share"]["2028"][0]["mu_star"] == mu_star["value"].max()



@pytest.mark.parametrize("args, field, allowed", [
    (["--outputs", "population", "happiness"], "--outputs", "population"),
    (["--method", "fast99"], "--method", "sobol, morris"),
    (["--n", "100"], "--n", "power of two"),
    (["--until", "2024"], "--until", "[2026, 2100]"),
    (["--dtype", "float16"], "--dtype", "float64, float32"),
])
def test_bad_arguments_exit_2_naming_the_field(tmp_path, capsys, args, field, allowed):
    assert cli.main(["sensitivity", *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kbalance: error: ") and f"'{field}'" in err and allowed in err
    assert not (tmp_path / "x").exists()


def test_unknown_scenario_and_existing_folder_are_refused(tmp_path):
    with pytest.raises(MissingFileError, match="nowhere.toml.*baseline"):
        sp.sensitivity_to_folder(tmp_path / "a", n=4, scenario="nowhere", until=2027, workers=1)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InvalidValueError, match="'--out'.*does not exist yet or is empty"):
        sp.sensitivity_to_folder(busy, n=4, until=2027, workers=1)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
