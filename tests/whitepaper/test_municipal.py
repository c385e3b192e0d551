"""The white paper's municipal section on a small ensemble."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import xarray as xr

from kbalance.whitepaper.municipal import crossing_year, map_years, municipal_html, split_municipal, write_section


@pytest.fixture(scope="module")
def written(small_whitepaper, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wp-municipal")
    for sub in ("results", "tables", "figures"):
        (folder / sub).mkdir()
    return folder, write_section(replace(small_whitepaper, figures={}, tables={}), folder)


def test_every_member_and_scenario_has_counts(small_whitepaper):
    m = small_whitepaper.municipal
    assert m["at_risk"].dims == ("scenario", "member", "year") and m.sizes["member"] == 4
    assert m["year"].values[0] == 2026 and m["year"].values[-1] == 2035
    assert ((m["at_risk"] >= m["high_risk"]) & (m["at_risk"] <= 229)).all()
    assert m["extinction_index"].sizes["sgg_code"] == 229 and list(m["index_year"].values) == [2035]
    assert small_whitepaper.municipal_seconds > 0
    assert not any(v.startswith("municipal_") for v in small_whitepaper.members.data_vars)


def test_section_files_and_page(written):
    folder, wp = written
    assert {"municipal_summary.nc", "municipal_summary.csv", "municipal_index.csv"} <= {p.name for p in (folder / "results").iterdir()}
    index = pd.read_csv(folder / "results" / "municipal_index.csv", dtype={"sgg_code": str})
    assert index.groupby(["scenario", "year"]).size().eq(229).all()
    assert (folder / "figures" / "municipal_map.png").is_file() and "municipal_counts" in wp.figures
    page = municipal_html(wp)
    assert page.count("<figure>") == 2 and "229" in page
    groups = pd.read_csv(folder / "tables" / "municipal_groups.csv")
    assert "인구, 인구감소지역 [천 명]" in groups and len(groups) == wp.municipal.sizes["scenario"] * 2


def test_years_of_maps_and_crossings():
    assert map_years(2070) == [2040, 2050, 2070] and map_years(2045) == [2040, 2045]
    assert crossing_year([2040, 2050, 2070]) == 2050 and crossing_year([2035]) == 2035


def test_split_leaves_the_indicators_alone():
    ds = xr.Dataset({"population": ("year", [1.0, 2.0]), "municipal_seconds": ("member", [0.5, 0.25]),
                     "municipal_at_risk": ("municipal_year", [3])},
                    coords={"year": [2025, 2026], "municipal_year": [2026]})
    indicators, municipal, seconds = split_municipal(ds)
    assert list(indicators.data_vars) == ["population"] and indicators.sizes["year"] == 2
    assert seconds == 0.75 and list(municipal.data_vars) == ["at_risk"] and municipal["year"].values.tolist() == [2026]


def test_crossing_summary_names_the_municipalities():
    from kbalance.whitepaper.municipal import crossing_summary
    cross = pd.DataFrame({"scenario": "baseline", "sgg_code": ["1", "2"], "sgg_name": ["가군", "나군"],
                          "region": ["36", "36"], "crossing": ["into risk", "into risk"]})
    row = crossing_summary(cross, "en").iloc[0]
    assert row["count"] == 2 and row["crossing"] == "into risk (< 0.5)" and "가군 (Jeonnam)" in row["municipalities"]
