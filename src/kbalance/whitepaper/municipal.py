"""The white paper's municipal (시군구) section: the municipal layer on every ensemble
member of every scenario, its results, tables, figures and the page section.

Every member's ``Population`` is handed to :func:`kbalance.municipal.layer.member_summary`
inside the ensemble chunk (:func:`member_reduce`), so only counts and the index of the map
years leave the chunk. Maps show the ensemble median of the index per municipality; the
count at risk is shown with its 5–95 % and 25–75 % bands over members.
"""

from __future__ import annotations

import base64
import html
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from kbalance.fonts import use_korean_font
from kbalance.municipal.indicators import (POPULATION_THRESHOLDS, crossings, extinction_index, index_indicator,
                                           risk_bounds)
from kbalance.municipal.layer import channel_variables, member_summary, observed_and_ratios
from kbalance.municipal.maps import index_maps
from kbalance.municipal.projection import HALF_LIFE, age_groups
from kbalance.observations.keyed import municipalities
from kbalance.regions import region_name
from kbalance.whitepaper.analysis import QUANTILE_NAMES, Whitepaper, member_indicators, scenario_label, summarize

#: Projected years of the maps (the latest observed December is shown beside them) [year].
MAP_YEARS = (2040, 2050, 2070)
#: Prefix of the municipal variables in an ensemble chunk.
PREFIX = "municipal_"
#: Year of the crossing table [year] (the latest map year the run reaches).
CROSSING_YEAR = 2050

TEXT = {
    "intro": (("The regional population of every member is distributed over the 229 시군구 by cohort-change ratios "
               "({first}–{last}) damped toward their region's ratios (half-life {half_life:g} years) and raked to the "
               "region by sex and 5-year age group every year (docs/municipal.md). Within a region, the extinction "
               "fund per resident raises the ratios of the designated areas and relocated public staff those of "
               "the innovation-city hosts, by strengths estimated on 2015–2025 (model/municipal.toml); the region's "
               "total stays the regional model's."),
              ("각 앙상블 구성원의 시도 인구를 229개 시군구에 코호트 변화율({first}–{last}년, 시도 비율로 반감기 {half_life:g}년 수렴)로 "
               "배분하고, 매년 성·5세 연령군별로 시도 합계에 맞추었습니다(docs/municipal.md). 시도 안에서는 주민 1인당 "
               "지방소멸대응기금이 인구감소지역·관심지역의 비율을, 이전 공공기관 인원이 혁신도시 소재 시군구의 비율을 "
               "2015–2025년 자료로 추정한 강도(model/municipal.toml)만큼 높이며, 시도 합계는 시도 모형의 값을 유지합니다.")),
    "map": ("Extinction risk index by 시군구 (ensemble median)", "시군구별 소멸위험지수 (앙상블 중앙값)"),
    "observed": ("December {y} (observed)", "{y}년 12월 (관측)"),
    "counts": ("Municipalities at risk (index < {risk}) and at high risk (< {high})",
               "소멸위험 (지수 < {risk}) 및 소멸고위험 (< {high}) 시군구 수"),
    "at_risk": ("at risk", "소멸위험"), "high_risk": ("high risk", "소멸고위험"),
    "into_risk": ("into risk (< {risk})", "소멸위험 진입 (< {risk})"),
    "into_high_risk": ("into high risk (< {high})", "소멸고위험 진입 (< {high})"),
    "out_of_risk": ("out of risk (≥ {risk})", "소멸위험 탈출 (≥ {risk})"),
    "depopulation_area": ("depopulation areas", "인구감소지역"), "area_of_concern": ("areas of concern", "관심지역"),
    "designated": ("all designated", "지정지역 전체"),
    "population_of": ("population, {group} [thousand]", "인구, {group} [천 명]"),
    "index_of": ("index, {group}", "소멸위험지수, {group}"),
    "below": ("municipalities below {n:,} residents", "인구 {n:,}명 미만 시군구"),
    "scenario": ("scenario", "시나리오"), "year_column": ("year", "연도"),
    "count_axis": ("municipalities (of 229)", "시군구 수 (229개 중)"),
    "year": ("Year (1 January)", "연도 (1월 1일 기준)"),
    "bands": ("lines: ensemble median; bands: 5–95 % and 25–75 %", "선: 앙상블 중앙값, 음영: 5–95 % 및 25–75 % 구간"),
    "groups": ("Designated areas and small municipalities: median [5–95 %]",
               "인구감소지역·관심지역과 소규모 시군구: 중앙값 [5–95 %]"),
    "crossings": ("Municipalities whose class changes from December {start} to {end} (ensemble median index)",
                  "{start}년 12월 대비 {end}년 위험 등급이 바뀌는 시군구 (앙상블 중앙값 지수)"),
    "timing": ("The municipal layer took {s:.1f} s for {n:,} members × {k} scenarios.",
               "시군구 계층 계산 시간: {s:.1f}초 (구성원 {n:,}개 × 시나리오 {k}개)."),
}


def tr(key: str, lang: str, **kwargs) -> str:
    """Text ``key`` of the section in ``lang``."""
    text = TEXT[key][lang == "ko"]
    return text.format(**kwargs) if kwargs else text


def map_years(until: int) -> list[int]:
    """The projected years of the maps: :data:`MAP_YEARS` before ``until``, and ``until``."""
    return [*[y for y in MAP_YEARS if y < until], until]


def member_reduce(ds: xr.Dataset) -> xr.Dataset:
    """The white paper's indicators of an ensemble chunk (holding ``Population`` and the
    variables of :func:`kbalance.municipal.layer.channel_variables`) and its municipal counts (prefixed
    :data:`PREFIX`), with the index of the map years per municipality and the time the
    layer took, shared over the chunk's members (``municipal_seconds`` [s])."""
    policy = {name: ds[name] for name in channel_variables()}
    indicators = member_indicators(ds.drop_vars("Population"))
    start = time.perf_counter()
    municipal = member_summary(ds["Population"], map_years(int(ds["year"].max())), policy=policy)
    seconds = (time.perf_counter() - start) / ds.sizes["member"]
    municipal["seconds"] = xr.full_like(municipal["member"], seconds, dtype=float)
    municipal = municipal.rename({v: PREFIX + v for v in municipal.data_vars}).rename(year="municipal_year")
    return xr.merge([indicators, municipal])


def split_municipal(members: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, float]:
    """(the indicators, the municipal variables without their prefix over ``year``, the
    layer's total time [s])."""
    names = [v for v in members.data_vars if v.startswith(PREFIX)]
    municipal = members[names].rename({v: v.removeprefix(PREFIX) for v in names}).rename(municipal_year="year")
    seconds = float(municipal["seconds"].sum())
    indicators = members.drop_vars(names).drop_dims(["municipal_year", "index_year", "sgg_code", "group"], errors="ignore")
    return indicators, municipal.drop_vars("seconds"), seconds


def median_index(wp: Whitepaper) -> pd.DataFrame:
    """The median index of every municipality, scenario and map year, and the observed
    index of the latest December: columns scenario, sgg_code, sgg_name, region, year,
    extinction_index (the observed rows carry scenario ``observed``)."""
    labels = age_groups(wp.bestfit["Age"].values)[0]
    observed, _ = observed_and_ratios(labels)
    table = municipalities()
    median = wp.municipal["extinction_index"].median("member").to_dataframe().reset_index()
    median = median.rename(columns={"index_year": "year"})
    latest = observed.isel(year=-1).transpose("sgg_code", "sex", "age_group")
    obs = pd.DataFrame({"scenario": "observed", "sgg_code": latest["sgg_code"].values, "year": int(observed["year"].max()),
                        "extinction_index": extinction_index(latest.values, labels)})
    out = pd.concat([obs, median[["scenario", "sgg_code", "year", "extinction_index"]]], ignore_index=True)
    return out.assign(sgg_name=out["sgg_code"].map(table["sgg_name"]), region=out["sgg_code"].map(table["region_code"]))


def fig_maps(wp: Whitepaper, index: pd.DataFrame) -> Figure:
    """Maps of the index: the latest observed December, then the map years, one row per scenario."""
    use_korean_font()
    observed = index[index["scenario"] == "observed"]
    panels = {}
    for scenario in wp.municipal["scenario"].values:
        row = scenario_label(str(scenario), wp.lang)
        if scenario == wp.municipal["scenario"].values[0]:
            panels[(row, tr("observed", wp.lang, y=int(observed["year"].iloc[0])))] = observed.set_index("sgg_code")["extinction_index"]
        for year in wp.municipal["index_year"].values:
            rows = index[(index["scenario"] == scenario) & (index["year"] == year)]
            panels[(row, str(int(year)))] = rows.set_index("sgg_code")["extinction_index"]
    return index_maps(panels, wp.lang, tr("map", wp.lang))


def fig_counts(wp: Whitepaper) -> Figure:
    """The counts at risk and at high risk over time, median and bands, by scenario."""
    use_korean_font()
    high, risk = risk_bounds()
    q = summarize(wp.municipal[["at_risk", "high_risk"]])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes, ("at_risk", "high_risk")):
        for i, scenario in enumerate(q["scenario"].values):
            s = q[key].sel(scenario=scenario)
            years, colour = s["year"].values, colours[i % len(colours)]
            ax.fill_between(years, s.sel(quantile="q05"), s.sel(quantile="q95"), color=colour, alpha=0.12, lw=0)
            ax.fill_between(years, s.sel(quantile="q25"), s.sel(quantile="q75"), color=colour, alpha=0.22, lw=0)
            ax.plot(years, s.sel(quantile="q50"), color=colour, lw=1.4, label=scenario_label(str(scenario), wp.lang))
        ax.set_title(tr(key, wp.lang), fontsize=10)
        ax.set_xlabel(tr("year", wp.lang))
        ax.set_ylim(0, 229)
    axes[0].set_ylabel(tr("count_axis", wp.lang))
    axes[1].legend(frameon=False, fontsize=7)
    fig.suptitle(tr("counts", wp.lang, risk=risk, high=high) + "\n" + tr("bands", wp.lang), fontsize=10)
    fig.tight_layout()
    return fig


def group_table(wp: Whitepaper, years) -> pd.DataFrame:
    """Median [5–95 %] of the designated groups' population and index and of the counts
    below each population threshold, by scenario and year."""
    q = summarize(wp.municipal[["designated_population", "designated_index",
                                *[f"below_{n}" for n in POPULATION_THRESHOLDS]]].sel(year=list(years)))
    rows = []
    for scenario in q["scenario"].values:
        for year in years:
            at = q.sel(scenario=scenario, year=year)
            lang = wp.lang
            row = {tr("scenario", lang): scenario_label(str(scenario), lang), tr("year_column", lang): year}
            for group in at["group"].values:
                name = tr(str(group), lang)
                row[tr("population_of", lang, group=name)] = band(at["designated_population"].sel(group=group) / 1e3, 0)
                row[tr("index_of", lang, group=name)] = band(at["designated_index"].sel(group=group), 3)
            for n in POPULATION_THRESHOLDS:
                row[tr("below", lang, n=n)] = band(at[f"below_{n}"], 0)
            rows.append(row)
    return pd.DataFrame(rows)


def band(values: xr.DataArray, digits: int) -> str:
    """``median [q05, q95]`` of a quantile array."""
    q = {name: float(values.sel(quantile=name)) for name in QUANTILE_NAMES}
    return f"{q['q50']:.{digits}f} [{q['q05']:.{digits}f}, {q['q95']:.{digits}f}]"


def crossing_year(shown: list[int]) -> int:
    """The year of the crossing table: the latest map year up to :data:`CROSSING_YEAR`."""
    return max([y for y in shown if y <= CROSSING_YEAR] or shown[:1])


def crossing_table(index: pd.DataFrame, year: int) -> pd.DataFrame:
    """Per scenario, the municipalities whose class changes between the latest observed
    December and ``year`` (:func:`kbalance.municipal.indicators.crossings`)."""
    observed = index[index["scenario"] == "observed"]
    start = int(observed["year"].iloc[0])
    frames = []
    for scenario in index.loc[index["scenario"] != "observed", "scenario"].unique():
        rows = index[index["scenario"] == scenario]
        both = pd.concat([observed.assign(scenario=scenario), rows[rows["year"] == year]])
        frames.append(crossings(both, start, year))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def crossing_summary(cross: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Per scenario and kind of crossing: the number of municipalities and their names."""
    high, risk = risk_bounds()
    rows = []
    for (scenario, kind), group in cross.groupby(["scenario", "crossing"], sort=False):
        names = sorted(f"{n} ({region_name(str(r), lang)})" for n, r in zip(group["sgg_name"], group["region"]))
        rows.append({"scenario": scenario_label(str(scenario), lang), "crossing": tr(kind.replace(" ", "_"), lang, risk=risk, high=high),
                     "count": len(group), "municipalities": ", ".join(names)})
    return pd.DataFrame(rows)


def write_section(wp: Whitepaper, folder: Path) -> Whitepaper:
    """Results (results/municipal_summary.nc/.csv, results/municipal_index.csv), tables
    (tables/municipal_groups.csv, municipal_crossings.csv) and figures of the section into
    the white-paper ``folder``; returns ``wp`` with them."""
    if wp.municipal is None:
        return wp
    summary = summarize(wp.municipal.drop_vars("extinction_index"))
    summary.to_netcdf(folder / "results" / "municipal_summary.nc")
    summary.drop_dims("group").to_dataframe().reset_index().to_csv(folder / "results" / "municipal_summary.csv",
                                                                  index=False, float_format="%.8g")
    index = median_index(wp)
    index.to_csv(folder / "results" / "municipal_index.csv", index=False, float_format="%.6g")
    shown = [int(y) for y in wp.municipal["index_year"].values]
    years = [y for y in dict.fromkeys((2030, *shown)) if y in wp.municipal["year"].values]
    tables = {"municipal_groups": group_table(wp, years),
              "municipal_crossings": crossing_table(index, crossing_year(shown))}
    for name, table in tables.items():
        table.to_csv(folder / "tables" / f"{name}.csv", index=False)
    figures = dict(wp.figures)
    for name, fig in (("municipal_map", fig_maps(wp, index)), ("municipal_counts", fig_counts(wp))):
        path = folder / "figures" / f"{name}.png"
        fig.savefig(path, dpi=200)
        plt.close(fig)
        figures[name] = path
    return replace(wp, tables={**wp.tables, **tables}, figures=figures)


def figure_html(path: Path, caption: str) -> str:
    """A PNG embedded as base64 with its caption."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{html.escape(caption, quote=True)}\">"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def municipal_html(wp: Whitepaper) -> str:
    """The section of the page (empty when the white paper ran without the layer)."""
    if wp.municipal is None or "municipal_map" not in wp.figures:
        return ""
    lang = wp.lang
    high, risk = risk_bounds()
    window = observed_and_ratios(age_groups(wp.bestfit["Age"].values)[0])[1].window
    parts = [f"<p>{tr('intro', lang, half_life=HALF_LIFE, first=window[0], last=window[1])}</p>",
             figure_html(wp.figures["municipal_map"], tr("map", lang)),
             figure_html(wp.figures["municipal_counts"], tr("counts", lang, risk=risk, high=high)),
             f"<h3>{tr('groups', lang)}</h3>", wp.tables["municipal_groups"].to_html(index=False, border=0)]
    cross = wp.tables["municipal_crossings"]
    if not cross.empty:
        counts = crossing_summary(cross, lang)
        years = median_years(wp)
        parts += [f"<h3>{tr('crossings', lang, start=years[0], end=crossing_year(years[1:]))}</h3>",
                  counts.to_html(index=False, border=0)]
    if np.isfinite(wp.municipal_seconds):
        parts.append(f"<p class='meta'>{tr('timing', lang, s=wp.municipal_seconds, n=wp.municipal.sizes['member'], k=wp.municipal.sizes['scenario'])}</p>")
    parts.append(f"<p class='meta'>{html.escape(index_indicator().label(lang))}: "
                 + ", ".join(html.escape(c) for c in index_indicator().class_labels(lang)) + "</p>")
    return "\n".join(parts)


def median_years(wp: Whitepaper) -> list[int]:
    """The latest observed December and the map years the white paper reaches."""
    labels = age_groups(wp.bestfit["Age"].values)[0]
    observed, _ = observed_and_ratios(labels)
    return [int(observed["year"].max()), *[int(y) for y in wp.municipal["index_year"].values]]
