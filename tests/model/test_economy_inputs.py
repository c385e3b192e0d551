"""The economy's input tables: national productivity, the observed economy a projection
starts from, and the year it is taken in."""

from __future__ import annotations

import numpy as np
import pytest

from kbalance.errors import InvalidValueError, KbalanceInputError
from kbalance.model.economy_inputs import (adult_residents, economy_data_year, economy_jump_off, economy_tables,
                                           national_employed, national_labour_productivity, observed_growth,
                                           potential_growth_estimates, productivity_growth_table,
                                           projected_productivity_growth)
from kbalance.paths import model_dir
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
    assert set(tables) == {"national_labour_productivity.csv", "projected_productivity_growth.csv",
                           "economy_jump_off.csv", "economy_scalars.csv"}
    assert tables["economy_scalars.csv"].loc["jump_off_economy_year", "value"] == 2015
    assert list(tables["economy_jump_off.csv"].columns) == ["labour_productivity", "employment_rate"]


def test_a_jump_off_before_any_observed_economy_is_refused_naming_the_file():
    with pytest.raises(InvalidValueError, match="economy.csv.*'year'.*1990.*GRDP, employment and ages observed"):
        economy_tables(1990)


def test_the_shipped_estimates_are_the_bank_of_korea_midpoints_by_year_of_publication():
    estimates = potential_growth_estimates()
    assert list(estimates.index) == [2015, 2017, 2019, 2021, 2024]
    assert estimates.loc[2019, "growth"] == pytest.approx(0.0255) and estimates.loc[2015, "growth"] == pytest.approx(0.031)
    text = (model_dir().parent / "docs" / "references.md").read_text(encoding="utf-8")
    assert all(f"**{key}**" in text for key in estimates["reference"])


def test_productivity_grows_at_the_latest_published_potential_growth_less_observed_employment_growth():
    employment = np.log(national_employed().loc[2019] / national_employed().loc[2014]) / 5
    assert projected_productivity_growth(2019) == pytest.approx(0.0255 - employment, rel=1e-12)
    assert projected_productivity_growth(2020) == pytest.approx(projected_productivity_growth(2019) + observed_growth(
        national_employed(), 2019) - observed_growth(national_employed(), 2020), rel=1e-12)  # the 2019 estimate still the latest
    assert projected_productivity_growth(2016) == pytest.approx(0.031 - observed_growth(national_employed(), 2016))


def test_before_the_first_estimate_productivity_grows_at_its_own_five_year_growth():
    productivity = national_labour_productivity()
    assert projected_productivity_growth(2010) == pytest.approx(np.log(productivity[2010] / productivity[2005]) / 5)
    table = productivity_growth_table()
    assert table.index[0] == productivity.index[0] + 5 and table.index[-1] == productivity.index[-1]
    assert table.loc[2019, "value"] == projected_productivity_growth(2019)


@pytest.mark.parametrize("old, new, field", [
    ("published = 2019", "published = 2017", "potential_growth.published"),
    ("high = 2.6", "high = 2.4", "potential_growth[2].high"),
    ("period = [2019, 2020]", "period = [2020, 2019]", "potential_growth[2].period"),
    ('reference = "R862"', 'source = "R862"', "potential_growth[2].source"),
])
def test_a_broken_estimate_is_refused_naming_the_file_and_the_field(tmp_path, old, new, field):
    path = tmp_path / "economy.toml"
    path.write_text((model_dir() / "economy.toml").read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    with pytest.raises(KbalanceInputError, match=f"economy.toml.*{field.replace('[', '.').replace(']', '.')}"):
        potential_growth_estimates(path)
