"""Calibration: fit statistics, targets, fitted parameter sets and the least-squares loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.calibration.calibrate import FitResult, fit, fit_statistics, free_parameters, read_targets, residuals, to_table, write_fitted_set
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.model.parameters import read_parameter_set


def test_statistics_of_a_perfect_model():
    observed = np.array([3.0, 5.0, 4.0, 8.0])
    stats = fit_statistics(observed, observed)
    assert stats["rmse"] == 0 and stats["mape"] == 0 and stats["r2"] == 1


def test_a_pure_bias_is_all_um():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    stats = fit_statistics(observed + 1, observed)
    assert stats["rmse"] == pytest.approx(1.0)
    assert stats["mape"] == pytest.approx(100 * np.mean(1 / observed))
    assert stats["um"] == pytest.approx(1.0) and stats["us"] == pytest.approx(0.0, abs=1e-12)


def test_a_stretched_model_with_the_right_mean_is_all_us():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    stats = fit_statistics(2 * observed - observed.mean(), observed)
    assert stats["um"] == pytest.approx(0.0, abs=1e-12)
    assert stats["us"] == pytest.approx(1.0)
    assert stats["uc"] == pytest.approx(0.0, abs=1e-12)


def test_theil_components_sum_to_one_and_nan_cells_are_ignored():
    rng = np.random.default_rng(0)
    observed = rng.normal(10, 2, 50)
    model = observed + rng.normal(0.5, 1, 50)
    observed[3] = np.nan
    stats = fit_statistics(model, observed)
    assert stats["n"] == 49
    assert stats["um"] + stats["us"] + stats["uc"] == pytest.approx(1.0)


def test_targets_pair_observations_with_model_times():
    targets = {t.name: t for t in read_targets(until=2010)}
    population = targets["population"]
    assert population.offset == 1 and population.times[0] == population.years[0] + 1
    assert population.years.max() == 2010 and population.times.max() == 2011  # end of 2010 = 1 January 2011
    fiscal = targets["fiscal_autonomy"] if "fiscal_autonomy" in targets else None
    assert fiscal is None  # first_year 2014 leaves nothing before 2010 ... and the target is dropped
    od = targets["migration_od"]
    assert np.isnan(od.observed[:, 0, 0]).all()  # moves within a region are not fitted


def test_residuals_vanish_when_the_model_equals_the_data():
    targets = read_targets(until=2006)
    model = {t.name: np.nan_to_num(t.observed)[None, ...] for t in targets}
    assert np.abs(residuals(model, targets)).max() == 0


def test_bad_targets_files(tmp_path):
    with pytest.raises(MissingFileError, match="targets.toml"):
        read_targets(tmp_path / "targets.toml")
    path = tmp_path / "bad.toml"
    path.write_text('[births]\nvariable = "births"\n', encoding="utf-8")
    with pytest.raises(InvalidValueError, match="bad.toml.*'births.series'"):
        read_targets(path)


def test_fitted_sets_round_trip_and_are_range_checked(tmp_path):
    params = free_parameters()
    unit = np.array([(p.default - p.low) / (p.high - p.low) for p in params])
    table = to_table(params, unit)
    result = FitResult(values={c: float(v) for c, v in table.iloc[0].items()}, unit=unit, cost=1.0,
                       initial_cost=2.0, iterations=1, status="test", until=2010)
    path = write_fitted_set(result, tmp_path / "v9.toml")
    fitted, prior = read_parameter_set(path).values, read_parameter_set().values
    assert fitted.keys() == prior.keys()
    for key in prior:
        np.testing.assert_allclose(fitted[key], prior[key], rtol=1e-12, err_msg=key)
    text = path.read_text().replace("gompertz_slope = 0.095", "gompertz_slope = 5.0")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(InvalidValueError, match="bad.toml.*'values.gompertz_slope'.*0.07, 0.12"):
        read_parameter_set(bad)


def test_a_short_fit_lowers_the_cost():
    result = fit(until=2004, max_iterations=3, progress=False)
    assert result.cost < result.initial_cost
    assert all(0 <= u <= 1 for u in result.unit)


def test_naive_forecasts_extrapolate_growth_and_shares():
    from kbalance.calibration.calibrate import naive_forecasts

    years = list(range(2010, 2016))
    observed = pd.DataFrame({"a": [100 * 1.1 ** i for i in range(6)], "b": [50.0] * 6}, index=years)
    trend, share = naive_forecasts(observed, 2015, [2016, 2020])
    assert trend.loc[2020, "a"] == pytest.approx(100 * 1.1 ** 10)
    assert trend.loc[2020, "b"] == pytest.approx(50.0)
    national = observed.sum(axis=1)
    growth = (national[2015] / national[2010]) ** (1 / 5)
    assert share.loc[2020].sum() == pytest.approx(national[2015] * growth ** 5)
    assert share.loc[2020, "a"] / share.loc[2020].sum() == pytest.approx(observed.loc[2015, "a"] / national[2015])


def test_forecast_constants_hide_the_years_after_the_cut():
    from kbalance.calibration.calibrate import forecast_constants

    constants = forecast_constants(2015)
    assert constants["history end year"] == 2016 and constants["last observed fertility year"] == 2015
    rates = [v for k, v in constants.items() if k.startswith("other change rate[")]
    assert len(rates) == 17 and all(np.isfinite(rates))


def test_backtest_summary_compares_the_last_year():
    from kbalance.calibration.calibrate import backtest_summary

    table = pd.DataFrame({"series": "s", "target": "t", "region": ["11", "21"] * 2, "year": [2023, 2023, 2024, 2024],
                          "observed": [100.0] * 4, "model": [101.0, 99.0, 102.0, 98.0],
                          "naive_trend": [110.0] * 4, "naive_share": [95.0] * 4})
    row = backtest_summary(table).iloc[0]
    assert row["mape_last_model"] == pytest.approx(2.0) and row["mape_model"] == pytest.approx(1.5)
    assert row["mape_last_naive_share"] == pytest.approx(5.0) and bool(row["model_beats_both_last_year"])


def test_lag_one_autocorrelation_of_smooth_and_alternating_residuals():
    from kbalance.calibration.calibrate import Target, lag_one_autocorrelation

    years = np.arange(2001, 2021)
    observed = np.ones((20, 17))
    target = Target("t", "s", "v", years, observed, 0, 1.0, 1.0)
    smooth = observed + np.linspace(0, 1, 20)[:, None] * np.linspace(0.5, 1.5, 17)[None, :]
    alternating = observed + np.where(np.arange(20) % 2 == 0, 1.0, -1.0)[:, None] * np.ones((1, 17))
    assert lag_one_autocorrelation({"t": smooth}, [target]) > 0.8
    assert lag_one_autocorrelation({"t": alternating}, [target]) == 0.0  # negative correlation is floored


def test_a_small_constrained_ensemble_is_reproducible_and_within_its_threshold(tmp_path):
    from kbalance.calibration.calibrate import constrained_ensemble
    from kbalance.model.parameters import latest_fitted_set

    fitted = latest_fitted_set()
    if fitted is None:
        pytest.skip("no fitted set shipped")
    first, info = constrained_ensemble(fitted, members=60, workers=1, chunk_size=60, progress=False)
    again, _ = constrained_ensemble(fitted, members=60, workers=1, chunk_size=60, progress=False)
    pd.testing.assert_frame_equal(first, again)
    assert info["threshold"] > info["cost_best_fit"] and 0 < info["lag1_autocorrelation"] < 1
    assert (first["cost"] <= info["threshold"]).all()
    assert info["members_sampled"] == 60


@pytest.mark.parametrize("text, field, allowed", [
    ("[births]\ngoal_mape = \"five\"\n", "births.goal_mape", "non-negative number"),
    ("[births]\ngoal_mape = -1\n", "births.goal_mape", "non-negative number"),
    ("[births]\ngoal_mape = 5\ngoal_r2 = 0.6\n", "births.goal_r2", "not both"),
])
def test_bad_goals_name_file_field_and_allowed(tmp_path, text, field, allowed):
    from kbalance.calibration.calibrate import target_goals

    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidValueError) as info:
        target_goals(path)
    message = str(info.value)
    assert "targets.toml" in message and f"'{field}'" in message and allowed in message


def test_shipped_goals():
    from kbalance.calibration.calibrate import target_goals

    goals = target_goals()
    assert goals["population"] == ("mape", 1.0) and goals["net_migration"] == ("r2", 0.6)
