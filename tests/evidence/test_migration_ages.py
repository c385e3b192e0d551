"""Net migration by region, sex and age by the residual method, and the priors it gives."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
import xarray as xr

from kbalance.evidence import migration_ages as ma
from kbalance.model.mdl import load_model
from kbalance.paths import calibration_dir


def test_survival_is_one_without_deaths_and_averages_the_two_ages():
    assert np.array_equal(ma.survival(np.zeros(101)), np.ones(101))
    rates = np.full(101, 0.02)
    rates[50] = 0.06
    s = ma.survival(rates)
    assert s[49] == pytest.approx(np.exp(-0.04)) and s[50] == pytest.approx(np.exp(-0.04))
    assert s[100] == pytest.approx(np.exp(-0.02))
    with pytest.raises(ValueError):
        ma.survival(-rates)


def test_the_cohort_residual_recovers_known_migrants():
    rng = np.random.default_rng(3)
    start = rng.uniform(100, 1000, size=(2, 101))
    s = ma.survival(rng.uniform(0, 0.1, size=(2, 101)))
    aged = np.concatenate([rng.uniform(100, 1000, size=(2, 1)), (start * s)[:, :99],
                           (start * s)[:, 99:].sum(-1, keepdims=True)], -1)
    migrants = rng.normal(0, 30, size=(2, 100))
    end = aged.copy()
    end[:, 1:] += migrants
    np.testing.assert_allclose(ma.cohort_residual(start, end, s), migrants, atol=1e-9)
    np.testing.assert_allclose(ma.cohort_start(start)[:, -1], start[:, 99] + start[:, 100])


def test_modal_age_is_the_vertex_of_the_parabola():
    mid = ma.group_mid_ages()
    rates = -(mid - 24.0) ** 2
    assert ma.modal_age(rates, mid, (15, 34)) == pytest.approx(24.0)
    assert ma.modal_age(np.where(mid == 27, 1.0, 0.5), mid, (15, 34)) == pytest.approx(27.0)


def test_the_density_slope_is_the_least_squares_slope():
    regions = ["11", "21", "22", "29"]
    density = xr.DataArray(np.array([[3.0], [1.0], [-1.0], [-5.0]]), dims=("region", "year"),
                           coords={"region": regions, "year": [2020]})
    rate = 0.01 + 0.004 * density
    rate.loc[{"region": "29"}] = 1.0                  # Sejong is left out
    assert float(ma.density_slope(rate, density).sel(year=2020)) == pytest.approx(0.004)


def test_a_prior_row_takes_the_yearly_mean_and_spread_with_a_floor():
    values = xr.DataArray([0.9, 1.0, 1.1], dims="year")
    row = ma.prior_row("p", values, "Dmnl")
    assert row["prior_mean"] == pytest.approx(1.0) and row["prior_sd"] == pytest.approx(0.1)
    assert ma.prior_row("p", -values, "Dmnl", floor=0.5)["prior_sd"] == pytest.approx(0.5)


def test_the_common_log_trend_recovers_a_shared_growth_rate():
    years = np.arange(2012, 2024)
    noise = np.where(years % 2 == 0, 1.01, 1 / 1.01)
    a = xr.DataArray(0.08 * np.exp(0.05 * (years - 2012)) * noise, dims="year", coords={"year": years})
    b = xr.DataArray(0.11 * np.exp(0.05 * (years - 2012)) / noise, dims="year", coords={"year": years})
    slope, se = ma.common_log_trend([a, b])
    assert slope == pytest.approx(0.05, abs=1e-12)          # the alternating noise cancels across the two
    assert 0 < se < 0.005
    exact, zero = ma.common_log_trend([a / noise, b * noise])
    assert exact == pytest.approx(0.05) and zero == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        ma.common_log_trend([-a])


@pytest.fixture(scope="module")
def migration():
    return ma.residual_migration()


def test_the_residual_follows_the_observed_net_migration_of_regions(migration):
    total = migration["net"].sum(["sex", "age"], min_count=1)
    observed = ma.observed_net_interprovincial().sel(region=total["region"], year=total["year"])
    ok = np.isfinite(total.values)
    assert ok.sum() >= 17 * 12 - 5                      # only boundary-change region-years are left out
    assert np.corrcoef(total.values[ok], observed.values[ok])[0, 1] > 0.98
    internal = migration["internal"].sum("region")
    assert float(np.abs(internal).max()) < 1e-6 * float(migration["cohort"].sum("region").max())


def test_young_women_and_men_go_to_seoul_and_families_leave_it(migration):
    table = ma.summary(migration).set_index(["sex", "ages"])
    for sex in ("male", "female"):
        assert table.loc[(sex, "20_29"), "seoul_rate"] > 0 > table.loc[(sex, "30_39"), "seoul_rate"]
        assert table.loc[(sex, "20_29"), "capital_share_of_gains"] > table.loc[(sex, "40_64"), "capital_share_of_gains"]
        assert table.loc[(sex, "20_29"), "density_slope"] > 0 > table.loc[(sex, "40_64"), "density_slope"]
    assert table.loc[("female", "20_24"), "seoul_rate"] > table.loc[("male", "20_24"), "seoul_rate"]


def test_young_movers_prefer_density_women_more_and_older_movers_leave_it(migration):
    young, young_gross = ma.density_preference_terms(migration, ma.YOUNG_AGES)
    older, older_gross = ma.density_preference_terms(migration, ma.OLDER_AGES)
    assert bool((young_gross > 0).all()) and bool((older_gross > 0).all())
    assert bool((young.mean("year") > 0).all()) and bool((older.mean("year") < 0).all())
    by_sex = (young / young_gross).mean("year")
    assert float(by_sex.sel(sex="female")) > float(by_sex.sel(sex="male")) > 0
    table = ma.priors(migration).set_index("parameter")
    assert table.loc["older density preference", "prior_mean"] < 0 < table.loc["female young density preference gap", "prior_mean"]
    # both preferences strengthened over 2012-2023, by more than two standard errors
    trend = table.loc["density preference trend"]
    assert trend["prior_mean"] > 2 * trend["prior_sd"] > 0


def test_movers_aged_30_44_leave_dense_regions_every_year_unlike_the_young(migration):
    family, family_gross = ma.density_preference_terms(migration, ma.FAMILY_AGES)
    young, young_gross = ma.density_preference_terms(migration, ma.YOUNG_AGES)
    assert bool((family_gross > 0).all())
    family_ratio = family.mean("sex") / family_gross.mean("sex")
    young_ratio = young.mean("sex") / young_gross.mean("sex")
    assert bool((family_ratio < 0).all()) and bool((young_ratio > 0).all())   # in each of 2012-2023
    table = ma.priors(migration).set_index("parameter")
    family_prior, young_prior = table.loc["family density preference"], table.loc["young density preference"]
    assert family_prior["prior_mean"] == pytest.approx(float(family_ratio.mean()))
    assert family_prior["prior_mean"] < -family_prior["prior_sd"] < 0 < young_prior["prior_mean"]
    assert family_prior["prior_sd"] >= ma.MAPPING_SD * abs(family_prior["prior_mean"])


def test_older_movers_gained_sejong_less_per_mover_than_families_while_it_was_built(migration):
    older = ma.new_city_pull_per_mover(migration, ma.NEW_CITY_OLDER_AGES)
    family = ma.new_city_pull_per_mover(migration, ma.NEW_CITY_FAMILY_AGES)
    assert np.isnan(float(older.sel(year=2012)))                  # its creation is a boundary change
    build_out = {"year": [2013, 2014, 2015]}
    assert bool((older.sel(**build_out) > 0).all()) and bool((older.sel(**build_out) < 0.5 * family.sel(**build_out)).all())
    weight, sd = ma.older_new_city_weight(migration)
    assert 0 < weight < 1 and sd >= ma.MAPPING_SD * weight
    assert weight == pytest.approx(float(older.sum() / family.sum()))


def test_young_adults_gained_sejong_less_per_mover_than_families(migration):
    young = ma.new_city_pull_per_mover(migration, ma.NEW_CITY_YOUNG_AGES)
    family = ma.new_city_pull_per_mover(migration, ma.NEW_CITY_FAMILY_AGES)
    build_out = {"year": [2014, 2015, 2016, 2017, 2018]}
    assert bool((young.sel(**build_out) > 0).all()) and bool((young.sel(**build_out) < family.sel(**build_out)).all())
    weight, sd = ma.new_city_weight(migration, ma.NEW_CITY_YOUNG_AGES)
    assert 0 < weight < 1 and sd >= ma.MAPPING_SD * weight
    assert weight == pytest.approx(float(young.sum() / family.sum()))
    assert ma.older_new_city_weight(migration) == ma.new_city_weight(migration, ma.NEW_CITY_OLDER_AGES)


def test_the_model_bands_of_the_new_city_pull_are_the_evidence_bands():
    """The model's ages are completed years on 1 January, the evidence's at year-end."""
    model = load_model()
    assert float(model.components.new_city_young_ages_start()) == ma.NEW_CITY_YOUNG_AGES[0] - 1
    assert float(model.components.new_city_family_ages_start()) == ma.NEW_CITY_YOUNG_AGES[1]
    assert float(model.components.older_return_first_age()) == ma.OLDER_AGES[0] - 1


def test_the_parameter_file_carries_the_estimated_priors(migration):
    params = tomllib.loads((calibration_dir() / "parameters.toml").read_text("utf-8"))
    by_model = {entry["model"]: entry for entry in params.values() if isinstance(entry, dict) and "model" in entry}
    for row in ma.priors(migration).itertuples():
        entry = by_model[row.parameter]
        assert entry["prior_mean"] == pytest.approx(row.prior_mean, rel=0.01), row.parameter
        assert entry["prior_sd"] == pytest.approx(row.prior_sd, rel=0.01), row.parameter
        assert entry["default"] == entry["prior_mean"] and entry["status"] == "prior"
        assert entry["range"][0] < entry["prior_mean"] < entry["range"][1]


def test_ulsan_loses_older_residents_beyond_its_density_and_gyeonggi_gains_them(migration):
    excess = ma.older_return_migration(migration)
    assert np.isnan(float(excess.sel(region="29")))               # the new city has its own pull
    kept = excess.drop_sel(region=list(ma.SLOPE_EXCLUDED))
    assert float(excess.sel(region="26")) > 0 > float(excess.sel(region="31"))
    assert abs(float(kept.mean())) < 0.5 * float(np.sqrt((kept ** 2).mean()))   # about 0 across regions
    table = ma.priors(migration).set_index("parameter")
    assert table.loc["older return migration", "prior_sd"] == pytest.approx(float(np.sqrt((kept ** 2).mean())))
