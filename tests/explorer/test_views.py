"""The explorer's views: the data of their sources and the figures."""

from __future__ import annotations

import pytest

from kbalance.explorer.compute import REGIONAL_KEYS, change_table, project, regional, series
from kbalance.explorer.state import UNTIL, baseline_state, scenario_of
from kbalance.explorer.views import (FIRST_SHOWN_YEAR, MAX_SAVED, TEXT, Views, band_data, bar_data, change_frame,
                                     group_names, label, pyramid_data, series_data, tile_data, tr)
from kbalance.model.indicators import indicator
from kbalance.model.parameters import shipped_parameter_set
from kbalance.regions import BLOCS, region_codes, region_name
from kbalance.whitepaper.figures import RISK_COLOURS, TILE_GRID


@pytest.fixture(scope="module")
def changed():
    state = baseline_state().with_lever("mega_region_integration", 1.0, 2026, 5)
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


def test_the_tile_map_uses_the_white_papers_grid_and_class_colours(baseline):
    data = tile_data(baseline, 2050, "en")
    assert len(data["x"]) == len(region_codes()) == len(TILE_GRID)
    seoul = data["name"].index("Seoul")
    assert (data["x"][seoul], -data["y"][seoul]) == (TILE_GRID["11"][1], TILE_GRID["11"][0])
    assert set(data["colour"]) <= set(RISK_COLOURS)
    assert data["value"][seoul] == pytest.approx(regional(baseline, "region_extinction_index", 2050)["11"])


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
    assert len(views.sources["tiles"].data["x"]) == 17
    assert views.sources["capital_share_band"].data["year"] == []


def test_the_change_table_is_labelled(baseline, changed):
    frame = change_frame(change_table(changed, baseline, 2060), "ko")
    assert list(frame.index) == [region_name(c, "ko") for c in region_codes()]
    assert len(frame.columns) == 2 * len(REGIONAL_KEYS)
    assert label("region_population", "ko") in frame.columns
