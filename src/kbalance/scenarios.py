"""Policy scenarios: small TOML files (model/scenarios/*.toml) naming lever paths.

A scenario sets, for any lever of model/levers.toml, a ``target`` reached by a
linear ramp of ``ramp`` years from ``start`` (a calendar year)::

    [scenario]
    name = "decentralization"
    description = "Local share of total tax to 30 %"

    [levers.local_share_of_total_tax]
    target = 30.0
    start = 2026
    ramp = 4
    ref = "R4"          # reference key, or "hypothetical"

Levers a scenario does not name follow their history (model/levers.toml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kbalance.errors import InvalidValueError
from kbalance.model_inputs import read_levers
from kbalance.paths import model_dir, read_toml

LEVER_KEYS = ("target", "start", "ramp", "ref")
START_RANGE = (2025, 2100)
RAMP_RANGE = (0, 50)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    name : str  scenario name
    description : str  one line
    constants : dict  model constant → value to set (lever targets, start years, ramps)
    path : Path  the file it came from
    """

    name: str
    description: str
    constants: dict[str, float] = field(default_factory=dict)
    path: Path | None = None


def scenario_dir() -> Path:
    """model/scenarios/: the shipped scenarios."""
    return model_dir() / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios."""
    return sorted(p.stem for p in scenario_dir().glob("*.toml"))


def _number(path: Path, key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(path, key, value, f"a number in [{low}, {high}]")
    if not low <= float(value) <= high:
        raise InvalidValueError(path, key, value, f"a number in [{low}, {high}]")
    return float(value)


def read_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario by shipped name or by path.

    Raises MissingFileError, or InvalidValueError naming the file, the key and what is
    allowed (unknown lever or key, wrong type, value outside the lever's range).
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
    name = str(head.get("name", path.stem))
    constants: dict[str, float] = {}
    for lever, settings in raw.get("levers", {}).items():
        where = f"levers.{lever}"
        if lever not in levers or "target" not in levers[lever]:
            settable = [k for k, v in levers.items() if "target" in v]
            raise InvalidValueError(path, where, "unknown lever", settable)
        if not isinstance(settings, dict):
            raise InvalidValueError(path, where, settings, "a table with " + ", ".join(LEVER_KEYS))
        spec = levers[lever]
        for key in settings:
            if key not in LEVER_KEYS:
                raise InvalidValueError(path, f"{where}.{key}", "unknown key", LEVER_KEYS)
        if "target" not in settings or "start" not in settings:
            raise InvalidValueError(path, where, "missing target or start", "target, start and optionally ramp, ref")
        low, high = spec["range"]
        constants[spec["target"]] = _number(path, f"{where}.target", settings["target"], low, high)
        constants[spec["start"]] = _number(path, f"{where}.start", settings["start"], *START_RANGE)
        if "ramp" in settings:
            constants[spec["ramp"]] = _number(path, f"{where}.ramp", settings["ramp"], *RAMP_RANGE)
    return Scenario(name=name, description=str(head.get("description", "")), constants=constants, path=path)
