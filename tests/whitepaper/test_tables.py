"""The white paper's tables: labels and units from model/indicators.toml, bands, paired
differences, the long results and the CSV/XLSX files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kbalance.model.indicators import indicator
from kbalance.regions import region_name
from kbalance.whitepaper import analysis, headings, tables


def toy_summary() -> xr.Dataset:
    """Quantiles q05 … q95 = 1 … 5 (+ 10 for the second scenario) for every indicator shown."""
    scenarios, years = ["baseline", "balance"], [2030, 2040]
    q = np.arange(1.0, 6.0)
    data = {}
    for key in analysis.NATIONAL_KEYS:
        data[key] = xr.DataArray(q[None, :, None] + np.array([0, 10])[:, None, None] + np.zeros((2, 5, 2)),
                                 dims=("scenario", "quantile", "year"))
    regions = ["11", "39"]
    for key in analysis.REGIONAL_KEYS:
        data[key] = xr.DataArray(np.broadcast_to(q[None, :, None, None], (2, 5, 2, 2)).copy(),
                                 dims=("scenario", "quantile", "year", "region"))
    data["bloc_population"] = xr.DataArray(np.broadcast_to(q[None, :, None, None], (2, 5, 2, 1)).copy(),
                                           dims=("scenario", "quantile", "year", "bloc"))
    return xr.Dataset(data, coords={"scenario": scenarios, "quantile": list(analysis.QUANTILE_NAMES), "year": years,
                                    "region": regions, "bloc": ["capital"]})


def test_band_text_rounds_to_the_digits():
    assert tables.band_text(1234.567, 1000.0, 1500.04, 1) == "1,234.6 [1,000.0–1,500.0]"
    assert tables.band_text(0.12345, 0.1, 0.2, 3) == "0.123 [0.100–0.200]"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_comparison_table_takes_labels_units_and_digits_from_the_indicators_file(lang):
    table = tables.comparison_table(toy_summary(), [2030, 2040], lang)
    assert list(table["indicator"].unique()) == list(analysis.NATIONAL_KEYS)
    row = table[(table["indicator"] == "tfr") & (table["scenario"] == "balance")].iloc[0]
    tfr = indicator("tfr")
    assert row["label"] == tfr.label(lang) and row["unit"] == tfr.unit(lang)
    assert row["2040"] == "13.00 [11.00–15.00]"  # two decimals for the TFR
    assert row["scenario_label"] == analysis.scenario_label("balance", lang)


def test_regional_and_bloc_tables_name_places_through_the_regions_table():
    summary = toy_summary()
    regional = tables.regional_table(summary, [2040], "ko")
    assert set(regional["region_name"]) == {region_name("11", "ko"), region_name("39", "ko")}
    assert set(regional["indicator"]) == set(analysis.REGIONAL_KEYS)
    assert (regional["q50"] == 3.0).all()
    bloc = tables.bloc_table(summary, [2040], "en")
    assert list(bloc["bloc_name"].unique()) == [region_name("capital", "en")]


def test_summary_long_carries_the_display_unit_and_area_codes():
    long = tables.summary_long(toy_summary())
    national = long[long["indicator"] == "population"]
    assert set(national["region"]) == {"00"} and set(national["unit"]) == {indicator("population").unit_en}
    assert set(long.loc[long["indicator"] == "bloc_population", "region"]) == {"capital"}
    assert list(long.columns) == ["scenario", "indicator", "region", "year", "unit", *analysis.QUANTILE_NAMES]


def test_differences_are_paired_by_member():
    members = np.arange(5.0)
    data = {k: xr.DataArray(np.stack([members[:, None] + np.zeros(2), 2 * members[:, None] + np.zeros(2)]),
                            dims=("scenario", "member", "year")) for k in analysis.NATIONAL_KEYS}
    ds = xr.Dataset(data, coords={"scenario": ["baseline", "balance"], "member": np.arange(5), "year": [2030, 2040]})
    table = tables.differences_table(ds, [2040])
    row = table[table["indicator"] == "population"].iloc[0]
    assert row["scenario"] == "balance" and row["q50"] == pytest.approx(2.0) and row["q05"] == pytest.approx(0.2)
    assert "baseline" not in set(table["scenario"])


def test_write_tables_writes_csv_and_one_workbook(tmp_path):
    frames = {"a_table_with_a_name_longer_than_excel_allows": pd.DataFrame({"x": [1.23456789]}),
              "b": pd.DataFrame({"y": ["z"]})}
    tables.write_tables(frames, tmp_path)
    assert pd.read_csv(tmp_path / "b.csv")["y"].tolist() == ["z"]
    assert pd.read_csv(tmp_path / "a_table_with_a_name_longer_than_excel_allows.csv")["x"].iloc[0] == 1.23457
    with pd.ExcelFile(tmp_path / "tables.xlsx", engine="openpyxl") as workbook:
        assert workbook.sheet_names == ["a_table_with_a_name_longer_than", "b"]


def test_build_tables_on_a_small_white_paper(small_whitepaper):
    built = tables.build_tables(small_whitepaper)
    assert {"scenario_comparison", "regional_indicators", "bloc_population", "scenario_differences",
            "scenario_levers", "fit_statistics"} <= set(built)
    if small_whitepaper.complementarity is not None:
        assert {"complementarity", "complementarity_traces", "complementarity_sobol"} <= set(built)
        assert len(set(built["complementarity"]["effect"])) == 15
    assert small_whitepaper.tables == {}  # building tables changes nothing shared


def test_fit_and_backtest_tables_are_formatted_for_readers():
    fit = pd.DataFrame({"target": ["population", "young_women"], "series": ["pop_registered", "x"], "n": [397, 220],
                        "rmse_pooled": [23997.4, 0.00012], "mape_pooled": [0.85, 10.9], "r2_pooled": [0.99994, 0.975],
                        "um": [0.0139, 0.002], "us": [0.02, 0.25], "uc": [0.966, 0.75],
                        "criterion": ["MAPE ≤ 1 %", ""], "met": pd.array([True, pd.NA], dtype="boolean")})
    for lang in ("en", "ko"):
        shown = tables.fit_display(fit, {"pop_registered": "persons"}, lang)
        text = shown.to_html(na_rep="")
        assert "<NA>" not in text and "e+" not in text and "e-" not in text
        assert not {"rmse", "um", "us", "uc", "met"} & set(shown.columns)
        assert list(shown.columns) == [v[lang == "ko"] for v in headings.FIT_COLUMNS.values()]
    shown = tables.fit_display(fit, {"pop_registered": "persons"}, "en")
    assert shown.loc[0, "RMSE, pooled"] == "23,997" and shown.loc[0, "Unit"] == "persons" and shown.loc[1, "Met"] == "–"
    assert shown.loc[0, "Bias share of MSE [%]"] == "1.4"
    backtest = pd.DataFrame({"series": ["births"], "target": ["births"], "last_year": [2023], "mape_model": [50.65871],
                             "mape_last_model": [87.7], "mape_naive_trend": [44.1], "mape_last_naive_trend": [77.8],
                             "mape_naive_share": [43.7], "mape_last_naive_share": [76.8],
                             "model_beats_both_last_year": [False]})
    shown = tables.backtest_display(backtest, "ko")
    assert shown.loc[0, "모형 MAPE [%]"] == "50.66" and shown.loc[0, "마지막 연도에 모형이 둘 다보다 나음"] == "아니오"


def test_a_rolling_backtest_summary_is_shown_with_named_columns_and_yes_no_flags():
    rolling = pd.DataFrame({"origin": [2015], "series": ["population"], "last_year": [2024], "cells": [153],
                            "mape_model": [2.251], "wape_model": [1.8], "mape_naive_trend": [3.03],
                            "model_beats_both": [True], "converged": [True], "jump_off": [False]})
    shown = tables.backtest_display(rolling, "en")
    assert list(shown.columns) == [headings.BACKTEST_COLUMNS[c][0] for c in rolling.columns]
    row = shown.iloc[0]
    assert row["Model WAPE [%]"] == "1.80" and row["Model beats both, all years"] == "yes"
    assert row["From the observed population"] == "no" and row["Origin"] == 2015
