"""The white paper's lever evidence section: the table of :mod:`kbalance.sensitivity.levers`
(each lever's chain, the evidence for its size and its response to a standard change) run on
the white paper's fitted set, its first ensemble members and its demographic variant, shown in
English or Korean."""

from __future__ import annotations

import html

import pandas as pd

from kbalance.model.indicators import indicator
from kbalance.model.scenarios import Scenario, with_variant
from kbalance.sensitivity.levers import (BAND_MEMBERS, STANDARD_SHARE, STANDARD_START, SUPPORT_Z, horizon_years,
                                         lever_table, prior_text, response_text, response_years)
from kbalance.whitepaper.analysis import Whitepaper

#: Text of the section: key → (English, Korean).
TEXT = {
    "title": ("Levers: mechanism, evidence and response", "정책수단: 작동 경로, 근거, 반응"),
    "intro": (("Each lever a scenario can set moves by {share:.0%} of its documented range (model/levers.toml) from its "
               "value in {start}, as a step, and is held there. Its response is the paired difference of two runs that "
               "both start the lever in {start}, one holding its value and one moved: best fit and, in brackets, the "
               "5–95 % band over the first {members} ensemble members. The chain is a shortest path of the model's "
               "dependencies from the lever to the capital-region share. The evidence column reads the prior of the "
               "parameter the lever's effect scales with: a normal prior whose mean lies {z:g} standard deviations or "
               "more from 0 supports the mechanism; a uniform prior means that no estimate exists. The same table, with "
               "the evidence for each lever's size, is docs/levers.md (<code>kbalance levers evidence</code>)."),
              ("시나리오가 설정할 수 있는 각 정책수단을 {start}년 값에서 문서화된 범위(model/levers.toml)의 {share:.0%}만큼 "
               "한 번에 바꾸어 유지합니다. 반응은 두 실행의 대응 차이입니다: 둘 다 {start}년에 정책수단을 시작하되 하나는 값을 "
               "유지하고 하나는 바꿉니다. 최적 적합값과 괄호 안에 앙상블 처음 {members}개 구성원의 5–95 % 구간을 보입니다. "
               "경로는 정책수단에서 수도권 인구 비중까지 모형 의존관계의 최단 경로입니다(변수명은 영어 원문). 근거 열은 정책수단의 "
               "효과를 좌우하는 모수의 사전분포를 읽습니다: 평균이 0에서 표준편차 {z:g}배 이상 떨어진 정규 사전분포는 작동 경로를 "
               "뒷받침하고, 균등 사전분포는 추정치가 없음을 뜻합니다. 각 정책수단 규모의 근거를 포함한 같은 표는 docs/levers.md "
               "(<code>kbalance levers evidence</code>)입니다.")),
    "columns": (("Lever", "Change", "First target", "Capital-region share [pp]", "Evidence parameter: prior, fitted",
                 "Evidence"),
                ("정책수단", "변화", "첫 목표 지표", "수도권 인구 비중 [%p]", "근거 모수: 사전분포, 적합값", "근거")),
    "chains": ("Chains to the capital-region share", "수도권 인구 비중까지의 경로"),
    "evidence": ("The evidence for each lever's size (model/levers.toml)",
                 "정책수단 규모의 근거 (model/levers.toml, 원문은 영어)"),
    "support": ({"estimated": "estimated (docs/evidence.md)",
                 "not_distinguishable": "not supported: estimate not distinguishable from 0",
                 "prior_only": "not estimated: prior only"},
                {"estimated": "추정됨 (docs/evidence.md)", "not_distinguishable": "뒷받침 없음: 추정치가 0과 구별되지 않음",
                 "prior_only": "추정 없음: 사전분포만"}),
    "at_bound": (" (at bound)", " (경계값)"),
}


def run_lever_evidence(values: dict, members: pd.DataFrame, variant: str, until: int) -> pd.DataFrame:
    """The lever table on the best-fit ``values`` and the first :data:`BAND_MEMBERS` of
    ``members``, every run under the demographic ``variant`` (a key of model/demography.toml),
    read in the years of :func:`horizon_years` of ``until``."""
    background = with_variant(Scenario(name="levers", description="lever evidence"), variant, "kbalance whitepaper").constants
    return lever_table(values, members.iloc[:BAND_MEMBERS], years=horizon_years(until), background=background)


def band_members(wp: Whitepaper) -> int:
    """Members of the section's band: the first :data:`BAND_MEMBERS` of the white paper's ensemble."""
    return min(BAND_MEMBERS, wp.members.sizes["member"])


def display(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The shown table: one row per lever with its label, change, first target and capital-share
    responses in the table's years, evidence parameter and what the evidence says."""
    ko = lang == "ko"
    columns = TEXT["columns"][ko]
    years = response_years(table)
    rows = []
    for _, row in table.iterrows():
        ind = indicator(row["first_target"])
        unit = "" if row["unit"] == "1" else f" {row['unit_ko' if ko else 'unit']}"
        target = "; ".join(f"{y}: {response_text(row, f'target_{y}')}" for y in years)
        capital = "; ".join(f"{y}: {response_text(row, f'capital_{y}')}" for y in years)
        bound = TEXT["at_bound"][ko] if row["fitted_at_bound"] else ""
        rows.append({columns[0]: row["label_ko" if ko else "label_en"],
                     columns[1]: f"{row['start_value']:g} → {row['start_value'] + row['change']:g}{unit}",
                     columns[2]: f"{ind.label(lang)} [{ind.unit(lang)}] {target}",
                     columns[3]: capital,
                     columns[4]: f"{row['evidence_parameter']}: {prior_text(row)}, {row['fitted']:.3g}{bound}",
                     columns[5]: TEXT["support"][ko][row["support"]]})
    return pd.DataFrame(rows)


def levers_html(wp: Whitepaper, table_html) -> str:
    """The section's HTML: the text, the table (``table_html``: DataFrame → HTML), each
    lever's chain to the capital-region share and the evidence for its size."""
    ko = wp.lang == "ko"
    table = wp.lever_evidence
    intro = TEXT["intro"][ko].format(share=STANDARD_SHARE, start=STANDARD_START, members=band_members(wp), z=SUPPORT_Z)
    chains = "".join(f"<li><b>{html.escape(r['label_ko' if ko else 'label_en'])}</b>: "
                     f"{html.escape(r['chain_capital'])}</li>" for _, r in table.iterrows())
    notes = "".join(f"<li><b>{html.escape(r['label_ko' if ko else 'label_en'])}</b>: {html.escape(r['evidence'])}</li>"
                    for _, r in table.iterrows())
    return "\n".join([f"<p>{intro}</p>", table_html(display(table, wp.lang)),
                      f"<h3>{TEXT['chains'][ko]}</h3>", f"<ul>{chains}</ul>",
                      f"<h3>{TEXT['evidence'][ko]}</h3>", f"<ul>{notes}</ul>"])


def lever_tables(wp: Whitepaper) -> dict[str, pd.DataFrame]:
    """The section's CSV table (``lever_evidence``: the whole lever table), or none."""
    return {} if wp.lever_evidence is None else {"lever_evidence": wp.lever_evidence.reset_index()}


def levers_section(wp: Whitepaper, table_html) -> list[tuple[str, str]]:
    """The page's ("levers", HTML) section, or none when the white paper has no lever table."""
    return [] if wp.lever_evidence is None else [("levers", levers_html(wp, table_html))]


__all__ = ["TEXT", "band_members", "display", "lever_tables", "levers_html", "levers_section", "run_lever_evidence"]
