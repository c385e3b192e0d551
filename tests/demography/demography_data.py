"""The harmonized files the demography tests compare with, read once (../shared/data)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import xarray as xr

from conftest import SHARED_DATA
from kbalance.demography.ages import FIVE_YEAR_GROUPS
from kbalance.demography.leecarter import fit_lee_carter, fit_li_lee
from kbalance.demography.lifetable import life_table
from kbalance.demography.oldage import complete_rates
from kbalance.demography.tables import SEXES, deaths_exposure, female_flags

HARMONIZED = SHARED_DATA / "harmonized"

#: Jump-off year of the national mortality data and the projection's last year.
LAST_YEAR, HORIZON_YEAR = 2020, 2070

FEMALE = female_flags(SEXES)


def e0_table(rates: np.ndarray) -> np.ndarray:
    """e0 [years] of rates shaped (sex, …, age)."""
    return life_table(rates, FEMALE.reshape((len(SEXES),) + (1,) * (rates.ndim - 2))).e0


@cache
def mortality() -> xr.Dataset:
    """HMD deaths and exposure (sex, year, age 0 … 100+)."""
    return deaths_exposure(pd.read_csv(HARMONIZED / "mortality_national.csv"))


@cache
def rates() -> np.ndarray:
    """Observed rates below 95, Kannisto from 95, open at 100+ (sex, year, age)."""
    data = mortality()
    return complete_rates(data["deaths"].values, data["exposure"].values)


@cache
def lee_carter() -> tuple:
    """Lee–Carter fits, one per sex in SEXES order."""
    data = mortality()
    return tuple(fit_lee_carter(rates()[i], data["deaths"].values[i], data["exposure"].values[i])
                 for i in range(len(SEXES)))


@cache
def li_lee():
    """The Li–Lee fit of both sexes."""
    data = mortality()
    return fit_li_lee(rates(), data["deaths"].values, data["exposure"].values)


@cache
def kosis_lx() -> pd.DataFrame:
    """KOSIS abridged lx with numeric ages (open groups '100이상' → 100), rows with a value."""
    table = pd.read_csv(HARMONIZED / "life_table_lx_national.csv").dropna(subset=["lx"])
    return table.assign(age=table["age_start"].str.replace("이상", "").astype(int))


@cache
def wpp() -> pd.DataFrame:
    """UN WPP 2024 rows for Korea."""
    return pd.read_csv(HARMONIZED / "un_wpp2024_korea.csv")


@cache
def registered_2024() -> xr.DataArray:
    """Registered population, December 2024, by province, sex and 5-year group (municipal sums)."""
    table = pd.read_csv(HARMONIZED / "municipal_population_age.csv")
    table = table[table["year"] == 2024]
    series = table.groupby(["region_code", "sex", "age_group"])["value"].sum()
    return xr.DataArray.from_series(series).sel(age_group=list(FIVE_YEAR_GROUPS)).astype(float)
