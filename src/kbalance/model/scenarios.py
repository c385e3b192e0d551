"""Policy scenarios: small TOML files (model/scenarios/*.toml) naming lever paths.

A scenario moves any lever of model/levers.toml from its history to a ``target``
by a linear ramp of ``ramp`` years from ``start`` (a calendar year), and may add a
second step that starts once the first has ended::

    [scenario]
    name = "decentralization"
    description = "Local consumption tax to 50 %, then 92 % of the VAT base"

    [levers.local_consumption_tax_rate]
    steps = [
      { target = 50.0, start = 2026, ramp = 4, ref = "R4 R5" },
      { target = 92.0, start = 2031, ramp = 10, ref = "R6; timing hypothetical" },
    ]

    [levers.local_allocation_tax_rate]      # one step: the keys directly
    target = 22.0
    start = 2027
    ramp = 3
    ref = "R6"

Every step names its source in ``ref``: reference keys of docs/references.md, or
the word "hypothetical". A ``[demography]`` table may name the national demographic
variant of model/demography.toml the scenario runs under (``variant = "un-wpp-2024"``);
without it a scenario runs under the file's default variant, so a policy scenario runs
under any variant (``kbalance run --variant KEY``, :func:`with_variant`).
``include = ["decentralization", "balance"]`` in the
``[scenario]`` table starts from the lever paths of other shipped scenarios; a lever
the file names itself replaces the included path. Levers no scenario names follow
their history.

What a file may hold: a ``[scenario]`` table (``name`` and ``description`` strings,
``include``), ``[levers.<name>]`` tables and a ``[demography]`` table; an empty file is
refused. An included scenario's variant is used unless the file names its own; two
included scenarios naming different variants are refused. ``target`` is
a number in the lever's range of model/levers.toml; ``start`` an integer year within the
limits of the start constant in model/kbalance.mdl; ``ramp`` a number of years within
the ramp constant's limits and at least :data:`MIN_RAMP` (the model ramps over
``MAX(1, ramp)`` years). Anything else raises a KbalanceInputError naming the file,
the key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from kbalance.errors import InvalidValueError, KbalanceInputError, MissingKeyError, number_in, table_of
from kbalance.model.inputs import cited_keys, read_levers, reference_keys
from kbalance.model.mdl import scalar_constants, variable_names
from kbalance.model.variants import read_variants
from kbalance.paths import model_dir, model_file, read_toml

STEP_KEYS = ("target", "start", "ramp", "ref")
HEAD_KEYS = ("name", "description", "include")
MAX_STEPS = 2
#: The shortest ramp [year]: the model ramps over MAX(1, ramp) years.
MIN_RAMP = 1.0
SECOND_STEP_SUFFIX = " 2"  # the model names a second step's constants "<first step's name> 2"
#: The model constant selecting the demographic variant (its code in model/demography.toml).
VARIANT_CONSTANT = "fertility variant"


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
    variant : str or None  key of the demographic variant (model/demography.toml) the
        scenario names; None runs under the file's default. ``constants`` hold its code.
    """

    name: str
    description: str
    constants: dict[str, float] = field(default_factory=dict)
    path: Path | None = None
    steps: tuple[LeverStep, ...] = ()
    includes: tuple[str, ...] = ()
    variant: str | None = None


def with_variant(scenario: Scenario, key: str, where: str | Path = "kbalance run", field_name: str = "--variant") -> Scenario:
    """``scenario`` run under the demographic variant ``key``: its ``variant`` and the code
    in its constants replaced. InvalidValueError naming ``where`` and ``field_name`` for a key
    model/demography.toml does not define."""
    variants = read_variants()
    if key not in variants:
        raise InvalidValueError(where, field_name, key, list(variants))
    return replace(scenario, variant=key, constants={**scenario.constants, VARIANT_CONSTANT: float(variants[key].code)})


def scenario_dir() -> Path:
    """model/scenarios/: the shipped scenarios."""
    return model_dir() / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios, baseline first."""
    names = sorted(p.stem for p in scenario_dir().glob("*.toml"))
    return sorted(names, key=lambda n: n != "baseline")


def check_scenarios() -> list[tuple[str, Scenario | KbalanceInputError]]:
    """Every shipped scenario read: (name, the scenario or the error that refuses it),
    baseline first; one broken file does not stop the others from being read."""
    out: list[tuple[str, Scenario | KbalanceInputError]] = []
    for name in list_scenarios():
        try:
            out.append((name, read_scenario(name)))
        except KbalanceInputError as exc:
            out.append((name, exc))
    return out


def _steps_of(path: Path, where: str, settings: object) -> list[dict]:
    """The list of step tables of one lever entry (one-step form or ``steps = [...]``)."""
    settings = table_of(path, where, settings, "a table with " + ", ".join(STEP_KEYS) + " or steps")
    if "steps" not in settings:
        return [settings]
    extra = sorted(set(settings) - {"steps"})
    if extra:
        raise InvalidValueError(path, f"{where}.{extra[0]}", "key beside steps", "steps alone, each step a table")
    steps = settings["steps"]
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS or not all(isinstance(s, dict) for s in steps):
        raise InvalidValueError(path, f"{where}.steps", steps, f"a list of 1 to {MAX_STEPS} tables")
    return steps


def _limits(lever: str, role: str, name: str) -> tuple[float, float]:
    """Limits of the model constant a lever step sets; the model file must define it."""
    constants = scalar_constants()
    if name not in constants:
        raise InvalidValueError(model_file(), name, "not a constant of the model file",
                                f"the {role} constant model/levers.toml names for {lever}")
    return constants[name][1:]


def _read_step(path: Path, where: str, lever: str, spec: dict, step: dict, second: bool) -> LeverStep:
    """Validate one step of a lever path."""
    for key in step:
        if key not in STEP_KEYS:
            raise InvalidValueError(path, f"{where}.{key}", "unknown key", STEP_KEYS)
    for key in ("target", "start", "ref"):
        if key not in step:
            raise MissingKeyError(path, f"{where}.{key}", "target, start, ref (reference keys or \"hypothetical\") "
                                  "and optionally ramp")
    ref = step["ref"]
    cited_keys(path, f"{where}.ref", ref, reference_keys())
    suffix = SECOND_STEP_SUFFIX if second else ""
    start = number_in(path, f"{where}.start", step["start"], *_limits(lever, "start", spec["start"] + suffix),
                      integer=True)
    _limits(lever, "target", spec["target"] + suffix)  # the model file defines it; its range is the lever's
    target = number_in(path, f"{where}.target", step["target"], *spec["range"])
    ramp = None
    if "ramp" in step:
        low, high = _limits(lever, "ramp", spec["ramp"] + suffix)
        ramp = number_in(path, f"{where}.ramp", step["ramp"], max(low, MIN_RAMP), high)
    return LeverStep(lever, target, start, ramp, ref.strip())


def _read_head(path: Path, raw: dict) -> dict:
    """The [scenario] table, checked: known keys, name and description strings."""
    for table in raw:
        if table not in ("scenario", "levers", "demography"):
            raise InvalidValueError(path, table, "unknown table", "[scenario], [levers.<name>] and [demography]")
    head = table_of(path, "scenario", raw.get("scenario", {}), "a [scenario] table with name, description, include")
    for key in head:
        if key not in HEAD_KEYS:
            raise InvalidValueError(path, f"scenario.{key}", "unknown key", HEAD_KEYS)
    for key in ("name", "description"):
        if key in head and (not isinstance(head[key], str) or (key == "name" and not head[key].strip())):
            raise InvalidValueError(path, f"scenario.{key}", head[key], "a non-empty string" if key == "name" else "a string")
    table_of(path, "levers", raw.get("levers", {}), "[levers.<name>] tables, one per lever")
    if not head and not raw.get("levers") and "demography" not in raw:
        raise MissingKeyError(path, "scenario.name", "a [scenario] table (name, description, include), "
                              "[levers.<name>] tables or a [demography] table: an empty file is not a scenario")
    return head


def _read_variant(path: Path, raw: dict, includes: list[Scenario]) -> str | None:
    """The variant key of the [demography] table, else the one the included scenarios name."""
    if "demography" in raw:
        table = table_of(path, "demography", raw["demography"], "a [demography] table with variant")
        for key in table:
            if key != "variant":
                raise InvalidValueError(path, f"demography.{key}", "unknown key", ["variant"])
        if "variant" not in table:
            raise MissingKeyError(path, "demography.variant", "variant, a key of model/demography.toml")
        variants = list(read_variants())
        if table["variant"] not in variants:
            raise InvalidValueError(path, "demography.variant", table["variant"], variants)
        return table["variant"]
    named = {s.variant for s in includes if s.variant is not None}
    if len(named) > 1:
        raise InvalidValueError(path, "scenario.include", sorted(named),
                                "included scenarios naming one demographic variant (or a [demography] table)")
    return named.pop() if named else None


def read_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario by shipped name or by path.

    Raises MissingFileError, or InvalidValueError naming the file, the key and what is
    allowed: an unknown table, lever or key, a wrong type, a value outside the
    documented range, a missing or unknown reference, steps that overlap or are out of
    order, or an include of a scenario that includes others (a cycle among them).
    """
    return _read(name_or_path, ())


def _path_of(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    return path if path.suffix == ".toml" else scenario_dir() / f"{name_or_path}.toml"


def _read(name_or_path: str | Path, chain: tuple[Path, ...]) -> Scenario:
    """A scenario read while ``chain`` (the files including it, outermost first) is read."""
    path = _path_of(name_or_path)
    raw = read_toml(path, "scenario", "a scenario TOML file; shipped: " + ", ".join(list_scenarios()))
    levers = read_levers()
    head = _read_head(path, raw)
    includes = _included(path, head.get("include", []), chain)
    named = raw.get("levers", {})
    steps = [s for scenario in includes for s in scenario.steps if s.lever not in named]
    settable = [k for k, v in levers.items() if "target" in v]
    for lever, settings in named.items():
        where = f"levers.{lever}"
        if lever not in settable:
            raise InvalidValueError(path, where, "unknown lever", settable)
        spec = levers[lever]
        if spec["model"] not in variable_names():
            raise InvalidValueError(model_dir() / "levers.toml", f"{lever}.model", spec["model"],
                                    "the name of a variable of model/kbalance.mdl")
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
    scenario = Scenario(name=head.get("name", path.stem), description=head.get("description", ""),
                        constants=_constants(steps, levers), path=path, steps=tuple(steps),
                        includes=tuple(s.name for s in includes))
    variant = _read_variant(path, raw, includes)
    return with_variant(scenario, variant, path, "demography.variant") if variant else scenario


def _included(path: Path, names: object, chain: tuple[Path, ...]) -> list[Scenario]:
    """The shipped scenarios named by ``include``: none includes others, no lever twice."""
    others = [n for n in list_scenarios() if n != path.stem]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidValueError(path, "scenario.include", names, "a list of shipped scenario names")
    scenarios: list[Scenario] = []
    for name in names:
        if name not in others:
            raise InvalidValueError(path, "scenario.include", name, others)
        included = _path_of(name).resolve()
        if included in chain:
            cycle = " → ".join(p.name for p in (*chain[chain.index(included):], path, included))
            raise InvalidValueError(path, "scenario.include", name,
                                    f"scenarios that include no others (an include cycle: {cycle})")
        scenario = _read(name, (*chain, path.resolve()))
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
