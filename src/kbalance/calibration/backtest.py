"""Out-of-sample backtest: calibrate on observations to a year, project the rest and
compare with two naive forecasts."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kbalance.calibration.fit import fit, free_parameters, to_table, write_fitted_set
from kbalance.calibration.targets import last_time, read_targets, target_variables
from kbalance.engine.ensemble import run_ensemble
from kbalance.model.variants import read_variants
from kbalance.observations.load import load_breaks
from kbalance.outputs import check_new_folder, write_new_folder
from kbalance.regions import region_codes

#: Years [year] over which the naive forecasts are taken.
NAIVE_YEARS = 5
#: Code of the variant holding the last observed national TFR (model/demography.toml).
HOLD_CODE = read_variants()["hold"].code
#: A jump-off year beyond every run [year]: the forecast starts from the simulated history.
NO_JUMP_OFF = 2200.0
#: Most least-squares evaluations of a backtest's calibration.
BACKTEST_EVALUATIONS = 60


def break_years() -> set[int]:
    """Years [year] whose balancing residual is dominated by a definitional break rather
    than by migration of nationals: the registration changes and boundary changes of
    calibration/breaks.csv (the 2010 registration change, Sejong 2012, Gunwi 2023, …)."""
    table = load_breaks()
    return {int(y) for y in table.loc[table["kind"].isin(["registration", "boundary"]), "year"]}


def forecast_constants(until: int) -> dict[str, object]:
    """Model constants that hide everything observed after ``until`` from a projection.

    Flows after ``until`` follow the model (not the observed residuals), national
    fertility is held at its ``until`` level (the ``hold`` variant), and no jump-off to a
    later observed population takes place.
    """
    return {"history end year": float(until + 1), "last observed fertility year": float(until),
            "fertility variant": float(HOLD_CODE), "jump off year": NO_JUMP_OFF}


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


def backtest(until: int, out: Path, max_evaluations: int = BACKTEST_EVALUATIONS,
             progress: bool = True) -> pd.DataFrame:
    """Calibrate on observations to ``until``, project to the latest observed year and
    compare with the naive forecasts. Writes backtest.csv, summary.csv and the fitted
    set (fitted.toml) into the new folder ``out``; returns the summary.
    """
    out = check_new_folder(out)
    result = fit(until=until, max_evaluations=max_evaluations, progress=progress)
    full = read_targets(until=2100)
    table = to_table(free_parameters(), result.unit)
    for column, value in forecast_constants(until).items():
        table[column] = value
    run = run_ensemble(table, None, last_time(full), target_variables(full), workers=1)
    codes = region_codes()
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

    def write(folder: Path) -> None:
        table_out.to_csv(folder / "backtest.csv", index=False, float_format="%.10g")
        summary.to_csv(folder / "summary.csv", index=False, float_format="%.6g")
        write_fitted_set(result, folder / "fitted.toml")

    write_new_folder(out, write)
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
