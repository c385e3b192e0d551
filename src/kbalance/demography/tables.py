"""Arrays from the long mortality table (year, sex, age, deaths, exposure).

The demographic functions work on arrays; this module turns the harmonized
table into them, with ages above ``open_age`` summed into one open group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.errors import InvalidValueError, MissingColumnError

#: Order of the sex dimension in the arrays made here.
SEXES = ("male", "female")

MORTALITY_COLUMNS = ("year", "sex", "age", "deaths", "exposure")


def female_flags(sexes) -> np.ndarray:
    """True where a sex label is 'female' (for a0 in the life table); shape (n_sex, 1)."""
    return (np.asarray(sexes) == "female")[:, None]


def deaths_exposure(frame: pd.DataFrame, open_age: int = 100,
                    source: str = "mortality table") -> xr.Dataset:
    """Deaths and exposure by sex, year and single age, with an open group.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns year, sex ('male'/'female'), age [years] (single ages from 0,
        the last possibly open), deaths [persons], exposure [person-years].
    open_age : int
        Ages ≥ open_age are summed into the open group open_age+ [years].
    source : str
        Name of the table for error messages (e.g. its file).

    Returns
    -------
    xarray.Dataset
        ``deaths`` [persons] and ``exposure`` [person-years] on (sex, year, age),
        sex in :data:`SEXES` order, age = 0 … open_age (open_age being open+).
    """
    for column in MORTALITY_COLUMNS:
        if column not in frame.columns:
            raise MissingColumnError(source, column, ", ".join(MORTALITY_COLUMNS))
    bad = sorted(set(frame["sex"]) - set(SEXES))
    if bad:
        raise InvalidValueError(source, "sex", bad[0], SEXES)
    ages = np.sort(frame["age"].unique())
    if ages[0] != 0 or not np.array_equal(ages, np.arange(ages.size)) or ages[-1] <= open_age:
        raise InvalidValueError(source, "age", f"{ages[0]}…{ages[-1]}",
                                f"consecutive single ages from 0 beyond {open_age}")
    grouped = frame.assign(age=np.minimum(frame["age"], open_age)).groupby(["sex", "year", "age"])
    counts = grouped[["deaths", "exposure"]].sum()
    data = xr.Dataset.from_dataframe(counts).reindex(sex=list(SEXES))
    if data["deaths"].isnull().any() or data["exposure"].isnull().any():
        raise InvalidValueError(source, "deaths/exposure", "a missing cell",
                                "every sex × year × age present")
    data["deaths"].attrs["units"] = "persons"
    data["exposure"].attrs["units"] = "person-years"
    data.attrs["open_age"] = open_age
    return data
