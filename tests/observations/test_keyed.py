"""The keyed files, text tables and boundaries: their loaders on the committed set, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kbalance.errors import DuplicateCellError, InvalidValueError, MissingColumnError, MissingValueError, UnitMismatchError, UnknownRegionError
from kbalance.observations import keyed
from kbalance.observations.schema import BOUNDARY_FILE, KEYED_FILES, TEXT_FILES, KeyedLayout

from .edits import edit_lines, replace_field


# --- the committed set -------------------------------------------------------------


def test_national_mortality():
    deaths = keyed.national_mortality("deaths")
    exposure = keyed.national_mortality("exposure")
    assert deaths.dims == ("sex", "year", "age") and list(deaths["sex"].values) == ["male", "female"]
    assert list(deaths["age"].values) == list(range(111)) and deaths.attrs["open_age"] == 110
    assert int(deaths["year"].min()) == 2003 and int(deaths["year"].max()) == 2020
    assert deaths.attrs["units"] == "persons" and exposure.attrs["units"] == "person-years"
    assert not bool(deaths.isnull().any())
    rate = deaths / exposure
    assert float(rate.sel(sex="male", year=2019, age=80)) > float(rate.sel(sex="female", year=2019, age=80))
    with pytest.raises(InvalidValueError, match="'what'.*'rates'"):
        keyed.national_mortality("rates")


def test_life_table_lx():
    lx = keyed.life_table_lx()
    assert lx.dims == ("sex", "year", "age") and list(lx["sex"].values) == ["total", "male", "female"]
    assert (lx.sel(age=0) == 100_000).all()
    open_age = lx["open_age"].to_series()
    assert np.isnan(open_age[1970]) and open_age[1995] == 85 and open_age[2000] == 95 and open_age[2013] == 100
    assert np.isnan(float(lx.sel(sex="male", year=1970, age=85)))


def test_un_wpp_tidy_table():
    table = keyed.un_wpp()
    assert list(table.columns) == ["variable", "year", "quantile", "value", "unit"]
    assert set(table["variable"]) == {"e0_male", "e0_female", "e0_both", "tfr", "net_international_migration"}
    tfr = table[table["variable"] == "tfr"].set_index(["year", "quantile"])["value"]
    assert tfr[(2023, "estimate")] == 0.72
    assert tfr[(2050, "p2.5")] < tfr[(2050, "median")] < tfr[(2050, "p97.5")]
    assert set(table.loc[table["year"] <= 2023, "quantile"]) == {"estimate"}
    assert table.drop_duplicates(["variable", "year", "quantile"]).shape[0] == len(table)


def test_un_wpp_age_patterns():
    mig = keyed.un_wpp_migration_by_age()
    assert mig.dims == ("sex", "year", "age") and mig.attrs["units"] == "thousand persons"
    assert int(mig["age"].max()) == 100 and int(mig["year"].min()) == 2023
    asfr = keyed.un_wpp_fertility_pattern()
    assert asfr.dims == ("year", "age_group") and list(asfr["age_group"].values)[0] == "15_19"
    assert np.allclose(asfr.sum("age_group"), 100.0)


def test_municipal_loaders():
    table = keyed.municipalities()
    assert len(table) == 229 and table.index.is_unique
    assert table.loc["27720", "sgg_name"] == "군위군" and table.loc["27720", "region_code"] == "22"
    assert (table["designation"].value_counts().to_dict()
            == {"": 122, "depopulation_area": 89, "area_of_concern": 18})
    pop = keyed.municipal_population()
    assert pop.dims == ("sgg_code", "year") and pop.sizes == {"sgg_code": 229, "year": 11}
    assert set(pop["region"].values) == set(table["region_code"])
    ages = keyed.municipal_age_structure()
    assert ages.dims == ("sgg_code", "year", "sex", "age_group")
    assert list(ages["age_group"].values)[0] == "00_04" and list(ages["age_group"].values)[-1] == "100p"
    assert bool(ages.sel(sgg_code="27720", year=2022).isnull().all())
    assert not bool(ages.sel(sgg_code="27720", year=2023).isnull().any())
    assert float(ages.sel(sgg_code="11110", year=2025).sum()) == float(pop.sel(sgg_code="11110", year=2025))
    shapes = keyed.sgg_boundaries()
    assert len(shapes) == 229 and set(shapes["sgg_cd"]) == set(table.index)


def test_layout_columns():
    long, wide = KeyedLayout(("sex", "age")), KeyedLayout(("sgg_code", "sex"), wide="age_group")
    assert long.columns() == ("series", "region_code", "year", "sex", "age", "value", "unit")
    assert wide.columns(["00_04"]) == ("series", "region_code", "year", "sgg_code", "sex", "00_04", "unit")
    assert wide.cell == ("series", "region_code", "year", "sgg_code", "sex", "age_group")


# --- bad input ---------------------------------------------------------------------


def _drop_column(index: int):
    """An edit removing field ``index`` (negative: from the end) from every line."""
    def edit(lines):
        rows = [line.rstrip("\n").split(",") for line in lines]
        return [",".join(p for i, p in enumerate(row) if i != index % len(row)) + "\n" for row in rows]
    return edit


BAD_KEYED = {
    # name: (file, edit(lines) -> lines, error type, pattern of the message)
    "duplicate": ("mortality.csv", lambda ls: [*ls, ls[7]], DuplicateCellError,
                  "field 'series\\+region_code\\+year\\+sex\\+age'.*duplicate"),
    "region": ("municipal_population.csv", lambda ls: [ls[0], replace_field(ls[1], 1, "98"), *ls[2:]],
               UnknownRegionError, "'region_code'.*'98'"),
    "empty_key": ("mortality.csv", lambda ls: [ls[0], replace_field(ls[1], 3, ""), *ls[2:]],
                  MissingValueError, "field 'sex'.*row 2"),
    "value": ("un_wpp.csv", lambda ls: [ls[0], replace_field(ls[1], 4, "n/a"), *ls[2:]],
              MissingValueError, "field 'value'"),
    "unit": ("life_table.csv", lambda ls: [ls[0], replace_field(ls[1], 6, "persons"), *ls[2:]],
             UnitMismatchError, "unit 'persons'.*declared unit 'persons \\(radix 100000\\)'"),
    "missing_column": ("mortality.csv", _drop_column(3), MissingColumnError, "field 'sex'"),
    "wide_empty_cell": ("municipal_population_age.csv", lambda ls: [ls[0], replace_field(ls[1], 8, ""), *ls[2:]],
                        MissingValueError, "field '15_19'.*row 2"),
    "wide_unit_not_last": ("un_wpp_migration_age.csv", _drop_column(-1), MissingColumnError, "field 'unit'"),
    # were accepted by kbalance run and data check
    "text_age": ("life_table.csv", lambda ls: [ls[0], replace_field(ls[1], 4, "x"), *ls[2:]],
                 InvalidValueError, "field 'age': invalid value 'x'; expected an age in whole years, or Np"),
    "unknown_sex": ("mortality.csv", lambda ls: [ls[0], replace_field(ls[1], 3, "both"), *ls[2:]],
                    InvalidValueError, "field 'sex': invalid value 'both'; expected one of total, male, female"),
}


@pytest.mark.parametrize("case", sorted(BAD_KEYED))
def test_bad_keyed_file_raises_typed_error(calib_copy, case):
    fname, edit, error, pattern = BAD_KEYED[case]
    path = calib_copy / "observations" / fname
    edit_lines(path, edit)
    with pytest.raises(error, match=f"{fname}.*{pattern}"):
        keyed.read_keyed_file(path)


BAD_TEXT = {
    "duplicate_code": ("municipalities.csv", lambda ls: [*ls, ls[3]], DuplicateCellError, "'sgg_code'.*duplicate"),
    "bad_code": ("municipalities.csv", lambda ls: [ls[0], replace_field(ls[1], 0, "1111"), *ls[2:]],
                 InvalidValueError, "'sgg_code'.*'1111'.*5-digit"),
    "region": ("municipalities.csv", lambda ls: [ls[0], replace_field(ls[1], 1, "00"), *ls[2:]],
               UnknownRegionError, "'region_code'.*'00'"),
    "status": ("municipal_designations.csv", lambda ls: [ls[0], replace_field(ls[1], 2, "shrinking"), *ls[2:]],
               InvalidValueError, "'status'.*'shrinking'.*depopulation_area"),
    "empty": ("municipal_designations.csv", lambda ls: ls[:1], MissingValueError, "'sgg_code'.*has none"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_bad_text_table_raises_typed_error(calib_copy, case):
    fname, edit, error, pattern = BAD_TEXT[case]
    path = calib_copy / "observations" / fname
    edit_lines(path, edit)
    with pytest.raises(error, match=f"{fname}.*{pattern}"):
        keyed.read_text_table(path)


def test_bad_boundary_file_raises(calib_copy):
    path = calib_copy / "observations" / BOUNDARY_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["features"][3]["properties"]["sgg_cd"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InvalidValueError, match="'features'.*feature 3"):
        keyed.read_boundaries(path)
    path.write_text(json.dumps({"type": "Feature"}), encoding="utf-8")
    with pytest.raises(InvalidValueError, match="'type'.*FeatureCollection"):
        keyed.read_boundaries(path)


def test_read_observation_table_dispatches_by_layout(calib_copy):
    obs = calib_copy / "observations"
    assert set(keyed.read_observation_table(obs / "mortality.csv").columns) >= {"sex", "age", "value"}
    assert list(keyed.read_observation_table(obs / "municipalities.csv").columns) == list(TEXT_FILES["municipalities.csv"][1])
    assert "sgg_cd" in keyed.read_observation_table(obs / BOUNDARY_FILE).columns
    assert list(keyed.read_observation_table(obs / "vital.csv").columns) == ["series", "region_code", "year", "value", "unit"]
    wide = keyed.read_observation_table(obs / "municipal_population_age.csv")
    assert set(KEYED_FILES["municipal_population_age.csv"].cell) <= set(wide.columns)
    with pytest.raises(InvalidValueError, match="'file'.*'vital.csv'"):
        keyed.read_keyed_file(obs / "vital.csv")
