"""The economy's input tables: national productivity, the observed economy a projection
starts from, and the year it is taken in."""

from __future__ import annotations

import numpy as np
import pytest

from kbalance.errors import InvalidValueError
from kbalance.model.economy_inputs import (adult_residents, economy_data_year, economy_jump_off, economy_tables,
                                           national_labour_productivity)
from kbalance.model.population import observed_age_groups
from kbalance.observations.load import load_series
from kbalance.regions import NATIONAL_CODE


def national(series: str, year: int) -> float:
    rows = load_series(series)
    return float(rows[(rows["region_code"] == NATIONAL_CODE) & (rows["year"] == year)]["value"].iloc[0])


def test_national_productivity_is_national_gdp_per_employed_person_in_every_year():
    productivity = national_labour_productivity()
    assert list(productivity.index) == list(range(2000, int(productivity.index.max()) + 1))  # no gap (Sejong 2013-2016)
    assert productivity.loc[2019] == national("grdp_real_chained_2020", 2019) / (national("employed", 2019) * 1000)
    assert 40 < productivity.loc[2001] < productivity.loc[2019] < 100  # million KRW per worker, rising


def test_the_economy_is_taken_in_the_last_year_before_the_jump_off_with_ages_the_december_before():
    assert economy_data_year(2016) == 2015
    assert economy_data_year(2026) == int(national_labour_productivity().index.max())
    assert economy_data_year(2012) is None  # no registered ages for December 2009 or 2010


def test_the_observed_economy_is_per_employed_person_and_per_resident_aged_15_and_over():
    table = economy_jump_off(2019)
    employed = load_series("employed").query("year == 2019 and region_code == '11'")["value"].iloc[0] * 1000
    adults = float(observed_age_groups(2018).sel(region="11").sum()) - float(
        observed_age_groups(2018).sel(region="11", age_group=["00_04", "05_09", "10_14"]).sum())
    assert adults == adult_residents(2018)["11"]
    assert np.isclose(table.loc["Seoul", "employment_rate"], employed / adults, rtol=1e-12)
    assert table["employment_rate"].between(0.5, 0.75).all()
    assert table["labour_productivity"].between(40, 200).all()


def test_a_region_not_observed_in_the_year_keeps_its_modelled_economy():
    table = economy_jump_off(2015)  # Sejong's employed are counted in Chungnam until 2016
    assert (table.loc["Sejong"] == 0).all()
    assert (table.drop("Sejong") > 0).all().all()


def test_the_tables_hold_the_productivity_history_the_observed_economy_and_its_year():
    tables = economy_tables(2016)
    assert set(tables) == {"national_labour_productivity.csv", "economy_jump_off.csv", "economy_scalars.csv"}
    assert tables["economy_scalars.csv"].loc["jump_off_economy_year", "value"] == 2015
    assert list(tables["economy_jump_off.csv"].columns) == ["labour_productivity", "employment_rate"]


def test_a_jump_off_before_any_observed_economy_is_refused_naming_the_file():
    with pytest.raises(InvalidValueError, match="economy.csv.*'year'.*1990.*GRDP, employment and ages observed"):
        economy_tables(1990)
