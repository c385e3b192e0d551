"""The white paper: every shipped scenario on the constrained ensemble, tables, figures, report.

``kbalance whitepaper`` runs each scenario of ``model/scenarios/`` with the members of the
latest constrained ensemble (``calibration/fitted/v<N>-ensemble.csv``; the same members for
every scenario, so differences between scenarios are paired) and once with the best-fit set
(for full-detail variables such as age pyramids). It writes one new folder::

    manifest.json            command, hashes of scenarios, fitted set, ensemble, model and data,
                             versions, members, timings, the sensitivity folder used
    results/                 ensemble_summary.nc/.csv (quantiles by scenario, year, region),
                             bestfit.nc/.csv (the best-fit run of every scenario)
    tables/                  CSV tables and tables.xlsx (one sheet each)
    figures/                 PNG (300 dpi) and SVG
    report.html              one self-contained page

The folder is written to a hidden temporary sibling and renamed at the end, so a failed or
interrupted run leaves nothing behind. Figures live in :mod:`kbalance.figures`; the page is
assembled here.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import kbalance
from kbalance.calibrate import (
    ensemble_path,
    latest_ensemble_set,
    read_ensemble,
    target_goals,
)
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.paths import (
    calibration_dir,
    check_new_folder,
    model_dir,
    outputs_dir,
    project_root,
    write_new_folder,
)
from kbalance.regions import BLOCS, load_regions, region_name
from kbalance.run import (
    ParameterSet,
    data_hash,
    file_hash,
    model_hash,
    netcdf_ready,
    package_versions,
    read_parameter_set,
    results_long,
)
from kbalance.scenarios import Scenario, list_scenarios, read_scenario

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

LANGS = ("ko", "en")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
QUANTILE_NAMES = ("q05", "q25", "q50", "q75", "q95")
TABLE_YEARS = (2030, 2040, 2050, 2070)
PYRAMID_REGIONS = ("11", "31", "36", "37", "29")  # Seoul, Gyeonggi, Jeonnam, Gyeongbuk, Sejong
PYRAMID_YEARS = (2024, 2050, 2070)
TILE_YEARS = (2024, 2040, 2050, 2070)
#: Extinction risk index below which a region is "at risk" (women 20-39 / residents 65+) [R96].
RISK_THRESHOLD = 0.5
#: The paired scenarios of the complementarity analysis and the derived pure combination.
BASE, FIRST, SECOND, COMBINED = "baseline", "decentralization", "balance", "integrated"
PURE = "decentralization+balance"
FIGURE_DPI = 300

#: What each ensemble member keeps: region-level indicators and national aggregates only.
ENSEMBLE_VARIABLES = (
    "total population", "births", "total fertility rate", "extinction risk index",
    "fiscal autonomy ratio", "Innovation Base", "grdp per capita", "elderly share", "young women",
    "elderly population", "national population", "capital region share", "total births",
    "national total fertility rate", "national local tax ratio", "cv grdp per capita",
    "theil grdp per capita", "cv fiscal autonomy", "theil fiscal autonomy", "national grdp",
)
#: The best-fit run keeps the population by sex and age too (age pyramids).
BESTFIT_VARIABLES = (*ENSEMBLE_VARIABLES, "Population", "net migration", "mega region integration",
                     "equalization strength", "local share of total tax")


@dataclass(frozen=True)
class Indicator:
    """An indicator of the white paper.

    key : str  variable name in the member and summary datasets
    en, ko : str  labels
    unit_en, unit_ko : str  units of the stored values
    direction : int  +1 when higher is better for regional balance, -1 when lower is
    digits : int  decimals shown in tables
    """

    key: str
    en: str
    ko: str
    unit_en: str
    unit_ko: str
    direction: int
    digits: int = 1

    def label(self, lang: str) -> str:
        return self.ko if lang == "ko" else self.en

    def unit(self, lang: str) -> str:
        return self.unit_ko if lang == "ko" else self.unit_en


NATIONAL = {i.key: i for i in (
    Indicator("population", "National population", "전국 인구", "million persons", "백만 명", +1, 2),
    Indicator("capital_share", "Capital-region share of population", "수도권 인구 비중", "%", "%", -1, 1),
    Indicator("births", "Births", "출생아 수", "thousand/year", "천 명/년", +1, 1),
    Indicator("tfr", "Total fertility rate (national)", "합계출산율 (전국)", "children per woman", "명", +1, 2),
    Indicator("regions_at_risk", "Regions at extinction risk (index < 0.5)", "소멸위험 시도 수 (지수 < 0.5)",
              "of 17 regions", "17개 시도 중", -1, 1),
    Indicator("extinction_index", "Extinction risk index (national)", "소멸위험지수 (전국)",
              "women 20-39 per person 65+", "20-39세 여성 / 65세 이상", +1, 3),
    Indicator("fiscal_autonomy_mean", "Fiscal autonomy, mean of 17 regions", "재정자립도 (17개 시도 평균)", "%", "%", +1, 1),
    Indicator("fiscal_autonomy_cv", "Fiscal autonomy, CV (population-weighted)", "재정자립도 변이계수 (인구가중)",
              "ratio", "비율", -1, 3),
    Indicator("local_tax_share", "Local share of total tax (national:local ratio)", "지방세 비중 (국세:지방세)",
              "% of total tax", "총조세 대비 %", +1, 1),
    Indicator("innovation_base", "Innovation base", "혁신역량 스톡", "trillion KRW", "조 원", +1, 0),
    Indicator("grdp_per_capita", "GRDP per capita (national)", "1인당 GRDP (전국)",
              "million KRW (2020 prices)", "백만 원 (2020년 가격)", +1, 1),
    Indicator("grdp_pc_cv", "GRDP per capita, CV (population-weighted)", "1인당 GRDP 변이계수 (인구가중)",
              "ratio", "비율", -1, 3),
    Indicator("grdp_pc_theil", "GRDP per capita, Theil index", "1인당 GRDP 타일지수", "index", "지수", -1, 4),
    Indicator("fiscal_autonomy_theil", "Fiscal autonomy, Theil index", "재정자립도 타일지수", "index", "지수", -1, 4),
)}

REGIONAL = {i.key: i for i in (
    Indicator("region_population", "Population", "인구", "thousand persons", "천 명", +1, 0),
    Indicator("region_births", "Births", "출생아 수", "persons/year", "명/년", +1, 0),
    Indicator("region_tfr", "Total fertility rate", "합계출산율", "children per woman", "명", +1, 2),
    Indicator("region_extinction_index", "Extinction risk index", "소멸위험지수",
              "women 20-39 per person 65+", "20-39세 여성 / 65세 이상", +1, 2),
    Indicator("region_fiscal_autonomy", "Fiscal autonomy ratio", "재정자립도", "%", "%", +1, 1),
    Indicator("region_innovation_base", "Innovation base", "혁신역량 스톡", "trillion KRW", "조 원", +1, 1),
    Indicator("region_grdp_per_capita", "GRDP per capita", "1인당 GRDP", "million KRW (2020 prices)",
              "백만 원 (2020년 가격)", +1, 1),
    Indicator("region_elderly_share", "Elderly share (65+)", "고령인구 비중 (65세 이상)", "%", "%", -1, 1),
)}

BLOC_INDICATOR = Indicator("bloc_population", "Population by 5+3 bloc", "5극3특 권역별 인구",
                           "thousand persons", "천 명", +1, 0)

SCENARIO_NAMES = {
    "baseline": ("Baseline", "기준"), "decentralization": ("Decentralization", "분권"),
    "balance": ("Balance", "균형발전"), "integrated": ("Integrated", "통합(분권+균형+초광역)"),
    "concentration": ("Concentration", "집중"), PURE: ("Decentralization + balance", "분권+균형 결합"),
}


def scenario_label(name: str, lang: str) -> str:
    """Display name of a scenario in ``lang`` ("ko" or "en")."""
    pair = SCENARIO_NAMES.get(name)
    return name if pair is None else pair[lang == "ko"]


# ---------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------

#: Families tried, in order, when koreanize-matplotlib's bundled NanumGothic is missing.
HANGUL_FAMILIES = ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", "AppleGothic",
                   "UnDotum", "Baekmuk Gulim")


def _bundled_hangul_fonts() -> list[Path]:
    """The TTF files koreanize-matplotlib ships, found without importing it (its import
    rewrites rcParams and, on Python >= 3.12, needs distutils)."""
    from importlib.util import find_spec

    spec = find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(Path(next(iter(spec.submodule_search_locations))).glob("fonts/*.ttf"))


def font_has_glyphs(path: str | Path, text: str) -> bool:
    """True when the font file maps every non-space character of ``text`` to a glyph."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(path))
    return all(font.get_char_index(ord(ch)) != 0 for ch in text if not ch.isspace())


def use_korean_font() -> str:
    """Make matplotlib draw Hangul: register NanumGothic (bundled with koreanize-matplotlib,
    a pip dependency) or a system Hangul font, and set it as the default family with
    DejaVu Sans as the per-glyph fallback (symbols such as – ≤ ²).

    Returns the family name used. Raises RuntimeError when no font renders Hangul.
    """
    import matplotlib
    from matplotlib import font_manager

    probe = "가나다한글인구"
    for path in _bundled_hangul_fonts():
        font_manager.fontManager.addfont(str(path))
    for family in HANGUL_FAMILIES:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        if font_has_glyphs(path, probe):
            matplotlib.rcParams["font.family"] = [family, "DejaVu Sans"]
            matplotlib.rcParams["axes.unicode_minus"] = False
            matplotlib.rcParams["svg.fonttype"] = "path"  # glyphs as outlines: no font needed to view
            return family
    raise RuntimeError("no installed font renders Hangul: pip install koreanize-matplotlib "
                       "(bundles NanumGothic) or install fonts-nanum")


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------


class Progress:
    """Stage messages on standard error with the elapsed time, and a timing record."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}
        self._stage: tuple[str, float] | None = None

    def stage(self, name: str) -> None:
        """Close the current stage (recording its duration [s]) and open ``name``."""
        now = time.perf_counter()
        if self._stage is not None:
            key, began = self._stage
            self.timings[key] = round(self.timings.get(key, 0.0) + now - began, 3)
        self._stage = (name, now)
        if self.enabled and name:
            print(f"[whitepaper {now - self.start:7.1f} s] {name}", file=sys.stderr, flush=True)

    def done(self) -> dict[str, float]:
        self.stage("")
        self.timings.pop("", None)
        self.timings["total"] = round(time.perf_counter() - self.start, 3)
        return self.timings


# ---------------------------------------------------------------------------
# Inputs: scenarios, ensemble, fitted set
# ---------------------------------------------------------------------------


def ensemble_members(fitted: Path, members: int | None = None) -> pd.DataFrame:
    """The first ``members`` rows (all by default; sampling order is random) of the
    constrained ensemble of ``fitted``: members × parameter columns."""
    table = read_ensemble(fitted)
    if members is not None:
        if members < 1 or members > len(table):
            raise InvalidValueError("kbalance whitepaper", "--members", members, f"1 to {len(table)}")
        table = table.iloc[:members]
    return table


def combined_scenario(first: Scenario, second: Scenario, name: str = PURE) -> tuple[Scenario, list[str]]:
    """The union of two scenarios' lever paths; returns it and the constants both set
    differently (the second's value and path are kept for those)."""
    conflicts = sorted(k for k in set(first.constants) & set(second.constants)
                       if first.constants[k] != second.constants[k])
    constants = {**first.constants, **second.constants}
    second_levers = {step.lever for step in second.steps}
    steps = (*(st for st in first.steps if st.lever not in second_levers), *second.steps)
    description = f"Union of the lever paths of {first.name} and {second.name} (derived)"
    return Scenario(name=name, description=description, constants=constants, path=None, steps=steps,
                    includes=(first.name, second.name)), conflicts


def whitepaper_scenarios() -> tuple[list[Scenario], dict]:
    """The shipped scenarios (baseline first) plus the derived pure combination when both
    decentralization and balance ship; and a note on the derived one for the manifest."""
    names = list_scenarios()
    if BASE not in names:
        raise MissingFileError(model_dir() / "scenarios" / f"{BASE}.toml", "scenario", "the baseline scenario")
    ordered = [BASE, *[n for n in names if n != BASE]]
    scenarios = [read_scenario(n) for n in ordered]
    note: dict = {}
    by_name = {s.name: s for s in scenarios}
    if FIRST in by_name and SECOND in by_name:
        pure, conflicts = combined_scenario(by_name[FIRST], by_name[SECOND])
        scenarios.append(pure)
        note = {"name": PURE, "derived_from": [FIRST, SECOND], "conflicting_constants": conflicts}
    return scenarios, note


def lever_settings(scenarios: Sequence[Scenario]) -> pd.DataFrame:
    """Every lever step of the scenarios (included scenarios resolved): scenario, lever,
    description, unit, step, target, start, ramp, ref (reference keys or "hypothetical")."""
    from kbalance.model_inputs import read_levers

    levers = read_levers()
    rows = []
    for s in scenarios:
        count: dict[str, int] = {}
        for st in s.steps:
            count[st.lever] = count.get(st.lever, 0) + 1
            spec = levers.get(st.lever, {})
            rows.append({"scenario": s.name, "lever": st.lever, "description": spec.get("description", ""),
                         "unit": spec.get("unit", ""), "step": count[st.lever], "target": st.target,
                         "start": st.start, "ramp": st.ramp, "ref": st.ref})
    return pd.DataFrame(rows, columns=["scenario", "lever", "description", "unit", "step", "target", "start",
                                       "ramp", "ref"])


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def _region_codes_for(names: Sequence[str]) -> list[str]:
    codes = dict(zip(load_regions()["name_en"], load_regions().index))
    return [codes[n] for n in names]


def member_indicators(ds: xr.Dataset) -> xr.Dataset:
    """The white paper's indicators per member from one ensemble chunk (a ``reduce``).

    ds : Dataset  run_ensemble output over (member, year, Region) holding ENSEMBLE_VARIABLES
    Returns national indicators over (member, year), regional ones over (member, year,
    region) with KOSIS codes, and ``bloc_population`` over (member, year, bloc). Units as
    in :data:`NATIONAL`, :data:`REGIONAL`.
    """
    ds = ds.rename({"Region": "region"}).assign_coords(region=_region_codes_for(ds["Region"].values))
    pop = ds["total population"]
    regions = load_regions().loc[list(ds["region"].values)]
    bloc = xr.DataArray(regions["bloc"].to_numpy(), dims="region", coords={"region": ds["region"]})
    blocs = [b for b in BLOCS if b in set(regions["bloc"])]
    out = xr.Dataset({
        "population": ds["national population"] / 1e6,
        "capital_share": ds["capital region share"],
        "births": ds["total births"] / 1e3,
        "tfr": ds["national total fertility rate"],
        "regions_at_risk": (ds["extinction risk index"] < RISK_THRESHOLD).sum("region").astype(float),
        "extinction_index": ds["young women"].sum("region") / ds["elderly population"].sum("region"),
        "fiscal_autonomy_mean": ds["fiscal autonomy ratio"].mean("region"),
        "fiscal_autonomy_cv": ds["cv fiscal autonomy"],
        "local_tax_share": ds["national local tax ratio"],
        "innovation_base": ds["Innovation Base"].sum("region") / 1e6,
        "grdp_per_capita": ds["national grdp"] / ds["national population"],
        "grdp_pc_cv": ds["cv grdp per capita"],
        "grdp_pc_theil": ds["theil grdp per capita"],
        "fiscal_autonomy_theil": ds["theil fiscal autonomy"],
        "region_population": pop / 1e3,
        "region_births": ds["births"],
        "region_tfr": ds["total fertility rate"],
        "region_extinction_index": ds["extinction risk index"],
        "region_fiscal_autonomy": ds["fiscal autonomy ratio"],
        "region_innovation_base": ds["Innovation Base"] / 1e6,
        "region_grdp_per_capita": ds["grdp per capita"],
        "region_elderly_share": ds["elderly share"] * 100,
        "bloc_population": xr.concat([pop.where(bloc == b).sum("region") / 1e3 for b in blocs],
                                     dim=pd.Index(blocs, name="bloc")),
    })
    return out


def run_scenario_members(scenario: Scenario, parameters: pd.DataFrame, until: int,
                         workers: int | None = None) -> xr.Dataset:
    """Indicators of every ensemble member under one scenario.

    parameters : DataFrame  members × parameter columns, indexed by member id
    until : int  last year [year]
    workers : int, optional  local processes (default: cores; 1 for small ensembles)
    Returns :func:`member_indicators` over all members, ``member`` holding the member ids.
    """
    from kbalance.engine import run_ensemble

    n = len(parameters)
    workers = workers or (1 if n < 64 else (os.cpu_count() or 1))
    chunk = max(1, min(250, math.ceil(n / workers)))
    chunks = run_ensemble(parameters.reset_index(drop=True), scenario, until, ENSEMBLE_VARIABLES,
                          chunk_size=chunk, workers=workers, reduce=member_indicators)
    merged = xr.concat(chunks, dim="member") if len(chunks) > 1 else chunks[0]
    return merged.assign_coords(member=parameters.index.to_numpy())


def run_bestfit(scenario: Scenario, fitted: ParameterSet, until: int) -> xr.Dataset:
    """The best-fit run of one scenario with full detail (Population by sex and age)."""
    from kbalance.run import run_model

    return run_model(scenario, fitted, until, BESTFIT_VARIABLES, engine="fast")


# ---------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------


def summarize(members: xr.Dataset) -> xr.Dataset:
    """Quantiles over members (5, 25, 50, 75, 95 %), as a ``quantile`` dimension named
    q05 … q95."""
    q = members.quantile(list(QUANTILES), dim="member", skipna=False)
    return q.assign_coords(quantile=list(QUANTILE_NAMES))


def indicator_of(key: str) -> Indicator:
    """The :class:`Indicator` of a summary variable."""
    if key in NATIONAL:
        return NATIONAL[key]
    if key in REGIONAL:
        return REGIONAL[key]
    if key == BLOC_INDICATOR.key:
        return BLOC_INDICATOR
    raise KeyError(key)


def summary_long(summary: xr.Dataset) -> pd.DataFrame:
    """The summary as a long table: scenario, indicator, region (KOSIS code, bloc name or
    00 for national), year, unit, q05 … q95."""
    frames = []
    for key, array in summary.data_vars.items():
        frame = array.to_dataframe(name="value").reset_index()
        place = "region" if "region" in frame else ("bloc" if "bloc" in frame else None)
        frame["area"] = frame[place] if place else "00"
        wide = frame.pivot_table(index=["scenario", "area", "year"], columns="quantile", values="value",
                                 sort=False).reset_index()
        wide.insert(1, "indicator", key)
        wide["unit"] = indicator_of(key).unit_en
        frames.append(wide.rename(columns={"area": "region"}))
    out = pd.concat(frames, ignore_index=True)
    return out[["scenario", "indicator", "region", "year", "unit", *QUANTILE_NAMES]]


def band_text(q50: float, q05: float, q95: float, digits: int) -> str:
    """'median [q05–q95]' with ``digits`` decimals."""
    return f"{q50:,.{digits}f} [{q05:,.{digits}f}–{q95:,.{digits}f}]"


def table_years(until: int) -> list[int]:
    """The comparison years (2030, 2040, 2050, 2070) up to ``until``; ``until`` itself if none."""
    years = [y for y in TABLE_YEARS if y <= until]
    return years or [until]


def comparison_table(summary: xr.Dataset, years: Sequence[int], lang: str) -> pd.DataFrame:
    """The scenario comparison: one row per indicator and scenario, one column per year
    holding 'median [5–95 %]'."""
    rows = []
    for key, ind in NATIONAL.items():
        for scenario in summary["scenario"].values:
            row = {"indicator": key, "label": ind.label(lang), "unit": ind.unit(lang),
                   "scenario": scenario, "scenario_label": scenario_label(str(scenario), lang)}
            for year in years:
                q = summary[key].sel(scenario=scenario, year=year)
                row[str(year)] = band_text(*(float(q.sel(quantile=n)) for n in ("q50", "q05", "q95")), ind.digits)
            rows.append(row)
    return pd.DataFrame(rows)


def regional_table(summary: xr.Dataset, years: Sequence[int], lang: str) -> pd.DataFrame:
    """Regional indicators by scenario, region and year: median and 5–95 % band."""
    names = {c: region_name(c, lang) for c in summary["region"].values}
    frames = []
    for key, ind in REGIONAL.items():
        frame = summary[key].sel(year=list(years)).to_dataframe(name="v").reset_index()
        wide = frame.pivot_table(index=["scenario", "region", "year"], columns="quantile", values="v",
                                 sort=False).reset_index()
        wide.insert(1, "indicator", key)
        wide.insert(3, "region_name", wide["region"].map(names))
        wide["unit"] = ind.unit(lang)
        frames.append(wide)
    return pd.concat(frames, ignore_index=True)[["scenario", "indicator", "region", "region_name", "year",
                                                 "unit", *QUANTILE_NAMES]]


# ---------------------------------------------------------------------------
# Complementarity
# ---------------------------------------------------------------------------


def interaction(members: xr.Dataset, base: str = BASE, first: str = FIRST, second: str = SECOND,
                combined: str = COMBINED) -> xr.Dataset:
    """Per-member interaction effect: combined − first − second + base.

    members : Dataset with a ``scenario`` dimension (and ``member``: the pairing)
    Returns a Dataset without the scenario dimension; 0 means the combined effect is the
    sum of the separate effects.
    """
    def s(name: str) -> xr.Dataset:
        return members.sel(scenario=name, drop=True)

    return s(combined) - s(first) - s(second) + s(base)


def classify(low: float, high: float, direction: int) -> str:
    """Classify an interaction from its 5–95 % band.

    low, high : float  band of the interaction effect
    direction : int  +1 when higher values are better, -1 when lower are
    Returns "additive" when the band includes 0, else "complementary" when the interaction
    pushes the indicator in its better direction (the combination achieves more than the
    sum of its parts), "substitutive" otherwise.
    """
    if low <= 0 <= high:
        return "additive"
    return "complementary" if np.sign(low) * direction > 0 else "substitutive"


def _q(array: xr.DataArray) -> dict[str, float]:
    values = np.quantile(array.transpose("member", ...).values, QUANTILES, axis=0)
    return dict(zip(QUANTILE_NAMES, map(float, values)))


def complementarity_table(members: xr.Dataset, years: Sequence[int], combined: str = COMBINED,
                          keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Effects and interaction per national indicator and year, with bands.

    members : Dataset over (scenario, member, year) holding the national indicators
    years : years to report [year]
    combined : the combined scenario (``integrated``, or the derived pure union)
    Returns rows: indicator, year, combined, effect medians of first, second, their sum
    and the combination (with 5/95 % bands), the interaction's quantiles, its size
    relative to the summed effects, the direction and the classification.
    """
    keys = list(keys or [k for k in NATIONAL if k in members])
    rows = []
    for key in keys:
        x = members[key].sel(year=list(years))
        base = x.sel(scenario=BASE)
        eff_first, eff_second = x.sel(scenario=FIRST) - base, x.sel(scenario=SECOND) - base
        eff_sum, eff_comb = eff_first + eff_second, x.sel(scenario=combined) - base
        inter = eff_comb - eff_sum
        direction = NATIONAL[key].direction if key in NATIONAL else 1
        for year in years:
            at = {"year": year}
            qi, qs, qc = _q(inter.sel(at)), _q(eff_sum.sel(at)), _q(eff_comb.sel(at))
            rows.append({
                "indicator": key, "year": year, "combined": combined,
                "effect_first_q50": _q(eff_first.sel(at))["q50"], "effect_second_q50": _q(eff_second.sel(at))["q50"],
                "sum_of_effects_q50": qs["q50"], "sum_of_effects_q05": qs["q05"], "sum_of_effects_q95": qs["q95"],
                "effect_combined_q50": qc["q50"], "effect_combined_q05": qc["q05"], "effect_combined_q95": qc["q95"],
                **{f"interaction_{k}": v for k, v in qi.items()},
                "interaction_share_of_sum": qi["q50"] / abs(qs["q50"]) if qs["q50"] != 0 else np.nan,
                "direction": direction, "classification": classify(qi["q05"], qi["q95"], direction),
            })
    return pd.DataFrame(rows)


def complementarity_paths(members: xr.Dataset, keys: Sequence[str], combined: str = COMBINED) -> xr.Dataset:
    """Quantiles over members of the summed separate effects, the combined effect and the
    interaction, for every year: dims (series, quantile, year)."""
    x = members[list(keys)]
    base = x.sel(scenario=BASE, drop=True)
    eff_sum = x.sel(scenario=FIRST, drop=True) + x.sel(scenario=SECOND, drop=True) - 2 * base
    eff_comb = x.sel(scenario=combined, drop=True) - base
    parts = xr.concat([eff_sum, eff_comb, eff_comb - eff_sum], dim=pd.Index(["sum", "combined", "interaction"],
                                                                            name="series"))
    return summarize(parts)


def complementarity_available(names: Sequence[str]) -> bool:
    """True when baseline, decentralization, balance and integrated all ran."""
    return {BASE, FIRST, SECOND, COMBINED} <= set(names)


def extra_levers(scenarios: dict[str, Scenario]) -> list[str]:
    """Levers the integrated scenario sets beyond (or differently from) the union of
    decentralization and balance: lever names of model/levers.toml."""
    from kbalance.model_inputs import read_levers

    union = {**scenarios[FIRST].constants, **scenarios[SECOND].constants}
    changed = {k for k, v in scenarios[COMBINED].constants.items() if union.get(k) != v}
    return [name for name, spec in read_levers().items()
            if changed & {spec.get("target"), spec.get("start"), spec.get("ramp")}]


def verdict(table: pd.DataFrame, year: int) -> dict:
    """The model's answer to "decentralization and balance policies are complementary" in
    ``year``: the indicators in each class and whether the claim is confirmed (more
    complementary than substitutive indicators, and at least a third complementary),
    refuted (more substitutive than complementary) or not supported (mostly additive)."""
    rows = table[table["year"] == year]
    classes = {c: list(rows.loc[rows["classification"] == c, "indicator"])
               for c in ("complementary", "substitutive", "additive")}
    n = max(len(rows), 1)
    if len(classes["complementary"]) > len(classes["substitutive"]) and len(classes["complementary"]) >= n / 3:
        answer = "confirmed"
    elif len(classes["substitutive"]) > len(classes["complementary"]):
        answer = "refuted"
    else:
        answer = "not supported"
    return {"year": year, "answer": answer, **classes}


# ---------------------------------------------------------------------------
# Observations, calibration and sensitivity inputs
# ---------------------------------------------------------------------------


def observed_history() -> dict[str, pd.Series]:
    """Observed national series for the charts, on the model's time axis (stocks of
    year-end y at 1 January y + 1): capital_share [%], births [thousand], tfr,
    fiscal_autonomy by region [%] (a DataFrame year × code)."""
    obs = calibration_dir() / "observations"
    pop = pd.read_csv(obs / "population.csv", dtype={"region_code": str})
    pop = pop[pop["series"] == "pop_registered"]
    regions = load_regions()
    by_region = pop[pop["region_code"].isin(regions.index)].pivot_table(index="year", columns="region_code",
                                                                       values="value")
    capital = [c for c in regions.index[regions["capital_region"]] if c in by_region]
    share = (by_region[capital].sum(axis=1) / by_region.sum(axis=1) * 100).dropna()
    share.index = share.index + 1
    vital = pd.read_csv(obs / "vital.csv", dtype={"region_code": str})
    national = vital[vital["region_code"] == "00"]
    births = national[national["series"] == "births"].set_index("year")["value"] / 1e3
    tfr = national[national["series"] == "tfr"].set_index("year")["value"]
    fiscal = pd.read_csv(obs / "fiscal.csv", dtype={"region_code": str})
    fa = fiscal[fiscal["series"] == "fiscal_autonomy_ratio"].pivot_table(index="year", columns="region_code",
                                                                         values="value")
    return {"capital_share": share, "births": births, "tfr": tfr, "fiscal_autonomy": fa}


def lever_history(lever: str) -> pd.Series:
    """History points of a lever of model/levers.toml: year → value."""
    from kbalance.model_inputs import read_levers

    points = read_levers()[lever].get("history", [])
    return pd.Series({int(p[0]): float(p[1]) for p in points}, dtype=float)


def fit_summary(report: Path, targets: Path | None = None) -> pd.DataFrame:
    """Fit statistics over all region-years per calibration target, with its goal
    (``goal_mape`` [%] or ``goal_r2`` in calibration/targets.toml) and whether it is met;
    ``met`` is NA for a target without a goal."""
    path = report / "fit_statistics.csv"
    if not path.is_file():
        raise MissingFileError(path, "fit statistics", "run kbalance calibrate first")
    goals = target_goals(targets)
    stats = pd.read_csv(path, dtype={"region": str})
    rows = stats[stats["region"] == "all"].drop(columns=["region"]).reset_index(drop=True)
    criteria, met = [], []
    for row in rows.itertuples():
        kind, goal = goals.get(row.target, (None, None))
        if kind == "r2":
            criteria.append(f"R² ≥ {goal:g}")
            met.append(bool(row.r2 >= goal))
        elif kind == "mape":
            criteria.append(f"MAPE ≤ {goal:g} %")
            met.append(bool(row.mape <= goal))
        else:
            criteria.append("")
            met.append(pd.NA)
    rows["criterion"] = criteria
    rows["met"] = pd.array(met, dtype="boolean")
    return rows


def find_sensitivity(explicit: Path | None) -> Path | None:
    """The sensitivity folder to include: ``explicit`` (must hold summary.json), else the
    newest outputs/sensitivity*/ that holds one, else None."""
    if explicit is not None:
        if not (Path(explicit) / "summary.json").is_file():
            raise MissingFileError(Path(explicit) / "summary.json", "sensitivity summary",
                                   "a kbalance sensitivity folder with summary.json, indices.csv, figures/")
        return Path(explicit)
    found = [p for p in outputs_dir().glob("sensitivity*") if (p / "summary.json").is_file()]
    return max(found, key=lambda p: (p / "summary.json").stat().st_mtime) if found else None


def top_factors(indices: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` largest factors per method and outcome in the latest year, ranked by the
    main index (Sobol total ST, Morris mu_star, else S1, else the first index listed)."""
    rows = []
    for (method, outcome), group in indices.groupby(["method", "outcome"], sort=False):
        group = group[group["year"] == group["year"].max()]
        names = list(dict.fromkeys(group["index"]))
        main = next((i for i in ("ST", "mu_star", "S1") if i in names), names[0])
        best = group[group["index"] == main].sort_values("value", ascending=False).head(n)
        for rank, row in enumerate(best.itertuples(), start=1):
            rows.append({"method": method, "outcome": outcome, "year": int(row.year), "index": main,
                         "rank": rank, "factor": row.factor, "value": float(row.value),
                         "conf": float(row.conf) if pd.notna(row.conf) else np.nan})
    return pd.DataFrame(rows, columns=["method", "outcome", "year", "index", "rank", "factor", "value", "conf"])


def model_caveats() -> list[str]:
    """The model's exclusions and known limits, from the **Excluded** list and the
    "Known limits" section of docs/model.md (one item per bullet), and the links switched
    off at the shipped values."""
    path = project_root() / "docs" / "model.md"
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    excluded = text.split("**Excluded**:", 1)[-1].split("\n## ", 1)[0].strip().split("\n\n")[0]
    items = re.split(r"\n- ", "\n" + excluded)
    caveats = [" ".join(i.split()) for i in items if i.strip()]
    limits = text.split("## Known limits", 1)[-1].split("\n## ", 1)[0] if "## Known limits" in text else ""
    caveats += [" ".join(i.split()) for i in re.split(r"\n- ", "\n" + limits.strip()) if i.strip()]
    switched = re.search(r"Links that are switched off[^\n]*(?:\n[^\n]+)*", text)
    if switched:
        caveats.append(" ".join(switched.group(0).split()))
    return caveats


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def write_netcdf(ds: xr.Dataset, path: Path) -> Path:
    """Write a Dataset compressed (zlib) with netCDF-safe names."""
    ready = netcdf_ready(ds)
    encoding = {v: {"zlib": True, "complevel": 4} for v in ready.data_vars}
    ready.to_netcdf(path, encoding=encoding)
    return path


def bestfit_long(bestfit: xr.Dataset, years: Sequence[int]) -> pd.DataFrame:
    """Long table of the best-fit runs (scenario first); Population only in ``years``
    (every fifth year and the pyramid years) to keep the file small."""
    frames = []
    for scenario in bestfit["scenario"].values:
        one = bestfit.sel(scenario=scenario, drop=True)
        pop = one[["Population"]].sel(year=[y for y in years if y in one["year"]])
        for part in (one.drop_vars("Population"), pop):
            frame = results_long(part)
            frame.insert(0, "scenario", scenario)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_workbook(tables: dict[str, pd.DataFrame], path: Path) -> Path:
    """All tables as one XLSX workbook, one sheet each (names cut to Excel's 31 characters)."""
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in tables.items():
            table.to_excel(writer, sheet_name=name[:31], index=False)
    return path


def build_whitepaper_manifest(command: Sequence[str], scenarios: Sequence[Scenario], derived: dict,
                              fitted: Path, members: int, until: int, lang: str,
                              sensitivity: Path | None, timings: dict) -> dict:
    """What reproduces the white paper: command, inputs with hashes, versions, settings."""

    from kbalance.engine import source_hash

    ens = ensemble_path(fitted)
    info = ens.with_suffix(".json")
    seed = json.loads(info.read_text(encoding="utf-8")).get("seed") if info.is_file() else None
    return {
        "kbalance_version": kbalance.__version__,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(command),
        "until": until, "lang": lang, "members": members,
        "seed": None, "ensemble_seed": seed,
        "scenarios": [{"name": s.name, "file": s.path.name if s.path else None,
                       "sha256": file_hash([s.path]) if s.path else None, "constants": s.constants}
                      for s in scenarios],
        "derived_scenario": derived or None,
        "fitted_set": {"file": fitted.name, "sha256": file_hash([fitted])},
        "ensemble": {"file": ens.name, "sha256": file_hash([ens]),
                     "info_file": info.name if info.is_file() else None,
                     "info_sha256": file_hash([info]) if info.is_file() else None},
        "model_sha256": model_hash(), "data_sha256": data_hash(), "engine_source_sha256": source_hash(),
        "sensitivity": str(sensitivity) if sensitivity else None,
        "versions": package_versions("matplotlib", "openpyxl", "koreanize-matplotlib"),
        "timings_s": timings,
    }


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


@dataclass
class Whitepaper:
    """Everything the tables, figures and report are made from."""

    lang: str
    until: int
    members: xr.Dataset  # (scenario, member, year, …) indicators
    summary: xr.Dataset  # (scenario, quantile, year, …)
    bestfit: xr.Dataset  # (scenario, year, Region, Sex, Age)
    scenarios: dict[str, Scenario]
    levers: pd.DataFrame
    fit: pd.DataFrame
    backtest: pd.DataFrame | None
    fit_report: Path
    sensitivity: Path | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    complementarity: dict = field(default_factory=dict)


def default_out() -> Path:
    """outputs/whitepaper-<UTC timestamp>."""
    return outputs_dir() / f"whitepaper-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def prepare_whitepaper(lang: str = "ko", until: int = 2070, members: int | None = None,
                       sensitivity: Path | None = None, workers: int | None = None,
                       log: Progress | None = None) -> tuple[Whitepaper, dict]:
    """Run every scenario on the ensemble and the best-fit set; nothing is written.

    Returns the :class:`Whitepaper` and the inputs the manifest records (fitted set,
    scenarios, derived scenario note, members).
    """
    if lang not in LANGS:
        raise InvalidValueError("kbalance whitepaper", "--lang", lang, LANGS)
    if until < 2030 or until > 2100:
        raise InvalidValueError("kbalance whitepaper", "--until", until, "a year in [2030, 2100]")
    log = log or Progress(False)
    log.stage("reading inputs")
    fitted = latest_ensemble_set()
    if fitted is None:
        raise MissingFileError(calibration_dir() / "fitted" / "v<N>-ensemble.csv", "constrained ensemble",
                               "run kbalance calibrate, then kbalance ensemble")
    table = ensemble_members(fitted, members)
    params = read_parameter_set(fitted)
    scenarios, derived = whitepaper_scenarios()
    sens = find_sensitivity(sensitivity)
    fit_dir = calibration_dir() / "reports" / fitted.stem
    backtests = sorted((calibration_dir() / "reports").glob("backtest-*/summary.csv"))
    from kbalance.engine import compile_model

    compile_model()  # once here: forked workers inherit it
    runs, best = [], []
    for s in scenarios:
        log.stage(f"scenario {s.name}: {len(table):,} ensemble members to {until}")
        runs.append(run_scenario_members(s, table, until, workers))
        log.stage(f"scenario {s.name}: best-fit run")
        best.append(run_bestfit(s, params, until))
    names = pd.Index([s.name for s in scenarios], name="scenario")
    log.stage("ensemble summaries")
    member_ds = xr.concat(runs, dim=names)
    wp = Whitepaper(lang=lang, until=until, members=member_ds, summary=summarize(member_ds),
                    bestfit=xr.concat(best, dim=names), scenarios={s.name: s for s in scenarios},
                    levers=lever_settings(scenarios), fit=fit_summary(fit_dir),
                    backtest=pd.read_csv(backtests[-1]) if backtests else None, fit_report=fit_dir,
                    sensitivity=sens)
    inputs = {"fitted": fitted, "scenarios": scenarios, "derived": derived, "members": len(table)}
    return wp, inputs


def run_whitepaper(out: Path | None = None, lang: str = "ko", until: int = 2070, members: int | None = None,
                   sensitivity: Path | None = None, command: Sequence[str] | None = None,
                   progress: bool = True, workers: int | None = None) -> Path:
    """Run every shipped scenario on the ensemble and write the white-paper folder.

    out : Path, optional  new folder (default outputs/whitepaper-<UTC time>); an existing
        non-empty folder is refused
    lang : "ko" or "en"  language of figures, tables and report
    until : int  last projected year [year]
    members : int, optional  first M members of the constrained ensemble (default all)
    sensitivity : Path, optional  a kbalance sensitivity folder (default the newest
        outputs/sensitivity*/ with summary.json, if any)
    workers : int, optional  local processes for the ensemble (default: cores)
    Returns the folder written.
    """
    out = check_new_folder(Path(out) if out else default_out())
    log = Progress(progress)
    wp, inputs = prepare_whitepaper(lang, until, members, sensitivity, workers, log)
    timings: dict[str, float] = {}

    def write(tmp: Path) -> None:
        write_contents(wp, tmp, log)
        log.stage("manifest")
        timings.update(log.done())
        manifest = build_whitepaper_manifest(command or ["kbalance", *sys.argv[1:]], inputs["scenarios"],
                                             inputs["derived"], inputs["fitted"], inputs["members"], until, lang,
                                             wp.sensitivity, timings)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")

    write_new_folder(out, write)
    if progress:
        print(f"[whitepaper {timings['total']:7.1f} s] wrote {out}", file=sys.stderr, flush=True)
    return out


def write_contents(wp: Whitepaper, folder: Path, log: Progress) -> None:
    """Results, tables, figures and the report into ``folder``."""
    for sub in ("results", "tables", "figures"):
        (folder / sub).mkdir()
    log.stage("writing results (netCDF, CSV)")
    write_results(wp, folder / "results")
    log.stage("tables")
    wp.tables = build_tables(wp)
    for name, table in wp.tables.items():
        table.to_csv(folder / "tables" / f"{name}.csv", index=False, float_format="%.6g")
    write_workbook(wp.tables, folder / "tables" / "tables.xlsx")
    from kbalance import figures

    for name, make in figures.FIGURES.items():
        log.stage(f"figure {name}")
        fig = make(wp)
        if fig is not None:
            wp.figures[name] = figures.save_figure(fig, folder / "figures", name, dpi=FIGURE_DPI)
    log.stage("copying calibration and sensitivity figures")
    wp.figures.update(copy_external_figures(wp, folder / "figures"))
    log.stage("report.html")
    (folder / "report.html").write_text(render_html(wp, folder), encoding="utf-8")


def write_results(wp: Whitepaper, folder: Path) -> None:
    """results/ensemble_summary.nc and .csv, results/bestfit.nc and .csv."""
    write_netcdf(wp.summary, folder / "ensemble_summary.nc")
    summary_long(wp.summary).to_csv(folder / "ensemble_summary.csv", index=False, float_format="%.8g")
    write_netcdf(wp.bestfit, folder / "bestfit.nc")
    years = sorted({*range(2025, wp.until + 1, 5), *pyramid_years(wp.until)})
    bestfit_long(wp.bestfit, years).to_csv(folder / "bestfit.csv", index=False, float_format="%.10g")


def history_end_year() -> int:
    """First model year whose flows are projected, not observed (model/inputs/scalars.csv) [year]."""
    scalars = pd.read_csv(model_dir() / "inputs" / "scalars.csv", index_col="key")["value"]
    return int(scalars["history_end_year"])


def pyramid_years(until: int) -> list[int]:
    """Years of the age pyramids: 2024, 2050, 2070 up to ``until``, and ``until``."""
    years = [y for y in PYRAMID_YEARS if y <= until]
    return years if until in years else [*years, until]


def build_tables(wp: Whitepaper) -> dict[str, pd.DataFrame]:
    """The CSV/XLSX tables of the white paper, by file name."""
    years = table_years(wp.until)
    tables = {
        "scenario_comparison": comparison_table(wp.summary, years, wp.lang),
        "regional_indicators": regional_table(wp.summary, years, wp.lang),
        "bloc_population": bloc_table(wp.summary, years, wp.lang),
        "scenario_differences": differences_table(wp.members, years),
        "scenario_levers": wp.levers,
        "fit_statistics": wp.fit,
    }
    if wp.backtest is not None:
        tables["backtest_summary"] = wp.backtest
    if complementarity_available(list(wp.scenarios)):
        comp = [complementarity_table(wp.members, years, COMBINED)]
        if PURE in wp.scenarios:
            comp.append(complementarity_table(wp.members, years, PURE))
        tables["complementarity"] = pd.concat(comp, ignore_index=True)
        wp.complementarity = {
            "verdict": verdict(comp[0], years[-1]),
            "verdict_pure": verdict(comp[-1], years[-1]) if len(comp) > 1 else None,
            "extra_levers": extra_levers(wp.scenarios),
        }
    if wp.sensitivity is not None and (wp.sensitivity / "indices.csv").is_file():
        tables["sensitivity_top_factors"] = top_factors(pd.read_csv(wp.sensitivity / "indices.csv"))
    return tables


def differences_table(members: xr.Dataset, years: Sequence[int]) -> pd.DataFrame:
    """Paired differences from the baseline per national indicator, scenario and year:
    quantiles over members of (scenario − baseline), in the indicator's unit."""
    rows = []
    for key, ind in NATIONAL.items():
        diff = members[key].sel(year=list(years)) - members[key].sel(scenario=BASE, year=list(years))
        for scenario in members["scenario"].values:
            if scenario == BASE:
                continue
            for year in years:
                rows.append({"indicator": key, "scenario": str(scenario), "year": year,
                             "unit": ind.unit_en, **_q(diff.sel(scenario=scenario, year=year))})
    return pd.DataFrame(rows, columns=["indicator", "scenario", "year", "unit", *QUANTILE_NAMES])


def bloc_table(summary: xr.Dataset, years: Sequence[int], lang: str) -> pd.DataFrame:
    """Population by 5+3 bloc: scenario, bloc, year, median and band [thousand persons]."""
    frame = summary["bloc_population"].sel(year=list(years)).to_dataframe(name="v").reset_index()
    wide = frame.pivot_table(index=["scenario", "bloc", "year"], columns="quantile", values="v",
                             sort=False).reset_index()
    wide.insert(2, "bloc_name", wide["bloc"].map(lambda b: region_name(b, lang)))
    return wide[["scenario", "bloc", "bloc_name", "year", *QUANTILE_NAMES]]


def copy_external_figures(wp: Whitepaper, folder: Path) -> dict[str, Path]:
    """Copy the calibration fit figures and the sensitivity figures into figures/."""
    copied = {}
    for name in ("population", "tfr", "fiscal_autonomy", "net_migration"):
        src = wp.fit_report / f"fit_{name}.png"
        if src.is_file():
            dest = folder / "calibration" / src.name
            dest.parent.mkdir(exist_ok=True)
            copied[f"calibration_fit_{name}"] = Path(shutil.copy2(src, dest))
    if wp.sensitivity is not None:
        for src in sorted((wp.sensitivity / "figures").glob("*.png")):
            dest = folder / "sensitivity" / src.name
            dest.parent.mkdir(exist_ok=True)
            copied[f"sensitivity_{src.stem}"] = Path(shutil.copy2(src, dest))
    return copied


# ---------------------------------------------------------------------------
# HTML report
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# HTML report
# ---------------------------------------------------------------------------

#: Text of the report page: key → (English, Korean).
H = {
    "title": ("kbalance white paper: regional balance and decentralization in Korea's 17 regions to {until}",
              "kbalance 백서: 17개 시도의 지역균형과 분권 전망 ({until}년까지)"),
    "generated": ("Generated {time} UTC by <code>{command}</code>; {members:,} ensemble members, fitted set {fitted}.",
                  "{time} UTC 생성, 명령 <code>{command}</code>; 앙상블 {members:,}개, 적합 모수 {fitted}."),
    "toc": ("Contents", "목차"),
    "summary": ("Key findings", "주요 결과"), "method": ("Method", "방법"), "data": ("Data sources", "자료 출처"),
    "fit": ("Calibration fit and backtest", "보정 적합도와 백테스트"), "scenarios": ("Scenarios", "시나리오"),
    "results": ("Results", "결과"), "complementarity": ("Complementarity of decentralization and balance",
                                                       "분권과 균형발전의 보완성"),
    "sensitivity": ("Sensitivity", "민감도 분석"), "caveats": ("Caveats", "유의사항"),
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
    "top_factors": ("Top factors (latest year, main index)", "주요 요인 (최종 연도, 주 지수)"),
    "no_comp": (("The complementarity analysis needs the scenarios baseline, decentralization, balance and "
                 "integrated; shipped now: {names}."),
                "보완성 분석에는 기준, 분권, 균형, 통합 시나리오가 모두 필요합니다. 현재 제공: {names}."),
}

CLASS_NAMES = {"complementary": ("complementary", "보완적"), "substitutive": ("substitutive", "대체적"),
               "additive": ("additive (band includes 0)", "가산적 (구간이 0 포함)")}
ANSWERS = {"confirmed": ("confirmed", "지지됨"), "refuted": ("refuted", "기각됨"),
           "not supported": ("not supported (the effects are mostly additive)", "지지되지 않음 (효과가 대체로 가산적)")}

CSS = """
body{font-family:KbalanceHangul,'Noto Sans KR','Malgun Gothic','Apple SD Gothic Neo',NanumGothic,sans-serif;max-width:1100px;
margin:0 auto;padding:24px 32px;color:#222;line-height:1.55;font-size:15px}
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
    q = wp.summary[key].sel(scenario=scenario, year=year)
    return band_text(*(float(q.sel(quantile=n)) for n in ("q50", "q05", "q95")), indicator_of(key).digits)


def _diff(wp: Whitepaper, key: str, scenario: str, year: int) -> dict[str, float]:
    x = wp.members[key].sel(year=year)
    return _q(x.sel(scenario=scenario) - x.sel(scenario=BASE))


def first_year_at_least(wp: Whitepaper, key: str, scenario: str, level: float) -> int | None:
    """First projected year whose median reaches ``level``, or None."""
    q = wp.summary[key].sel(scenario=scenario, quantile="q50")
    years = q["year"].values[(q.values >= level - 1e-9) & (q["year"].values >= history_end_year())]
    return int(years[0]) if len(years) else None


def findings(wp: Whitepaper) -> list[str]:
    """Key findings as sentences (HTML), computed from the ensemble summaries."""
    ko, end, start = wp.lang == "ko", wp.until, 2024
    names = [str(s) for s in wp.summary["scenario"].values]
    others = [n for n in names if n != BASE]
    out = []
    p0, p1 = _median(wp, "population", BASE, start), _median(wp, "population", BASE, end)
    out.append(f"기준 시나리오에서 전국 인구는 {start}년 {p0:.2f}백만 명에서 {end}년 {_band(wp, 'population', BASE, end)}백만 명으로 "
                f"{(p1 / p0 - 1) * 100:+.1f} % 변합니다 (중앙값 [5–95 %])." if ko else
                f"In the baseline the national population goes from {p0:.2f} million in {start} to "
                f"{_band(wp, 'population', BASE, end)} million in {end} ({(p1 / p0 - 1) * 100:+.1f} %; median [5–95 %]).")
    c0 = _median(wp, "capital_share", BASE, start)
    out.append(f"수도권 인구 비중은 {start}년 {c0:.1f} %에서 {end}년 {_band(wp, 'capital_share', BASE, end)} %가 됩니다 (기준)."
                if ko else f"The capital region holds {c0:.1f} % of the population in {start} and "
                f"{_band(wp, 'capital_share', BASE, end)} % in {end} (baseline).")
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
    r0, r1 = _median(wp, "regions_at_risk", BASE, start), _median(wp, "regions_at_risk", BASE, end)
    out.append(f"소멸위험지수가 0.5 미만인 시도는 {start}년 {r0:.0f}곳에서 {end}년 {r1:.0f}곳(중앙값)이 되며, 전국 지수는 "
                f"{_band(wp, 'extinction_index', BASE, end)}입니다." if ko else
                f"Regions with an extinction risk index below 0.5: {r0:.0f} in {start}, {r1:.0f} in {end} (median); "
                f"the national index is {_band(wp, 'extinction_index', BASE, end)} in {end}.")
    for target in (30.0, 40.0):
        reach = {n: first_year_at_least(wp, "local_tax_share", n, target) for n in names}
        hit = [f"{scenario_label(n, wp.lang)} ({y})" for n, y in reach.items() if y]
        ratio = f"{100 - target:.0f}:{target:.0f}"
        out.append(f"국세:지방세 {ratio} 목표(지방 {target:.0f} %)에 도달하는 시나리오: "
                    f"{', '.join(hit) if hit else '없음'}." if ko else
                    f"Scenarios reaching the {ratio} national:local tax target (local {target:.0f} %): "
                    f"{', '.join(hit) if hit else 'none'}.")
    for key in ("fiscal_autonomy_cv", "grdp_pc_cv"):
        ind = NATIONAL[key]
        parts = []
        for n in others:
            d = _diff(wp, key, n, end)
            parts.append(f"{scenario_label(n, wp.lang)} {d['q50']:+.{ind.digits}f} [{d['q05']:+.{ind.digits}f}, "
                         f"{d['q95']:+.{ind.digits}f}]")
        out.append((f"{html.escape(ind.ko)}: 기준 {end}년 {_band(wp, key, BASE, end)}; 기준 대비 차이 — " if ko else
                    f"{html.escape(ind.en)}: baseline {_band(wp, key, BASE, end)} in {end}; difference from baseline — ")
                   + ("; ".join(parts) if parts else ("없음" if ko else "none")) + ".")
    if wp.complementarity:
        out.append(verdict_sentence(wp))
    return out


def verdict_sentence(wp: Whitepaper) -> str:
    """One sentence: the model's verdict on complementarity."""
    v = wp.complementarity["verdict"]
    ko = wp.lang == "ko"
    label = {k: html.escape(NATIONAL[k].label(wp.lang)) for k in NATIONAL}
    lists = {c: ", ".join(label[k] for k in v[c]) or ("없음" if ko else "none") for c in CLASS_NAMES}
    answer = ANSWERS[v["answer"]][ko]
    if ko:
        return (f"<b>\"분권과 균형발전 정책은 상호보완적이다\"라는 주장은 {v['year']}년 지표 기준으로 {answer}.</b> "
                f"보완적: {lists['complementary']}; 대체적: {lists['substitutive']}; 가산적: {lists['additive']}.")
    return (f"<b>The claim \"decentralization and balance policies are complementary\" is {answer} by the "
            f"{v['year']} indicators.</b> Complementary: {lists['complementary']}; substitutive: "
            f"{lists['substitutive']}; additive: {lists['additive']}.")


def complementarity_html(wp: Whitepaper, images: dict[str, str]) -> str:
    """The complementarity section: method, verdict paragraph, table and figure."""
    ko = wp.lang == "ko"
    if not wp.complementarity:
        return f"<p>{h('no_comp', wp.lang, names=', '.join(wp.scenarios))}</p>"
    table = wp.tables["complementarity"]
    v = wp.complementarity["verdict"]
    extra = ", ".join(f"<code>{x}</code>" for x in wp.complementarity["extra_levers"]) or ("없음" if ko else "none")
    if ko:
        method = ("각 지표와 연도마다 통합 시나리오의 효과(통합 − 기준)를 분권 효과(분권 − 기준)와 균형 효과(균형 − 기준)의 합과 "
                  "비교합니다. 상호작용 = 통합 − 분권 − 균형 + 기준을 앙상블 구성원마다 (같은 모수로) 계산하므로 구간이 있습니다. "
                  "5–95 % 구간이 0을 포함하면 <i>가산적</i>, 상호작용이 지표의 바람직한 방향(인구·출산율·재정자립도·혁신은 증가, "
                  "수도권 비중·격차·소멸위험 시도 수는 감소)이면 <i>보완적</i>, 반대면 <i>대체적</i>으로 분류합니다. "
                  f"주의: 통합 시나리오는 분권과 균형 정책수단 외에 {extra}도 바꿉니다. 따라서 통합 시나리오의 상호작용에는 "
                  "이 추가 수단(초광역 통합, 균등화 등)의 효과가 포함됩니다.")
        if PURE in wp.scenarios:
            method += (" 이를 분리하기 위해 분권과 균형 시나리오 설정의 합집합인 파생 시나리오 '분권+균형 결합'도 실행했으며, "
                       "그 상호작용은 순수한 정책 간 상호작용입니다.")
    else:
        method = ("For each indicator and year the effect of the integrated scenario (integrated − baseline) is compared "
                  "with the sum of the decentralization effect (decentralization − baseline) and the balance effect "
                  "(balance − baseline). The interaction = integrated − decentralization − balance + baseline is computed "
                  "per ensemble member (the same parameters in every scenario), so it has a band. It is <i>additive</i> "
                  "when its 5–95 % band includes 0, <i>complementary</i> when it moves the indicator in its better "
                  "direction (higher population, fertility, fiscal autonomy, innovation; lower capital-region share, "
                  "disparity and regions at risk), <i>substitutive</i> otherwise. Note: the integrated scenario also "
                  f"changes {extra} beyond the decentralization and balance levers, so its interaction includes the "
                  "effect of those extra levers (mega-region integration, equalization).")
        if PURE in wp.scenarios:
            method += (" To separate them, the derived scenario 'decentralization + balance' (the union of the two "
                       "scenarios' settings) was run too; its interaction is the pure policy interaction.")
    parts = [f"<p>{method}</p>", f"<p class='verdict'>{verdict_sentence(wp)} {verdict_detail(wp)}</p>"]
    for combined in table["combined"].unique():
        rows = table[(table["combined"] == combined) & (table["year"] == v["year"])]
        parts.append(f"<h3>{html.escape(scenario_label(combined, wp.lang))} ({v['year']})</h3>")
        parts.append(_table_html(_complementarity_display(rows, wp.lang)))
    if "complementarity" in images:
        parts.append(images["complementarity"])
    return "\n".join(parts)


def verdict_detail(wp: Whitepaper) -> str:
    """The pure-union verdict, when the derived scenario ran."""
    pure = wp.complementarity.get("verdict_pure")
    if not pure:
        return ""
    ko = wp.lang == "ko"
    answer = ANSWERS[pure["answer"]][ko]
    names = {c: ", ".join(html.escape(NATIONAL[k].label(wp.lang)) for k in pure[c]) or ("없음" if ko else "none")
             for c in CLASS_NAMES}
    if ko:
        return (f"순수 결합(분권 ∪ 균형, 초광역·균등화 제외)만 보면 주장은 {answer}. 보완적: {names['complementary']}; "
                f"대체적: {names['substitutive']}; 가산적: {names['additive']}. 두 결과의 차이는 통합 시나리오가 추가로 "
                f"바꾸는 정책수단의 효과입니다.")
    return (f"For the pure union of the two scenarios (without the extra mega-region and equalization levers) the "
            f"claim is {answer}. Complementary: {names['complementary']}; substitutive: {names['substitutive']}; "
            f"additive: {names['additive']}. The difference between the two is the effect of the levers only the "
            f"integrated scenario moves.")


def _complementarity_display(rows: pd.DataFrame, lang: str) -> pd.DataFrame:
    ko = lang == "ko"
    out = []
    for r in rows.itertuples():
        d = NATIONAL[r.indicator].digits + 1
        out.append({
            ("지표" if ko else "indicator"): NATIONAL[r.indicator].label(lang),
            ("단위" if ko else "unit"): NATIONAL[r.indicator].unit(lang),
            ("분권 효과" if ko else "decentralization effect"): f"{r.effect_first_q50:+.{d}f}",
            ("균형 효과" if ko else "balance effect"): f"{r.effect_second_q50:+.{d}f}",
            ("효과 합" if ko else "sum of effects"): f"{r.sum_of_effects_q50:+.{d}f}",
            ("결합 효과" if ko else "combined effect"): f"{r.effect_combined_q50:+.{d}f} "
                                                      f"[{r.effect_combined_q05:+.{d}f}, {r.effect_combined_q95:+.{d}f}]",
            ("상호작용" if ko else "interaction"): f"{r.interaction_q50:+.{d}f} [{r.interaction_q05:+.{d}f}, "
                                                 f"{r.interaction_q95:+.{d}f}]",
            ("효과 합 대비 상호작용" if ko else "interaction / |sum|"):
                "" if not np.isfinite(r.interaction_share_of_sum) else f"{r.interaction_share_of_sum * 100:+.0f} %",
            ("분류" if ko else "class"): CLASS_NAMES[r.classification][ko],
        })
    return pd.DataFrame(out)


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
    """The method section."""
    n = wp.members.sizes["member"]
    if wp.lang == "ko":
        return (f"<p>kbalance는 17개 시도의 인구(성·단일연령), 혁신역량, 재정을 연결한 시스템 다이내믹스 모형입니다. 방정식은 "
                f"<code>model/kbalance.mdl</code>(Vensim 형식) 한 곳에만 있으며, PySD가 기준 엔진이고 같은 모형 파일에서 "
                f"생성된 numpy 엔진으로 앙상블을 실행합니다. 시점은 매년 1월 1일 기준이며, {history_end_year()}년부터 흐름을 "
                f"전망합니다.</p><p>불확실성은 제약 앙상블로 나타냅니다: 보정된 모수 주변에서 표본을 추출하고 과거 적합이 "
                f"신뢰영역 기준을 통과한 구성원만 남긴 것({wp.fit_report.name}-ensemble, 이 보고서는 {n:,}개 사용)입니다. "
                f"모든 시나리오는 같은 구성원으로 실행되므로 시나리오 간 차이는 구성원별 대응 차이이며, 구간(5–95 %)은 "
                f"모수 불확실성을 나타냅니다. 인구 피라미드처럼 세부 변수는 최적 적합 모수 실행에서 가져옵니다.</p>")
    return (f"<p>kbalance is a system-dynamics model linking population (by sex and single year of age), the "
            f"innovation base and local public finance in the 17 regions. The equations live only in "
            f"<code>model/kbalance.mdl</code> (Vensim format); PySD is the reference engine and a numpy engine "
            f"generated from the same model file runs the ensembles. Stocks are 1 January values; flows are "
            f"projected from {history_end_year()}.</p><p>Uncertainty comes from the constrained ensemble: parameter "
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
    text = (f"<p>보정 통계 (calibration/reports/{wp.fit_report.name}/fit_statistics.csv, 전체 시도·연도). 목표는 "
            f"calibration/targets.toml에 있습니다. <span class='met'>충족</span>: {met}. "
            f"<span class='notmet'>미충족</span>: {missed}.</p>" if ko else
            f"<p>Fit statistics (calibration/reports/{wp.fit_report.name}/fit_statistics.csv, all region-years); "
            f"the goals are set in calibration/targets.toml. <span class='met'>Met</span>: {met}. "
            f"<span class='notmet'>Not met</span>: {missed}.</p>")
    parts = [text, _table_html(wp.fit.round(4)), images.get("calibration_fit", "")]
    parts += [v for k, v in images.items() if k.startswith("calibration_fit_")]
    if wp.backtest is not None:
        beats = ", ".join(wp.backtest.loc[wp.backtest["model_beats_both_last_year"], "series"]) or ("없음" if ko else "none")
        parts.append(f"<p>{'백테스트: 마지막 연도에 두 단순 예측보다 나은 계열' if ko else 'Backtest: series where the model beats both naive forecasts in the last year'}: {beats}.</p>")
        parts += [_table_html(wp.backtest.round(2)), images.get("backtest", "")]
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
    if ko:
        table = table.rename(columns={"scenario": "시나리오", "lever": "정책수단", "description": "설명", "unit": "단위",
                                      "step": "단계", "target": "목표값", "start": "시작 연도", "ramp": "도달 기간(년)",
                                      "ref": "근거"})
    parts.append(_table_html(table))
    return "\n".join(parts)


def results_html(wp: Whitepaper, images: dict[str, str]) -> str:
    """Figures, the comparison table and the paired differences."""
    parts = []
    for name in ("capital_share", "population_change", "age_pyramids", "extinction_risk_tiles", "births_tfr",
                 "fiscal_autonomy", "tax_ratio", "innovation_grdp", "disparity"):
        parts.append(images.get(name, ""))
    parts.append(f"<h3>{h('comparison', wp.lang)}</h3>")
    comp = wp.tables["scenario_comparison"].drop(columns=["indicator", "scenario"])
    parts.append(_table_html(comp))
    diffs = wp.tables["scenario_differences"]
    year = int(diffs["year"].max()) if not diffs.empty else wp.until
    if not diffs.empty:
        rows = diffs[diffs["year"] == year]
        shown = pd.DataFrame({
            "indicator": [NATIONAL[k].label(wp.lang) for k in rows["indicator"]],
            "scenario": [scenario_label(s, wp.lang) for s in rows["scenario"]],
            "difference": [f"{r.q50:+.{NATIONAL[r.indicator].digits + 1}f} [{r.q05:+.{NATIONAL[r.indicator].digits + 1}f}, "
                           f"{r.q95:+.{NATIONAL[r.indicator].digits + 1}f}]" for r in rows.itertuples()],
            "unit": [NATIONAL[k].unit(wp.lang) for k in rows["indicator"]],
        })
        parts.append(f"<h3>{h('differences', wp.lang, y=year)}</h3>" + _table_html(shown))
    return "\n".join(parts)


def sensitivity_html(wp: Whitepaper, images: dict[str, str]) -> str:
    """The sensitivity section: summary facts, top factors and the figures of the folder."""
    if wp.sensitivity is None:
        return f"<p>{h('no_sensitivity', wp.lang)}</p>"
    summary = json.loads((wp.sensitivity / "summary.json").read_text(encoding="utf-8"))
    facts = {k: v for k, v in summary.items() if isinstance(v, (str, int, float, bool)) or
             (isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v))}
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
        items.append(f"보정 목표 미충족: {r.target} (MAPE {r.mape:.1f} %, R² {r.r2:.2f})" if ko else
                     f"Calibration target not met: {r.target} (MAPE {r.mape:.1f} %, R² {r.r2:.2f})")
    items.append("구간은 모수 불확실성만 나타냅니다. 모형 구조, 외생 가정(출산 추세, 사망률 개선, 생산성 추세)과 정책 경로는 "
                 "구성원 간에 같습니다." if ko else
                 "Bands show parameter uncertainty only: the model structure, the exogenous assumptions (fertility trend, "
                 "mortality improvement, productivity trend) and the lever paths are the same for every member.")
    items.append("정책수단의 크기 중 근거가 'hypothetical'(가상 설정)인 것은 출처가 없는 가정입니다." if ko else
                 "Lever settings marked 'hypothetical' are assumptions without a source.")
    limits = model_caveats()
    if limits:
        items.append(("모형의 경계 (docs/model.md, 원문):" if ko else "Model boundary (docs/model.md):")
                     + "<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in limits) + "</ul>")
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def font_face_css(text: str) -> str:
    """@font-face rules embedding NanumGothic (koreanize-matplotlib's copy, SIL OFL),
    subset to the characters of ``text``, as WOFF data URLs: Hangul then renders on a
    machine without Korean fonts. Empty when the font is not installed."""
    import logging

    from fontTools import subset

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # notes on dropped hinting tables
    rules = []
    unicodes = sorted({ord(c) for c in text if ord(c) > 127} | set(range(32, 127)))
    for path in _bundled_hangul_fonts():
        if path.stem not in ("NanumGothic", "NanumGothicBold"):
            continue
        options = subset.Options()
        options.flavor = "woff"
        font = subset.load_font(str(path), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=unicodes)
        subsetter.subset(font)
        buffer = io.BytesIO()
        subset.save_font(font, buffer, options)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        weight = "bold" if path.stem.endswith("Bold") else "normal"
        rules.append(f"@font-face{{font-family:'KbalanceHangul';font-weight:{weight};"
                     f"src:url(data:font/woff;base64,{data}) format('woff')}}")
    return "".join(rules)


def render_html(wp: Whitepaper, folder: Path) -> str:
    """The self-contained report page: CSS inline, figures as base64 PNG, no external URLs."""
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
        ("sensitivity", sensitivity_html(wp, images)),
        ("caveats", caveats_html(wp)),
    ]
    command = html.escape(" ".join(["kbalance", *sys.argv[1:]]))
    meta = h("generated", lang, time=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), command=command,
             members=wp.members.sizes["member"], fitted=wp.fit_report.name)
    toc = "".join(f"<li><a href='#{key}'>{h(key, lang)}</a></li>" for key, _ in sections)
    body = "\n".join(f"<section id='{key}'><h2>{h(key, lang)}</h2>\n{content}</section>" for key, content in sections)
    footer = (f"<p class='meta'>model {model_hash()[:12]} · data {data_hash()[:12]} · kbalance {kbalance.__version__} · "
              f"{html.escape(folder.name if not folder.name.startswith('.') else '')}</p>")
    return (f"<!DOCTYPE html>\n<html lang='{lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{h('title', lang, until=wp.until)}</title><style>{font_face_css(body + toc + meta + h('title', lang, until=wp.until))}{CSS}</style></head><body>"
            f"<h1>{h('title', lang, until=wp.until)}</h1><p class='meta'>{meta}</p>"
            f"<nav><h2>{h('toc', lang)}</h2><ol>{toc}</ol></nav>{body}<footer>{footer}</footer></body></html>\n")


__all__ = [
    "BLOC_INDICATOR",
    "NATIONAL",
    "REGIONAL",
    "Indicator",
    "Whitepaper",
    "classify",
    "comparison_table",
    "complementarity_table",
    "find_sensitivity",
    "interaction",
    "member_indicators",
    "render_html",
    "run_whitepaper",
    "scenario_label",
    "summarize",
    "top_factors",
    "use_korean_font",
    "verdict",
]
