"""Column headings of the white paper's workbook (tables.xlsx) for readers: each column of
a table named in the report's language, with its unit in brackets where the column has one.

The CSV files keep the short column names of the output convention
(:mod:`kbalance.model.conventions`); the workbook is for reading and charting, so its sheets
carry these headings. A column whose unit differs from row to row (an indicator's quantile)
says so and the table's unit column holds the unit of each row.
"""

from __future__ import annotations

import re

import pandas as pd

#: Yes and no in both languages.
YES_NO = {True: ("yes", "예"), False: ("no", "아니오")}
#: Column headings of the fit table for readers: statistic → (English, Korean).
FIT_COLUMNS = {
    "target": ("Target", "보정 목표"), "series": ("Observed series", "관측 계열"), "unit": ("Unit", "단위"),
    "n": ("Region-years", "시도·연도 수"), "rmse": ("RMSE, pooled", "RMSE (전체)"),
    "mape": ("MAPE, pooled [%]", "MAPE (전체) [%]"), "r2": ("R², pooled", "R² (전체)"),
    "um": ("Bias share of MSE [%]", "MSE 중 편의 비중 [%]"),
    "us": ("Variance share of MSE [%]", "MSE 중 분산 비중 [%]"),
    "uc": ("Covariance share of MSE [%]", "MSE 중 공분산 비중 [%]"),
    "criterion": ("Goal (calibration/targets.toml)", "목표 (calibration/targets.toml)"), "met": ("Met", "충족"),
}
#: Column headings of the backtest table for readers.
BACKTEST_COLUMNS = {
    "origin": ("Origin", "기준 연도"), "series": ("Observed series", "관측 계열"), "target": ("Target", "보정 목표"),
    "last_year": ("Last year", "마지막 연도"),
    "mape_model": ("Model MAPE [%]", "모형 MAPE [%]"), "mape_last_model": ("Model MAPE, last year [%]", "모형 MAPE, 마지막 연도 [%]"),
    "mape_naive_trend": ("Naive trend MAPE [%]", "단순 추세 MAPE [%]"),
    "mape_last_naive_trend": ("Naive trend MAPE, last year [%]", "단순 추세 MAPE, 마지막 연도 [%]"),
    "mape_naive_share": ("Naive share MAPE [%]", "단순 비중 MAPE [%]"),
    "mape_last_naive_share": ("Naive share MAPE, last year [%]", "단순 비중 MAPE, 마지막 연도 [%]"),
    "model_beats_both_last_year": ("Model beats both, last year", "마지막 연도에 모형이 둘 다보다 나음"),
    "cells": ("Region-years", "시도·연도 수"), "wape_model": ("Model WAPE [%]", "모형 WAPE [%]"),
    "wape_naive_trend": ("Naive trend WAPE [%]", "단순 추세 WAPE [%]"),
    "wape_naive_share": ("Naive share WAPE [%]", "단순 비중 WAPE [%]"),
    "mape_model_observed_fertility": ("Model with the observed national TFR, MAPE [%]",
                                      "관측 전국 합계출산율을 쓴 모형 MAPE [%]"),
    "mape_last_model_observed_fertility": ("Model with the observed national TFR, MAPE, last year [%]",
                                           "관측 전국 합계출산율을 쓴 모형 MAPE, 마지막 연도 [%]"),
    "wape_model_observed_fertility": ("Model with the observed national TFR, WAPE [%]",
                                      "관측 전국 합계출산율을 쓴 모형 WAPE [%]"),
    "model_beats_both": ("Model beats both, all years", "전 연도 평균에서 모형이 둘 다보다 나음"),
    "evaluations": ("Fit evaluations", "보정 반복 수"), "converged": ("Fit converged", "보정 수렴"),
    "jump_off": ("From the observed population", "관측 인구에서 출발"),
}
#: Quantile columns: (English, Korean) of the probability.
QUANTILES = {"q05": ("5 %", "5 %"), "q25": ("25 %", "25 %"), "q50": ("median", "중앙값"),
             "q75": ("75 %", "75 %"), "q95": ("95 %", "95 %"), "median": ("median", "중앙값"),
             "p5": ("5 %", "5 %"), "p95": ("95 %", "95 %")}
#: "in the unit of the row's unit column", and for a table without one "in the unit of the row's indicator"
ROW_UNIT = (" [unit column]", " [단위 열]")
INDICATOR_UNIT = (" [unit of the indicator]", " [지표 단위]")

#: Column → (English, Korean) heading, units in brackets.
HEADINGS: dict[str, tuple[str, str]] = {
    # projections
    "indicator": ("Indicator", "지표"), "label": ("Indicator label", "지표 이름"), "unit": ("Unit", "단위"),
    "scenario": ("Scenario", "시나리오"), "scenario_label": ("Scenario label", "시나리오 이름"),
    "year": ("Year (1 January)", "연도 (1월 1일 기준)"), "region": ("Region (KOSIS code)", "시도 (KOSIS 코드)"),
    "region_name": ("Region", "시도"), "bloc": ("Bloc (key)", "권역 (키)"), "bloc_name": ("5+3 bloc", "5극3특 권역"),
    # levers
    "lever": ("Lever", "정책 수단"), "description": ("Description", "설명"), "step": ("Step", "단계"),
    "start": ("Start year", "시작 연도"), "ramp": ("Ramp [years]", "도입 기간 [년]"),
    "ref": ("References (docs/references.md)", "참고문헌 (docs/references.md)"),
    # calibration fit
    "target": ("Calibration target", "보정 목표"), "series": ("Observed series", "관측 계열"), "regions": ("Regions", "시도 수"), "n": ("Region-years", "시도·연도 수"),
    "mape_median_region": ("MAPE, median region [%]", "MAPE, 중앙 시도 [%]"),
    "mape_worst_region": ("MAPE, worst region [%]", "MAPE, 최대 시도 [%]"),
    "worst_region": ("Worst region (KOSIS code)", "최대 오차 시도 (KOSIS 코드)"),
    "r2_median_region": ("R² within region, median region [-]", "시도 내 R², 중앙 시도 [-]"),
    "regions_r2_positive": ("Regions with R² > 0", "R² > 0 시도 수"),
    "mape_pooled": ("MAPE, pooled [%]", "MAPE (전체) [%]"), "r2_pooled": ("R², pooled [-]", "R² (전체) [-]"),
    "rmse_pooled": ("RMSE, pooled [unit of the series]", "RMSE (전체) [계열 단위]"),
    "series_unit": ("Unit of the series", "계열 단위"),
    "um": ("Bias share of MSE, Theil U^M [-]", "MSE 중 편의 비중, Theil U^M [-]"),
    "us": ("Variance share of MSE, Theil U^S [-]", "MSE 중 분산 비중, Theil U^S [-]"),
    "uc": ("Covariance share of MSE, Theil U^C [-]", "MSE 중 공분산 비중, Theil U^C [-]"),
    "criterion": ("Goal (calibration/targets.toml)", "목표 (calibration/targets.toml)"), "met": ("Goal met", "목표 충족"),
    # complementarity
    "effect": ("Effect (factorial)", "효과 (요인실험)"), "order": ("Order of the effect", "효과 차수"),
    "same_sign": ("Share of members with the median's sign [-]", "중앙값과 부호가 같은 구성원 비율 [-]"),
    "threshold": ("Practical threshold [unit of the indicator]", "실용 기준 [지표 단위]"),
    "not_additive": ("Not additive", "비가산적"), "classification": ("Classification", "분류"),
    "agree": ("Sobol cross-check agrees", "Sobol 검증 일치"),
    "variable": ("Model variable", "모형 변수"), "baseline": ("Baseline [model unit]", "기준 [모형 단위]"),
    "combined_effect": ("Combined effect [model unit]", "결합 효과 [모형 단위]"),
    "additive_effect": ("Sum of the separate effects [model unit]", "개별 효과의 합 [모형 단위]"),
    "departure": ("Departure from additivity [model unit]", "가산성 이탈 [모형 단위]"),
    "relative": ("Departure relative to the sum [-]", "합 대비 이탈 [-]"),
    "interaction": ("Interaction", "상호작용"), "rank": ("Rank", "순위"), "why": ("Why listed", "선정 이유"),
    "outcome": ("Outcome (indicator)", "결과 지표"), "sobol": ("Sobol index [-]", "Sobol 지수 [-]"),
    "conf": ("Confidence half-width [-]", "신뢰구간 반폭 [-]"),
    "predicted": ("Share predicted by the factorial effects [-]", "요인 효과로 예측한 비중 [-]"),
    "effect_best_fit": ("Effect, best-fit run [unit of the indicator]", "효과, 최적 적합 실행 [지표 단위]"),
    # lever evidence
    "label_en": ("Lever (English)", "정책 수단 (영어)"), "label_ko": ("Lever (Korean)", "정책 수단 (한국어)"),
    "lever_low": ("Lower limit of the lever [unit of the lever]", "정책 수단 하한 [정책 수단 단위]"),
    "lever_high": ("Upper limit of the lever [unit of the lever]", "정책 수단 상한 [정책 수단 단위]"),
    "unit_ko": ("Unit of the lever (Korean)", "정책 수단 단위 (한국어)"),
    "first_target": ("First target (indicator)", "1차 목표 지표"), "evidence": ("Evidence for its size", "크기의 근거"),
    "evidence_parameter": ("Parameter its effect scales with", "효과를 결정하는 매개변수"),
    "prior": ("Prior distribution", "사전분포"), "prior_mean": ("Prior mean [model unit]", "사전 평균 [모형 단위]"),
    "prior_sd": ("Prior standard deviation [model unit]", "사전 표준편차 [모형 단위]"),
    "parameter_low": ("Lower bound of the parameter [model unit]", "매개변수 하한 [모형 단위]"),
    "parameter_high": ("Upper bound of the parameter [model unit]", "매개변수 상한 [모형 단위]"),
    "fitted": ("Fitted value [model unit]", "추정값 [모형 단위]"), "support": ("Support by the evidence", "근거의 지지"),
    "fitted_at_bound": ("Fitted to a bound", "경계값으로 추정됨"),
    "chain_target": ("Chain to the first target", "1차 목표까지의 경로"),
    "chain_capital": ("Chain to the capital-region share", "수도권 비중까지의 경로"),
    "reads_parameter": ("Chain reads the parameter", "경로가 매개변수를 읽음"),
    "start_value": ("Value in the start year [unit of the lever]", "시작 연도 값 [정책 수단 단위]"),
    "change": ("Standard change [unit of the lever]", "표준 변화 [정책 수단 단위]"),
    # sensitivity
    "method": ("Method", "방법"), "index": ("Index", "지수"), "factor": ("Factor", "요인"),
    "value": ("Value of the index [-]", "지수 값 [-]"),
}

#: Headings of a column that means something else in one sheet: sheet → column → (English, Korean).
SHEET_HEADINGS = {"scenario_levers": {"target": ("Target value [unit column]", "목표값 [단위 열]"),
                                      "unit": ("Unit of the lever", "정책 수단 단위")},
                  "lever_evidence": {"unit": ("Unit of the lever", "정책 수단 단위")}}
#: A response column of the lever evidence table: <outcome>_<year>[_q05|_q95].
RESPONSE = re.compile(r"(target|capital)_(\d{4})(?:_(q05|q95))?")
#: Its outcome and band in both languages.
RESPONSE_OUTCOMES = {"target": ("Response of the first target [unit of its indicator]", "1차 목표의 반응 [지표 단위]"),
                     "capital": ("Response of the capital-region share [%p]", "수도권 비중의 반응 [%p]")}
RESPONSE_BANDS = {None: ("best fit", "최적 적합"), "q05": ("5 %", "5 %"), "q95": ("95 %", "95 %")}


def heading(column: str, lang: str, name: str = "", unit_column: bool = True) -> str:
    """The heading of ``column`` in ``lang`` ("ko" or "en"): quantile columns say their
    probability and that the row's unit column holds their unit; a backtest column takes
    its heading of :data:`BACKTEST_COLUMNS`; a column without a
    heading (a year, a heading already written for readers) is kept. ``name``: the sheet,
    for the columns of :data:`SHEET_HEADINGS`; ``unit_column``: whether the table has a unit
    column (else quantiles are in the unit of the row's indicator)."""
    ko = lang == "ko"
    if column in SHEET_HEADINGS.get(name, {}):
        return SHEET_HEADINGS[name][column][ko]
    if column in QUANTILES:
        return QUANTILES[column][ko] + (ROW_UNIT if unit_column else INDICATOR_UNIT)[ko]
    if name == "lever_evidence" and (match := RESPONSE.fullmatch(column)):
        outcome, year, band = match.groups()
        return f"{RESPONSE_OUTCOMES[outcome][ko]}, {year}, {RESPONSE_BANDS[band][ko]}"
    if column in HEADINGS:
        return HEADINGS[column][ko]
    if column in BACKTEST_COLUMNS:
        return BACKTEST_COLUMNS[column][ko]
    return column


def sheet(table: pd.DataFrame, lang: str, units: dict[str, str] | None = None, name: str = "") -> pd.DataFrame:
    """A table with its columns headed for readers (:func:`heading`); a table of fit
    statistics (a ``series`` and an ``rmse_pooled`` column) gets the unit of each series
    (``units``: series → unit, calibration/sources.csv) beside its RMSE. ``name``: the sheet."""
    out = table
    if units is not None and {"series", "rmse_pooled"} <= set(table.columns):
        out = table.copy()
        out.insert(list(out.columns).index("rmse_pooled") + 1, "series_unit", out["series"].map(units).fillna(""))
    unit_column = "unit" in out.columns
    return out.rename(columns={c: heading(str(c), lang, name, unit_column) for c in out.columns})


__all__ = ["BACKTEST_COLUMNS", "FIT_COLUMNS", "YES_NO", "HEADINGS", "SHEET_HEADINGS", "INDICATOR_UNIT", "QUANTILES", "ROW_UNIT", "heading", "sheet"]
