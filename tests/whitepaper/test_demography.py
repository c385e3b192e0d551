"""The baseline's TFR and life expectancy beside the UN WPP 2024 assumptions: the published
quantiles as the observation set holds them, the observed history from the data, the figure
and the table."""

from __future__ import annotations

import re
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from kbalance.observations.keyed import un_wpp
from kbalance.whitepaper import demography, figures
from kbalance.whitepaper.analysis import BASE, table_years

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_wpp_quantiles_are_the_published_rows_in_order():
    table = un_wpp()
    for variable in demography.WPP_VARIABLES.values():
        q = demography.wpp_quantiles(variable)
        assert q.index.min() == 2024 and q.index.max() == 2100
        assert (q["p2.5"] <= q["p10"]).all() and (q["p10"] <= q["median"]).all()
        assert (q["median"] <= q["p90"]).all() and (q["p90"] <= q["p97.5"]).all()
        row = table[(table["variable"] == variable) & (table["year"] == 2070) & (table["quantile"] == "median")]
        assert q.loc[2070, "median"] == pytest.approx(float(row["value"].iloc[0]))


def test_observed_life_expectancy_is_the_life_table_of_the_hmd_rates():
    e0 = demography.observed_life_expectancy()
    assert e0.index.min() == 2003 and e0.index.max() == 2020
    assert (e0["female"] > e0["male"]).all() and (e0.diff().dropna() > -1).all().all()
    estimates = un_wpp()
    estimates = estimates[(estimates["quantile"] == "estimate") & (estimates["year"] == 2019)].set_index("variable")
    # the HMD life table and the UN estimate of the same year agree to about a year
    assert e0.loc[2019, "male"] == pytest.approx(estimates.loc["e0_male", "value"], abs=1.0)
    assert e0.loc[2019, "female"] == pytest.approx(estimates.loc["e0_female", "value"], abs=1.0)


def test_model_band_starts_after_the_last_observation(small_whitepaper):
    band = demography.model_band(small_whitepaper, "tfr", 2023)
    assert band.index.min() == 2024 and band.index.max() == small_whitepaper.until
    assert (band["q05"] <= band["q50"] + 1e-12).all() and (band["q50"] <= band["q95"] + 1e-12).all()


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_figure_shows_observed_history_the_baseline_and_the_wpp_bands(small_whitepaper, lang):
    wp = replace(small_whitepaper, lang=lang)
    fig = demography.fig_demography(wp)
    texts = " ".join(figures.figure_texts(fig))
    assert "vital.csv" in texts and "mortality.csv" in texts and "un_wpp.csv" in texts
    assert bool(HANGUL.search(texts)) == (lang == "ko")
    assert len(fig.axes) == 3
    for ax, key in zip(fig.axes, demography.WPP_VARIABLES):
        lines = {line.get_label(): line for line in ax.get_lines()}
        observed = lines[demography.text("observed", lang)].get_xdata()
        model = lines[demography.text("model", lang)].get_xdata()
        assert min(model) == max(observed) + 1, key  # the model's history is not drawn as data
        wpp = lines[demography.text("wpp_median", lang)].get_xdata()
        assert min(wpp) == 2024 and max(wpp) == wp.until
    plt.close(fig)
    assert "demography_assumptions" in demography.FIGURES


def test_table_sets_the_baseline_beside_the_published_intervals(small_whitepaper):
    wp = replace(small_whitepaper, lang="en")
    table = demography.assumptions_table(wp)
    years = table_years(wp.until)
    assert len(table) == len(demography.WPP_VARIABLES) * len(years)
    assert list(table.columns) == [v[0] for v in demography.COLUMNS.values()]
    first = table.iloc[0]
    q = wp.summary["tfr"].sel(scenario=BASE, year=years[0], quantile="q50")
    wpp = demography.wpp_quantiles("tfr").loc[years[0]]
    assert first["baseline median [5–95 %]"].startswith(f"{float(q):.3f}")
    assert first["median inside the 95 % interval"] == bool(wpp["p2.5"] <= float(q) <= wpp["p97.5"])
    korean = demography.assumptions_table(replace(small_whitepaper, lang="ko"))
    assert all(HANGUL.search(c) or c.startswith("UN") for c in korean.columns)
    assert np.array_equal(korean.iloc[:, 1].to_numpy(), table["year"].to_numpy())
