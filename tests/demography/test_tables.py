"""Arrays from the long mortality table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.demography.tables import SEXES, deaths_exposure, female_flags
from kbalance.errors import InvalidValueError, MissingColumnError


def long_table(last_age: int = 6) -> pd.DataFrame:
    rows = [(year, sex, age, 1.0 + age, 100.0)
            for year in (2000, 2001) for sex in ("female", "male") for age in range(last_age + 1)]
    return pd.DataFrame(rows, columns=["year", "sex", "age", "deaths", "exposure"])


def test_groups_ages_into_the_open_group_and_orders_sexes():
    data = deaths_exposure(long_table(), open_age=4, source="t.csv")
    assert data["deaths"].dims == ("sex", "year", "age")
    assert list(data["sex"].values) == list(SEXES) and data["age"].values.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(data["deaths"].sel(sex="male", year=2000).values, [1, 2, 3, 4, 5 + 6 + 7])
    assert data["exposure"].sel(age=4).values.min() == 300.0
    assert female_flags(data["sex"].values)[:, 0].tolist() == [False, True]


def test_errors_name_the_table_and_field():
    with pytest.raises(MissingColumnError, match="t.csv.*exposure"):
        deaths_exposure(long_table().drop(columns="exposure"), open_age=4, source="t.csv")
    with pytest.raises(InvalidValueError, match="t.csv.*sex"):
        deaths_exposure(long_table().replace({"sex": {"male": "total"}}), open_age=4, source="t.csv")
    with pytest.raises(InvalidValueError, match="t.csv.*age"):
        deaths_exposure(long_table(), open_age=6, source="t.csv")
    with pytest.raises(InvalidValueError, match="deaths/exposure"):
        deaths_exposure(long_table().iloc[1:], open_age=4, source="t.csv")
