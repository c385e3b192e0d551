"""Sections of the white paper that rest on the project's documents and observations, not
on the runs: the findings for observed years, the model's sectors (docs/model.md) and the
reference list (docs/references.md). Each returns HTML for :mod:`kbalance.whitepaper.page`."""

from __future__ import annotations

import html
import re

import pandas as pd

from kbalance.model.variants import default_variant, read_variants
from kbalance.regions import NATIONAL_CODE, region_name
from kbalance.whitepaper.analysis import Whitepaper
from kbalance.whitepaper.sources import (POPULATION_SECTIONS, cited_references, docs_blocks, model_sectors,
                                         observed_extinction_index, observed_population, reference_entries,
                                         source_table)

#: Text of these sections: key → (English, Korean).
TEXT = {
    "sectors": ("The model's sectors (docs/model.md)", "모형의 부문 (docs/model.md, 원문은 영어)"),
    "population": ("The population sector: ages, mortality, fertility variants, international migration and the "
                   "jump-off (docs/model.md)",
                   "인구 부문: 연령, 사망, 출산 변이, 국제이동, 기준인구 (docs/model.md, 원문은 영어)"),
    "variants": ("The demographic variants of model/demography.toml (this white paper: <code>{key}</code>):",
                 "model/demography.toml의 인구 변이 (이 백서: <code>{key}</code>):"),
    "fit_limit": ("Known limit of the fit (calibration/reports/{fitted}/fit_statistics.csv): the population sector "
                  "reproduces regional totals better than the age structure within regions. {rows} The extinction "
                  "risk index, the ratio of women aged 20–39 to residents aged 65+, is less accurate than the "
                  "population totals; at the jump-off it equals the observed value, as the projection starts from "
                  "the registered population.",
                  "적합의 알려진 한계 (calibration/reports/{fitted}/fit_statistics.csv): 인구 부문은 시도 총인구를 시도 내 "
                  "연령 구조보다 잘 재현합니다. {rows} 따라서 20–39세 여성과 65세 이상 인구의 비인 소멸위험지수는 총인구보다 "
                  "부정확합니다. 다만 전망은 주민등록인구에서 출발하므로 기준인구 시점의 지수는 관측값과 같습니다."),
    "fit_row": ("{label}: median-region MAPE {median:.1f} %, worst region {worst} {worst_mape:.1f} %, median-region "
                "R² {r2:.2f}.",
                "{label}: 중앙 시도 MAPE {median:.1f} %, 최악 시도 {worst} {worst_mape:.1f} %, 중앙 시도 R² {r2:.2f}."),
    "cited": ("Every reference key cited on this page, from docs/references.md:",
              "이 페이지에서 인용한 모든 참고문헌 키 (docs/references.md):"),
}


def observed_findings(wp: Whitepaper) -> list[str]:
    """The findings for observed years, computed from the observation set (not the model):
    the latest registered population and the regions with an extinction risk index below
    0.5, each with a source line naming the table."""
    ko = wp.lang == "ko"
    year, pop = observed_population()
    idx_year, index, age_series = observed_extinction_index()
    regions = index.drop(NATIONAL_CODE, errors="ignore")
    below = regions[regions < 0.5].sort_values()
    listed = ", ".join(f"{html.escape(region_name(c, wp.lang))} {v:.3f}" for c, v in below.items())
    pop_src, age_src = (html.escape(source_table(k)) for k in ("pop_registered", age_series))
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
    return "\n".join([f"<h3>{TEXT['sectors'][lang == 'ko']}</h3>", *blocks_html(sectors)])


#: The fit targets (calibration/targets.toml) whose misses limit the age structure: key → (English, Korean).
AGE_TARGETS = {"young_women": ("Women aged 20–39", "20–39세 여성"),
               "population_65_plus": ("Residents aged 65+", "65세 이상 인구")}


def blocks_html(blocks: list[tuple[str, list[str]]]) -> list[str]:
    """Bold-headed blocks of docs/model.md as HTML paragraphs and lists (markdown tables left out)."""
    parts = []
    for head, items in blocks:
        items = [i.removeprefix("- ") for i in items if not i.startswith("|")]
        lead, bullets = (items[0], items[1:]) if items else ("", [])
        parts.append(f"<p><b>{html.escape(head)}.</b> {marked(lead)}</p>")
        if bullets:
            parts.append("<ul>" + "".join(f"<li>{marked(i)}</li>" for i in bullets) + "</ul>")
    return parts


def fit_limit(wp: Whitepaper) -> str:
    """The known limit of the fit for women 20–39 and residents 65+, measured in the fit
    statistics of the fitted set (median and worst region); empty when neither target is in them."""
    ko = wp.lang == "ko"
    rows = []
    for target, labels in AGE_TARGETS.items():
        found = wp.fit[wp.fit["target"] == target]
        if found.empty:
            continue
        r = found.iloc[0]
        worst = region_name(str(r["worst_region"]), wp.lang) if pd.notna(r["worst_region"]) else "-"
        rows.append(TEXT["fit_row"][ko].format(label=labels[ko], median=r["mape_median_region"], worst=html.escape(worst),
                                               worst_mape=r["mape_worst_region"], r2=r["r2_median_region"]))
    if not rows:
        return ""
    return TEXT["fit_limit"][ko].format(fitted=html.escape(wp.fit_report.name), rows=" ".join(rows))


def population_html(wp: Whitepaper) -> str:
    """The method section's population sector: the sections of docs/model.md on ages,
    mortality and life expectancy, the variants, international migration and the jump-off
    (:data:`~kbalance.whitepaper.sources.POPULATION_SECTIONS`), the variants of
    model/demography.toml and the known limit of the fit of the age structure."""
    ko = wp.lang == "ko"
    blocks = [b for section in POPULATION_SECTIONS for b in docs_blocks(section)]
    parts = [f"<h3>{TEXT['population'][ko]}</h3>", *blocks_html(blocks)]
    variants = read_variants()
    key = wp.variant or default_variant()
    items = "".join(f"<li><code>{html.escape(k)}</code> ({v.code}): {html.escape(v.label_ko if ko else v.label_en)} — "
                    f"{html.escape(v.description)}</li>" for k, v in variants.items())
    parts.append(f"<p>{TEXT['variants'][ko].format(key=html.escape(key))}</p><ul>{items}</ul>")
    limit = fit_limit(wp)
    if limit:
        parts.append(f"<p>{limit}</p>")
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


__all__ = ["AGE_TARGETS", "TEXT", "blocks_html", "fit_limit", "marked", "observed_findings", "population_html",
           "references_html", "sectors_html"]
