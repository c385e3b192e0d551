"""The white paper's analysis: every shipped scenario on the constrained ensemble, the
indicators of each member and their quantiles (the complementarity of the policy groups
is in :mod:`~kbalance.whitepaper.complementarity`).

The indicators are variables of model/kbalance.mdl listed in model/indicators.toml
(:mod:`kbalance.model.indicators`); this module only selects which ones the white paper
shows and scales them for display. :class:`Whitepaper` holds everything the tables,
figures and page are made from.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.calibration.ensemble import read_ensemble
from kbalance.engine.ensemble import run_ensemble
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.model.conventions import indicator_attributes
from kbalance.model.indicators import Indicator, indicator, model_variables
from kbalance.model.inputs import read_levers
from kbalance.model.parameters import ParameterSet
from kbalance.model.scenarios import LeverStep, Scenario, list_scenarios, read_scenario
from kbalance.paths import model_dir
from kbalance.regions import BLOCS, code_of, membership
from kbalance.runs import run_model

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
#: The baseline, the two scenarios whose union is derived, and that union.
BASE, FIRST, SECOND = "baseline", "decentralization", "balance"
PURE = "decentralization+balance"

#: The indicators of model/indicators.toml the white paper shows, in display order.
NATIONAL_KEYS = ("population", "capital_share", "births", "tfr", "regions_at_risk", "extinction_index",
                 "fiscal_autonomy_mean", "fiscal_autonomy_cv", "local_tax_share", "innovation_base",
                 "grdp_per_capita", "grdp_pc_cv", "grdp_pc_theil", "fiscal_autonomy_theil")
REGIONAL_KEYS = ("region_population", "region_births", "region_tfr", "region_extinction_index",
                 "region_fiscal_autonomy", "region_innovation_base", "region_grdp_per_capita",
                 "region_elderly_share")
BLOC_KEYS = ("bloc_population",)
#: The national demographic indicators shown beside the UN WPP 2024 assumptions
#: (:mod:`~kbalance.whitepaper.demography`), not in the comparison tables.
DEMOGRAPHY_KEYS = ("life_expectancy_men", "life_expectancy_women")
INDICATOR_KEYS = (*NATIONAL_KEYS, *REGIONAL_KEYS, *BLOC_KEYS, *DEMOGRAPHY_KEYS)

#: The best-fit run keeps, beside the indicators' variables, the population by sex and age
#: (age pyramids), the numerator and denominator of the extinction risk index, national
#: GRDP, migration and the lever paths.
BESTFIT_EXTRA = ("young women", "elderly population", "national grdp", "Population", "net migration",
                 "mega region integration", "coprosperity fund rate", "local consumption tax rate",
                 "local share of total tax")


@dataclass(frozen=True)
class Aim:
    """A stated aim for an outcome of the model: its level [the indicator's unit] and the
    reference keys that state it."""

    target: float
    ref: str


#: The national:local tax ratios the government states as aims, as the local share of total
#: tax [%]: 7:3 [R4][R5] and 6:4 [R6][R7]. The ratio is an outcome of the model (the
#: decentralization scenario moves the local consumption tax rate to reach them).
TAX_RATIO_AIMS = (Aim(30.0, "R4 R5"), Aim(40.0, "R6 R7"))

SCENARIO_NAMES = {
    "baseline": ("Baseline", "기준"), "decentralization": ("Decentralization", "분권"),
    "balance": ("Balance", "균형발전"), "integrated": ("Integrated", "통합(분권+균형+초광역)"),
    "concentration": ("Concentration", "집중"), PURE: ("Decentralization + balance", "분권+균형 결합"),
}


def national_indicators() -> dict[str, Indicator]:
    """The national indicators the white paper shows, by key, in display order."""
    return {k: indicator(k) for k in NATIONAL_KEYS}


def regional_indicators() -> dict[str, Indicator]:
    """The regional indicators the white paper shows, by key, in display order."""
    return {k: indicator(k) for k in REGIONAL_KEYS}


def ensemble_variables() -> tuple[str, ...]:
    """The model variables every ensemble member keeps: those of the indicators."""
    return model_variables(INDICATOR_KEYS)


def bestfit_variables() -> tuple[str, ...]:
    """The model variables of the best-fit runs: the indicators' and :data:`BESTFIT_EXTRA`."""
    return tuple(dict.fromkeys((*ensemble_variables(), *BESTFIT_EXTRA)))


def scenario_label(name: str, lang: str) -> str:
    """Display name of a scenario in ``lang`` ("ko" or "en")."""
    pair = SCENARIO_NAMES.get(name)
    return name if pair is None else pair[lang == "ko"]


def table_years(until: int) -> list[int]:
    """The comparison years (2030, 2040, 2050, 2070) up to ``until``; ``until`` itself if none."""
    years = [y for y in TABLE_YEARS if y <= until]
    return years or [until]


def pyramid_years(until: int) -> list[int]:
    """Years of the age pyramids: 2024, 2050, 2070 up to ``until``, and ``until``."""
    years = [y for y in PYRAMID_YEARS if y <= until]
    return years if until in years else [*years, until]


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
    screening: bool = False  # True when ``sensitivity`` is the small screening run with this white paper
    figures: dict[str, Path] = field(default_factory=dict)
    complementarity: object | None = None  # kbalance.whitepaper.complementarity.Complementarity
    municipal: xr.Dataset | None = None  # (scenario, member, year, …) municipal counts, see whitepaper.municipal
    municipal_seconds: float = math.nan  # time the municipal layer took [s]
    variant: str | None = None  # key of the demographic variant every scenario ran under (model/demography.toml)
    lever_evidence: pd.DataFrame | None = None  # kbalance.sensitivity.levers.lever_table on this ensemble


# ---------------------------------------------------------------------------
# Inputs: scenarios, ensemble
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


def whitepaper_scenarios(extra: Sequence[Path] = ()) -> tuple[list[Scenario], dict]:
    """The shipped scenarios (baseline first), the user's scenario files ``extra`` (``--scenario
    FILE``, in the order given) and the derived pure combination when both decentralization
    and balance ship; and a note on the derived one for the manifest.

    Raises :class:`kbalance.errors.InvalidValueError` for a user scenario whose name is
    already taken (by a shipped scenario or an earlier file)."""
    names = list_scenarios()
    if BASE not in names:
        raise MissingFileError(model_dir() / "scenarios" / f"{BASE}.toml", "scenario", "the baseline scenario")
    ordered = [BASE, *[n for n in names if n != BASE]]
    scenarios = [read_scenario(n) for n in ordered]
    for path in extra:
        user = read_scenario(Path(path))
        taken = [s.name for s in scenarios] + [PURE]
        if user.name in taken:
            raise InvalidValueError(Path(path), "name", user.name, "a scenario name not already used: not " + ", ".join(taken))
        scenarios.append(user)
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


def lever_targets(scenarios: Sequence[Scenario], lever: str) -> list[LeverStep]:
    """The distinct targets the scenarios set for ``lever`` (a key of model/levers.toml),
    lowest first, each with the first step that sets it (for its reference)."""
    steps: dict[float, LeverStep] = {}
    for s in scenarios:
        for st in s.steps:
            if st.lever == lever:
                steps.setdefault(st.target, st)
    return [steps[t] for t in sorted(steps)]


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def region_coords(names: Sequence[str]) -> list[str]:
    """KOSIS codes of the model's Region elements ``names`` (English region names)."""
    return [code_of(n) for n in names]


def member_indicators(ds: xr.Dataset, keys: Sequence[str] = INDICATOR_KEYS) -> xr.Dataset:
    """Indicators per member from one ensemble chunk (a ``reduce``).

    ds : Dataset  run_ensemble output over (member, year, Region) holding the variables of ``keys``
    keys : keys of model/indicators.toml (default the white paper's, :data:`INDICATOR_KEYS`)
    Returns national indicators over (member, year), regional ones over (member, year,
    region) with KOSIS codes, and bloc ones over (member, year, bloc), in the display
    units of model/indicators.toml.
    """
    ds = ds.rename({"Region": "region"}).assign_coords(region=region_coords(ds["Region"].values))
    blocs = membership("bloc")
    first = {}  # bloc → its first region: a bloc indicator holds the bloc's value at every member region
    for code in ds["region"].values:
        first.setdefault(blocs[str(code)], str(code))
    present = [b for b in BLOCS if b in first]
    out = {}
    for key in keys:
        ind = indicator(key)
        values = ind.values(ds).assign_attrs(indicator_attributes(ind))
        if ind.level == "bloc":
            values = values.sel(region=[first[b] for b in present]).assign_coords(region=present).rename(region="bloc")
        out[key] = values
    return xr.Dataset(out)


def run_scenario_members(scenario: Scenario, parameters: pd.DataFrame, until: int,
                         workers: int | None = None, keys: Sequence[str] = INDICATOR_KEYS, reduce=None,
                         extra_variables: Sequence[str] = ()) -> xr.Dataset:
    """Indicators of every ensemble member under one scenario.

    parameters : DataFrame  members × parameter columns, indexed by member id
    until : int  last year [year]
    workers : int, optional  local processes (default: cores; 1 for small ensembles)
    keys : keys of model/indicators.toml (default the white paper's, :data:`INDICATOR_KEYS`)
    reduce : a top-level function of a chunk (default :func:`member_indicators` of ``keys``)
    extra_variables : model variables the chunks keep beside those of the indicators
    Returns ``reduce`` over all members, ``member`` holding the member ids.
    """
    n = len(parameters)
    workers = workers or (1 if n < 64 else (os.cpu_count() or 1))
    chunk = max(1, min(250, math.ceil(n / workers)))
    if reduce is None:
        reduce = member_indicators if tuple(keys) == INDICATOR_KEYS else partial(member_indicators, keys=tuple(keys))
    variables = tuple(dict.fromkeys((*model_variables(tuple(keys)), *extra_variables)))
    chunks = run_ensemble(parameters.reset_index(drop=True), scenario, until, variables,
                          chunk_size=chunk, workers=workers, reduce=reduce)
    merged = xr.concat(chunks, dim="member") if len(chunks) > 1 else chunks[0]
    return merged.assign_coords(member=parameters.index.to_numpy())


def run_bestfit(scenario: Scenario, fitted: ParameterSet, until: int) -> xr.Dataset:
    """The best-fit run of one scenario with full detail (Population by sex and age)."""
    return run_model(scenario, fitted, until, bestfit_variables(), engine="fast")


# ---------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------


def summarize(members: xr.Dataset) -> xr.Dataset:
    """Quantiles over members (5, 25, 50, 75, 95 %), as a ``quantile`` dimension named
    q05 … q95."""
    q = members.quantile(list(QUANTILES), dim="member", skipna=False)
    return q.assign_coords(quantile=list(QUANTILE_NAMES))


def member_quantiles(array: xr.DataArray) -> dict[str, float]:
    """The quantiles q05 … q95 over the ``member`` dimension of a one-value-per-member array."""
    values = np.quantile(array.transpose("member", ...).values, QUANTILES, axis=0)
    return dict(zip(QUANTILE_NAMES, map(float, values)))


__all__ = [
    "Aim", "BASE", "DEMOGRAPHY_KEYS", "FIRST", "INDICATOR_KEYS", "LANGS", "NATIONAL_KEYS", "PURE", "QUANTILE_NAMES", "REGIONAL_KEYS",
    "SECOND", "TAX_RATIO_AIMS", "Whitepaper", "combined_scenario", "ensemble_members", "lever_settings", "lever_targets",
    "member_indicators", "member_quantiles", "national_indicators", "regional_indicators", "run_bestfit",
    "run_scenario_members", "scenario_label", "summarize", "whitepaper_scenarios",
]
