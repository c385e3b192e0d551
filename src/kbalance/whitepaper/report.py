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
interrupted run leaves nothing behind. Figures live in :mod:`kbalance.figures`, the page in
:mod:`kbalance.report_html`.
"""

from __future__ import annotations

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
from kbalance.calibration.calibrate import ensemble_path, latest_ensemble_set, read_ensemble, target_goals
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.paths import calibration_dir, model_dir, outputs_dir, project_root
from kbalance.outputs import check_new_folder, write_new_folder
from kbalance.regions import BLOCS, load_regions, region_name
from kbalance.model.parameters import ParameterSet, read_parameter_set
from kbalance.outputs import data_hash, file_hash, model_hash, netcdf_ready, package_versions
from kbalance.runs import results_long
from kbalance.model.scenarios import Scenario, list_scenarios, read_scenario

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
    from kbalance.model.inputs import read_levers

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
    from kbalance.engine.ensemble import run_ensemble

    n = len(parameters)
    workers = workers or (1 if n < 64 else (os.cpu_count() or 1))
    chunk = max(1, min(250, math.ceil(n / workers)))
    chunks = run_ensemble(parameters.reset_index(drop=True), scenario, until, ENSEMBLE_VARIABLES,
                          chunk_size=chunk, workers=workers, reduce=member_indicators)
    merged = xr.concat(chunks, dim="member") if len(chunks) > 1 else chunks[0]
    return merged.assign_coords(member=parameters.index.to_numpy())


def run_bestfit(scenario: Scenario, fitted: ParameterSet, until: int) -> xr.Dataset:
    """The best-fit run of one scenario with full detail (Population by sex and age)."""
    from kbalance.runs import run_model

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
    from kbalance.model.inputs import read_levers

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
    from kbalance.model.inputs import read_levers

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

    from kbalance.engine.compiler import source_hash

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
    from kbalance.engine.compiler import compile_model

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
    from kbalance.whitepaper import figures

    for name, make in figures.FIGURES.items():
        log.stage(f"figure {name}")
        fig = make(wp)
        if fig is not None:
            wp.figures[name] = figures.save_figure(fig, folder / "figures", name, dpi=FIGURE_DPI)
    log.stage("copying calibration and sensitivity figures")
    wp.figures.update(copy_external_figures(wp, folder / "figures"))
    log.stage("report.html")
    from kbalance.whitepaper.page import render_html

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
    "run_whitepaper",
    "scenario_label",
    "summarize",
    "top_factors",
    "verdict",
]
