"""The white paper's lever evidence section, in both languages."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import xarray as xr

from kbalance.calibration.ensemble import read_ensemble
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.variants import default_variant
from kbalance.sensitivity.levers import lever_table, settable_levers
from kbalance.whitepaper import levers as wl


@pytest.fixture(scope="module")
def table():
    keys = ("capital_region_regulation", "mega_region_integration")
    levers = {k: v for k, v in settable_levers().items() if k in keys}
    return lever_table(shipped_parameter_set().values, read_ensemble().iloc[:3], levers)


def page(table, lang):
    return SimpleNamespace(lang=lang, lever_evidence=table, members=xr.Dataset(coords={"member": range(200)}))


@pytest.mark.parametrize("lang, label, support", [
    ("en", "Capital-region regulation", "not estimated: prior only"),
    ("ko", "수도권 규제 강도", "추정 없음: 사전분포만"),
])
def test_the_section_shows_each_lever_in_its_language(table, lang, label, support):
    text = wl.levers_html(page(table, lang), lambda t: t.to_html(index=False))
    assert label in text and support in text
    assert "capital region regulation → attractiveness" in text  # the chain
    assert "(at bound)" in text or "(경계값)" in text  # the productivity elasticity the fit set to 0
    assert f"{wl.BAND_MEMBERS}" in text  # the band's members, capped
    assert "[R714]" in text and "1994 regime" in text  # the evidence for the size, with its references


def test_the_display_table_has_one_row_per_lever_with_both_years(table):
    shown = wl.display(table, "en")
    assert len(shown) == 2
    capital = shown.iloc[0][wl.TEXT["columns"][0][3]]
    assert capital.startswith("2040: ") and "; 2070: " in capital and "[" in capital


def test_no_table_no_section(table):
    assert wl.levers_section(page(None, "en"), str) == []
    assert wl.lever_tables(page(None, "en")) == {}
    assert list(wl.lever_tables(page(table, "en"))["lever_evidence"]["lever"]) == list(table.index)


def test_the_white_paper_runs_its_levers_under_its_variant_to_its_horizon():
    run = wl.run_lever_evidence(shipped_parameter_set().values, read_ensemble().iloc[:2], default_variant(), 2035)
    assert list(run.index) == list(settable_levers())
    assert "capital_2035" in run and "capital_2040" not in run
    assert run["capital_2035_q05"].notna().all()
