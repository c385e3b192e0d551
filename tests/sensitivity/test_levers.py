"""The lever evidence table: chains, evidence, and responses equal to paired runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.calibration.ensemble import read_ensemble
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import indicator
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import Scenario
from kbalance.paths import project_root
from kbalance.runs import run_model
from kbalance.sensitivity import levers as lv


@pytest.fixture(scope="module")
def values() -> dict:
    return shipped_parameter_set().values


@pytest.fixture(scope="module")
def chains() -> pd.DataFrame:
    return lv.lever_chains()


def test_every_settable_lever_has_a_chain_to_its_first_target_and_the_capital_share(chains):
    levers = lv.settable_levers()
    assert list(chains.index) == list(levers) and len(levers) >= 16
    for key, spec in levers.items():
        target, capital = chains.at[key, "chain_target"], chains.at[key, "chain_capital"]
        assert target[0] == capital[0] == spec["model"], key
        assert target[-1] == indicator(spec["first_target"]).variable, key
        assert capital[-1] == "capital region share", key
        assert chains.at[key, "reads_parameter"], f"{key}: {spec['evidence_parameter']} is not read on its chain"


def test_a_chain_keeps_national_variables_at_its_end():
    users = {"a": {"n", "b"}, "n": {"t"}, "b": {"c"}, "c": {"t"}}
    assert lv.shortest_chain("a", "t", users) == ["a", "n", "t"]
    assert lv.shortest_chain("a", "t", users, national={"n"}) == ["a", "b", "c", "t"]  # no regional step after n
    assert lv.shortest_chain("a", "t", users, national={"n", "t"}) == ["a", "n", "t"]  # national to the end
    users = {"a": {"n"}, "n": {"r"}, "r": {"t"}, "b": set()}
    assert lv.shortest_chain("a", "t", users, national={"n", "t"}) == []  # no regional step after a national one
    assert lv.shortest_chain("a", "x", users) == []


def test_support_reads_the_prior():
    assert lv.support({"prior": "uniform"}) == "prior_only"
    assert lv.support({"prior": "normal", "prior_mean": 0.093, "prior_sd": 0.075}) == "not_distinguishable"
    assert lv.support({"prior": "normal", "prior_mean": -1.004, "prior_sd": 0.072}) == "estimated"
    assert lv.at_bound(0.0, (0.0, 2.0)) and lv.at_bound(2.0, (0.0, 2.0)) and not lv.at_bound(0.5, (0.0, 2.0))


def test_an_unknown_evidence_parameter_is_refused_naming_levers_toml(values):
    spec = dict(lv.settable_levers()["fertility_support"], evidence_parameter="no such constant")
    with pytest.raises(InvalidValueError, match=r"levers.toml.*fertility_support.evidence_parameter"):
        lv.lever_evidence(values, {"fertility_support": spec})


def test_the_standard_change_is_a_tenth_of_the_range_inside_it(values):
    changes = lv.standard_changes(values)
    for key, spec in lv.settable_levers().items():
        low, high = spec["range"]
        row = changes.loc[key]
        assert abs(row["change"]) == pytest.approx(lv.STANDARD_SHARE * (high - low))
        assert low <= row["start_value"] + row["change"] <= high
    assert changes.at["local_consumption_tax_rate", "start_value"] == pytest.approx(25.3)


def paired(values, key, spec, row, variable, year):
    """changed − held of ``variable`` in ``year`` from two direct runs of kbalance.runs.run_model."""
    out = []
    for target in (row["start_value"], row["start_value"] + row["change"]):
        constants = {spec["target"]: target, spec["start"]: float(lv.STANDARD_START), spec["ramp"]: lv.STANDARD_RAMP}
        scenario = Scenario(name=key, description="paired run", constants=constants)
        out.append(float(run_model(scenario, shipped_parameter_set(), year, (variable,))[variable].sel(year=year)))
    return out[1] - out[0]


def test_the_table_response_equals_a_direct_paired_run(values):
    key = "capital_region_regulation"
    spec = lv.settable_levers()[key]
    members = read_ensemble().iloc[:2]
    table = lv.lever_table(values, members, {key: spec})
    row = table.loc[key]
    assert row["capital_2070"] == pytest.approx(paired(values, key, spec, row, "capital region share", 2070),
                                                rel=1e-12, abs=1e-12)
    assert row["capital_2070"] < 0  # stronger regulation lowers the capital-region share
    # the band's members are paired runs too: each member's difference equals its own two direct runs
    pairs = lv.pair_constants(lv.standard_changes(values, {key: spec}), {key: spec})
    per_member = lv.run_pairs(pairs, members, values, {key: spec["first_target"]})
    direct = run_fast(pd.concat([members.iloc[[1, 1]].reset_index(drop=True), pairs.reset_index(drop=True)], axis=1),
                      None, 2070, ("capital region share",))["capital region share"].sel(year=2070).values
    got = per_member.sel(lever=key, outcome="capital", year=2070, member=members.index[1])
    assert float(got) == pytest.approx(direct[1] - direct[0], rel=1e-12, abs=1e-12)
    assert row["capital_2070_q05"] <= row["capital_2070_q95"]


def test_a_cut_chain_gives_no_response(values):
    key = "fertility_support"
    spec = lv.settable_levers()[key]
    on = lv.lever_table(values, None, {key: spec})
    off = lv.lever_table({**values, "family support elasticity": 0.0}, None, {key: spec})
    assert on.at[key, "target_2070"] > 0
    for name in ("target_2040", "target_2070", "capital_2040", "capital_2070"):
        assert off.at[key, name] == 0.0
    assert np.isnan(off.at[key, "target_2070_q05"])  # no members, no band


def test_the_markdown_names_the_fitted_set_and_every_lever(values):
    key = "capital_region_regulation"
    table = lv.lever_table(values, None, {key: lv.settable_levers()[key]})
    text = lv.lever_markdown(table, "v7", 3)
    assert "`kbalance levers evidence --docs`" in text and "`v7`" in text and "first 3 members" in text
    assert f"`{key}`" in text and "uniform[0, 1]" in text and "1 → 1.2 |" in text


def test_the_shipped_docs_page_lists_every_lever():
    text = (project_root() / "docs" / "levers.md").read_text(encoding="utf-8")
    assert "kbalance levers evidence --docs" in text
    for key in lv.settable_levers():
        assert text.count(f"`{key}`") >= 3, key
