"""The jump-off population and the international migration inputs from observations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.errors import InvalidValueError
from kbalance.model.population import (international_migration_profile, jump_off_population, latest_age_year,
                                       observed_age_groups, residual_intensity, residual_key, to_model_ages)
from kbalance.observations.keyed import municipal_age_structure
from kbalance.observations.load import age_structure
from kbalance.regions import region_codes


@pytest.mark.parametrize("open_age", [85, 100])
def test_jump_off_population_keeps_every_group_and_region_total(open_age):
    year = latest_age_year()
    groups = observed_age_groups(year)
    population = jump_off_population(year, open_age)
    for i, sex in enumerate(("male", "female")):
        table = population[sex]
        assert table.shape == (17, open_age + 1) and (table.to_numpy() >= 0).all()
        np.testing.assert_allclose(table.sum(axis=1), groups.isel(sex=i).sum("age_group"), rtol=1e-12)
        women_20_39 = table[[f"A{a}" for a in range(20, 40)]].sum(axis=1).to_numpy()
        old = table[[f"A{a}" for a in range(65, open_age + 1)]].sum(axis=1).to_numpy()
        np.testing.assert_allclose(women_20_39, groups.isel(sex=i).sel(age_group=["20_24", "25_29", "30_34", "35_39"])
                                   .sum("age_group"), rtol=1e-12)
        np.testing.assert_allclose(old, groups.isel(sex=i, age_group=slice(13, None)).sum("age_group"), rtol=1e-12)


def test_the_latest_year_is_the_last_municipal_december_with_every_age_vector():
    municipal = municipal_age_structure()
    assert latest_age_year() == int(municipal.year.max())


def test_region_level_and_municipal_sums_give_the_same_groups_where_both_exist():
    year = int(age_structure("pop_registered").year.max())
    registered = observed_age_groups(year)
    municipal = municipal_age_structure().sel(year=year).groupby("region").sum("sgg_code").reindex(region=region_codes())
    np.testing.assert_allclose(registered.values, municipal.transpose("region", "sex", "age_group").values, rtol=1e-9)


def test_a_year_without_age_data_is_refused():
    with pytest.raises(InvalidValueError, match="year"):
        observed_age_groups(1990)


def test_folding_to_the_model_ages_sums_the_open_group():
    single = np.arange(101.0)
    folded = to_model_ages(single, 85)
    assert folded.shape == (86,) and folded[84] == 84 and folded[85] == sum(range(85, 101))
    with pytest.raises(ValueError):
        to_model_ages(single, 101)


def test_migration_profile_sums_to_one_and_peaks_at_young_adult_ages():
    profile = international_migration_profile(85)
    assert profile.to_numpy().sum() == pytest.approx(1.0) and (profile.to_numpy() >= 0).all()
    peak = int(profile.loc["Male"].idxmax()[1:])
    assert 18 <= peak <= 35


def test_residual_key_is_each_regions_share_of_the_window():
    residual = pd.DataFrame({c: [1.0, 3.0] for c in region_codes()}, index=[2013, 2014])
    residual[region_codes()[0]] = [10.0, 10.0]
    key = residual_key(residual, [2013, 2014])
    assert key.sum() == pytest.approx(1.0) and key["Seoul"] == pytest.approx(20 / (20 + 16 * 4))
    with pytest.raises(InvalidValueError):
        residual_key(residual * 0, [2013])


def test_residual_intensity_is_the_residual_share_over_the_population_share():
    residual = pd.DataFrame({c: [1.0, 1.0] for c in region_codes()}, index=[2013, 2014])
    population = pd.DataFrame({c: [100.0, 100.0] for c in region_codes()}, index=[2013, 2014])
    residual[region_codes()[0]] = [2.0, 2.0]
    intensity = residual_intensity(residual, population, [2013, 2014])
    assert intensity["Seoul"] == pytest.approx(2 * 17 / 18) and intensity["Busan"] == pytest.approx(17 / 18)
