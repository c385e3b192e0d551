"""Sections of the white paper that rest on the project's documents and observations, not
on the runs: the findings for observed years, the model's sectors (docs/model.md) and the
reference list (docs/references.md). Each returns HTML for :mod:`kbalance.whitepaper.page`."""

from __future__ import annotations

import html
import re

from kbalance.regions import NATIONAL_CODE, region_name
from kbalance.whitepaper.analysis import Whitepaper
from kbalance.whitepaper.sources import (cited_references, model_sectors, observed_extinction_index,
                                         observed_population, reference_entries, source_table)

#: Text of these sections: key → (English, Korean).
TEXT = {
    "sectors": ("The model's sectors (docs/model.md)", "모형의 부문 (docs/model.md, 원문은 영어)"),
    "cited": ("Every reference key cited on this page, from docs/references.md:",
              "이 페이지에서 인용한 모든 참고문헌 키 (docs/references.md):"),
}


def observed_findings(wp: Whitepaper) -> list[str]:
    """The findings for observed years, computed from the observation set (not the model):
    the latest registered population and the regions with an extinction risk index below
    0.5, each with a source line naming the table."""
    ko = wp.lang == "ko"
    year, pop = observed_population()
    idx_year, index = observed_extinction_index()
    regions = index.drop(NATIONAL_CODE, errors="ignore")
    below = regions[regions < 0.5].sort_values()
    listed = ", ".join(f"{html.escape(region_name(c, wp.lang))} {v:.3f}" for c, v in below.items())
    pop_src, age_src = (html.escape(source_table(k)) for k in ("pop_registered", "pop_registered_female_20_24"))
    if ko:
        return [f"{year}년 말 주민등록인구는 {pop * 1e-6:.2f}백만 명입니다 (관측; 출처: {pop_src}).",
                f"{idx_year}년 말 주민등록인구 기준 소멸위험지수(20–39세 여성 / 65세 이상 인구) 0.5 미만 시도는 "
                f"{len(regions)}곳 중 {len(below)}곳입니다: {listed or '없음'} (관측; 출처: {age_src}; 기준 [R96])."]
    return [f"The registered population at the end of {year} was {pop * 1e-6:.2f} million (observed; source: {pop_src}).",
            f"At the end of {idx_year}, {len(below)} of {len(regions)} regions had an extinction risk index (women aged "
            f"20–39 per resident aged 65+) below 0.5: {listed or 'none'} (observed; source: {age_src}; threshold [R96])."]


def sectors_html(lang: str) -> str:
    """Every sector of the model as docs/model.md describes it (its one description)."""
    sectors = model_sectors()
    if not sectors:
        return ""
    parts = [f"<h3>{TEXT['sectors'][lang == 'ko']}</h3>"]
    for head, items in sectors:
        lead, bullets = items[0], items[1:]
        parts.append(f"<p><b>{html.escape(head)}.</b> {marked(lead)}</p>")
        if bullets:
            parts.append("<ul>" + "".join(f"<li>{marked(i)}</li>" for i in bullets) + "</ul>")
    return "\n".join(parts)


def marked(text: str) -> str:
    """Markdown `code` marks as HTML, everything else escaped."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def references_html(text: str, lang: str) -> str:
    """The reference list: every key cited in ``text`` with its entry of docs/references.md."""
    entries = reference_entries()
    keys = cited_references(re.sub(r"data:[^\"')\s]+", "", text))  # not the letters of embedded images
    if not keys:
        return ""
    items = "".join(f"<li id='ref-{k.lower()}'><b>{k}</b> {html.escape(entries.get(k, '(not listed in docs/references.md)'))}</li>"
                    for k in keys)
    return f"<p>{TEXT['cited'][lang == 'ko']}</p><ul>{items}</ul>"


__all__ = ["TEXT", "marked", "observed_findings", "references_html", "sectors_html"]
