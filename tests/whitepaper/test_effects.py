"""The computed explanation of each scenario: its levers, the model variables they enter,
and its paired effects against the baseline, from the runs."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from kbalance.model.inputs import read_levers
from kbalance.whitepaper import effects
from kbalance.whitepaper.analysis import BASE, member_quantiles, table_years


def test_every_lever_enters_at_least_one_model_variable_and_known_channels_are_found():
    channels = effects.lever_channels()
    assert set(channels) == set(read_levers())
    assert all(channels.values()), [k for k, v in channels.items() if not v]
    assert "allocation tax budgeted pool" in channels["local_allocation_tax_rate"]
    assert "attractiveness" in channels["capital_region_regulation"]


def test_effects_are_the_paired_differences_of_the_members(small_whitepaper):
    wp, year = small_whitepaper, table_years(small_whitepaper.until)[-1]
    table = effects.indicator_effects(wp, "decentralization", year).set_index("indicator")
    diff = wp.members["capital_share"].sel(scenario="decentralization", year=year) \
        - wp.members["capital_share"].sel(scenario=BASE, year=year)
    assert table.loc["capital_share", "q50"] == pytest.approx(member_quantiles(diff)["q50"])
    for row in table.itertuples():
        clear = row.q05 > 0 or row.q95 < 0
        assert (row.sign != 0) <= clear


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_scenario_but_the_baseline_is_explained_in_the_language(small_whitepaper, lang):
    wp = replace(small_whitepaper, lang=lang)
    text = effects.effects_html(wp)
    others = [n for n in wp.scenarios if n != BASE]
    assert text.count("<ul>") == len(others)
    hangul = re.compile(r"[\uac00-\ud7a3]")
    plain = re.sub(r"<code>[^<]*</code>", "", text)
    assert bool(hangul.search(plain)) == (lang == "ko")
    if lang == "en":
        assert "not distinguishable" not in text and "Capital-region population share" in text
        assert "allocation tax budgeted pool" in text and "Local allocation tax rate" in text
    year = table_years(wp.until)[-1]
    diff = effects.indicator_effects(wp, "decentralization", year).set_index("indicator").loc["capital_share"]
    assert f"{diff.q50:+.2f} [{diff.q05:+.2f}, {diff.q95:+.2f}]" in text  # the numbers come from the runs
