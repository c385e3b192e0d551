"""The white paper's analysis: indicators per member, complementarity arithmetic and
verdicts, the derived scenario and the policy targets drawn from the scenario files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kbalance.calibration.ensemble import latest_ensemble_set
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import read_indicators
from kbalance.model.parameters import read_parameter_set
from kbalance.model.scenarios import list_scenarios, read_scenario
from kbalance.regions import BLOCS, region_codes
from kbalance.whitepaper import analysis


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


def test_the_white_paper_shows_indicators_of_the_indicators_file():
    known = read_indicators()
    assert set(analysis.INDICATOR_KEYS) <= set(known)
    assert {known[k].level for k in analysis.NATIONAL_KEYS} == {"national"}
    assert {known[k].level for k in analysis.REGIONAL_KEYS} == {"regional"}
    assert "extinction risk index" in analysis.ensemble_variables()
    assert "Population" in analysis.bestfit_variables() and "Population" not in analysis.ensemble_variables()


def test_member_indicators_are_the_model_variables_scaled_for_display():
    names = [*analysis.ensemble_variables(), "young women", "elderly population"]
    run = run_fast(None, read_parameter_set().values, 2030, names)
    ind = analysis.member_indicators(run)
    assert list(ind["region"].values) == region_codes() and list(ind["bloc"].values) == list(BLOCS)
    np.testing.assert_allclose(ind["population"], run["national population"] / 1e6, rtol=1e-12)
    np.testing.assert_allclose(ind["region_elderly_share"], run["elderly share"] * 100, rtol=1e-12)
    ratio = run["young women"].sum("Region") / run["elderly population"].sum("Region")
    np.testing.assert_allclose(ind["extinction_index"], ratio, rtol=1e-12)
    capital = ind["region_population"].sel(region=["11", "23", "31"]).sum("region")
    np.testing.assert_allclose(ind["bloc_population"].sel(bloc="capital"), capital, rtol=1e-12)
    np.testing.assert_allclose(ind["bloc_population"].sum("bloc"), ind["region_population"].sum("region"), rtol=1e-12)


def test_complementarity_paths_recover_the_interaction():
    inter = np.linspace(0.5, 1.5, 21)
    ds = toy_members({"decentralization": 2.0, "balance": -1.0}, inter)
    paths = analysis.complementarity_paths(ds, ["population"])["population"]
    assert paths.sel(series="interaction", quantile="q50", year=2040) == pytest.approx(np.median(inter))
    assert paths.sel(series="sum", quantile="q50", year=2040) == pytest.approx(1.0)


@pytest.mark.parametrize("low, high, direction, expected", [
    (0.1, 0.9, +1, "complementary"), (-0.9, -0.1, -1, "complementary"),
    (-0.9, -0.1, +1, "substitutive"), (0.1, 0.9, -1, "substitutive"),
    (-0.1, 0.9, +1, "additive"), (0.0, 0.5, -1, "additive"),
])
def test_classify_from_band(low, high, direction, expected):
    assert analysis.classify(low, high, direction) == expected


def test_complementarity_table_bands_and_classes():
    members = 101
    positive = toy_members({"decentralization": 2.0, "balance": 1.0}, np.linspace(0.5, 1.5, members))
    around_zero = toy_members({"decentralization": 2.0, "balance": 1.0}, np.linspace(-1, 1, members), "capital_share")
    table = analysis.complementarity_table(xr.merge([positive, around_zero]), [2030, 2040])
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
    assert set(analysis.complementarity_table(worse, [2040])["classification"]) == {"substitutive"}


def test_verdict_counts_classes():
    table = pd.DataFrame({"indicator": ["a", "b", "c", "d"], "year": 2070,
                          "classification": ["complementary", "complementary", "additive", "substitutive"]})
    v = analysis.verdict(table, 2070)
    assert v["answer"] == "confirmed" and v["complementary"] == ["a", "b"] and v["substitutive"] == ["d"]
    table["classification"] = ["substitutive", "substitutive", "additive", "complementary"]
    assert analysis.verdict(table, 2070)["answer"] == "refuted"
    table["classification"] = "additive"
    assert analysis.verdict(table, 2070)["answer"] == "not supported"


needs_four = pytest.mark.skipif(not {"baseline", "decentralization", "balance", "integrated"} <= set(list_scenarios()),
                                reason="the four complementarity scenarios are not all shipped")


@needs_four
def test_complementarity_findings_separate_integrated_and_pure_union():
    scenarios = {n: read_scenario(n) for n in ("decentralization", "balance", "integrated")}
    table = pd.DataFrame({"indicator": ["a", "b", "a", "b"], "year": 2070,
                          "combined": ["integrated", "integrated", analysis.PURE, analysis.PURE],
                          "classification": ["complementary", "complementary", "additive", "additive"]})
    found = analysis.complementarity_findings(table, scenarios, 2070)
    assert found["verdict"]["answer"] == "confirmed" and found["verdict_pure"]["answer"] == "not supported"
    assert found["verdict_pure"]["additive"] == ["a", "b"]
    assert isinstance(found["extra_levers"], list)
    assert analysis.complementarity_findings(table.iloc[:2], scenarios, 2070)["verdict_pure"] is None


@needs_four
def test_combined_scenario_is_the_union_of_lever_paths():
    first, second = read_scenario("decentralization"), read_scenario("balance")
    pure, conflicts = analysis.combined_scenario(first, second)
    assert pure.constants == {**first.constants, **second.constants}
    assert {s.lever for s in pure.steps} == {s.lever for s in first.steps} | {s.lever for s in second.steps}
    assert pure.path is None and conflicts == []


def test_lever_targets_come_from_the_scenario_files():
    scenarios = [read_scenario(n) for n in list_scenarios()]
    lever = "local_consumption_tax_rate"
    expected = sorted({st.target for s in scenarios for st in s.steps if st.lever == lever})
    steps = analysis.lever_targets(scenarios, lever)
    assert [s.target for s in steps] == expected and expected  # 50 and 92 % in the shipped files
    assert all(s.lever == lever and s.ref for s in steps)
    assert analysis.lever_targets(scenarios, "no_such_lever") == []


def test_tax_ratio_aims_are_the_stated_ratios_with_references():
    assert [a.target for a in analysis.TAX_RATIO_AIMS] == [30.0, 40.0]  # 7:3 and 6:4
    assert all(a.ref.startswith("R") for a in analysis.TAX_RATIO_AIMS)


def test_members_outside_the_ensemble_are_refused():
    fitted = latest_ensemble_set()
    if fitted is None:
        pytest.skip("no constrained ensemble committed")
    assert len(analysis.ensemble_members(fitted, 3)) == 3
    with pytest.raises(InvalidValueError, match="--members"):
        analysis.ensemble_members(fitted, 0)
