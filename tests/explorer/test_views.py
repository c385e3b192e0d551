"""The explorer's views: the data of their sources and the figures."""

from __future__ import annotations

import pytest

import numpy as np
import pandas as pd

from kbalance.explorer.compute import REGIONAL_KEYS, change_table, municipal_counts, project, series
from kbalance.explorer.state import UNTIL, baseline_state, scenario_of
from kbalance.explorer.views import (FIRST_SHOWN_YEAR, MAX_SAVED, TEXT, Views, band_data, bar_data, change_frame,
                                     count_data, group_names, label, map_title, municipal_colours, municipal_data,
                                     municipal_names, municipal_shapes, pyramid_data, series_data, tr)
from kbalance.model.indicators import indicator
from kbalance.model.parameters import shipped_parameter_set
from kbalance.municipal.maps import NO_VALUE, RISK_COLOURS, boundary_file, outlines
from kbalance.observations.keyed import municipalities
from kbalance.regions import BLOCS, region_codes, region_name


@pytest.fixture(scope="module")
def changed():
    state = baseline_state().with_lever("capital_region_regulation", 0.0, 2026, 4)
    return project(scenario_of(state), shipped_parameter_set(), UNTIL)


def test_every_text_has_both_languages():
    assert all(len(pair) == 2 and all(pair) for pair in TEXT.values())
    assert tr("band_ready", "en", n=20) == "band: 20 members" and "20" in tr("band_ready", "ko", n=20)


def test_labels_come_from_the_indicator_file():
    ind = indicator("capital_share")
    assert label("capital_share", "ko") == f"{ind.short_ko} [{ind.unit_ko}]"
    assert label("capital_share", "en") == f"{ind.short_en} [{ind.unit_en}]"


def test_series_start_at_the_first_shown_year(baseline):
    data = series_data(baseline, "tfr")
    assert data["year"][0] == FIRST_SHOWN_YEAR and data["year"][-1] == UNTIL
    assert data["value"][-1] == pytest.approx(series(baseline, "tfr").loc[UNTIL])
    assert series_data(None, "tfr") == {"year": [], "value": []}
    assert band_data(None, "tfr") == {"year": [], "low": [], "high": []}


def test_bars_are_named_in_either_language(baseline):
    ko = bar_data(baseline, "region_population", 2050, "ko")
    en = bar_data(baseline, "region_population", 2050, "en")
    assert en["name"][0] == "Seoul" and ko["name"][0] == "서울" and ko["value"] == en["value"]
    blocs = bar_data(baseline, "bloc_population", 2050, "en")
    assert blocs["name"] == [region_name(b, "en") for b in BLOCS]
    assert group_names(["capital", "11"], "ko") == [region_name("capital", "ko"), "서울"]


def test_the_map_has_one_multi_polygon_per_municipality():
    shapes = municipal_shapes()
    codes, rings = outlines(str(boundary_file()))
    assert len(shapes["code"]) == len(shapes["xs"]) == len(shapes["ys"]) == 229
    assert set(shapes["code"]) == set(municipalities().index)
    assert sum(len(parts) for parts in shapes["xs"]) == len(rings)  # every outer ring, grouped by municipality
    assert np.max(np.concatenate([r[0] for parts in shapes["ys"] for r in parts])) < 39  # latitudes [degree]


def test_the_map_shows_the_municipal_index_of_the_views_year(baseline, changed):
    data = municipal_data(changed, baseline, 2050)
    code = municipal_shapes()["code"][0]
    assert len(data["value"]) == 229
    assert data["value"][0] == pytest.approx(float(changed["municipal extinction index"].sel(year=2050, sgg_code=code)))
    assert data["baseline"][0] == pytest.approx(float(baseline["municipal extinction index"].sel(year=2050,
                                                                                                sgg_code=code)))
    assert data["value"] != data["baseline"]
    assert set(data["colour"]) <= set(RISK_COLOURS)
    early = municipal_data(baseline, baseline, 2024)  # before the layer's jump-off: its first year
    first = int(municipal_counts(baseline).index[0])
    assert early == municipal_data(baseline, baseline, first) and str(first) in map_title(baseline, baseline, 2024, "en")


def test_municipalities_without_a_value_are_grey():
    assert municipal_colours(pd.Series([0.1, np.nan, 2.0])) == [RISK_COLOURS[0], NO_VALUE, RISK_COLOURS[-1]]


def test_the_map_title_counts_against_the_baseline_in_either_language(baseline, changed):
    counts = municipal_counts(changed, "municipalities at high risk")
    en, ko = map_title(changed, baseline, 2050, "en"), map_title(changed, baseline, 2050, "ko")
    assert f"high risk (< 0.2): {counts.loc[2050]} (baseline " in en and "2050" in en
    assert "기준선" in ko and f"{counts.loc[2050]}곳" in ko
    change = changed["municipal extinction index"].sel(year=2050) - baseline["municipal extinction index"].sel(year=2050)
    assert f"above the baseline in {int((change > 0).sum())}, below in {int((change < 0).sum())}" in en
    assert municipal_names(["11110"], "ko") == ["서울 종로구"] and municipal_names(["11110"], "en") == ["종로구, Seoul"]


def test_the_counts_start_at_the_layers_jump_off(baseline):
    data = count_data(baseline)
    assert data["year"][-1] == UNTIL and all(0 <= v <= 229 for v in data["value"])
    assert data["year"][0] == int(baseline["municipalities at risk"].dropna("year")["year"][0])
    assert count_data(None) == {"year": [], "value": []}


def test_the_pyramid_draws_men_left(baseline):
    data = pyramid_data(baseline, "11", 2050)
    assert len(data["age"]) == 101 and all(v <= 0 for v in data["male"]) and all(v >= 0 for v in data["female"])


def test_views_show_current_baseline_and_saved_values(baseline, changed):
    views = Views("en")
    views.update(changed, baseline, [baseline], "11", 2050)
    current = views.sources["capital_share_current"].data["value"]
    assert current[-1] == pytest.approx(series(changed, "capital_share").loc[UNTIL])
    assert views.sources["capital_share_saved0"].data["value"] == views.sources["capital_share_baseline"].data["value"]
    assert views.sources[f"capital_share_saved{MAX_SAVED - 1}"].data["value"] == []
    assert views.sources["municipal_map"].data["value"] == municipal_data(changed, baseline, 2050)["value"]
    assert views.sources["high_risk_saved0"].data == views.sources["high_risk_baseline"].data == count_data(
        baseline, "municipalities at high risk")
    assert views.sources["capital_share_band"].data["year"] == []


def test_the_change_table_is_labelled(baseline, changed):
    frame = change_frame(change_table(changed, baseline, 2060), "ko")
    assert list(frame.index) == [region_name(c, "ko") for c in region_codes()]
    assert len(frame.columns) == 2 * len(REGIONAL_KEYS)
    assert label("region_population", "ko") in frame.columns
