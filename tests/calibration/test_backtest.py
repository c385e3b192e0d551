"""The rolling-origin backtests: constants that hide the future, the jump-off, naive forecasts, the table and the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.calibration import backtest as backtest_module
from kbalance.calibration.backtest import (COLUMNS, ECONOMY_JUMP_OFF, SERIES, backtest_origin, backtest_summary, backtests,
                                           forecast_constants, horizon_errors, jump_off_constants, mortality_constants,
                                           naive_forecasts, naive_migration, observed_population)
from kbalance.calibration.fit import FitResult
from kbalance.errors import InvalidValueError
from kbalance.model.economy_inputs import economy_jump_off
from kbalance.model.mortality import fit_national_mortality
from kbalance.model.parameters import latest_fitted_set, shipped_parameter_set
from kbalance.model.scenarios import Scenario
from kbalance.runs import run_model
from kbalance.observations.load import load_series
from kbalance.regions import region_codes


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
    assert forecast_constants(2015, fertility_until=2023)["last observed fertility year"] == 2023


def test_a_forecast_follows_the_mortality_known_at_its_origin():
    """After the origin the common index is the random walk's mean path from the origin's level
    and each sex's index its AR(1) path from its origin value: the observed (fitted) indices of
    the later years, the COVID-19 excess of 2022 among them, are not used."""
    constants = forecast_constants(2015) | mortality_constants(2015, registered=True)
    assert constants["last mortality index year"] == constants["mortality index jump off year"] == 2015
    assert mortality_constants(2022, registered=True) == {}        # the last year of the index: nothing to hide
    parameters = shipped_parameter_set()
    names = ["common mortality index", "sex mortality index"]
    run = run_model(Scenario("backtest", "", constants=constants), parameters, until=2024, variables=names)
    full = run_model(Scenario("baseline", ""), parameters, until=2024, variables=names)
    index = run["common mortality index"].squeeze().sel(year=slice(2016, 2024))
    expected = constants["mortality index jump off"] + constants["mortality index drift"] * (index["year"] - 2015)
    np.testing.assert_allclose(index.values, expected.values, rtol=1e-12)
    fit = fit_national_mortality()
    sex = run["sex mortality index"].squeeze().transpose("year", "Sex")
    k2015 = fit.model.kt[:, 2015 - fit.years[0]]
    for i, process in enumerate(fit.ar1):
        path = process.mean + process.phi ** (sex["year"].values[sex["year"].values > 2015] - 2015) * (k2015[i] - process.mean)
        np.testing.assert_allclose(sex.sel(year=slice(2016, 2024)).values[:, i], path, rtol=1e-9)  # inputs to 10 digits
    # through the origin the indices are the history's
    np.testing.assert_allclose(run["common mortality index"].sel(year=slice(2001, 2015)).values,
                               full["common mortality index"].sel(year=slice(2001, 2015)).values, rtol=1e-12)
    assert float(full["common mortality index"].sel(year=2022).squeeze()) > float(index.sel(year=2022)) + 10


def test_a_forecast_starts_from_the_regional_mortality_observed_to_its_origin():
    """From the jump-off the regions' mortality is the level observed on the registered
    residents to the origin, whatever the calibrated levels of the history: with the
    calibrated ratios distorted by a factor 2 between regions, each region's share of the
    deaths of the first forecast year stays within 4 % of the observed share."""
    from kbalance.engine.compiler import compile_model
    from kbalance.model.regional_mortality import jump_off_mortality_ratio, observed_deaths
    jump = jump_off_constants(compile_model(), 2019)
    np.testing.assert_array_equal(jump["jump off mortality ratio"][0], jump_off_mortality_ratio(2019)["value"].to_numpy())
    constants = forecast_constants(2019) | mortality_constants(2019, registered=True) | jump
    parameters = shipped_parameter_set()
    distorted = dict(parameters.values, **{"regional mortality ratio": [1.4, 0.7] * 8 + [1.4]})
    run = run_model(Scenario("backtest", "", constants=constants), type(parameters)(parameters.name, distorted, parameters.path),
                    until=2020, variables=["total deaths"])
    model = run["total deaths"].squeeze().sel(year=2020).values
    observed = observed_deaths([2020]).to_numpy()[0, :-1]
    assert np.max(np.abs((model / model.sum()) / (observed / observed.sum()) - 1)) < 0.04


def test_backtest_summary_compares_all_years_and_the_last():
    table = pd.DataFrame({"series": "s", "region": ["11", "21"] * 2, "year": [2023, 2023, 2024, 2024],
                          "observed": [100.0] * 4, "model": [101.0, 99.0, 102.0, 98.0],
                          "naive_trend": [110.0] * 4, "naive_share": [95.0] * 4})
    row = backtest_summary(table).iloc[0]
    assert row["mape_last_model"] == pytest.approx(2.0) and row["mape_model"] == pytest.approx(1.5)
    assert row["mape_last_naive_share"] == pytest.approx(5.0) and bool(row["model_beats_both_last_year"])
    assert row["wape_model"] == pytest.approx(1.5) and bool(row["model_beats_both"])


def test_net_migration_is_compared_with_its_mean_rate_only():
    table = pd.DataFrame({"series": "net_migration", "region": ["11", "21"], "year": [2020, 2020],
                          "observed": [100.0, -100.0], "model": [50.0, -50.0], "naive_trend": [0.0, 0.0],
                          "naive_share": [np.nan, np.nan]})
    row = backtest_summary(table).iloc[0]
    assert np.isnan(row["mape_naive_share"]) and np.isnan(row["wape_naive_share"])
    assert row["wape_model"] == pytest.approx(50.0) and bool(row["model_beats_both"])


def test_origins_need_five_years_before_and_one_after():
    assert backtest_module.check_origins([2010, 2015, 2019]) == [2010, 2015, 2019]
    for bad in (2005, 2024, 2015.5):
        with pytest.raises(InvalidValueError, match="'--origins'"):
            backtest_module.check_origins([2015, bad])


def test_naive_migration_holds_the_mean_net_rate_of_five_years():
    years = range(2010, 2016)
    net = pd.DataFrame({"a": [10.0, 20, 30, 40, 50, 60], "b": [-5.0] * 6}, index=years)
    population = pd.DataFrame({"a": [1000.0] * 6, "b": [500.0] * 6}, index=years)
    forecast = naive_migration(net, population, 2015, [2016, 2020])
    assert forecast.loc[2020, "a"] == pytest.approx(np.mean([20, 30, 40, 50, 60]) / 1000 * 1000)
    assert forecast.loc[2016, "b"] == pytest.approx(-5.0)


class FakeModel:
    names = {"jump off year": "jump_off_year", "jump off population": "jump_off_population"}
    subscripts = {"Sex": ["Male", "Female"], "Age": [f"A{a}" for a in range(101)]}


def test_a_forecast_jumps_off_from_the_observed_population_only_when_the_model_can():
    constants = jump_off_constants(FakeModel(), 2015)
    assert constants["jump off year"] == 2016
    population = constants["jump off population"]
    assert population.shape == (1, 17, 2, 101)
    total = load_series("pop_registered").query("year == 2015").set_index("region_code")["value"]
    np.testing.assert_allclose(population[0].sum(axis=(1, 2)), total.reindex(region_codes()).to_numpy(), rtol=1e-3)
    assert jump_off_constants(FakeModel(), 2010) == {}  # not observed by age before 2011: the model's own history

    class Plain:
        names = {"births": "births"}
        subscripts = FakeModel.subscripts

    assert jump_off_constants(Plain(), 2015) == {}
    assert jump_off_constants(FakeModel(), 2019, lambda year: np.ones((17, 2, 101)))["jump off population"].sum() == 3434
    assert observed_population(2015, 85).shape == (17, 2, 86)  # folded to another open age
    assert observed_population(2010, 100) is None


def test_a_forecast_starts_from_the_economy_observed_at_the_origin():
    class Economy(FakeModel):
        names = FakeModel.names | {name: name.replace(" ", "_") for name in ECONOMY_JUMP_OFF}

    def ones(year: int) -> np.ndarray:
        return np.ones((17, 2, 101))

    constants = jump_off_constants(Economy(), 2019, ones)
    observed = economy_jump_off(2019)
    assert constants["jump off economy year"] == 2019
    np.testing.assert_array_equal(constants["jump off labour productivity"], observed[["labour_productivity"]].T)
    np.testing.assert_array_equal(constants["jump off employment rate"], observed[["employment_rate"]].T)
    assert not set(ECONOMY_JUMP_OFF) & set(jump_off_constants(FakeModel(), 2019, ones))  # a model without one


def test_backtests_write_one_table_a_summary_a_figure_and_the_fitted_sets(tmp_path, monkeypatch):
    def fake_origin(origin, max_evaluations, start, progress):
        rows = [{"origin": origin, "series": series, "region": "11", "year": origin + h, "horizon": h,
                 "observed": 100.0, "model": 100.0 + h, "naive_trend": 100.0 + 2 * h, "naive_share": 97.0}
                for series in ("population", "births") for h in (1, 2, 3)]
        result = FitResult(values={}, unit=np.array([]), cost=1.0, initial_cost=2.0, evaluations=3, status="test",
                           until=origin, converged=False)
        return pd.DataFrame(rows, columns=list(COLUMNS)), result, origin > 2010

    monkeypatch.setattr(backtest_module, "backtest_origin", fake_origin)
    monkeypatch.setattr(backtest_module, "fitted_set_text", lambda result: f"until = {result.until}\n")
    (tmp_path / "fit_statistics.csv").write_text("kept")
    summary = backtests(tmp_path, origins=(2010, 2015), progress=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["backtest_error_by_horizon.png", "backtest_fitted_2010.toml", "backtest_fitted_2015.toml",
                     "backtests.csv", "backtests_summary.csv", "fit_statistics.csv"]
    table = pd.read_csv(tmp_path / "backtests.csv")
    assert tuple(table.columns) == COLUMNS and set(table["origin"]) == {2010, 2015}
    assert list(summary["jump_off"]) == [False, False, True, True] and not summary["converged"].any()
    errors = horizon_errors(table).set_index(["series", "horizon"])
    assert errors.loc[("births", 3), "model"] == pytest.approx(3.0)


def test_one_origin_fits_to_its_year_and_forecasts_every_series():
    table, result, jumped = backtest_origin(2015, max_evaluations=1, start=latest_fitted_set(), progress=False)
    assert result.until == 2015 and result.evaluations == 1 and jumped  # the model has a jump-off
    assert tuple(table.columns) == COLUMNS and (table["horizon"] >= 1).all() and (table["year"] > 2015).all()
    assert set(table["series"]) == set(SERIES) - {"fiscal_autonomy"}  # observed from 2014 only: from origin 2019
    assert table.loc[table["series"] == "net_migration", "naive_share"].isna().all()
    population = table[table["series"] == "population"]
    assert np.isfinite(population[["model", "naive_share"]]).all().all()
    sejong = population["region"] == "29"  # no naive trend for a region absent five years before the origin
    assert population.loc[sejong, "naive_trend"].isna().all() and np.isfinite(population.loc[~sejong, "naive_trend"]).all()
    assert (np.abs(population["model"] / population["observed"] - 1) < 0.2).all()
    first = population[population["horizon"] == 1]  # one year after the observed jump-off
    error = np.abs(first["model"] / first["observed"] - 1)
    new_city = first["region"] == "29"  # grew 15 % in 2016, its arrivals following homes the jump-off does not observe
    assert (error[~new_city] < 0.03).all() and (error[new_city] < 0.05).all()
    # the national TFR fell from 1.24 (2015) to 0.72 (2023): with it as observed, fewer births everywhere
    births = table[(table["series"] == "births") & (table["year"] == 2023)]
    assert (births["model_observed_fertility"] < births["model"]).all()
    employed = table[(table["series"] == "employed") & (table["horizon"] == 1)]  # from the observed economy
    assert (np.abs(employed["model"] / employed["observed"] - 1) < 0.03).all()


def test_an_origin_without_observed_regional_mortality_fails_before_the_fit(monkeypatch):
    """The regional mortality ratios start in 2012 (registered ages from December 2011) and
    leave out Sejong and Chungnam in 2012 (the boundary change), so a forecast jumping off
    from December 2012 has none for them: the error names the file and field at once."""
    monkeypatch.setattr(backtest_module, "fit", lambda **kwargs: pytest.fail("fitted before the jump-off was checked"))
    with pytest.raises(InvalidValueError, match="vital.csv.*'deaths'.*registered ages of every region"):
        backtest_origin(2012, progress=False)
