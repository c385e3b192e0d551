"""Figures of the white paper (``kbalance whitepaper``), in Korean or English.

Each ``fig_*`` function takes the :class:`~kbalance.whitepaper.analysis.Whitepaper` and returns a
matplotlib Figure (or None when its inputs are missing); :data:`FIGURES` lists them in
report order and :func:`save_figure` writes PNG (300 dpi) and SVG. Lines are ensemble
medians, bands the 5–95 % (light) and 25–75 % (dark) ranges over the constrained ensemble;
the scenario colours are the same in every figure.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from kbalance.fonts import use_korean_font
from kbalance.model.indicators import indicator
from kbalance.municipal.maps import RISK_COLOURS
from kbalance.observations.load import load_series
from kbalance.regions import BLOCS, NATIONAL_CODE, load_regions, region_codes, region_name
from kbalance.whitepaper.analysis import (PYRAMID_REGIONS, TAX_RATIO_AIMS, TILE_YEARS, Whitepaper,
                                          pyramid_years, scenario_label, table_years)
from kbalance.whitepaper.complementarity import effect_label, thresholds
from kbalance.whitepaper.history import observed_before, observed_note
from kbalance.whitepaper.sources import jump_off_year, latest_backtest, observed_history

#: The observed local share of total tax (tax.csv) the tax-ratio figure shows as history.
TAX_RATIO_SERIES = "local_tax_share_of_total_tax_pct"

SCENARIO_COLOURS = {
    "baseline": "#4d4d4d", "decentralization": "#1f6fb4", "balance": "#2e9e44", "integrated": "#c7302a",
    "concentration": "#e08a1e", "decentralization+balance": "#8a5cb8",
}
EXTRA_COLOURS = ("#17becf", "#bcbd22", "#e377c2", "#8c564b", "#7f7f7f")

#: Tile-map positions (row, column) of the 17 regions, roughly as on a map (north at top).
TILE_GRID = {
    "23": (0, 0), "11": (0, 1), "32": (0, 2),
    "31": (1, 1), "33": (1, 2), "37": (1, 3),
    "34": (2, 0), "29": (2, 1), "25": (2, 2), "22": (2, 3), "26": (2, 4),
    "35": (3, 1), "38": (3, 3), "21": (3, 4),
    "24": (4, 0), "36": (4, 1),
    "39": (5, 0),
}

TEXT = {
    "year": ("Year (1 January)", "연도 (1월 1일 기준)"),
    "median_note": ("lines: ensemble median; bands: 5–95 % and 25–75 %", "선: 앙상블 중앙값, 음영: 5–95 % 및 25–75 % 구간"),
    "baseline_band_note": ("lines: ensemble median of each scenario; band: 5–95 % of the baseline",
                           "선: 시나리오별 앙상블 중앙값, 음영: 기준 시나리오 5–95 % 구간"),
    "dot_note": ("dots: ensemble median; bars: 5–95 %", "점: 앙상블 중앙값, 막대: 5–95 % 구간"), "lines_note": ("lines: ensemble median of each scenario", "선: 시나리오별 앙상블 중앙값"),
    "tile_note": ("tiles: ensemble median", "타일: 앙상블 중앙값"),
    "source": ("Source: kbalance projections, {n:,} members of the constrained ensemble ({fitted}); {extra}",
               "자료: kbalance 전망, 제약 앙상블 {n:,}개 ({fitted}); {extra}"),
    "observed": ("observed", "관측"),
    "obs_pop": ("observed: KOSIS resident registration DT_1B040A3", "관측: KOSIS 주민등록인구 DT_1B040A3"),
    "obs_vital": ("observed: KOSIS vital statistics DT_1B8000H, DT_1B81A12, DT_1B81A21",
                  "관측: KOSIS 인구동향 DT_1B8000H, DT_1B81A12, DT_1B81A21"),
    "obs_fiscal": ("observed: fiscal autonomy DT_1YL20921", "관측: 재정자립도 DT_1YL20921"),
    "obs_tax": ("history: tax.csv {history}; aims {targets}",
                "과거값: tax.csv {history}; 목표 {targets}"),
    "bestfit": ("best-fit parameter set", "최적 적합 모수"),
    "capital_title": ("Capital-region share of the population: history and projection by scenario",
                      "수도권 인구 비중: 과거와 시나리오별 전망"),
    "baseline_median": ("baseline median", "기준 시나리오 중앙값"),
    "popchange_title": ("Population change {a}–{b} by region and by 5+3 bloc", "{a}–{b}년 인구 변화: 시도별, 5극3특 권역별"),
    "popchange_x": ("Change [%]", "변화율 [%]"),
    "by_region": ("17 regions", "17개 시도"),
    "by_bloc": ("5+3 blocs", "5극3특 권역"),
    "pyramid_title": ("Age pyramids, baseline (best-fit run)", "인구 피라미드, 기준 시나리오 (최적 적합 모수)"),
    "pyramid_x": ("Persons [thousand]: men left, women right", "인구 [천 명]: 왼쪽 남자, 오른쪽 여자"),
    "pyramid_open": ("{age}+ [thousand]: {values}", "{age}세 이상 [천 명]: {values}"),
    "age": ("Age [years]", "연령 [세]"),
    "tiles_title": ("Extinction risk index by region (women 20–39 / residents 65+, ensemble median)",
                    "시도별 소멸위험지수 (20–39세 여성 / 65세 이상 인구, 앙상블 중앙값)"),
    "births_title": ("Births and the total fertility rate", "출생아 수와 합계출산율"),
    "fiscal_title": ("Fiscal autonomy ratio by region in {y} (median and 5–95 %)", "{y}년 시도별 재정자립도 (중앙값과 5–95 % 구간)"),
    "fiscal_obs": ("observed {y}", "{y}년 관측"),
    "tax_title": ("National : local tax ratio against its targets", "국세 : 지방세 비율과 목표"),
    "tax_y": ("Local share of total tax [%]", "총조세 중 지방세 비중 [%]"),
    "target": ("{ratio} (local {target:g} %) {refs}", "{ratio} (지방 {target:g} %) {refs}"),
    "history": ("history", "과거값"),
    "innovation_title": ("Innovation base and GRDP per capita (national)", "혁신역량 스톡과 1인당 GRDP (전국)"),
    "disparity_title": ("Regional disparity: coefficient of variation and Theil index (population-weighted)",
                        "지역 격차: 변이계수와 타일지수 (인구가중)"),
    "calibration_title": ("Calibration fit by target (median region, fitted set {v})",
                          "보정 적합도: 목표 계열별 (중앙 시도, 적합 모수 {v})"),
    "mape": ("median-region MAPE [%] (log scale)", "중앙 시도 평균절대백분율오차 MAPE [%] (로그 척도)"),
    "met": ("met", "충족"), "not_met": ("not met", "미충족"),
    "no_goal": ("no goal", "목표 없음"),
    "goals": ("goals from calibration/targets.toml", "목표: calibration/targets.toml"),
    "backtest_title": ("Out-of-sample backtests: forecast error of the model and the naive forecasts",
                       "표본 외 백테스트: 모형과 단순 예측의 예측 오차"),
    "backtest_source": ("Source: calibration/reports/{name}", "자료: calibration/reports/{name}"),
    "model": ("model", "모형"), "naive_trend": ("naive trend", "단순 추세"), "naive_share": ("constant share", "비중 고정"),
    "comp_title": ("Complementarity: interactions of the factorial experiment (Yates' effects)",
                   "보완성: 요인실험의 상호작용 (Yates 효과)"),
    "comp_effect": ("interaction effect", "상호작용 효과"),
    "comp_higher": ("3- and 4-way interactions (median)", "3·4차 상호작용 (중앙값)"),
    "comp_threshold": ("± practical threshold", "± 실용 기준"),
    "comp_source": ("{n} factorial combinations, paired by member; lines: median, bands: 5–95 % over members",
                    "요인실험 {n}개 조합, 구성원 대응; 선: 중앙값, 음영: 구성원 5–95 %"),
    "difference": ("Difference from baseline", "기준 대비 차이"),
}


def tr(key: str, lang: str, **kwargs) -> str | tuple:
    """The text ``key`` in ``lang`` ("ko" or "en"), formatted with ``kwargs``."""
    value = TEXT[key][lang == "ko"]
    return value.format(**kwargs) if kwargs and isinstance(value, str) else value


def reference_marks(refs: Sequence[str]) -> str:
    """The reference keys (R<n>) found in ``refs``, each once, as "[R4][R5]"."""
    keys = dict.fromkeys(k for ref in refs for k in re.findall(r"\bR\d+\b", ref))
    return "".join(f"[{k}]" for k in keys)


def scenario_colour(name: str, order: Sequence[str]) -> str:
    """The scenario's fixed colour; other scenarios get the extra colours in order."""
    if name in SCENARIO_COLOURS:
        return SCENARIO_COLOURS[name]
    others = [n for n in order if n not in SCENARIO_COLOURS]
    return EXTRA_COLOURS[others.index(name) % len(EXTRA_COLOURS)]


def _style() -> None:
    use_korean_font()
    matplotlib.rcParams.update({
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.color": "#dddddd", "grid.linewidth": 0.6, "figure.dpi": 100,
    })


def new_figure(rows: int, cols: int, size: tuple[float, float], **kwargs) -> tuple[Figure, np.ndarray]:
    """A figure of ``rows`` × ``cols`` axes (always a 2-D array) of ``size`` [inches] in the white paper's style."""
    _style()
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, **kwargs)
    return fig, axes


def wrap_source(fig: Figure, source: str) -> tuple[str, int]:
    """The sources line wrapped to the figure's width (7-point text); and its line count."""
    lines = textwrap.wrap(source, width=int(fig.get_figwidth() * 17))
    return "\n".join(lines), len(lines)


def finish(fig: Figure, title: str, source: str, bottom: float = 0.0) -> Figure:
    """Title at the top, the sources line (wrapped) at the bottom left; ``bottom`` reserves
    extra space [figure fraction] above it (for a figure legend)."""
    text, lines = wrap_source(fig, source)
    fig.suptitle(title, fontsize=12, fontweight="bold", x=0.01, ha="left")
    fig.text(0.01, 0.005, text, fontsize=7, color="#555555", ha="left", va="bottom")
    reserved = (0.012 + 0.14 * lines) / fig.get_figheight() + bottom
    fig.tight_layout(rect=(0, reserved, 1, 1 - 0.45 / fig.get_figheight()))
    return fig


def source_line(wp: Whitepaper, extra: str = "", note_key: str | None = "median_note") -> str:
    """'Source: kbalance projections, N members (v<N>); <extra>; <what lines and bands are>'
    (``note_key`` the text saying what is drawn; None when nothing more is drawn than ``extra`` says)."""
    note = tr(note_key, wp.lang) if note_key else ""
    if not note:
        return tr("source", wp.lang, n=wp.members.sizes["member"], fitted=wp.fit_report.name, extra=extra).rstrip("; ")
    return tr("source", wp.lang, n=wp.members.sizes["member"], fitted=wp.fit_report.name,
              extra=f"{extra}; {note}" if extra else note)


def save_figure(fig: Figure, folder: Path, name: str, dpi: int = 300) -> Path:
    """Write ``name``.png (``dpi``) and ``name``.svg into ``folder``; returns the PNG path."""
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=dpi, facecolor="white")
    fig.savefig(folder / f"{name}.svg", facecolor="white")
    plt.close(fig)
    return png


def band(ax, q: xr.DataArray, colour: str, label: str | None = None, inner: bool = True, alpha: float = 0.15,
         start: int | None = None) -> None:
    """Median line with 5–95 % (and 25–75 %) bands of a (quantile, year) array, from the
    year ``start`` on (default every year)."""
    q = q if start is None else q.sel(year=q["year"] >= start)
    years = q["year"].values
    ax.fill_between(years, q.sel(quantile="q05"), q.sel(quantile="q95"), color=colour, alpha=alpha, lw=0)
    if inner:
        ax.fill_between(years, q.sel(quantile="q25"), q.sel(quantile="q75"), color=colour, alpha=alpha * 1.8, lw=0)
    ax.plot(years, q.sel(quantile="q50"), color=colour, lw=1.6, label=label)


def _history_line(ax, wp: Whitepaper) -> None:
    """The dotted line at the jump-off, the first projected year (model/inputs/scalars.csv)."""
    ax.axvline(jump_off_year(), color="#999999", lw=0.8, ls=":")


def _scenarios(wp: Whitepaper) -> list[str]:
    return [str(s) for s in wp.summary["scenario"].values]


def _label(wp: Whitepaper, name: str) -> str:
    return scenario_label(name, wp.lang)


def _ylabel(key: str, lang: str) -> str:
    ind = indicator(key)
    return f"{ind.label(lang)} [{ind.unit(lang)}]"


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def fig_capital_share(wp: Whitepaper) -> Figure:
    """Capital-region share of the population, observed and projected, one panel per scenario."""
    names = _scenarios(wp)
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = new_figure(rows, cols, (3.6 * cols, 2.9 * rows + 0.6), sharey=True)
    obs = observed_history()["capital_share"]
    q = wp.summary["capital_share"]
    q = q.sel(year=q["year"] >= jump_off_year())  # history from data; the projection starts at the jump-off
    for ax, name in zip(axes.flat, names):
        if name != "baseline":
            ax.plot(q["year"], q.sel(scenario="baseline", quantile="q50"), color="#888888", lw=1, ls="--",
                    label=tr("baseline_median", wp.lang))
        band(ax, q.sel(scenario=name), scenario_colour(name, names), label=_label(wp, name))
        ax.plot(obs.index, obs.values, "o", ms=2.2, color="black", label=tr("observed", wp.lang))
        _history_line(ax, wp)
        ax.set_title(_label(wp, name))
        ax.set_xlabel(tr("year", wp.lang))
        ax.set_ylabel(_ylabel("capital_share", wp.lang))
        ax.legend(frameon=False, loc="upper left")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    return finish(fig, tr("capital_title", wp.lang), source_line(wp, tr("obs_pop", wp.lang)))


def _change(members: xr.DataArray, start: int, end: int) -> xr.DataArray:
    """Per-member change from ``start`` to ``end`` [%]."""
    return (members.sel(year=end) / members.sel(year=start) - 1) * 100


def fig_population_change(wp: Whitepaper) -> Figure:
    """Population change from 2024 to the last year by region and by bloc (median, 5–95 %)."""
    start, end = 2024, wp.until
    names = _scenarios(wp)
    fig, axes = new_figure(1, 2, (11, 7.2), gridspec_kw={"width_ratios": [1.6, 1]})
    panels = [(axes[0, 0], "region_population", "region", region_codes(), tr("by_region", wp.lang)),
              (axes[0, 1], "bloc_population", "bloc", [b for b in BLOCS if b in wp.members["bloc"]],
               tr("by_bloc", wp.lang))]
    for ax, key, dim, places, title in panels:
        change = _change(wp.members[key], start, end).quantile([0.05, 0.5, 0.95], dim="member", skipna=False)
        y = np.arange(len(places))
        step = 0.8 / max(len(names), 1)
        for i, name in enumerate(names):
            c = change.sel(scenario=name).sel({dim: places})
            offset = (i - (len(names) - 1) / 2) * step
            ax.errorbar(c.sel(quantile=0.5), y + offset,
                        xerr=[c.sel(quantile=0.5) - c.sel(quantile=0.05), c.sel(quantile=0.95) - c.sel(quantile=0.5)],
                        fmt="o", ms=3.2, lw=0.9, color=scenario_colour(name, names), label=_label(wp, name))
        ax.set_yticks(y, [region_name(p, wp.lang) for p in places])
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(tr("popchange_x", wp.lang))
        ax.set_title(title)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(names), 6), frameon=False, bbox_to_anchor=(0.5, 0.04),
               fontsize=8)
    return finish(fig, tr("popchange_title", wp.lang, a=start, b=end), source_line(wp, note_key="dot_note"), bottom=0.05)


def fig_age_pyramids(wp: Whitepaper) -> Figure:
    """Age pyramids (the model's single years) of selected regions, baseline best-fit run, for the
    pyramid years; the open group (the last age) is written as a number (it is not one year wide)."""
    pop = wp.bestfit["Population"].sel(scenario="baseline")
    years = [y for y in pyramid_years(wp.until) if y in pop["year"]]
    fig, axes = new_figure(1, len(PYRAMID_REGIONS), (3.0 * len(PYRAMID_REGIONS), 5.4), sharey=True)
    single = pop["Age"].values[:-1]
    ages = np.arange(len(single))
    styles = [{"color": "#9ecae1"}, {"color": "#c7302a", "lw": 1.2}, {"color": "#08306b", "lw": 1.2, "ls": "--"}]
    for ax, code in zip(axes.flat, PYRAMID_REGIONS):
        region = pop.sel(Region=region_name(code, "en")) / 1e3
        notes = []
        for k, year in enumerate(years):
            men = region.sel(year=year, Sex="Male", Age=single).values
            women = region.sel(year=year, Sex="Female", Age=single).values
            if k == 0:
                ax.barh(ages, -men, height=1, label=str(year), **styles[0])
                ax.barh(ages, women, height=1, **styles[0])
            else:
                style = styles[min(k, len(styles) - 1)]
                ax.step(-men, ages, where="mid", label=str(year), **style)
                ax.step(women, ages, where="mid", **style)
            notes.append(f"{float(region.sel(year=year).isel(Age=-1).sum()):,.0f}")
        limit = float(np.abs(region.sel(year=years, Age=single)).max()) * 1.08
        ticks = [t for t in ax.get_xticks() if abs(t) <= limit]
        ax.set_xticks(ticks, [f"{abs(t):.0f}" for t in ticks])
        ax.set_xlim(-limit, limit)
        ax.axvline(0, color="black", lw=0.6)
        open_note = tr("pyramid_open", wp.lang, age=len(single), values=" / ".join(notes))
        ax.set_title(f"{region_name(code, wp.lang)}\n" + open_note,
                     fontsize=10.5)
        ax.set_xlabel(tr("pyramid_x", wp.lang), fontsize=9)
        ax.tick_params(labelsize=9)
    axes[0, 0].set_ylabel(tr("age", wp.lang), fontsize=10)
    axes[0, 0].set_yticks(ages[::20], [str(a) for a in ages[::20]])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, 0.05),
               fontsize=9.5)
    return finish(fig, tr("pyramid_title", wp.lang), source_line(wp, tr("bestfit", wp.lang), note_key=None), bottom=0.06)


def _tile_map(ax, values: xr.DataArray, lang: str, title: str) -> None:
    """One tile map of the 17 regions coloured by the extinction-risk class of ``values``."""
    classes = indicator("region_extinction_index").classes
    cmap, norm = ListedColormap(RISK_COLOURS), BoundaryNorm([-np.inf, *classes, np.inf], len(RISK_COLOURS))
    short = load_regions()["short_ko" if lang == "ko" else "name_en"]
    for code, (row, col) in TILE_GRID.items():
        v = float(values.sel(region=code))
        ax.add_patch(plt.Rectangle((col, -row), 0.94, 0.94, color=cmap(norm(v))))
        colour = "white" if v < classes[0] or v >= classes[-1] else "black"
        name = short[code]
        ax.text(col + 0.47, -row + 0.62, name, ha="center", va="center", fontsize=6 if len(name) <= 7 else 4.8,
                color=colour)
        ax.text(col + 0.47, -row + 0.28, f"{v:.2f}", ha="center", va="center", fontsize=6, color=colour)
    ax.set_xlim(-0.1, 5.05)
    ax.set_ylim(-5.1, 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def fig_extinction_tiles(wp: Whitepaper) -> Figure:
    """Tile maps of the extinction risk index (ensemble median): the baseline in the tile
    years (top row), every other scenario in the last year (bottom row)."""
    names = _scenarios(wp)
    years = [y for y in TILE_YEARS if y <= wp.until]
    years = years if wp.until in years else [*years, wp.until]
    others = [n for n in names if n != "baseline"]
    cols = max(len(years), len(others), 1)
    q = wp.summary["region_extinction_index"].sel(quantile="q50")
    fig, axes = new_figure(2 if others else 1, cols, (2.45 * cols, 7.6 if others else 4.0))
    for c, year in enumerate(years):
        _tile_map(axes[0, c], q.sel(scenario="baseline", year=year), wp.lang, f"{_label(wp, 'baseline')} {year}")
    for c, name in enumerate(others):
        _tile_map(axes[1, c], q.sel(scenario=name, year=wp.until), wp.lang, f"{_label(wp, name)} {wp.until}")
    for ax in [*axes[0, len(years):], *(axes[1, len(others):] if others else [])]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=col) for col in RISK_COLOURS]
    risk = indicator("region_extinction_index")
    fig.legend(handles, risk.class_labels(wp.lang), loc="lower center", ncol=5, frameon=False,
               bbox_to_anchor=(0.5, 0.045), fontsize=7.5)
    return finish(fig, tr("tiles_title", wp.lang), source_line(wp, f"[{risk.class_ref}]", note_key="tile_note"),
                  bottom=0.05)


def _scenario_bands(ax, wp: Whitepaper, key: str, inner: bool = False, banded: Sequence[str] | None = None,
                    start: int | None = None) -> None:
    """Median lines of every scenario with the bands of ``banded`` (default all scenarios),
    from the year ``start`` on (default every year)."""
    names = _scenarios(wp)
    for name in names:
        q = wp.summary[key].sel(scenario=name)
        q = q if start is None else q.sel(year=q["year"] >= start)
        if banded is None or name in banded:
            band(ax, q, scenario_colour(name, names), _label(wp, name), inner=inner, alpha=0.1 if banded is None else 0.18)
        else:
            ax.plot(q["year"].values, q.sel(quantile="q50"), color=scenario_colour(name, names), lw=1.6,
                    label=_label(wp, name))
    _history_line(ax, wp)
    ax.set_xlabel(tr("year", wp.lang))
    ax.set_ylabel(_ylabel(key, wp.lang))


def fig_births_tfr(wp: Whitepaper) -> Figure:
    """National births and total fertility rate, observed and projected by scenario."""
    obs = observed_history()
    fig, axes = new_figure(1, 2, (11, 4.4))
    for ax, key in zip(axes.flat, ("births", "tfr")):
        series = obs[key][obs[key].index >= 2000].dropna()
        _scenario_bands(ax, wp, key, start=int(series.index.max()) + 1)  # history from data
        ax.plot(series.index, series.values, "o", ms=2.2, color="black", label=tr("observed", wp.lang))
        ax.set_title(_ylabel(key, wp.lang).split(" [")[0])
    axes[0, 0].legend(frameon=False, fontsize=7)
    return finish(fig, tr("births_title", wp.lang), source_line(wp, tr("obs_vital", wp.lang)))


def fig_fiscal_autonomy(wp: Whitepaper) -> Figure:
    """Fiscal autonomy ratio by region in the last comparison year, by scenario, with the
    latest observation."""
    year = table_years(wp.until)[-1]
    names = _scenarios(wp)
    regions = region_codes()
    q = wp.summary["region_fiscal_autonomy"].sel(year=year)
    obs = observed_history()["fiscal_autonomy"]
    fig, axes = new_figure(1, 1, (10, 5.6))
    ax = axes[0, 0]
    x = np.arange(len(regions))
    step = 0.8 / len(names)
    for i, name in enumerate(names):
        c = q.sel(scenario=name, region=regions)
        offset = (i - (len(names) - 1) / 2) * step
        ax.errorbar(x + offset, c.sel(quantile="q50"),
                    yerr=[c.sel(quantile="q50") - c.sel(quantile="q05"), c.sel(quantile="q95") - c.sel(quantile="q50")],
                    fmt="o", ms=3.2, lw=0.9, color=scenario_colour(name, names), label=_label(wp, name))
    last = int(obs.index.max())
    ax.plot(x, [obs.loc[last].get(r, np.nan) for r in regions], "x", color="black", ms=6,
            label=tr("fiscal_obs", wp.lang, y=last))
    ax.set_xticks(x, [region_name(r, wp.lang) for r in regions], rotation=45, ha="right")
    ax.set_ylabel(_ylabel("region_fiscal_autonomy", wp.lang))
    ax.legend(frameon=False, ncol=4, fontsize=7, loc="upper right")
    return finish(fig, tr("fiscal_title", wp.lang, y=year), source_line(wp, tr("obs_fiscal", wp.lang)))


def fig_tax_ratio(wp: Whitepaper) -> Figure:
    """Local share of total tax by scenario against the targets the scenarios set for it
    (model/scenarios/*.toml), each labelled with its national:local ratio and references."""
    fig, axes = new_figure(1, 1, (9, 4.6))
    ax = axes[0, 0]
    names = _scenarios(wp)
    q = wp.summary["local_tax_share"].sel(quantile="q50", year=slice(jump_off_year(), None))  # history: dots
    for i, name in enumerate(names):  # lever paths coincide between scenarios: widest line first
        ax.plot(q["year"], q.sel(scenario=name), color=scenario_colour(name, names), label=_label(wp, name),
                lw=1.2 + 1.1 * (len(names) - 1 - i), solid_capstyle="butt")
    _history_line(ax, wp)
    ax.set_xlabel(tr("year", wp.lang))
    ax.set_ylabel(_ylabel("local_tax_share", wp.lang))
    hist = load_series(TAX_RATIO_SERIES)
    hist = hist[hist["region_code"] == NATIONAL_CODE]
    ax.plot(hist["year"], hist["value"], "o", ms=3, color="black", label=tr("history", wp.lang), zorder=5)
    targets = TAX_RATIO_AIMS
    for step in targets:
        level = step.target
        ratio = f"{(100 - level) / 10:g}:{level / 10:g}"
        refs = reference_marks([step.ref])
        ax.axhline(level, color="#b2182b", lw=1, ls="--")
        ax.text(int(hist["year"].min()), level + 0.5, tr("target", wp.lang, ratio=ratio, target=level, refs=refs),
                color="#b2182b", fontsize=8, va="bottom", ha="left")  # over the history, clear of the paths
    ax.set_ylim(15, 45)
    ax.legend(frameon=False, fontsize=7, loc="lower right", ncol=2)
    sources = tr("obs_tax", wp.lang, history=TAX_RATIO_SERIES, targets=reference_marks([s.ref for s in targets]))
    return finish(fig, tr("tax_title", wp.lang), source_line(wp, sources, "lines_note"))  # medians, no bands


def _observed_panels(wp: Whitepaper, axes, keys: Sequence[str], **kwargs) -> str:
    """Scenario lines from the jump-off, the observed history before it where there is one;
    returns the caption note (:func:`~kbalance.whitepaper.history.observed_note`)."""
    start = jump_off_year()
    for ax, key in zip(axes, keys):
        _scenario_bands(ax, wp, key, start=start, **kwargs)
        series = observed_before(key, start)
        if series is not None:
            ax.plot(series.index, series.values, "o", ms=2.2, color="black", label=tr("observed", wp.lang))
        ax.set_title(_ylabel(key, wp.lang).split(" [")[0])
    return observed_note(keys, wp.lang, start)


def fig_innovation_grdp(wp: Whitepaper) -> Figure:
    """National innovation base and GRDP per capita by scenario from the jump-off, observed before it."""
    fig, axes = new_figure(1, 2, (11, 4.6))
    note = _observed_panels(wp, axes.flat, ("innovation_base", "grdp_per_capita"))
    axes[0, 1].legend(frameon=False, fontsize=7)
    return finish(fig, tr("innovation_title", wp.lang), source_line(wp, note))


def fig_disparity(wp: Whitepaper) -> Figure:
    """CV and Theil index of GRDP per capita and fiscal autonomy from the jump-off, observed before it."""
    fig, axes = new_figure(2, 2, (11, 7.6))
    keys = ("grdp_pc_cv", "grdp_pc_theil", "fiscal_autonomy_cv", "fiscal_autonomy_theil")
    note = _observed_panels(wp, axes.flat, keys, banded=("baseline",))  # six overlapping bands turn grey
    axes[0, 0].legend(frameon=False, fontsize=7)
    return finish(fig, tr("disparity_title", wp.lang), source_line(wp, note, note_key="baseline_band_note"))


def fig_calibration(wp: Whitepaper) -> Figure:
    """Median-region MAPE per calibration target, coloured by whether its goal
    (calibration/targets.toml) is met; grey where the target has no goal."""
    fit = wp.fit.iloc[::-1]
    fig, axes = new_figure(1, 1, (8, 4.8))
    ax = axes[0, 0]
    palette = {True: "#2e9e44", False: "#c7302a", None: "#9e9e9e"}
    state = [None if pd.isna(m) else bool(m) for m in fit["met"]]
    ax.barh(fit["target"], fit["mape_median_region"], color=[palette[s] for s in state])
    for y, row in enumerate(fit.itertuples()):
        goal = f"  [{row.criterion}]" if row.criterion else ""
        ax.text(row.mape_median_region * 1.05, y, f"{row.mape_median_region:.1f} %  R² {row.r2_median_region:.2f}{goal}",
                va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(tr("mape", wp.lang))
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[s]) for s in (True, False, None)]
    ax.legend(handles, [tr("met", wp.lang), tr("not_met", wp.lang), tr("no_goal", wp.lang)], frameon=False,
              loc="lower right")
    ax.set_xlim(right=fit["mape_median_region"].max() * 12)
    source = f"{tr('goals', wp.lang)}; calibration/reports/{wp.fit_report.name}/fit_statistics.csv"
    return finish(fig, tr("calibration_title", wp.lang, v=wp.fit_report.name), source)


def fig_backtest(wp: Whitepaper) -> Figure | None:
    """Last-year MAPE of the model and the naive forecasts in the backtest."""
    if wp.backtest is None or wp.backtest.empty:
        return None
    table = wp.backtest
    fig, axes = new_figure(1, 1, (8, 4.2))
    ax = axes[0, 0]
    x = np.arange(len(table))
    rolling = "origin" in table  # rolling origins: MAPE over every forecast year; else the last year
    prefix = "mape_" if rolling else "mape_last_"
    for i, (key, colour) in enumerate((("model", "#1f6fb4"), ("naive_trend", "#999999"), ("naive_share", "#e08a1e"))):
        ax.bar(x + (i - 1) * 0.27, table[prefix + key], width=0.27, color=colour, label=tr(key, wp.lang))
    labels = table["origin"] if rolling else table["last_year"]
    ax.set_xticks(x, [f"{s} ({y})" for s, y in zip(table["series"], labels)], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("MAPE [%]")
    ax.legend(frameon=False)
    found = latest_backtest()
    name = "/".join(found.parts[-2:]) if found else "backtest"
    return finish(fig, tr("backtest_title", wp.lang), tr("backtest_source", wp.lang, name=name))


#: Colours of the pairwise interactions in the complementarity figure.
INTERACTION_COLOURS = ("#8a5cb8", "#1f6fb4", "#c7302a", "#2e9e44", "#e08a1e", "#17becf")


def fig_complementarity(wp: Whitepaper) -> Figure | None:
    """The interactions of the factorial experiment over time, one panel per indicator:
    the pairwise ones with their 5–95 % bands, the higher-order ones as thin grey lines, the
    practical threshold dashed."""
    comp = wp.complementarity
    if comp is None:
        return None
    paths = comp.paths
    keys = list(paths.data_vars)
    cols = 3
    fig, axes = new_figure(-(-len(keys) // cols), cols, (13, 3.3 * -(-len(keys) // cols)))
    effects = [str(e) for e, order in zip(paths["effect"].values, paths["order"].values) if order > 1]
    pairs = [e for e in effects if e.count(" × ") == 1]
    first_higher = next((e for e in effects if e not in pairs), None)
    for ax, key in zip(axes.flat, keys):
        p = paths[key]
        years = p["year"].values
        for colour, effect in zip(INTERACTION_COLOURS, pairs):
            q = p.sel(effect=effect)
            ax.fill_between(years, q.sel(quantile="q05"), q.sel(quantile="q95"), color=colour, alpha=0.15, lw=0)
            ax.plot(years, q.sel(quantile="q50"), color=colour, lw=1.4, label=effect_label(effect, wp.lang))
        for effect in effects:
            if effect not in pairs:
                ax.plot(years, p.sel(effect=effect, quantile="q50"), color="#999999", lw=0.7,
                        label=tr("comp_higher", wp.lang) if effect == first_higher else None)
        limit = thresholds(paths, key)
        ax.plot(years, limit, color="black", lw=0.8, ls="--", label=tr("comp_threshold", wp.lang))
        ax.plot(years, -limit, color="black", lw=0.8, ls="--")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xlim(years[0], wp.until)
        ax.set_title(_ylabel(key, wp.lang), fontsize=8.5)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(tr("comp_effect", wp.lang))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False, bbox_to_anchor=(0.5, 0.045))
    source = tr("source", wp.lang, n=wp.members.sizes["member"], fitted=wp.fit_report.name,
                extra=tr("comp_source", wp.lang, n=len(comp.design.cells)))
    return finish(fig, tr("comp_title", wp.lang), source, bottom=0.1)


#: Figure name → function, in report order.
FIGURES: dict[str, Callable[[Whitepaper], Figure | None]] = {
    "capital_share": fig_capital_share,
    "population_change": fig_population_change,
    "age_pyramids": fig_age_pyramids,
    "extinction_risk_tiles": fig_extinction_tiles,
    "births_tfr": fig_births_tfr,
    "fiscal_autonomy": fig_fiscal_autonomy,
    "tax_ratio": fig_tax_ratio,
    "innovation_grdp": fig_innovation_grdp,
    "disparity": fig_disparity,
    "complementarity": fig_complementarity,
    "calibration_fit": fig_calibration,
    "backtest": fig_backtest,
}


def figure_texts(fig: Figure) -> list[str]:
    """Every text drawn on a figure (titles, labels, tick labels, legends, notes)."""
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return [t for t in texts if t]


__all__ = ["FIGURES", "SCENARIO_COLOURS", "TILE_GRID", "band", "figure_texts", "finish", "new_figure", "save_figure", "source_line", "scenario_colour", "tr"]
