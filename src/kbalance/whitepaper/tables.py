"""The white paper's tables (CSV, and one XLSX workbook) and the long forms of its results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

from kbalance.model.indicators import indicator
from kbalance.observations.load import series_table
from kbalance.regions import region_name
from kbalance.runs import results_long
from kbalance.whitepaper.analysis import (BASE, QUANTILE_NAMES, Whitepaper, member_quantiles, national_indicators,
                                          regional_indicators, scenario_label, table_years)
from kbalance.whitepaper.complementarity import tables as complementarity_tables
from kbalance.whitepaper.levers import lever_tables
from kbalance.whitepaper.headings import BACKTEST_COLUMNS, FIT_COLUMNS, YES_NO, sheet
from kbalance.whitepaper.sources import top_factors


def band_text(q50: float, q05: float, q95: float, digits: int) -> str:
    """'median [q05–q95]' with ``digits`` decimals."""
    return f"{q50:,.{digits}f} [{q05:,.{digits}f}–{q95:,.{digits}f}]"


def summary_band(summary: xr.Dataset, key: str, scenario: str, year: int) -> str:
    """'median [5–95 %]' of indicator ``key`` in ``year``, with the indicator's decimals."""
    q = summary[key].sel(scenario=scenario, year=year)
    return band_text(*(float(q.sel(quantile=n)) for n in ("q50", "q05", "q95")), indicator(key).digits)


def summary_long(summary: xr.Dataset) -> pd.DataFrame:
    """The summary as a long table: scenario, indicator, region (KOSIS code, bloc name or
    00 for national), year, unit, q05 … q95."""
    frames = []
    for key, array in summary.data_vars.items():
        frame = array.to_dataframe(name="value").reset_index()
        place = "region" if "region" in frame else ("bloc" if "bloc" in frame else None)
        frame["area"] = frame[place] if place else "00"
        wide = frame.pivot_table(index=["scenario", "area", "year"], columns="quantile", values="value",
                                 sort=False).reset_index()
        wide.insert(1, "indicator", key)
        wide["unit"] = indicator(str(key)).unit_en
        frames.append(wide.rename(columns={"area": "region"}))
    out = pd.concat(frames, ignore_index=True)
    return out[["scenario", "indicator", "region", "year", "unit", *QUANTILE_NAMES]]


def comparison_table(summary: xr.Dataset, years: Sequence[int], lang: str) -> pd.DataFrame:
    """The scenario comparison: one row per indicator and scenario, one column per year
    holding 'median [5–95 %]'."""
    rows = []
    for key, ind in national_indicators().items():
        for scenario in summary["scenario"].values:
            row = {"indicator": key, "label": ind.label(lang), "unit": ind.unit(lang),
                   "scenario": scenario, "scenario_label": scenario_label(str(scenario), lang)}
            for year in years:
                row[str(year)] = summary_band(summary, key, scenario, year)
            rows.append(row)
    return pd.DataFrame(rows)


def comparison_values(summary: xr.Dataset, years: Sequence[int], lang: str) -> pd.DataFrame:
    """The scenario comparison as numbers: one row per indicator, scenario and year with the
    median, 5 % and 95 % quantiles in separate columns [the unit column, in ``lang``]."""
    rows = []
    for key, ind in national_indicators().items():
        for scenario in summary["scenario"].values:
            for year in years:
                q = summary[key].sel(scenario=scenario, year=year)
                rows.append({"indicator": key, "label": ind.label(lang), "unit": ind.unit(lang),
                             "scenario": str(scenario), "scenario_label": scenario_label(str(scenario), lang),
                             "year": int(year), "median": float(q.sel(quantile="q50")),
                             "p5": float(q.sel(quantile="q05")), "p95": float(q.sel(quantile="q95"))})
    return pd.DataFrame(rows)


def regional_table(summary: xr.Dataset, years: Sequence[int], lang: str) -> pd.DataFrame:
    """Regional indicators by scenario, region and year: median and 5–95 % band."""
    names = {c: region_name(c, lang) for c in summary["region"].values}
    frames = []
    for key, ind in regional_indicators().items():
        frame = summary[key].sel(year=list(years)).to_dataframe(name="v").reset_index()
        wide = frame.pivot_table(index=["scenario", "region", "year"], columns="quantile", values="v",
                                 sort=False).reset_index()
        wide.insert(1, "indicator", key)
        wide.insert(3, "region_name", wide["region"].map(names))
        wide["unit"] = ind.unit(lang)
        frames.append(wide)
    return pd.concat(frames, ignore_index=True)[["scenario", "indicator", "region", "region_name", "year",
                                                 "unit", *QUANTILE_NAMES]]


def bloc_table(summary: xr.Dataset, years: Sequence[int], lang: str) -> pd.DataFrame:
    """Population by 5+3 bloc: scenario, bloc, year, unit (in ``lang``), quantiles."""
    frame = summary["bloc_population"].sel(year=list(years)).to_dataframe(name="v").reset_index()
    wide = frame.pivot_table(index=["scenario", "bloc", "year"], columns="quantile", values="v",
                             sort=False).reset_index()
    wide.insert(2, "bloc_name", wide["bloc"].map(lambda b: region_name(b, lang)))
    wide["unit"] = indicator("bloc_population").unit(lang)
    return wide[["scenario", "bloc", "bloc_name", "year", "unit", *QUANTILE_NAMES]]


def differences_table(members: xr.Dataset, years: Sequence[int], lang: str = "en") -> pd.DataFrame:
    """Paired differences from the baseline per national indicator, scenario and year:
    quantiles over members of (scenario − baseline), in the indicator's unit (named in ``lang``)."""
    rows = []
    for key, ind in national_indicators().items():
        diff = members[key].sel(year=list(years)) - members[key].sel(scenario=BASE, year=list(years))
        for scenario in members["scenario"].values:
            if scenario == BASE:
                continue
            for year in years:
                rows.append({"indicator": key, "scenario": str(scenario), "year": year,
                             "unit": ind.difference_unit(lang), **member_quantiles(diff.sel(scenario=scenario, year=year))})
    return pd.DataFrame(rows, columns=["indicator", "scenario", "year", "unit", *QUANTILE_NAMES])


def build_tables(wp: Whitepaper) -> dict[str, pd.DataFrame]:
    """The CSV/XLSX tables of the white paper, by file name."""
    years = table_years(wp.until)
    tables = {
        "scenario_comparison": comparison_table(wp.summary, years, wp.lang),
        "regional_indicators": regional_table(wp.summary, years, wp.lang),
        "bloc_population": bloc_table(wp.summary, years, wp.lang),
        "scenario_comparison_values": comparison_values(wp.summary, years, wp.lang),
        "scenario_differences": differences_table(wp.members, years, wp.lang),
        "scenario_levers": wp.levers,
        "fit_statistics": wp.fit,
    }
    if wp.backtest is not None:
        tables["backtest_summary"] = wp.backtest
    if wp.complementarity is not None:
        tables.update(complementarity_tables(wp.complementarity))
    tables.update(lever_tables(wp))
    if wp.sensitivity is not None and (wp.sensitivity / "indices.csv").is_file():
        tables["sensitivity_top_factors"] = top_factors(pd.read_csv(wp.sensitivity / "indices.csv"))
    return tables


#: Tables of text bands ('median [5–95 %]') for reading, and the table of the same numbers
#: the workbook holds in their place (numeric cells that can be charted).
NUMERIC_TWINS = {"scenario_comparison": "scenario_comparison_values"}


def write_tables(tables: dict[str, pd.DataFrame], folder: Path, lang: str = "en") -> None:
    """Every table as ``<name>.csv`` and as one sheet of tables.xlsx (names cut to Excel's 31
    characters) in ``folder``; a table of text bands with a numeric twin
    (:data:`NUMERIC_TWINS`) is a sheet of the twin's numbers, so every cell is a number. The
    CSV files keep the column names of the output convention; the sheets are headed for
    readers in ``lang`` (:func:`kbalance.whitepaper.headings.sheet`)."""
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False, float_format="%.6g")
    twins = {twin for name, twin in NUMERIC_TWINS.items() if name in tables and twin in tables}
    units = series_table()["unit"].to_dict()
    with pd.ExcelWriter(folder / "tables.xlsx", engine="openpyxl") as writer:
        for name, table in tables.items():
            if name in twins:
                continue
            shown = tables[NUMERIC_TWINS[name]] if NUMERIC_TWINS.get(name) in twins else table
            sheet(shown, lang, units, name).to_excel(writer, sheet_name=name[:31], index=False)


#: Yes/no columns of a backtest summary.
BACKTEST_FLAGS = ("model_beats_both", "model_beats_both_last_year", "converged", "jump_off")


def readable_number(value: float, digits: int) -> str:
    """A number for a reader: thousands separators, ``digits`` decimals, no e-notation; ''
    for a missing value."""
    if value is None or pd.isna(value):
        return ""
    return f"{float(value):,.{digits}f}"


def fit_display(fit: pd.DataFrame, units: dict[str, str], lang: str) -> pd.DataFrame:
    """The fit statistics for readers: named columns in ``lang``, the unit of each series'
    RMSE, shares in percent, no raw headers, no e-notation and no <NA> (a target without a
    goal shows '–').

    units : observed series → its unit (calibration/sources.csv)
    """
    ko = lang == "ko"
    out = pd.DataFrame({
        "target": fit["target"], "series": fit["series"], "unit": fit["series"].map(lambda s: units.get(s, "")),
        "n": [readable_number(v, 0) for v in fit["n"]],
        "rmse": [readable_number(v, 0 if abs(v) >= 100 else 3) for v in fit["rmse_pooled"]],
        "mape": [readable_number(v, 2) for v in fit["mape_pooled"]],
        "r2": [readable_number(v, 3) for v in fit["r2_pooled"]],
        **{k: [readable_number(100 * v, 1) for v in fit[k]] for k in ("um", "us", "uc")},
        "criterion": fit["criterion"].replace("", "–"),
        "met": ["–" if pd.isna(v) else YES_NO[bool(v)][ko] for v in fit["met"]],
    })
    return out.rename(columns={k: v[ko] for k, v in FIT_COLUMNS.items()})


def backtest_display(backtest: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The backtest summary for readers: named columns in ``lang``, MAPE with two decimals."""
    ko = lang == "ko"
    out = backtest.copy()
    for column in out.columns:
        if column.startswith(("mape", "wape")):
            out[column] = [readable_number(v, 2) for v in out[column]]
        elif column in BACKTEST_FLAGS:
            out[column] = [YES_NO[bool(v)][ko] for v in out[column]]
    return out.rename(columns={k: v[ko] for k, v in BACKTEST_COLUMNS.items()})


def bestfit_long(bestfit: xr.Dataset, years: Sequence[int]) -> pd.DataFrame:
    """Long table of the best-fit runs (scenario first); Population only in ``years``
    (every fifth year and the pyramid years) to keep the file small."""
    frames = []
    for scenario in bestfit["scenario"].values:
        one = bestfit.sel(scenario=scenario, drop=True)
        pop = one[["Population"]].sel(year=[y for y in years if y in one["year"]])
        for part in (one.drop_vars("Population"), pop):
            frame = results_long(part)
            frame.insert(0, "scenario", scenario)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


__all__ = ["BACKTEST_FLAGS", "backtest_display", "fit_display", "readable_number", "band_text", "bestfit_long", "bloc_table", "build_tables", "comparison_table", "differences_table",
           "NUMERIC_TWINS", "comparison_values", "regional_table", "summary_band", "summary_long", "write_tables"]
