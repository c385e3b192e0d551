"""Regional mortality relative to the national schedule from the data, and the level a projection jumps off from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.errors import InvalidValueError
from kbalance.model.regional_mortality import (JUMP_OFF_MORTALITY_YEARS, boundary_region_years, jump_off_mortality_ratio,
                                               last_regional_deaths_year, regional_mortality_ratios)
from kbalance.paths import model_dir


def test_the_jump_off_level_is_the_mean_ratio_of_the_latest_years_with_regional_deaths():
    last = last_regional_deaths_year()
    years = range(last - JUMP_OFF_MORTALITY_YEARS + 1, last + 1)
    level = jump_off_mortality_ratio()["value"]
    pd.testing.assert_series_equal(level, regional_mortality_ratios(years).mean().rename_axis("key"), check_names=False)
    committed = pd.read_csv(model_dir() / "inputs" / "jump_off_mortality_ratio.csv", index_col="key")["value"]
    np.testing.assert_allclose(committed.loc[level.index], level, rtol=1e-9)
    # relative levels about 1: Seoul lowest, none outside the documented range of the regional ratio
    assert level.idxmin() == "Seoul" and level.between(0.7, 1.4).all()


def test_a_backtest_origin_takes_the_years_to_it_and_no_year_after_the_latest():
    assert jump_off_mortality_ratio(2015)["value"].tolist() == regional_mortality_ratios(range(2013, 2016)).mean().tolist()
    assert jump_off_mortality_ratio(2100).equals(jump_off_mortality_ratio())


def test_a_boundary_change_leaves_the_regions_it_touches_out_of_that_year():
    touched = boundary_region_years()
    assert ("29", 2012) in touched and ("34", 2012) in touched     # Sejong from parts of Chungnam
    ratios = regional_mortality_ratios(range(2012, 2014))
    assert np.isnan(ratios.loc[2012, "Sejong"]) and np.isfinite(ratios.loc[2013, "Sejong"])


def test_a_jump_off_before_the_ratios_begin_is_refused_naming_the_file():
    with pytest.raises(InvalidValueError, match="vital.csv.*'deaths'.*registered ages of every region"):
        jump_off_mortality_ratio(2005)


def test_the_level_is_read_from_the_observation_set_it_is_given(calib_copy):
    vital = calib_copy / "observations" / "vital.csv"
    table = pd.read_csv(vital, dtype={"region_code": str})
    busan = (table["series"] == "deaths") & (table["region_code"] == "21")
    table.loc[busan, "value"] *= 2                       # the country's deaths stay as they were
    table.to_csv(vital, index=False)
    np.testing.assert_allclose(jump_off_mortality_ratio(root=calib_copy)["value"]["Busan"],
                               2 * jump_off_mortality_ratio()["value"]["Busan"], rtol=1e-12)
