"""Scenario files: lever paths, their validation and the shipped scenarios."""

from __future__ import annotations

import re

import pytest

from kbalance.errors import KbalanceInputError, MissingFileError
from kbalance.model.scenarios import list_scenarios, read_scenario
from kbalance.paths import project_root


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
    ('[levers.local_share_of_total_tax]\ntarget = "thirty"\nstart = 2030\nref = "R4"\n', "levers.local_share_of_total_tax.target", "[15, 50]"),
    ("[levers.local_share_of_total_tax]\ntarget = 90\nstart = 2030\nref = 'R4'\n", "levers.local_share_of_total_tax.target", "[15, 50]"),
    ("[levers.local_share_of_total_tax]\ntarget = 30\nstart = 1990\nref = 'R4'\n", "levers.local_share_of_total_tax.start", "[2025, 2100]"),
    ("[levers.local_share_of_total_tax]\ntarget = 30\nstart = 2030\nspeed = 2\nref = 'R4'\n", "levers.local_share_of_total_tax.speed", "target"),
    ("[levers\n", "(file)", "valid TOML"),
])
def test_bad_scenarios_name_file_field_and_allowed(tmp_path, text, field, allowed):
    path = _write(tmp_path, text)
    with pytest.raises(KbalanceInputError) as info:
        read_scenario(path)
    message = str(info.value)
    assert "s.toml" in message and f"'{field}'" in message and allowed in message


TWO_STEPS = """[levers.local_share_of_total_tax]
steps = [
  { target = 30.0, start = 2026, ramp = 4, ref = "R4" },
  { target = 40.0, start = %s, ramp = 10, ref = "hypothetical" },
]
"""


def test_a_second_step_sets_the_second_constants(tmp_path):
    scenario = read_scenario(_write(tmp_path, TWO_STEPS % 2031))
    assert scenario.constants["local share target 2"] == 40.0
    assert scenario.constants["local share start year 2"] == 2031.0
    assert [s.ref for s in scenario.steps] == ["R4", "hypothetical"]


@pytest.mark.parametrize("text, field, allowed", [
    (TWO_STEPS % 2028, "levers.local_share_of_total_tax.steps[2].start", "at or after 2030"),  # overlaps step 1
    (TWO_STEPS % 2025, "levers.local_share_of_total_tax.steps[2].start", "at or after 2030"),  # before step 1
    ("[levers.local_share_of_total_tax]\nsteps = [{target=30, start=2026, ref='R4'}, {target=31, start=2040, "
     "ref='R4'}, {target=32, start=2050, ref='R4'}]\n", "levers.local_share_of_total_tax.steps", "1 to 2"),
    ("[levers.local_share_of_total_tax]\ntarget = 30\nstart = 2030\n", "levers.local_share_of_total_tax.ref",
     "hypothetical"),
    ("[levers.second_relocation_staff]\ntarget = 1000\nstart = 2025\nref = 'R38'\n",
     "levers.second_relocation_staff.start", "[2027, 2100]"),
    ("[levers.mega_region_integration]\ntarget = 0.5\nstart = 2030\nramp = 0\nref = 'R68'\n",
     "levers.mega_region_integration.ramp", "[1, 30]"),
    ("[scenario]\ninclude = ['utopia']\n", "scenario.include", "decentralization"),
    ("[scenario]\ninclude = ['decentralization', 'integrated']\n", "scenario.include", "include no others"),
    ("[scenario]\nparent = 'baseline'\n", "scenario.parent", "include"),
])
def test_bad_lever_paths_name_file_field_and_allowed(tmp_path, text, field, allowed):
    test_bad_scenarios_name_file_field_and_allowed(tmp_path, text, field, allowed)


def test_shipped_scenarios_are_valid_and_cite_their_sources():
    listed = set(re.findall(r'<a id="r(\d+)"></a>', (project_root() / "docs" / "references.md").read_text("utf-8")))
    names = list_scenarios()
    assert names[0] == "baseline"
    assert {"decentralization", "balance", "integrated", "concentration"} <= set(names)
    for name in names[1:]:
        scenario = read_scenario(name)
        assert scenario.steps, name
        for step in scenario.steps:
            keys = set(re.findall(r"\bR(\d+)\b", step.ref))
            assert keys <= listed, (name, step)
            assert keys or "hypothetical" in step.ref, (name, step)


def test_integrated_is_the_union_of_decentralization_and_balance_plus_its_own_levers():
    integrated = read_scenario("integrated")
    union = {**read_scenario("decentralization").constants, **read_scenario("balance").constants}
    assert {k: integrated.constants[k] for k in union} == union
    assert set(integrated.constants) - set(union)  # mega-regions and equalization


def test_missing_scenario_lists_the_shipped_ones():
    with pytest.raises(MissingFileError, match="baseline"):
        read_scenario("no-such-scenario")
