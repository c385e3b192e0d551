"""Policy scenarios: small TOML files (model/scenarios/*.toml) naming lever paths.

A scenario moves any lever of model/levers.toml from its history to a ``target``
by a linear ramp of ``ramp`` years from ``start`` (a calendar year), and may add a
second step that starts once the first has ended::

    [scenario]
    name = "decentralization"
    description = "Local share of total tax to 30 %, then 40 %"

    [levers.local_share_of_total_tax]
    steps = [
      { target = 30.0, start = 2026, ramp = 4, ref = "R4 R5" },
      { target = 40.0, start = 2031, ramp = 10, ref = "R6; timing hypothetical" },
    ]

    [levers.local_allocation_tax_rate]      # one step: the keys directly
    target = 22.0
    start = 2027
    ramp = 3
    ref = "R6"

Every step names its source in ``ref``: reference keys of docs/references.md, or
the word "hypothetical". ``include = ["decentralization", "balance"]`` in the
``[scenario]`` table starts from the lever paths of other shipped scenarios; a lever
the file names itself replaces the included path. Levers no scenario names follow
their history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kbalance.errors import InvalidValueError
from kbalance.model.inputs import read_levers
from kbalance.model.mdl import scalar_constants
from kbalance.paths import model_dir, read_toml

STEP_KEYS = ("target", "start", "ramp", "ref")
MAX_STEPS = 2
SECOND_STEP_SUFFIX = " 2"  # the model names a second step's constants "<first step's name> 2"


@dataclass(frozen=True)
class LeverStep:
    """One step of a lever path.

    lever : str  lever key in model/levers.toml
    target : float  value reached at the end of the ramp [the lever's unit]
    start : float  first year of the ramp [year]
    ramp : float  length of the ramp [year]; None keeps the model's default
    ref : str  reference keys or "hypothetical"
    """

    lever: str
    target: float
    start: float
    ramp: float | None
    ref: str


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    name : str  scenario name
    description : str  one line
    constants : dict  model constant → value to set (lever targets, start years, ramps)
    path : Path  the file it came from
    steps : tuple of LeverStep  the lever paths, for reports
    includes : tuple of str  shipped scenarios whose lever paths this one starts from
    """

    name: str
    description: str
    constants: dict[str, float] = field(default_factory=dict)
    path: Path | None = None
    steps: tuple[LeverStep, ...] = ()
    includes: tuple[str, ...] = ()


def scenario_dir() -> Path:
    """model/scenarios/: the shipped scenarios."""
    return model_dir() / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios, baseline first."""
    names = sorted(p.stem for p in scenario_dir().glob("*.toml"))
    return sorted(names, key=lambda n: n != "baseline")


def _number(path: Path, key: str, value: object, limits: tuple[float, float]) -> float:
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise InvalidValueError(path, key, value, f"a number in [{low:g}, {high:g}]")
    return float(value)


def _steps_of(path: Path, where: str, settings: object) -> list[dict]:
    """The list of step tables of one lever entry (one-step form or ``steps = [...]``)."""
    if not isinstance(settings, dict):
        raise InvalidValueError(path, where, settings, "a table with " + ", ".join(STEP_KEYS) + " or steps")
    if "steps" not in settings:
        return [settings]
    extra = sorted(set(settings) - {"steps"})
    if extra:
        raise InvalidValueError(path, f"{where}.{extra[0]}", "key beside steps", "steps alone, each step a table")
    steps = settings["steps"]
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS or not all(isinstance(s, dict) for s in steps):
        raise InvalidValueError(path, f"{where}.steps", steps, f"a list of 1 to {MAX_STEPS} tables")
    return steps


def _read_step(path: Path, where: str, lever: str, spec: dict, step: dict, second: bool) -> LeverStep:
    """Validate one step of a lever path."""
    for key in step:
        if key not in STEP_KEYS:
            raise InvalidValueError(path, f"{where}.{key}", "unknown key", STEP_KEYS)
    for key in ("target", "start", "ref"):
        if key not in step:
            raise InvalidValueError(path, f"{where}.{key}", "missing", "target, start, ref (reference keys or \"hypothetical\") and optionally ramp")
    ref = step["ref"]
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidValueError(path, f"{where}.ref", ref, 'reference keys of docs/references.md or "hypothetical"')
    limits = {name: (low, high) for name, (_, low, high) in scalar_constants().items()}
    suffix = SECOND_STEP_SUFFIX if second else ""
    names = {key: spec[key] + suffix for key in ("target", "start", "ramp")}
    target_range = tuple(spec["range"])
    values = {
        "target": _number(path, f"{where}.target", step["target"], target_range),
        "start": _number(path, f"{where}.start", step["start"], limits[names["start"]]),
    }
    if "ramp" in step:
        values["ramp"] = _number(path, f"{where}.ramp", step["ramp"], limits[names["ramp"]])
    return LeverStep(lever, values["target"], values["start"], values.get("ramp"), ref.strip())


def read_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario by shipped name or by path.

    Raises MissingFileError, or InvalidValueError naming the file, the key and what is
    allowed: an unknown table, lever or key, a wrong type, a value outside the
    documented range, a missing reference, or steps that overlap or are out of order.
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = scenario_dir() / f"{name_or_path}.toml"
    raw = read_toml(path, "scenario", "a scenario TOML file; shipped: " + ", ".join(list_scenarios()))
    levers = read_levers()
    unknown_tables = sorted(set(raw) - {"scenario", "levers"})
    if unknown_tables:
        raise InvalidValueError(path, unknown_tables[0], "unknown table", "[scenario] and [levers.<name>]")
    head = raw.get("scenario", {})
    unknown_keys = sorted(set(head) - {"name", "description", "include"})
    if unknown_keys:
        raise InvalidValueError(path, f"scenario.{unknown_keys[0]}", "unknown key", ("name", "description", "include"))
    includes = _included(path, head.get("include", []))
    steps = [s for scenario in includes for s in scenario.steps if s.lever not in raw.get("levers", {})]
    settable = [k for k, v in levers.items() if "target" in v]
    for lever, settings in raw.get("levers", {}).items():
        where = f"levers.{lever}"
        if lever not in settable:
            raise InvalidValueError(path, where, "unknown lever", settable)
        spec = levers[lever]
        tables = _steps_of(path, where, settings)
        for i, table in enumerate(tables):
            step_where = where if "steps" not in settings else f"{where}.steps[{i + 1}]"
            step = _read_step(path, step_where, lever, spec, table, second=i > 0)
            if i > 0:
                previous = steps[-1]
                ends = previous.start + (previous.ramp if previous.ramp is not None else scalar_constants()[spec["ramp"]][0])
                if step.start < ends:
                    raise InvalidValueError(path, f"{step_where}.start", step.start,
                                            f"a year at or after {ends:g}, when step {i} ends (steps in time "
                                            "order, not overlapping)")
            steps.append(step)
    return Scenario(name=str(head.get("name", path.stem)), description=str(head.get("description", "")),
                    constants=_constants(steps, levers), path=path, steps=tuple(steps),
                    includes=tuple(s.name for s in includes))


def _included(path: Path, names: object) -> list[Scenario]:
    """The shipped scenarios named by ``include``: none includes others, no lever twice."""
    others = [n for n in list_scenarios() if n != path.stem]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidValueError(path, "scenario.include", names, "a list of shipped scenario names")
    scenarios: list[Scenario] = []
    for name in names:
        if name not in others:
            raise InvalidValueError(path, "scenario.include", name, others)
        scenario = read_scenario(name)
        if scenario.includes:
            raise InvalidValueError(path, "scenario.include", name, "scenarios that include no others")
        shared = {s.lever for s in scenario.steps} & {s.lever for other in scenarios for s in other.steps}
        if shared:
            raise InvalidValueError(path, "scenario.include", name,
                                    f"scenarios setting different levers (both set {min(shared)})")
        scenarios.append(scenario)
    return scenarios


def _constants(steps: list[LeverStep], levers: dict[str, dict]) -> dict[str, float]:
    """Model constants set by lever steps (in order; a lever's second step gets the " 2" names)."""
    constants: dict[str, float] = {}
    seen: set[str] = set()
    for step in steps:
        spec = levers[step.lever]
        suffix = SECOND_STEP_SUFFIX if step.lever in seen else ""
        seen.add(step.lever)
        constants[spec["target"] + suffix] = step.target
        constants[spec["start"] + suffix] = step.start
        if step.ramp is not None:
            constants[spec["ramp"] + suffix] = step.ramp
    return constants
