"""The explorer's state: lever paths and view settings, and its three forms.

A state is what the explorer shows: the lever paths the user set (levers not named
follow their history, as in a scenario file), the demographic variant (model/demography.toml;
none named runs under the file's default, as in a scenario file), the language, the region
of the age pyramid, the year of the regional views and the size of the ensemble band. It travels
as a URL query (so that a link reopens it) and as a scenario TOML file (so that
``kbalance scenarios check`` accepts it and ``kbalance run`` reproduces it)::

    state = state_from_scenario(read_scenario("balance"))
    query = state_to_query(state)          # {"levers": "...", "lang": "ko", ...}
    state_from_query(query) == state       # True
    text = scenario_toml(state, "my scenario")

The query also names the model and fitted-set versions the link was made with
(:func:`current_versions`), so that a link opened on another version says so.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from kbalance.errors import InvalidValueError, KbalanceInputError
from kbalance.model.inputs import read_levers
from kbalance.model.mdl import scalar_constants
from kbalance.model.parameters import latest_fitted_set
from kbalance.model.scenarios import LeverStep, Scenario, read_scenario
from kbalance.model.variants import read_variants
from kbalance.outputs import model_hash
from kbalance.regions import region_codes

LANGS = ("ko", "en")
BAND_SIZES = (0, 20, 50, 100, 200)  # members of the constrained ensemble in the band (0: no band)
FIRST_YEAR, UNTIL = 2024, 2070  # the regional views' years [year]
#: The reference written for a step set in the explorer (scenario files need one).
EXPLORER_REF = "hypothetical"
QUERY_KEYS = ("levers", "variant", "lang", "region", "year", "members", "model", "fitted")


@dataclass(frozen=True)
class LeverControl:
    """What a lever's controls allow, from model/levers.toml and the model's limits.

    key : str  lever key in model/levers.toml
    description : str  the file's description
    labels : dict  short label by language ("ko", "en"), the file's label_ko and label_en
    units : dict  the lever's unit by language (the file's unit_ko and unit)
    target : tuple of float  (value, low, high): the model's value and the file's range [unit]
    start : tuple of float  (shown first, low, high) of the start year [year]
    ramp : tuple of float  (value, low, high) of the ramp length [year]
    step : float  slider step of the target [unit]
    """

    key: str
    description: str
    labels: dict[str, str]
    units: dict[str, str]
    target: tuple[float, float, float]
    start: tuple[float, float, float]
    ramp: tuple[float, float, float]
    step: float

    def label(self, lang: str) -> str:
        """The lever's short label in ``lang`` ("ko" or "en")."""
        return self.labels[lang]

    def unit(self, lang: str) -> str:
        """The lever's unit in ``lang`` ("ko" or "en")."""
        return self.units[lang]


def slider_step(low: float, high: float) -> float:
    """A power of ten giving about 200 to 2000 positions over [low, high] [the range's unit]."""
    return 10.0 ** math.floor(math.log10((high - low) / 200.0))


def lever_controls() -> dict[str, LeverControl]:
    """Every lever a scenario can set, in the order of model/levers.toml.

    The start year is shown first at its lowest allowed year (the model's own value,
    2100, means "not in the horizon"); a lever follows its history until its
    controls are moved.
    """
    limits = scalar_constants()
    controls = {}
    for key, spec in read_levers().items():
        if "target" not in spec:
            continue
        low, high = (float(x) for x in spec["range"])
        _, start_low, start_high = limits[spec["start"]]
        controls[key] = LeverControl(
            key=key, description=spec["description"], labels={lang: spec[f"label_{lang}"] for lang in LANGS},
            units={"en": spec["unit"], "ko": spec["unit_ko"]},
            target=(limits[spec["target"]][0], low, high), start=(start_low, start_low, start_high),
            ramp=limits[spec["ramp"]], step=slider_step(low, high))
    return controls


def current_versions() -> dict[str, str]:
    """The model's version (first 12 hex digits of kbalance.outputs.model_hash) and the
    fitted set's (its file stem, "priors" before any calibration)."""
    fitted = latest_fitted_set()
    return {"model": model_hash()[:12], "fitted": fitted.stem if fitted else "priors"}


@dataclass(frozen=True)
class ExplorerState:
    """What the explorer shows.

    levers : dict  lever key → its steps (kbalance.model.scenarios.LeverStep); levers
        not named follow their history
    variant : str or None  key of the demographic variant (model/demography.toml); None
        runs under the file's default
    lang : str  "ko" or "en"
    region : str  KOSIS code of the age pyramid's region
    year : int  year of the regional views [year]
    members : int  ensemble members in the band (one of :data:`BAND_SIZES`)
    versions : dict  model and fitted-set versions the state was made with
    """

    levers: dict[str, tuple[LeverStep, ...]] = field(default_factory=dict)
    variant: str | None = None
    lang: str = "ko"
    region: str = "11"
    year: int = 2050
    members: int = 20
    versions: dict[str, str] = field(default_factory=dict)

    def with_lever(self, key: str, target: float, start: float, ramp: float) -> ExplorerState:
        """This state with ``key`` set to one step (the explorer's reference)."""
        step = LeverStep(key, float(target), float(start), float(ramp), EXPLORER_REF)
        return replace(self, levers={**self.levers, key: (step,)})


def baseline_state(lang: str = "ko") -> ExplorerState:
    """Every lever on its history, the current versions."""
    return ExplorerState(lang=lang, versions=current_versions())


def state_from_scenario(scenario: Scenario, view: ExplorerState | None = None) -> ExplorerState:
    """The lever paths (included ones flattened) and demographic variant of ``scenario``
    with the view settings of ``view`` (default: :func:`baseline_state`)."""
    levers: dict[str, tuple[LeverStep, ...]] = {}
    for step in scenario.steps:
        levers[step.lever] = (*levers.get(step.lever, ()), step)
    return replace(view or baseline_state(), levers=levers, variant=scenario.variant)


# ---------------------------------------------------------------------------
# URL query
# ---------------------------------------------------------------------------


def state_to_query(state: ExplorerState) -> dict[str, str]:
    """The URL query of ``state``: ``levers`` as compact JSON {lever: [[target, start,
    ramp, ref], …]} (ramp null keeps the model's value), ``variant`` when one is named,
    the view settings and versions."""
    levers = {k: [[s.target, s.start, s.ramp, s.ref] for s in steps] for k, steps in state.levers.items()}
    variant = {} if state.variant is None else {"variant": state.variant}
    return {"levers": json.dumps(levers, separators=(",", ":"), ensure_ascii=False), **variant, "lang": state.lang,
            "region": state.region, "year": str(state.year), "members": str(state.members), **state.versions}


def _choice(where: str, key: str, value: str, allowed: tuple) -> str:
    if value not in allowed:
        raise InvalidValueError(where, key, value, allowed)
    return value


def state_from_query(query: dict[str, str], where: str = "URL") -> ExplorerState:
    """The state a URL query encodes (keys missing take :func:`baseline_state`'s values).

    Raises InvalidValueError naming ``where``, the query key and what is allowed for an
    unknown key, lever, variant or choice, or malformed lever steps. Lever values are checked
    against their ranges by :func:`scenario_of`.
    """
    unknown = sorted(set(query) - set(QUERY_KEYS))
    if unknown:
        raise InvalidValueError(where, unknown[0], "unknown key", QUERY_KEYS)
    base = baseline_state()
    try:
        raw = json.loads(query.get("levers", "{}"))
    except json.JSONDecodeError:
        raw = None
    if not isinstance(raw, dict):
        raise InvalidValueError(where, "levers", query.get("levers"), "JSON {lever: [[target, start, ramp, ref], ...]}")
    controls = lever_controls()
    levers = {}
    for key, steps in raw.items():
        _choice(where, "levers", key, tuple(controls))
        if not isinstance(steps, list) or not all(_is_step(s) for s in steps) or not steps:
            raise InvalidValueError(where, f"levers.{key}", steps, "a list of [target, start, ramp or null, ref]")
        levers[key] = tuple(LeverStep(key, float(t), float(s), None if r is None else float(r), ref)
                            for t, s, r, ref in steps)
    years = tuple(str(y) for y in range(FIRST_YEAR, UNTIL + 1))
    members = tuple(str(m) for m in BAND_SIZES)
    versions = {k: query[k] for k in ("model", "fitted") if k in query}
    variant = _choice(where, "variant", query["variant"], tuple(read_variants())) if "variant" in query else None
    return ExplorerState(
        levers=levers, variant=variant, lang=_choice(where, "lang", query.get("lang", base.lang), LANGS),
        region=_choice(where, "region", query.get("region", base.region), tuple(region_codes())),
        year=int(_choice(where, "year", query.get("year", str(base.year)), years)),
        members=int(_choice(where, "members", query.get("members", str(base.members)), members)),
        versions=versions or base.versions)


def _is_step(step: object) -> bool:
    if not isinstance(step, list) or len(step) != 4:
        return False
    target, start, ramp, ref = step
    numbers = [x for x in (target, start, ramp) if x is not None]
    return (all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers)
            and target is not None and start is not None and isinstance(ref, str))


# ---------------------------------------------------------------------------
# Scenario file
# ---------------------------------------------------------------------------


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def scenario_toml(state: ExplorerState, name: str = "explorer", description: str = "") -> str:
    """A scenario file (model/scenarios format) with the lever paths of ``state`` and its
    demographic variant (a [demography] table when one is named); its header comment names
    the versions the paths were set on."""
    versions = ", ".join(f"{k} {v}" for k, v in state.versions.items())
    lines = [f"# Written by kbalance explore ({versions})" if versions else "# Written by kbalance explore",
             "[scenario]", f"name = {_toml_string(name)}", f"description = {_toml_string(description)}"]
    if state.variant is not None:
        lines += ["", "[demography]", f"variant = {_toml_string(state.variant)}"]
    for key, steps in state.levers.items():
        lines += ["", f"[levers.{key}]", "steps = ["]
        for s in steps:
            ramp = "" if s.ramp is None else f", ramp = {s.ramp!r}"
            start = int(s.start) if float(s.start).is_integer() else s.start  # years are integers in a scenario file
            lines.append(f"  {{ target = {s.target!r}, start = {start!r}{ramp}, ref = {_toml_string(s.ref)} }},")
        lines.append("]")
    return "\n".join(lines) + "\n"


def scenario_of(state: ExplorerState, name: str = "explorer", where: str = "explorer state") -> Scenario:
    """The validated scenario of ``state``: its TOML read back by
    kbalance.model.scenarios.read_scenario, so that what the explorer runs is what the
    exported file runs. Raises InvalidValueError naming ``where`` and the field for a
    value outside a lever's range or steps out of order."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.toml"
        path.write_text(scenario_toml(state, name), encoding="utf-8")
        try:
            scenario = read_scenario(path)
        except KbalanceInputError as exc:  # name the state, not the temporary file
            exc.args = (str(exc).replace(exc.path, where, 1),)
            exc.path = where
            raise
    return replace(scenario, path=None)


__all__ = [
    "BAND_SIZES", "EXPLORER_REF", "ExplorerState", "LANGS", "LeverControl", "QUERY_KEYS", "UNTIL",
    "baseline_state", "current_versions", "lever_controls", "scenario_of", "scenario_toml", "slider_step",
    "state_from_query", "state_from_scenario", "state_to_query",
]
