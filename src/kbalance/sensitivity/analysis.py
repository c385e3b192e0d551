"""Global sensitivity and uncertainty analysis with SALib.

Two layers:

* a model-independent pipeline: a SALib *problem* (factor names, bounds, groups), a
  sample design (:func:`sample_design`, Sobol/Saltelli or Morris), an ``evaluate``
  callable mapping the sample (runs × factors) to outcomes (runs × outcomes × years),
  the analysis of every outcome at every year (:func:`analyze`) and the convergence
  check of the Sobol total indices between the half and the full sample
  (:func:`convergence`); :func:`run_pipeline` chains them;
* the kbalance adapter: the factors (calibrated parameters within the range spanned by
  the constrained ensemble, lever targets within their documented ranges,
  :func:`define_factors`), the outcomes computed from fast-engine runs
  (:func:`outcome_series`, used as ``reduce`` in :func:`kbalance.engine.run_ensemble`),
  fan charts of the constrained ensemble, figures and the output folder
  (:func:`sensitivity_to_folder`).

The output folder holds ``manifest.json``, ``summary.json``, ``indices.csv`` (long:
method, outcome, year, factor, index, value, conf), ``indices.nc``, ``fan.csv`` and
``figures/*.png`` / ``*.svg``; it is written to a temporary sibling and renamed into
place at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.calibration.calibrate import ensemble_path, latest_ensemble_set, read_ensemble
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.paths import calibration_dir
from kbalance.outputs import check_new_folder, write_new_folder

# ---------------------------------------------------------------------------
# Configuration (data)
# ---------------------------------------------------------------------------

METHODS = ("sobol", "morris")

#: Default sample size per method: base samples N (Sobol) or trajectories r (Morris).
DEFAULT_N = {"sobol": 1024, "morris": 40}

#: Morris grid levels.
MORRIS_LEVELS = 4

#: Floating type of the model runs (see :data:`kbalance.engine.DTYPES`). float32 runs
#: about twice as fast; on a Sobol design of N = 128 (2,944 runs to 2070, every outcome)
#: its S1 and ST differed from float64's by at most 5e-7, below 0.1 % of every nonzero
#: bootstrap confidence half-width (docs/engine.md).
DEFAULT_DTYPE = "float32"

#: Bootstrap resamples for the confidence intervals, and their level.
RESAMPLES, CONFIDENCE = 100, 0.95

#: Largest accepted change of a total index (Sobol ST, or Morris mu* over the largest
#: mu*) between the half and the full sample at the report years.
CONVERGENCE_TOLERANCE = 0.05

#: Years reported in summary.json and the bar figures (those not beyond ``until``).
REPORT_YEARS = (2050, 2070)

#: First projection year: outcomes are analysed from here to ``until``.
FIRST_PROJECTION_YEAR = 2025

#: Start year of a varied lever's ramp when the scenario does not set the lever [year];
#: the ramp then has the model's default length.
LEVER_START_YEAR = 2027

#: Below this extinction risk index a region is at risk of extinction (comment of
#: `extinction risk index` in model/kbalance.mdl, [R96]).
EXTINCTION_RISK_THRESHOLD = 0.5

#: Groups of free parameters (keys of calibration/parameters.toml). Only parameters with
#: ``calibrate = true`` become factors; a calibrated key not listed here falls into
#: ``other_parameters``. Every settable lever is a group of its own.
PARAMETER_GROUPS: dict[str, tuple[str, ...]] = {
    "regional_fertility": ("regional_fertility_factor", "regional_fertility_trend"),
    "fertility_conditions": ("congestion_elasticity_of_fertility", "income_elasticity_of_fertility",
                             "jobs_elasticity_of_fertility", "family_support_elasticity",
                             "fertility_trend_assumption"),
    "mortality_level": ("infant_mortality", "makeham_mortality", "gompertz_mortality_at_60", "gompertz_slope",
                        "sex_mortality_factor", "regional_mortality_factor"),
    "mortality_improvement": ("mortality_improvement",),
    "migration": ("mobility", "push_elasticity", "pull_elasticity", "destination_size_elasticity",
                  "distance_elasticity", "profile_childhood_level", "profile_childhood_decline",
                  "profile_labour_level", "profile_labour_decline", "profile_labour_rise",
                  "profile_labour_peak_age", "profile_constant"),
    "attractiveness": ("region_attractiveness_constant", "region_attractiveness_trend", "income_weight", "jobs_weight", "innovation_weight",
                       "services_weight", "congestion_weight", "regulation_weight", "new_city_bonus",
                       "new_city_build_out_time"),
    "innovation_productivity": ("jobs_elasticity_of_innovation", "productivity_trend",
                                "productivity_elasticity_of_innovation", "innovation_lifetime", "rd_intensity",
                                "government_rd_fraction", "agglomeration_elasticity", "knowledge_per_student",
                                "knowledge_per_relocated_worker", "local_innovation_share"),
    "tax_base": ("tax_to_grdp_ratio", "tax_base_factor", "non_tax_revenue_ratio", "internal_tax_share"),
    "fiscal_transfers": ("need_factor", "elderly_need_weight", "subsidy_ratio", "special_account_capital_weight",
                         "capacity_weight", "service_capital_lifetime"),
}
OTHER_GROUP = "other_parameters"


@dataclass(frozen=True)
class Outcome:
    """One analysed outcome: a time series per run.

    name : str  short name (``--outputs``)
    label, label_ko : str  English and Korean labels
    unit : str  unit of the values written
    definition : str  how it is computed from model variables
    variables : tuple  model variables it needs
    """

    name: str
    label: str
    label_ko: str
    unit: str
    definition: str
    variables: tuple[str, ...]


OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    Outcome("population", "National population", "전국 인구", "million persons",
            "`national population` / 1e6", ("national population",)),
    Outcome("capital_share", "Capital-region population share", "수도권 인구 비중", "%",
            "`capital region share`", ("capital region share",)),
    Outcome("extinction_regions", "Regions at risk of extinction", "소멸위험 시도 수", "regions",
            f"number of the 17 regions with `extinction risk index` below {EXTINCTION_RISK_THRESHOLD}",
            ("extinction risk index",)),
    Outcome("extinction_index", "Mean extinction risk index", "평균 지방소멸위험지수", "1",
            "unweighted mean of `extinction risk index` over the 17 regions", ("extinction risk index",)),
    Outcome("fiscal_disparity", "Fiscal autonomy disparity (CV)", "재정자립도 격차", "1",
            "`cv fiscal autonomy` (population-weighted)", ("cv fiscal autonomy",)),
    Outcome("innovation_disparity", "Innovation disparity (CV)", "혁신역량 격차", "1",
            "employment-weighted coefficient of variation of `innovation per worker` over the 17 regions",
            ("innovation per worker", "employed")),
    Outcome("grdp_disparity", "GRDP per capita disparity (CV)", "1인당 GRDP 격차", "1",
            "`cv grdp per capita` (population-weighted)", ("cv grdp per capita",)),
)}


# ---------------------------------------------------------------------------
# Model-independent pipeline
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """A sample of the factors for one method.

    method : str  "sobol" or "morris"
    n : int  base samples N (Sobol) or trajectories r (Morris)
    seed : int  random seed of the sample and of the bootstrap
    second_order : bool  Sobol second-order indices (sample of N (2D + 2) rows instead of N (D + 2))
    X : array (runs, factors)  the sample in factor units
    """

    method: str
    n: int
    seed: int
    second_order: bool
    X: np.ndarray

    @property
    def runs(self) -> int:
        return int(self.X.shape[0])


def group_names(problem: dict) -> list[str]:
    """Names of the analysed units of a problem: its groups in order of first appearance, else its factors."""
    groups = problem.get("groups")
    if not groups:
        return list(problem["names"])
    return list(dict.fromkeys(groups))


def rows_per_base_sample(problem: dict, second_order: bool) -> int:
    """Rows of a Saltelli sample per base sample: 2D + 2 with second order, else D + 2 (D groups or factors)."""
    d = len(group_names(problem))
    return 2 * d + 2 if second_order else d + 2


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise InvalidValueError("kbalance sensitivity", "--method", method, METHODS)
    return method


def _check_n(method: str, n: int) -> int:
    if method == "sobol" and (n < 4 or n & (n - 1)):
        raise InvalidValueError("kbalance sensitivity", "--n", n,
                                "a power of two, at least 4 (Sobol base samples; N/2 is the convergence check)")
    if method == "morris" and n < 2:
        raise InvalidValueError("kbalance sensitivity", "--n", n, "at least 2 Morris trajectories")
    return n


def sample_design(problem: dict, method: str, n: int, seed: int, second_order: bool = False) -> Design:
    """Sample the factors.

    problem : dict  SALib problem (``names``, ``bounds``, optional ``groups``)
    method : "sobol" (Saltelli's scheme on a scrambled Sobol' sequence) or "morris"
    n : int  base samples N (a power of two) or Morris trajectories r
    seed : int  random seed
    second_order : bool  Sobol only: also sample for second-order indices

    Returns the design; runs are N (D + 2), N (2D + 2) or r (D + 1) for D groups.
    """
    _check_n(_check_method(method), n)
    if method == "sobol":
        from SALib.sample import sobol

        X = sobol.sample(problem, n, calc_second_order=second_order, seed=seed)
    else:
        from SALib.sample import morris

        X = morris.sample(problem, n, num_levels=MORRIS_LEVELS, seed=seed)
    return Design(method, n, seed, bool(second_order and method == "sobol"), np.asarray(X, float))


def half_design(problem: dict, design: Design) -> Design:
    """The nested half of a design: the first N/2 base samples (Sobol) or r/2 trajectories (Morris)."""
    n = design.n // 2
    if design.method == "sobol":
        rows = n * rows_per_base_sample(problem, design.second_order)
    else:
        rows = n * (len(group_names(problem)) + 1)
    return Design(design.method, n, design.seed, design.second_order, design.X[:rows])


def first_order_rows(problem: dict, runs: int) -> np.ndarray:
    """Rows of a second-order Sobol sample of ``runs`` rows that form a first-order one.

    A second-order sample holds, per base sample, the rows A, AB_1 … AB_D, BA_1 … BA_D, B;
    S1 and ST (and their bootstrap intervals) use A, AB_j and B only, so analysing those
    rows as a first-order design gives the same indices without the cost of S2 (up to
    SALib's centring of the outputs on the rows it is given: about 1e-5, far inside the
    bootstrap intervals).
    """
    d = len(group_names(problem))
    per_base = rows_per_base_sample(problem, True)
    return (np.arange(runs // per_base)[:, None] * per_base + np.r_[0:d + 1, 2 * d + 1]).ravel()


#: An output that takes one value in more than this share of the runs (a count of regions
#: that has saturated, say) gives no usable variance-based indices.
MAX_MODE_SHARE = 0.95


def _degenerate(y: np.ndarray) -> bool:
    """True when ``y`` is not finite, does not vary, or mostly takes a single value."""
    if not np.all(np.isfinite(y)) or np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        return True
    _, counts = np.unique(y, return_counts=True)
    return counts.max() > MAX_MODE_SHARE * y.size


def _analyze_one(problem: dict, design: Design, y: np.ndarray) -> dict[str, np.ndarray]:
    """SALib indices of one output vector; NaN when the output does not (usefully) vary."""
    names = group_names(problem)
    nan = np.full(len(names), np.nan)
    if _degenerate(y):
        keys = ("S1", "S1_conf", "ST", "ST_conf") if design.method == "sobol" else ("mu_star", "mu_star_conf",
                                                                                   "sigma", "mu")
        return {k: nan for k in keys}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if design.method == "sobol":
            from SALib.analyze import sobol

            result = sobol.analyze(problem, y, calc_second_order=design.second_order, num_resamples=RESAMPLES,
                                   conf_level=CONFIDENCE, seed=design.seed)
            out = {k: np.asarray(result[k], float) for k in ("S1", "S1_conf", "ST", "ST_conf")}
            if design.second_order:
                out["S2"] = np.asarray(result["S2"], float)
                out["S2_conf"] = np.asarray(result["S2_conf"], float)
            return out
        from SALib.analyze import morris

        result = morris.analyze(problem, design.X, y, num_resamples=RESAMPLES, conf_level=CONFIDENCE,
                                num_levels=MORRIS_LEVELS, seed=design.seed)
        return {k: np.asarray(result[k], float) for k in ("mu_star", "mu_star_conf", "sigma", "mu")}


#: index → its confidence key, per method (the long table's ``index`` and ``conf``).
INDEX_CONF = {"sobol": {"S1": "S1_conf", "ST": "ST_conf"},
              "morris": {"mu_star": "mu_star_conf", "sigma": None, "mu": None}}


def _analyze_task(task: tuple) -> dict[str, np.ndarray]:
    return _analyze_one(*task)


def analyze(problem: dict, design: Design, Y: np.ndarray, outcomes: Sequence[str],
            years: Sequence[int], second_order_years: Sequence[int] | None = None,
            workers: int = 1) -> pd.DataFrame:
    """Indices of every outcome at every year (SALib analyses one output at a time).

    problem : dict  SALib problem
    design : Design  the sample that produced ``Y``
    Y : array (runs, outcomes, years)  model outputs
    outcomes : names of the outcomes (axis 1), years : calendar years (axis 2)
    second_order_years : years with S2 when the design has second order (default the
        report years, :data:`REPORT_YEARS`): SALib's bootstrap of S2 takes seconds per
        outcome and year, so the other years get S1 and ST only (from
        :func:`first_order_rows`)
    workers : int  local processes for the analyses (1: in this process); the numbers do
        not depend on it

    Returns a long table: method, outcome, year, factor, index, value, conf (conf is the
    half-width of the bootstrap confidence interval at :data:`CONFIDENCE`; NaN for
    indices without one). Sobol gives S1 and ST (and S2 with second order), Morris
    mu_star, sigma and mu.
    """
    Y = np.asarray(Y, float)
    if Y.shape != (design.runs, len(outcomes), len(years)):
        raise InvalidValueError("sensitivity.analyze", "Y", Y.shape,
                                f"shape (runs, outcomes, years) = ({design.runs}, {len(outcomes)}, {len(years)})")
    names = group_names(problem)
    without_sample = replace(design, X=design.X[:0])  # SALib's Sobol analysis reads only the outputs
    if design.second_order:
        with_s2 = set(_report_years(years) if second_order_years is None else map(int, second_order_years))
        first, first_rows = replace(without_sample, second_order=False), first_order_rows(problem, design.runs)

    def task(i: int, j: int) -> tuple:
        if design.method == "morris":
            return problem, design, Y[:, i, j]
        if design.second_order and int(years[j]) not in with_s2:
            return problem, first, Y[first_rows, i, j]
        return problem, without_sample, Y[:, i, j]

    tasks = [task(i, j) for i in range(len(outcomes)) for j in range(len(years))]
    if workers > 1 and len(tasks) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            results = list(pool.map(_analyze_task, tasks, chunksize=max(1, len(tasks) // (4 * workers))))
    else:
        results = [_analyze_task(task) for task in tasks]
    rows: list[tuple] = []
    for k, result in enumerate(results):
        outcome, year = outcomes[k // len(years)], years[k % len(years)]
        for index, conf in INDEX_CONF[design.method].items():
            conf_values = result[conf] if conf else np.full(len(names), np.nan)
            rows.extend((design.method, outcome, int(year), name, index, float(v), float(c))
                        for name, v, c in zip(names, result[index], conf_values))
        if "S2" in result:
            for a in range(len(names)):
                for b in range(a + 1, len(names)):
                    rows.append((design.method, outcome, int(year), f"{names[a]} & {names[b]}", "S2",
                                 float(result["S2"][a, b]), float(result["S2_conf"][a, b])))
    return pd.DataFrame(rows, columns=["method", "outcome", "year", "factor", "index", "value", "conf"])


def _total_index(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """outcome, year × factor table of the index used for convergence (ST, or mu* over its largest value)."""
    index = "ST" if method == "sobol" else "mu_star"
    wide = table[table["index"] == index].pivot_table(index=["outcome", "year"], columns="factor", values="value",
                                                      dropna=False)
    if method == "morris":
        wide = wide.div(wide.max(axis=1).replace(0.0, np.nan), axis=0)
    return wide


def convergence(problem: dict, design: Design, Y: np.ndarray, outcomes: Sequence[str], years: Sequence[int],
                full: pd.DataFrame | None = None, check_years: Sequence[int] | None = None,
                tolerance: float = CONVERGENCE_TOLERANCE) -> dict[str, dict]:
    """Compare the total indices of the half sample with those of the full sample.

    The Sobol sample for N is nested: its first N/2 base samples are the sample for N/2
    (Morris: the first r/2 trajectories). Total indices (ST; for Morris mu* divided by
    the largest mu* of that outcome and year) are computed from both; the largest
    absolute change over factors is reported per year.

    full : DataFrame, optional  :func:`analyze` of the full design (computed if absent)
    check_years : years the verdict uses (default :data:`REPORT_YEARS` within ``years``,
        else the last year)
    tolerance : largest accepted change [index units]

    Returns outcome → {index, tolerance, check_years, max_abs_change (year → value),
    converged}. An outcome that does not vary has no indices
    and counts as converged (noted).
    """
    checked = _report_years(years) if check_years is None else [y for y in check_years if y in set(years)]
    half = half_design(problem, design)
    if half.n < 2:
        return {o: {"index": "ST" if design.method == "sobol" else "mu_star / max mu_star", "tolerance": tolerance,
                    "half_n": half.n, "check_years": [int(y) for y in checked],
                    "max_abs_change": dict.fromkeys(int(y) for y in checked),
                    "converged": False, "note": "sample too small for a convergence check (needs n >= 4)"}
                for o in outcomes}
    if full is None:
        full = analyze(problem, design, Y, outcomes, years)
    columns = [list(years).index(y) for y in checked]  # the half sample is analysed at the check years only
    half_table = analyze(problem, half, np.asarray(Y)[:half.runs][:, :, columns], outcomes, checked,
                         second_order_years=())
    b = _total_index(half_table, design.method)
    a = _total_index(full, design.method).reindex(b.index)
    change = (a - b).abs().max(axis=1, skipna=True)
    out = {}
    for outcome in outcomes:
        series = change.loc[outcome]
        at = {int(y): _finite_or_none(series.get(y, np.nan)) for y in checked}
        values = [v for v in at.values() if v is not None]
        out[outcome] = {
            "index": "ST" if design.method == "sobol" else "mu_star / max mu_star",
            "tolerance": tolerance,
            "half_n": half.n,
            "check_years": [int(y) for y in checked],
            "max_abs_change": at,
            "converged": bool(all(v <= tolerance for v in values)),
            "note": "" if values else ("the outcome does not vary, or takes one value in over "
                                        f"{MAX_MODE_SHARE:.0%} of the runs, at the check years: no indices"),
        }
    return out


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _report_years(years: Sequence[int]) -> list[int]:
    chosen = [y for y in REPORT_YEARS if y in {int(v) for v in years}]
    return chosen or [int(years[-1])]


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` returns.

    design : Design  the sample
    Y : array (runs, outcomes, years)  model outputs
    indices : DataFrame  long table of :func:`analyze`
    convergence : dict  of :func:`convergence`
    seconds : dict  stage → wall time [s]
    """

    design: Design
    Y: np.ndarray
    indices: pd.DataFrame
    convergence: dict[str, dict]
    seconds: dict[str, float] = field(default_factory=dict)


def run_pipeline(problem: dict, design: Design, evaluate: Callable[[np.ndarray], np.ndarray],
                 outcomes: Sequence[str], years: Sequence[int], tolerance: float = CONVERGENCE_TOLERANCE,
                 log: Callable[[str], None] | None = None, workers: int = 1) -> PipelineResult:
    """Evaluate a design and analyse every outcome at every year.

    problem : dict  SALib problem
    design : Design  from :func:`sample_design`
    evaluate : callable  sample (runs, factors) → outputs (runs, outcomes, years)
    outcomes, years : labels of the output axes
    tolerance : convergence tolerance (see :func:`convergence`)
    log : callable, optional  progress messages
    workers : int  local processes for the analysis (see :func:`analyze`)
    """
    say = log or (lambda message: None)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    say(f"evaluating {design.runs:,} runs ...")
    Y = np.asarray(evaluate(design.X), float)
    if Y.ndim == 1:
        Y = Y[:, None, None]
    seconds["runs"] = time.perf_counter() - start
    start = time.perf_counter()
    say(f"analysing {len(outcomes)} outcomes x {len(years)} years ...")
    indices = analyze(problem, design, Y, outcomes, years, workers=workers)
    seconds["analysis"] = time.perf_counter() - start
    start = time.perf_counter()
    checks = convergence(problem, design, Y, outcomes, years, full=indices, tolerance=tolerance)
    seconds["convergence"] = time.perf_counter() - start
    return PipelineResult(design, Y, indices, checks, seconds)


# ---------------------------------------------------------------------------
# kbalance adapter: factors
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    """One sampled input.

    name : str  engine column: a model constant ("gompertz slope") or "name[element]"
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


def _group_of(key: str) -> str:
    for group, keys in PARAMETER_GROUPS.items():
        if key in keys:
            return group
    return OTHER_GROUP


def settable_levers(levers: dict[str, dict] | None = None) -> dict[str, dict]:
    """Levers of model/levers.toml a scenario can set (those with a target), in file order."""
    from kbalance.model.inputs import read_levers

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
    from kbalance.engine.compiler import compile_model
    from kbalance.model.parameters import parameter_definitions

    definitions = parameter_definitions() if definitions is None else definitions
    ensemble = read_ensemble() if ensemble is None else ensemble
    label = ensemble_name or "the constrained ensemble"
    model = compile_model()
    by_group: dict[str, list[Factor]] = {g: [] for g in [*PARAMETER_GROUPS, OTHER_GROUP]}
    for key, spec in definitions.items():
        if not spec.get("calibrate", False):
            continue
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
            by_group[_group_of(key)].append(Factor(column, _group_of(key), lo, hi, "parameter", source))
    factors = [f for group in by_group.values() for f in group]
    for lever, spec in settable_levers(levers).items():
        low, high = (float(v) for v in spec["range"])
        factors.append(Factor(spec["target"], lever, low, high, "lever", f"model/levers.toml range of {lever}"))
    return factors


def held_parameters(factors: Sequence[Factor], definitions: dict[str, dict] | None = None) -> list[str]:
    """Calibrated parameters (model names) that are not factors because the ensemble does not hold them."""
    from kbalance.model.parameters import parameter_definitions

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
    from kbalance.engine.compiler import compile_model

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
    from kbalance.model.parameters import shipped_parameter_set

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
# kbalance adapter: outcomes and runs
# ---------------------------------------------------------------------------


def check_outcomes(names: Sequence[str] | None) -> tuple[str, ...]:
    """Validated outcome short names (all when None or empty); accepts comma-separated items."""
    if not names:
        return tuple(OUTCOMES)
    chosen: list[str] = []
    for item in names:
        for name in str(item).split(","):
            name = name.strip()
            if not name:
                continue
            if name not in OUTCOMES:
                raise InvalidValueError("kbalance sensitivity", "--outputs", name, OUTCOMES)
            if name not in chosen:
                chosen.append(name)
    if not chosen:
        raise InvalidValueError("kbalance sensitivity", "--outputs", names, OUTCOMES)
    return tuple(chosen)


def engine_variables(outcomes: Sequence[str]) -> tuple[str, ...]:
    """Model variables the outcomes need, each once."""
    return tuple(dict.fromkeys(v for o in outcomes for v in OUTCOMES[o].variables))


def _weighted_cv(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted coefficient of variation over the last axis."""
    total = weights.sum(-1)
    mean = (weights * values).sum(-1) / total
    sd = np.sqrt((weights * (values - mean[..., None]) ** 2).sum(-1) / total)
    return sd / mean


def outcome_series(results: xr.Dataset, outcomes: Sequence[str], years: Sequence[int]) -> np.ndarray:
    """Outcomes of a chunk of runs, the ``reduce`` of :func:`kbalance.engine.run_ensemble`.

    results : Dataset over (member, year, Region) with :func:`engine_variables`
    Returns an array (member, outcome, year) in the units of :data:`OUTCOMES`.
    """
    r = results.sel(year=list(years))
    out = []
    for name in outcomes:
        if name == "population":
            values = r["national population"].values / 1e6
        elif name == "capital_share":
            values = r["capital region share"].values
        elif name == "extinction_regions":
            values = (r["extinction risk index"].transpose("member", "year", "Region").values
                      < EXTINCTION_RISK_THRESHOLD).sum(-1).astype(float)
        elif name == "extinction_index":
            values = r["extinction risk index"].transpose("member", "year", "Region").values.mean(-1)
        elif name == "fiscal_disparity":
            values = r["cv fiscal autonomy"].values
        elif name == "innovation_disparity":
            values = _weighted_cv(r["innovation per worker"].transpose("member", "year", "Region").values,
                                  r["employed"].transpose("member", "year", "Region").values)
        elif name == "grdp_disparity":
            values = r["cv grdp per capita"].values
        else:
            raise InvalidValueError("kbalance sensitivity", "--outputs", name, OUTCOMES)
        out.append(np.asarray(values, float))
    return np.stack(out, axis=1)


def check_until(until: int) -> int:
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
    from kbalance.engine.ensemble import run_ensemble
    from kbalance.model.scenarios import Scenario

    years = projection_years(until)
    reduce = partial(outcome_series, outcomes=tuple(outcomes), years=tuple(years))
    chunks = run_ensemble(parameters, scenario=Scenario(name="sensitivity", description="", constants=constants),
                          until=until, variables=engine_variables(outcomes), chunk_size=chunk_size, workers=workers,
                          scheduler=scheduler, progress=progress, reduce=reduce, dtype=dtype)
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


# ---------------------------------------------------------------------------
# Tables and figures
# ---------------------------------------------------------------------------


def indices_dataset(indices: pd.DataFrame, checks: dict[str, dict], attrs: dict[str, object]) -> xr.Dataset:
    """The long table as arrays over (outcome, year, factor): one variable per index and its confidence
    (``<index>_conf``); second-order indices are left to the CSV."""
    table = indices[indices["index"] != "S2"]
    ds = xr.Dataset()
    factors = list(dict.fromkeys(table["factor"]))
    outcomes = list(dict.fromkeys(table["outcome"]))
    for index, part in table.groupby("index", sort=False):
        for column, name in (("value", index), ("conf", f"{index}_conf")):
            frame = part.set_index(["outcome", "year", "factor"])[column]
            array = frame.to_xarray().reindex(outcome=outcomes, factor=factors)
            if column == "conf" and not np.isfinite(array.values).any():
                continue
            ds[name] = array
    ds["converged"] = xr.DataArray([int(checks[o]["converged"]) for o in ds["outcome"].values], dims="outcome")
    ds.attrs = {k: (json.dumps(v) if not isinstance(v, (str, int, float)) else v) for k, v in attrs.items()}
    return ds


def _korean_font() -> str | None:
    """Family name of a font that renders Hangul (kbalance.report.use_korean_font), or None
    when there is none: titles are then English only."""
    from kbalance.fonts import use_korean_font

    try:
        return use_korean_font()
    except RuntimeError:
        return None


def _title(outcome: str, text: str, korean: str | None) -> tuple[str, dict]:
    spec = OUTCOMES[outcome]
    if korean:
        return f"{spec.label} · {spec.label_ko} — {text}", {"fontfamily": [korean, "DejaVu Sans"]}
    return f"{spec.label} — {text}", {}


def _save(fig, folder: Path, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = [folder / f"{stem}.png", folder / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=300, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _pretty(factor: str) -> str:
    return factor.replace("_", " ")


def plot_bars(indices: pd.DataFrame, outcome: str, years: Sequence[int], folder: Path,
              korean: str | None = None) -> list[Path]:
    """Horizontal bars of the indices by factor at the report years, with confidence whiskers."""
    import matplotlib.pyplot as plt

    method = indices["method"].iloc[0]
    shown = ("S1", "ST") if method == "sobol" else ("mu_star", "sigma")
    labels = {"S1": "first order S1", "ST": "total ST", "mu_star": "μ*", "sigma": "σ"}
    part = indices[(indices["outcome"] == outcome) & indices["index"].isin(shown)]
    factors = list(dict.fromkeys(part["factor"]))
    fig, axes = plt.subplots(1, len(years), figsize=(5.2 * len(years), 0.28 * len(factors) + 1.8), sharey=True,
                             squeeze=False)
    y = np.arange(len(factors))
    for ax, year in zip(axes[0], years):
        at = part[part["year"] == year].set_index(["index", "factor"])
        for k, index in enumerate(shown):
            values = at.loc[index].reindex(factors) if index in at.index.get_level_values(0) else None
            if values is None:
                continue
            conf = values["conf"].to_numpy(float)
            ax.barh(y + (k - 0.5) * 0.4, values["value"].to_numpy(float), height=0.4, label=labels[index],
                    xerr=np.where(np.isfinite(conf), conf, 0.0), error_kw={"elinewidth": 0.8, "capsize": 1.5})
        ax.set_title(str(year))
        ax.axvline(0, color="0.3", lw=0.6)
        ax.set_xlabel("index" if method == "sobol" else f"elementary effect [{OUTCOMES[outcome].unit}]")
        ax.grid(axis="x", lw=0.3, alpha=0.5)
    axes[0][0].set_yticks(y, [_pretty(f) for f in factors], fontsize=7)
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(fontsize=7, loc="lower right")
    title, font = _title(outcome, "Sobol indices" if method == "sobol" else "Morris screening", korean)
    fig.suptitle(title, **font)
    fig.tight_layout()
    return _save(fig, folder, f"indices_{outcome}")


def plot_over_time(indices: pd.DataFrame, outcome: str, folder: Path, korean: str | None = None,
                   top: int = 8) -> list[Path]:
    """Sobol: stacked areas of S1 per factor over the years (the largest ``top`` factors, the rest
    as "other factors") and the sum of ST; Morris: mu* per factor over the years."""
    import matplotlib.pyplot as plt

    method = indices["method"].iloc[0]
    index = "S1" if method == "sobol" else "mu_star"
    part = indices[(indices["outcome"] == outcome) & (indices["index"] == index)]
    wide = part.pivot_table(index="year", columns="factor", values="value", dropna=False)
    wide = wide.fillna(0.0).clip(lower=0.0)
    order = wide.max().sort_values(ascending=False).index
    keep = list(order[:top])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.get_cmap("tab10").colors
    if method == "sobol":
        stacks = [wide[f].to_numpy() for f in keep]
        labels = [_pretty(f) for f in keep]
        rest = wide.drop(columns=keep).sum(axis=1).to_numpy()
        if len(order) > top:
            stacks.append(rest)
            labels.append("other factors")
        ax.stackplot(wide.index, *stacks, labels=labels, colors=[*colors[:len(keep)], "0.75"][:len(stacks)],
                     alpha=0.9)
        ax.set_ylabel("first-order index S1 (stacked)")
        ax.set_ylim(0, max(1.0, float(np.nansum(stacks, axis=0).max()) * 1.05))
        ax.axhline(1.0, color="0.3", lw=0.6, ls=":")
    else:
        for f, color in zip(keep, colors):
            ax.plot(wide.index, wide[f], label=_pretty(f), color=color)
        ax.set_ylabel(f"μ* [{OUTCOMES[outcome].unit}]")
    ax.set_xlabel("year")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    title, font = _title(outcome, "first-order indices over time" if method == "sobol" else "μ* over time", korean)
    ax.set_title(title, fontsize=10, **font)
    fig.tight_layout()
    return _save(fig, folder, f"over_time_{outcome}")


def plot_fan(fan: pd.DataFrame, outcome: str, folder: Path, members: int, scenario: str,
             korean: str | None = None) -> list[Path]:
    """Fan chart of one outcome over the constrained ensemble: 5-95 % and 25-75 % bands and the median."""
    import matplotlib.pyplot as plt

    part = fan[fan["outcome"] == outcome].sort_values("year")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(part["year"], part["q05"], part["q95"], color="tab:blue", alpha=0.18, lw=0, label="5–95 %")
    ax.fill_between(part["year"], part["q25"], part["q75"], color="tab:blue", alpha=0.38, lw=0, label="25–75 %")
    ax.plot(part["year"], part["q50"], color="tab:blue", lw=1.6, label="median")
    ax.set_xlabel("year")
    ax.set_ylabel(f"{OUTCOMES[outcome].label} [{OUTCOMES[outcome].unit}]")
    ax.grid(lw=0.3, alpha=0.5)
    ax.legend(fontsize=8)
    title, font = _title(outcome, f"{members:,} constrained-ensemble members, scenario {scenario}", korean)
    ax.set_title(title, fontsize=10, **font)
    fig.tight_layout()
    return _save(fig, folder, f"fan_{outcome}")


def write_figures(folder: Path, indices: pd.DataFrame, fan: pd.DataFrame | None, outcomes: Sequence[str],
                  years: Sequence[int], members: int, scenario: str) -> list[Path]:
    """Every figure into ``folder`` (PNG at 300 dpi and SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    korean = _korean_font()
    report = _report_years(years)
    written: list[Path] = []
    for outcome in outcomes:
        written += plot_bars(indices, outcome, report, folder, korean)
        written += plot_over_time(indices, outcome, folder, korean)
        if fan is not None:
            written += plot_fan(fan, outcome, folder, members, scenario, korean)
    return written


# ---------------------------------------------------------------------------
# Summary, manifest and the output folder
# ---------------------------------------------------------------------------


def top_factors(indices: pd.DataFrame, outcome: str, year: int, count: int = 5) -> list[dict]:
    """The ``count`` factors with the largest total index (ST, or mu* for Morris) at one year."""
    method = indices["method"].iloc[0]
    main, other = ("ST", "S1") if method == "sobol" else ("mu_star", "sigma")
    part = indices[(indices["outcome"] == outcome) & (indices["year"] == year)]
    wide = part.pivot_table(index="factor", columns="index", values="value", dropna=False)
    conf = part[part["index"] == main].set_index("factor")["conf"]
    wide = wide.dropna(subset=[main]).sort_values(main, ascending=False).head(count)
    return [{"factor": f, main: float(row[main]), f"{main}_conf": _finite_or_none(conf.get(f, np.nan)),
             other: _finite_or_none(row.get(other, np.nan))} for f, row in wide.iterrows()]


def build_summary(result: PipelineResult, outcomes: Sequence[str], years: Sequence[int],
                  seconds_total: float, dtype: str = DEFAULT_DTYPE) -> dict:
    """summary.json: method, size, runs, floating type of the runs, time, convergence and top
    factors per outcome."""
    report = _report_years(years)
    return {
        "method": result.design.method,
        "n": result.design.n,
        "second_order": result.design.second_order,
        "runs": result.design.runs,
        "dtype": dtype,
        "seconds": round(seconds_total, 1),
        "years": [int(years[0]), int(years[-1])],
        "convergence_tolerance": CONVERGENCE_TOLERANCE,
        "converged": all(c["converged"] for c in result.convergence.values()),
        "convergence": result.convergence,
        "top_factors": {o: {str(y): top_factors(result.indices, o, y) for y in report} for o in outcomes},
    }


def _log(message: str) -> None:
    print(f"kbalance sensitivity: {message}", file=sys.stderr, flush=True)


def sensitivity_to_folder(out: Path, method: str = "sobol", n: int | None = None, scenario: str | Path = "baseline",
                          outcomes: Sequence[str] | None = None, until: int = 2070, seed: int = 20261129,
                          second_order: bool = False, workers: int | None = None, scheduler: str | None = None,
                          chunk_size: int = 250, fan_members: int | None = None, ensemble: Path | None = None,
                          command: Sequence[str] | None = None, progress: bool = True,
                          dtype: str | None = None) -> tuple[Path, dict]:
    """Run a global sensitivity analysis of the model and write the output folder.

    out : Path  new folder (refused if it exists and is not empty)
    method : "sobol" or "morris"
    n : int, optional  base samples N (Sobol, a power of two) or trajectories (Morris);
        default :data:`DEFAULT_N`
    scenario : shipped name or file; sets the levers that are not varied and the timing of the varied ones
    outcomes : short names of :data:`OUTCOMES` (default all)
    until : int  last year [year]
    seed : int  seed of the sample and the bootstrap (same seed, same numbers)
    second_order : bool  Sobol second-order indices (doubles the runs)
    workers, scheduler, chunk_size : how runs are spread (see :func:`kbalance.engine.run_ensemble`)
    fan_members : int, optional  ensemble members for the fan charts (default all)
    ensemble : Path, optional  fitted set whose constrained ensemble is used (default: the newest with one)
    command : the command line, for the manifest
    dtype : "float32" or "float64", optional  the type the model runs compute in (default :data:`DEFAULT_DTYPE`)

    Returns the folder and the summary.
    """
    from kbalance.engine.runtime import check_dtype
    from kbalance.outputs import model_hash, package_versions
    from kbalance.model.parameters import shipped_parameter_set
    from kbalance.model.scenarios import read_scenario

    started = time.perf_counter()
    dtype = check_dtype(DEFAULT_DTYPE if dtype is None else dtype, "kbalance sensitivity", "--dtype").name
    method = _check_method(method)
    n = _check_n(method, DEFAULT_N[method] if n is None else int(n))
    outcomes = check_outcomes(outcomes)
    years = projection_years(until)
    if fan_members is not None and fan_members < 1:
        raise InvalidValueError("kbalance sensitivity", "--fan-members", fan_members, "a positive number of members")
    out = check_new_folder(out)
    chosen = read_scenario(scenario)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    fitted = Path(ensemble) if ensemble is not None else latest_ensemble_set()
    if fitted is None:
        raise MissingFileError(calibration_dir() / "fitted" / "v<N>-ensemble.csv", "constrained ensemble",
                               "run kbalance calibrate, then kbalance ensemble")
    path = ensemble_path(fitted)
    shipped = shipped_parameter_set()
    if not path.name.startswith(f"{shipped.name}-"):
        _log(f"note: the shipped parameter set is {shipped.name} but the newest ensemble is {path.name}; "
             "parameters it lacks keep their shipped values")
    ensemble = read_ensemble(fitted)
    factors = define_factors(ensemble, ensemble_name=path.name)
    problem = salib_problem(factors)
    constants = base_constants(chosen, factors)
    design = sample_design(problem, method, n, seed, second_order)
    seconds["sampling"] = time.perf_counter() - t
    _log(f"{method}: {len(factors)} factors in {len(group_names(problem))} groups, N = {n}, "
         f"{design.runs:,} runs to {until} in {dtype} (scenario {chosen.name}, seed {seed})")
    evaluate = model_evaluator(factors, constants, until, outcomes, workers, scheduler, chunk_size, progress, dtype)
    result = run_pipeline(problem, design, evaluate, outcomes, years, log=_log,
                          workers=workers or os.cpu_count() or 1)
    seconds.update(result.seconds)

    t = time.perf_counter()
    members = ensemble[[f.name for f in factors if f.kind == "parameter"]]  # columns of current parameters
    members = members if fan_members is None else members.iloc[:fan_members]
    _log(f"fan charts: running {len(members):,} ensemble members under scenario {chosen.name} ...")
    fan_constants = {**shipped.values, **chosen.constants}
    fan_values = run_outcomes(members, fan_constants, until, outcomes, workers, scheduler, chunk_size, progress,
                              dtype)
    fan = fan_quantiles(fan_values, outcomes, years)
    seconds["ensemble_runs"] = time.perf_counter() - t

    manifest = {
        "kbalance_sensitivity": 1,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(command if command is not None else ["kbalance", *sys.argv[1:]]),
        "method": method, "n": n, "second_order": design.second_order, "runs": design.runs, "seed": seed,
        "until": until, "years": [years[0], years[-1]], "dtype": dtype,
        "morris_levels": MORRIS_LEVELS if method == "morris" else None,
        "bootstrap": {"resamples": RESAMPLES, "confidence": CONFIDENCE},
        "scenario": {"name": chosen.name, "file": str(chosen.path.name if chosen.path else ""),
                     "constants": chosen.constants},
        "factor_ranges": f"calibrated parameters: min-max over the members of {path.name}; "
                         "lever targets: the documented range in model/levers.toml",
        "lever_timing": lever_timing(chosen),
        "groups": {g: [f.name for f in factors if f.group == g] for g in group_names(problem)},
        "held_at_shipped_values": {"parameters": held_parameters(factors),
                                   "reason": f"calibrated but not in {path.name} (added after the ensemble was "
                                             "drawn): kept at the shipped parameter set's value"},
        "factors": [{"name": f.name, "group": f.group, "kind": f.kind, "low": f.low, "high": f.high,
                     "source": f.source} for f in factors],
        "outcomes": {o: {"label": OUTCOMES[o].label, "label_ko": OUTCOMES[o].label_ko, "unit": OUTCOMES[o].unit,
                         "definition": OUTCOMES[o].definition} for o in outcomes},
        "extinction_risk_threshold": EXTINCTION_RISK_THRESHOLD,
        "fan_members": len(members),
        "ensemble": path.name,
        "parameter_set": {"name": shipped.name, "file": shipped.path.name, "sha256": shipped.sha256()},
        "model_sha256": model_hash(),
        "versions": package_versions("SALib", "matplotlib"),
    }

    def files(tmp: Path) -> None:
        t = time.perf_counter()
        result.indices.to_csv(tmp / "indices.csv", index=False, float_format="%.6g")
        fan.to_csv(tmp / "fan.csv", index=False, float_format="%.8g")
        attrs = {"method": method, "n": n, "runs": design.runs, "seed": seed, "scenario": chosen.name,
                 "conf": f"half-width of the {CONFIDENCE:.0%} bootstrap confidence interval"}
        indices_dataset(result.indices, result.convergence, attrs).to_netcdf(tmp / "indices.nc")
        write_figures(tmp / "figures", result.indices, fan, outcomes, years, len(members), chosen.name)
        seconds["writing_and_figures"] = time.perf_counter() - t
        seconds["total"] = time.perf_counter() - started
        summary = build_summary(result, outcomes, years, seconds["total"], dtype)
        manifest["timings_seconds"] = {k: round(v, 2) for k, v in seconds.items()}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        files.summary = summary  # type: ignore[attr-defined]

    folder = write_new_folder(out, files)
    return folder, files.summary  # type: ignore[attr-defined]


def format_summary(summary: dict) -> str:
    """Lines for stdout: convergence and the leading factors per outcome."""
    main = "ST" if summary["method"] == "sobol" else "mu_star"
    runs = f"{summary['runs']:,} runs ({summary.get('dtype', 'float64')})"
    lines = [f"{summary['method']}: N = {summary['n']}, {runs}, {summary['seconds']:.0f} s"]
    for outcome, check in summary["convergence"].items():
        changes = ", ".join(f"{y}: {v:.3f}" if v is not None else f"{y}: n/a"
                            for y, v in check["max_abs_change"].items())
        verdict = "converged" if check["converged"] else "not converged"
        lines.append(f"  {outcome:22s} {verdict} (max |Δ{main}| N/2→N {changes}; tolerance {check['tolerance']})")
        for year, top in summary["top_factors"][outcome].items():
            lines.append(f"      {year}: " + ", ".join(f"{t['factor']} {t[main]:.2f}" for t in top[:3]))
    lines.append("all outcomes converged" if summary["converged"] else "not converged for every outcome")
    return "\n".join(lines)


__all__ = [
    "CONVERGENCE_TOLERANCE",
    "METHODS",
    "OUTCOMES",
    "PARAMETER_GROUPS",
    "Design",
    "Factor",
    "Outcome",
    "PipelineResult",
    "analyze",
    "base_constants",
    "build_summary",
    "check_outcomes",
    "convergence",
    "define_factors",
    "fan_quantiles",
    "format_summary",
    "group_names",
    "half_design",
    "model_evaluator",
    "outcome_series",
    "projection_years",
    "run_pipeline",
    "salib_problem",
    "sample_design",
    "sensitivity_to_folder",
    "write_figures",
]
