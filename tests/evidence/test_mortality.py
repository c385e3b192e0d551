"""Regional mortality relative to the national schedule by year, and the prior of its trend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.evidence.mortality import (level_spread, log_linear_slope, regional_mortality_ratios, sex_gap_prior,
                                        trend_prior)
from kbalance.paths import calibration_dir, read_toml


def test_log_linear_slope_recovers_an_exact_trend_and_skips_gaps():
    years = np.arange(2010, 2020)
    values = 1.1 * np.exp(-0.004 * (years - 2010))
    values[3] = np.nan
    slope, error = log_linear_slope(years, values)
    assert slope == pytest.approx(-0.004, rel=1e-9) and error == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="three years"):
        log_linear_slope([2010, 2011], [1.0, 1.1])


def test_trend_prior_spreads_of_noisy_flat_ratios_are_small():
    rng = np.random.default_rng(1)
    ratios = pd.DataFrame(np.exp(rng.normal(0, 0.01, (11, 5))), index=range(2012, 2023), columns=list("abcde"))
    prior = trend_prior(ratios)
    assert prior.between <= prior.spread < 0.005
    assert set(prior.slopes.index) == set("abcde")


@pytest.fixture(scope="module")
def ratios():
    return regional_mortality_ratios()


def test_ratios_are_relative_levels_with_boundary_years_left_out(ratios):
    assert list(ratios.index) == list(range(2012, 2023)) and ratios.shape[1] == 17
    assert np.isnan(ratios.loc[2012, "Sejong"]) and np.isnan(ratios.loc[2012, "Chungnam"])
    values = ratios.to_numpy()
    assert np.isnan(values).sum() == 3 and ((values[np.isfinite(values)] > 0.7) & (values[np.isfinite(values)] < 1.3)).all()
    assert ratios["Seoul"].mean() < 0.9 < 1.05 < ratios["Jeonnam"].mean()    # capital lower, south-west higher


def test_the_priors_of_the_regional_mortality_parameters_are_the_estimated_spreads(ratios):
    prior = trend_prior(ratios)
    specs = read_toml(calibration_dir() / "parameters.toml", "parameters", "calibration/parameters.toml")
    trend, ratio = specs["regional_mortality_trend"], specs["regional_mortality_ratio"]
    assert trend["prior"] == "normal" and trend["prior_mean"] == 0.0 and trend["default"] == 0.0
    assert trend["prior_sd"] == pytest.approx(prior.between, abs=5e-6)
    assert ratio["prior"] == "normal" and ratio["prior_mean"] == 1.0 and ratio["default"] == 1.0
    assert ratio["prior_sd"] == pytest.approx(level_spread(ratios), abs=5e-4)
    assert prior.slopes["Sejong"] < -0.01          # the new city: its residents' mortality fell relative to the nation


def test_the_prior_of_the_sex_gap_target_is_the_un_median_gap_with_the_spread_of_its_estimates():
    prior = sex_gap_prior()
    specs = read_toml(calibration_dir() / "parameters.toml", "parameters", "calibration/parameters.toml")
    target = specs["life_expectancy_sex_gap_target"]
    assert target["prior"] == "normal" and target["default"] == target["prior_mean"]
    assert target["prior_mean"] == pytest.approx(prior.mean, abs=5e-5)
    assert target["prior_sd"] == pytest.approx(prior.sd, abs=5e-5)
    low, high = target["range"]
    assert low == pytest.approx(prior.mean - 4 * prior.sd, abs=1e-3) and high == pytest.approx(prior.mean + 4 * prior.sd, abs=1e-3)
    # the UN gap barely moves over the projection: it neither closes nor widens by half a year
    assert float(prior.gaps.loc[2024:2100].max() - prior.gaps.loc[2024:2100].min()) < 0.5
    assert 0 < prior.sd < 1


def test_a_sex_gap_prior_outside_the_un_years_is_refused():
    with pytest.raises(ValueError, match="UN WPP has medians"):
        sex_gap_prior(year=2200)
