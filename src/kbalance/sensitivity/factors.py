"""The model as a sensitivity problem: factors, their groups and ranges, the constants of every
run, and the outcomes of fast-engine runs.

The factors are the calibrated parameters (each over the range spanned by the constrained
ensemble, grouped by the ``group`` field of calibration/parameters.toml) and the settable
levers' targets (each over its documented range in model/levers.toml, a group of its own),
:func:`define_factors`. The outcomes are national indicators of model/indicators.toml: model
variables, shown times their scale. :func:`model_evaluator` maps a sample to the outcomes of
runs on the fast engine (:func:`outcome_series` is the ``reduce`` of
:func:`kbalance.engine.ensemble.run_ensemble`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.calibration.ensemble import read_ensemble
from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import Indicator, model_variables, read_indicators
from kbalance.model.inputs import read_levers
from kbalance.model.parameters import parameter_definitions, shipped_parameter_set
from kbalance.model.scenarios import Scenario

#: Floating type of the model runs (see :data:`kbalance.engine.DTYPES`). float32 runs
#: about twice as fast; on a Sobol design of N = 128 (2,944 runs to 2070, every outcome)
#: its S1 and ST differed from float64's by at most 5e-7, below 0.1 % of every nonzero
#: bootstrap confidence half-width (docs/engine.md).
DEFAULT_DTYPE = "float32"

#: First projection year: outcomes are analysed from here to ``until``.
FIRST_PROJECTION_YEAR = 2025

#: Start year of a varied lever's ramp when the scenario does not set the lever [year];
#: the ramp then has the model's default length.
LEVER_START_YEAR = 2027

#: Factor groups of the calibrated parameters, in the order of the sample's columns. Each
#: parameter of calibration/parameters.toml names its group in its ``group`` field (required
#: when ``calibrate = true``). Every settable lever is a group of its own, after these.
PARAMETER_GROUPS = ("regional_fertility", "fertility_conditions", "mortality_level", "mortality_improvement",
                    "migration", "attractiveness", "innovation_productivity", "fiscal_transfers")


@dataclass(frozen=True)
class Factor:
    """One sampled input.

    name : str  engine column: a model constant ("mortality index drift") or "name[element]"
    group : str  SALib group
    low, high : float  sampled range [the constant's unit]
    kind : str  "parameter" or "lever"
    source : str  where the range comes from
    """

    name: str
    group: str
    low: float
    high: float
    kind: str
    source: str


def parameter_groups(definitions: dict[str, dict]) -> dict[str, str]:
    """Group of each calibrated or ensemble-drawn (``ensemble = "prior"``) parameter
    (key → group) from the ``group`` fields of calibration/parameters.toml.

    Raises InvalidValueError naming the file, the parameter and :data:`PARAMETER_GROUPS`
    when a calibrated parameter has no group, or any parameter has an unknown one.
    """
    groups = {}
    for key, spec in definitions.items():
        group = spec.get("group")
        if group is None and not spec.get("calibrate", False):
            continue
        if group not in PARAMETER_GROUPS:
            raise InvalidValueError("calibration/parameters.toml", f"{key}.group", group, PARAMETER_GROUPS)
        if spec.get("calibrate", False) or spec.get("ensemble") == "prior":
            groups[key] = group
    return groups


def settable_levers(levers: dict[str, dict] | None = None) -> dict[str, dict]:
    """Levers of model/levers.toml a scenario can set (those with a target), in file order."""
    levers = read_levers() if levers is None else levers
    return {k: v for k, v in levers.items() if isinstance(v, dict) and "target" in v}


def define_factors(ensemble: pd.DataFrame | None = None, definitions: dict[str, dict] | None = None,
                   levers: dict[str, dict] | None = None, ensemble_name: str = "") -> list[Factor]:
    """The factors: calibrated parameters and lever targets, ordered by group.

    Each calibrated parameter (``calibrate = true`` in calibration/parameters.toml), one
    factor per element for subscripted ones, is sampled over the range the constrained
    ensemble spans (its minimum to maximum over members), within the parameter's range.
    A calibrated parameter the ensemble does not hold (added after the ensemble was
    drawn) is not a factor: it keeps the shipped value (see :func:`held_parameters`).
    Each settable lever's target is sampled over its documented range (model/levers.toml).
    """
    definitions = parameter_definitions() if definitions is None else definitions
    groups = parameter_groups(definitions)
    ensemble = read_ensemble() if ensemble is None else ensemble
    label = ensemble_name or "the constrained ensemble"
    model = compile_model()
    by_group: dict[str, list[Factor]] = {g: [] for g in PARAMETER_GROUPS}
    for key, group in groups.items():
        spec = definitions[key]
        low, high = (float(v) for v in spec["range"])
        columns = [spec["model"]]
        if spec.get("dims"):
            py = model.names.get(spec["model"])
            dims = model.dims.get(py, tuple(spec["dims"]))
            columns = [f"{spec['model']}[{e}]" for d in dims for e in model.subscripts[d]]
        for column in columns:
            if column not in ensemble.columns:
                continue
            values = ensemble[column].to_numpy(float)
            lo, hi = max(low, float(values.min())), min(high, float(values.max()))
            source = f"min-max of {label} ({len(values)} members)"
            if hi <= lo:  # no spread: widen to the parameter range rather than drop the factor
                lo, hi, source = low, high, f"calibration/parameters.toml range ({label} has no spread)"
            by_group[group].append(Factor(column, group, lo, hi, "parameter", source))
    factors = [f for group in by_group.values() for f in group]
    for lever, spec in settable_levers(levers).items():
        low, high = (float(v) for v in spec["range"])
        factors.append(Factor(spec["target"], lever, low, high, "lever", f"model/levers.toml range of {lever}"))
    return factors


def held_parameters(factors: Sequence[Factor], definitions: dict[str, dict] | None = None) -> list[str]:
    """Calibrated parameters (model names) that are not factors because the ensemble does not hold them."""
    definitions = parameter_definitions() if definitions is None else definitions
    sampled = {f.name.partition("[")[0] for f in factors}
    return [spec["model"] for spec in definitions.values() if spec.get("calibrate") and spec["model"] not in sampled]


def salib_problem(factors: Sequence[Factor]) -> dict:
    """The SALib problem of the factors, with their groups."""
    return {"num_vars": len(factors), "names": [f.name for f in factors],
            "bounds": [[f.low, f.high] for f in factors], "groups": [f.group for f in factors]}


def lever_timing(scenario, levers: dict[str, dict] | None = None) -> dict[str, dict[str, float]]:
    """Start year and ramp of each varied lever: the scenario's first step if it sets the lever,
    else :data:`LEVER_START_YEAR` and the model's default ramp [year]."""
    model = compile_model()
    timing = {}
    for lever, spec in settable_levers(levers).items():
        default_ramp = float(np.ravel(model.constants[model.names[spec["ramp"]]])[0])
        timing[lever] = {
            "start": float(scenario.constants.get(spec["start"], LEVER_START_YEAR)),
            "ramp": float(scenario.constants.get(spec["ramp"], default_ramp)),
            "start_source": "scenario" if spec["start"] in scenario.constants else "LEVER_START_YEAR",
            "ramp_source": "scenario" if spec["ramp"] in scenario.constants else "model default",
        }
    return timing


def base_constants(scenario, factors: Sequence[Factor], levers: dict[str, dict] | None = None) -> dict[str, object]:
    """Constants for every run: the shipped parameter set, the scenario, and the varied levers'
    timing (a varied lever's second step, if the scenario has one, is dropped: its target is the sample's)."""
    constants: dict[str, object] = dict(shipped_parameter_set().values)
    varied = {f.group for f in factors if f.kind == "lever"}
    levers = settable_levers(levers)
    second = [levers[lv][k] + " 2" for lv in varied for k in ("target", "start", "ramp")]
    constants.update({k: v for k, v in scenario.constants.items() if k not in second})
    for lever, timing in lever_timing(scenario, levers).items():
        if lever in varied:
            constants[levers[lever]["start"]] = timing["start"]
            constants[levers[lever]["ramp"]] = timing["ramp"]
    return constants


# ---------------------------------------------------------------------------
# Outcomes and runs
# ---------------------------------------------------------------------------


#: Outcomes analysed by default: keys of national indicators in model/indicators.toml (each
#: a model variable; the file gives its scale, unit and labels).
OUTCOMES = ("population", "capital_share", "regions_at_risk", "mean_extinction_index", "fiscal_autonomy_cv",
            "innovation_pw_cv", "grdp_pc_cv")


def outcome_indicators(outcomes: Sequence[str]) -> dict[str, Indicator]:
    """The indicators of the outcomes (keys of model/indicators.toml), by key."""
    national = read_indicators(level="national")
    return {key: national[key] for key in outcomes}


def check_outcomes(names: Sequence[str] | None) -> tuple[str, ...]:
    """Validated outcomes: keys of national indicators (model/indicators.toml), :data:`OUTCOMES`
    when None or empty; accepts comma-separated items."""
    if not names:
        return OUTCOMES
    allowed = tuple(read_indicators(level="national"))
    chosen: list[str] = []
    for item in names:
        for name in str(item).split(","):
            name = name.strip()
            if not name:
                continue
            if name not in allowed:
                raise InvalidValueError("kbalance sensitivity", "--outputs", name, allowed)
            if name not in chosen:
                chosen.append(name)
    if not chosen:
        raise InvalidValueError("kbalance sensitivity", "--outputs", names, allowed)
    return tuple(chosen)


def outcome_series(results: xr.Dataset, outcomes: Sequence[str], years: Sequence[int]) -> np.ndarray:
    """Outcomes of a chunk of runs, the ``reduce`` of :func:`kbalance.engine.ensemble.run_ensemble`.

    results : Dataset over (member, year) with the model variables of the outcomes'
        indicators (:func:`kbalance.model.indicators.model_variables`)
    Returns an array (member, outcome, year) of float64 in the indicators' units
    (the model variable times its scale).
    """
    r = results.sel(year=list(years)).astype(float)
    return np.stack([indicator.values(r).transpose("member", "year").values
                     for indicator in outcome_indicators(outcomes).values()], axis=1)


def check_until(until: int) -> int:
    """``until`` if it is a year after :data:`FIRST_PROJECTION_YEAR` up to 2100, else
    InvalidValueError naming ``--until``."""
    if not FIRST_PROJECTION_YEAR + 1 <= until <= 2100:
        raise InvalidValueError("kbalance sensitivity", "--until", until,
                                f"a year in [{FIRST_PROJECTION_YEAR + 1}, 2100]")
    return until


def projection_years(until: int) -> list[int]:
    """Calendar years analysed: :data:`FIRST_PROJECTION_YEAR` to ``until``."""
    return list(range(FIRST_PROJECTION_YEAR, check_until(until) + 1))


def run_outcomes(parameters: pd.DataFrame, constants: dict[str, object], until: int, outcomes: Sequence[str],
                 workers: int | None = None, scheduler: str | None = None, chunk_size: int = 250,
                 progress: bool = False, dtype: str = DEFAULT_DTYPE) -> np.ndarray:
    """Outcomes (members, outcomes, years) of members run on the fast engine in chunks
    (``dtype``: see :func:`kbalance.engine.run_fast`)."""
    years = projection_years(until)
    reduce = partial(outcome_series, outcomes=tuple(outcomes), years=tuple(years))
    chunks = run_ensemble(parameters, scenario=Scenario(name="sensitivity", description="", constants=constants),
                          until=until, variables=model_variables(tuple(outcomes)), chunk_size=chunk_size,
                          workers=workers, scheduler=scheduler, progress=progress, reduce=reduce, dtype=dtype)
    return np.concatenate(chunks, axis=0)


def model_evaluator(factors: Sequence[Factor], constants: dict[str, object], until: int, outcomes: Sequence[str],
                    workers: int | None = None, scheduler: str | None = None, chunk_size: int = 250,
                    progress: bool = False, dtype: str = DEFAULT_DTYPE) -> Callable[[np.ndarray], np.ndarray]:
    """``evaluate`` for :func:`run_pipeline`: a sample (runs, factors) → outcomes (runs, outcomes, years),
    computed in ``dtype`` (see :func:`kbalance.engine.run_fast`)."""
    names = [f.name for f in factors]

    def evaluate(X: np.ndarray) -> np.ndarray:
        table = pd.DataFrame(np.asarray(X, float), columns=names)
        return run_outcomes(table, constants, until, outcomes, workers, scheduler, chunk_size, progress, dtype)

    return evaluate


def fan_quantiles(values: np.ndarray, outcomes: Sequence[str], years: Sequence[int]) -> pd.DataFrame:
    """5, 25, 50, 75 and 95 % quantiles over members of (members, outcomes, years) values."""
    q = np.nanquantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)  # (5, outcomes, years)
    rows = []
    for i, outcome in enumerate(outcomes):
        for j, year in enumerate(years):
            rows.append((outcome, int(year), *(float(v) for v in q[:, i, j])))
    return pd.DataFrame(rows, columns=["outcome", "year", "q05", "q25", "q50", "q75", "q95"])
