"""The white paper's analysis: indicators per member, the derived scenario and the policy
targets drawn from the scenario files."""

from __future__ import annotations

import numpy as np
import pytest

from kbalance.calibration.ensemble import latest_ensemble_set
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import read_indicators
from kbalance.model.parameters import read_parameter_set
from kbalance.model.scenarios import list_scenarios, read_scenario
from kbalance.paths import project_root
from kbalance.regions import BLOCS, region_codes
from kbalance.whitepaper import analysis


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


needs_four = pytest.mark.skipif(not {"baseline", "decentralization", "balance", "integrated"} <= set(list_scenarios()),
                                reason="baseline, decentralization, balance and integrated are not all shipped")


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


def test_user_scenario_files_join_the_shipped_ones(tmp_path):
    text = (project_root() / "model" / "scenarios" / "balance.toml").read_text(encoding="utf-8")
    mine = tmp_path / "mine.toml"
    mine.write_text(text.replace('name = "balance"', 'name = "my_balance"'), encoding="utf-8")
    chosen, _ = analysis.whitepaper_scenarios([mine])
    names = [s.name for s in chosen]
    assert "my_balance" in names and names[0] == analysis.BASE and set(list_scenarios()) <= set(names)
    assert next(s for s in chosen if s.name == "my_balance").path == mine
    same = tmp_path / "same.toml"
    same.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidValueError, match="not already used"):
        analysis.whitepaper_scenarios([same])
