"""The explorer's views as Bokeh figures whose data sources are replaced on each run.

Every view shows the current lever state against the baseline and up to three saved
comparisons: the capital-region share, births and the TFR as time series (with the
ensemble band when it is ready), population by region and by 5+3 bloc, fiscal
autonomy by region, the extinction index of the 229 시군구 as a choropleth (the
municipal layer of the same run, class colours of kbalance.municipal.maps) with the
municipalities at risk against the baseline, and an age pyramid with the baseline
outline. The ``*_data`` functions are pure: they turn projections into the columns of a
source.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import xarray as xr
from bokeh.models import ColumnDataSource, CustomJSTickFormatter, HoverTool
from bokeh.plotting import figure

from kbalance.explorer.compute import (BLOC_KEY, SERIES_KEYS, blocs, classes, municipal_counts, municipal_index,
                                       municipal_year, pyramid, regional, series)
from kbalance.model.indicators import indicator
from kbalance.municipal.indicators import INDEX_KEY, index_indicator, risk_bounds
from kbalance.municipal.maps import NO_VALUE, RISK_COLOURS, boundary_file, outlines
from kbalance.observations.keyed import municipalities
from kbalance.regions import BLOCS, load_regions, region_codes, region_name

MAX_SAVED = 3
BASELINE_COLOUR, CURRENT_COLOUR = "#4d4d4d", "#c7302a"
SAVED_COLOURS = ("#1f6fb4", "#2e9e44", "#8a5cb8")
FIRST_SHOWN_YEAR = 2015  # time series start here [year]
MAP_LATITUDE = 36.0  # longitudes are scaled by its cosine, so that the map keeps its shape [degree]
FONT = "NanumGothic"  # bundled with koreanize-matplotlib (kbalance.fonts); served by the explorer

#: Words of the interface (English, Korean); indicator and region names come from their files.
TEXT = {
    "title": ("kbalance policy explorer", "kbalance 정책 탐색기"),
    "baseline": ("Baseline", "기준선"),
    "current": ("This setting", "현재 설정"),
    "band": ("5-95 % of ensemble", "앙상블 5-95 %"),
    "saved": ("Saved", "저장"),
    "levers": ("Levers", "정책 수단"),
    "target": ("target", "목표"),
    "start": ("start year", "시작 연도"),
    "ramp": ("ramp [years]", "도달 기간 [년]"),
    "scenario": ("Shipped scenario", "제공 시나리오"),
    "upload": ("Scenario file (.toml)", "시나리오 파일 (.toml)"),
    "reset": ("Reset to baseline", "기준선으로"),
    "save": ("Save for comparison", "비교용 저장"),
    "clear": ("Clear saved", "저장 지우기"),
    "export": ("Export scenario TOML", "시나리오 TOML 내보내기"),
    "region": ("Region of the age pyramid", "인구 피라미드 지역"),
    "year": ("Year of the regional views", "지역별 보기 연도"),
    "members": ("Ensemble members in the band", "불확실성 띠 앙상블 수"),
    "computing": ("computing …", "계산 중 …"),
    "band_wait": ("band: computing {n} members …", "불확실성 띠: {n}개 계산 중 …"),
    "band_ready": ("band: {n} members", "불확실성 띠: {n}개"),
    "male": ("Male", "남"),
    "female": ("Female", "여"),
    "age": ("age", "연령"),
    "persons": ("persons", "명"),
    "pyramid": ("Age pyramid", "인구 피라미드"),
    "change": ("Change against the baseline", "기준선 대비 변화"),
    "region_col": ("Region", "지역"),
    "versions": ("made with model {model}, fitted set {fitted}; this is model {now_model}, fitted set {now_fitted}",
                 "모델 {model}, 추정 세트 {fitted}로 만든 링크입니다. 현재: 모델 {now_model}, 추정 세트 {now_fitted}"),
    "demography": ("Demographic variant (national TFR and migration)", "인구 변이 (전국 출산율과 국제 이동)"),
    "default": ("default", "기본"),
    "map": ("Extinction risk index, 229 municipalities, {year}", "시군구 229곳 소멸위험지수, {year}"),
    "map_counts": ("at risk (< {risk}): {n} (baseline {n0})\nhigh risk (< {high}): {h} (baseline {h0})",
                   "소멸위험 (< {risk}): {n}곳 (기준선 {n0})\n고위험 (< {high}): {h}곳 (기준선 {h0})"),
    "map_higher": ("index above the baseline in {up}, below in {down}", "지수가 기준선보다 높은 곳 {up}, 낮은 곳 {down}"),
    "at_risk": ("Municipalities at risk (upper) and high risk [of 229]", "소멸위험(위)·고위험 시군구 [229곳 중]"),
    "municipality": ("Municipality", "시군구"),
}


def tr(key: str, lang: str, **kwargs) -> str:
    """The interface text ``key`` in ``lang``, formatted with ``kwargs``."""
    text = TEXT[key][0 if lang == "en" else 1]
    return text.format(**kwargs) if kwargs else text


def label(key: str, lang: str) -> str:
    """An indicator's short label with its unit, from model/indicators.toml."""
    ind = indicator(key)
    return f"{ind.short(lang)} [{ind.unit(lang)}]"


def short_names(lang: str) -> dict[str, str]:
    """Region names for bars and map labels: the short Korean name, or the English name."""
    table = load_regions()
    return dict(table["short_ko" if lang == "ko" else "name_en"].items())


def group_names(groups: Sequence[str], lang: str) -> list[str]:
    """Names of regions (short ones, :func:`short_names`) or of 5+3 blocs."""
    short = short_names(lang)
    return [short.get(g) or region_name(g, lang) for g in groups]


# ---------------------------------------------------------------------------
# Data of the sources
# ---------------------------------------------------------------------------


def series_data(ds: xr.Dataset | None, key: str) -> dict[str, list]:
    """Columns year, value of one national indicator (empty without a projection)."""
    if ds is None:
        return {"year": [], "value": []}
    values = series(ds, key).loc[FIRST_SHOWN_YEAR:]
    return {"year": values.index.tolist(), "value": values.tolist()}


def band_data(band: xr.Dataset | None, key: str) -> dict[str, list]:
    """Columns year, low (5 %), high (95 %) of a band (empty without one)."""
    if band is None:
        return {"year": [], "low": [], "high": []}
    values = band[key].sel(year=slice(FIRST_SHOWN_YEAR, None))
    return {"year": values["year"].values.tolist(), "low": values.isel(quantile=0).values.tolist(),
            "high": values.isel(quantile=-1).values.tolist()}


def bar_data(ds: xr.Dataset | None, key: str, year: int, lang: str) -> dict[str, list]:
    """Columns name, value of a regional indicator (or of the 5+3 blocs for
    :data:`BLOC_KEY`) in ``year``."""
    if key == BLOC_KEY:
        groups = list(BLOCS)
        values = blocs(ds, year).tolist() if ds is not None else [float("nan")] * len(groups)
    else:
        groups = region_codes()
        values = regional(ds, key, year).tolist() if ds is not None else [float("nan")] * len(groups)
    return {"name": group_names(groups, lang), "value": values}


@lru_cache(maxsize=1)
def municipal_shapes() -> dict[str, list]:
    """The 229 시군구 of the boundary file as Bokeh multi-polygons, one entry each:
    columns code (sgg_code), xs and ys (longitude × cos :data:`MAP_LATITUDE`, latitude
    [degree]; outer rings only, as kbalance.municipal.maps draws them)."""
    codes, rings = outlines(str(boundary_file()))
    grouped: dict[str, list[np.ndarray]] = {}
    for code, ring in zip(codes, rings):
        grouped.setdefault(code, []).append(ring)
    scale = np.cos(np.radians(MAP_LATITUDE))
    return {"code": list(grouped),
            "xs": [[[ring[:, 0] * scale] for ring in parts] for parts in grouped.values()],
            "ys": [[[ring[:, 1]] for ring in parts] for parts in grouped.values()]}


def municipal_names(codes: Sequence[str], lang: str) -> list[str]:
    """Names of the 시군구 ``codes`` with their region's short name (Korean names only exist)."""
    table = municipalities()
    region = short_names(lang)
    return [f"{region[table.at[c, 'region_code']]} {table.at[c, 'sgg_name']}" if lang == "ko"
            else f"{table.at[c, 'sgg_name']}, {region[table.at[c, 'region_code']]}" for c in codes]


def municipal_colours(values: pd.Series) -> list[str]:
    """The class colour of the index of each value (:data:`NO_VALUE` for NaN)."""
    cls = classes(values, INDEX_KEY)
    return [RISK_COLOURS[int(k)] if np.isfinite(v) else NO_VALUE for k, v in zip(cls, values)]


def municipal_data(ds: xr.Dataset, baseline: xr.Dataset, year: int) -> dict[str, list]:
    """Columns value, baseline (the index [1] in the map's year, :func:`municipal_year`)
    and colour of every entry of :func:`municipal_shapes`."""
    codes = municipal_shapes()["code"]
    now = municipal_index(ds, year).reindex(codes)
    base = municipal_index(baseline, year).reindex(codes)
    return {"value": now.tolist(), "baseline": base.tolist(), "colour": municipal_colours(now)}


#: The counts of the municipal layer drawn over time: source prefix → variable of the projection.
COUNTS = {"at_risk": "municipalities at risk", "high_risk": "municipalities at high risk"}


def count_data(ds: xr.Dataset | None, name: str = COUNTS["at_risk"]) -> dict[str, list]:
    """Columns year, value of a count of :data:`COUNTS` (empty without a projection)."""
    if ds is None:
        return {"year": [], "value": []}
    counts = municipal_counts(ds, name)
    return {"year": counts.index.tolist(), "value": counts.tolist()}


def map_title(ds: xr.Dataset, baseline: xr.Dataset, year: int, lang: str) -> str:
    """The map's title: its year, the municipalities at risk and at high risk against the
    baseline, and how many have an index above and below the baseline's."""
    shown = municipal_year(ds, year)
    change = municipal_index(ds, year) - municipal_index(baseline, year)
    high, risk = risk_bounds()

    def count(d, prefix):
        return int(municipal_counts(d, COUNTS[prefix]).loc[shown])

    counts = tr("map_counts", lang, risk=risk, high=high, n=count(ds, "at_risk"), n0=count(baseline, "at_risk"),
                h=count(ds, "high_risk"), h0=count(baseline, "high_risk"))
    higher = tr("map_higher", lang, up=int((change > 0).sum()), down=int((change < 0).sum()))
    return f"{tr('map', lang, year=shown)}\n{counts}\n{higher}"


def pyramid_data(ds: xr.Dataset, region: str, year: int) -> dict[str, list]:
    """Columns age, male (negative, drawn left) and female of a region's age pyramid."""
    table = pyramid(ds, region, year)
    return {"age": table.index.tolist(), "male": (-table["Male"]).tolist(), "female": table["Female"].tolist()}


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def _figure(title: str, **kwargs):
    fig = figure(title=title, height=kwargs.pop("height", 260), sizing_mode="stretch_width",
                 toolbar_location=None, **kwargs)
    fig.title.text_font_size = "12px"
    fig.title.text_font = FONT
    for axis in fig.axis:
        axis.axis_label_text_font = axis.major_label_text_font = FONT
    return fig


def _legend_font(fig) -> None:
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "10px"
    fig.legend.label_text_font = FONT


class Views:
    """The explorer's figures and their sources, in one language."""

    def __init__(self, lang: str):
        self.lang = lang
        self.sources: dict[str, ColumnDataSource] = {}
        self.figures = {key: self.series_figure(key) for key in SERIES_KEYS}
        bars = (("region_population", region_codes()), (BLOC_KEY, BLOCS), ("region_fiscal_autonomy", region_codes()))
        for key, groups in bars:
            self.figures[key] = self.bar_figure(key, groups)
        self.figures["map"] = self.map_figure()
        self.figures["at_risk"] = self.count_figure()
        self.figures["pyramid"] = self.pyramid_figure()

    def source(self, name: str, data: dict) -> ColumnDataSource:
        """A named source (the name lets a browser test read the plotted values)."""
        self.sources[name] = ColumnDataSource(data, name=name)
        return self.sources[name]

    def series_figure(self, key: str):
        fig = _figure(label(key, self.lang), x_axis_label=None)
        fig.varea("year", "low", "high", source=self.source(f"{key}_band", band_data(None, key)),
                  fill_color=CURRENT_COLOUR, fill_alpha=0.15, legend_label=tr("band", self.lang))
        fig.line("year", "value", source=self.source(f"{key}_baseline", series_data(None, key)),
                 color=BASELINE_COLOUR, line_width=2, legend_label=tr("baseline", self.lang))
        for i, colour in enumerate(SAVED_COLOURS):
            fig.line("year", "value", source=self.source(f"{key}_saved{i}", series_data(None, key)),
                     color=colour, line_dash="dashed", line_width=1.5)
        fig.line("year", "value", source=self.source(f"{key}_current", series_data(None, key)),
                 color=CURRENT_COLOUR, line_width=2.5, legend_label=tr("current", self.lang))
        _legend_font(fig)
        return fig

    def bar_figure(self, key: str, groups: Sequence[str]):
        names = group_names(groups, self.lang)[::-1]
        fig = _figure(label(key, self.lang), y_range=names, height=90 + 18 * len(names))
        empty = {"name": [], "value": []}
        fig.hbar(y="name", right="value", height=0.7, source=self.source(f"{key}_current", empty),
                 color=CURRENT_COLOUR, alpha=0.75)
        fig.scatter(x="value", y="name", source=self.source(f"{key}_baseline", empty), marker="dash", size=14,
                    line_width=3, color=BASELINE_COLOUR)
        for i, colour in enumerate(SAVED_COLOURS):
            fig.scatter(x="value", y="name", source=self.source(f"{key}_saved{i}", empty), marker="circle",
                        size=6, color=colour)
        return fig

    def map_figure(self):
        """The 시군구 choropleth: the shapes are sent once, the values and colours on each run."""
        shapes = municipal_shapes()
        empty = [float("nan")] * len(shapes["code"])
        data = {**shapes, "name": municipal_names(shapes["code"], self.lang), "value": empty, "baseline": empty,
                "colour": [NO_VALUE] * len(empty)}
        fig = _figure(tr("map", self.lang, year=""), height=520, match_aspect=True)
        fig.multi_polygons("xs", "ys", source=self.source("municipal_map", data), fill_color="colour",
                           line_color="white", line_width=0.3, name="municipal_patches")
        ind = index_indicator()
        for colour, text in zip(RISK_COLOURS, ind.class_labels(self.lang)):
            fig.scatter([np.nan], [np.nan], marker="square", size=10, color=colour, legend_label=text)  # legend only
        fig.add_tools(HoverTool(tooltips=[(tr("municipality", self.lang), "@name"),
                                          (ind.short(self.lang), f"@value{{0.{'0' * ind.digits}}}"),
                                          (tr("baseline", self.lang), f"@baseline{{0.{'0' * ind.digits}}}")]))
        _legend_font(fig)
        fig.legend.location = "bottom_right"
        fig.axis.visible = False
        fig.grid.visible = False
        return fig

    def count_figure(self):
        """Municipalities at risk and at high risk by year: this setting, the baseline and the saved ones."""
        fig = _figure(tr("at_risk", self.lang), height=240)
        for prefix, width in (("at_risk", 2.5), ("high_risk", 1.5)):
            fig.line("year", "value", source=self.source(f"{prefix}_baseline", count_data(None)),
                     color=BASELINE_COLOUR, line_width=width, legend_label=tr("baseline", self.lang))
            for i, colour in enumerate(SAVED_COLOURS):
                fig.line("year", "value", source=self.source(f"{prefix}_saved{i}", count_data(None)), color=colour,
                         line_dash="dashed", line_width=width - 1)
            fig.line("year", "value", source=self.source(f"{prefix}_current", count_data(None)), color=CURRENT_COLOUR,
                     line_width=width, legend_label=tr("current", self.lang))
        _legend_font(fig)
        fig.legend.location = "bottom_right"
        return fig

    def pyramid_figure(self):
        fig = _figure(tr("pyramid", self.lang), height=330, x_axis_label=tr("persons", self.lang),
                      y_axis_label=tr("age", self.lang))
        empty = {"age": [], "male": [], "female": []}
        current = self.source("pyramid_current", empty)
        fig.hbar(y="age", left="male", right=0, height=0.9, source=current, color="#4a7fb5",
                 legend_label=tr("male", self.lang))
        fig.hbar(y="age", left=0, right="female", height=0.9, source=current, color="#c7605a",
                 legend_label=tr("female", self.lang))
        base = self.source("pyramid_baseline", empty)
        for side in ("male", "female"):
            fig.step(x=side, y="age", source=base, mode="center", color=BASELINE_COLOUR, line_width=1.2,
                     legend_label=tr("baseline", self.lang))
        _legend_font(fig)
        fig.legend.location = "top_right"
        fig.xaxis.formatter = CustomJSTickFormatter(code="return Math.abs(tick).toLocaleString()")
        return fig

    def update(self, current: xr.Dataset, baseline: xr.Dataset, saved: Sequence[xr.Dataset | None],
               region: str, year: int) -> None:
        """Replace every source's data (the band's too, emptied until it is recomputed)."""
        saved = list(saved) + [None] * (MAX_SAVED - len(saved))
        for key in SERIES_KEYS:
            self.sources[f"{key}_current"].data = series_data(current, key)
            self.sources[f"{key}_baseline"].data = series_data(baseline, key)
            self.sources[f"{key}_band"].data = band_data(None, key)
            for i, ds in enumerate(saved):
                self.sources[f"{key}_saved{i}"].data = series_data(ds, key)
        for key in ("region_population", BLOC_KEY, "region_fiscal_autonomy"):
            self.sources[f"{key}_current"].data = bar_data(current, key, year, self.lang)
            self.sources[f"{key}_baseline"].data = bar_data(baseline, key, year, self.lang)
            for i, ds in enumerate(saved):
                self.sources[f"{key}_saved{i}"].data = bar_data(ds, key, year, self.lang)
        self.sources["municipal_map"].data.update(municipal_data(current, baseline, year))
        self.figures["map"].title.text = map_title(current, baseline, year, self.lang)
        for prefix, name in COUNTS.items():
            self.sources[f"{prefix}_current"].data = count_data(current, name)
            self.sources[f"{prefix}_baseline"].data = count_data(baseline, name)
            for i, ds in enumerate(saved):
                self.sources[f"{prefix}_saved{i}"].data = count_data(ds, name)
        self.sources["pyramid_current"].data = pyramid_data(current, region, year)
        self.sources["pyramid_baseline"].data = pyramid_data(baseline, region, year)

    def update_band(self, band: xr.Dataset | None) -> None:
        """Show the ensemble band (or hide it with None)."""
        for key in SERIES_KEYS:
            self.sources[f"{key}_band"].data = band_data(band, key)


def change_frame(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The change table of kbalance.explorer.compute.change_table with region names and
    labelled, rounded columns."""
    out = pd.DataFrame(index=[region_name(c, lang) for c in table.index])
    out.index.name = tr("region_col", lang)
    for key in ("region_population", "region_fiscal_autonomy", "region_extinction_index"):
        ind = indicator(key)
        out[label(key, lang)] = table[key].round(ind.digits).to_numpy()
        unit = "%" if key == "region_population" else ind.unit(lang)
        out[f"Δ {ind.short(lang)} [{unit}]"] = table[f"{key}_change"].round(ind.digits + 1).to_numpy()
    return out


__all__ = [
    "COUNTS", "FONT", "MAP_LATITUDE", "MAX_SAVED", "TEXT", "Views", "band_data", "bar_data", "change_frame", "count_data",
    "group_names", "label", "map_title", "municipal_colours", "municipal_data", "municipal_names", "municipal_shapes",
    "pyramid_data", "series_data", "short_names", "tr",
]
