"""Kannisto rates above the highest reliable age."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_shared
from kbalance.demography.lifetable import life_table
from kbalance.demography.oldage import complete_rates, extend_old_ages, fit_kannisto, kannisto_rates


def test_fit_recovers_parameters_from_expected_deaths():
    ages = np.arange(80, 95)
    log_a = np.array([[-2.2, -2.6], [-2.0, -2.4]])          # (sex, year)
    b = np.array([[0.10, 0.11], [0.12, 0.09]])
    exposure = np.broadcast_to(np.linspace(5e4, 4e3, ages.size), (2, 2, ages.size))
    deaths = exposure * kannisto_rates(log_a, b, ages)
    fitted_a, fitted_b = fit_kannisto(deaths, exposure, ages)
    np.testing.assert_allclose(fitted_a, log_a, atol=1e-9)
    np.testing.assert_allclose(fitted_b, b, atol=1e-9)


def test_rates_rise_towards_one():
    mu = kannisto_rates(-2.0, 0.1, np.arange(80, 300, 10))
    assert np.all(np.diff(mu) > 0) and mu[-1] < 1 and mu[-1] > 0.999


def test_extension_keeps_observed_rates_below_from_age():
    ages = np.arange(111)
    exposure = np.full(111, 1e4)
    deaths = exposure * np.minimum(3e-5 * np.exp(0.1 * ages), 0.9)
    rates = extend_old_ages(deaths, exposure, fit_ages=(80, 94), from_age=95, last_age=130)
    assert rates.shape == (131,)
    np.testing.assert_array_equal(rates[:95], deaths[:95] / exposure[:95])
    assert np.all(np.diff(rates[95:]) > 0)
    with pytest.raises(ValueError, match="fit"):
        extend_old_ages(deaths, exposure, fit_ages=(80, 140))


@needs_shared
def test_national_rates_are_complete_and_close_to_the_raw_table():
    """The Kannisto tail changes e0 by less than 0.15 years against observed rates to 100+."""
    from .demography_data import FEMALE, mortality

    data = mortality()
    deaths, exposure = data["deaths"].values, data["exposure"].values
    rates = complete_rates(deaths, exposure)
    assert rates.shape == deaths.shape and np.all(rates > 0)
    np.testing.assert_array_equal(rates[..., :95], deaths[..., :95] / exposure[..., :95])
    raw = life_table(deaths / exposure, FEMALE).e0                # observed rates, 100+ open
    assert np.abs(life_table(rates, FEMALE).e0 - raw).max() < 0.15
