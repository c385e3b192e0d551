"""What lies behind an interaction of the factorial experiment, and a variance-based
cross-check of it.

**Mechanism traces.** For an interaction of a set S of policy groups, the best-fit
parameter set runs every cell with every model variable that is national or per region;
the *additive prediction* of the combined run is the all-off run plus the sum of the single
groups' effects, y_0 + Σ_{j ∈ S} (y_j − y_0). The variables (by region) whose combined run
departs most from that prediction, relative to their size in the all-off run, are where
the groups act on each other (:func:`mechanism_trace`).

**Second-order Sobol indices.** The same groups become continuous factors, an intensity
t ∈ [0, 1] each: a lever's targets move the lever from its value at its start year (the
history's, t = 0) to the scenario's path (t = 1), h + t (target − h), with the scenario's
start years and ramps (:func:`intensity_constants`). At t = 0 a lever holds its value of
the start year, which is its history for every lever whose history ends before the start.
Saltelli's sample with second order (kbalance.sensitivity.design) on the best-fit set gives
S1, ST and S2. If the response were multilinear in the intensities, the 2^k corners would
determine it: with Yates' effects E_S of the corners, each term has variance (E_S / 2)²
3^−|S| and the predicted index of S is its share of their sum (:func:`multilinear_indices`);
the comparison (:func:`sobol_cross_check`) shows how far the factorial interactions, read
at the corners, agree with the variance decomposition over the whole cube.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.engine.runtime import run_fast
from kbalance.model.indicators import indicator
from kbalance.model.inputs import read_levers
from kbalance.model.scenarios import SECOND_STEP_SUFFIX, Scenario
from kbalance.regions import code_of
from kbalance.sensitivity.design import analyze, sample_design
from kbalance.sensitivity.factorial import (FIRST_YEAR, TIMES, FactorialDesign, cell_table, effect_names,
                                            effect_sets, lever_of_constants, yates_effects)

#: Variables of the engine that are not model quantities.
CLOCK = ("SAVEPER", "Time")

#: Rows of each mechanism trace.
TRACE_ROWS = 12

#: Sobol base samples of the cross-check (N (2k + 2) runs of the best-fit set), its seed and years.
SOBOL_N, SOBOL_SEED, SOBOL_YEARS = 64, 20261201, (2050, 2070)


# ---------------------------------------------------------------------------
# Mechanism traces
# ---------------------------------------------------------------------------


def trace_variables() -> tuple[str, ...]:
    """Every computed model variable (no constant, data or lookup) that is national or per Region."""
    model = compile_model()
    fixed = {*model.constants, *model.data, *model.lookups}
    return tuple(n for n, py in model.names.items()
                 if py not in fixed and n not in CLOCK and set(model.dims.get(py, ())) <= {"Region"})


def bestfit_cells(design: FactorialDesign, values: dict, until: int,
                  variables: tuple[str, ...] | None = None) -> xr.Dataset:
    """Every cell run once (one run, the cells as members) with the parameter values ``values``
    (model constant → value, the best-fit set): dims (cell, year, region) with KOSIS region
    codes, from :data:`FIRST_YEAR`."""
    variables = variables or trace_variables()
    runs = run_fast(cell_table(design), background(design, values).constants, until, variables)
    out = runs.rename(member="cell").assign_coords(cell=design.names).sel(year=slice(FIRST_YEAR, None))
    if "Region" in out.dims:
        out = out.rename(Region="region").assign_coords(region=[code_of(n) for n in out["Region"].values])
    return out


def additive_prediction(runs: xr.Dataset, design: FactorialDesign, groups: tuple[int, ...]) -> xr.Dataset:
    """The all-off run plus the single groups' effects: y_0 + Σ_{j ∈ groups} (y_j − y_0)."""
    none = runs.isel(cell=0, drop=True)
    return none + sum(runs.isel(cell=design.cell([j]), drop=True) - none for j in groups)


def mechanism_trace(runs: xr.Dataset, design: FactorialDesign, groups: tuple[int, ...],
                    rows: int = TRACE_ROWS) -> pd.DataFrame:
    """The variables (by region) whose combined run departs most from the additive prediction.

    runs : Dataset of :func:`bestfit_cells`
    groups : indices of the interacting groups (two or more)
    Returns the ``rows`` largest, one row per variable (its region departing most), ranked
    by ``relative`` = max over years of |combined − additive| / max over years of |all-off
    run| (variables that are zero in the all-off run are ranked by their absolute departure
    after the others): variable, region ("" for a national variable), year of the largest
    departure, the all-off value, the combined and additive effects (run − all-off run) and
    their difference there [the variable's unit].
    """
    combined = runs.isel(cell=design.cell(groups), drop=True)
    additive = additive_prediction(runs, design, groups)
    none = runs.isel(cell=0, drop=True)
    out = []
    for name in runs.data_vars:
        dev, base = (combined[name] - additive[name]), none[name]
        cells = [{}] if "region" not in dev.dims else [{"region": r} for r in dev["region"].values]
        for at in cells:
            d, b = dev.sel(at).values, base.sel(at).values
            t = int(np.argmax(np.abs(d)))
            size = float(np.max(np.abs(b)))
            out.append({"variable": name, "region": str(at.get("region", "")), "year": int(dev["year"][t]),
                        "baseline": float(b[t]), "combined_effect": float(combined[name].sel(at).values[t] - b[t]),
                        "additive_effect": float(additive[name].sel(at).values[t] - b[t]),
                        "departure": float(d[t]), "relative": abs(float(d[t])) / size if size > 0 else np.nan,
                        "interaction": TIMES.join(design.groups[j].name for j in groups)})
    table = pd.DataFrame(out)
    table = table.assign(_absolute=table["departure"].abs()).sort_values(
        ["relative", "_absolute"], ascending=False, na_position="last").drop(columns="_absolute")
    table = table[table["departure"] != 0].drop_duplicates("variable").head(rows).reset_index(drop=True)
    return table.assign(rank=np.arange(1, len(table) + 1))


# ---------------------------------------------------------------------------
# Sobol cross-check
# ---------------------------------------------------------------------------


def start_values(design: FactorialDesign, values: dict, until: int) -> dict[str, float]:
    """Each lever's value at its start year in the combined scenario, from a run with no
    lever set: the history the intensity scales from (lever key → value [lever unit])."""
    levers = read_levers()
    keys = [lv for g in design.groups for lv in g.levers]
    run = run_fast(None, values, until, tuple(levers[k]["model"] for k in keys)).isel(member=0)
    return {k: float(run[levers[k]["model"]].sel(year=int(design.combined.constants[levers[k]["start"]])))
            for k in keys}


def intensity_constants(design: FactorialDesign, intensity: np.ndarray, history: dict[str, float]) -> pd.DataFrame:
    """Lever constants of every sample row: columns are the combined scenario's lever
    constants; a target becomes h + t (target − h) with t the intensity of its lever's group
    and h the lever's start value (``history``); start years and ramps are the scenario's.

    intensity : array (runs, groups) in [0, 1]
    """
    owner = lever_of_constants()
    group_of = {lv: j for j, g in enumerate(design.groups) for lv in g.levers}
    levers = read_levers()
    targets = {levers[lv]["target"] + s for lv in group_of for s in ("", SECOND_STEP_SUFFIX)}
    columns = {}
    for name, value in design.combined.constants.items():
        lever = owner.get(name)
        if lever not in group_of:
            continue
        if name in targets:
            h = history[lever]
            columns[name] = h + intensity[:, group_of[lever]] * (value - h)
        else:
            columns[name] = np.full(len(intensity), float(value))
    return pd.DataFrame(columns)


def sobol_problem(design: FactorialDesign) -> dict:
    """The SALib problem: one intensity in [0, 1] per policy group."""
    names = [g.name for g in design.groups]
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def background(design: FactorialDesign, values: dict) -> Scenario:
    """The best-fit values and the combined scenario's constants that belong to no lever."""
    owner = lever_of_constants()
    rest = {k: v for k, v in design.combined.constants.items() if k not in owner}
    return Scenario(name="best fit", description="best-fit parameter set", constants={**values, **rest})


def sobol_indices(design: FactorialDesign, values: dict, keys: tuple[str, ...], n: int = SOBOL_N,
                  seed: int = SOBOL_SEED, years: tuple[int, ...] = SOBOL_YEARS, workers: int = 1) -> pd.DataFrame:
    """S1, ST and S2 of the group intensities for the indicators ``keys`` on the best-fit set.

    Returns the long table of :func:`kbalance.sensitivity.design.analyze` (outcome, year,
    factor, index, value, conf), S2 rows named "a & b".
    """
    problem = sobol_problem(design)
    sample = sample_design(problem, "sobol", n, seed, second_order=True)
    until = max(years)
    history = start_values(design, values, until)
    inds = [indicator(k) for k in keys]
    variables = tuple(dict.fromkeys(i.variable for i in inds))
    result = run_ensemble(intensity_constants(design, sample.X, history), background(design, values), until,
                          variables, workers=workers)
    Y = np.stack([i.values(result).sel(year=list(years)).values for i in inds], axis=1)  # runs, outcomes, years
    return analyze(problem, sample, Y, list(keys), list(years), second_order_years=years)


def multilinear_indices(corner_values: np.ndarray, k: int) -> np.ndarray:
    """Sobol indices of the multilinear interpolation of 2^k corner values (Yates' order)
    with uniform intensities: (E_S / 2)² 3^−|S| over their sum, in effect_sets order."""
    effects = yates_effects(corner_values, k)
    variances = np.array([(e / 2) ** 2 * 3.0 ** -len(s) for e, s in zip(effects, effect_sets(k))])
    total = variances.sum()
    return variances / total if total > 0 else np.full(len(variances), np.nan)


def sobol_cross_check(sobol: pd.DataFrame, corners: xr.Dataset, design: FactorialDesign) -> pd.DataFrame:
    """S1 and S2 of the Sobol analysis beside the multilinear prediction from the best-fit
    corners and the corners' Yates' effect.

    sobol : the table of :func:`sobol_indices`
    corners : the indicators of the best-fit runs over (cell, year) (display units)
    Returns rows: outcome, year, effect, order, sobol (S1 or S2), conf, predicted, effect_best_fit.
    """
    k = len(design.groups)
    names = effect_names(design.groups)
    sets = effect_sets(k)
    label = {TIMES.join(design.groups[j].name for j in s): " & ".join(design.groups[j].name for j in s)
             for s in sets if len(s) <= 2}
    rows = []
    for (outcome, year), part in sobol.groupby(["outcome", "year"]):
        y = corners[outcome].sel(year=year).values
        predicted, effects = multilinear_indices(y, k), yates_effects(y, k)
        index = part.set_index(["factor", "index"])
        for e, name in enumerate(names):
            if name not in label:
                continue
            key = (label[name], "S1" if len(sets[e]) == 1 else "S2")
            if key not in index.index:
                continue
            rows.append({"outcome": outcome, "year": int(year), "effect": name, "order": len(sets[e]),
                         "sobol": float(index.loc[key, "value"]), "conf": float(index.loc[key, "conf"]),
                         "predicted": float(predicted[e]), "effect_best_fit": float(effects[e])})
    return pd.DataFrame(rows)


__all__ = [
    "SOBOL_N", "SOBOL_SEED", "SOBOL_YEARS", "TRACE_ROWS", "additive_prediction", "background", "bestfit_cells",
    "intensity_constants", "mechanism_trace", "multilinear_indices", "sobol_cross_check", "sobol_indices",
    "sobol_problem", "start_values", "trace_variables",
]
