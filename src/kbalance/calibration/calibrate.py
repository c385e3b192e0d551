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
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from kbalance.observations import dataset as data
from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.paths import calibration_dir, read_toml
from kbalance.regions import load_regions
from kbalance.outputs import data_hash, model_hash
from kbalance.model.parameters import parameter_definitions

FIRST_YEAR = 2001


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One observed series and the model variable it is compared with.

    observed : array (year, region) or (year, origin, destination) [model units], NaN where missing
    years : array  calendar years of the observations
    offset : int  model Time = year + offset
    """

    name: str
    series: str
    variable: str
    years: np.ndarray
    observed: np.ndarray
    offset: int
    weight: float
    scale: float  # normalisation of residuals

    @property
    def times(self) -> np.ndarray:
        return self.years + self.offset


def read_targets(path: Path | None = None, until: int = 2024, root: Path | None = None) -> list[Target]:
    """The calibration targets with their observations up to ``until`` (calendar year).

    A target with no observation in the window is left out.
    """
    path = Path(path) if path else calibration_dir() / "targets.toml"
    specs = read_toml(path, "targets", "calibration/targets.toml")
    codes = list(load_regions().index)
    targets = []
    for name, spec in specs.items():
        for key in ("series", "variable"):
            if key not in spec:
                raise InvalidValueError(path, f"{name}.{key}", "missing", "a series and a model variable")
        first = max(FIRST_YEAR, int(spec.get("first_year", FIRST_YEAR)))
        offset = int(spec.get("offset", 0))
        last = until  # a year-end stock of `until` is compared at model Time until + offset
        scale_unit = float(spec.get("scale", 1.0))
        if spec["series"] == data.OD_SERIES:
            od = data.load_od(root).sel(year=slice(first, last))
            values = od.values.astype(float) * scale_unit
            for i in range(values.shape[1]):
                values[:, i, i] = np.nan  # moves within a region are not modelled
            years = od.year.values.astype(int)
        else:
            rows = data.load_series(spec["series"], root)
            rows = rows[(rows["year"] >= first) & (rows["year"] <= last) & rows["region_code"].isin(codes)]
            table = rows.pivot(index="year", columns="region_code", values="value").reindex(columns=codes)
            years = table.index.to_numpy(int)
            values = table.to_numpy(float) * scale_unit
        finite = values[np.isfinite(values)]
        if finite.size == 0:  # nothing observed in the window (e.g. age groups before 2011): not fitted
            continue
        norm = np.sqrt(np.mean(finite ** 2)) if spec.get("normalise") == "rms" else np.mean(np.abs(finite))
        targets.append(Target(name, spec["series"], spec["variable"], years, values, offset,
                              float(spec.get("weight", 1.0)), float(norm * np.sqrt(finite.size))))
    return targets


def target_goals(path: Path | None = None) -> dict[str, tuple[str, float]]:
    """The accuracy goals of calibration/targets.toml: target → ("r2" or "mape", value),
    from ``goal_r2`` or ``goal_mape`` [%]; a target may have none, not both."""
    path = Path(path) if path else calibration_dir() / "targets.toml"
    goals = {}
    for name, spec in read_toml(path, "targets", "calibration/targets.toml").items():
        found = [k for k in ("goal_r2", "goal_mape") if k in spec]
        if len(found) > 1:
            raise InvalidValueError(path, f"{name}.goal_r2", "both goals given", "goal_r2 or goal_mape, not both")
        for key in found:
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidValueError(path, f"{name}.{key}", value, "a non-negative number")
            goals[name] = (key.removeprefix("goal_"), float(value))
    return goals


# ---------------------------------------------------------------------------
# Parameters in the unit cube
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FreeParameter:
    key: str       # parameters.toml key
    column: str    # engine column: "name" or "name[element]"
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


def to_table(params: Sequence[FreeParameter], unit_rows: np.ndarray) -> pd.DataFrame:
    """Rows of unit-cube coordinates → a members × parameter-columns table."""
    rows = np.atleast_2d(unit_rows)
    low = np.array([p.low for p in params])
    high = np.array([p.high for p in params])
    return pd.DataFrame(low + rows * (high - low), columns=[p.column for p in params])


# ---------------------------------------------------------------------------
# Model against targets
# ---------------------------------------------------------------------------


def simulate_targets(table: pd.DataFrame, targets: Sequence[Target], workers: int = 1,
                     chunk_size: int = 100) -> dict[str, np.ndarray]:
    """Model values at the targets' times: name → (member, year, …)."""
    until = int(max(t.times.max() for t in targets))
    variables = sorted({t.variable for t in targets})
    result = run_ensemble(table, None, until, variables, chunk_size=chunk_size, workers=workers)
    out = {}
    for t in targets:
        values = result[t.variable].sel(year=t.times).values
        out[t.name] = values
    return out


def residuals(model: dict[str, np.ndarray], targets: Sequence[Target]) -> np.ndarray:
    """Weighted, normalised residuals (member, n) with observations' NaN cells dropped."""
    parts = []
    for t in targets:
        mask = np.isfinite(t.observed)
        diff = (model[t.name] - t.observed[None, ...])[:, mask]
        parts.append(diff * np.sqrt(t.weight) / t.scale)
    return np.concatenate(parts, axis=1)


def _residuals_and_jacobian(x: np.ndarray, params: Sequence[FreeParameter], targets: Sequence[Target],
                            workers: int = 1, step: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Residuals at ``x`` and their forward-difference Jacobian (stepping inwards at a bound),
    all members run as one ensemble."""
    rows = [x]
    for i in range(len(x)):
        y = x.copy()
        y[i] = y[i] + step if y[i] + step <= 1 else y[i] - step
        rows.append(y)
    rows = np.array(rows)
    r = residuals(simulate_targets(to_table(params, rows), targets, workers,
                                   chunk_size=int(np.ceil(len(rows) / workers))), targets)
    return r[0], (r[1:] - r[0]).T / (rows[1:] - x).sum(axis=1)


@dataclass
class FitResult:
    """A fitted parameter set and how it was reached."""

    values: dict[str, float]          # engine column → value
    unit: np.ndarray
    cost: float
    initial_cost: float
    iterations: int
    status: str
    until: int
    start: str = "parameters.toml"


def fit(until: int = 2024, max_iterations: int = 30, workers: int = 1,
        progress: bool = True, start: Path | None = None) -> FitResult:
    """Fit the free parameters to the targets observed up to ``until``.

    The search starts from the defaults of calibration/parameters.toml, or from the
    values of a fitted set ``start`` (parameters it lacks keep their defaults).
    Each evaluation runs the base point and one member per parameter as one ensemble;
    ``workers`` > 1 spreads it over local processes (worth it only for long histories).
    """
    import sys

    targets = read_targets(until=until)
    params = free_parameters()
    if start is None:
        x0 = np.array([(p.default - p.low) / (p.high - p.low) for p in params])
    else:
        x0 = np.clip(read_fitted_unit(Path(start), params)[0], 0.0, 1.0)
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = x.tobytes()
        if key not in cache:
            r, jac = _residuals_and_jacobian(x, params, targets, workers)
            cache.clear()
            cache[key] = (r, jac)
            if progress:
                print(f"calibrate: cost {0.5 * float(r @ r):.6g}", file=sys.stderr, flush=True)
        return cache[key]

    initial = evaluate(x0)[0]
    result = least_squares(lambda x: evaluate(x)[0], x0, jac=lambda x: evaluate(x)[1], bounds=(0.0, 1.0),
                           method="trf", x_scale=1.0, max_nfev=max_iterations)
    table = to_table(params, result.x)
    return FitResult(values={c: float(v) for c, v in table.iloc[0].items()}, unit=result.x,
                     cost=float(result.cost), initial_cost=0.5 * float(initial @ initial),
                     iterations=int(result.nfev), status=str(result.message), until=until,
                     start=Path(start).name if start else "parameters.toml")


# ---------------------------------------------------------------------------
# Statistics and report
# ---------------------------------------------------------------------------


def fit_statistics(model: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """RMSE, MAPE [%], R² and Theil's decomposition of the mean squared error.

    U^M (bias), U^S (unequal variation) and U^C (unequal covariation) sum to 1
    (Sterman 1984); NaN observations are ignored.
    """
    mask = np.isfinite(observed) & np.isfinite(model)
    m, o = np.asarray(model, float)[mask], np.asarray(observed, float)[mask]
    n = m.size
    if n == 0:
        return {"n": 0, "rmse": np.nan, "mape": np.nan, "r2": np.nan, "um": np.nan, "us": np.nan, "uc": np.nan}
    mse = float(np.mean((m - o) ** 2))
    nonzero = o != 0
    mape = float(np.mean(np.abs((m[nonzero] - o[nonzero]) / o[nonzero])) * 100) if nonzero.any() else np.nan
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    r2 = 1 - float(np.sum((m - o) ** 2)) / ss_tot if ss_tot > 0 else np.nan
    sm, so = m.std(), o.std()
    r = float(np.corrcoef(m, o)[0, 1]) if sm > 0 and so > 0 else 0.0
    if mse > 0:
        um, us, uc = (m.mean() - o.mean()) ** 2 / mse, (sm - so) ** 2 / mse, 2 * (1 - r) * sm * so / mse
    else:
        um = us = uc = 0.0
    return {"n": int(n), "rmse": float(np.sqrt(mse)), "mape": mape, "r2": r2,
            "um": float(um), "us": float(us), "uc": float(uc)}


def fit_report(model: dict[str, np.ndarray], targets: Sequence[Target]) -> pd.DataFrame:
    """Statistics per target and region (and over all region-years): one row each."""
    names = dict(zip(load_regions().index, load_regions()["name_en"]))
    codes = list(names)
    rows = []
    for t in targets:
        m = model[t.name]
        if t.observed.ndim == 3:  # origin × destination: by origin region
            for i, code in enumerate(codes):
                rows.append({"target": t.name, "series": t.series, "region": code, **fit_statistics(m[:, i], t.observed[:, i])})
        else:
            for i, code in enumerate(codes):
                rows.append({"target": t.name, "series": t.series, "region": code, **fit_statistics(m[:, i], t.observed[:, i])})
        rows.append({"target": t.name, "series": t.series, "region": "all", **fit_statistics(m, t.observed)})
    return pd.DataFrame(rows)


def plot_fit(model: dict[str, np.ndarray], targets: Sequence[Target], folder: Path) -> list[Path]:
    """One figure per target: model (line) against observations (dots) for each region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = load_regions()
    written = []
    for t in targets:
        if t.observed.ndim != 2:
            continue
        fig, axes = plt.subplots(3, 6, figsize=(16, 8), sharex=True)
        for i, ax in enumerate(axes.flat):
            if i >= len(table):
                ax.axis("off")
                continue
            ax.plot(t.years, model[t.name][:, i], color="#1f5fa8", lw=1.5, label="model")
            ax.plot(t.years, t.observed[:, i], "o", ms=2.5, color="#d1495b", label="observed")
            ax.set_title(table.iloc[i]["name_en"], fontsize=9)
            ax.tick_params(labelsize=7)
        axes.flat[0].legend(fontsize=7, frameon=False)
        fig.suptitle(f"{t.variable} against {t.series} (calibration fit)", fontsize=11)
        fig.tight_layout()
        path = folder / f"fit_{t.name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def next_version(folder: Path) -> str:
    """calibration/fitted/v<N>: the next free version name."""
    taken = [int(p.stem[1:]) for p in folder.glob("v*.toml") if p.stem[1:].isdigit()]
    return f"v{max(taken, default=0) + 1}"


def write_fitted_set(result: FitResult, path: Path) -> Path:
    """The fitted values as a parameter set (a [values] table keyed by parameters.toml keys)."""
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
             f"initial_cost = {result.initial_cost!r}", f"evaluations = {result.iterations}",
             f"status = {json.dumps(result.status)}", f'start = "{result.start}"', f'model_sha256 = "{model_hash()}"',
             f'data_sha256 = "{data_hash()}"', "", "[values]"]
    for key, value in grouped.items():
        lines.append(f"{key} = {json.dumps(value)}")
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def calibrate(until: int = 2024, out: Path | None = None, version: str | None = None,
              max_iterations: int = 30, start: Path | None = None) -> tuple[Path, Path]:
    """Fit, write calibration/fitted/<version>.toml and a report folder; returns both paths."""
    fitted_dir = calibration_dir() / "fitted"
    version = version or next_version(fitted_dir)
    target_path = fitted_dir / f"{version}.toml"
    if target_path.exists():
        raise InvalidValueError(target_path, "--version", "exists", "a new version name")
    out = Path(out) if out else calibration_dir() / "reports" / version
    if out.exists():
        raise InvalidValueError(out, "--out", "folder exists", "a folder that does not exist yet")
    result = fit(until=until, max_iterations=max_iterations, start=start)
    targets = read_targets(until=until)
    params = free_parameters()
    model = {k: v[0] for k, v in simulate_targets(to_table(params, result.unit), targets).items()}
    prior = {k: v[0] for k, v in simulate_targets(to_table(params, np.array(
        [(p.default - p.low) / (p.high - p.low) for p in params])), targets).items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        report = fit_report(model, targets)
        report.to_csv(tmp / "fit_statistics.csv", index=False, float_format="%.6g")
        fit_report(prior, targets).to_csv(tmp / "fit_statistics_prior.csv", index=False, float_format="%.6g")
        plot_fit(model, targets, tmp)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_fitted_set(result, target_path)
    return target_path, out


# ---------------------------------------------------------------------------
# Out-of-sample backtest
# ---------------------------------------------------------------------------

#: Years whose balancing residual is dominated by a definitional break, not by migration
#: of nationals: the 2010 registration change and the 2012 Sejong transfer.
BREAK_YEARS = (2010, 2012)
NAIVE_YEARS = 5


def forecast_constants(until: int) -> dict[str, object]:
    """Model constants that hide everything observed after ``until`` from a projection.

    Flows after ``until`` follow the model (not the observed residuals), national
    fertility is held at its ``until`` level, and the projected rate of other change is
    the mean observed rate over the five years to ``until`` without break years.
    """
    from kbalance.model.inputs import mean_rate, observations, other_change

    obs = observations()
    other = other_change(obs)
    years = [y for y in range(until - NAIVE_YEARS + 1, until + 1) if y not in BREAK_YEARS and y in other.index]
    rate = mean_rate(other, obs, years).fillna(0.0)
    names = dict(zip(load_regions().index, load_regions()["name_en"]))
    constants: dict[str, object] = {"history end year": float(until + 1), "last observed fertility year": float(until)}
    for code, value in rate.items():
        constants[f"other change rate[{names[code]}]"] = float(value)
    return constants


def naive_forecasts(observed: pd.DataFrame, until: int, years: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two naive forecasts of a regional series (rows: years, columns: regions).

    trend: each region's average annual growth over the five years to ``until``, extrapolated;
    share: each region's share of the national total in ``until`` held, times the national
    total extrapolated by its own five-year growth.
    """
    base, start = observed.loc[until], observed.loc[until - NAIVE_YEARS]
    national = observed.sum(axis=1)
    steps = np.array([y - until for y in years], dtype=float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # undefined (NaN) for series crossing zero
        growth = (base / start.where(start > 0)) ** (1 / NAIVE_YEARS)
        national_growth = (national.loc[until] / national.loc[until - NAIVE_YEARS]) ** (1 / NAIVE_YEARS)
        trend = pd.DataFrame(base.to_numpy() * growth.to_numpy() ** steps, index=years, columns=observed.columns)
        share = pd.DataFrame((base / base.sum()).to_numpy() * national.loc[until] * national_growth ** steps,
                             index=years, columns=observed.columns)
    return trend, share


def backtest(until: int, out: Path, max_iterations: int = 60, progress: bool = True) -> pd.DataFrame:
    """Calibrate on observations to ``until``, project to the latest observed year and
    compare with the naive forecasts. Writes backtest.csv, summary.csv and the fitted
    set (fitted.toml) into the new folder ``out``; returns the summary.
    """
    out = Path(out)
    if out.exists():
        raise InvalidValueError(out, "--out", "folder exists", "a folder that does not exist yet")
    result = fit(until=until, max_iterations=max_iterations, progress=progress)
    full = read_targets(until=2100)
    params = free_parameters()
    table = to_table(params, result.unit)
    for column, value in forecast_constants(until).items():
        table[column] = value
    last_time = int(max(t.times.max() for t in full))
    variables = sorted({t.variable for t in full})
    run = run_ensemble(table, None, last_time, variables, workers=1)
    codes = list(load_regions().index)
    rows = []
    for t in full:
        if t.observed.ndim != 2 or until - NAIVE_YEARS not in t.years:
            continue
        observed = pd.DataFrame(t.observed, index=t.years, columns=codes)
        years = [int(y) for y in t.years if y > until]
        if not years:
            continue
        model = run[t.variable].isel(member=0).sel(year=[y + t.offset for y in years]).values
        trend, share = naive_forecasts(observed, until, years)
        for i, year in enumerate(years):
            for j, code in enumerate(codes):
                rows.append({"series": t.series, "target": t.name, "region": code, "year": year,
                             "observed": observed.loc[year, code], "model": float(model[i, j]),
                             "naive_trend": trend.loc[year, code], "naive_share": share.loc[year, code]})
    table_out = pd.DataFrame(rows).dropna(subset=["observed"])
    table_out = table_out[table_out["observed"] != 0]
    summary = backtest_summary(table_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        table_out.to_csv(tmp / "backtest.csv", index=False, float_format="%.10g")
        summary.to_csv(tmp / "summary.csv", index=False, float_format="%.6g")
        write_fitted_set(result, tmp / "fitted.toml")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def backtest_summary(table: pd.DataFrame) -> pd.DataFrame:
    """MAPE [%] of the model and the naive forecasts per series: over every forecast
    region-year, and in the last year only, on the cells where all three forecasts exist
    (a naive trend does not exist for a region that did not exist five years before)."""
    rows = []
    comparable = table[np.isfinite(table[["model", "naive_trend", "naive_share"]]).all(axis=1)]
    for (series, target), group in comparable.groupby(["series", "target"], sort=False):
        last = group[group["year"] == group["year"].max()]
        row = {"series": series, "target": target, "last_year": int(group["year"].max())}
        for name in ("model", "naive_trend", "naive_share"):
            row[f"mape_{name}"] = float(np.mean(np.abs(group[name] / group["observed"] - 1)) * 100)
            row[f"mape_last_{name}"] = float(np.mean(np.abs(last[name] / last["observed"] - 1)) * 100)
        row["model_beats_both_last_year"] = bool(row["mape_last_model"] < min(row["mape_last_naive_trend"],
                                                                                row["mape_last_naive_share"]))
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Calibrated, constrained ensemble
# ---------------------------------------------------------------------------

#: Confidence level of the constraint on the objective.
CONFIDENCE = 0.95
#: Standard deviations of the proposal relative to the linearised posterior: below 1 the
#: samples stay nearer the fit, so more of them pass the same constraint.
PROPOSAL_SCALE = 0.5
#: Accepted members written (the first in sampling order, itself random).
STORED_MEMBERS = 1000


def _chunk_costs(result, targets: Sequence[Target]) -> np.ndarray:
    """Objective (half the sum of squared weighted residuals) of each member of a chunk."""
    model = {t.name: result[t.variable].sel(year=t.times).values for t in targets}
    r = residuals(model, targets)
    return 0.5 * np.einsum("ij,ij->i", r, r)


def lag_one_autocorrelation(model: dict[str, np.ndarray], targets: Sequence[Target]) -> float:
    """Pooled lag-one autocorrelation over time of the residuals (model − observed),
    each series normalised like the objective."""
    pairs = []
    for t in targets:
        diff = (model[t.name] - t.observed) / t.scale
        a, b = diff[:-1].ravel(), diff[1:].ravel()
        ok = np.isfinite(a) & np.isfinite(b)
        pairs.append((a[ok] - np.nanmean(diff), b[ok] - np.nanmean(diff)))
    a = np.concatenate([x for x, _ in pairs])
    b = np.concatenate([y for _, y in pairs])
    return float(np.clip(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)), 0.0, 0.99))


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


def constrained_ensemble(fitted: Path, members: int = 100_000, keep: int = 200, seed: int = 20261129,
                         workers: int | None = None, chunk_size: int = 1000,
                         progress: bool = True, scheduler: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Sample around a fitted set and keep the members whose fit passes the constraint.

    Members are drawn from the linearised posterior of the least-squares fit,
    N(x*, c² (JᵀJ/s² + 12 I)⁻¹) in unit-cube coordinates, with s² = 2 S*/(n_eff − p),
    the precision of the uniform prior (variance 1/12 over each range) and the proposal
    scale c (:data:`PROPOSAL_SCALE`), clipped to the parameter ranges. A member is kept when its objective S satisfies Beale's
    (1960) confidence-region bound S ≤ S* (1 + p/(n − p) F(p, n − p; 0.95)).

    Returns the accepted members (at most :data:`STORED_MEMBERS`; one row each: member,
    cost, parameter columns) and a description of the threshold and counts.
    """
    from functools import partial

    from scipy.stats import f as f_dist

    params = free_parameters()
    x_star, until = read_fitted_unit(Path(fitted), params)
    targets = read_targets(until=until)
    last_time = int(max(t.times.max() for t in targets))
    variables = sorted({t.variable for t in targets})
    r0, jac = _residuals_and_jacobian(x_star, params, targets)
    best = {k: v[0] for k, v in simulate_targets(to_table(params, x_star), targets).items()}
    rho = lag_one_autocorrelation(best, targets)
    n, p = r0.size, len(x_star)
    n_eff = max(p + 1.0, n * (1 - rho) / (1 + rho))
    cost_star = 0.5 * float(r0 @ r0)
    s2 = 2 * cost_star / (n_eff - p)
    # posterior precision: the data's J'J / s² plus the precision of the uniform prior
    # over each range (variance 1/12 in unit coordinates), which bounds unidentified directions
    cov = np.linalg.inv(jac.T @ jac / s2 + 12.0 * np.eye(p))
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    rng = np.random.default_rng(seed)
    unit = np.clip(x_star + PROPOSAL_SCALE * rng.standard_normal((members, p)) @ root.T, 0.0, 1.0)
    threshold = cost_star * (1 + p / (n_eff - p) * float(f_dist.ppf(CONFIDENCE, p, n_eff - p)))
    costs = np.concatenate(run_ensemble(to_table(params, unit), None, last_time, variables,
                                        chunk_size=chunk_size, workers=workers, progress=progress,
                                        scheduler=scheduler, reduce=partial(_chunk_costs, targets=targets)))
    passed = np.flatnonzero(costs <= threshold)
    accepted = passed[:STORED_MEMBERS]
    table = to_table(params, unit[accepted])
    table.insert(0, "cost", costs[accepted])
    table.insert(0, "member", accepted)
    info = {
        "fitted_set": Path(fitted).name, "until": until, "seed": seed, "members_sampled": members,
        "members_accepted": int(passed.size), "acceptance_rate": float(passed.size / members),
        "members_stored": int(accepted.size), "proposal_scale": PROPOSAL_SCALE,
        "cost_best_fit": cost_star, "threshold": threshold, "residuals": n, "parameters": p,
        "lag1_autocorrelation": rho, "effective_residuals": n_eff,
        "confidence": CONFIDENCE,
        "method": ("members drawn from N(x*, c^2 (J'J/s^2 + 12 I)^-1), c = proposal_scale, in unit-cube coordinates around the fitted set "
                   "(linearised posterior with the uniform priors' precision, s^2 = 2 S*/(n_eff - p)), clipped to "
                   "the parameter ranges; kept when the objective S <= S* (1 + p/(n_eff-p) F(p, n_eff-p; 0.95)), "
                   "Beale's (1960) confidence region for nonlinear least squares with the effective number of "
                   "residuals n_eff = n (1 - rho)/(1 + rho) for lag-one autocorrelation rho"),
        "justification": ("The bound is the objective level reached by the 95 % confidence region of the "
                          "least-squares fit. Residuals of annual series are strongly autocorrelated, so the number "
                          "of independent residuals is far below their count; n_eff corrects for that (Bretherton "
                          "et al. 1999). Members within the bound fit history as well as the best fit does, within "
                          "sampling error."),
    }
    if passed.size < keep:
        info["warning"] = f"fewer than {keep} members passed the constraint"
    return table, info


def ensemble_path(fitted: Path) -> Path:
    """calibration/fitted/<version>-ensemble.csv for a fitted set <version>.toml."""
    fitted = Path(fitted)
    return fitted.with_name(f"{fitted.stem}-ensemble.csv")


def latest_ensemble_set() -> Path | None:
    """The fitted set calibration/fitted/v<N>.toml with the highest N that has a constrained
    ensemble beside it (a newer set without one is not used), or None."""
    folder = calibration_dir() / "fitted"
    versions = [(int(p.stem[1:]), p) for p in folder.glob("v*.toml")
                if p.stem[1:].isdigit() and ensemble_path(p).is_file()]
    return max(versions)[1] if versions else None


def read_ensemble(fitted: Path | None = None) -> pd.DataFrame:
    """The constrained ensemble of a fitted set (default: :func:`latest_ensemble_set`):
    members × engine parameter columns, indexed by ``member``, without ``cost``."""
    fitted = Path(fitted) if fitted is not None else latest_ensemble_set()
    path = ensemble_path(fitted) if fitted is not None else calibration_dir() / "fitted" / "v<N>-ensemble.csv"
    if not path.is_file():
        raise MissingFileError(path, "constrained ensemble", "run kbalance calibrate, then kbalance ensemble")
    return pd.read_csv(path).set_index("member").drop(columns=["cost"], errors="ignore")


def write_ensemble(table: pd.DataFrame, info: dict, version: str) -> Path:
    """calibration/fitted/<version>-ensemble.csv and its description <version>-ensemble.json."""
    folder = calibration_dir() / "fitted"
    path = folder / f"{version}-ensemble.csv"
    tmp = path.with_suffix(".csv.tmp")
    table.to_csv(tmp, index=False, float_format="%.10g")
    os.replace(tmp, path)
    (folder / f"{version}-ensemble.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return path
