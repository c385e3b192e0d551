"""Panels assembled from the committed observation set, and missing-series errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.errors import InvalidValueError
from kbalance.evidence.panels import (DESTINATION_ATTRIBUTES, gravity_panel, od_flows, region_panel,
                                      same_bloc_matrix)
from kbalance.observations.load import clear_cache, load_series
from kbalance.regions import region_codes


@pytest.fixture(scope="module")
def regions() -> pd.DataFrame:
    return region_panel()


@pytest.fixture(scope="module")
def gravity() -> pd.DataFrame:
    return gravity_panel()


def test_region_panel_shape_and_values(regions):
    assert set(regions["region_code"]) == set(region_codes())
    assert regions["year"].min() == 2000 and regions["year"].max() == 2023
    assert not regions.isna().any().any()
    assert not regions.duplicated(["region_code", "year"]).any()
    # Sejong enters with its first year of labour-force data (EAPS publishes it from 2017).
    assert regions.loc[regions["region_code"] == "29", "year"].min() == 2017
    assert len(regions) == 16 * 24 + 7
    assert (regions[["population", "density", "grdp_per_capita", "employed", "innovation_per_worker", "tfr"]] > 0).all().all()
    assert regions["employment_rate"].between(0.4, 0.9).all()  # a fraction, not a percentage


def test_region_panel_values_come_from_the_series(regions):
    pop = load_series("pop_registered").set_index(["region_code", "year"])["value"]
    row = regions[(regions["region_code"] == "11") & (regions["year"] == 2010)].iloc[0]
    assert row["population"] == pop[("11", 2010)]
    assert row["density"] == pytest.approx(pop[("11", 2010)] / 605.2)


def test_od_flows_sum_to_published_out_migrants():
    flows = od_flows()
    assert (flows["origin"] != flows["dest"]).all()
    out = load_series("migrants_out_interprovincial").set_index(["region_code", "year"])["value"]
    totals = flows.groupby(["origin", "year"])["flow"].sum()
    for (origin, year), total in totals.items():
        assert total == out[(origin, year)]
    assert flows["year"].min() == 2000 and flows["year"].max() == 2024
    assert len(flows) == 12 * 16 * 15 + 13 * 17 * 16  # 16 regions to 2011, 17 from 2012


def test_gravity_panel_shape_and_lags(gravity, regions):
    assert not gravity[["flow", "log_distance", "same_bloc", *DESTINATION_ATTRIBUTES]].isna().any().any()
    assert gravity["year"].min() == 2001 and gravity["year"].max() == 2024
    assert np.isfinite(gravity["log_distance"]).all() and (gravity["flow"] >= 0).all()
    # destination attributes are those of the previous year
    row = gravity[(gravity["year"] == 2015) & (gravity["origin"] == "11") & (gravity["dest"] == "21")].iloc[0]
    busan = regions[(regions["region_code"] == "21") & (regions["year"] == 2014)].iloc[0]
    assert row["log_population"] == busan["log_population"]
    assert row["log_grdp_per_capita"] == busan["log_grdp_per_capita"]
    # Sejong as a destination once it has a previous year of every attribute (2017 + 1)
    assert gravity.loc[gravity["dest"] == "29", "year"].min() == 2018
    assert gravity.attrs["dropped"] == 16 * 15 + 6 * 16


def test_same_bloc_is_symmetric_and_geographic():
    same = same_bloc_matrix()
    codes = region_codes()
    at = {c: i for i, c in enumerate(codes)}
    assert (same == same.T).all() and not same.diagonal().any()
    assert same[at["11"], at["23"]] == 1 and same[at["21"], at["38"]] == 1
    assert same[at["32"], at["39"]] == 0  # Gangwon and Jeju: the "special" group is not a neighbourhood
    assert same[at["11"], at["21"]] == 0


def _drop_series(calib, name: str, keep_national: bool = False) -> None:
    sources = pd.read_csv(calib / "sources.csv", dtype=str, keep_default_na=False)
    topic = calib / sources.loc[sources["series"] == name, "file"].iloc[0]
    rows = pd.read_csv(topic, dtype={"region_code": str}, keep_default_na=False)
    drop = rows["series"] == name
    if keep_national:
        drop &= rows["region_code"] != "00"
    else:
        sources[sources["series"] != name].to_csv(calib / "sources.csv", index=False)
    rows[~drop].to_csv(topic, index=False)
    clear_cache()


def test_missing_series_names_sources_file_and_series(calib_copy):
    _drop_series(calib_copy, "gradschool_students_enrolled")
    with pytest.raises(InvalidValueError, match=r"sources\.csv.*'series'.*gradschool_students_enrolled"):
        region_panel(calib_copy)


def test_series_without_regional_rows_is_rejected(calib_copy):
    _drop_series(calib_copy, "employment_rate_15_64", keep_national=True)
    with pytest.raises(InvalidValueError, match="employment_rate_15_64.*rows for the 17 regions"):
        region_panel(calib_copy)
