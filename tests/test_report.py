"""``kbalance whitepaper``: folder contents, atomic writing, complementarity arithmetic,
labels in Korean and English, a self-contained report that Chromium renders."""

from __future__ import annotations

import io
import json
import re
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kbalance.whitepaper import figures
from kbalance.whitepaper import report
from kbalance.whitepaper import page as report_html
from kbalance import cli, fonts
from kbalance.model.scenarios import list_scenarios

CHROMIUM = Path("/usr/bin/chromium")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
MEMBERS, UNTIL = 8, 2040


# --- complementarity arithmetic on a toy dataset ----------------------------------------------


def toy_members(effects: dict[str, float], inter: np.ndarray, key: str = "population") -> xr.Dataset:
    """Members × years under the four scenarios: base 10, scenario effects added, and the
    per-member interaction ``inter`` added to integrated."""
    members, years = len(inter), [2030, 2040]
    base = np.full((members, 2), 10.0)
    values = {
        "baseline": base,
        "decentralization": base + effects["decentralization"],
        "balance": base + effects["balance"],
        "integrated": base + effects["decentralization"] + effects["balance"] + inter[:, None],
    }
    array = xr.DataArray(np.stack(list(values.values())), dims=("scenario", "member", "year"),
                         coords={"scenario": list(values), "member": np.arange(members), "year": years})
    return xr.Dataset({key: array})


def test_interaction_is_integrated_minus_parts_plus_base():
    inter = np.linspace(0.5, 1.5, 21)
    ds = toy_members({"decentralization": 2.0, "balance": -1.0}, inter)
    result = report.interaction(ds)["population"]
    assert "scenario" not in result.dims
    np.testing.assert_allclose(result.sel(year=2040).values, inter)


@pytest.mark.parametrize("low, high, direction, expected", [
    (0.1, 0.9, +1, "complementary"), (-0.9, -0.1, -1, "complementary"),
    (-0.9, -0.1, +1, "substitutive"), (0.1, 0.9, -1, "substitutive"),
    (-0.1, 0.9, +1, "additive"), (0.0, 0.5, -1, "additive"),
])
def test_classify_from_band(low, high, direction, expected):
    assert report.classify(low, high, direction) == expected


def test_complementarity_table_bands_and_classes():
    members = 101
    positive = toy_members({"decentralization": 2.0, "balance": 1.0}, np.linspace(0.5, 1.5, members))
    around_zero = toy_members({"decentralization": 2.0, "balance": 1.0}, np.linspace(-1, 1, members), "capital_share")
    table = report.complementarity_table(xr.merge([positive, around_zero]), [2030, 2040])
    row = table[(table["indicator"] == "population") & (table["year"] == 2040)].iloc[0]
    assert row["sum_of_effects_q50"] == pytest.approx(3.0)
    assert row["effect_combined_q50"] == pytest.approx(4.0)
    assert row["interaction_q50"] == pytest.approx(1.0)
    assert row["interaction_q05"] == pytest.approx(0.55) and row["interaction_q95"] == pytest.approx(1.45)
    assert row["classification"] == "complementary"
    capital = table[table["indicator"] == "capital_share"]
    assert set(capital["classification"]) == {"additive"}
    # for capital share lower is better: a positive interaction is substitutive
    worse = toy_members({"decentralization": -1.0, "balance": -1.0}, np.linspace(0.2, 0.4, members), "capital_share")
    assert set(report.complementarity_table(worse, [2040])["classification"]) == {"substitutive"}


def test_verdict_counts_classes():
    table = pd.DataFrame({"indicator": ["a", "b", "c", "d"], "year": 2070,
                          "classification": ["complementary", "complementary", "additive", "substitutive"]})
    v = report.verdict(table, 2070)
    assert v["answer"] == "confirmed" and v["complementary"] == ["a", "b"] and v["substitutive"] == ["d"]
    table["classification"] = ["substitutive", "substitutive", "additive", "complementary"]
    assert report.verdict(table, 2070)["answer"] == "refuted"
    table["classification"] = "additive"
    assert report.verdict(table, 2070)["answer"] == "not supported"


def test_combined_scenario_is_the_union_of_lever_paths():
    from kbalance.model.scenarios import read_scenario

    if not {"decentralization", "balance"} <= set(list_scenarios()):
        pytest.skip("decentralization and balance scenarios not shipped")
    first, second = read_scenario("decentralization"), read_scenario("balance")
    pure, conflicts = report.combined_scenario(first, second)
    assert pure.constants == {**first.constants, **second.constants}
    assert {s.lever for s in pure.steps} == {s.lever for s in first.steps} | {s.lever for s in second.steps}
    assert pure.path is None and conflicts == []


def test_top_factors_ranks_main_index_in_last_year():
    indices = pd.DataFrame({
        "method": "sobol", "outcome": "population", "year": [2050, 2070, 2070, 2070, 2070],
        "factor": ["a", "a", "b", "a", "b"], "index": ["ST", "ST", "ST", "S1", "S1"],
        "value": [0.9, 0.2, 0.6, 0.1, 0.5], "conf": 0.01})
    top = report.top_factors(indices)
    assert list(top["factor"]) == ["b", "a"] and set(top["index"]) == {"ST"} and set(top["year"]) == {2070}


def test_find_sensitivity_newest_with_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "outputs_dir", lambda: tmp_path)
    assert report.find_sensitivity(None) is None
    for name in ("sensitivity-a", "sensitivity-b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text("{}")
    (tmp_path / "sensitivity-c").mkdir()  # no summary.json: ignored
    assert report.find_sensitivity(None).name == "sensitivity-b"
    with pytest.raises(report.MissingFileError, match="summary.json"):
        report.find_sensitivity(tmp_path / "sensitivity-c")


# --- fonts and labels ---------------------------------------------------------------------------


def test_fit_goals_come_from_the_targets_file(tmp_path):
    (tmp_path / "fit_statistics.csv").write_text(
        "target,series,region,n,rmse,mape,r2,um,us,uc\n"
        "population,p,all,10,1,0.8,0.99,0,0,1\nbirths,b,all,10,1,6.0,0.9,0,0,1\n"
        "net_migration,m,all,10,1,150,0.5,0,0,1\ngrdp,g,all,10,1,9.0,0.9,0,0,1\n", encoding="utf-8")
    targets = tmp_path / "targets.toml"
    targets.write_text('[population]\ngoal_mape = 1.0\n[births]\ngoal_mape = 5.0\n[net_migration]\ngoal_r2 = 0.6\n'
                       '[grdp]\nweight = 1.0\n', encoding="utf-8")
    fit = report.fit_summary(tmp_path, targets).set_index("target")
    assert bool(fit.loc["population", "met"]) and not bool(fit.loc["births", "met"])
    assert not bool(fit.loc["net_migration", "met"]) and fit.loc["net_migration", "criterion"] == "R² ≥ 0.6"
    assert pd.isna(fit.loc["grdp", "met"]) and fit.loc["grdp", "criterion"] == ""


def test_caveats_list_exclusions_and_known_limits():
    caveats = report.model_caveats()
    assert any(c.startswith("foreign residents") for c in caveats)
    assert any("age structure" in c for c in caveats)


def test_korean_font_renders_hangul_without_missing_glyphs():
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    family = fonts.use_korean_font()
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert fonts.font_has_glyphs(path, "수도권 인구 비중 소멸위험지수 합계출산율 재정자립도")
    fig, ax = plt.subplots()
    ax.set_title("수도권 인구 비중 – 2070년 (5–95 %)")
    ax.set_xlabel("연도 (1월 1일 기준)")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing.*")
        fig.savefig(io.BytesIO(), format="png")
        fig.savefig(io.BytesIO(), format="svg")
    plt.close(fig)


@pytest.fixture(scope="module")
def small_whitepaper():
    """Every scenario with 4 members to 2035, nothing written."""
    wp, _ = report.prepare_whitepaper("ko", until=2035, members=4, workers=1)
    return wp


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_figure_labels_in_language(small_whitepaper, lang):
    import matplotlib.pyplot as plt

    small_whitepaper.lang = lang
    for name in ("capital_share", "births_tfr", "tax_ratio", "extinction_risk_tiles"):
        fig = figures.FIGURES[name](small_whitepaper)
        texts = " ".join(figures.figure_texts(fig))
        plt.close(fig)
        if lang == "ko":
            assert HANGUL.search(texts), name
            assert "연도" in texts or "2035" in texts
        else:
            assert not HANGUL.search(texts), (name, HANGUL.findall(texts)[:5])
            assert "Year" in texts or "2035" in texts


def test_interrupted_run_leaves_no_folder(small_whitepaper, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "prepare_whitepaper", lambda *a, **k: (small_whitepaper, {}))

    def interrupted(wp, folder):
        (folder / "ensemble_summary.csv").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_results", interrupted)
    out = tmp_path / "wp"
    with pytest.raises(KeyboardInterrupt):
        report.run_whitepaper(out, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_bad_members_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "wp"
    assert cli.main(["whitepaper", "--members", "0", "--out", str(out)]) == 2
    assert "--members" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- the command end to end -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sensitivity_dir(tmp_path_factory) -> Path:
    """A folder in the `kbalance sensitivity` contract: summary.json, indices.csv, figures/."""
    import matplotlib.pyplot as plt

    folder = tmp_path_factory.mktemp("sensitivity-sobol")
    (folder / "summary.json").write_text(json.dumps({"method": "sobol", "n": 64, "outcomes": ["population"]}))
    pd.DataFrame({"method": "sobol", "outcome": "population", "year": 2040, "factor": ["mobility", "fertility"],
                  "index": "ST", "value": [0.7, 0.2], "conf": 0.05}).to_csv(folder / "indices.csv", index=False)
    (folder / "figures").mkdir()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(["mobility", "fertility"], [0.7, 0.2])
    fig.savefig(folder / "figures" / "sobol_population.png", dpi=50)
    plt.close(fig)
    return folder


@pytest.fixture(scope="module")
def whitepaper_folder(tmp_path_factory, sensitivity_dir) -> Path:
    out = tmp_path_factory.mktemp("whitepaper") / "wp"
    code = cli.main(["whitepaper", "--members", str(MEMBERS), "--until", str(UNTIL), "--out", str(out),
                     "--sensitivity", str(sensitivity_dir)])
    assert code == 0
    return out


def test_whitepaper_writes_every_promised_file(whitepaper_folder, sensitivity_dir):
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
        assert (out / "tables" / "complementarity.csv").is_file()
    from PIL import Image

    assert Image.open(out / "figures" / "capital_share.png").info["dpi"][0] == pytest.approx(300, abs=1)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["members"] == MEMBERS and manifest["until"] == UNTIL and manifest["lang"] == "ko"
    assert manifest["command"].startswith("kbalance whitepaper")
    shipped = {s["name"]: s for s in manifest["scenarios"]}
    assert set(list_scenarios()) <= set(shipped)
    assert all(len(shipped[n]["sha256"]) == 64 for n in list_scenarios())
    for key in ("model_sha256", "data_sha256"):
        assert len(manifest[key]) == 64
    assert len(manifest["fitted_set"]["sha256"]) == 64 and len(manifest["ensemble"]["sha256"]) == 64
    assert manifest["sensitivity"] == str(sensitivity_dir)
    assert manifest["timings_s"]["total"] > 0

    summary = pd.read_csv(out / "results" / "ensemble_summary.csv", dtype={"region": str})
    assert set(summary["scenario"]) >= set(list_scenarios())
    assert {"q05", "q25", "q50", "q75", "q95"} <= set(summary.columns)
    assert (summary["q05"] <= summary["q95"] + 1e-9).all()
    comparison = pd.read_csv(out / "tables" / "scenario_comparison.csv")
    assert {"2030", "2040"} <= set(comparison.columns)
    assert comparison["2040"].str.match(r"^-?[\d,.]+ \[-?[\d,.]+–-?[\d,.]+\]$").all()
    sheets = pd.ExcelFile(out / "tables" / "tables.xlsx", engine="openpyxl").sheet_names
    assert "scenario_comparison" in sheets and "fit_statistics" in sheets
    nc = xr.open_dataset(out / "results" / "bestfit.nc")
    assert "Population" in nc and nc["Population"].sizes["Age"] == 86
    nc.close()


def test_whitepaper_refuses_existing_folder(whitepaper_folder, capsys):
    before = sorted(p.name for p in whitepaper_folder.iterdir())
    assert cli.main(["whitepaper", "--members", "2", "--until", "2035", "--out", str(whitepaper_folder)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and str(whitepaper_folder) in err
    assert sorted(p.name for p in whitepaper_folder.iterdir()) == before


def test_report_html_is_self_contained_and_korean(whitepaper_folder):
    page = (whitepaper_folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page, re.IGNORECASE)
    assert "<link" not in page and "<script" not in page
    assert "@font-face{font-family:'KbalanceHangul'" in page and "url(data:font/woff;base64," in page
    assert page.count("data:image/png;base64,") >= len(figures.FIGURES) - 1
    assert "<html lang='ko'>" in page and "주요 결과" in page and "보정" in page
    for section in ("summary", "method", "data", "fit", "scenarios", "results", "complementarity",
                    "sensitivity", "caveats"):
        assert f"id='{section}'" in page
    assert "mobility" in page  # the sensitivity top factors


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_report_renders_in_headless_chromium(whitepaper_folder, tmp_path):
    probe = ("<script>window.addEventListener('load',function(){var i=Array.from(document.images);"
             "var bad=i.filter(function(x){return !(x.complete&&x.naturalWidth>0);}).length;"
             "var p=document.createElement('pre');p.id='imgcheck';p.textContent='images='+i.length+' broken='+bad;"
             "document.body.appendChild(p);});</script>")
    page = tmp_path / "report.html"
    page.write_text((whitepaper_folder / "report.html").read_text(encoding="utf-8").replace("</body>", probe + "</body>"),
                    encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000"]
    dom = subprocess.run([str(CHROMIUM), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=180, check=False)
    found = re.search(r"images=(\d+) broken=(\d+)", dom.stdout)
    assert found, dom.stderr[-2000:]
    assert int(found.group(1)) >= len(figures.FIGURES) - 1 and found.group(2) == "0"
    shot = tmp_path / "screenshot.png"
    subprocess.run([str(CHROMIUM), *flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=180, check=True)
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_report_without_sensitivity_folder_says_how_to_add_one(small_whitepaper):
    small_whitepaper.lang = "en"
    wp = report.Whitepaper(**{**small_whitepaper.__dict__, "sensitivity": None})
    assert "kbalance sensitivity" in report_html.sensitivity_html(wp, {})
