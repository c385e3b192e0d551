"""Calibration against history: weighted least squares through the fast engine.

The free parameters with ``calibrate = true`` in calibration/parameters.toml are fitted
to the targets of calibration/targets.toml (population by region and broad age group,
births, TFR, deaths, net and origin × destination migration, fiscal autonomy, GRDP and
employment) with ``scipy.optimize.least_squares`` (trust-region reflective, bounded),
in a space where each parameter runs from 0 to 1 over its range. The Jacobian is taken
by forward differences, all perturbed members run as one ensemble of the fast engine.
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

from kbalance.calibration.report import fit_report, plot_fit
from kbalance.calibration.targets import Target, last_time, read_targets, target_variables
from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import fitted_versions, parameter_definitions
from kbalance.outputs import check_new_folder, data_hash, model_hash, replace_file, write_new_folder
from kbalance.paths import calibration_dir, read_toml

#: Most least-squares evaluations of a calibration, each one ensemble of the fast engine.
MAX_EVALUATIONS = 120


# ---------------------------------------------------------------------------
# Parameters in the unit cube
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FreeParameter:
    """One fitted parameter, or one element of a subscripted one.

    key : str  its key in calibration/parameters.toml
    column : str  its engine column, ``name`` or ``name[element]``
    low, high : float  its range [model units]
    default : float  its prior value [model units]
    """

    key: str
    column: str
    low: float
    high: float
    default: float


def free_parameters(definitions: dict | None = None) -> list[FreeParameter]:
    """The fitted parameters, one per element for subscripted ones."""
    definitions = definitions or parameter_definitions()
    model = compile_model()
    out = []
    for key, spec in definitions.items():
        if not spec.get("calibrate", False):
            continue
        low, high = (float(x) for x in spec["range"])
        dims = spec.get("dims")
        if dims:
            elements = model.subscripts[dims[0]]
            defaults = np.broadcast_to(np.asarray(spec["default"], float), (len(elements),))
            out += [FreeParameter(key, f"{spec['model']}[{e}]", low, high, float(d)) for e, d in zip(elements, defaults)]
        else:
            out.append(FreeParameter(key, spec["model"], low, high, float(spec["default"])))
    return out


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
    """Model values at the targets' times: name → (member, year, …) [model units]."""
    result = run_ensemble(table, None, last_time(targets), target_variables(targets),
                          chunk_size=chunk_size, workers=workers)
    return {t.name: result[t.variable].sel(year=t.times).values for t in targets}


def residuals(model: dict[str, np.ndarray], targets: Sequence[Target]) -> np.ndarray:
    """Weighted, normalised residuals (member, n) [-] with observations' NaN cells dropped."""
    parts = []
    for t in targets:
        mask = np.isfinite(t.observed)
        diff = (model[t.name] - t.observed[None, ...])[:, mask]
        parts.append(diff * np.sqrt(t.weight) / t.scale)
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
    cost, initial_cost : the objective (half the sum of squared residuals) at the end and the start [-]
    evaluations : least-squares evaluations used (each one ensemble of the fast engine)
    status : the optimiser's message
    until : last observed year fitted [calendar year]
    start : the starting set, ``parameters.toml`` (the defaults) or a fitted set's file name
    """

    values: dict[str, float]
    unit: np.ndarray
    cost: float
    initial_cost: float
    evaluations: int
    status: str
    until: int
    start: str = "parameters.toml"


def fit(until: int = 2024, max_evaluations: int = MAX_EVALUATIONS, workers: int = 1,
        progress: bool = True, start: Path | None = None) -> FitResult:
    """Fit the free parameters to the targets observed up to ``until``.

    The search starts from the defaults of calibration/parameters.toml, or from the
    values of a fitted set ``start`` (parameters it lacks keep their defaults).
    Each evaluation runs the base point and one member per parameter as one ensemble;
    ``workers`` > 1 spreads it over local processes (worth it only for long histories).
    """
    targets = read_targets(until=until)
    params = free_parameters()
    x0 = prior_unit(params) if start is None else np.clip(read_fitted_unit(Path(start), params)[0], 0.0, 1.0)
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = x.tobytes()
        if key not in cache:
            r, jac = residuals_and_jacobian(x, params, targets, workers)
            cache.clear()
            cache[key] = (r, jac)
            if progress:
                print(f"calibrate: cost {0.5 * float(r @ r):.6g}", file=sys.stderr, flush=True)
        return cache[key]

    initial = evaluate(x0)[0]
    result = least_squares(lambda x: evaluate(x)[0], x0, jac=lambda x: evaluate(x)[1], bounds=(0.0, 1.0),
                           method="trf", x_scale=1.0, max_nfev=max_evaluations)
    table = to_table(params, result.x)
    return FitResult(values={c: float(v) for c, v in table.iloc[0].items()}, unit=result.x,
                     cost=float(result.cost), initial_cost=0.5 * float(initial @ initial),
                     evaluations=int(result.nfev), status=str(result.message), until=until,
                     start=Path(start).name if start else "parameters.toml")


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
             f"status = {json.dumps(result.status)}", f'start = "{result.start}"', f'model_sha256 = "{model_hash()}"',
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
    calibration/reports/<version>: fit_statistics.csv, fit_statistics_prior.csv and the
    fit figures); returns both paths."""
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

    def write_report(folder: Path) -> None:
        fit_report(model, targets).to_csv(folder / "fit_statistics.csv", index=False, float_format="%.6g")
        fit_report(prior, targets).to_csv(folder / "fit_statistics_prior.csv", index=False, float_format="%.6g")
        plot_fit(model, targets, folder)

    write_new_folder(out, write_report)
    write_fitted_set(result, target_path)
    return target_path, out
