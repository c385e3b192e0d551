"""The model's mortality inputs: the Li–Lee fit of the HMD rates, the index of the later
observed years and their tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.demography.lifetable import cohort_rates, life_table
from kbalance.errors import InvalidValueError
from kbalance.model import mortality
from kbalance.model.mortality import (OPEN_AGE, ObservedIndex, fit_national_mortality, jump_off_index,
                                      male_life_expectancy_response, mortality_tables, national_deaths, observed_index, origin_index,
                                      registered_population, sex_gap_adjustment_time, sex_index_path)
from kbalance.paths import model_dir


@pytest.fixture(scope="module")
def fit():
    return fit_national_mortality()


@pytest.fixture(scope="module")
def observed(fit):
    return observed_index(fit)


def test_refitting_gives_the_same_tables(fit, observed):
    first = mortality_tables(fit, observed)
    refit = fit_national_mortality()
    again = mortality_tables(refit, observed_index(refit))
    assert first.keys() == again.keys()
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name], check_exact=True)


def test_tables_are_the_committed_inputs(fit, observed):
    for name, table in mortality_tables(fit, observed).items():
        committed = pd.read_csv(model_dir() / "inputs" / name, index_col=0)
        np.testing.assert_allclose(committed.to_numpy(), table.to_numpy(), rtol=1e-9, err_msg=name)


def test_fit_covers_2003_to_2020_with_a_falling_index_and_stationary_sex_indices(fit, observed):
    tables = mortality_tables(fit, observed)
    assert list(tables["mortality_index.csv"].index) == list(range(2003, 2023))
    assert tables["mortality_age.csv"].shape == (6, OPEN_AGE + 1)
    scalars = tables["mortality_scalars.csv"]["value"]
    assert scalars["index_drift"] < -2 * scalars["index_drift_se"] < 0
    assert scalars["index_drift"] == pytest.approx((fit.model.Kt[-1] - fit.model.Kt[0]) / 17)
    assert scalars["last_fitted_year"] == 2020 and scalars["last_index_year"] == 2022
    # the projection starts from the observed level of 2021 on the registered basis
    assert scalars["index_jump_off_year"] == 2021
    assert scalars["index_jump_off"] == observed.registered[0] == observed.K[0] - scalars["index_basis_offset"]
    phi = tables["mortality_sex.csv"]["ar1_coefficient"]
    assert ((phi > 0) & (phi < 1)).all()
    np.testing.assert_allclose(tables["mortality_age.csv"].loc[["common_loading", "loading_Male", "loading_Female", "ultimate_loading"]].sum(axis=1), 1.0)


def test_observed_index_reproduces_the_observed_deaths(fit, observed):
    """Lee and Carter's second stage: without the basis offset, the schedule applied as the
    model applies it to the registered population gives each observed year's national deaths."""
    assert list(observed.years) == [2021, 2022]
    rates = fit.model.rates(observed.registered, observed.sex_index)          # (sex, year, age)
    model = (registered_population(observed.years) * -np.expm1(-cohort_rates(rates))).sum(axis=(0, 2))
    np.testing.assert_allclose(model, national_deaths().loc[[2021, 2022]].values, rtol=1e-6)
    np.testing.assert_allclose(observed.K - observed.registered, observed.offset, rtol=1e-12)
    np.testing.assert_allclose(observed.sex_index, sex_index_path(fit, observed.years), rtol=1e-12)


def test_basis_offset_is_the_mean_gap_over_the_years_both_bases_cover(fit, observed):
    assert list(observed.overlap_years) == list(range(2012, 2021))
    rows = observed.overlap_years - fit.years[0]
    rates = fit.model.rates(fit.model.Kt[rows] - observed.offset, fit.model.kt[:, rows])
    model = (registered_population(observed.overlap_years) * -np.expm1(-cohort_rates(rates))).sum(axis=(0, 2))
    observed_deaths = national_deaths().loc[list(observed.overlap_years)].values
    # one offset for all the years: each year within 1 % of its deaths, none exact
    assert np.max(np.abs(model / observed_deaths - 1)) < 0.01
    # on the registered population the HMD's rates give more deaths than observed: the register
    # holds more people at the oldest ages than the HMD's exposure (95-99: 12-31 %, 100+: 4-5
    # times, 2012-2020), so the registered basis needs a lower index
    assert 0 < observed.offset < 5


def test_the_excess_years_lie_above_the_trend(fit, observed):
    trend = fit.walk.last + fit.walk.drift * (observed.years - fit.years[-1])
    excess = observed.K - trend
    assert (excess > 0).all() and excess[1] > 3 * excess[0]      # 2022: the omicron wave


def test_fitted_rates_give_life_expectancy_close_to_the_data(fit):
    e0 = life_table(fit.model.rates(), np.array([[False], [True]])).e0
    assert e0.shape == (2, 18)
    assert 73 < e0[0, 0] < 75 and 80 < e0[0, -1] < 81.5   # men 2003, 2020
    assert (e0[1] > e0[0]).all()


def test_sex_index_path_refuses_fitted_years(fit):
    with pytest.raises(ValueError, match="after the last fitted year"):
        sex_index_path(fit, [2020, 2021])


def test_a_registered_population_outside_the_fitted_years_is_refused_naming_the_file(fit, monkeypatch):
    real = mortality.age_structure

    def later(prefix, root=None):  # the registered ages only from long after the HMD fit
        table = real(prefix, root)
        return table.assign_coords(year=table.year + 100)
    monkeypatch.setattr(mortality, "age_structure", later)
    with pytest.raises(InvalidValueError, match="population_age.csv.*'year'.*December before one of the fitted years"):
        observed_index(fit)


def test_the_jump_off_is_the_lowest_observed_level_not_an_excess_year(fit, observed):
    """Each observed year's registered-basis level rolled forward by the drift: the lowest
    starts the projection, so an excess year (here 2021 made the highest) is passed over."""
    assert jump_off_index(fit, observed) == (observed.registered[0], 2021)
    swapped = ObservedIndex(observed.years, observed.K[::-1], observed.registered[::-1], observed.sex_index,
                            observed.offset, observed.overlap_years)
    assert jump_off_index(fit, swapped) == (observed.registered[0], 2022)


def test_without_observed_years_the_jump_off_is_the_last_fitted_index_on_the_registered_basis(fit, observed):
    empty = ObservedIndex(np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros((2, 0)), observed.offset,
                          observed.overlap_years)
    assert jump_off_index(fit, empty) == (fit.walk.last - observed.offset, 2020)


def test_the_sex_gap_rule_inputs_are_the_male_response_at_the_jump_off_and_the_womens_persistence(fit, observed):
    tables = mortality_tables(fit, observed)
    scalars = tables["mortality_scalars.csv"]["value"]
    # the last two rows, after the rows the model file reads by position before them
    assert list(scalars.index[-2:]) == ["male_e0_response", "sex_gap_adjustment_time"]
    response = scalars["male_e0_response"]
    level = scalars["index_jump_off"]
    kt = observed.sex_index[:, 0]                                   # the jump-off year 2021
    e0 = [float(life_table(fit.model.rates(np.array([k]), kt[:, None])[0, 0], False).e0) for k in (level, level + 1)]
    assert e0[0] - e0[1] == pytest.approx(response, rel=0.02)        # one unit of K costs men this much e0
    assert response == pytest.approx(male_life_expectancy_response(fit, observed, step=0.05), rel=1e-3)
    assert 0 < response < 1
    phi = tables["mortality_sex.csv"].loc["Female", "ar1_coefficient"]
    assert scalars["sex_gap_adjustment_time"] == pytest.approx(1 / (1 - phi)) == sex_gap_adjustment_time(fit)
    assert scalars["sex_gap_adjustment_time"] > 1


def test_a_forecast_origin_starts_from_its_own_deaths_with_the_drift_of_the_years_to_it(fit, observed):
    """The registered-basis level reproduces the origin's deaths on the registered population of
    the December before; on the HMD scale it is the fitted index; the drift is the mean annual
    change of the fitted index to the origin, not of every fitted year."""
    row = 2015 - fit.years[0]
    level, drift = origin_index(fit, observed, 2015, registered=True)
    rates = fit.model.rates(np.array([level]), fit.model.kt[:, [row]])
    model = (registered_population([2015]) * -np.expm1(-cohort_rates(rates))).sum()
    assert model == pytest.approx(national_deaths()[2015], rel=1e-6)
    assert drift == pytest.approx(np.mean(np.diff(fit.model.Kt[: row + 1]))) and drift != pytest.approx(fit.walk.drift)
    assert origin_index(fit, observed, 2015, registered=False) == (pytest.approx(fit.model.Kt[row]), pytest.approx(drift))
    # after the fit, an observed year's level and the drift of every fitted year
    assert origin_index(fit, observed, 2021, registered=True) == (pytest.approx(observed.registered[0]),
                                                                  pytest.approx(fit.walk.drift))
    # without registered ages in the December before (2010), the fitted index less the basis offset
    assert origin_index(fit, observed, 2011, registered=True)[0] == pytest.approx(fit.model.Kt[8] - observed.offset)
    with pytest.raises(InvalidValueError, match="'--origins'.*a year of the mortality index"):
        origin_index(fit, observed, 2001, registered=False)
