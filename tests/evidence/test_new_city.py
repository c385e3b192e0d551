"""The fertility of a new city's newcomers from Sejong's TFR as it filled."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from kbalance.evidence import new_city as nc
from kbalance.paths import calibration_dir
from kbalance.regions import code_of


def test_the_newcomer_share_starts_at_zero_and_counts_residents_beyond_those_inherited():
    population = pd.Series([100.0, 200.0, 400.0, 80.0], index=[2012, 2013, 2014, 2015])
    share = nc.newcomer_share(population, 100.0, 2012)
    assert list(share.index) == [2012, 2013, 2014, 2015]
    np.testing.assert_allclose(share.values, [0.0, 0.0, 0.5, 0.75])   # year t: the year-end of t - 1
    with pytest.raises(ValueError):
        nc.newcomer_share(population, -1.0, 2012)


def test_the_fit_recovers_a_known_newcomer_ratio_and_fails_on_too_few_years():
    share = pd.Series(np.linspace(0.0, 0.8, 9), index=range(2012, 2021))
    ratio = 1.2 * (1 + (1.5 - 1) * share)
    fit = nc.fit_ratio(share, ratio)
    assert fit.ratio == pytest.approx(1.5) and fit.intercept == pytest.approx(1.2)
    assert fit.std_error == pytest.approx(0.0, abs=1e-9) and fit.n == 9
    noisy = ratio + np.random.default_rng(1).normal(0, 0.02, len(ratio))
    assert nc.fit_ratio(share, noisy).std_error > 0
    flat = nc.fit_ratio(share, pd.Series(1.2, index=share.index))
    assert flat.ratio == pytest.approx(1.0)                               # no newcomer effect → 1
    with pytest.raises(ValueError):
        nc.fit_ratio(share.iloc[:2], ratio.iloc[:2])


def test_sejongs_newcomers_have_higher_fertility_than_its_inherited_residents():
    code = code_of(nc.NEW_CITY)
    assert nc.inherited_residents(code) > 50_000                         # Yeongi-gun and parts of Gongju, Cheongwon
    fit = nc.fertility_ratio()
    assert fit.n >= 10 and fit.ratio > 1 + 2 * fit.std_error
    # the inherited residents' level is near that of Chungnam, the mother province, before 2015
    chungnam = nc.observed_tfr_ratio(code_of("Chungnam")).loc[2012:2014].mean()
    assert abs(fit.intercept - chungnam) < 0.1


def test_the_parameter_file_carries_the_estimated_prior():
    params = tomllib.loads((calibration_dir() / "parameters.toml").read_text("utf-8"))
    by_model = {entry["model"]: entry for entry in params.values() if isinstance(entry, dict) and "model" in entry}
    for row in nc.priors().itertuples():
        entry = by_model[row.parameter]
        assert entry["prior_mean"] == pytest.approx(row.prior_mean, rel=0.01), row.parameter
        assert entry["prior_sd"] == pytest.approx(row.prior_sd, rel=0.01), row.parameter
        assert entry["range"][0] < entry["prior_mean"] < entry["range"][1]
