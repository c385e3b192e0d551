"""The white paper's complementarity analysis: the factorial experiment over the policy
groups of the integrated scenario (kbalance.sensitivity.factorial), its mechanism traces
and Sobol cross-check (kbalance.sensitivity.interactions), one verdict per question, and
the section of report.html that shows them.

A *question* asks whether two policy groups act on each other (one per pair of groups) or
whether three or more do beyond their pairs (the 3- and 4-way interactions together).
Its verdict in the last table year: "complementary" when an interaction is not additive
(band excludes 0 and larger than the practical threshold) and moves every such indicator
in its better direction, "substitutive" when against it, "mixed" when both, "additive"
when no indicator's interaction counts. Its sensitivity to the uncertain parameters is the
share of members whose own interaction gets the same class (the weakest indicator's).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.model.indicators import indicator
from kbalance.model.inputs import read_levers
from kbalance.model.scenarios import Scenario
from kbalance.sensitivity.factorial import (COMBINED, FACTORIAL_KEYS, PRACTICAL_SHARE, TIMES, FactorialDesign, effect_names,
                                            effect_paths, effect_sets, effect_table, effects_dataset,
                                            factorial_design, practical_threshold, run_factorial)
from kbalance.sensitivity.interactions import (SOBOL_N, SOBOL_YEARS, bestfit_cells, mechanism_trace,
                                               sobol_cross_check, sobol_indices)
from kbalance.whitepaper.analysis import scenario_label


#: The question on the interactions of three or more groups.
HIGHER = "higher order"

ANSWERS = {"complementary": ("complementary", "보완적"), "substitutive": ("substitutive", "대체적"),
           "mixed": ("mixed (complementary on some indicators, substitutive on others)", "혼합 (지표에 따라 보완·대체)"),
           "additive": ("additive", "가산적"), "interacting": ("interacting", "상호작용 있음"),
           "main": ("main effect", "주효과")}


@dataclass(frozen=True)
class Complementarity:
    """The factorial analysis as the white paper shows it.

    design : FactorialDesign  the groups and cells
    members : int  ensemble members in every cell
    year : int  the verdicts' year [year]
    table : DataFrame  :func:`~kbalance.sensitivity.factorial.effect_table` at the table years
    paths : Dataset  bands of every effect at every year (quantile, effect, year)
    traces : DataFrame  mechanism traces (column ``interaction``; ``why`` "not additive", or
        "largest" for the largest interaction when none is not additive)
    sobol : DataFrame  :func:`~kbalance.sensitivity.interactions.sobol_cross_check`
    """

    design: FactorialDesign
    members: int
    year: int
    table: pd.DataFrame
    paths: xr.Dataset
    traces: pd.DataFrame
    sobol: pd.DataFrame


def group_label(name: str, lang: str) -> str:
    """Display name of a policy group: its scenario's name, or the lever's label
    (model/levers.toml)."""
    levers = read_levers()
    if name in levers and f"label_{lang}" in levers[name]:
        return levers[name][f"label_{lang}"]
    return scenario_label(name, lang) if name in ("decentralization", "balance") else name.replace("_", " ")


def effect_label(effect: str, lang: str) -> str:
    """Display name of an effect ("Decentralization × Balance")."""
    return TIMES.join(group_label(g, lang) for g in effect.split(TIMES))


def traced_interactions(table: pd.DataFrame, design: FactorialDesign, year: int) -> list[tuple[tuple[int, ...], str]]:
    """The interactions to trace in ``year``: every one not additive on some indicator, or
    (when none is) the one largest against its threshold; each with the reason."""
    sets = dict(zip(effect_names(design.groups), effect_sets(len(design.groups))))
    rows = table[(table["year"] == year) & (table["order"] > 1)]
    chosen = list(dict.fromkeys(rows.loc[rows["not_additive"], "effect"]))
    if chosen:
        return [(sets[e], "not additive") for e in chosen]
    if rows.empty:
        return []
    ratio = rows["q50"].abs() / rows["threshold"]
    return [(sets[rows.loc[ratio.idxmax(), "effect"]], "largest")]


def run_complementarity(parameters: pd.DataFrame, values: dict, until: int, years: Sequence[int],
                        workers: int | None = None, sobol_n: int = SOBOL_N,
                        keys: Sequence[str] = FACTORIAL_KEYS, combined: Scenario | str = COMBINED) -> Complementarity:
    """The factorial experiment on the ensemble members ``parameters``, traces and the
    Sobol cross-check on the best-fit ``values`` (model constant → value).

    years : the table years [year]; the verdicts use the last
    sobol_n : Sobol base samples (a power of two)
    combined : the combined scenario (or its name) whose policy groups are crossed; its
        constants outside the levers (such as the demographic variant) hold in every cell
    """
    design = factorial_design(combined)
    effects = effects_dataset(run_factorial(design, parameters, until, keys, workers), design)
    table = effect_table(effects, years)
    year = int(years[-1])
    runs = bestfit_cells(design, values, until)
    traces = [mechanism_trace(runs, design, groups).assign(why=why)
              for groups, why in traced_interactions(table, design, year)]
    corners = xr.Dataset({k: indicator(k).values(runs) for k in keys})
    sobol_years = tuple(y for y in SOBOL_YEARS if y <= until) or (until,)
    sobol = sobol_cross_check(sobol_indices(design, values, tuple(keys), n=sobol_n, years=sobol_years,
                                            workers=workers or 1), corners, design)
    return Complementarity(design, len(parameters), year, table, effect_paths(effects),
                           pd.concat(traces, ignore_index=True) if traces else pd.DataFrame(), sobol)


# ---------------------------------------------------------------------------
# Questions and verdicts
# ---------------------------------------------------------------------------


def questions(design: FactorialDesign) -> list[tuple[str, list[str]]]:
    """(question, its effects): one per pair of groups, then :data:`HIGHER` (3- and 4-way)."""
    names = effect_names(design.groups)
    sets = effect_sets(len(design.groups))
    pairs = [(n, [n]) for n, s in zip(names, sets) if len(s) == 2]
    higher = [n for n, s in zip(names, sets) if len(s) > 2]
    return pairs + ([(HIGHER, higher)] if higher else [])


def verdict(table: pd.DataFrame, effects: Sequence[str], year: int) -> dict:
    """The verdict of one question in ``year``.

    Returns answer, classes (indicator → class of its most non-additive effect), agree
    (indicator → share of members agreeing), weakest (the lowest agreement) and effect
    (indicator → the effect deciding its class).
    """
    rows = table[(table["year"] == year) & table["effect"].isin(list(effects))]
    classes, agree, decisive = {}, {}, {}
    for key, part in rows.groupby("indicator", sort=False):
        flagged = part[part["not_additive"]]
        pick = flagged if not flagged.empty else part
        row = pick.loc[(pick["q50"].abs() / pick["threshold"]).idxmax()]
        classes[key], agree[key], decisive[key] = row["classification"], float(row["agree"]), row["effect"]
    kinds = set(classes.values()) - {"additive"}
    if not kinds:
        answer = "additive"
    elif kinds == {"complementary"}:
        answer = "complementary"
    elif kinds == {"substitutive"}:
        answer = "substitutive"
    elif "complementary" in kinds and "substitutive" in kinds:
        answer = "mixed"
    else:
        answer = "interacting"
    return {"answer": answer, "classes": classes, "agree": agree, "effect": decisive,
            "weakest": min(agree.values()) if agree else float("nan")}


def inert_groups(comp: Complementarity) -> list[str]:
    """Groups whose main effect stays within the practical threshold of every indicator in
    the verdicts' year, in 5–95 % of members: the model gives them (almost) nothing to act through."""
    rows = comp.table[(comp.table["year"] == comp.year) & (comp.table["order"] == 1)]
    inert = []
    for g in comp.design.groups:
        part = rows[rows["effect"] == g.name]
        if ((part["q05"].abs() <= part["threshold"]) & (part["q95"].abs() <= part["threshold"])).all():
            inert.append(g.name)
    return inert


def thresholds(paths: xr.Dataset, key: str) -> xr.DataArray:
    """The practical threshold of ``key`` at every year, from the median main effects (year)."""
    mains = [e for e in paths["effect"].values if TIMES not in str(e)]
    q50 = paths[key].sel(quantile="q50", effect=mains).transpose("effect", "year").values
    digits = indicator(key).digits
    return xr.DataArray([practical_threshold(q50[:, t], digits) for t in range(q50.shape[1])],
                        dims="year", coords={"year": paths["year"]})


# ---------------------------------------------------------------------------
# Report text
# ---------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.0f} %"


def particle(word: str, after_consonant: str, after_vowel: str) -> str:
    """``word`` with the Korean particle its last syllable takes: ``after_consonant``
    (과, 은) after a final consonant, ``after_vowel`` (와, 는) after a vowel; a word that
    does not end in a Hangul syllable takes both, as "와(과)"."""
    last = word.rstrip()[-1:] or " "
    if not "가" <= last <= "힣":
        return f"{word}{after_vowel}({after_consonant})"
    return word + (after_consonant if (ord(last) - ord("가")) % 28 else after_vowel)


def question_text(question: str, lang: str) -> str:
    """The question in words."""
    ko = lang == "ko"
    if question == HIGHER:
        return "세 개 이상의 정책군이 함께 쌍별 효과 이상을 내는가?" if ko else \
            "Do three or more policy groups together do more than their pairs?"
    a, b = (group_label(g, lang) for g in question.split(TIMES))
    return f"{particle(a, '과', '와')} {particle(b, '은', '는')} 서로 보완하는가?" if ko else \
        f"Do {a} and {b} reinforce each other?"


def verdict_html(comp: Complementarity, question: str, effects: Sequence[str], lang: str) -> str:
    """One verdict: the answer; what the model can say (the indicators whose interaction
    counts, or that none does) and how many members agree; what it cannot say."""
    ko = lang == "ko"
    v = verdict(comp.table, effects, comp.year)
    flagged = [k for k, c in v["classes"].items() if c != "additive"]
    label = {k: html.escape(indicator(k).label(lang)) for k in v["classes"]}
    groups = [g.name for g in comp.design.groups if any(g.name in e.split(TIMES) for e in effects)]
    inert = [group_label(g, lang) for g in inert_groups(comp) if g in groups]
    found = "; ".join(f"{label[k]} {ANSWERS[v['classes'][k]][ko]} ({effect_label(v['effect'][k], lang)})"
                      for k in flagged)
    if ko:
        can = (f"{found}." if flagged else "어느 지표에서도 상호작용이 0과 구별되지 않거나 실용 기준보다 작습니다.")
        cannot = (f"{', '.join(inert)}은(는) 단독으로 어느 지표도 실용 기준 이상 바꾸지 않아, 그 상호작용은 모형으로 "
                  "검증할 수 없습니다." if inert else "모형에 없는 경로를 통한 상호작용은 말할 수 없습니다.")
        return (f"<p class='verdict'><b>{html.escape(question_text(question, lang))}</b> {comp.year}년 판정: "
                f"<b>{ANSWERS[v['answer']][ko]}</b>. 모형이 말할 수 있는 것: {can} 모수 불확실성에 대한 민감도: 같은 판정의 "
                f"구성원 비율이 지표별 최소 {_pct(v['weakest'])}. 말할 수 없는 것: {cannot}</p>")
    can = (f"{found}." if flagged else "on no indicator is the interaction distinguishable from 0 and larger than "
           "the practical threshold.")
    cannot = (f"{', '.join(inert)} on its own changes no indicator beyond the practical threshold, so the model "
              "cannot test its interactions." if inert else "interactions through channels the model does not have.")
    return (f"<p class='verdict'><b>{html.escape(question_text(question, lang))}</b> Verdict in {comp.year}: "
            f"<b>{ANSWERS[v['answer']][ko]}</b>. The model can say: {can} Sensitivity to the uncertain parameters: "
            f"at least {_pct(v['weakest'])} of members give the same verdict on every indicator. It cannot say: "
            f"{cannot}</p>")


def scope_html(lang: str) -> str:
    """What every verdict shares: the bands cover the calibrated parameter uncertainty only."""
    if lang == "ko":
        return ("<p>모든 판정은 모형 구조 안에서, 제약 앙상블이 나타내는 보정 모수 불확실성의 범위에서만 성립합니다. 모형에 없는 "
                "경로(행태 반응, 제도 세부, 구조 불확실성)를 통한 상호작용은 판정에 포함되지 않습니다.</p>")
    return ("<p>Every verdict holds within the model's structure and over the calibrated parameter uncertainty the "
            "constrained ensemble represents; interactions through channels the model does not have (behavioural "
            "responses, institutional detail, structural uncertainty) are outside it.</p>")


def summary_sentence(comp: Complementarity, lang: str) -> str:
    """One finding: the decentralization × balance verdict (or the first question's)."""
    first = questions(comp.design)[0]
    v = verdict(comp.table, first[1], comp.year)
    ko = lang == "ko"
    answer = ANSWERS[v["answer"]][ko]
    if ko:
        return (f"<b>{html.escape(question_text(first[0], lang))}</b> 16개 조합 요인실험({comp.members:,}개 구성원 대응) "
                f"결과 {comp.year}년 판정은 {answer}이며, 같은 판정의 구성원 비율은 최소 {_pct(v['weakest'])}입니다.")
    return (f"<b>{html.escape(question_text(first[0], lang))}</b> In the factorial experiment (16 combinations, "
            f"{comp.members:,} paired members) the verdict in {comp.year} is {answer}; at least {_pct(v['weakest'])} "
            f"of members agree on every indicator.")


def effects_display(comp: Complementarity, lang: str) -> pd.DataFrame:
    """Every effect in the verdicts' year: median [5–95 %] per indicator, the class and the
    members agreeing for interactions."""
    ko = lang == "ko"
    rows = comp.table[comp.table["year"] == comp.year]
    out = []
    for effect, part in rows.groupby("effect", sort=False):
        row = {("효과" if ko else "effect"): effect_label(effect, lang)}
        for r in part.itertuples():
            d = indicator(r.indicator).digits + 1
            cell = f"{r.q50:+.{d}f} [{r.q05:+.{d}f}, {r.q95:+.{d}f}]"
            if r.order > 1:
                cell += f" {ANSWERS[r.classification][ko]} ({_pct(r.agree)})"
            row[f"{indicator(r.indicator).short(lang)} [{indicator(r.indicator).difference_unit(lang)}]"] = cell
        out.append(row)
    return pd.DataFrame(out)


def traces_display(traces: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The mechanism traces with display names."""
    ko = lang == "ko"
    if traces.empty:
        return traces
    return pd.DataFrame({
        ("상호작용" if ko else "interaction"): [effect_label(e, lang) for e in traces["interaction"]],
        ("순위" if ko else "rank"): traces["rank"],
        ("변수" if ko else "variable"): traces["variable"],
        ("시도" if ko else "region"): traces["region"],
        ("연도" if ko else "year"): traces["year"],
        ("결합 효과" if ko else "combined effect"): traces["combined_effect"].map("{:+.4g}".format),
        ("가산 예측" if ko else "additive prediction"): traces["additive_effect"].map("{:+.4g}".format),
        ("차이" if ko else "departure"): traces["departure"].map("{:+.4g}".format),
        ("기준 대비" if ko else "of all-off value"): traces["relative"].map(_pct),
    })


def sobol_display(sobol: pd.DataFrame, lang: str) -> pd.DataFrame:
    """S1 and S2 beside the multilinear prediction from the factorial corners."""
    ko = lang == "ko"
    if sobol.empty:
        return sobol
    return pd.DataFrame({
        ("지표" if ko else "indicator"): [indicator(k).short(lang) for k in sobol["outcome"]],
        ("연도" if ko else "year"): sobol["year"],
        ("효과" if ko else "effect"): [effect_label(e, lang) for e in sobol["effect"]],
        ("Sobol 지수 [95 %]" if ko else "Sobol index [95 %]"):
            [f"{v:.3f} ± {c:.3f}" if np.isfinite(v) else "–" for v, c in zip(sobol["sobol"], sobol["conf"])],
        ("요인실험 예측" if ko else "from the corners"): sobol["predicted"].map(lambda x: f"{x:.3f}" if np.isfinite(x) else "–"),
    })


def method_html(comp: Complementarity, lang: str) -> str:
    """How the experiment is made and read."""
    groups = ", ".join(group_label(g.name, lang) for g in comp.design.groups)
    k = len(comp.design.groups)
    if lang == "ko":
        return (f"<p>통합 시나리오의 정책군({groups})을 모두 켜고 끄는 완전요인실험(2<sup>{k}</sup> = {2 ** k}개 조합)을 "
                f"제약 앙상블의 같은 {comp.members:,}개 구성원에 대해 실행했습니다. 효과는 표준 요인 대비(Yates 효과)입니다: "
                "주효과는 다른 정책군 설정에 대해 평균한 한 정책군의 효과, 상호작용은 정책군들이 함께 낼 때 각각의 효과 합을 "
                "넘는 부분입니다. 구성원마다 계산하므로 구간(중앙값, 5–95 %)이 있습니다. 상호작용은 구간이 0을 제외하고, "
                f"크기가 실용 기준(같은 지표·연도 주효과 중앙값 최대 절댓값의 {PRACTICAL_SHARE:.0%}, 최소 표시 자릿수의 절반)을 "
                "넘을 때만 <i>비가산적</i>입니다. 지표의 바람직한 방향으로 움직이면 보완적, 반대면 대체적입니다.</p>")
    return (f"<p>The policy groups of the integrated scenario ({groups}) are switched on and off in a full factorial "
            f"design (2<sup>{k}</sup> = {2 ** k} combinations), each run on the same {comp.members:,} members of the "
            "constrained ensemble. Effects are the standard factorial contrasts (Yates' effects): a main effect is one "
            "group's effect averaged over the settings of the others, an interaction what groups do together beyond "
            "the sum of their separate effects. They are computed per member, hence the bands (median, 5–95 %). An "
            "interaction is <i>not additive</i> only if its band excludes 0 and its size exceeds the practical "
            f"threshold: {PRACTICAL_SHARE:.0%} of the largest median main effect of the same indicator and year, and "
            "at least half a unit of the last shown digit. It is complementary when it moves the indicator in its "
            "better direction, substitutive when against it.</p>")


def traces_html(comp: Complementarity, lang: str, table_html) -> str:
    """The mechanism traces and what they show."""
    ko = lang == "ko"
    if comp.traces.empty:
        return ""
    largest = (comp.traces["why"] == "largest").all()
    if ko:
        intro = ("비가산적 상호작용이 없어, 실용 기준 대비 가장 큰 상호작용을 참고로 추적합니다. " if largest else "") + \
            ("최적 적합 모수로 모든 조합을 실행해, 결합 실행이 가산 예측(모두 끔 + 단일 정책군 효과의 합)과 가장 많이 다른 "
             "변수(시도별)를 모두 끔 실행의 크기 대비로 순위를 매겼습니다.")
    else:
        intro = ("No interaction is not additive; the one largest against its threshold is traced for reference. "
                 if largest else "") + \
            ("Every combination is run with the best-fit parameters; the variables (by region) whose combined run "
             "departs most from the additive prediction (all-off run plus the single groups' effects) are ranked "
             "against their size in the all-off run.")
    return f"<h3>{'메커니즘 추적' if ko else 'Mechanism traces'}</h3><p>{intro}</p>" + \
        table_html(traces_display(comp.traces, lang))


def sobol_html(comp: Complementarity, lang: str, table_html) -> str:
    """The Sobol cross-check."""
    ko = lang == "ko"
    if comp.sobol.empty:
        return ""
    if ko:
        intro = ("교차 점검: 네 정책군을 강도 0..1의 연속 요인으로 두고 최적 적합 모수로 2차 Sobol 지수(Saltelli 표본)를 "
                 "구했습니다. 반응이 강도에 대해 다중선형이면 요인실험의 꼭짓점이 지수를 결정하므로(‘요인실험 예측’), 두 값의 "
                 "차이는 비선형성이나 작은 표본의 추정 오차를 보여 줍니다.")
    else:
        intro = ("Cross-check: the four groups as continuous factors (an intensity 0..1 each), second-order Sobol "
                 "indices (Saltelli's sample) on the best-fit parameters. Were the response multilinear in the "
                 "intensities, the factorial corners would determine the indices ('from the corners'); a gap shows "
                 "non-linearity or the estimation error of the small sample.")
    return f"<h3>{'Sobol 교차 점검' if ko else 'Sobol cross-check'}</h3><p>{intro}</p>" + \
        table_html(sobol_display(comp.sobol, lang))


def section_html(comp: Complementarity | None, lang: str, figure: str, table_html) -> str:
    """The complementarity section of report.html.

    figure : the interactions figure's HTML (may be empty)
    table_html : callable DataFrame → HTML of the page's tables
    """
    if comp is None:
        return "<p>" + ("보완성 분석이 실행되지 않았습니다." if lang == "ko" else "The factorial analysis did not run.") + "</p>"
    verdicts = scope_html(lang) + "".join(verdict_html(comp, q, effects, lang) for q, effects in questions(comp.design))
    title = f"{'효과' if lang == 'ko' else 'Effects'} ({comp.year})"
    return "\n".join([method_html(comp, lang), verdicts, f"<h3>{title}</h3>", table_html(effects_display(comp, lang)),
                      figure, traces_html(comp, lang, table_html), sobol_html(comp, lang, table_html)])


def tables(comp: Complementarity) -> dict[str, pd.DataFrame]:
    """The CSV tables of the analysis: effects, traces, Sobol cross-check."""
    return {"complementarity": comp.table, "complementarity_traces": comp.traces,
            "complementarity_sobol": comp.sobol}


__all__ = [
    "ANSWERS", "Complementarity", "HIGHER", "effect_label", "effects_display", "group_label", "inert_groups",
    "questions", "run_complementarity", "scope_html", "section_html", "sobol_display", "summary_sentence", "tables",
    "thresholds", "traced_interactions", "traces_display", "verdict", "verdict_html",
]
