"""Scenario files: lever paths, their validation and the shipped scenarios."""

from __future__ import annotations

import re

import pytest

from kbalance import cli
from kbalance.errors import InvalidValueError, KbalanceInputError, MissingFileError
from kbalance.model import scenarios
from kbalance.model.inputs import read_levers
from kbalance.model.scenarios import list_scenarios, read_scenario
from kbalance.paths import model_dir, project_root


def test_baseline_ships_and_sets_nothing():
    assert "baseline" in list_scenarios()
    assert read_scenario("baseline").constants == {}


def _write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_scenario_sets_the_lever_constants(tmp_path):
    path = _write(tmp_path, '[levers.local_consumption_tax_rate]\ntarget = 30.0\nstart = 2026\nramp = 4\nref = "R4"\n')
    assert read_scenario(path).constants == {"consumption tax target": 30.0, "consumption tax start year": 2026.0,
                                             "consumption tax ramp years": 4.0}


@pytest.mark.parametrize("text, field, allowed", [
    ("[levers.free_lunch]\ntarget = 1\nstart = 2030\n", "levers.free_lunch", "local_consumption_tax_rate"),
    ('[levers.local_consumption_tax_rate]\ntarget = "thirty"\nstart = 2030\nref = "R4"\n', "levers.local_consumption_tax_rate.target", "[0, 100]"),
    ("[levers.local_consumption_tax_rate]\ntarget = 190\nstart = 2030\nref = 'R4'\n", "levers.local_consumption_tax_rate.target", "[0, 100]"),
    ("[levers.local_consumption_tax_rate]\ntarget = 30\nstart = 1990\nref = 'R4'\n", "levers.local_consumption_tax_rate.start", "[2025, 2100]"),
    ("[levers.local_consumption_tax_rate]\ntarget = 30\nstart = 2030\nspeed = 2\nref = 'R4'\n", "levers.local_consumption_tax_rate.speed", "target"),
    ("[levers\n", "(file)", "valid TOML"),
])
def test_bad_scenarios_name_file_field_and_allowed(tmp_path, text, field, allowed):
    path = _write(tmp_path, text)
    with pytest.raises(KbalanceInputError) as info:
        read_scenario(path)
    message = str(info.value)
    assert "s.toml" in message and f"'{field}'" in message and allowed in message


TWO_STEPS = """[levers.local_consumption_tax_rate]
steps = [
  { target = 30.0, start = 2026, ramp = 4, ref = "R4" },
  { target = 40.0, start = %s, ramp = 10, ref = "hypothetical" },
]
"""


def test_a_second_step_sets_the_second_constants(tmp_path):
    scenario = read_scenario(_write(tmp_path, TWO_STEPS % 2031))
    assert scenario.constants["consumption tax target 2"] == 40.0
    assert scenario.constants["consumption tax start year 2"] == 2031.0
    assert [s.ref for s in scenario.steps] == ["R4", "hypothetical"]


@pytest.mark.parametrize("text, field, allowed", [
    (TWO_STEPS % 2028, "levers.local_consumption_tax_rate.steps[2].start", "at or after 2030"),  # overlaps step 1
    (TWO_STEPS % 2025, "levers.local_consumption_tax_rate.steps[2].start", "at or after 2030"),  # before step 1
    ("[levers.local_consumption_tax_rate]\nsteps = [{target=30, start=2026, ref='R4'}, {target=31, start=2040, "
     "ref='R4'}, {target=32, start=2050, ref='R4'}]\n", "levers.local_consumption_tax_rate.steps", "1 to 2"),
    ("[levers.local_consumption_tax_rate]\ntarget = 30\nstart = 2030\n", "levers.local_consumption_tax_rate.ref",
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
    assert set(integrated.constants) - set(union)  # mega-regions and the co-prosperity fund


def test_missing_scenario_lists_the_shipped_ones():
    with pytest.raises(MissingFileError, match="baseline"):
        read_scenario("no-such-scenario")


LEVER = "[levers.local_consumption_tax_rate]\n"
WHERE = "levers.local_consumption_tax_rate"


@pytest.mark.parametrize("text, field, allowed", [
    # each of these raised a TypeError, or was accepted
    ("levers = 5\n", "levers", "[levers.<name>] tables"),
    ("scenario = 5\n", "scenario", "a [scenario] table"),
    ('scenario = "name"\n', "scenario", "a [scenario] table"),  # was reported as field 'scenario.a'
    ("", "scenario.name", "an empty file is not a scenario"),
    ("# nothing here\n", "scenario.name", "an empty file is not a scenario"),
    ("[scenario]\n", "scenario.name", "an empty file is not a scenario"),
    ("[scenario]\nname = 42\n", "scenario.name", "a non-empty string"),
    ('[scenario]\nname = ""\n', "scenario.name", "a non-empty string"),
    ('[scenario]\nname = "x"\ndescription = 5\n', "scenario.description", "a string"),
    ('[scenario]\nname = "x"\ninclude = "balance"\n', "scenario.include", "a list of shipped scenario names"),
    ("[levers]\nlocal_consumption_tax_rate = 5\n", WHERE, "a table with target"),
    (LEVER + "steps = 5\n", f"{WHERE}.steps", "a list of 1 to 2 tables"),
    (LEVER + "steps = []\n", f"{WHERE}.steps", "a list of 1 to 2 tables"),
    (LEVER + "target = 30.0\nstart = 2026\nramp = 4\nref = 'R999'\n", f"{WHERE}.ref", "listed in docs/references.md"),
    (LEVER + "target = 30.0\nstart = 2026\nramp = 4\nref = 'see above'\n", f"{WHERE}.ref", "hypothetical"),
    (LEVER + "target = 30.0\nstart = 2026\nramp = 4\nref = 5\n", f"{WHERE}.ref", "hypothetical"),
    # the model ramps over MAX(1, ramp) years: 0.001 ran as a 1-year ramp
    (LEVER + "target = 30.0\nstart = 2026\nramp = 0.001\nref = 'R4'\n", f"{WHERE}.ramp", "[1, 30]"),
    (LEVER + "target = 30.0\nstart = 2027.5\nramp = 4\nref = 'R4'\n", f"{WHERE}.start", "an integer in [2025, 2100]"),
    (LEVER + "target = 30.0\nstart = true\nramp = 4\nref = 'R4'\n", f"{WHERE}.start", "an integer"),
    (LEVER + "target = nan\nstart = 2026\nramp = 4\nref = 'R4'\n", f"{WHERE}.target", "a finite number in [0, 100]"),
    (LEVER + "target = inf\nstart = 2026\nramp = 4\nref = 'R4'\n", f"{WHERE}.target", "a finite number"),
])
def test_malformed_scenarios_are_refused(tmp_path, text, field, allowed):
    test_bad_scenarios_name_file_field_and_allowed(tmp_path, text, field, allowed)


def test_a_non_utf8_scenario_is_refused(tmp_path):
    path = tmp_path / "s.toml"
    path.write_bytes(b'[scenario]\nname = "\xff"\n')
    with pytest.raises(KbalanceInputError, match=r"s.toml: field '\(file\)'.*UTF-8"):
        read_scenario(path)


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """An empty model/scenarios/ folder read in place of the shipped one."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    monkeypatch.setattr(scenarios, "scenario_dir", lambda: folder)
    (folder / "baseline.toml").write_text('[scenario]\nname = "baseline"\ndescription = "history"\n', encoding="utf-8")
    return folder


def test_an_include_cycle_names_both_files(shipped):
    (shipped / "a.toml").write_text('[scenario]\nname = "a"\ninclude = ["b"]\n', encoding="utf-8")
    (shipped / "b.toml").write_text('[scenario]\nname = "b"\ninclude = ["a"]\n', encoding="utf-8")
    for name, other in (("a", "b"), ("b", "a")):
        with pytest.raises(KbalanceInputError) as info:  # was a RecursionError
            read_scenario(name)
        message = str(info.value)
        assert "'scenario.include'" in message and f"{other}.toml" in message, message
        assert f"include cycle: {name}.toml → {other}.toml → {name}.toml" in message, message


def test_scenarios_list_reports_a_broken_file_and_goes_on(shipped, capsys):
    (shipped / "a.toml").write_text('[scenario]\nname = "a"\ninclude = ["b"]\n', encoding="utf-8")
    (shipped / "b.toml").write_text('[scenario]\nname = "b"\ninclude = ["a"]\n', encoding="utf-8")
    (shipped / "c.toml").write_text('[scenario]\nname = "c"\ndescription = "fine"\n', encoding="utf-8")
    (shipped / "d.toml").write_text("levers = 5\n", encoding="utf-8")
    checked = dict(scenarios.check_scenarios())
    assert list(checked) == ["baseline", "a", "b", "c", "d"]
    assert [n for n, s in checked.items() if isinstance(s, KbalanceInputError)] == ["a", "b", "d"]
    assert cli.main(["scenarios", "list"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["baseline", "history"]
    assert "c" in out and "fine" in out and out.count("(invalid)") == 3
    assert err.count("kbalance: error:") == 3 and "d.toml: field 'levers'" in err and "Traceback" not in err


def test_scenarios_list_of_the_shipped_files_exits_0(capsys):
    assert cli.main(["scenarios", "list"]) == 0
    out, _ = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()] == list_scenarios()


def test_a_lever_whose_range_is_inverted_is_blamed_on_levers_toml(tmp_path, monkeypatch):
    text = (model_dir() / "levers.toml").read_text(encoding="utf-8").replace("range = [0.0, 100.0]", "range = [100.0, 0.0]", 1)
    levers = tmp_path / "levers.toml"
    levers.write_text(text, encoding="utf-8")
    monkeypatch.setattr(scenarios, "read_levers", lambda: read_levers(levers))
    with pytest.raises(KbalanceInputError) as info:
        read_scenario("decentralization")
    message = str(info.value)
    assert message.startswith(str(levers)) and "'local_consumption_tax_rate.range'" in message, message


@pytest.mark.parametrize("role, name", [("start", "consumption tax start year"), ("target", "consumption tax target")])
def test_a_lever_constant_missing_from_the_model_file_is_named(tmp_path, monkeypatch, role, name):
    text = (model_dir() / "levers.toml").read_text(encoding="utf-8")
    levers = tmp_path / "levers.toml"
    levers.write_text(text.replace(f'{role} = "{name}"', f'{role} = "{name} typo"'), encoding="utf-8")
    monkeypatch.setattr(scenarios, "read_levers", lambda: read_levers(levers))
    with pytest.raises(KbalanceInputError, match=rf"kbalance.mdl: field '{name} typo'.*{role} constant.*local_consumption_tax_rate"):
        read_scenario("decentralization")


def test_a_lever_variable_missing_from_the_model_file_is_blamed_on_levers_toml(tmp_path, monkeypatch):
    text = (model_dir() / "levers.toml").read_text(encoding="utf-8")
    levers = tmp_path / "levers.toml"  # was accepted: the lever's variable is what runs and reports show
    levers.write_text(text.replace('model = "local consumption tax rate"', 'model = "no such variable"'),
                      encoding="utf-8")
    monkeypatch.setattr(scenarios, "read_levers", lambda: read_levers(levers))
    with pytest.raises(InvalidValueError, match=r"levers.toml: field 'local_consumption_tax_rate.model': invalid "
                       r"value 'no such variable'; expected the name of a variable of model/kbalance.mdl"):
        read_scenario("decentralization")


def test_a_scenario_names_its_demographic_variant_and_sets_its_code(tmp_path):
    path = _write(tmp_path, '[demography]\nvariant = "un-wpp-2024"\n\n'
                  '[levers.local_consumption_tax_rate]\ntarget = 30.0\nstart = 2026\nramp = 4\nref = "R4"\n')
    scenario = read_scenario(path)
    assert scenario.variant == "un-wpp-2024" and scenario.constants["fertility variant"] == 2.0
    assert scenario.constants["consumption tax target"] == 30.0
    assert read_scenario("baseline").variant is None


def test_any_scenario_runs_under_any_variant():
    policy = read_scenario("integrated")
    low = scenarios.with_variant(policy, "low")
    assert low.variant == "low" and low.constants == {**policy.constants, "fertility variant": 4.0}
    with pytest.raises(KbalanceInputError) as info:
        scenarios.with_variant(policy, "medium")
    assert "'--variant'" in str(info.value) and "statistics-korea-2022" in str(info.value)


def test_an_including_scenario_takes_the_variant_of_its_includes(tmp_path, monkeypatch):
    shipped = tmp_path / "scenarios"
    shipped.mkdir()
    (shipped / "baseline.toml").write_text('[scenario]\nname = "baseline"\n', encoding="utf-8")
    (shipped / "a.toml").write_text('[demography]\nvariant = "high"\n', encoding="utf-8")
    (shipped / "b.toml").write_text('[demography]\nvariant = "low"\n', encoding="utf-8")
    (shipped / "c.toml").write_text('[scenario]\ninclude = ["a"]\n', encoding="utf-8")
    (shipped / "d.toml").write_text('[scenario]\ninclude = ["a", "b"]\n', encoding="utf-8")
    monkeypatch.setattr(scenarios, "scenario_dir", lambda: shipped)
    assert read_scenario("c").variant == "high"
    with pytest.raises(KbalanceInputError, match="scenario.include"):
        read_scenario("d")


@pytest.mark.parametrize("text, field, allowed", [
    ('[demography]\nvariant = "medium"\n', "demography.variant", "un-wpp-2024"),
    ('[demography]\nvariant = 2\n', "demography.variant", "hold"),
    ('[demography]\nvariants = "low"\n', "demography.variants", "variant"),
    ('[demography]\n', "demography.variant", "model/demography.toml"),
    ('demography = "low"\n', "demography", "[demography] table"),
])
def test_bad_demography_tables_name_file_field_and_allowed(tmp_path, text, field, allowed):
    with pytest.raises(KbalanceInputError) as info:
        read_scenario(_write(tmp_path, text))
    message = str(info.value)
    assert "s.toml" in message and f"'{field}'" in message and allowed in message


def test_every_lever_the_readme_names_is_moved_by_a_shipped_scenario():
    intro = (project_root() / "README.md").read_text(encoding="utf-8").split("\n## ")[0].lower()
    moved = {step.lever for name in list_scenarios() for step in read_scenario(name).steps}
    named = {key for key in read_levers() if key.replace("_", " ") in intro}
    assert named and named <= moved, sorted(named - moved)
    unused = set(read_levers()) - moved
    assert not any(key.replace("_", " ") in intro for key in unused), sorted(unused)
