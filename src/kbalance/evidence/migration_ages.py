"""Net migration by region, sex and age from the registered population (residual method).

For each pair of consecutive year-ends, a single-age cohort aged a − 1 on 31 December
of year t − 1 is aged a on 31 December of year t; what it gained beyond the survivors of
the national mortality schedule is its net migration in year t:

    N(r, s, a, t) = P(r, s, a, t) − S(s, a − 1, t) · P(r, s, a − 1, t − 1),

the open group 100+ takes the survivors of ages 99 and 100+. Inputs:

- registered population by region, sex and 5-year age group, year-end 2011–2023
  (calibration/observations/population_age.csv, :func:`kbalance.observations.load.age_structure`),
  split to single ages by the monotone spline of the model's initial population
  (:func:`kbalance.demography.ages.split_five_year`);
- the model's national death rates by sex and single age: the Li–Lee fit of the HMD
  (:func:`kbalance.model.mortality.fit_national_mortality`), its fitted years as fitted
  and later years along its projected mean path; one-year survival
  S = exp(−(m(a) + m(a + 1)) / 2) (half the year at each age).

The residual is all net change that is not ageing and national mortality: net
inter-provincial migration, net international migration of nationals, registration
corrections and regional differences of mortality (small net losses at old ages where
mortality is above the national schedule). Region-years of a boundary change
(calibration/breaks.csv) are left out. Newborns of the year (age 0 at year-end) would
need births by sex, which the observation set does not hold, so ages start at 1.

:func:`priors` turns the estimate into the priors of the migration section's sex and
age parameters (docs/evidence.md, "Migration by sex and age").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.demography.ages import split_five_year
from kbalance.demography.lifetable import cohort_rates
from kbalance.demography.projection import project_li_lee
from kbalance.model.mortality import SEXES, fit_national_mortality
from kbalance.model.regional_mortality import boundary_region_years
from kbalance.observations.load import age_structure, load_series
from kbalance.regions import code_of, load_regions, membership, region_codes

#: Lower bounds [years] of the age groups of the summaries (age at year-end): 1–4,
#: 5–9, …, 80–84 and 85+.
GROUP_STARTS = (1, *range(5, 90, 5))

#: Labels of those groups.
GROUP_LABELS = ("01_04", *(f"{a:02d}_{a + 4:02d}" for a in range(5, 85, 5)), "85p")

#: Bands of the summary [years, age at year-end, inclusive]: young adults (the labour-force
#: peak of migration), families, older working ages, old age.
BANDS = {"01_14": (1, 14), "15_19": (15, 19), "20_24": (20, 24), "25_29": (25, 29), "20_29": (20, 29),
         "30_39": (30, 39), "40_64": (40, 64), "65p": (65, 100)}

#: Ages [years] over which the mean age of the labour-force peak is taken.
PEAK_AGES = (15, 34)

#: Regions left out of the cross-region density slopes: Sejong, a city built from 2012
#: whose gains follow its construction, not its density.
SLOPE_EXCLUDED = ("29",)

#: Multiple of the prior mean used as the prior standard deviation of the density
#: preference when the year-to-year spread is smaller: the mapping from net rates to a
#: gross destination choice is approximate.
MAPPING_SD = 0.5


def survival(rates) -> np.ndarray:
    """One-year survival of a cohort by its age at the start of the year [-].

    rates : array_like, shape (..., 101)  death rates [1/year] at single ages 0 … 99 and
        the open group 100+
    Returns shape (..., 101): exp(−(m(a) + m(a + 1)) / 2) for a < 100, exp(−m(100)) at 100+.
    """
    m = np.asarray(rates, dtype=float)
    if np.any(~np.isfinite(m)) or np.any(m < 0):
        raise ValueError("death rates must be finite and non-negative")
    return np.exp(-cohort_rates(m))


def cohort_start(start) -> np.ndarray:
    """The cohort arriving at ages 1 … 99, 100+ counted at the start of the year [persons]:
    ages 0 … 98 and, for the open group, 99 plus 100+. Shape (..., 101) → (..., 100)."""
    p0 = np.asarray(start, dtype=float)
    return np.concatenate([p0[..., :99], p0[..., 99:].sum(-1, keepdims=True)], -1)


def cohort_residual(start, end, surviving) -> np.ndarray:
    """Net migrants of a year by age at its end, ages 1 … 99 and 100+ [persons].

    start, end : array_like, shape (..., 101)  population [persons] at single ages 0 … 100+
        on 31 December of the previous year and of the year
    surviving : array_like, shape (..., 101)  one-year survival by age at the start [-]
    Returns shape (..., 100): end minus the survivors of the cohort one year younger
    (the open group: of ages 99 and 100+).
    """
    survivors = cohort_start(np.asarray(start, dtype=float) * np.asarray(surviving, dtype=float))
    return np.asarray(end, dtype=float)[..., 1:] - survivors


def national_rates(years) -> xr.DataArray:
    """The model's national death rates [1/year], dims (sex, year, age), ages 0 … 100+.

    Fitted Li–Lee rates in the fitted years; after the last fitted year, its projected
    mean path (:func:`kbalance.demography.projection.project_li_lee`); years before the
    first fitted year take the first fitted year's rates.
    """
    fit = fit_national_mortality()
    years = np.asarray(sorted({int(y) for y in years}))
    horizon = max(0, int(years.max() - fit.years[-1]))
    rates = fit.model.rates()                                        # (sex, year, age)
    if horizon:
        rates = np.concatenate([rates, project_li_lee(fit.model, horizon)], axis=1)
    rows = np.clip(years - fit.years[0], 0, rates.shape[1] - 1)
    return xr.DataArray(rates[:, rows, :], dims=("sex", "year", "age"),
                        coords={"sex": list(SEXES), "year": years, "age": np.arange(rates.shape[-1])})


def registered_population() -> xr.DataArray:
    """Registered population of the 17 regions [persons], dims (region, year, sex, age_group),
    the 21 groups 00_04 … 95_99, 100p at year-end."""
    return age_structure("pop_registered").sel(region=region_codes(), sex=list(SEXES))


def residual_migration(population: xr.DataArray | None = None, rates: xr.DataArray | None = None) -> xr.Dataset:
    """Residual net migration by single age, dims (region, year, sex, age), ages 1 … 100+.

    population : dims (region, year, sex, age_group)  the 21 groups, year-end
        (default :func:`registered_population`)
    rates : dims (sex, year, age)  death rates [1/year] (default :func:`national_rates`)
    Returns ``net`` [persons/year] (year t: end of t − 1 to end of t), ``cohort``
    [persons] (the cohort at the start of the year), both NaN in the region-years of a
    boundary change, and ``internal`` [persons/year]: net less the cohort's share of the
    national residual (net international migration, the error of the national schedule and
    of the age split, which the regions share in proportion to their cohorts), the part that
    moves residents between regions (it sums to 0 over the regions present).
    """
    population = registered_population() if population is None else population
    pop = population.sel(sex=list(SEXES)).transpose("region", "year", "sex", "age_group")
    years = pop["year"].values
    rates = national_rates(years[1:]) if rates is None else rates
    single = split_five_year(np.nan_to_num(pop.values), axis=-1)
    s = survival(rates.sel(year=years[1:], sex=list(SEXES)).transpose("year", "sex", "age").values)
    dims = ("region", "year", "sex", "age")
    coords = {"region": pop["region"].values, "year": years[1:], "sex": list(SEXES), "age": np.arange(1, 101)}
    out = xr.Dataset({"net": (dims, cohort_residual(single[:, :-1], single[:, 1:], s[None])),
                      "cohort": (dims, cohort_start(single[:, :-1]))}, coords=coords)
    mask = xr.DataArray(np.zeros((len(coords["region"]), len(coords["year"])), bool),
                        dims=("region", "year"), coords={"region": coords["region"], "year": coords["year"]})
    for code, year in boundary_region_years():
        if code in mask["region"].values and year in mask["year"].values:
            mask.loc[{"region": code, "year": year}] = True
    out = out.where(~mask)
    national = out["net"].sum("region") / out["cohort"].sum("region")
    return out.assign(internal=out["net"] - out["cohort"] * national)


def to_groups(single: xr.DataArray) -> xr.DataArray:
    """Single ages 1 … 100+ summed to the groups of GROUP_LABELS (dim ``age_group``)."""
    bins = np.searchsorted(np.asarray(GROUP_STARTS), single["age"].values, side="right") - 1
    labels = xr.DataArray(np.asarray(GROUP_LABELS)[bins], dims="age", name="age_group")
    return single.groupby(labels).sum(min_count=1).sel(age_group=list(GROUP_LABELS))


def band(values: xr.DataArray, ages: tuple[int, int]) -> xr.DataArray:
    """Sum over single ages within ``ages`` [years, inclusive]."""
    return values.sel(age=slice(*ages)).sum("age", min_count=1)


def observed_net_interprovincial() -> xr.DataArray:
    """Net inter-provincial migrants [persons/year], dims (region, year) (migration.csv)."""
    table = load_series("migrants_net_interprovincial").pivot_table(index="region_code", columns="year", values="value")
    return xr.DataArray(table.values, dims=("region", "year"),
                        coords={"region": table.index.values, "year": table.columns.values.astype(int)})


def gross_rate() -> float:
    """National inter-provincial out-migrants per resident, mean over the residual's years [1/year]."""
    out = load_series("migrants_out_interprovincial")
    pop = load_series("pop_registered")
    years = range(2012, 2024)
    movers = out[out["region_code"].isin(region_codes()) & out["year"].isin(years)].groupby("year")["value"].sum()
    residents = pop[pop["region_code"].isin(region_codes()) & pop["year"].isin([y - 1 for y in years])]
    residents = residents.groupby("year")["value"].sum()
    return float(np.mean(movers.values / residents.values))


def capital_codes() -> list[str]:
    """KOSIS codes of the capital region (수도권, :func:`kbalance.regions.membership`)."""
    return [code for code, group in membership("capital").items() if group == "capital"]


def log_relative_density(population: xr.DataArray | None = None) -> xr.DataArray:
    """ln(density / national density) at year-end [-], dims (region, year); NaN before a
    region existed."""
    population = registered_population() if population is None else population
    total = population.sum(["sex", "age_group"], min_count=1)
    area = load_regions().set_index("code")["area_km2"].astype(float)
    area = xr.DataArray(area.loc[total["region"].values].values, dims="region", coords={"region": total["region"].values})
    density = (total / area).where(total > 0)
    return np.log(density / (total.sum("region") / float(area.sum())))


def density_slope(rate: xr.DataArray, density: xr.DataArray) -> xr.DataArray:
    """Least-squares slope across regions of a net rate [1/year] on ln relative density [-],
    per year (regions of SLOPE_EXCLUDED left out) [1/year]."""
    keep = [c for c in rate["region"].values if c not in SLOPE_EXCLUDED]
    x, y = density.sel(region=keep), rate.sel(region=keep)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x.where(ok), y.where(ok)
    dx, dy = x - x.mean("region"), y - y.mean("region")
    return (dx * dy).sum("region") / (dx * dx).sum("region")


def summary(migration: xr.Dataset | None = None) -> pd.DataFrame:
    """The estimate per sex and age band (BANDS), means over the years 2012–2023:

    - ``redistribution_rate`` [1/year]: half the sum over regions of |net| per resident of
      the nation (the movers it takes to redistribute the population as observed);
    - ``seoul_rate``, ``jeonnam_rate`` [1/year]: net migration per resident;
    - ``capital_net``, ``seoul_net`` [persons/year]: net gain of the capital region, Seoul;
    - ``capital_share_of_gains``, ``seoul_share_of_gains`` [-]: their share of the sum of
      the regions' positive nets;
    - ``density_slope`` [1/year]: slope across regions of the net rate on ln relative density.
    """
    migration = residual_migration() if migration is None else migration
    density = log_relative_density().sel(year=migration["year"].values - 1)
    density = density.assign_coords(year=migration["year"].values)
    capital = capital_codes()
    rows = []
    for sex in SEXES:
        for label, ages in BANDS.items():
            net = band(migration["internal"].sel(sex=sex), ages)
            cohort = band(migration["cohort"].sel(sex=sex), ages)
            rate = net / cohort
            gains = net.clip(min=0).sum("region")
            rows.append({
                "sex": sex, "ages": label,
                "redistribution_rate": float((0.5 * abs(net).sum("region") / cohort.sum("region")).mean()),
                "seoul_rate": float(rate.sel(region="11").mean()),
                "jeonnam_rate": float(rate.sel(region="36").mean()),
                "capital_net": float(net.sel(region=capital).sum("region").mean()),
                "seoul_net": float(net.sel(region="11").mean()),
                "capital_share_of_gains": float((net.sel(region=capital).clip(min=0).sum("region") / gains).mean()),
                "seoul_share_of_gains": float((net.sel(region="11").clip(min=0) / gains).mean()),
                "density_slope": float(density_slope(rate, density).mean()),
            })
    return pd.DataFrame(rows)


def redistribution(migration: xr.Dataset, ages: tuple[int, int] | None = None) -> xr.DataArray:
    """Half the sum over regions of |net| per national resident [1/year], dims (year, sex,
    age_group) on the groups of GROUP_LABELS, or (year, sex) for one band of ``ages``."""
    if ages is None:
        net, cohort = to_groups(migration["internal"]), to_groups(migration["cohort"])
    else:
        net, cohort = band(migration["internal"], ages), band(migration["cohort"], ages)
    return 0.5 * abs(net).sum("region") / cohort.sum("region")


def group_mid_ages() -> np.ndarray:
    """Mid-point [years] of each group of GROUP_LABELS (85+ at 90)."""
    upper = np.asarray((*GROUP_STARTS[1:], 95))
    return (np.asarray(GROUP_STARTS) + upper - 1) / 2


def modal_age(rates, mid_ages, within: tuple[int, int]) -> float:
    """Age of the peak of a rate by 5-year group [years]: the vertex of the parabola through
    the largest group within ``within`` (mid-points) and its two neighbours."""
    rates, mid_ages = np.asarray(rates, float), np.asarray(mid_ages, float)
    inside = np.flatnonzero((mid_ages >= within[0]) & (mid_ages <= within[1]))
    i = int(inside[np.argmax(rates[inside])])
    left, top, right = rates[i - 1], rates[i], rates[i + 1]
    curvature = left - 2 * top + right
    offset = 0.0 if curvature >= 0 else 0.5 * (left - right) / curvature
    return float(mid_ages[i] + offset * (mid_ages[i + 1] - mid_ages[i]))


#: Ages [years, age at year-end, inclusive] of the young movers' density preference.
YOUNG_AGES = BANDS["20_29"]

#: Ages [years, age at year-end, inclusive] of the density preference of movers outside the
#: labour-force component: past the labour ages, where that component has faded.
OLDER_AGES = (55, 79)

#: Ages [years, age at year-end, inclusive] of the family movers: past the young adults'
#: moves to study and first jobs, the labour-force movers of these ages move with their
#: children and leave dense regions (Seoul to Gyeonggi and Incheon).
FAMILY_AGES = (30, 44)


def density_preference_terms(migration: xr.Dataset, ages: tuple[int, int]) -> tuple[xr.DataArray, xr.DataArray]:
    """Numerator and denominator of a density preference of movers aged ``ages``, dims (year, sex).

    Returns the slope across regions of the net rate on ln relative density [1/year]
    (:func:`density_slope`) and the gross rate of movers of those ages [1/year]
    (:func:`band_gross_rate`). Their ratio is the change of
    the log destination weight per unit of ln relative density that gives the slope when
    arrivals at a destination equal its departures on average.
    """
    density = log_relative_density().sel(year=migration["year"].values - 1)
    density = density.assign_coords(year=migration["year"].values)
    rate = band(migration["internal"], ages) / band(migration["cohort"], ages)
    return density_slope(rate, density), band_gross_rate(migration, ages)


#: Ages [years, age at year-end, inclusive] of the family and labour-force movers a new city
#: draws, and of its older movers: the bands compared for the older movers' weight of its pull.
NEW_CITY_FAMILY_AGES = (25, 44)
NEW_CITY_OLDER_AGES = BANDS["65p"]

#: Ages [years, age at year-end, inclusive] of the young adults (the peak of the labour-force
#: migration, mostly without children), whose weight of the new city's pull the model takes by
#: age band (``new city young ages start`` and ``new city family ages start`` in model/kbalance.mdl).
NEW_CITY_YOUNG_AGES = BANDS["20_29"]

#: The new city whose build-out gives that weight (model/regions.csv, ``name_en``).
NEW_CITY = "Sejong"


def band_gross_rate(migration: xr.Dataset, ages: tuple[int, int]) -> xr.DataArray:
    """Gross inter-provincial movers per resident aged ``ages`` [1/year], dims (year, sex): the
    national out-migrants per resident (:func:`gross_rate`) times the band's redistribution
    rate over the cohort-weighted mean of the groups' redistribution rates."""
    groups = redistribution(migration)
    weights = to_groups(migration["cohort"]).sum("region")
    mean_rate = (groups * weights).sum("age_group") / weights.sum("age_group")
    return gross_rate() * redistribution(migration, ages) / mean_rate


def new_city_pull_per_mover(migration: xr.Dataset, ages: tuple[int, int]) -> xr.DataArray:
    """Net in-migration of the new city (NEW_CITY) per resident aged ``ages`` over the gross
    rate of movers of those ages [-], both sexes' means, dims (year,); NaN in its year of
    creation (a boundary change)."""
    rate = band(migration["internal"], ages) / band(migration["cohort"], ages)
    return (rate.sel(region=code_of(NEW_CITY)) / band_gross_rate(migration, ages)).mean("sex", skipna=False)


def new_city_weight(migration: xr.Dataset, ages: tuple[int, int]) -> tuple[float, float]:
    """The weight of the new city's pull felt by movers aged ``ages`` relative to the family
    and labour-force movers, and its standard deviation [-].

    The new city's net gain per mover at ``ages`` over that at NEW_CITY_FAMILY_AGES
    (:func:`new_city_pull_per_mover`), each summed over the years it existed (so the build-out
    years, where the pull was strong, dominate). Standard deviation: the year-to-year spread of
    the yearly ratios, at least MAPPING_SD of the weight.
    """
    band_gain = new_city_pull_per_mover(migration, ages).dropna("year")
    family = new_city_pull_per_mover(migration, NEW_CITY_FAMILY_AGES).dropna("year")
    weight = float(band_gain.sum() / family.sum())
    return weight, max(float((band_gain / family).std(ddof=1)), MAPPING_SD * abs(weight))


def older_new_city_weight(migration: xr.Dataset) -> tuple[float, float]:
    """The older movers' weight of the new city's pull (NEW_CITY_OLDER_AGES) and its standard
    deviation [-] (:func:`new_city_weight`)."""
    return new_city_weight(migration, NEW_CITY_OLDER_AGES)


def older_return_migration(migration: xr.Dataset) -> xr.DataArray:
    """Each region's extra out-migration of movers past the labour ages [-], dims (region,):
    minus its net rate at OLDER_AGES less the across-region fit on ln relative density of the
    year (:func:`density_slope`), over the gross rate of movers of those ages, both sexes,
    mean over 2012–2023; NaN for SLOPE_EXCLUDED (the new city has its own pull). Positive
    where older residents leave more than the density preference explains (Ulsan: the
    industrial cohorts of the 1970s–80s returning to their home provinces)."""
    years = slice(2012, 2023)
    migration = migration.sel(year=years)
    rate = band(migration["internal"], OLDER_AGES).sum("sex") / band(migration["cohort"], OLDER_AGES).sum("sex")
    density = log_relative_density().sel(year=migration["year"].values - 1)
    density = density.assign_coords(year=migration["year"].values).sel(region=rate["region"].values)
    slope = density_slope(rate, density)
    keep = [c for c in rate["region"].values if c not in SLOPE_EXCLUDED]
    fitted = rate.sel(region=keep).mean("region") + slope * (density - density.sel(region=keep).mean("region"))
    gross = band_gross_rate(migration, OLDER_AGES).mean("sex")
    excess = (-(rate - fitted) / gross).mean("year")
    return excess.where(~excess["region"].isin(list(SLOPE_EXCLUDED)))


def prior_row(parameter: str, values: xr.DataArray, unit: str, floor: float = 0.0) -> dict:
    """A prior from yearly estimates: their mean, and their year-to-year spread (at least
    ``floor`` times the mean's magnitude) as the standard deviation."""
    mean = float(values.mean())
    return {"parameter": parameter, "prior_mean": mean,
            "prior_sd": max(float(values.std(ddof=1)), floor * abs(mean)), "unit": unit}


def common_log_trend(series: list[xr.DataArray]) -> tuple[float, float]:
    """Common slope of the logs of positive yearly series on the year, each with its own
    intercept, and its standard error [1/year].

    series : each dims (year,), values > 0
    """
    xs, ys = [], []
    for values in series:
        if np.any(~np.isfinite(values.values)) or np.any(values.values <= 0):
            raise ValueError("a log trend needs finite positive values")
        year = values["year"].values.astype(float)
        xs.append(year - year.mean())
        logs = np.log(values.values)
        ys.append(logs - logs.mean())
    x, y = np.concatenate(xs), np.concatenate(ys)
    slope = float((x * y).sum() / (x * x).sum())
    dof = len(x) - len(series) - 1
    return slope, float(np.sqrt(((y - slope * x) ** 2).sum() / dof / (x * x).sum()))


def priors(migration: xr.Dataset | None = None) -> pd.DataFrame:
    """Priors of the migration section's sex and age parameters (calibration/parameters.toml).

    - ``female labour level factor`` [-]: women's over men's sum of the groups' redistribution
      rates within PEAK_AGES (the area of the labour-force hump, proportional to its level);
    - ``female labour peak shift`` [year]: women's minus men's modal age of the redistribution
      rate (:func:`modal_age`);
    - ``young density preference`` [-]: the slope across regions of the net rate at YOUNG_AGES
      on ln relative density over the gross rate of movers of those ages
      (:func:`density_preference_terms`), both sexes' means;
    - ``female young density preference gap`` [-]: women's minus men's young density
      preference, each sex's slope over its own gross rate;
    - ``older density preference`` [-]: the same ratio at OLDER_AGES (both sexes' means), for
      the movers outside the labour-force component;
    - ``family density preference`` [-]: the same ratio at FAMILY_AGES (both sexes' means),
      for the labour-force movers from FAMILY_AGES[0] on;
    - ``density preference trend`` [1/year]: the common log-linear trend of the yearly young
      and older density preferences (:func:`common_log_trend`), standard deviation its
      standard error.
    - ``older new city weight`` [-]: the new city's net gain per mover at ages 65+ over that
      at 25–44 (:func:`older_new_city_weight`);
    - ``young new city weight`` [-]: the same ratio at NEW_CITY_YOUNG_AGES
      (:func:`new_city_weight`);
    - ``older return migration`` [-]: hierarchical, mean 0 and standard deviation the root
      mean square over the regions of :func:`older_return_migration`.
    Otherwise means over the years 2012–2023; standard deviations their year-to-year spread
    (the density preferences at least MAPPING_SD of their mean). Columns parameter,
    prior_mean, prior_sd, unit.
    """
    migration = residual_migration() if migration is None else migration
    groups = redistribution(migration)
    mid = xr.DataArray(group_mid_ages(), dims="age_group", coords={"age_group": list(GROUP_LABELS)})
    hump = groups.where((mid >= PEAK_AGES[0]) & (mid <= PEAK_AGES[1]), 0.0).sum("age_group")
    level = hump.sel(sex="female") / hump.sel(sex="male")
    mode = xr.apply_ufunc(modal_age, groups, input_core_dims=[["age_group"]], vectorize=True,
                          kwargs={"mid_ages": group_mid_ages(), "within": PEAK_AGES})
    shift = mode.sel(sex="female") - mode.sel(sex="male")
    slope, gross = density_preference_terms(migration, YOUNG_AGES)
    by_sex = slope / gross
    older_slope, older_gross = density_preference_terms(migration, OLDER_AGES)
    young = slope.mean("sex") / gross.mean("sex")
    older = older_slope.mean("sex") / older_gross.mean("sex")
    family_slope, family_gross = density_preference_terms(migration, FAMILY_AGES)
    family = family_slope.mean("sex") / family_gross.mean("sex")
    trend, trend_se = common_log_trend([young, -older])
    weight, weight_sd = older_new_city_weight(migration)
    young_weight, young_sd = new_city_weight(migration, NEW_CITY_YOUNG_AGES)
    return pd.DataFrame([
        prior_row("female labour level factor", level, "Dmnl"),
        prior_row("female labour peak shift", shift, "year"),
        prior_row("young density preference", young, "Dmnl", MAPPING_SD),
        prior_row("female young density preference gap", by_sex.sel(sex="female") - by_sex.sel(sex="male"),
                  "Dmnl", MAPPING_SD),
        prior_row("older density preference", older, "Dmnl", MAPPING_SD),
        prior_row("family density preference", family, "Dmnl", MAPPING_SD),
        {"parameter": "density preference trend", "prior_mean": trend, "prior_sd": trend_se, "unit": "1/year"},
        {"parameter": "older new city weight", "prior_mean": weight, "prior_sd": weight_sd, "unit": "Dmnl"},
        {"parameter": "young new city weight", "prior_mean": young_weight, "prior_sd": young_sd, "unit": "Dmnl"},
        {"parameter": "older return migration", "prior_mean": 0.0,
         "prior_sd": float(np.sqrt((older_return_migration(migration) ** 2).mean())), "unit": "Dmnl"},
    ])
