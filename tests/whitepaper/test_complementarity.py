"""The white paper's complementarity analysis: questions, verdicts, traces and the section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kbalance.model.indicators import indicator
from kbalance.sensitivity import factorial as fx
from kbalance.whitepaper import complementarity as wc


@pytest.fixture(scope="module")
def synthetic():
    """A factorial result: decentralization × balance lowers the capital share (better) in
    every member, everything else additive; the co-prosperity fund does nothing."""
    design = fx.factorial_design()
    x = design.on.astype(float)
    members, years = np.arange(40), [2030, 2050]
    d, b, m = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    noise = np.linspace(-0.001, 0.001, len(members))[None, :]
    capital = 50 - 2 * d - 1 * b - 0.5 * m - (1.0 + 0.1 * noise * 1000) * d * b + noise
    population = 40 + 0.1 * d - 0.1 * b + 0 * noise
    cells = xr.Dataset({k: (("cell", "member", "year"), np.repeat(v[:, :, None], 2, axis=2))
                        for k, v in (("capital_share", capital), ("population", population + noise))},
                       coords={"cell": design.names, "member": members, "year": years})
    effects = fx.effects_dataset(cells, design)
    table = fx.effect_table(effects, years)
    comp = wc.Complementarity(design, len(members), 2050, table, fx.effect_paths(effects), pd.DataFrame(),
                              pd.DataFrame())
    return comp


def test_questions_are_the_pairs_then_the_higher_orders(synthetic):
    qs = wc.questions(synthetic.design)
    assert len(qs) == 7 and qs[0] == ("decentralization × balance", ["decentralization × balance"])
    assert qs[-1][0] == wc.HIGHER and len(qs[-1][1]) == 5


def test_verdicts_name_the_interaction_and_its_agreement(synthetic):
    v = wc.verdict(synthetic.table, ["decentralization × balance"], 2050)
    direction = indicator("capital_share").direction  # lower is better: a negative interaction helps
    assert v["answer"] == ("complementary" if direction < 0 else "substitutive")
    assert v["classes"]["population"] == "additive" and v["agree"]["capital_share"] == 1.0
    other = wc.verdict(synthetic.table, ["balance × coprosperity_fund_rate"], 2050)
    assert other["answer"] == "additive" and other["weakest"] == 1.0
    assert "coprosperity_fund_rate" in wc.inert_groups(synthetic)
    assert "decentralization" not in wc.inert_groups(synthetic)


def test_traced_interactions_fall_back_to_the_largest(synthetic):
    chosen = wc.traced_interactions(synthetic.table, synthetic.design, 2050)
    assert chosen == [((0, 1), "not additive")]
    additive = synthetic.table.assign(not_additive=False)
    assert wc.traced_interactions(additive, synthetic.design, 2050) == [((0, 1), "largest")]


def test_thresholds_follow_the_main_effects(synthetic):
    limit = wc.thresholds(synthetic.paths, "capital_share")
    assert float(limit.sel(year=2050)) == pytest.approx(fx.PRACTICAL_SHARE * 2.5, rel=1e-3)  # |main D| = 2 + 1/2


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_section_shows_every_verdict_and_the_effects(synthetic, lang):
    page = wc.section_html(synthetic, lang, "<figure>F</figure>", lambda t: f"<table rows={len(t)}>")
    assert page.count("class='verdict'") == 7 and "<figure>F</figure>" in page and "<table rows=15>" in page
    assert wc.ANSWERS["additive"][lang == "ko"] in page
    assert wc.group_label("coprosperity_fund_rate", lang) in page
    assert wc.summary_sentence(synthetic, lang).count("2050") == 1
    assert "not run" in wc.section_html(None, "en", "", str) or "did not run" in wc.section_html(None, "en", "", str)


def test_tables_hold_effects_traces_and_sobol(synthetic):
    tables = wc.tables(synthetic)
    assert set(tables) == {"complementarity", "complementarity_traces", "complementarity_sobol"}
    shown = wc.effects_display(synthetic, "en")
    assert len(shown) == 15 and shown.columns[0] == "effect"


def test_korean_questions_take_the_particles_of_their_last_syllable():
    assert wc.particle("분권", "과", "와") == "분권과" and wc.particle("재정 조정", "과", "와") == "재정 조정과"
    assert wc.particle("초광역 협력", "은", "는") == "초광역 협력은" and wc.particle("균형 회의", "은", "는") == "균형 회의는"
    assert wc.particle("R&D", "은", "는") == "R&D는(은)"
    text = wc.question_text(f"decentralization{wc.TIMES}balance", "ko")
    assert "와(과)" not in text and "는(은)" not in text and text.endswith("서로 보완하는가?")
