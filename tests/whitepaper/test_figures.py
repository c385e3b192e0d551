"""The white paper's figures: labels follow the language, the tax-ratio
targets are those of the scenario files."""

from __future__ import annotations

import re
from dataclasses import replace

import matplotlib.pyplot as plt
import pytest

from kbalance.model.indicators import indicator
from kbalance.paths import project_root
from kbalance.whitepaper import analysis, figures, sources

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_figure_labels_in_language(small_whitepaper, lang):
    wp = replace(small_whitepaper, lang=lang)
    for name in ("capital_share", "births_tfr", "tax_ratio", "extinction_risk_tiles"):
        fig = figures.FIGURES[name](wp)
        texts = " ".join(figures.figure_texts(fig))
        plt.close(fig)
        if lang == "ko":
            assert HANGUL.search(texts), name
            assert "연도" in texts or "2035" in texts
        else:
            assert not HANGUL.search(texts), (name, HANGUL.findall(texts)[:5])
            assert "Year" in texts or "2035" in texts
    assert small_whitepaper.lang == "ko"  # the shared white paper is unchanged


def test_axis_labels_come_from_the_indicators_file(small_whitepaper):
    wp = replace(small_whitepaper, lang="en")
    fig = figures.fig_innovation_grdp(wp)
    texts = figures.figure_texts(fig)
    plt.close(fig)
    ind = indicator("grdp_per_capita")
    assert f"{ind.label('en')} [{ind.unit('en')}]" in texts


def test_tax_ratio_aims_and_their_references_are_drawn(small_whitepaper):
    wp = replace(small_whitepaper, lang="en")
    steps = analysis.TAX_RATIO_AIMS
    fig = figures.fig_tax_ratio(wp)
    texts = " ".join(figures.figure_texts(fig))
    lines = {round(line.get_ydata()[0], 6) for line in fig.axes[0].get_lines() if len(set(line.get_ydata())) == 1}
    plt.close(fig)
    assert {round(s.target, 6) for s in steps} <= lines
    for step in steps:
        assert f"(local {step.target:g} %)" in texts and figures.reference_marks([step.ref]) in texts
    if {30.0, 40.0} <= {s.target for s in steps}:
        assert "7:3" in texts and "6:4" in texts


def test_reference_marks_keep_each_key_once_in_order():
    assert figures.reference_marks(["R4 R5", "R6 R7; timing hypothetical", "R5"]) == "[R4][R5][R6][R7]"
    assert figures.reference_marks(["hypothetical"]) == ""


def test_figure_notes_say_only_what_is_drawn(small_whitepaper):
    wp = replace(small_whitepaper, lang="en")
    pyramids = " ".join(figures.figure_texts(figures.FIGURES["age_pyramids"](wp)))
    assert "bands" not in pyramids and "best-fit" in pyramids
    disparity = " ".join(" ".join(figures.figure_texts(figures.FIGURES["disparity"](wp))).split())  # unwrapped
    assert "band: 5–95 % of the baseline" in disparity
    change = figures.FIGURES["population_change"](wp)
    assert change.legends and not any(ax.get_legend() for ax in change.axes)  # the legend sits below the panels
    plt.close("all")


def test_the_readme_gallery_holds_small_figures():
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"\]\((docs/gallery/[^)]+\.png)\)", readme)
    assert len(shown) >= 5
    for name in shown:
        path = project_root() / name
        assert path.is_file() and path.stat().st_size < 300_000, name


def test_history_lines_are_data_and_projections_start_at_the_observed_jump_off(small_whitepaper):
    wp = replace(small_whitepaper, lang="en")
    start = sources.jump_off_year()
    observed = sources.observed_history()["capital_share"]
    assert observed.index.max() == start  # the December the projection jumps off from is observed
    fig = figures.FIGURES["capital_share"](wp)
    ax = fig.axes[0]  # the baseline panel
    lines = {line.get_label(): line for line in ax.get_lines()}
    model = lines[analysis.scenario_label("baseline", "en")]
    assert min(model.get_xdata()) == start
    assert model.get_ydata()[0] == pytest.approx(observed.loc[start], rel=1e-6)
    plt.close(fig)
    fig = figures.FIGURES["births_tfr"](wp)
    history = sources.observed_history()
    for ax, key in zip(fig.axes, ("births", "tfr")):
        lines = {line.get_label(): line for line in ax.get_lines()}
        model = lines[analysis.scenario_label("baseline", "en")]
        assert min(model.get_xdata()) == history[key].dropna().index.max() + 1, key
    plt.close(fig)


@pytest.mark.parametrize("name", ["innovation_grdp", "disparity", "capital_share", "tax_ratio"])
def test_the_dotted_line_is_at_the_jump_off_and_the_model_starts_there(small_whitepaper, name):
    wp = replace(small_whitepaper, lang="en")
    fig = figures.FIGURES[name](wp)
    start = sources.jump_off_year()
    for ax in fig.axes:
        lines = ax.get_lines()
        if not lines:
            continue
        dotted = [line for line in lines if line.get_linestyle() == ":"]
        assert dotted and all(line.get_xdata()[0] == start for line in dotted)
        model = [line for line in lines if line.get_linestyle() == "-" and len(line.get_xdata()) > 2]
        assert model and all(min(line.get_xdata()) >= start for line in model)
        observed = [line for line in lines if line.get_marker() == "o"]
        if observed:
            assert max(observed[0].get_xdata()) <= start  # a stock observed at the jump-off is its start
    texts = " ".join(figures.figure_texts(fig))
    plt.close(fig)
    if name == "innovation_grdp":
        assert "no observed series" in texts and "DT_1C81" in texts
