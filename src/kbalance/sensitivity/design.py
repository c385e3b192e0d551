"""Sampling and analysis of a SALib problem, independent of the model.

A SALib *problem* (factor names, bounds, groups) is sampled (:func:`sample_design`,
Saltelli's scheme on a Sobol' sequence, or Morris trajectories); an ``evaluate`` callable
maps the sample (runs × factors) to outputs (runs × outcomes × years); every outcome is
analysed at every year (:func:`analyze`) and the total indices of the nested half sample
are compared with those of the full sample (:func:`convergence`). :func:`run_pipeline`
chains the three.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analysis
from SALib.analyze import sobol as sobol_analysis
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from kbalance.errors import InvalidValueError

#: Sampling and analysis methods.
METHODS = ("sobol", "morris")

#: Default sample size per method: base samples N (Sobol) or trajectories r (Morris).
DEFAULT_N = {"sobol": 1024, "morris": 40}

#: Morris grid levels.
MORRIS_LEVELS = 4

#: Bootstrap resamples for the confidence intervals, and their level.
RESAMPLES, CONFIDENCE = 100, 0.95

#: Largest accepted change of a total index (Sobol ST, or Morris mu* over the largest
#: mu*) between the half and the full sample at the report years.
CONVERGENCE_TOLERANCE = 0.05

#: Years reported in summary.json and the bar figures (those not beyond ``until``).
REPORT_YEARS = (2050, 2070)


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


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else InvalidValueError naming ``--method``."""
    if method not in METHODS:
        raise InvalidValueError("kbalance sensitivity", "--method", method, METHODS)
    return method


def check_n(method: str, n: int) -> int:
    """``n`` if it is a valid sample size for ``method`` (Sobol: a power of two, at least 4;
    Morris: at least 2 trajectories), else InvalidValueError naming ``--n``."""
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
    check_n(check_method(method), n)
    if method == "sobol":
        X = sobol_sample.sample(problem, n, calc_second_order=second_order, seed=seed)
    else:
        X = morris_sample.sample(problem, n, num_levels=MORRIS_LEVELS, seed=seed)
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
            result = sobol_analysis.analyze(problem, y, calc_second_order=design.second_order, num_resamples=RESAMPLES,
                                   conf_level=CONFIDENCE, seed=design.seed)
            out = {k: np.asarray(result[k], float) for k in ("S1", "S1_conf", "ST", "ST_conf")}
            if design.second_order:
                out["S2"] = np.asarray(result["S2"], float)
                out["S2_conf"] = np.asarray(result["S2_conf"], float)
            return out
        result = morris_analysis.analyze(problem, design.X, y, num_resamples=RESAMPLES, conf_level=CONFIDENCE,
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
        with_s2 = set(report_years(years) if second_order_years is None else map(int, second_order_years))
        first, first_rows = replace(without_sample, second_order=False), first_order_rows(problem, design.runs)

    def task(i: int, j: int) -> tuple:
        if design.method == "morris":
            return problem, design, Y[:, i, j]
        if design.second_order and int(years[j]) not in with_s2:
            return problem, first, Y[first_rows, i, j]
        return problem, without_sample, Y[:, i, j]

    tasks = [task(i, j) for i in range(len(outcomes)) for j in range(len(years))]
    if workers > 1 and len(tasks) > 1:
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
    checked = report_years(years) if check_years is None else [y for y in check_years if y in set(years)]
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
        at = {int(y): finite_or_none(series.get(y, np.nan)) for y in checked}
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


def finite_or_none(value) -> float | None:
    """``value`` as a float, or None when it is not finite (JSON has no NaN)."""
    value = float(value)
    return value if np.isfinite(value) else None


def report_years(years: Sequence[int]) -> list[int]:
    """The years of :data:`REPORT_YEARS` among ``years``, else the last of ``years``."""
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
