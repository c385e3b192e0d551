"""Rolling-origin backtests: calibrate on observations to an origin year, forecast to the
latest data and compare with naive forecasts.

For each origin (:data:`ORIGINS`) the fit uses the observations up to the origin only;
the forecast hides everything observed after it (:func:`forecast_constants`, national
mortality by :func:`mortality_constants`) and, when the
model has a jump-off (constants ``jump off year`` and ``jump off population``), starts from
the population observed at the end of the origin year and from the labour productivity and
employment rate observed in it (:func:`jump_off_constants`). The
series (:data:`SERIES`) are compared with the naive trend and constant-share forecasts of
:func:`naive_forecasts`; net migration, which crosses zero, with the last five years' mean
net rate (:func:`naive_migration`) instead. One table (:data:`COLUMNS`) holds every
origin, series, region and forecast year.

Beside the forecast proper (``model``: the national TFR held at its origin level, as a
forecaster at the origin would assume), ``model_observed_fertility`` repeats it with the
national TFR as observed after the origin (:func:`forecast_constants` with
``fertility_until``): an ex-post forecast that separates the error of the national
fertility assumption from that of the model's regional structure. Its regions' TFRs stay
modelled through the last observed national TFR; only the births of the year after it
take the regions' observed TFR ratios of that year.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from kbalance.calibration.fit import FitResult, fit, fitted_set_text, free_parameters, to_table
from kbalance.calibration.targets import FIRST_YEAR, Target, last_time, read_targets, target_variables
from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.errors import InvalidValueError, number_in
from kbalance.model.economy_inputs import economy_data_year, economy_jump_off
from kbalance.model.mortality import fit_national_mortality, observed_index, origin_index
from kbalance.model.regional_mortality import jump_off_mortality_ratio
from kbalance.model.population import SEXES, jump_off_population
from kbalance.model.scenarios import Scenario
from kbalance.model.variants import last_national_tfr_year, read_variants
from kbalance.observations.load import load_breaks, load_series
from kbalance.outputs import replace_entries
from kbalance.regions import region_codes

#: Years [year] over which the naive forecasts are taken.
NAIVE_YEARS = 5
#: Safety cap on the least-squares evaluations of each origin's fit (it stops at convergence).
BACKTEST_EVALUATIONS = 500
#: The forecast origins: last observed year of each fit [calendar year].
ORIGINS = (2010, 2015, 2019)
#: The targets (calibration/targets.toml) the backtests forecast.
SERIES = ("population", "births", "deaths", "net_migration", "grdp", "employed", "fiscal_autonomy")
#: Columns of backtests.csv.
COLUMNS = ("origin", "series", "region", "year", "horizon", "observed", "model", "model_observed_fertility",
           "naive_trend", "naive_share")
#: Code of the variant holding the last observed national TFR (model/demography.toml).
HOLD_CODE = read_variants()["hold"].code
#: A jump-off year beyond every run [year]: the forecast starts from the simulated history.
NO_JUMP_OFF = 2200.0


def break_years() -> set[int]:
    """Years [year] whose balancing residual is dominated by a definitional break rather
    than by migration of nationals: the registration changes and boundary changes of
    calibration/breaks.csv (the 2010 registration change, Sejong 2012, Gunwi 2023, …)."""
    table = load_breaks()
    return {int(y) for y in table.loc[table["kind"].isin(["registration", "boundary"]), "year"]}


def forecast_constants(until: int, fertility_until: int | None = None) -> dict[str, object]:
    """Model constants that hide everything observed after ``until`` from a projection.

    Flows after ``until`` follow the model (not the observed residuals), national
    fertility is held at its level of ``fertility_until`` (default ``until``; the ``hold``
    variant), and no jump-off to a later observed population takes place.
    """
    return {"history end year": float(until + 1), "last observed fertility year": float(fertility_until or until),
            "fertility variant": float(HOLD_CODE), "jump off year": NO_JUMP_OFF}


def mortality_constants(origin: int, registered: bool, root: Path | None = None) -> dict[str, float]:
    """Model constants that hide the national mortality observed after ``origin``: the
    common index K follows the random walk's mean path from its level of the origin year
    with the drift of the years to it (:func:`kbalance.model.mortality.origin_index`; on the
    registered basis when the forecast jumps off from the registered population), and each
    sex's index its AR(1) path from its value of the origin year. Nothing when the origin is
    at or after the last year of the index (the projection's own jump-off hides nothing)."""
    fit = fit_national_mortality(root)
    observed = observed_index(fit, root)
    if origin >= max(int(fit.years[-1]), *map(int, observed.years)):
        return {}
    level, drift = origin_index(fit, observed, origin, registered, root)
    return {"last mortality index year": float(origin), "mortality index jump off": level,
            "mortality index jump off year": float(origin), "mortality index drift": drift}


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


def check_origins(origins: Sequence[int]) -> list[int]:
    """The origins as years, each with five observed years before it and at least one
    after it: from :data:`kbalance.calibration.targets.FIRST_YEAR` + 5 to the year before
    the latest registered population; InvalidValueError naming ``--origins`` otherwise."""
    last = int(load_series("pop_registered")["year"].max())
    return [int(number_in("kbalance backtest", "--origins", o, FIRST_YEAR + NAIVE_YEARS, last - 1, integer=True))
            for o in origins]


def naive_migration(net: pd.DataFrame, population: pd.DataFrame, origin: int, years: Sequence[int]) -> pd.DataFrame:
    """The naive forecast of net migration [persons/year]: each region's mean net rate
    (net migrants of a year over its year-end population) over the five years to
    ``origin``, times its population at the end of ``origin``, for every year of ``years``.

    net, population : years × regions
    """
    window = [y for y in range(origin - NAIVE_YEARS + 1, origin + 1) if y in net.index and y in population.index]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (net.loc[window] / population.loc[window].where(population.loc[window] > 0)).mean()
    level = rate * population.loc[origin]
    return pd.DataFrame([level.to_numpy()] * len(years), index=list(years), columns=net.columns)


def observed_population(year: int, open_age: int) -> np.ndarray | None:
    """The registered population of December ``year`` on the model's axes (Region, Sex,
    Age) [persons] (:func:`kbalance.model.population.jump_off_population`), or None when no
    table gives that December's ages for every region."""
    try:
        by_sex = jump_off_population(year, open_age)
    except InvalidValueError:
        return None
    return np.stack([by_sex[sex].to_numpy() for sex in SEXES], axis=1)


def jump_off_constants(model, origin: int,
                       population: Callable[[int], np.ndarray | None] | None = None) -> dict[str, object]:
    """The constants that start a forecast from the population observed at ``origin``:
    ``{"jump off year": origin + 1, "jump off population": <observed>}`` when the model
    defines both and the population is observed, with the observed economy of
    :func:`economy_jump_off_constants` when the model has an economy jump-off and the
    regional mortality observed to the origin
    (:func:`kbalance.model.regional_mortality.jump_off_mortality_ratio`); nothing
    otherwise (the forecast then continues the model's own history, as a model without a
    jump-off does).

    model : the compiled model (anything with ``names`` and ``subscripts``)
    population : year → the observed (Region, Sex, Age) population at its end [persons];
        default :func:`observed_population` with the model's sexes and ages
    """
    if not {"jump off year", "jump off population"} <= set(model.names):
        return {}
    if population is None:
        def population(year: int) -> np.ndarray | None:
            return observed_population(year, len(model.subscripts["Age"]) - 1)
    observed = population(origin)
    if observed is None:
        return {}
    economy = economy_jump_off_constants(origin) if set(ECONOMY_JUMP_OFF) <= set(model.names) else {}
    if "jump off mortality ratio" in model.names:
        economy["jump off mortality ratio"] = jump_off_mortality_ratio(origin)["value"].to_numpy(float)[None, :]
    return {"jump off year": float(origin + 1), "jump off population": np.asarray(observed, float)[None, ...]} | economy


#: The model constants of the economy's jump-off (model/kbalance.mdl, "Economy and innovation").
ECONOMY_JUMP_OFF = ("jump off economy year", "jump off labour productivity", "jump off employment rate")


def economy_jump_off_constants(origin: int) -> dict[str, object]:
    """The constants that start a forecast's economy from the observed economy of the last
    year to ``origin`` with GRDP, employment and ages observed
    (:func:`kbalance.model.economy_inputs.economy_data_year`): that year, the labour
    productivity [million KRW/(person*year)] and the employment rate [1] by region (member
    axis first); nothing when no year qualifies."""
    year = economy_data_year(origin + 1)
    if year is None:
        return {}
    observed = economy_jump_off(year)
    return {"jump off economy year": float(year),
            "jump off labour productivity": observed["labour_productivity"].to_numpy(float)[None, :],
            "jump off employment rate": observed["employment_rate"].to_numpy(float)[None, :]}


def forecast_rows(origin: int, run, targets: Sequence[Target]) -> pd.DataFrame:
    """The rows of backtests.csv for one origin: each series of :data:`SERIES` observed at
    the origin and five years before it, each region and year after it (observed, model
    and naive forecasts; cells not observed, or observed as zero, left out). ``run`` holds
    the forecast as member 0 and the forecast with the observed national TFR as member 1."""
    codes = region_codes()
    frame = {t.name: pd.DataFrame(t.observed, index=t.years, columns=codes) for t in targets if t.observed.ndim == 2}
    by_name = {t.name: t for t in targets}
    rows = []
    for name in SERIES:
        t = by_name.get(name)
        if t is None or name not in frame or origin - NAIVE_YEARS not in t.years or origin not in t.years:
            continue
        observed = frame[name]
        years = [int(y) for y in t.years if y > origin]
        if not years:
            continue
        values = run[t.variable].sel(year=[y + t.offset for y in years]).transpose("member", ...)
        model, ex_post = values.isel(member=[0, 1]).values
        if name == "net_migration":
            trend = naive_migration(observed, frame["population"], origin, years)
            share = pd.DataFrame(np.nan, index=years, columns=codes)
        else:
            trend, share = naive_forecasts(observed, origin, years)
        for i, year in enumerate(years):
            for j, code in enumerate(codes):
                rows.append({"origin": origin, "series": name, "region": code, "year": year, "horizon": year - origin,
                             "observed": observed.loc[year, code], "model": float(model[i, j]),
                             "model_observed_fertility": float(ex_post[i, j]),
                             "naive_trend": trend.loc[year, code], "naive_share": share.loc[year, code]})
    table = pd.DataFrame(rows, columns=list(COLUMNS)).dropna(subset=["observed"])
    return table[table["observed"] != 0].reset_index(drop=True)


def backtest_origin(origin: int, max_evaluations: int = BACKTEST_EVALUATIONS, start: Path | None = None,
                    progress: bool = True) -> tuple[pd.DataFrame, FitResult, bool]:
    """Fit to the observations up to ``origin`` (from ``start``, a fitted set, or the
    defaults) and forecast to the latest data: the origin's rows of backtests.csv, the
    fit, and whether the forecast jumped off from the observed population."""
    jump = jump_off_constants(compile_model(), origin)  # before the fit: an origin without the data fails at once
    result = fit(until=origin, max_evaluations=max_evaluations, progress=progress, start=start)
    full = read_targets(until=2100)
    fitted = to_table(free_parameters(), result.unit)
    table = pd.concat([fitted, fitted], ignore_index=True)  # the forecast and its ex-post twin
    for column, value in (forecast_constants(origin) | mortality_constants(origin, bool(jump))).items():
        if column not in jump:  # a table column overrides a scenario constant: the jump-off's year must win
            table[column] = value
    table.loc[1, "last observed fertility year"] = float(last_national_tfr_year())
    scenario = Scenario(f"backtest-{origin}", "forecast from the origin", constants=jump) if jump else None
    run = run_ensemble(table, scenario, last_time(full), target_variables(full), workers=1)
    return forecast_rows(origin, run, full), result, bool(jump)


def backtests(out: Path, origins: Sequence[int] = ORIGINS, max_evaluations: int = BACKTEST_EVALUATIONS,
              start: Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Rolling-origin backtests into the folder ``out`` (calibration/reports/<version>):
    backtests.csv (:data:`COLUMNS`), backtests_summary.csv (:func:`backtest_summary` per
    origin, with the fit's evaluations, whether it converged and whether the forecast
    jumped off), backtest_error_by_horizon.png and each origin's fitted set
    backtest_fitted_<origin>.toml, all replaced together. Returns the summary."""
    tables, summaries, fitted = [], [], {}
    for origin in origins:
        table, result, jumped = backtest_origin(origin, max_evaluations, start, progress)
        summary = backtest_summary(table)
        summary.insert(0, "origin", origin)
        summary["evaluations"], summary["converged"], summary["jump_off"] = result.evaluations, result.converged, jumped
        tables.append(table)
        summaries.append(summary)
        fitted[origin] = fitted_set_text(result)
    table = pd.concat(tables, ignore_index=True)
    summary = pd.concat(summaries, ignore_index=True)
    entries = ["backtests.csv", "backtests_summary.csv", "backtest_error_by_horizon.png",
               *[f"backtest_fitted_{o}.toml" for o in origins]]

    def write(folder: Path) -> None:
        table.to_csv(folder / "backtests.csv", index=False, float_format="%.10g")
        summary.to_csv(folder / "backtests_summary.csv", index=False, float_format="%.6g")
        plot_horizon_errors(table, folder / "backtest_error_by_horizon.png")
        for origin, text in fitted.items():
            (folder / f"backtest_fitted_{origin}.toml").write_text(text, encoding="utf-8")

    replace_entries(Path(out), entries, write)
    return summary


def forecast_columns(table: pd.DataFrame) -> list[str]:
    """The forecasts of a backtest table that are compared with the observations: the
    model's, its ex-post twin's where the table has it, and the two naive ones."""
    return [name for name in ("model", "model_observed_fertility", "naive_trend", "naive_share") if name in table]


def horizon_errors(table: pd.DataFrame) -> pd.DataFrame:
    """Absolute percentage errors [%] by series and horizon, averaged over origins and
    regions, of the model and the naive forecasts, on the cells where the model and the
    naive trend exist."""
    ok = table[np.isfinite(table[["model", "naive_trend"]]).all(axis=1)].copy()
    names = forecast_columns(table)
    for name in names:
        ok[name] = np.abs(ok[name] / ok["observed"] - 1) * 100
    return ok.groupby(["series", "horizon"])[names].mean().reset_index()


def plot_horizon_errors(table: pd.DataFrame, path: Path) -> Path:
    """The figure of error by horizon: one panel per series, the mean absolute percentage
    error of the model and the naive forecasts against the years after the origin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    errors = horizon_errors(table)
    series = [s for s in SERIES if s in set(errors["series"])]
    fig, axes = plt.subplots(2, 4, figsize=(14, 6.5), squeeze=False)
    for ax, name in zip(axes.flat, series):
        part = errors[errors["series"] == name]
        for column, colour, style in (("model", "#1f6fb4", "-"), ("model_observed_fertility", "#1f6fb4", ":"),
                                      ("naive_trend", "#999999", "-"), ("naive_share", "#e08a1e", "-")):
            if column in part and part[column].notna().any():
                ax.plot(part["horizon"], part[column], marker="o", ms=3, color=colour, ls=style, label=column)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("years after the origin", fontsize=8)
        ax.set_ylabel("MAPE [%]", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    if series:
        axes.flat[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Rolling-origin backtests: error by horizon (mean over origins and regions)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def backtest_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Errors of the model and the naive forecasts per series of one origin's rows:
    MAPE [%] over every forecast region-year and in the last year only, and the weighted
    absolute percentage error WAPE [%] (the sum of absolute errors over the sum of
    absolute observations, meaningful for net migration, which crosses zero), on the cells
    where the model and the naive trend exist (a naive trend does not exist for a region
    that did not exist five years before); a naive forecast that does not exist for a
    series (the constant share of net migration) is NaN and not compared.
    ``model_beats_both`` (all years) and ``model_beats_both_last_year`` compare the MAPE of
    the forecast proper (``model``); the ex-post forecast's errors are reported beside it."""
    rows = []
    comparable = table[np.isfinite(table[["model", "naive_trend"]]).all(axis=1)]
    for series, group in comparable.groupby("series", sort=False):
        last = group[group["year"] == group["year"].max()]
        row = {"series": series, "last_year": int(group["year"].max()), "cells": len(group)}
        for name in forecast_columns(group):
            err = np.abs(group[name] - group["observed"])
            row[f"mape_{name}"] = float(np.mean(err / group["observed"].abs()) * 100)
            row[f"mape_last_{name}"] = float(np.mean(np.abs(last[name] / last["observed"] - 1)) * 100)
            row[f"wape_{name}"] = float(err.to_numpy().sum() / group["observed"].abs().sum() * 100)
        for suffix in ("", "_last"):
            naive = [row[f"mape{suffix}_{n}"] for n in ("naive_trend", "naive_share") if np.isfinite(row[f"mape{suffix}_{n}"])]
            row[f"model_beats_both{'_last_year' if suffix else ''}"] = bool(row[f"mape{suffix}_model"] < min(naive))
        rows.append(row)
    return pd.DataFrame(rows)
