"""Regional mortality relative to the national schedule from the data, and the level a
projection jumps off from.

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
relative level the model's `regional mortality level` stands for. Region-years of a
boundary change (calibration/breaks.csv) are left out.

A projection starts from the registered population, so its regional mortality starts from
the level observed on that population: :func:`jump_off_mortality_ratio`, the mean R of the
last :data:`JUMP_OFF_MORTALITY_YEARS` years to a year (the model input
``jump_off_mortality_ratio.csv``; a backtest takes the years to its origin). The calibrated
levels of the simulated history stand for the same quantity on the simulated population,
whose age structure differs from the register's region by region (docs/model.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kbalance.demography.ages import FIVE_YEAR_GROUPS, split_five_year
from kbalance.errors import InvalidValueError
from kbalance.model.mortality import OPEN_AGE, SEXES, fit_national_mortality, observed_index
from kbalance.model.population import to_model_ages
from kbalance.observations.load import age_structure, boundary_changes, wide_series
from kbalance.regions import NATIONAL_CODE, names, region_codes

#: Years [year] whose mean ratio is the level a projection jumps off from: three, so that a
#: year's noise (the ratios' standard deviation over 2012-2022 is 0.6-2.9 % by region, 4.8 %
#: in Sejong) is averaged while the level stays that of the latest data.
JUMP_OFF_MORTALITY_YEARS = 3


def boundary_region_years(root: Path | None = None) -> set[tuple[str, int]]:
    """(region code, year) of every region touched by a boundary change in that year."""
    return {(code, change.year) for change in boundary_changes(root) for code in (change.dest, *change.origins)}


def national_schedule(years, root: Path | None = None) -> np.ndarray:
    """The model's national death rates [1/year] in ``years``, shape (sex, year, age), ages
    0 … 99 and 100+: the Li–Lee rates of the fitted years and, after them, the rates at the
    index re-estimated to the observed deaths (:func:`kbalance.model.mortality.observed_index`).
    ValueError for a year outside both."""
    fit = fit_national_mortality(root)
    observed = observed_index(fit, root)
    K = dict(zip(fit.years, fit.model.Kt)) | dict(zip(observed.years, observed.K))
    k = {y: fit.model.kt[:, i] for i, y in enumerate(fit.years)}
    k.update({y: observed.sex_index[:, i] for i, y in enumerate(observed.years)})
    missing = sorted(set(int(y) for y in years) - set(K))
    if missing:
        raise ValueError(f"no national index for the years {missing}")
    return fit.model.rates(np.array([K[y] for y in years]), np.stack([k[y] for y in years], axis=1))


def mid_year_population(years, root: Path | None = None) -> np.ndarray:
    """Registered population [person-years], shape (region, sex, year, age) with the regions
    of :func:`kbalance.regions.region_codes` and then the country, ages 0 … 99 and 100+: the
    mean of the year-ends before and of each of ``years`` (NaN where a region has no groups)."""
    codes = [*region_codes(), NATIONAL_CODE]
    reg = age_structure("pop_registered", root).sel(sex=list(SEXES), age_group=list(FIVE_YEAR_GROUPS))
    reg = reg.reindex(region=codes).transpose("region", "sex", "year", "age_group")
    known = ~reg.isnull().any("age_group")
    single = to_model_ages(split_five_year(np.nan_to_num(reg.values), axis=-1), OPEN_AGE)
    single = np.where(known.values[..., None], single, np.nan)
    position = {int(y): i for i, y in enumerate(reg.year.values)}
    return np.stack([0.5 * (single[:, :, position[y - 1]] + single[:, :, position[y]]) for y in years], axis=2)


def observed_deaths(years, root: Path | None = None) -> pd.DataFrame:
    """Observed deaths [persons/year], rows ``years``, columns the region codes then the country."""
    return wide_series("deaths", root, national=True).reindex(index=list(years), columns=[*region_codes(), NATIONAL_CODE])


def regional_mortality_ratios(years=range(2012, 2023), root: Path | None = None) -> pd.DataFrame:
    """R(r, t) [1] of the module docstring, rows ``years``, columns region names; NaN in a
    region-year of a boundary change or without population or deaths."""
    years = [int(y) for y in years]
    rates = national_schedule(years, root)                             # (sex, year, age)
    expected = (mid_year_population(years, root) * rates[None]).sum(axis=(1, 3))  # (region, year), NaN without ages
    smr = observed_deaths(years, root).to_numpy() / expected.T         # (year, region + country)
    ratio = pd.DataFrame(smr[:, :-1] / smr[:, -1:], index=pd.Index(years, name="year"),
                         columns=[names()[c] for c in region_codes()])
    for code, year in boundary_region_years(root):
        if year in ratio.index and code in names():
            ratio.loc[year, names()[code]] = np.nan
    return ratio.where(np.isfinite(ratio) & (ratio > 0))


def last_regional_deaths_year(root: Path | None = None) -> int:
    """Latest year [year] with observed deaths in every region (vital.csv)."""
    deaths = wide_series("deaths", root).reindex(columns=region_codes())
    return int(deaths.dropna().index.max())


def jump_off_mortality_ratio(last_year: int | None = None, root: Path | None = None) -> pd.DataFrame:
    """Regional mortality relative to the national schedule at a jump-off [1]: each region's
    mean R over the :data:`JUMP_OFF_MORTALITY_YEARS` years to ``last_year`` (default, and at
    most, the latest with regional deaths; from the first year with registered ages at both
    year-ends), region-years of a boundary change left out; one column ``value``, rows the
    region names. InvalidValueError when a region has no ratio in those years."""
    latest = last_regional_deaths_year(root)
    last_year = latest if last_year is None else min(int(last_year), latest)
    first = int(age_structure("pop_registered", root).year.min()) + 1
    years = range(max(last_year - JUMP_OFF_MORTALITY_YEARS + 1, first), last_year + 1)
    ratio = regional_mortality_ratios(years, root).mean() if len(years) else None
    if ratio is None or ratio.isna().any():
        raise InvalidValueError("calibration/observations/vital.csv", "deaths", last_year,
                                f"a year from {first} with deaths and registered ages of every region")
    return ratio.rename_axis("key").to_frame("value")
