"""Sections resting on observations and documents: observed findings, sectors, references."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from kbalance.model.variants import read_variants
from kbalance.observations.load import load_series
from kbalance.regions import region_name
from kbalance.whitepaper import sections
from kbalance.whitepaper.sources import observed_extinction_index, reference_entries


def test_observed_findings_count_the_regions_below_half_from_the_registered_population(small_whitepaper):
    year, index, _ = observed_extinction_index()
    below = int((index.drop("00") < 0.5).sum())
    for lang, words in (("en", f"{below} of 17 regions"), ("ko", f"17곳 중 {below}곳")):
        text = " ".join(sections.observed_findings(replace(small_whitepaper, lang=lang)))
        assert words in text and str(year) in text and "[R96]" in text
        assert "KOSIS" in text or "주민등록" in text  # a source line naming the table
    pop = load_series("pop_registered")
    last = pop[pop["region_code"] == "00"].sort_values("year").iloc[-1]
    assert f"{last['value'] * 1e-6:.2f} million" in sections.observed_findings(replace(small_whitepaper, lang="en"))[0]


def test_sectors_describe_population_economy_and_fiscal():
    text = sections.sectors_html("en")
    for head in ("Population.", "Economy and innovation.", "Fiscal."):
        assert f"<b>{head}</b>" in text
    assert "<code>Innovation Base[Region]</code>" in text and "`" not in text


def test_reference_list_resolves_every_cited_key():
    entries = reference_entries()
    text = sections.references_html("as in [R96] and R4; again R96", "en")
    assert text.count("<li") == 2 and entries["R96"].split(" — ")[0] in text and "<b>R4</b>" in text
    assert sections.references_html("no keys here", "en") == ""
    assert "not listed" in sections.references_html("R99999", "en")


def test_marked_escapes_text_and_marks_code():
    assert sections.marked("a `x<y` & b") == "a <code>x&lt;y</code> &amp; b"
    assert isinstance(pd.Series([sections.marked("`a`")]).iloc[0], str)


def test_embedded_images_cite_nothing():
    assert sections.references_html('<img src="data:image/png;base64,AAR2+R15/x"> see R4', "en").count("<li") == 1


def test_population_section_describes_the_sector_its_variants_and_its_measured_limits(small_whitepaper):
    wp = replace(small_whitepaper, lang="en")
    text = sections.population_html(wp)
    for head in ("Ages.", "National schedule.", "Life expectancy.", "Variants.",
                 "International migration of nationals.", "What remains of the residual.", "Jump-off."):
        assert f"<b>{head}</b>" in text, head
    assert "<code>mortality index drift</code>" in text and "<code>tfr path deviation</code>" in text
    assert "`" not in text and "<li>- " not in text and "| key |" not in text
    for key, variant in read_variants().items():
        assert f"<code>{key}</code> ({variant.code})" in text
    stats = pd.read_csv(wp.fit_report / "fit_statistics.csv", dtype={"worst_region": str}).set_index("target")
    for target in sections.AGE_TARGETS:
        row = stats.loc[target]
        assert f"median-region MAPE {row['mape_median_region']:.1f} %" in text
        assert f"{region_name(row['worst_region'], 'en')} {row['mape_worst_region']:.1f} %" in text
    korean = sections.population_html(replace(small_whitepaper, lang="ko"))
    assert "20–39세 여성" in korean and "중앙 시도 MAPE" in korean
    without = replace(wp, fit=wp.fit[~wp.fit["target"].isin(list(sections.AGE_TARGETS))])
    assert sections.fit_limit(without) == ""
