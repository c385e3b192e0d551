"""The national demographic variants of model/demography.toml and their model inputs."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from kbalance.errors import KbalanceInputError
from kbalance.model import variants
from kbalance.model.mdl import subscript_ranges
from kbalance.model.variants import (VARIANT_KEYS, default_variant, last_national_tfr_year, migration_level,
                                     model_element, read_variants, regional_tfr_ratio, tfr_path, tfr_path_spread)
from kbalance.observations.keyed import un_wpp
from kbalance.observations.load import load_series
from kbalance.paths import model_dir


@pytest.fixture(scope="module")
def shipped():
    return read_variants()


def national(series: str) -> dict[int, float]:
    rows = load_series(series)
    rows = rows[rows["region_code"] == "00"]
    return dict(zip(rows["year"].astype(int), rows["value"].astype(float)))


def test_the_five_variants_have_distinct_codes_and_the_model_names_them_in_order(shipped):
    assert tuple(shipped) == VARIANT_KEYS
    assert len({v.code for v in shipped.values()}) == len(shipped)
    assert list(subscript_ranges()["Variant"]) == [model_element(k) for k in shipped]
    assert default_variant() in shipped


def test_hold_keeps_the_latest_observed_tfr_and_every_path_starts_from_it(shipped):
    tfr = national("tfr")
    last = max(tfr)
    hold = tfr_path(shipped["hold"])
    assert hold.index[0] == last and np.allclose(hold, tfr[last])
    for variant in shipped.values():
        assert tfr_path(variant).iloc[0] == tfr[last]


def test_the_last_observed_tfr_year_is_the_models_last_observed_fertility_year():
    last = last_national_tfr_year()
    assert last == max(national("tfr"))
    scalars = pd.read_csv(model_dir() / "inputs" / "scalars.csv", index_col=0)
    assert scalars.loc["last_observed_fertility_year", "value"] == last


def test_un_paths_are_the_wpp_median_and_its_half_child_variants(shipped):
    wpp = un_wpp()
    median = wpp[(wpp.variable == "tfr") & (wpp["quantile"] == "median")].set_index("year")["value"]
    path = tfr_path(shipped["un-wpp-2024"])
    assert path[2070] == pytest.approx(median[2070])
    assert tfr_path(shipped["high"])[2070] - tfr_path(shipped["low"])[2070] == pytest.approx(1.0, abs=1e-9)


def test_statistics_korea_path_interpolates_its_points_and_holds_the_last(shipped):
    path = tfr_path(shipped["statistics-korea-2022"])
    assert path[2025] == pytest.approx(0.65) and path[2030] == pytest.approx(0.82)
    assert path[2034] == pytest.approx(0.88 + (1.02 - 0.88) * 2 / 4)
    assert path[2049] == pytest.approx(1.08) and path[2100] == pytest.approx(1.08)


def test_spread_is_the_un_95_percent_interval_as_log_ratios_to_its_median_in_standard_deviations():
    wpp = un_wpp()
    q = {k: wpp[(wpp.variable == "tfr") & (wpp["quantile"] == k)].set_index("year")["value"]
         for k in ("p2.5", "median", "p97.5")}
    spread = tfr_path_spread()
    assert list(spread.columns) == ["lower", "upper"]
    assert (spread.iloc[0] == 0.0).all()
    assert spread.loc[2060, "lower"] == pytest.approx(np.log(q["median"][2060] / q["p2.5"][2060]) / 1.959963984540054)
    assert spread.loc[2060, "upper"] == pytest.approx(np.log(q["p97.5"][2060] / q["median"][2060]) / 1.959963984540054)
    assert (spread.iloc[1:] > 0).all().all()


def test_migration_level_is_the_mean_of_the_observed_years_in_the_window(shipped):
    observed = national("intl_net_korean")
    first, last = shipped["hold"].migration_years
    expected = np.mean([v for y, v in observed.items() if first <= y <= last]) * 1000
    assert migration_level(shipped["hold"]) == pytest.approx(expected)


def test_regional_ratio_is_one_before_a_region_has_data():
    ratio = regional_tfr_ratio(2001)
    tfr = load_series("tfr")
    last = int(tfr["year"].max())
    seoul = tfr[(tfr.region_code == "11") & (tfr.year == last)]["value"].item()
    nation = tfr[(tfr.region_code == "00") & (tfr.year == last)]["value"].item()
    assert ratio.loc[last, "Seoul"] == pytest.approx(seoul / nation)
    assert ratio.loc[2001, "Sejong"] == 1.0


@pytest.mark.parametrize("pattern, new, field", [
    (r'^default = "hold"', 'default = "medium"', "default"),
    (r"^code = 2$", "code = 1", "variants.*.code"),
    (r'^tfr = "wpp:median"', 'tfr = "wpp:p50"', 'variants.un-wpp-2024.tfr'),
    (r"^tfr_points = \[", "tfr_pts = [", "variants.statistics-korea-2022.tfr_pts"),
    (r"\[2022, 0.78\], \[2023, 0.72\]", "[2023, 0.78], [2022, 0.72]", "variants.statistics-korea-2022.tfr_points[2].year"),
    (r"\[2025, 0.65\]", "[2025, -0.65]", "variants.statistics-korea-2022.tfr_points[4].tfr"),
    (r"^migration_years = \[2012, 2023\]", "migration_years = [2023, 2012]", "variants.hold.migration_years[2]"),
    (r'^label_en = "Latest observed TFR held"', 'label_en = ""', "variants.hold.label_en"),
    (r"^\[variants.low\]", "[variants.lowest]", "variants.low"),
])
def test_a_broken_variant_file_names_the_file_and_the_key(tmp_path, pattern, new, field):
    path = tmp_path / "demography.toml"
    shutil.copyfile(variants.demography_file(), path)
    text, count = re.subn(pattern, new, path.read_text(encoding="utf-8"), count=1, flags=re.M)
    assert count == 1
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KbalanceInputError) as info:
        read_variants(path)
    assert info.value.field == field and "demography.toml" in str(info.value)


def test_the_model_default_is_the_code_of_the_default_variant(shipped):
    from kbalance.model.mdl import scalar_constants
    assert scalar_constants()["fertility variant"][0] == shipped[default_variant()].code
    assert scalar_constants()["fertility variant"][1:] == (min(v.code for v in shipped.values()),
                                                         max(v.code for v in shipped.values()))
