"""Property-based tests of the scenario parser: random TOML documents from a small grammar
of scenario files, valid and invalid. Every document gives a Scenario or a
KbalanceInputError, never another exception; a valid one read, written back and read again
gives the same lever steps and constants."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbalance.errors import KbalanceInputError
from kbalance.model.inputs import read_levers, reference_keys
from kbalance.model.mdl import scalar_constants
from kbalance.model.scenarios import MIN_RAMP, SECOND_STEP_SUFFIX, Scenario, list_scenarios, read_scenario

LEVERS = read_levers()
SETTABLE = sorted(k for k, v in LEVERS.items() if "target" in v)
KEYS = sorted(reference_keys(), key=lambda k: int(k[1:]))
CONSTANTS = scalar_constants()


def toml_value(value: object) -> str:
    """``value`` as a TOML value (tables inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict) -> str:
    return "".join(f"{json.dumps(str(k), ensure_ascii=False)} = {toml_value(v)}\n" for k, v in doc.items())


def limits(lever: str, role: str, second: bool = False) -> tuple[float, float]:
    return CONSTANTS[LEVERS[lever][role] + (SECOND_STEP_SUFFIX if second else "")][1:]


TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
REFS = st.one_of(st.just("hypothetical"), st.sampled_from(KEYS),
                 st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(lambda ks: " ".join(ks) + "; timing hypothetical"))


@st.composite
def valid_steps(draw, lever: str) -> list[dict]:
    """One or two steps of ``lever`` within every documented limit, in time order."""
    low, high = LEVERS[lever]["range"]
    steps = []
    earliest = int(limits(lever, "start")[0])
    for second in (False, True)[: draw(st.integers(1, 2))]:
        start_low, start_high = limits(lever, "start", second)
        ramp_low, ramp_high = limits(lever, "ramp", second)
        if max(earliest, start_low) > start_high:
            break
        step = {"target": draw(st.floats(low, high)),
                "start": draw(st.integers(max(earliest, int(start_low)), int(start_high)))}
        if draw(st.booleans()):
            step["ramp"] = draw(st.floats(max(ramp_low, MIN_RAMP), ramp_high))
        step["ref"] = draw(REFS)
        ramp = step.get("ramp", CONSTANTS[LEVERS[lever]["ramp"]][0])
        earliest = math.ceil(step["start"] + ramp)
        steps.append(step)
    return steps


@st.composite
def valid_documents(draw) -> dict:
    doc: dict = {}
    if draw(st.booleans()):
        doc["scenario"] = {"name": draw(TEXT.filter(str.strip)), "description": draw(TEXT)}
    levers = draw(st.lists(st.sampled_from(SETTABLE), unique=True, max_size=4, min_size=0 if doc else 1))
    if levers:
        doc["levers"] = {}
        for lever in levers:
            steps = draw(valid_steps(lever))
            doc["levers"][lever] = steps[0] if len(steps) == 1 and draw(st.booleans()) else {"steps": steps}
    return doc


BAD_ATOMS = st.one_of(st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.booleans(), TEXT,
                      st.integers(-10**6, 10**6), st.floats(allow_nan=False), st.just([]), st.just({}),
                      st.just(2027.5), st.just(0.001), st.sampled_from(["R999", "see above", ""]))
ANY = st.recursive(BAD_ATOMS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)


@st.composite
def broken_documents(draw) -> dict:
    """A valid document with one part replaced, deleted or added: every kind of mistake."""
    doc = draw(valid_documents())
    paths = [()]
    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((*path, k))
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((*path, i))
                walk(v, (*path, i))
    walk(doc, ())
    path = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if not path:
        return {draw(st.sampled_from(["scenario", "levers", "lever", "include"])): draw(ANY)}
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["speed", "include", "name", "steps", "target", "free_lunch", "ref"]))] = draw(ANY)
    else:
        parent[last] = draw(st.one_of(ANY, st.sampled_from(list_scenarios()).map(lambda n: [n, "utopia"])))
    return doc


def read_text(folder, text: str) -> Scenario:
    path = folder / "s.toml"
    path.write_text(text, encoding="utf-8")
    return read_scenario(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("scenarios")


@settings(deadline=None)  # examples: the profile of tests/conftest.py
@given(doc=st.one_of(valid_documents(), broken_documents()))
def test_any_document_gives_a_scenario_or_a_kbalance_input_error(folder, doc):
    try:
        scenario = read_text(folder, toml_document(doc))
    except KbalanceInputError as exc:
        assert "s.toml" in str(exc) and exc.field and exc.expected
    else:
        assert isinstance(scenario, Scenario)
        assert all(math.isfinite(v) for v in scenario.constants.values())


@settings(deadline=None)  # examples: the profile of tests/conftest.py
@given(data=st.binary(max_size=40))
def test_any_bytes_give_a_scenario_or_a_kbalance_input_error(folder, data):
    path = folder / "b.toml"
    path.write_bytes(data)
    try:
        read_scenario(path)
    except KbalanceInputError:
        pass


def written_back(scenario: Scenario) -> dict:
    """The document of a scenario's own lever steps."""
    levers: dict[str, dict] = {}
    for step in scenario.steps:
        table = {"target": step.target, "start": int(step.start), "ref": step.ref}
        if step.ramp is not None:
            table["ramp"] = step.ramp
        levers.setdefault(step.lever, {"steps": []})["steps"].append(table)
    doc: dict = {"scenario": {"name": scenario.name, "description": scenario.description}}
    if levers:
        doc["levers"] = levers
    return doc


@settings(deadline=None)  # examples: the profile of tests/conftest.py
@given(doc=valid_documents())
def test_valid_documents_round_trip(folder, doc):
    first = read_text(folder, toml_document(doc))
    assert len(first.steps) == sum(len(s.get("steps", [s])) for s in doc.get("levers", {}).values())
    again = read_text(folder, toml_document(written_back(first)))
    assert again.steps == first.steps
    assert again.constants == first.constants
    assert (again.name, again.description) == (first.name, first.description)
