"""Population inputs from observations: the jump-off population and international migration.

- The **jump-off population** of a year is the registered population of December of that
  year (the model stock on 1 January of the next) by region, sex and single age: the
  5-year groups 00_04 … 95_99, 100p split to single years by
  :func:`kbalance.demography.ages.split_five_year` (group totals kept exactly) and the ages
  from the model's open age up summed into its open group. The groups are the region-level
  registered population (population_age.csv) where it covers the year, else the sum of the
  시군구 of municipal_population_age.csv (December 2015–2025, current boundaries).
- The **age–sex profile of international migration** of nationals is the magnitude of the
  UN WPP 2024 projected net migrants by sex and single age (all nationalities), summed over
  the projection years and normalised to 1: it says at which ages people move across the
  border. The UN profile is signed (young adults arriving, older adults leaving) and nearly
  cancels in total, so its signed shares would multiply a small national level by about
  seven at some ages and flip its sign at others; the magnitude keeps every age's net flow
  of the sign of the national level.
- The **regional key** of international migration is each region's share of the balancing
  residual (international migration of nationals and registration effects) summed over a
  window of years without definitional breaks, divided by its share of the registered
  population over the same years: an intensity per resident relative to the nation
  (:func:`residual_intensity`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.demography.ages import FIVE_YEAR_GROUPS, split_five_year
from kbalance.errors import InvalidValueError
from kbalance.observations.keyed import municipal_age_structure, un_wpp_migration_by_age
from kbalance.observations.load import age_structure
from kbalance.regions import names, region_codes

SEXES = ("male", "female")


def age_labels(open_age: int) -> list[str]:
    """The model's Age elements for an open group starting at ``open_age``: A0 … A<open_age>."""
    return [f"A{a}" for a in range(open_age + 1)]


def to_model_ages(single: np.ndarray, open_age: int, axis: int = -1) -> np.ndarray:
    """Single ages 0 … 100 (100 the open group 100+) folded to the model's ages 0 …
    ``open_age`` (the last the open group): ages from ``open_age`` on are summed [persons]."""
    single = np.moveaxis(np.asarray(single, dtype=float), axis, -1)
    if not 0 < open_age <= single.shape[-1] - 1:
        raise ValueError(f"open age {open_age} outside 1 … {single.shape[-1] - 1}")
    folded = np.concatenate([single[..., :open_age], single[..., open_age:].sum(axis=-1, keepdims=True)], axis=-1)
    return np.moveaxis(folded, -1, axis)


def observed_age_groups(year: int, root: Path | None = None) -> xr.DataArray:
    """Registered population in December of ``year`` [persons], dims (region, sex, age_group)
    with the 21 groups of :data:`~kbalance.demography.ages.FIVE_YEAR_GROUPS`, regions in KOSIS
    order (0 for a region that did not exist). InvalidValueError when neither source covers
    every region that year."""
    codes = region_codes()
    registered = age_structure("pop_registered", root)
    if year in registered.year.values:
        cut = registered.sel(year=year, sex=list(SEXES), age_group=list(FIVE_YEAR_GROUPS))
        cut = cut.reindex(region=codes)
        if "region" in cut.dims and not cut.isnull().all(["sex", "age_group"]).any():
            return cut.fillna(0.0).transpose("region", "sex", "age_group")
    municipal = municipal_age_structure(root)
    if year not in municipal.year.values:
        raise InvalidValueError("calibration/observations/municipal_population_age.csv", "year", year,
                                f"a year of the registered population by age ({sorted(set(registered.year.values) | set(municipal.year.values))})")
    cut = municipal.sel(year=year, sex=list(SEXES), age_group=list(FIVE_YEAR_GROUPS))
    if bool(cut.isnull().any()):
        bad = cut.isnull().any(["sex", "age_group"])
        sgg = str(cut.sgg_code.values[bad.values][0])
        raise InvalidValueError("calibration/observations/municipal_population_age.csv", f"{year}.{sgg}", "no age vector",
                                "a year where every 시군구 has its ages")
    summed = cut.groupby("region").sum("sgg_code").reindex(region=codes, fill_value=0.0)
    return summed.transpose("region", "sex", "age_group")


def jump_off_population(year: int, open_age: int, root: Path | None = None) -> dict[str, pd.DataFrame]:
    """The model population on 1 January of ``year + 1`` from the registered population of
    December ``year``, by sex: region name × A0 … A<open_age> [persons].

    Each region's 5-year groups (:func:`observed_age_groups`) are split to single ages
    0 … 99 and 100+ and folded to the model's ages (:func:`to_model_ages`); every group
    total, and so every sum over whole groups (women 20–39, people 65+), is kept exactly.
    """
    groups = observed_age_groups(year, root)
    single = to_model_ages(split_five_year(groups.values, axis=-1), open_age)
    labels = age_labels(open_age)
    region_names = [names()[c] for c in groups.region.values]
    return {sex: pd.DataFrame(single[:, i, :], index=region_names, columns=labels) for i, sex in enumerate(SEXES)}


def latest_age_year(root: Path | None = None) -> int:
    """The latest December for which the registered population by age covers every region."""
    municipal = municipal_age_structure(root)
    complete = [int(y) for y in municipal.year.values if not bool(municipal.sel(year=y).isnull().any())]
    registered = [int(y) for y in age_structure("pop_registered", root).year.values]
    return max(complete + registered)


def international_migration_profile(open_age: int, root: Path | None = None) -> pd.DataFrame:
    """Share of each sex and age in net international migration of nationals [1], rows
    Male, Female × A0 … A<open_age>, summing to 1: the magnitude of the UN WPP 2024 projected
    net migrants by sex and age summed over the projection years (module docstring)."""
    wpp = un_wpp_migration_by_age(root).sel(sex=list(SEXES))
    magnitude = np.abs(wpp).sum("year").transpose("sex", "age")
    full = np.zeros((len(SEXES), 101))
    ages = magnitude.age.values.astype(int)
    full[:, np.minimum(ages, 100)] = magnitude.values
    folded = to_model_ages(full, open_age)
    return pd.DataFrame(folded / folded.sum(), index=["Male", "Female"], columns=age_labels(open_age))


def residual_intensity(residual: pd.DataFrame, population: pd.DataFrame, years: Sequence[int]) -> pd.Series:
    """International migration per resident of each region relative to the nation [1]: its
    share of the balancing residual (:func:`residual_key`) over its share of the registered
    population, both summed over ``years`` (rows: years, columns: region codes), by region
    name. The model gives a region the national level times its intensity × residents over
    the sum of intensity × residents of all regions, so the national total is exact and a
    shrinking region's share shrinks with it."""
    years = list(years)
    people = population.loc[years].sum()
    share = people / people.sum()
    share.index = [names()[c] for c in share.index]
    return residual_key(residual, years) / share


def residual_key(residual: pd.DataFrame, years: Sequence[int]) -> pd.Series:
    """Each region's share of the national balancing residual [1] summed over ``years``
    (rows: years, columns: region codes; shares sum to 1), by region name."""
    total = residual.loc[list(years)].sum()
    if not np.isfinite(total.sum()) or total.sum() == 0:
        raise InvalidValueError("calibration/observations", "balancing residual", f"sum {total.sum()} over {list(years)}",
                                "a window whose national residual is not zero")
    key = total / total.sum()
    key.index = [names()[c] for c in key.index]
    return key
