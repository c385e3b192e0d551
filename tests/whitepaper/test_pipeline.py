"""``kbalance whitepaper`` end to end: every promised file, a manifest that reproduces it,
atomic writing and refusals that leave nothing behind."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import xarray as xr
from PIL import Image

from kbalance import cli
from kbalance.errors import InvalidValueError
from kbalance.model.conventions import model_unit
from kbalance.model.indicators import read_indicators
from kbalance.model.mdl import variable_names
from kbalance.model.scenarios import VARIANT_CONSTANT, list_scenarios
from kbalance.model.variants import default_variant, read_variants
from kbalance.outputs import OBSERVATION_SET_KEY
from kbalance.whitepaper import figures, pipeline
from kbalance.whitepaper.headings import heading


def test_whitepaper_writes_every_promised_file(whitepaper_folder, sensitivity_dir, folder_settings):
    out = whitepaper_folder
    for name in ("manifest.json", "report.html", "results/ensemble_summary.nc", "results/ensemble_summary.csv",
                 "results/bestfit.nc", "results/bestfit.csv", "tables/tables.xlsx",
                 "tables/scenario_comparison.csv", "tables/regional_indicators.csv", "tables/bloc_population.csv",
                 "tables/scenario_levers.csv", "tables/scenario_differences.csv", "tables/fit_statistics.csv",
                 "tables/sensitivity_top_factors.csv", "figures/sensitivity/sobol_population.png"):
        assert (out / name).is_file(), name
    full = {"baseline", "decentralization", "balance", "integrated"} <= set(list_scenarios())
    for name in figures.FIGURES:
        if name == "complementarity" and not full:
            continue
        assert (out / "figures" / f"{name}.png").is_file() and (out / "figures" / f"{name}.svg").is_file(), name
    if full:
        for name in ("tables/complementarity.csv", "tables/complementarity_traces.csv",
                     "tables/complementarity_sobol.csv", "results/factorial_effects.nc"):
            assert (out / name).is_file(), name
        effects = pd.read_csv(out / "tables" / "complementarity.csv")
        assert effects["effect"].nunique() == 15 and (effects["q05"] <= effects["q95"] + 1e-12).all()
        factorial = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["factorial"]
        assert len(factorial["cells"]) == 16 and factorial["sobol_n"] == folder_settings["sobol_n"]
    with Image.open(out / "figures" / "capital_share.png") as image:
        assert image.info["dpi"][0] == pytest.approx(300, abs=1)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["members"] == folder_settings["members"] and manifest["until"] == folder_settings["until"] and manifest["lang"] == "ko"
    assert manifest["command"].startswith("kbalance whitepaper")
    shipped = {s["name"]: s for s in manifest["scenarios"]}
    assert set(list_scenarios()) <= set(shipped)
    assert all(len(shipped[n]["sha256"]) == 64 for n in list_scenarios())
    for key in ("model_sha256", "data_sha256"):
        assert len(manifest[key]) == 64
    assert len(manifest["fitted_set"]["sha256"]) == 64 and len(manifest["ensemble"]["sha256"]) == 64
    assert manifest["sensitivity"] == str(sensitivity_dir)
    assert manifest["timings_s"]["total"] > 0
    inputs = manifest["inputs"]  # every input that can change a number, hashed
    for key in ("model/kbalance.mdl", "model/inputs", "model/levers.toml", "calibration/parameters.toml",
                OBSERVATION_SET_KEY, *(f"model/scenarios/{n}.toml" for n in list_scenarios())):
        assert len(inputs[key]) == 64, key
    assert inputs["calibration/fitted/" + manifest["fitted_set"]["file"]] == manifest["fitted_set"]["sha256"]
    assert inputs["calibration/fitted/" + manifest["ensemble"]["file"]] == manifest["ensemble"]["sha256"]
    assert len(manifest["engine_source_sha256"]) == 64 and manifest["dtype"] == "float64"

    summary = pd.read_csv(out / "results" / "ensemble_summary.csv", dtype={"region": str})
    assert set(summary["scenario"]) >= set(list_scenarios())
    assert {"q05", "q25", "q50", "q75", "q95"} <= set(summary.columns)
    assert (summary["q05"] <= summary["q95"] + 1e-9).all()
    comparison = pd.read_csv(out / "tables" / "scenario_comparison.csv")
    assert {"2030", "2040"} <= set(comparison.columns)
    assert comparison["2040"].str.match(r"^-?[\d,.]+ \[-?[\d,.]+–-?[\d,.]+\]$").all()
    with pd.ExcelFile(out / "tables" / "tables.xlsx", engine="openpyxl") as workbook:
        assert "scenario_comparison" in workbook.sheet_names and "fit_statistics" in workbook.sheet_names
        sheet = pd.read_excel(workbook, sheet_name="scenario_comparison")  # numbers a spreadsheet can chart, units in Korean
        median, p5, p95, unit = (heading(c, "ko") for c in ("median", "p5", "p95", "unit"))
        assert all(pd.api.types.is_float_dtype(sheet[c]) for c in (median, p5, p95))
        assert ((sheet[p5] <= sheet[median] + 1e-9) & (sheet[median] <= sheet[p95] + 1e-9)).all()
        assert "백만 명" in set(sheet[unit]) and "million persons" not in set(sheet[unit])
        differences = pd.read_excel(workbook, sheet_name="scenario_differences")
        assert "million persons" not in set(differences[unit])
        for name in workbook.sheet_names:  # every sheet headed for readers, in Korean
            columns = [str(c) for c in pd.read_excel(workbook, sheet_name=name, nrows=0).columns]
            raw = [c for c in columns if re.fullmatch(r"[a-z0-9_]+", c) and not c.isdigit()]
            assert not raw, (name, raw)
        fit = pd.read_excel(workbook, sheet_name="fit_statistics")
        assert heading("rmse_pooled", "ko") in fit and "persons" in set(fit[heading("series_unit", "ko")])
    with xr.open_dataset(out / "results" / "bestfit.nc") as nc:
        assert "Population" in nc and nc["Population"].sizes["age"] == 101


def test_whitepaper_refuses_existing_folder(whitepaper_folder, capsys):
    before = sorted(p.name for p in whitepaper_folder.iterdir())
    assert cli.main(["whitepaper", "--members", "2", "--until", "2035", "--out", str(whitepaper_folder)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and str(whitepaper_folder) in err
    assert sorted(p.name for p in whitepaper_folder.iterdir()) == before


@pytest.mark.slow  # one more white paper of 8 members to 2040
def test_the_white_paper_is_reproduced_from_its_manifest(whitepaper_folder, tmp_path, capsys):
    assert cli.main(["reproduce", str(whitepaper_folder / "manifest.json"), "--out", str(tmp_path / "again")]) == 0
    out = capsys.readouterr().out
    for name in ("results/ensemble_summary.nc", "results/bestfit.nc", "results/bestfit.csv",
                 "results/municipal_summary.nc", "tables/scenario_comparison.csv"):
        assert f"matches  {name}" in out, name
    assert "differs" not in out and "numbers match the original in" in out
    again = json.loads((tmp_path / "again" / "manifest.json").read_text(encoding="utf-8"))
    manifest = json.loads((whitepaper_folder / "manifest.json").read_text(encoding="utf-8"))
    assert again["inputs"] == manifest["inputs"] and again["members"] == manifest["members"]
    assert again["sensitivity"] == manifest["sensitivity"] and again["factorial"] == manifest["factorial"]


def test_reproducing_a_white_paper_refuses_a_changed_input_or_fitted_set(whitepaper_folder, tmp_path, capsys):
    manifest = json.loads((whitepaper_folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kbalance_whitepaper"] == 1
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    changed = dict(manifest, inputs={**manifest["inputs"], "model/levers.toml": "0" * 64})
    (tampered / "manifest.json").write_text(json.dumps(changed), encoding="utf-8")
    assert cli.main(["reproduce", str(tampered), "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "model/levers.toml: field 'sha256': changed since" in err and "recorded 000000000000" in err
    other = dict(manifest, fitted_set={**manifest["fitted_set"], "file": "v1.toml"})
    (tampered / "manifest.json").write_text(json.dumps(other), encoding="utf-8")
    assert cli.main(["reproduce", str(tampered), "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "field 'fitted_set.file'" in err and "v1.toml, the fitted set the white paper ran on" in err
    assert not (tmp_path / "again").exists()


def test_interrupted_run_leaves_no_folder(small_whitepaper, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "prepare_whitepaper", lambda *a, **k: (small_whitepaper, {}))

    def interrupted(wp, folder):
        (folder / "ensemble_summary.csv").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "write_results", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_whitepaper(tmp_path / "wp", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_bad_members_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "wp"
    assert cli.main(["whitepaper", "--members", "0", "--out", str(out)]) == 2
    assert "--members" in capsys.readouterr().err
    assert cli.main(["whitepaper", "--members", "2", "--sobol-n", "6", "--out", str(out)]) == 2
    assert "--sobol-n" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_language_or_year_is_refused_before_any_run():
    with pytest.raises(InvalidValueError, match="--lang"):
        pipeline.prepare_whitepaper("fr")
    with pytest.raises(InvalidValueError, match="--variant"):
        pipeline.prepare_whitepaper("en", variant="no-such-variant")
    with pytest.raises(InvalidValueError, match="--until"):
        pipeline.prepare_whitepaper("en", until=2200)


def test_every_result_file_follows_the_output_convention(whitepaper_folder):
    """Units from model/indicators.toml (indicators) and the model's documentation (model
    variables), the same coordinates in every file, CF and global attributes in every netCDF."""
    results = whitepaper_folder / "results"
    known = read_indicators()
    with xr.open_dataset(results / "ensemble_summary.nc") as nc:
        for key in nc.data_vars:
            ind = known[str(key)]
            assert nc[key].attrs["units"] == ind.unit_en and nc[key].attrs["long_name_ko"] == ind.label_ko, key
        assert nc["population"].attrs["units"] == "million persons" and nc["capital_share"].attrs["units"] == "%"
        assert nc["region_name_ko"].sel(region="11") == "서울특별시"
        assert {"title", "source", "history", "fitted_set", "model_sha256", "kbalance_version"} <= set(nc.attrs)
        summary_regions = set(nc["region"].values)
    with xr.open_dataset(results / "bestfit.nc") as nc:
        for name in nc.data_vars:
            variable = str(name).replace("_", " ")
            if variable in variable_names():
                assert nc[name].attrs["units"] == model_unit(variable), name
        assert nc["capital_region_share"].attrs["units"] == "%" and nc["elderly_share"].attrs["units"] == "1"
        assert set(nc["region"].values) == summary_regions and list(nc["sex"].values) == ["male", "female"]
        assert nc.attrs["fitted_set"] == json.loads((whitepaper_folder / "manifest.json").read_text())["fitted_set"]["file"].removesuffix(".toml")
        bestfit_names = set(nc.data_vars)
    summary = pd.read_csv(results / "ensemble_summary.csv", dtype={"region": str})
    assert (summary["unit"] == summary["indicator"].map(lambda k: known[k].unit_en)).all()
    long = pd.read_csv(results / "bestfit.csv", dtype={"region": str, "age": str}, usecols=["variable", "region", "unit"])
    assert set(long["variable"]) == bestfit_names  # the same names as the netCDF
    assert set(long["region"].dropna()) == summary_regions
    units = long.groupby("variable")["unit"].first()
    assert units["capital_region_share"] == "%" and units["total_births"] == model_unit("total births")


def test_without_an_analysis_the_white_paper_runs_a_small_screening(english_screened):
    folder, written = english_screened
    assert written.screening and written.sensitivity == folder / pipeline.SCREENING_FOLDER
    summary = json.loads((written.sensitivity / "summary.json").read_text(encoding="utf-8"))
    assert summary["method"] == pipeline.SCREENING["method"] and summary["n"] == pipeline.SCREENING["n"]
    html = (folder / "report.html").read_text(encoding="utf-8")
    section = html.split("<section id='sensitivity'>")[1].split("</section>")[0]
    assert "small screening" in section and "kbalance sensitivity" in section and "<img" in section
    assert (folder / "tables" / "sensitivity_top_factors.csv").is_file()


def test_every_scenario_runs_under_the_variant_the_manifest_records(small_whitepaper, whitepaper_folder):
    code = read_variants()[default_variant()].code
    assert small_whitepaper.variant == default_variant()
    assert all(s.constants[VARIANT_CONSTANT] == code for s in small_whitepaper.scenarios.values())
    manifest = json.loads((whitepaper_folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["variant"] == {"key": default_variant(), "code": code, "label": read_variants()[default_variant()].label_en}
    report = (whitepaper_folder / "report.html").read_text(encoding="utf-8")
    assert f"<code>{default_variant()}</code>" in report
    assert (whitepaper_folder / "tables" / "demography_assumptions.csv").is_file()
    assert (whitepaper_folder / "figures" / "demography_assumptions.png").is_file()
    low = pipeline.build_whitepaper_manifest(["kbalance", "whitepaper", "--variant", "low"], [], {},
                                             small_whitepaper.fit_report.parent.parent / "fitted" /
                                             f"{small_whitepaper.fit_report.name}.toml", 2, 2035, "en", None, {},
                                             variant="low")
    assert low["variant"]["key"] == "low" and low["variant"]["code"] == read_variants()["low"].code
