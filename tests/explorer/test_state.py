"""The explorer's state and its URL and scenario-file forms."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from kbalance.errors import InvalidValueError
from kbalance.explorer.state import (EXPLORER_REF, ExplorerState, baseline_state, current_versions, lever_controls,
                                     scenario_of, scenario_toml, slider_step, state_from_query, state_from_scenario,
                                     state_to_query)
from kbalance.model.inputs import read_levers
from kbalance.model.mdl import scalar_constants
from kbalance.model.scenarios import VARIANT_CONSTANT, list_scenarios, read_scenario, with_variant
from kbalance.model.variants import default_variant, read_variants


def test_every_settable_lever_has_controls_with_the_files_range_and_unit():
    levers = read_levers()
    controls = lever_controls()
    assert list(controls) == [k for k, v in levers.items() if "target" in v]
    limits = scalar_constants()
    for key, c in controls.items():
        assert c.target[1:] == tuple(levers[key]["range"]) and c.unit("en") == levers[key]["unit"] and c.unit("ko") == levers[key]["unit_ko"]
        assert c.description == levers[key]["description"]
        assert (c.label("ko"), c.label("en")) == (levers[key]["label_ko"], levers[key]["label_en"])
        assert c.ramp == limits[levers[key]["ramp"]]
        assert c.start[0] == c.start[1] == limits[levers[key]["start"]][1]
        assert c.target[1] <= c.target[0] <= c.target[2]


@pytest.mark.parametrize("low, high, step", [(15, 50, 0.1), (0, 100000, 100), (0, 2, 0.01), (0, 1, 0.001)])
def test_slider_step(low, high, step):
    assert slider_step(low, high) == pytest.approx(step)


@pytest.mark.parametrize("name", list_scenarios())
def test_shipped_scenarios_round_trip_through_the_url_and_the_scenario_file(name, tmp_path):
    scenario = read_scenario(name)
    state = state_from_scenario(scenario, ExplorerState(lang="en", region="36", year=2040, members=100,
                                                        versions=current_versions()))
    assert state_from_query(state_to_query(state)) == state
    path = tmp_path / f"{name}.toml"
    path.write_text(scenario_toml(state, name), encoding="utf-8")
    again = read_scenario(path)
    assert again.constants == scenario.constants
    assert state_from_scenario(again, state) == state
    assert scenario_of(state).constants == scenario.constants


def test_a_moved_lever_becomes_one_step_of_the_explorers_reference(tmp_path):
    state = state_from_scenario(read_scenario("decentralization")).with_lever("local_consumption_tax_rate", 35, 2028, 6)
    steps = state.levers["local_consumption_tax_rate"]
    assert len(steps) == 1 and steps[0].ref == EXPLORER_REF
    constants = scenario_of(state).constants
    assert constants["consumption tax target"] == 35.0 and constants["consumption tax start year"] == 2028.0
    assert constants["consumption tax ramp years"] == 6.0 and "consumption tax target 2" not in constants
    assert constants["allocation rate target"] == read_scenario("decentralization").constants["allocation rate target"]


def test_the_scenario_file_is_toml_naming_the_versions():
    state = baseline_state("en").with_lever("fertility_support", 1.5, 2027, 3)
    text = scenario_toml(state, "my scenario", 'with "quotes"')
    parsed = tomllib.loads(text)
    assert parsed["scenario"] == {"name": "my scenario", "description": 'with "quotes"'}
    assert parsed["levers"]["fertility_support"]["steps"] == [
        {"target": 1.5, "start": 2027.0, "ramp": 3.0, "ref": EXPLORER_REF}]
    assert current_versions()["model"] in text.splitlines()[0]


def test_a_step_without_ramp_keeps_it_absent():
    scenario = read_scenario("baseline")
    state = state_from_query({"levers": '{"mega_region_integration":[[0.5,2030,null,"hypothetical"]]}'})
    assert state.levers["mega_region_integration"][0].ramp is None
    assert "ramp" not in tomllib.loads(scenario_toml(state))["levers"]["mega_region_integration"]["steps"][0]
    assert scenario_of(state).constants == {**scenario.constants, "mega region target": 0.5,
                                            "mega region start year": 2030.0}


def test_the_baseline_has_no_lever_and_the_current_versions():
    state = baseline_state("en")
    assert state.levers == {} and state.lang == "en" and state.versions == current_versions()
    assert scenario_of(state).constants == {}
    assert state_from_query({}) == baseline_state()
    assert state_to_query(state)["fitted"] == current_versions()["fitted"]


@pytest.mark.parametrize("query, key", [
    ({"colour": "red"}, "colour"),
    ({"levers": "{not json"}, "levers"),
    ({"levers": '{"no_such_lever": [[1, 2030, 5, "x"]]}'}, "levers"),
    ({"levers": '{"fertility_support": [[1, 2030]]}'}, "levers.fertility_support"),
    ({"levers": '{"fertility_support": []}'}, "levers.fertility_support"),
    ({"lang": "fr"}, "lang"),
    ({"region": "99"}, "region"),
    ({"year": "2200"}, "year"),
    ({"members": "7"}, "members"),
    ({"variant": "medium"}, "variant"),
    ({"variant": ""}, "variant"),
])
def test_a_bad_query_names_its_key(query, key):
    with pytest.raises(InvalidValueError) as err:
        state_from_query(query)
    assert str(err.value).startswith(f"URL: field {key!r}")


@pytest.mark.parametrize("key", [k for k in read_variants() if k != default_variant()])
def test_a_variant_round_trips_through_the_url_and_the_scenario_file(key, tmp_path):
    state = replace(baseline_state("en").with_lever("fertility_support", 1.5, 2027, 3), variant=key)
    query = state_to_query(state)
    assert query["variant"] == key and state_from_query(query) == state
    text = scenario_toml(state, "with variant")
    assert tomllib.loads(text)["demography"] == {"variant": key}
    path = tmp_path / "with_variant.toml"
    path.write_text(text, encoding="utf-8")
    scenario = read_scenario(path)
    assert scenario.variant == key and scenario.constants[VARIANT_CONSTANT] == float(read_variants()[key].code)
    assert scenario_of(state).constants == scenario.constants
    assert state_from_scenario(scenario, baseline_state("en")) == state


def test_without_a_variant_the_url_and_file_name_none_and_a_scenario_sets_its_own():
    state = baseline_state("en")
    assert state.variant is None and "variant" not in state_to_query(state)
    assert "demography" not in tomllib.loads(scenario_toml(state)) and VARIANT_CONSTANT not in scenario_of(state).constants
    with_one = replace(state, variant="high")
    assert state_from_scenario(read_scenario("balance"), with_one).variant is None
    assert state_from_scenario(with_variant(read_scenario("balance"), "low"), state).variant == "low"


def test_a_value_outside_the_levers_range_is_refused():
    state = state_from_query({"levers": '{"fertility_support": [[9.0, 2030, 5, "hypothetical"]]}'})
    with pytest.raises(InvalidValueError, match=r"^explorer state: field .levers.fertility_support.steps\[1\].target"):
        scenario_of(state)


def test_versions_of_the_link_are_kept():
    state = state_from_query({"model": "000000000000", "fitted": "v1"})
    assert state.versions == {"model": "000000000000", "fitted": "v1"}
