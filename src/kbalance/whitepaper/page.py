"""The white paper's report.html: one self-contained page (text in English or Korean,
figures and fonts embedded) assembled from a :class:`~kbalance.whitepaper.analysis.Whitepaper`
after its tables and figures are written."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from fontTools import subset

import kbalance
from kbalance.fonts import bundled_hangul_fonts
from kbalance.model.indicators import indicator
from kbalance.model.inputs import read_levers
from kbalance.outputs import data_hash, model_hash
from kbalance.paths import calibration_dir
from kbalance.observations.load import series_table
from kbalance.whitepaper.analysis import (BASE, TAX_RATIO_AIMS, Whitepaper,
                                          member_quantiles, scenario_label)
from kbalance.whitepaper.complementarity import section_html, summary_sentence
from kbalance.whitepaper.levers import TEXT as LEVERS_TEXT
from kbalance.whitepaper.levers import levers_section
from kbalance.whitepaper.effects import effects_html
from kbalance.whitepaper.municipal import municipal_html
from kbalance.model.variants import default_variant, read_variants
from kbalance.whitepaper.sections import observed_findings, population_html, references_html, sectors_html
from kbalance.whitepaper.sources import history_end_year, jump_off_year, model_caveats, observed_history, observed_population
from kbalance.whitepaper.tables import backtest_display, fit_display, summary_band

#: Text of the report page: key → (English, Korean).
H = {
    "title": ("kbalance white paper: regional balance and decentralization in Korea's 17 regions to {until}",
              "kbalance 백서: 17개 시도의 지역균형과 분권 전망 ({until}년까지)"),
    "generated": ("Generated {time} UTC by <code>{command}</code>; {members:,} ensemble members, fitted set {fitted}; "
                  "demographic variant {variant}.",
                  "{time} UTC 생성, 명령 <code>{command}</code>; 앙상블 {members:,}개, 적합 모수 {fitted}; 인구 변이 {variant}."),
    "variant": (("Every scenario runs under the demographic variant <b>{label}</b> (<code>{variant}</code>, model/demography.toml; "
                 "<code>kbalance whitepaper --variant KEY</code> chooses another): it sets the national TFR after the last "
                 "observed year and net international migration of nationals. The ensemble samples the deviation of the "
                 "TFR path around it and the drift of the mortality index."),
                ("모든 시나리오는 인구 변이 <b>{label}</b>(<code>{variant}</code>, model/demography.toml; 다른 변이는 "
                 "<code>kbalance whitepaper --variant KEY</code>)로 실행됩니다: 마지막 관측 연도 이후 전국 합계출산율과 "
                 "내국인 국제 순이동을 정합니다. 앙상블은 이 경로 주변의 합계출산율 편차와 사망지수 추세를 표본으로 뽑습니다.")),
    "demography": ("The baseline's national TFR and life expectancy beside the UN WPP 2024 assumptions (published "
                   "assumptions, not outcomes copied into the model)",
                   "기준 시나리오의 전국 합계출산율·기대수명과 UN WPP 2024 가정 (공표된 가정이며 모형에 복사한 결과가 아님)"),
    "toc": ("Contents", "목차"),
    "summary": ("Key findings", "주요 결과"), "method": ("Method", "방법"), "data": ("Data sources", "자료 출처"),
    "fit": ("Calibration fit and backtest", "보정 적합도와 백테스트"), "scenarios": ("Scenarios", "시나리오"),
    "results": ("Results", "결과"), "complementarity": ("Complementarity of decentralization and balance",
                                                       "분권과 균형발전의 보완성"),
    "levers": LEVERS_TEXT["title"],
    "sensitivity": ("Sensitivity", "민감도 분석"), "caveats": ("Caveats", "유의사항"),
    "municipal": ("The 229 시군구", "229개 시군구"),
    "references": ("References", "참고문헌"),
    "naive": (("The backtest calibrates the model on observations to the backtest year only and projects the later "
               "observed years; it is compared with two naive forecasts: <i>naive trend</i> extrapolates each region's "
               "average annual growth over the five years to the backtest year; <i>naive share</i> holds each region's "
               "share of the national total of that year and extrapolates the national total by its own five-year "
               "growth. MAPE is the mean absolute percentage error over every forecast region-year (and in the last "
               "year alone). The model's forecast holds the national TFR at its level of the backtest year, as a "
               "forecaster then would; the <i>model with the observed national TFR</i> repeats it with the national "
               "TFR as later observed, which separates the error of that assumption from the model's own."),
              ("백테스트는 백테스트 연도까지의 관측만으로 모형을 보정한 뒤 이후 관측 연도를 전망하여 두 단순 예측과 비교합니다. "
               "<i>단순 추세</i>는 각 시도의 백테스트 연도 이전 5년 연평균 증가율을 연장하고, <i>단순 비중</i>은 그 해 각 시도의 "
               "전국 대비 비중을 고정한 채 전국 합계를 자체 5년 증가율로 연장합니다. MAPE는 전망한 모든 시도·연도(및 마지막 "
               "연도만)의 평균 절대 백분율 오차입니다. 모형의 전망은 그때의 예측자처럼 전국 합계출산율을 백테스트 연도 수준으로 "
               "고정하며, <i>관측 전국 합계출산율을 쓴 모형</i>은 같은 전망을 이후 관측된 전국 합계출산율로 되풀이하여 그 가정의 "
               "오차를 모형 자체의 오차와 구분합니다.")),
    "comparison": ("Scenario comparison: median [5–95 %] of the ensemble",
                   "시나리오 비교: 앙상블 중앙값 [5–95 % 구간]"),
    "differences": ("Paired difference from the baseline in {y}: median [5–95 %]",
                    "{y}년 기준 시나리오 대비 차이 (동일 구성원 대응): 중앙값 [5–95 %]"),
    "hypothetical": ("hypothetical", "가상 설정"),
    "no_levers": ("changes no lever (every lever follows its history)", "정책수단 변경 없음 (과거 경로 유지)"),
    "derived": ("derived: the union of the lever settings of decentralization and balance",
                "파생: 분권과 균형 시나리오 정책수단 설정의 합집합"),
    "no_sensitivity": (("No sensitivity analysis was found (no outputs/sensitivity*/ folder with summary.json); "
                        "run <code>kbalance sensitivity</code> and then this command again, or pass --sensitivity DIR."),
                       ("민감도 분석 결과가 없습니다 (summary.json이 있는 outputs/sensitivity*/ 폴더 없음). "
                        "<code>kbalance sensitivity</code>를 실행한 뒤 다시 실행하거나 --sensitivity DIR을 지정하십시오.")),
    "sens_from": ("From <code>{path}</code>.", "출처: <code>{path}</code>."),
    "screening": (("No full sensitivity analysis was found (no outputs/sensitivity*/ folder with summary.json), so this "
                   "white paper ran a small screening within its time budget: {method}, N = {n}, outcomes {outcomes}, "
                   "{fan} ensemble members for the fans, in <code>{path}/</code> of this folder. It ranks factors only "
                   "roughly; for the full analysis run <code>kbalance sensitivity</code> and pass --sensitivity DIR."),
                  ("전체 민감도 분석 결과가 없어(summary.json이 있는 outputs/sensitivity*/ 폴더 없음) 이 백서는 시간 예산 안에서 "
                   "작은 선별 분석을 실행했습니다: {method}, N = {n}, 결과 지표 {outcomes}, 팬 차트용 앙상블 {fan}개 "
                   "(이 폴더의 <code>{path}/</code>). 요인 순위는 대략적이므로 전체 분석은 <code>kbalance sensitivity</code>를 "
                   "실행한 뒤 --sensitivity DIR로 지정하십시오.")),
    "top_factors": ("Top factors (latest year, main index)", "주요 요인 (최종 연도, 주 지수)"),
}

CSS = """
body{font-family:KbalanceHangul,'Noto Sans KR','Malgun Gothic','Apple SD Gothic Neo',NanumGothic,sans-serif;max-width:1100px;
margin:0 auto;padding:24px 32px;color:#222;line-height:1.55;font-size:15px}li{overflow-wrap:anywhere}
h1{font-size:26px;border-bottom:3px solid #1f6fb4;padding-bottom:8px}h2{font-size:21px;margin-top:42px;
border-bottom:1px solid #ccc;padding-bottom:4px}h3{font-size:17px;margin-top:26px}
figure{margin:18px 0}figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:13px;color:#555}table{border-collapse:collapse;font-size:12.5px;margin:10px 0;width:100%}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f3f5f8}
.meta{color:#555;font-size:13px}.verdict{background:#f6f0fb;border-left:4px solid #8a5cb8;padding:10px 14px}
.met{color:#2e7d32;font-weight:bold}.notmet{color:#c62828;font-weight:bold}nav ol{columns:2}
code{background:#f4f4f4;padding:1px 4px;border-radius:3px;font-size:13px}.scroll{overflow-x:auto}
"""


def h(key: str, lang: str, **kwargs) -> str:
    """Report text ``key`` in ``lang``, formatted."""
    text = H[key][lang == "ko"]
    return text.format(**kwargs) if kwargs else text


def _median(wp: Whitepaper, key: str, scenario: str, year: int) -> float:
    return float(wp.summary[key].sel(scenario=scenario, year=year, quantile="q50"))


def _band(wp: Whitepaper, key: str, scenario: str, year: int) -> str:
    return summary_band(wp.summary, key, scenario, year)


def _diff(wp: Whitepaper, key: str, scenario: str, year: int) -> dict[str, float]:
    x = wp.members[key].sel(year=year)
    return member_quantiles(x.sel(scenario=scenario) - x.sel(scenario=BASE))


def first_year_at_least(wp: Whitepaper, key: str, scenario: str, level: float) -> int | None:
    """First year of the projection proper (from the jump-off) whose median reaches ``level``, or None."""
    q = wp.summary[key].sel(scenario=scenario, quantile="q50")
    years = q["year"].values[(q.values >= level - 1e-9) & (q["year"].values >= jump_off_year())]
    return int(years[0]) if len(years) else None


def findings(wp: Whitepaper) -> list[str]:
    """Key findings as sentences (HTML), computed from the ensemble summaries."""
    ko, end = wp.lang == "ko", wp.until
    names = [str(s) for s in wp.summary["scenario"].values]
    others = [n for n in names if n != BASE]
    out = observed_findings(wp)
    p1 = _median(wp, "population", BASE, end)
    obs_year, obs_pop = observed_population()
    out.append(f"기준 시나리오에서 전국 인구는 {end}년 {_band(wp, 'population', BASE, end)}백만 명으로, {obs_year}년 말 "
                f"등록인구 대비 {(p1 / (obs_pop * 1e-6) - 1) * 100:+.1f} % 변합니다 (중앙값 [5–95 %])." if ko else
                f"In the baseline the national population is {_band(wp, 'population', BASE, end)} million in {end} "
                f"({(p1 / (obs_pop * 1e-6) - 1) * 100:+.1f} % from the registered population of the end of {obs_year}; "
                f"median [5–95 %]).")
    share = observed_history()["capital_share"]
    c0, c_year = float(share.iloc[-1]), int(share.index[-1]) - 1  # model year y holds the stock of year-end y − 1
    out.append(f"수도권 인구 비중은 {c_year}년 말 {c0:.1f} %(관측)에서 {end}년 {_band(wp, 'capital_share', BASE, end)} %가 "
                f"됩니다 (기준)." if ko else f"The capital region held {c0:.1f} % of the registered population at the end "
                f"of {c_year} (observed) and holds {_band(wp, 'capital_share', BASE, end)} % in {end} (baseline).")
    if others:
        diffs = {n: _diff(wp, "capital_share", n, end) for n in others}
        low = min(diffs, key=lambda n: diffs[n]["q50"])
        high = max(diffs, key=lambda n: diffs[n]["q50"])
        d_lo, d_hi = diffs[low], diffs[high]
        out.append(f"{end}년 수도권 비중을 가장 많이 낮추는 시나리오는 {scenario_label(low, 'ko')} "
                    f"({d_lo['q50']:+.2f}%p [{d_lo['q05']:+.2f}, {d_lo['q95']:+.2f}]), 가장 높이는 시나리오는 "
                    f"{scenario_label(high, 'ko')} ({d_hi['q50']:+.2f}%p [{d_hi['q05']:+.2f}, {d_hi['q95']:+.2f}])입니다 "
                    f"(기준 대비, 동일 앙상블 구성원 대응 차이)." if ko else
                    f"In {end} the {scenario_label(low, 'en')} scenario lowers the capital-region share most "
                    f"({d_lo['q50']:+.2f} pp [{d_lo['q05']:+.2f}, {d_lo['q95']:+.2f}] against the baseline, paired by "
                    f"member) and {scenario_label(high, 'en')} raises it most ({d_hi['q50']:+.2f} pp "
                    f"[{d_hi['q05']:+.2f}, {d_hi['q95']:+.2f}]).")
    out.append(f"합계출산율은 {end}년 {_band(wp, 'tfr', BASE, end)}, 출생아 수는 {_band(wp, 'births', BASE, end)}천 명입니다 (기준)."
                if ko else f"The national TFR is {_band(wp, 'tfr', BASE, end)} and births "
                f"{_band(wp, 'births', BASE, end)} thousand in {end} (baseline).")
    r1 = _median(wp, "regions_at_risk", BASE, end)
    at_risk = indicator("regions_at_risk").label(wp.lang)
    out.append(f"{at_risk}는 기준 시나리오에서 {end}년 {r1:.0f}곳(중앙값)이 되며, 전국 지수는 "
                f"{_band(wp, 'extinction_index', BASE, end)}입니다." if ko else
                f"{at_risk}: {r1:.0f} in {end} in the baseline (median); "
                f"the national index is {_band(wp, 'extinction_index', BASE, end)} in {end}.")
    for target in (aim.target for aim in TAX_RATIO_AIMS):
        reach = {n: first_year_at_least(wp, "local_tax_share", n, target) for n in names}
        hit = [f"{scenario_label(n, wp.lang)} ({y})" for n, y in reach.items() if y]
        ratio = f"{100 - target:.0f}:{target:.0f}"
        out.append(f"국세:지방세 {ratio} 목표(지방 {target:.0f} %)에 도달하는 시나리오: "
                    f"{', '.join(hit) if hit else '없음'}." if ko else
                    f"Scenarios reaching the {ratio} national:local tax target (local {target:.0f} %): "
                    f"{', '.join(hit) if hit else 'none'}.")
    for key in ("fiscal_autonomy_cv", "grdp_pc_cv"):
        ind = indicator(key)
        parts = []
        for n in others:
            d = _diff(wp, key, n, end)
            parts.append(f"{scenario_label(n, wp.lang)} {d['q50']:+.{ind.digits}f} [{d['q05']:+.{ind.digits}f}, "
                         f"{d['q95']:+.{ind.digits}f}]")
        out.append((f"{html.escape(ind.label_ko)}: 기준 {end}년 {_band(wp, key, BASE, end)}; 기준 대비 차이 — " if ko else
                    f"{html.escape(ind.label_en)}: baseline {_band(wp, key, BASE, end)} in {end}; difference from baseline — ")
                   + ("; ".join(parts) if parts else ("없음" if ko else "none")) + ".")
    if wp.complementarity is not None:
        out.append(summary_sentence(wp.complementarity, wp.lang))
    return out


def complementarity_html(wp: Whitepaper, images: dict[str, str]) -> str:
    """The complementarity section: the factorial experiment, its verdicts, effects,
    interactions figure, mechanism traces and Sobol cross-check."""
    return section_html(wp.complementarity, wp.lang, images.get("complementarity", ""), _table_html)


def _table_html(table: pd.DataFrame) -> str:
    return "<div class='scroll'>" + table.to_html(index=False, border=0, escape=True, na_rep="") + "</div>"


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(caption, quote=True)
    return (f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{alt}\">"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


FIGURE_CAPTIONS = {
    "capital_share": ("Capital-region share of the population by scenario", "시나리오별 수도권 인구 비중"),
    "population_change": ("Population change by region and bloc", "시도·권역별 인구 변화"),
    "age_pyramids": ("Age pyramids of selected regions", "주요 시도의 인구 피라미드"),
    "demography_assumptions": ("TFR and life expectancy beside the UN WPP 2024 assumptions",
                               "합계출산율과 기대수명: UN WPP 2024 가정과 비교"),
    "extinction_risk_tiles": ("Extinction risk index, tile map of the 17 regions", "17개 시도 소멸위험지수 타일 지도"),
    "births_tfr": ("Births and total fertility rate", "출생아 수와 합계출산율"),
    "fiscal_autonomy": ("Fiscal autonomy by region", "시도별 재정자립도"),
    "tax_ratio": ("National:local tax ratio against its targets", "국세:지방세 비율과 목표"),
    "innovation_grdp": ("Innovation base and GRDP per capita", "혁신역량과 1인당 GRDP"),
    "disparity": ("Disparity indices", "격차 지수"),
    "complementarity": ("Complementarity: interaction effects", "보완성: 상호작용 효과"),
    "calibration_fit": ("Calibration fit statistics", "보정 적합도 통계"),
    "backtest": ("Backtest against naive forecasts", "단순 예측과 비교한 백테스트"),
}


def _caption(name: str, lang: str) -> str:
    if name in FIGURE_CAPTIONS:
        return FIGURE_CAPTIONS[name][lang == "ko"]
    if name.startswith("calibration_fit_"):
        return ("Calibration fit by region: " if lang == "en" else "시도별 보정 적합: ") + name.removeprefix("calibration_fit_")
    return ("Sensitivity: " if lang == "en" else "민감도: ") + name.removeprefix("sensitivity_")


def method_html(wp: Whitepaper) -> str:
    """The method section: the model, its ensemble, its demographic variant, every sector and
    the population sector in detail (docs/model.md)."""
    return method_intro(wp) + f"<p>{variant_sentence(wp)}</p>" + sectors_html(wp.lang) + population_html(wp)


def variant_label(wp: Whitepaper) -> tuple[str, str]:
    """The key of the white paper's demographic variant and its label in the page's language."""
    key = wp.variant or default_variant()
    spec = read_variants()[key]
    return key, spec.label_ko if wp.lang == "ko" else spec.label_en


def variant_sentence(wp: Whitepaper) -> str:
    """The demographic variant every scenario runs under and what the ensemble samples around it."""
    key, label = variant_label(wp)
    return h("variant", wp.lang, variant=html.escape(key), label=html.escape(label))


def method_intro(wp: Whitepaper) -> str:
    """The model and its constrained ensemble in two paragraphs."""
    n = wp.members.sizes["member"]
    if wp.lang == "ko":
        return (f"<p>kbalance는 17개 시도의 인구(성·단일연령), 혁신역량, 재정을 연결한 시스템 다이내믹스 모형입니다. 방정식은 "
                f"<code>model/kbalance.mdl</code>(Vensim 형식) 한 곳에만 있으며, PySD가 기준 엔진이고 같은 모형 파일에서 "
                f"생성된 numpy 엔진으로 앙상블을 실행합니다. 시점은 매년 1월 1일 기준이며, {history_end_year()}년부터 흐름을 "
                f"전망하고, 인구는 {jump_off_year()}년 1월 1일에 직전 12월의 등록인구(시도·성·연령)에서 출발합니다.</p><p>불확실성은 제약 앙상블로 나타냅니다: 보정된 모수 주변에서 표본을 추출하고 과거 적합이 "
                f"신뢰영역 기준을 통과한 구성원만 남긴 것({wp.fit_report.name}-ensemble, 이 보고서는 {n:,}개 사용)입니다. "
                f"모든 시나리오는 같은 구성원으로 실행되므로 시나리오 간 차이는 구성원별 대응 차이이며, 구간(5–95 %)은 "
                f"모수 불확실성을 나타냅니다. 인구 피라미드처럼 세부 변수는 최적 적합 모수 실행에서 가져옵니다.</p>")
    return (f"<p>kbalance is a system-dynamics model linking population (by sex and single year of age), the "
            f"innovation base and local public finance in the 17 regions. The equations live only in "
            f"<code>model/kbalance.mdl</code> (Vensim format); PySD is the reference engine and a numpy engine "
            f"generated from the same model file runs the ensembles. Stocks are 1 January values; flows are "
            f"projected from {history_end_year()}, and the population starts on 1 January {jump_off_year()} from the "
            f"registered population of the December before (by region, sex and age).</p><p>Uncertainty comes from the constrained ensemble: parameter "
            f"sets sampled around the fitted set and kept only when their fit to history passes the confidence-region "
            f"threshold ({wp.fit_report.name}-ensemble; {n:,} members used here). Every scenario runs with the same "
            f"members, so differences between scenarios are paired per member; bands (5–95 %) show parameter "
            f"uncertainty. Full-detail variables such as the age pyramids come from the best-fit run.</p>")


def data_html(lang: str) -> str:
    """The data-source section: the original tables of calibration/sources.csv."""
    sources = pd.read_csv(calibration_dir() / "sources.csv")
    grouped = (sources.groupby(["table_id", "table_name"], sort=False)["series"]
               .apply(lambda s: ", ".join(s.head(6)) + (f" … (+{len(s) - 6})" if len(s) > 6 else ""))
               .reset_index())
    head = ("관측 자료는 calibration/observations에 있으며 각 계열의 원 통계표는 calibration/sources.csv에 있습니다 "
            f"({len(sources)}개 계열)." if lang == "ko" else
            f"The observations are in calibration/observations; calibration/sources.csv names the original "
            f"statistical table of each of its {len(sources)} series.")
    cols = {"table_id": "table" if lang == "en" else "통계표", "table_name": "name" if lang == "en" else "이름",
            "series": "series" if lang == "en" else "계열"}
    return f"<p>{head}</p>" + _table_html(grouped.rename(columns=cols))


def fit_html(wp: Whitepaper, images: dict[str, str]) -> str:
    """The fit section: statistics, which targets are (not) met, figures and backtest."""
    ko = wp.lang == "ko"
    goals = wp.fit[wp.fit["met"].notna()]
    met = ", ".join(f"{r.target} ({r.criterion})" for r in goals[goals["met"].astype(bool)].itertuples()) or "-"
    missed = ", ".join(f"{r.target} ({r.criterion})" for r in goals[~goals["met"].astype(bool)].itertuples()) or "-"
    text = (f"<p>보정 통계 (calibration/reports/{wp.fit_report.name}/fit_statistics.csv: 시도별 통계의 중앙값과 "
            f"최악값, 시도 내 시계열 R², 전체 시도·연도 통계는 옆에). 목표는 "
            f"calibration/targets.toml에 있습니다. <span class='met'>충족</span>: {met}. "
            f"<span class='notmet'>미충족</span>: {missed}.</p>" if ko else
            f"<p>Fit statistics (calibration/reports/{wp.fit_report.name}/fit_statistics.csv: "
            f"the median and worst region, R² within each region over time, "
            f"the pooled figures over all region-years beside them); "
            f"the goals are set in calibration/targets.toml. <span class='met'>Met</span>: {met}. "
            f"<span class='notmet'>Not met</span>: {missed}.</p>")
    units = series_table()["unit"].to_dict()
    parts = [text, _table_html(fit_display(wp.fit, units, wp.lang)), images.get("calibration_fit", "")]
    parts += [v for k, v in images.items() if k.startswith("calibration_fit_")]
    if wp.backtest is not None:
        beats = ", ".join(wp.backtest.loc[wp.backtest["model_beats_both_last_year"], "series"]) or ("없음" if ko else "none")
        parts.append(f"<p>{h('naive', wp.lang)}</p>")
        parts.append(f"<p>{'백테스트: 마지막 연도에 두 단순 예측보다 나은 계열' if ko else 'Backtest: series where the model beats both naive forecasts in the last year'}: {beats}.</p>")
        parts += [_table_html(backtest_display(wp.backtest, wp.lang)), images.get("backtest", "")]
    return "\n".join(parts)


def scenarios_html(wp: Whitepaper) -> str:
    """Every scenario with its description and lever settings (reference or 'hypothetical')."""
    ko = wp.lang == "ko"
    parts = ["<ul>"]
    for name, s in wp.scenarios.items():
        levers = wp.levers[wp.levers["scenario"] == name]
        note = h("derived", wp.lang) if s.path is None else html.escape(s.description)
        if levers.empty:
            note += " — " + h("no_levers", wp.lang)
        parts.append(f"<li><b>{html.escape(scenario_label(name, wp.lang))}</b> (<code>{html.escape(name)}</code>): {note}</li>")
    parts.append("</ul>")
    table = wp.levers.copy()
    table["ref"] = table["ref"].replace({"hypothetical": h("hypothetical", wp.lang), "": h("hypothetical", wp.lang)})
    if ko:  # the lever's Korean label and unit from model/levers.toml
        spec = read_levers()
        table["description"] = [spec.get(k, {}).get("label_ko", d) for k, d in zip(table["lever"], table["description"])]
        table["unit"] = [spec.get(k, {}).get("unit_ko", u) for k, u in zip(table["lever"], table["unit"])]
        table = table.rename(columns={"scenario": "시나리오", "lever": "정책수단", "description": "설명", "unit": "단위",
                                      "step": "단계", "target": "목표값", "start": "시작 연도", "ramp": "도달 기간(년)",
                                      "ref": "근거"})
    parts.append(_table_html(table))
    return "\n".join(parts)


def results_html(wp: Whitepaper, images: dict[str, str]) -> str:
    """Figures, the comparison table and the paired differences."""
    parts = []
    for name in ("capital_share", "population_change", "age_pyramids", "extinction_risk_tiles", "births_tfr",
                 "demography_assumptions", "fiscal_autonomy", "tax_ratio", "innovation_grdp", "disparity"):
        parts.append(images.get(name, ""))
        if name == "demography_assumptions" and "demography_assumptions" in wp.tables:
            parts.append(f"<h3>{h('demography', wp.lang)}</h3>" + _table_html(wp.tables["demography_assumptions"]))
    parts.append(f"<h3>{h('comparison', wp.lang)}</h3>")
    comp = wp.tables["scenario_comparison"].drop(columns=["indicator", "scenario"])
    parts.append(_table_html(comp))
    diffs = wp.tables["scenario_differences"]
    year = int(diffs["year"].max()) if not diffs.empty else wp.until
    if not diffs.empty:
        rows = diffs[diffs["year"] == year]
        shown = pd.DataFrame({
            "indicator": [indicator(k).label(wp.lang) for k in rows["indicator"]],
            "scenario": [scenario_label(s, wp.lang) for s in rows["scenario"]],
            "difference": [f"{r.q50:+.{indicator(r.indicator).digits + 1}f} [{r.q05:+.{indicator(r.indicator).digits + 1}f}, "
                           f"{r.q95:+.{indicator(r.indicator).digits + 1}f}]" for r in rows.itertuples()],
            "unit": [indicator(k).difference_unit(wp.lang) for k in rows["indicator"]],
        })
        parts.append(f"<h3>{h('differences', wp.lang, y=year)}</h3>" + _table_html(shown))
    parts.append(effects_html(wp))
    return "\n".join(parts)


def sensitivity_html(wp: Whitepaper, images: dict[str, str]) -> str:
    """The sensitivity section: summary facts, top factors and the figures of the folder."""
    if wp.sensitivity is None:
        return f"<p>{h('no_sensitivity', wp.lang)}</p>"
    summary = json.loads((wp.sensitivity / "summary.json").read_text(encoding="utf-8"))
    facts = {k: v for k, v in summary.items() if isinstance(v, (str, int, float, bool)) or
             (isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v))}
    if wp.screening:
        ran = json.loads((wp.sensitivity / "manifest.json").read_text(encoding="utf-8"))
        outcomes = ", ".join(indicator(o).label(wp.lang) for o in summary.get("top_factors", {}))
        parts = [f"<p>{h('screening', wp.lang, method=summary['method'], n=summary['n'], outcomes=outcomes, fan=ran.get('fan_members', ''), path=wp.sensitivity.name)}</p>"]
    else:
        parts = [f"<p>{h('sens_from', wp.lang, path=html.escape(str(wp.sensitivity)))}</p>"]
    if facts:
        parts.append(_table_html(pd.DataFrame({"key": list(facts), "value": [
            ", ".join(map(str, v)) if isinstance(v, list) else str(v) for v in facts.values()]})))
    if "sensitivity_top_factors" in wp.tables:
        parts.append(f"<h3>{h('top_factors', wp.lang)}</h3>" + _table_html(wp.tables["sensitivity_top_factors"].round(4)))
    parts += [v for k, v in images.items() if k.startswith("sensitivity_")]
    return "\n".join(parts)


def caveats_html(wp: Whitepaper) -> str:
    """Model limits (docs/model.md), targets not met and what the bands do not cover."""
    ko = wp.lang == "ko"
    items = []
    missed = wp.fit.loc[wp.fit["met"].notna() & ~wp.fit["met"].fillna(True).astype(bool)]
    for r in missed.itertuples():
        items.append(f"보정 목표 미충족: {r.target} (중앙 시도 MAPE {r.mape_median_region:.1f} %, R² {r.r2_median_region:.2f})"
                     if ko else f"Calibration target not met: {r.target} (median-region MAPE "
                     f"{r.mape_median_region:.1f} %, R² {r.r2_median_region:.2f})")
    key, label = variant_label(wp)
    items.append(f"구간은 모수 불확실성을 나타냅니다. 앙상블은 보정 모수와 함께 합계출산율 경로 편차(<code>tfr path deviation</code>)와 "
                 f"사망지수 추세(<code>mortality index drift</code>)를 표본으로 뽑습니다. 모형 구조, 인구 변이({html.escape(label)}: "
                 f"중심 출산 경로와 국제이동 수준), 전국 생산성 경로와 정책 경로는 구성원 간에 같습니다." if ko else
                 f"Bands show parameter uncertainty: besides the calibrated parameters the ensemble samples the deviation "
                 f"of the national TFR path (<code>tfr path deviation</code>) and the drift of the mortality index "
                 f"(<code>mortality index drift</code>). The model structure, the demographic variant ({html.escape(label)}: "
                 f"the central TFR path and the level of international migration), the national productivity path and the lever "
                 f"paths are the same for every member.")
    items.append("정책수단의 크기 중 근거가 'hypothetical'(가상 설정)인 것은 출처가 없는 가정입니다." if ko else
                 "Lever settings marked 'hypothetical' are assumptions without a source.")
    limits = model_caveats()
    if limits:
        items.append(("모형의 경계 (docs/model.md, 영어 원문 그대로):" if ko else "Model boundary (docs/model.md):")
                     + "<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in limits) + "</ul>")
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def font_face_css(text: str) -> str:
    """@font-face rules embedding NanumGothic (koreanize-matplotlib's copy, SIL OFL),
    subset to the characters of ``text``, as WOFF data URLs: Hangul then renders on a
    machine without Korean fonts. Empty when the font is not installed."""
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # notes on dropped hinting tables
    rules = []
    unicodes = sorted({ord(c) for c in text if ord(c) > 127} | set(range(32, 127)))
    for path in bundled_hangul_fonts():
        if path.stem not in ("NanumGothic", "NanumGothicBold"):
            continue
        options = subset.Options()
        options.flavor = "woff"
        buffer = io.BytesIO()
        with subset.load_font(str(path), options) as font:
            subsetter = subset.Subsetter(options)
            subsetter.populate(unicodes=unicodes)
            subsetter.subset(font)
            subset.save_font(font, buffer, options)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        weight = "bold" if path.stem.endswith("Bold") else "normal"
        rules.append(f"@font-face{{font-family:'KbalanceHangul';font-weight:{weight};"
                     f"src:url(data:font/woff;base64,{data}) format('woff')}}")
    return "".join(rules)


def render_html(wp: Whitepaper, folder_name: str) -> str:
    """The self-contained report page: CSS inline, figures as base64 PNG, no external URLs.

    folder_name : the name of the white-paper folder, shown in the footer
    """
    lang = wp.lang
    images = {name: _img(path, _caption(name, lang)) for name, path in wp.figures.items()}
    sections = [
        ("summary", "<ul>" + "".join(f"<li>{f}</li>" for f in findings(wp)) + "</ul>"),
        ("method", method_html(wp)),
        ("data", data_html(lang)),
        ("fit", fit_html(wp, images)),
        ("scenarios", scenarios_html(wp)),
        ("results", results_html(wp, images)),
        ("complementarity", complementarity_html(wp, images)),
        *levers_section(wp, _table_html),
        ("municipal", municipal_html(wp)),
        ("sensitivity", sensitivity_html(wp, images)),
        ("caveats", caveats_html(wp)),
    ]
    sections.append(("references", references_html("\n".join(c for _, c in sections), lang)))
    command = html.escape(" ".join(["kbalance", *sys.argv[1:]]))
    meta = h("generated", lang, time=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), command=command,
             members=wp.members.sizes["member"], fitted=wp.fit_report.name, variant=html.escape(variant_label(wp)[0]))
    toc = "".join(f"<li><a href='#{key}'>{h(key, lang)}</a></li>" for key, _ in sections)
    body = "\n".join(f"<section id='{key}'><h2>{h(key, lang)}</h2>\n{content}</section>" for key, content in sections)
    footer = (f"<p class='meta'>model {model_hash()[:12]} · data {data_hash()[:12]} · kbalance {kbalance.__version__} · "
              f"{html.escape(folder_name)}</p>")
    return (f"<!DOCTYPE html>\n<html lang='{lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{h('title', lang, until=wp.until)}</title><style>{font_face_css(body + toc + meta + h('title', lang, until=wp.until))}{CSS}</style></head><body>"
            f"<h1>{h('title', lang, until=wp.until)}</h1><p class='meta'>{meta}</p>"
            f"<nav><h2>{h('toc', lang)}</h2><ol>{toc}</ol></nav>{body}<footer>{footer}</footer></body></html>\n")


__all__ = ["render_html", "sensitivity_html"]
