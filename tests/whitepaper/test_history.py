"""Observed history of the national indicators: the model's formulas applied to the
observation set, on the model's time axis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.observations.load import load_series, wide_series
from kbalance.whitepaper import history


def test_equal_values_have_no_dispersion_and_unequal_ones_the_weighted_formula():
    values = pd.DataFrame({"a": [2.0, 1.0], "b": [2.0, 3.0]}, index=[2000, 2001])
    weights = pd.DataFrame({"a": [1.0, 3.0], "b": [1.0, 1.0]}, index=[2000, 2001])
    out = history.weighted_dispersion(values, weights)
    assert out.loc[2000, "cv"] == pytest.approx(0) and out.loc[2000, "theil"] == pytest.approx(0)
    mean = 0.75 * 1 + 0.25 * 3
    assert out.loc[2001, "mean"] == pytest.approx(mean)
    assert out.loc[2001, "cv"] == pytest.approx(np.sqrt(0.75 * (1 - mean) ** 2 + 0.25 * (3 - mean) ** 2) / mean)
    assert out.loc[2001, "theil"] == pytest.approx(0.75 * (1 / mean) * np.log(1 / mean) + 0.25 * (3 / mean) * np.log(3 / mean))


def test_a_year_missing_an_inhabited_region_is_left_out_and_an_empty_region_ignored():
    values = pd.DataFrame({"a": [1.0, 1.0], "b": [np.nan, np.nan]}, index=[2000, 2001])
    weights = pd.DataFrame({"a": [1.0, 1.0], "b": [0.0, 5.0]}, index=[2000, 2001])
    out = history.weighted_dispersion(values, weights)
    assert list(out.index) == [2000]


def test_observed_grdp_per_capita_is_real_grdp_over_the_population_of_the_year_end_before():
    observed = history.observed_indicators()
    year = int(observed["grdp_per_capita"].index.max())
    grdp = wide_series(history.GRDP_SERIES).loc[year].sum()
    pop = load_series(history.POPULATION_SERIES)
    pop = pop[pop["region_code"].isin(wide_series(history.POPULATION_SERIES).columns)]
    total = pop[pop["year"] == year - 1]["value"].sum()
    assert observed["grdp_per_capita"].loc[year] == pytest.approx(grdp / total)
    assert observed["fiscal_autonomy_cv"].index.min() == history.first_year_of_definition(history.FISCAL_SERIES) == 2014


def test_caption_notes_name_the_tables_and_the_indicators_without_observations():
    note = history.observed_note(("innovation_base", "grdp_per_capita"), "en", 2026)
    assert "DT_1C81" in note and "DT_1B040A3" in note and "no observed series" in note and "2026" in note
    assert history.observed_before("innovation_base", 2026) is None
    assert history.observed_before("grdp_pc_cv", 2026).index.max() < 2026
