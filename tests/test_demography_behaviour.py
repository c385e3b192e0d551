"""Behaviour of the population sector on the baseline with the shipped fitted set.

Rules a demographer checks first (issue #13): women outlive men in every region and
year; life expectancy rises with gains that slow down; deaths rise while the large
1955–1974 birth cohorts pass ages 75–95; no mortality drift means no improvement; the
model's national life expectancy 2003–2020 reproduces the life table of the data; the
deaths of the first projected year continue the latest observed level, aged (no jump-off
step); the ensemble's national TFR paths are the UN WPP 2024 distribution under its median
variant and the same relative spread around any other variant.
Runs on the fast engine (its parity with PySD is tested in tests/engine).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kbalance.demography.lifetable import cohort_rates, life_table
from kbalance.demography.oldage import complete_rates
from kbalance.model.mortality import fit_national_mortality, national_deaths, observed_index, registered_population
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import Scenario
from kbalance.observations.keyed import national_mortality, un_wpp
from kbalance.observations.load import age_structure
from kbalance.runs import run_model

VARIABLES = ["life expectancy at birth", "national life expectancy at birth", "total deaths",
             "national mortality rate", "common mortality index", "jump off year", "Population", "Male Mortality Lag",
             "common mortality loading", "ultimate mortality loading", "mortality rotation weight",
             "Mortality Rotation Offset", "life expectancy sex gap path", "life expectancy sex gap target",
             "period fertility level"]
#: Largest gap [years] between the model's and the data's national e0 2003–2020 (issue #13).
E0_TOLERANCE = 0.3
#: Largest distance [years] of the national gap of life expectancy between the sexes from its
#: path after the first projected decade (each year's correction uses the response of the
#: jump-off, which overstates the later response, so the gap stays a little below its path).
GAP_BAND = 0.3
#: Largest relative gap [-] between the deaths of the jump-off year and the latest observed
#: level carried to it by ageing and the projection's own decline.
JUMP_OFF_TOLERANCE = 0.01
#: Largest relative gap [-] between the simulated history's people aged 85+ (the run from
#: 2001) and the registered on the last December with registered ages. Applying each age's
#: calendar-year rate to the residents of that age on 1 January, who spend half the year one
#: year older, left 16 % too many (v10, 2023); the cohort's rate (the mean of the two ages')
#: leaves 8-9 %, from ages 75-89 overstated by 4-5 % in 2011 already.
OLD_AGE_TOLERANCE = 0.10
#: Standard normal quantile [-] of each UN WPP 2024 quantile of the TFR.
UN_QUANTILES = {"p2.5": -1.959963984540054, "p10": -1.2815515655446004, "median": 0.0,
                "p90": 1.2815515655446004, "p97.5": 1.959963984540054}
#: Largest relative gap [-] between a member at the 10 % or 90 % quantile and the UN's p10 or
#: p90: each half of the spread is log-normal through the UN's 95 % bound, so the 80 % bounds
#: are matched only approximately (the 80 % band is up to 5.6 % narrower, 2025-2070).
INNER_QUANTILE_TOLERANCE = 0.06


def run(**constants):
    parameters = shipped_parameter_set()
    values = dict(parameters.values, **constants)
    return run_model(Scenario("baseline", ""), type(parameters)(parameters.name, values, parameters.path),
                     until=2070, variables=VARIABLES)


@pytest.fixture(scope="module")
def baseline():
    return run()


def test_women_outlive_men_in_every_region_and_year(baseline):
    e0 = baseline["life expectancy at birth"]
    assert (e0.sel(Sex="Female") > e0.sel(Sex="Male")).all()
    national = baseline["national life expectancy at birth"]
    assert (national.sel(Sex="Female") > national.sel(Sex="Male")).all()


def test_life_expectancy_rises_with_gains_that_slow_down(baseline):
    e0 = baseline["national life expectancy at birth"]
    # it falls only in 2022, the year of the largest observed excess deaths (COVID-19) ...
    rising = e0.diff("year")
    assert (rising.sel(year=rising["year"] != 2022) > 0).all() and (rising.sel(year=2022) < -1).all()
    # ... and is back on the trend of the fitted years after it
    assert (e0.sel(year=2023) > e0.sel(year=2021)).all()
    early = e0.sel(year=2050) - e0.sel(year=2030)
    late = e0.sel(year=2070) - e0.sel(year=2050)
    assert (early > late).all() and (late > 0).all()
    regional = baseline["life expectancy at birth"]
    assert ((regional.sel(year=2050) - regional.sel(year=2030)) > (regional.sel(year=2070) - regional.sel(year=2050))).all()


def test_deaths_rise_while_the_large_cohorts_reach_old_age(baseline):
    deaths = baseline["total deaths"].sum("Region")
    assert float(deaths.sel(year=2070)) > 1.5 * float(deaths.sel(year=2030))
    assert int(deaths["year"][deaths.argmax("year")]) > 2050


def test_zero_drift_stops_the_common_decline_of_mortality(baseline):
    flat = run(**{"mortality index drift": 0.0})
    # after the observed years (2021-2022, re-estimated to the deaths) the walk starts from
    # the level of 2021 on the registered basis: the 2022 excess is not carried into the projection
    index = flat["common mortality index"].sel(year=slice(2023, 2070))
    assert float(np.ptp(index.values)) == 0.0
    history = flat["common mortality index"]
    observed = observed_index(fit_national_mortality())
    assert float(index.sel(year=2023)) == pytest.approx(float(history.sel(year=2021)) - observed.offset)
    assert float(index.sel(year=2023)) < float(history.sel(year=2022)) - observed.offset
    rates = flat["national mortality rate"]
    # the sexes' indices return to their means (AR(1)); by the 2060s the rates have settled
    settled = np.abs(rates.sel(year=2070) / rates.sel(year=2060) - 1)
    falling = 1 - baseline["national mortality rate"].sel(year=2070) / baseline["national mortality rate"].sel(year=2060)
    assert float(settled.max()) < 0.01 < 0.1 < float(falling.max())
    still = run(**{"mortality index drift": 0.0, "sex mortality index persistence": 1.0})
    # every rate is then held, but for the men's lag of the sex-gap rule (a log rate by age)
    men = xr.DataArray([1.0, 0.0], coords={"Sex": ["Male", "Female"]})
    lag = still["Male Mortality Lag"] * men
    held = (still["national mortality rate"] * np.exp(-lag)).sel(year=slice(2023, 2070))
    np.testing.assert_allclose(held.values, np.broadcast_to(held.sel(year=2023).values, held.shape), rtol=1e-12)
    assert float(np.abs(still["Male Mortality Lag"]).max()) > 0.01


def young_to_adult_decline(rates, start: int, end: int) -> xr.DataArray:
    """Mean decline of the log death rate at ages 1–14 over that at 15–64 [-], by sex."""
    decline = np.log(rates.sel(year=start)) - np.log(rates.sel(year=end))
    ages = decline["Age"].str.lstrip("A").astype(int)
    return decline.where((ages >= 1) & (ages <= 14)).mean("Age") / decline.where((ages >= 15) & (ages <= 64)).mean("Age")


def test_the_pattern_of_decline_rotates_towards_the_ultimate_one(baseline):
    """B(x) of 2003–2020 lowers the rates of children 1.7 times as fast as those of adults;
    extrapolated to 2070 it would take children's rates far below any observed. After the
    jump-off the pattern rotates towards the ultimate pattern, flat below 65 (Li, Lee &
    Gerland 2013), as life expectancy rises: the children's relative decline falls every decade
    towards 1, for both sexes, and nothing changes through the jump-off year."""
    first = int(float(baseline["jump off year"].values.ravel()[0]))
    offset = baseline["Mortality Rotation Offset"]
    assert float(np.abs(offset.sel(year=slice(None, first))).max()) == 0.0
    loading = baseline["common mortality loading"].isel(year=0)
    fitted = float(loading.isel(Age=slice(1, 15)).mean() / loading.isel(Age=slice(15, 65)).mean())
    assert fitted > 1.5
    rates = baseline["national mortality rate"]
    ratios = [young_to_adult_decline(rates, start, start + 10) for start in range(first, 2061, 10)]
    for earlier, later in zip(ratios, ratios[1:]):
        assert (later < earlier).all()
    # by the last decade the weight of the ultimate pattern is past one half: less than half
    # of the fitted excess of the children's decline remains
    weight = baseline["mortality rotation weight"]
    assert (weight.diff("year").sel(year=slice(first, None)) > 0).all() and 0.5 < float(weight.sel(year=2056)) < 1
    assert (ratios[0] < fitted).all() and (ratios[-1] > 1).all() and (ratios[-1] < 1 + (fitted - 1) / 2).all()


def test_the_gap_between_the_sexes_follows_its_path_to_the_documented_level(baseline):
    """The common decline alone closes the gap (5.4 years in 2026, 2.3 in 2070 without the rule);
    the men's lag keeps it on a path from the gap of the jump-off year to the UN WPP 2024 level,
    and nothing changes through the year after the jump-off year."""
    e0 = baseline["national life expectancy at birth"]
    gap = e0.sel(Sex="Female") - e0.sel(Sex="Male")
    path = baseline["life expectancy sex gap path"]
    later = slice(2036, 2070)
    assert float(np.abs(gap - path).sel(year=later).max()) < GAP_BAND
    target = float(baseline["life expectancy sex gap target"].values.ravel()[0])
    assert abs(float(gap.sel(year=2070)) - target) < GAP_BAND
    first = int(float(baseline["jump off year"].values.ravel()[0]))
    lag = baseline["Male Mortality Lag"]
    assert float(np.abs(lag.sel(year=slice(None, first + 1))).max()) == 0.0 and (lag.sel(year=slice(first + 2, None)) > 0).all()
    regional = baseline["life expectancy at birth"]
    regional_gap = (regional.sel(Sex="Female") - regional.sel(Sex="Male")).sel(year=later)
    assert float(regional_gap.min()) > target - 1 and float(regional_gap.max()) < target + 1


def test_national_life_expectancy_reproduces_the_data_2003_to_2020(baseline):
    deaths, exposure = national_mortality("deaths"), national_mortality("exposure")
    rates = complete_rates(deaths.values, exposure.values, open_age=100)
    target = life_table(rates, (deaths["sex"].values == "female")[:, None]).e0
    model = baseline["national life expectancy at birth"].sel(year=deaths["year"].values, Sex=["Male", "Female"])
    gap = np.abs(model.values.T - target)
    assert float(gap.max()) <= E0_TOLERANCE, gap.max(axis=1)


def deaths_at(rates, population):
    """Deaths [persons/year] of residents on 1 January (sex, age) at rates (sex, age) [1/year],
    each age at its cohort's rate over the year (the mean of its age's and the next's)."""
    return float((population * -np.expm1(-cohort_rates(rates))).sum())


def test_deaths_of_the_jump_off_year_continue_the_latest_observed_level(baseline):
    """Lee and Miller's jump-off: the deaths of the first projected year J are those of an
    observed year L after the fit (its registered deaths), carried to J by the ageing of the
    registered population and by the projection's own yearly decline of the rates, for the
    observed year that gives the fewest: no step beyond what ageing and the trend explain."""
    first = int(float(baseline["jump off year"].values.ravel()[0]))
    rates = baseline["national mortality rate"].transpose("year", "Sex", "Age")
    at_jump_off, next_year = rates.sel(year=first).values, rates.sel(year=first + 1).values
    observed = national_deaths()
    years = [int(y) for y in observed.index if 2020 < y < first]
    population = registered_population([*years, first])
    now = population[:, -1]
    decline = deaths_at(next_year, now) / deaths_at(at_jump_off, now)
    carried = [float(observed.loc[y]) * deaths_at(at_jump_off, now) / deaths_at(at_jump_off, population[:, i])
               * decline ** (first - y) for i, y in enumerate(years)]
    model = float(baseline["total deaths"].sum("Region").sel(year=first))
    assert years and decline < 1
    assert abs(model / min(carried) - 1) < JUMP_OFF_TOLERANCE, (model, carried)


def test_the_step_of_deaths_at_the_jump_off_is_the_populations_not_the_schedules(baseline):
    """From the last simulated year to the jump-off year the schedule changes by the
    projection's yearly decline only: on the registered population of the jump-off year the
    rates of the year before give the model's deaths divided by that decline, so the fall of
    national deaths at the jump-off is the replacement of the simulated ages by the registered."""
    first = int(float(baseline["jump off year"].values.ravel()[0]))
    rates = baseline["national mortality rate"].transpose("year", "Sex", "Age")
    now = registered_population([first])[:, 0]
    decline = deaths_at(rates.sel(year=first + 1).values, now) / deaths_at(rates.sel(year=first).values, now)
    model = baseline["total deaths"].sum("Region")
    assert float(model.sel(year=first)) < float(model.sel(year=first - 1))       # the simulated ages are older
    before = deaths_at(rates.sel(year=first - 1).values, now)
    assert float(model.sel(year=first)) / before == pytest.approx(decline, rel=JUMP_OFF_TOLERANCE)


def test_the_simulated_history_has_about_as_many_people_aged_85_and_over_as_registered(baseline):
    """Before the jump-off the population is the run's own from 2001: its people aged 85+ on
    1 January follow the registered of the December before within OLD_AGE_TOLERANCE."""
    registered = age_structure("pop_registered").sel(region="00", sex="total")
    december = int(registered["year"].max())
    first = int(float(baseline["jump off year"].values.ravel()[0]))
    assert december + 1 < first                                    # still the simulated history
    groups = [g for g in registered["age_group"].values if g in ("85_89", "90_94", "95_99", "100p")]
    observed = float(registered.sel(year=december, age_group=groups).sum())
    ages = [f"A{a}" for a in range(85, 101)]
    model = float(baseline["Population"].sel(year=december + 1, Age=ages).sum())
    assert abs(model / observed - 1) < OLD_AGE_TOLERANCE, (model, observed)


def test_the_tfr_paths_of_the_ensemble_are_the_un_distribution_under_its_median_variant():
    wpp = un_wpp()
    years = np.arange(2025, 2071)
    for quantile, z in UN_QUANTILES.items():
        level = run(**{"fertility variant": 2, "tfr path deviation": z})["period fertility level"]
        level = level.sel(year=years).values
        rows = wpp[(wpp["variable"] == "tfr") & (wpp["quantile"] == quantile)].set_index("year")["value"]
        expected = rows.reindex(years).to_numpy()
        tolerance = 1e-9 if quantile in ("p2.5", "median", "p97.5") else INNER_QUANTILE_TOLERANCE
        np.testing.assert_allclose(level, expected, rtol=tolerance, err_msg=quantile)


def test_a_deviation_moves_every_variant_by_the_same_positive_factor(baseline):
    def factor(variant, z):
        moved = run(**{"fertility variant": variant, "tfr path deviation": z})["period fertility level"]
        central = baseline if variant == 1 else run(**{"fertility variant": variant})
        return (moved / central["period fertility level"]).sel(year=slice(2024, 2070))
    for z in (-3.0, 3.0):
        hold, low = factor(1, z), factor(4, z)
        np.testing.assert_allclose(hold.values, low.values, rtol=1e-12)
        assert float(hold.min()) > 0
    # below the path the UN's spread is wider than above it (its 2.5 % is further from its median)
    assert float(factor(1, -1.0).sel(year=2070)) < 1 / float(factor(1, 1.0).sel(year=2070))
