"""Calibration against history: a maximum a posteriori fit through the fast engine.

The free parameters with ``calibrate = true`` in calibration/parameters.toml are fitted
to the targets of calibration/targets.toml (population by region and broad age group,
births, TFR, deaths, net and origin × destination migration, fiscal autonomy, GRDP and
employment) with ``scipy.optimize.least_squares`` (trust-region reflective, bounded),
in a space where each parameter runs from 0 to 1 over its range. The Jacobian is taken
by forward differences, all perturbed members run as one ensemble of the fast engine.

The residual vector is the posterior's: the weighted, normalised data residuals
(:func:`residuals`) divided by their standard deviation ``s`` (estimated from the misfit
and the effective number of residuals, as the constrained ensemble does), followed by the prior residuals (:func:`prior_residuals`):
(θ − prior_mean)/prior_sd for a parameter with ``prior = "normal"`` and, for a
subscripted parameter with a ``spread``, (θ_r − mean_r θ)/spread for each element, which
shrinks the regions towards their common value. A uniform prior adds nothing within its
range. ``s`` is estimated at the start point and held during a search; when it ends, ``s``
is estimated again where it ended, and if it moved by more than :data:`SCALE_TOLERANCE`
the search runs again from there (a start far from the data, such as the defaults, gives a
large ``s``, under which the priors would outweigh the data). The fit stops when a search
converges (relative tolerances :data:`TOLERANCE`) with ``s`` settled; :data:`MAX_EVALUATIONS`
is only a safety cap, reported when hit.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from kbalance.calibration.report import effective_residuals, fit_report, headline_statistics, plot_fit
from kbalance.calibration.targets import Target, history_run, last_time, read_targets, target_variables
from kbalance.calibration.totals import national_totals
from kbalance.engine.compiler import compile_model
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import fitted_versions, parameter_definitions
from kbalance.outputs import check_new_folder, data_hash, model_hash, replace_file, write_new_folder
from kbalance.paths import calibration_dir, read_toml

#: Safety cap on the least-squares evaluations of a calibration (each one ensemble of the
#: fast engine); a fit stops at convergence well before it, and reports when it did not.
MAX_EVALUATIONS = 500
#: Relative tolerances of the optimiser on the cost, the step and the gradient [-].
TOLERANCE = 1e-6
#: Largest relative change [-] of the data residuals' scale s between the start and the end of
#: a search for the fit to stand; otherwise it searches again with s re-estimated at its end.
SCALE_TOLERANCE = 0.05
#: Most searches of one fit.
MAX_SCALE_ROUNDS = 10
#: A fitted value this close to a limit, in unit-cube coordinates, sits at its bound [-].
AT_BOUND = 1e-3


# ---------------------------------------------------------------------------
# Parameters in the unit cube
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FreeParameter:
    """One fitted parameter, or one element of a subscripted one.

    key : str  its key in calibration/parameters.toml
    column : str  its engine column, ``name`` or ``name[element]``
    low, high : float  its range [model units]
    default : float  its default value, where the search starts without a fitted set [model units]
    prior_mean, prior_sd : float or None  its normal prior [model units]; None for a uniform prior
    spread : float or None  for an element of a subscripted parameter, the standard deviation
        of the elements about their mean [model units]; None without shrinkage
    """

    key: str
    column: str
    low: float
    high: float
    default: float
    prior_mean: float | None = None
    prior_sd: float | None = None
    spread: float | None = None

    @property
    def prior(self) -> str:
        """``"normal"`` or ``"uniform"``."""
        return "uniform" if self.prior_sd is None else "normal"


def free_parameters(definitions: dict | None = None) -> list[FreeParameter]:
    """The fitted parameters, one per element for subscripted ones."""
    definitions = definitions or parameter_definitions()
    model = compile_model()
    out = []
    for key, spec in definitions.items():
        if not spec.get("calibrate", False):
            continue
        low, high = (float(x) for x in spec["range"])
        normal = spec.get("prior") == "normal"
        prior = {"prior_mean": float(spec["prior_mean"]) if normal else None,
                 "prior_sd": float(spec["prior_sd"]) if normal else None}
        dims = spec.get("dims")
        if dims:
            elements = model.subscripts[dims[0]]
            defaults = np.broadcast_to(np.asarray(spec["default"], float), (len(elements),))
            spread = float(spec["spread"]) if "spread" in spec else None
            out += [FreeParameter(key, f"{spec['model']}[{e}]", low, high, float(d), spread=spread, **prior)
                    for e, d in zip(elements, defaults)]
        else:
            out.append(FreeParameter(key, spec["model"], low, high, float(spec["default"]), **prior))
    return out


def prior_residuals(x: np.ndarray, params: Sequence[FreeParameter]) -> tuple[np.ndarray, np.ndarray]:
    """The prior's residuals at ``x`` (unit-cube coordinates) [-] and their Jacobian.

    One residual (θ − prior_mean)/prior_sd per parameter with a normal prior, then one
    (θ_r − mean θ)/spread per element of each subscripted parameter with a spread. The
    maps are linear, so the Jacobian (residual × parameter, in unit coordinates) is exact.
    """
    x = np.asarray(x, float)
    width = np.array([p.high - p.low for p in params])
    theta = np.array([p.low for p in params]) + x * width
    rows, jac = [], []
    for i, p in enumerate(params):
        if p.prior_sd is not None:
            rows.append((theta[i] - p.prior_mean) / p.prior_sd)
            row = np.zeros(len(params))
            row[i] = width[i] / p.prior_sd
            jac.append(row)
    for key in dict.fromkeys(p.key for p in params if p.spread is not None):
        index = np.array([i for i, p in enumerate(params) if p.key == key])
        spread = params[index[0]].spread
        rows += list((theta[index] - theta[index].mean()) / spread)
        centring = np.eye(index.size) - 1.0 / index.size
        for k in range(index.size):
            row = np.zeros(len(params))
            row[index] = centring[k] * width[index] / spread
            jac.append(row)
    return np.array(rows, float), np.array(jac, float).reshape(len(rows), len(params))


def prior_unit(params: Sequence[FreeParameter]) -> np.ndarray:
    """The parameters' defaults in unit-cube coordinates [-]."""
    return np.array([(p.default - p.low) / (p.high - p.low) for p in params])


def to_table(params: Sequence[FreeParameter], unit_rows: np.ndarray) -> pd.DataFrame:
    """Rows of unit-cube coordinates → a members × parameter-columns table [model units]."""
    rows = np.atleast_2d(unit_rows)
    low = np.array([p.low for p in params])
    high = np.array([p.high for p in params])
    return pd.DataFrame(low + rows * (high - low), columns=[p.column for p in params])


def read_fitted_unit(path: Path, params: Sequence[FreeParameter]) -> tuple[np.ndarray, int]:
    """A fitted set's values in unit-cube coordinates, and the year it was fitted to.

    Parameters the set lacks take their defaults; values of parameters that
    calibration/parameters.toml no longer defines (a set fitted to an earlier model)
    are ignored, so an older set can start a new fit.
    """
    raw = read_toml(path, "fitted set", "a TOML file with [meta] and [values]")
    definitions = parameter_definitions()
    model = compile_model()
    columns = {}
    for key, value in raw.get("values", {}).items():
        if key not in definitions:
            continue
        spec = definitions[key]
        if spec.get("dims"):
            for element, v in zip(model.subscripts[spec["dims"][0]], value):
                columns[f"{spec['model']}[{element}]"] = v
        else:
            columns[spec["model"]] = value
    x = np.array([(columns.get(p.column, p.default) - p.low) / (p.high - p.low) for p in params])
    return x, int(raw.get("meta", {}).get("until", 2024))


# ---------------------------------------------------------------------------
# Model against targets
# ---------------------------------------------------------------------------


def simulate_targets(table: pd.DataFrame, targets: Sequence[Target], workers: int = 1,
                     chunk_size: int = 100) -> dict[str, np.ndarray]:
    """Model values at the targets' times: name → (member, year, …) [model units].

    The runs are history runs (:func:`kbalance.calibration.targets.history_run`)."""
    result = history_run(table, last_time(targets), target_variables(targets), workers, chunk_size)
    return {t.name: result[t.variable].sel(year=t.times).values for t in targets}


def residuals(model: dict[str, np.ndarray], targets: Sequence[Target]) -> np.ndarray:
    """Weighted, normalised residuals (member, n) [-] with observations' NaN cells dropped."""
    parts = []
    for t in targets:
        mask = np.isfinite(t.observed)
        diff = (model[t.name] - t.observed[None, ...]) * np.sqrt(t.weight) / t.scale
        parts.append(diff[:, mask])
    return np.concatenate(parts, axis=1)


def residuals_and_jacobian(x: np.ndarray, params: Sequence[FreeParameter], targets: Sequence[Target],
                           workers: int = 1, step: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Residuals at ``x`` (unit-cube coordinates) and their forward-difference Jacobian
    (stepping inwards at a bound), all members run as one ensemble."""
    rows = [x]
    for i in range(len(x)):
        y = x.copy()
        y[i] = y[i] + step if y[i] + step <= 1 else y[i] - step
        rows.append(y)
    rows = np.array(rows)
    r = residuals(simulate_targets(to_table(params, rows), targets, workers,
                                   chunk_size=int(np.ceil(len(rows) / workers))), targets)
    return r[0], (r[1:] - r[0]).T / (rows[1:] - x).sum(axis=1)


# ---------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------


@dataclass
class FitResult:
    """A fitted parameter set and how it was reached.

    values : engine column → fitted value [model units]
    unit : the fitted values in unit-cube coordinates [-]
    cost, initial_cost : the posterior objective (half the sum of squared data residuals
        over s² and prior residuals) at the end and the start [-]
    evaluations : least-squares evaluations used (each one ensemble of the fast engine)
    status : the optimiser's message
    until : last observed year fitted [calendar year]
    start : the starting set, ``parameters.toml`` (the defaults) or a fitted set's file name
    converged : the optimiser met a tolerance (False: it stopped at the evaluation cap)
    data_scale : s, the standard deviation of the normalised data residuals [-]
    data_points, effective_data_points : observed cells fitted, and their number corrected
        for the lag-one autocorrelation of the residuals [-]
    data_cost, prior_cost : the two parts of ``cost`` [-]
    scale_rounds : searches run, each with s re-estimated where the previous one ended
    """

    values: dict[str, float]
    unit: np.ndarray
    cost: float
    initial_cost: float
    evaluations: int
    status: str
    until: int
    start: str = "parameters.toml"
    converged: bool = True
    data_scale: float = 1.0
    data_points: int = 0
    effective_data_points: float = 0.0
    data_cost: float = float("nan")
    prior_cost: float = float("nan")
    scale_rounds: int = 1


def data_scale(x: np.ndarray, params: Sequence[FreeParameter], targets: Sequence[Target]) -> tuple[float, int, float]:
    """s, the standard deviation of the normalised data residuals at ``x`` [-], with the
    residuals' count and effective count: s² = r·r / (n_eff − p), as the constrained
    ensemble estimates it (n_eff: :func:`kbalance.calibration.report.effective_residuals`)."""
    model = {k: v[0] for k, v in simulate_targets(to_table(params, x), targets).items()}
    r = residuals({k: v[None] for k, v in model.items()}, targets)[0]
    n_eff = max(len(params) + 1.0, effective_residuals(model, targets, r.size))
    return float(np.sqrt(r @ r / (n_eff - len(params)))), int(r.size), float(n_eff)


def fit(until: int = 2024, max_evaluations: int = MAX_EVALUATIONS, workers: int = 1,
        progress: bool = True, start: Path | None = None) -> FitResult:
    """The maximum a posteriori fit of the free parameters to the targets observed up to ``until``.

    The search starts from the defaults of calibration/parameters.toml, or from the
    values of a fitted set ``start`` (parameters it lacks keep their defaults); the data
    residuals' scale s is estimated there (:func:`data_scale`) and held during a search,
    then estimated again where the search ended, which runs again from there until s
    moves by at most :data:`SCALE_TOLERANCE` (at most :data:`MAX_SCALE_ROUNDS` searches).
    It runs until the optimiser converges (:data:`TOLERANCE`) with s settled, at most
    ``max_evaluations`` evaluations in all (``converged`` False otherwise).
    Each evaluation runs the base point and one member per parameter as one ensemble;
    ``workers`` > 1 spreads it over local processes (worth it only for long histories).
    """
    targets = read_targets(until=until)
    params = free_parameters()
    x0 = prior_unit(params) if start is None else np.clip(read_fitted_unit(Path(start), params)[0], 0.0, 1.0)
    scale, n_data, n_eff = data_scale(x0, params, targets)
    x, evaluations = x0, 0
    for rounds in range(1, MAX_SCALE_ROUNDS + 1):
        result, initial = _fit_at_scale(x, scale, params, targets, max_evaluations - evaluations, workers, progress)
        if rounds == 1:
            initial_cost = initial
        x, evaluations = result.x, evaluations + int(result.nfev)
        new_scale, n_data, n_eff = data_scale(x, params, targets)
        settled = abs(new_scale / scale - 1) <= SCALE_TOLERANCE
        if settled or result.status <= 0 or evaluations >= max_evaluations:
            break
        if progress:
            print(f"calibrate: data scale {scale:.4g} -> {new_scale:.4g}, fitting again", file=sys.stderr, flush=True)
        scale = new_scale
    rp = prior_residuals(x, params)[0]
    table = to_table(params, x)
    return FitResult(values={c: float(v) for c, v in table.iloc[0].items()}, unit=x,
                     cost=float(result.cost), initial_cost=initial_cost,
                     evaluations=evaluations, status=str(result.message), until=until,
                     start=Path(start).name if start else "parameters.toml",
                     converged=bool(result.status > 0) and settled,
                     data_scale=scale, data_points=n_data, effective_data_points=n_eff,
                     data_cost=float(result.cost) - 0.5 * float(rp @ rp), prior_cost=0.5 * float(rp @ rp),
                     scale_rounds=rounds)


def _fit_at_scale(x0: np.ndarray, scale: float, params: Sequence[FreeParameter], targets: Sequence[Target],
                  max_evaluations: int, workers: int, progress: bool):
    """One least-squares search from ``x0`` with the data residuals' scale held at ``scale``;
    returns scipy's result and the cost at ``x0`` [-]."""
    cache: dict[bytes, tuple[np.ndarray, np.ndarray, float]] = {}

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        key = x.tobytes()
        if key not in cache:
            r, jac = residuals_and_jacobian(x, params, targets, workers)
            rp, jp = prior_residuals(x, params)
            data = 0.5 * float(r @ r) / scale ** 2
            cache.clear()
            cache[key] = (np.concatenate([r / scale, rp]), np.vstack([jac / scale, jp]), data)
            if progress:
                print(f"calibrate: cost {data + 0.5 * float(rp @ rp):.6g} (data {data:.6g})", file=sys.stderr, flush=True)
        return cache[key]

    initial = evaluate(x0)[0]
    result = least_squares(lambda x: evaluate(x)[0], x0, jac=lambda x: evaluate(x)[1], bounds=(0.0, 1.0),
                           method="trf", x_scale=1.0, max_nfev=max(1, max_evaluations),
                           ftol=TOLERANCE, xtol=TOLERANCE, gtol=TOLERANCE)
    return result, 0.5 * float(initial @ initial)


def parameter_report(params: Sequence[FreeParameter], unit: np.ndarray) -> pd.DataFrame:
    """Every free parameter's prior, estimate and whether it sits at a bound: one row per
    engine column (key, column, prior, prior_mean, prior_sd, spread, low, high, default,
    estimate [model units], z = (estimate − prior_mean)/prior_sd [-], at_bound: "low",
    "high" or "" within :data:`AT_BOUND` of the range in unit coordinates)."""
    estimate = to_table(params, unit).iloc[0].to_numpy()
    unit = np.atleast_1d(unit)
    rows = []
    for p, value, u in zip(params, estimate, unit):
        rows.append({"key": p.key, "column": p.column, "prior": p.prior, "prior_mean": p.prior_mean,
                     "prior_sd": p.prior_sd, "spread": p.spread, "low": p.low, "high": p.high, "default": p.default,
                     "estimate": float(value),
                     "z": (value - p.prior_mean) / p.prior_sd if p.prior_sd is not None else np.nan,
                     "at_bound": "low" if u <= AT_BOUND else "high" if u >= 1 - AT_BOUND else ""})
    return pd.DataFrame(rows)


def fit_overview(result: FitResult, report: pd.DataFrame) -> pd.DataFrame:
    """How the fit went, one statistic a row: free parameters against data points, those at
    a bound, evaluations, whether the cap was hit, the cost and its data and prior parts."""
    at_bound = int((report["at_bound"] != "").sum())
    values = {"free_parameters": len(report), "data_points": result.data_points,
              "effective_data_points": result.effective_data_points, "parameters_at_bound": at_bound,
              "share_at_bound_pct": 100.0 * at_bound / max(len(report), 1), "evaluations": result.evaluations,
              "hit_evaluation_cap": int(not result.converged), "data_scale": result.data_scale,
              "initial_cost": result.initial_cost, "cost": result.cost, "data_cost": result.data_cost,
              "prior_cost": result.prior_cost, "scale_rounds": result.scale_rounds}
    return pd.DataFrame({"statistic": list(values), "value": [float(v) for v in values.values()]})


# ---------------------------------------------------------------------------
# Fitted sets
# ---------------------------------------------------------------------------


def next_version() -> str:
    """The next free version name v<N> in calibration/fitted/."""
    return f"v{max(fitted_versions(), default=0) + 1}"


def fitted_set_text(result: FitResult) -> str:
    """The fitted values as a parameter set: TOML with a [meta] table (how it was fitted)
    and a [values] table keyed by parameters.toml keys."""
    definitions = parameter_definitions()
    model = compile_model()
    grouped: dict[str, list | float] = {}
    for key, spec in definitions.items():
        if not spec.get("calibrate", False):
            continue
        dims = spec.get("dims")
        if dims:
            grouped[key] = [result.values[f"{spec['model']}[{e}]"] for e in model.subscripts[dims[0]]]
        else:
            grouped[key] = result.values[spec["model"]]
    lines = [f"# Parameter set fitted by `kbalance calibrate --until {result.until}`.",
             f"# created {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
             "[meta]", f"until = {result.until}", f"cost = {result.cost!r}",
             f"initial_cost = {result.initial_cost!r}", f"evaluations = {result.evaluations}",
             f"status = {json.dumps(result.status)}", f"converged = {str(result.converged).lower()}",
             f"data_scale = {result.data_scale!r}", f"scale_rounds = {result.scale_rounds}",
             f"data_points = {result.data_points}",
             f'start = "{result.start}"', f'model_sha256 = "{model_hash()}"',
             f'data_sha256 = "{data_hash()}"', "", "[values]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in grouped.items()]
    return "\n".join(lines) + "\n"


def write_fitted_set(result: FitResult, path: Path) -> Path:
    """Write the fitted set of ``result`` to ``path`` atomically (:func:`fitted_set_text`)."""
    text = fitted_set_text(result)
    return replace_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def calibrate(until: int = 2024, out: Path | None = None, version: str | None = None,
              max_evaluations: int = MAX_EVALUATIONS, start: Path | None = None) -> tuple[Path, Path]:
    """Fit, write calibration/fitted/<version>.toml and a report folder ``out`` (default
    calibration/reports/<version>); returns both paths.

    The report: fit_statistics.csv (per target, the per-region headline of
    :func:`kbalance.calibration.report.headline_statistics`), fit_statistics_regions.csv
    (per target and region), the same two for the start point (``_prior``),
    parameters.csv (:func:`parameter_report`), fit_overview.csv (:func:`fit_overview`),
    national_totals.csv (:func:`kbalance.calibration.totals.national_totals`) and the fit
    figures."""
    version = version or next_version()
    target_path = calibration_dir() / "fitted" / f"{version}.toml"
    if target_path.exists():
        raise InvalidValueError(target_path, "--version", "exists", "a new version name")
    out = check_new_folder(Path(out) if out else calibration_dir() / "reports" / version)
    result = fit(until=until, max_evaluations=max_evaluations, start=start)
    targets = read_targets(until=until)
    params = free_parameters()
    model = {k: v[0] for k, v in simulate_targets(to_table(params, result.unit), targets).items()}
    prior = {k: v[0] for k, v in simulate_targets(to_table(params, prior_unit(params)), targets).items()}
    report = parameter_report(params, result.unit)
    totals = national_totals(to_table(params, result.unit))

    def write_report(folder: Path) -> None:
        for suffix, values in (("", model), ("_prior", prior)):
            regions = fit_report(values, targets)
            regions.to_csv(folder / f"fit_statistics{suffix}_regions.csv", index=False, float_format="%.6g")
            headline_statistics(regions).to_csv(folder / f"fit_statistics{suffix}.csv", index=False,
                                                float_format="%.6g")
        report.to_csv(folder / "parameters.csv", index=False, float_format="%.6g")
        fit_overview(result, report).to_csv(folder / "fit_overview.csv", index=False, float_format="%.6g")
        totals.to_csv(folder / "national_totals.csv", index=False, float_format="%.6g")
        plot_fit(model, targets, folder)

    write_new_folder(out, write_report)
    write_fitted_set(result, target_path)
    return target_path, out
