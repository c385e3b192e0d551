"""The out-of-sample backtest: constants that hide the future, naive forecasts and the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.calibration import backtest as backtest_module
from kbalance.calibration.backtest import backtest, backtest_summary, forecast_constants, naive_forecasts
from kbalance.errors import InvalidValueError


def test_naive_forecasts_extrapolate_growth_and_shares():
    years = list(range(2010, 2016))
    observed = pd.DataFrame({"a": [100 * 1.1 ** i for i in range(6)], "b": [50.0] * 6}, index=years)
    trend, share = naive_forecasts(observed, 2015, [2016, 2020])
    assert trend.loc[2020, "a"] == pytest.approx(100 * 1.1 ** 10)
    assert trend.loc[2020, "b"] == pytest.approx(50.0)
    national = observed.sum(axis=1)
    growth = (national[2015] / national[2010]) ** (1 / 5)
    assert share.loc[2020].sum() == pytest.approx(national[2015] * growth ** 5)
    assert share.loc[2020, "a"] / share.loc[2020].sum() == pytest.approx(observed.loc[2015, "a"] / national[2015])


def test_a_naive_trend_is_undefined_for_a_region_absent_five_years_before():
    observed = pd.DataFrame({"a": [0.0, 1, 2, 3, 4, 5], "b": [10.0] * 6}, index=range(2010, 2016))
    trend, share = naive_forecasts(observed, 2015, [2016])
    assert np.isnan(trend.loc[2016, "a"]) and trend.loc[2016, "b"] == pytest.approx(10.0)
    assert np.isfinite(share.loc[2016]).all()


def test_forecast_constants_hide_the_years_after_the_cut():
    constants = forecast_constants(2015)
    assert constants["history end year"] == 2016 and constants["last observed fertility year"] == 2015
    assert constants["jump off year"] > 2100 and constants["fertility variant"] == 1


def test_backtest_summary_compares_the_last_year():
    table = pd.DataFrame({"series": "s", "target": "t", "region": ["11", "21"] * 2, "year": [2023, 2023, 2024, 2024],
                          "observed": [100.0] * 4, "model": [101.0, 99.0, 102.0, 98.0],
                          "naive_trend": [110.0] * 4, "naive_share": [95.0] * 4})
    row = backtest_summary(table).iloc[0]
    assert row["mape_last_model"] == pytest.approx(2.0) and row["mape_model"] == pytest.approx(1.5)
    assert row["mape_last_naive_share"] == pytest.approx(5.0) and bool(row["model_beats_both_last_year"])


def test_backtest_refuses_a_used_folder_before_fitting(tmp_path, monkeypatch):
    def no_fit(**kwargs):
        raise AssertionError("fit started")

    monkeypatch.setattr(backtest_module, "fit", no_fit)
    (tmp_path / "old.csv").write_text("")
    with pytest.raises(InvalidValueError, match="'--out'"):
        backtest(2015, tmp_path)
