"""Regional mortality relative to the national schedule, by year, and the prior of its trend.

Regional deaths are observed by region only (``deaths`` in vital.csv), not by age. The
ratio of a region in year t is its observed deaths over the deaths the national schedule
would give its residents, divided by the same ratio of the country (indirect
standardisation):

    R(r, t) = [D(r, t) / Σ_{s,x} E(r, s, x, t) m(s, x, t)] / [D(t) / Σ_{s,x} E(s, x, t) m(s, x, t)],

E the registered population by sex and single age (mean of the year-ends before and of
the year, 5-year groups split by :func:`kbalance.demography.ages.split_five_year`), m the
model's national rates: the Li–Lee fit of the HMD in its years and the re-estimated common
index after them (:mod:`kbalance.model.mortality`). Dividing by the country's ratio
removes what is common to all regions in a year (the difference between the registered
population and the HMD exposure, the COVID-19 excess of 2021–2022), so R measures the
relative level the model's `regional mortality ratio` stands for. Region-years of a
boundary change (calibration/breaks.csv) are left out.

:func:`trend_prior` fits ln R(r, t) = α_r + β_r t by least squares for every region and
gives the spread of the β_r about 0 that a hierarchical prior of the model's
`regional mortality trend` takes; :func:`level_spread` the spread of the regions' mean
ratios, the prior standard deviation of `regional mortality ratio` about 1 (docs/evidence.md,
"Regional mortality over time"). :func:`sex_gap_prior` gives the prior of the level the gap of
life expectancy between the sexes converges to in projections (`life expectancy sex gap
target`) from UN WPP 2024 (docs/evidence.md, "The gap of life expectancy between the sexes").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kbalance.demography.ages import FIVE_YEAR_GROUPS, split_five_year
from kbalance.evidence.migration_ages import boundary_region_years
from kbalance.model.mortality import OPEN_AGE, SEXES, fit_national_mortality, observed_index
from kbalance.model.population import to_model_ages
from kbalance.observations.keyed import un_wpp
from kbalance.observations.load import age_structure, wide_series
from kbalance.regions import NATIONAL_CODE, names, region_codes


def national_schedule(years) -> np.ndarray:
    """The model's national death rates [1/year] in ``years``, shape (sex, year, age), ages
    0 … 99 and 100+: the Li–Lee rates of the fitted years and, after them, the rates at the
    index re-estimated to the observed deaths (:func:`kbalance.model.mortality.observed_index`).
    ValueError for a year outside both."""
    fit = fit_national_mortality()
    observed = observed_index(fit)
    K = dict(zip(fit.years, fit.model.Kt)) | dict(zip(observed.years, observed.K))
    k = {y: fit.model.kt[:, i] for i, y in enumerate(fit.years)}
    k.update({y: observed.sex_index[:, i] for i, y in enumerate(observed.years)})
    missing = sorted(set(int(y) for y in years) - set(K))
    if missing:
        raise ValueError(f"no national index for the years {missing}")
    return fit.model.rates(np.array([K[y] for y in years]), np.stack([k[y] for y in years], axis=1))


def mid_year_population(years) -> np.ndarray:
    """Registered population [person-years], shape (region, sex, year, age) with the regions
    of :func:`kbalance.regions.region_codes` and then the country, ages 0 … 99 and 100+: the
    mean of the year-ends before and of each of ``years`` (NaN where a region has no groups)."""
    codes = [*region_codes(), NATIONAL_CODE]
    reg = age_structure("pop_registered").sel(sex=list(SEXES), age_group=list(FIVE_YEAR_GROUPS))
    reg = reg.reindex(region=codes).transpose("region", "sex", "year", "age_group")
    known = ~reg.isnull().any("age_group")
    single = to_model_ages(split_five_year(np.nan_to_num(reg.values), axis=-1), OPEN_AGE)
    single = np.where(known.values[..., None], single, np.nan)
    position = {int(y): i for i, y in enumerate(reg.year.values)}
    return np.stack([0.5 * (single[:, :, position[y - 1]] + single[:, :, position[y]]) for y in years], axis=2)


def observed_deaths(years) -> pd.DataFrame:
    """Observed deaths [persons/year], rows ``years``, columns the region codes then the country."""
    return wide_series("deaths", national=True).reindex(index=list(years), columns=[*region_codes(), NATIONAL_CODE])


def regional_mortality_ratios(years=range(2012, 2023)) -> pd.DataFrame:
    """R(r, t) [1] of the module docstring, rows ``years``, columns region names; NaN in a
    region-year of a boundary change or without population or deaths."""
    years = [int(y) for y in years]
    rates = national_schedule(years)                                   # (sex, year, age)
    expected = (mid_year_population(years) * rates[None]).sum(axis=(1, 3))      # (region, year), NaN without ages
    smr = observed_deaths(years).to_numpy() / expected.T               # (year, region + country)
    ratio = pd.DataFrame(smr[:, :-1] / smr[:, -1:], index=pd.Index(years, name="year"),
                         columns=[names()[c] for c in region_codes()])
    for code, year in boundary_region_years():
        if year in ratio.index and code in names():
            ratio.loc[year, names()[code]] = np.nan
    return ratio.where(np.isfinite(ratio) & (ratio > 0))


@dataclass(frozen=True)
class TrendPrior:
    """Log-linear trends of the regional ratios and their spread.

    slopes [1/year] β_r by region name; std_errors [1/year] their least-squares standard
    errors; spread [1/year] the standard deviation of the β_r about 0 (root mean square);
    between [1/year] the same less the mean sampling variance (method of moments, ≥ 0):
    the spread of the true trends.
    """

    slopes: pd.Series
    std_errors: pd.Series
    spread: float
    between: float


def log_linear_slope(years, values) -> tuple[float, float]:
    """Least-squares slope [1/year] of ln ``values`` on ``years`` and its standard error
    (NaN values left out; at least three years)."""
    t, y = np.asarray(years, float), np.log(np.asarray(values, float))
    keep = np.isfinite(y)
    t, y = t[keep], y[keep]
    if t.size < 3:
        raise ValueError("a trend needs at least three years")
    design = np.column_stack([np.ones_like(t), t - t.mean()])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    variance = (resid ** 2).sum() / (t.size - 2)
    return float(coef[1]), float(np.sqrt(variance / ((t - t.mean()) ** 2).sum()))


def trend_prior(ratios: pd.DataFrame | None = None) -> TrendPrior:
    """Slopes of ln R by region and their spread about 0 (:class:`TrendPrior`)."""
    ratios = regional_mortality_ratios() if ratios is None else ratios
    fits = {region: log_linear_slope(ratios.index, ratios[region]) for region in ratios.columns}
    slopes = pd.Series({r: f[0] for r, f in fits.items()})
    errors = pd.Series({r: f[1] for r, f in fits.items()})
    spread = float(np.sqrt((slopes ** 2).mean()))
    between = float(np.sqrt(max(0.0, spread ** 2 - (errors ** 2).mean())))
    return TrendPrior(slopes=slopes, std_errors=errors, spread=spread, between=between)


def level_spread(ratios: pd.DataFrame | None = None) -> float:
    """Standard deviation over the regions of each region's mean ratio R over the years [1]."""
    ratios = regional_mortality_ratios() if ratios is None else ratios
    return float(ratios.mean().std(ddof=1))


@dataclass(frozen=True)
class SexGapPrior:
    """Prior of the projected gap of life expectancy at birth, women minus men [years].

    mean [years] the UN WPP 2024 median gap of ``year``; sd [years] the standard deviation of
    the UN WPP estimated gap over ``estimate_years``; gaps [years] the median gap by projection
    year.
    """

    year: int
    mean: float
    sd: float
    estimate_years: tuple[int, int]
    gaps: pd.Series


def sex_gap_prior(year: int = 2070, estimate_years: tuple[int, int] = (2003, 2023), root=None) -> SexGapPrior:
    """Gap of UN WPP 2024's median e0 of women over men in ``year`` [years] and the spread of the
    gap its estimates show over ``estimate_years`` (the years of the HMD fit to the latest
    estimate) [years] (calibration/observations/un_wpp.csv)."""
    table = un_wpp(root)
    e0 = table[table["variable"].isin(["e0_male", "e0_female"])].pivot_table(
        index=["quantile", "year"], columns="variable", values="value")
    gap = e0["e0_female"] - e0["e0_male"]
    median, estimate = gap.loc["median"], gap.loc["estimate"]
    first, last = estimate_years
    if year not in median.index or first not in estimate.index or last not in estimate.index:
        raise ValueError(f"UN WPP has medians for {median.index.min()}-{median.index.max()} and "
                         f"estimates for {estimate.index.min()}-{estimate.index.max()}")
    return SexGapPrior(year=year, mean=float(median.loc[year]), sd=float(estimate.loc[first:last].std(ddof=1)),
                       estimate_years=estimate_years, gaps=median)
