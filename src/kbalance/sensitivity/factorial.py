"""Complementarity by experiment: the full factorial design over the policy groups of a
combined scenario, run on the constrained ensemble, and its Yates' effects.

The policy groups of a scenario that includes others (model/scenarios/integrated.toml)
are read from its file: each included scenario is one group (its lever paths), each lever
the file names itself is one group. With k groups the design has 2^k cells, every
combination of groups switched on or off; a cell is the scenario whose lever paths are
those of the groups it switches on (the all-on cell is the combined scenario itself, the
all-off cell the levers' history). Every cell runs on the same ensemble members, so the
effects are paired by member.

Effects are the standard factorial contrasts (Yates' effects): with each group coded
s = −1 (off) or +1 (on), the effect of a set S of groups is

    E_S = 2 / 2^k · Σ_cells (Π_{j ∈ S} s_j) · y_cell,

the main effect of a group (|S| = 1) is its mean effect over the other groups' settings,
and an interaction (|S| ≥ 2) is what the groups do together beyond the sum of their
separate effects, averaged the same way. For a response y = β x_A x_B (x = 0 or 1), E_AB
= β / 2 (and E_A = E_B = β / 2); an additive response has every interaction zero.

An interaction is *not additive* when its 5–95 % band over members excludes 0 and the
size of its median exceeds the practical threshold :func:`practical_threshold`:
:data:`PRACTICAL_SHARE` of the largest median main effect of the same indicator and year,
and at least half a unit of the indicator's last shown digit (model/indicators.toml).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.engine.compiler import compile_model
from kbalance.engine.summaries import summarize_ensemble
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import indicator
from kbalance.model.inputs import read_levers
from kbalance.model.scenarios import SECOND_STEP_SUFFIX, LeverStep, Scenario, read_scenario

#: The combined scenario whose groups the design crosses.
COMBINED = "integrated"

#: Indicators of model/indicators.toml analysed by default (national ones).
FACTORIAL_KEYS = ("capital_share", "population", "fiscal_autonomy_mean", "regions_at_risk", "innovation_pw_cv",
                  "grdp_pc_cv")

#: First year whose effects are computed [year] (no lever of a shipped scenario starts earlier).
FIRST_YEAR = 2025

#: Practical threshold of an interaction: this share of the largest |median main effect|.
PRACTICAL_SHARE = 0.10

#: Quantiles of the bands and their names.
BAND = (0.05, 0.5, 0.95)
BAND_NAMES = ("q05", "q50", "q95")

#: Separator of the groups in an effect's name ("decentralization × balance").
TIMES = " × "


@dataclass(frozen=True)
class PolicyGroup:
    """One factor of the design.

    name : str  the included scenario's name, or the lever key of model/levers.toml
    levers : tuple of str  lever keys whose paths the group sets
    """

    name: str
    levers: tuple[str, ...]


@dataclass(frozen=True)
class FactorialDesign:
    """The 2^k cells over k policy groups of a combined scenario.

    combined : Scenario  the scenario whose groups are crossed
    groups : tuple of PolicyGroup  the factors, in the order of the file
    on : array (cells, groups) of bool  which groups each cell switches on; cell i
        switches group j on when bit j of i is set (Yates' standard order)
    cells : tuple of Scenario  the cell scenarios, in the same order
    """

    combined: Scenario
    groups: tuple[PolicyGroup, ...]
    on: np.ndarray
    cells: tuple[Scenario, ...]

    @property
    def names(self) -> list[str]:
        """The cell names: the groups switched on joined by "+", "none" for the all-off cell."""
        return [c.name for c in self.cells]

    def cell(self, groups: Sequence[int]) -> int:
        """Index of the cell switching on exactly the groups ``groups`` (indices)."""
        return int(sum(1 << j for j in set(groups)))


def policy_groups(combined: Scenario) -> tuple[PolicyGroup, ...]:
    """The policy groups of a combined scenario: each included scenario (its levers,
    less those the combined file sets itself), then each lever the file sets itself."""
    included = [read_scenario(name) for name in combined.includes]
    inherited = {st for s in included for st in s.steps}
    own = list(dict.fromkeys(st.lever for st in combined.steps if st not in inherited))
    groups = [PolicyGroup(s.name, tuple(dict.fromkeys(st.lever for st in s.steps if st.lever not in own)))
              for s in included]
    groups += [PolicyGroup(lever, (lever,)) for lever in own]
    return tuple(g for g in groups if g.levers)


def lever_of_constants(levers: dict[str, dict] | None = None) -> dict[str, str]:
    """Model constant → the lever key of model/levers.toml that sets it (both steps)."""
    out = {}
    for key, spec in (levers or read_levers()).items():
        for role in ("target", "start", "ramp"):
            if role in spec:
                out[spec[role]] = out[spec[role] + SECOND_STEP_SUFFIX] = key
    return out


def cell_scenario(combined: Scenario, levers: set[str], name: str) -> Scenario:
    """The combined scenario restricted to the lever paths of ``levers`` (lever keys);
    constants that belong to no lever (set by the file for every run) are kept."""
    owner = lever_of_constants()
    constants = {k: v for k, v in combined.constants.items() if owner.get(k, None) in levers or k not in owner}
    steps: tuple[LeverStep, ...] = tuple(st for st in combined.steps if st.lever in levers)
    return Scenario(name=name, description=f"Factorial cell of {combined.name}: {name}", constants=constants,
                    path=None, steps=steps, includes=())


def cell_table(design: FactorialDesign) -> pd.DataFrame:
    """The cells as rows of lever constants (every constant a cell of the combined scenario
    sets; a cell that does not set one holds the model's value), for one run of all cells."""
    model = compile_model()
    names = list(dict.fromkeys(k for c in design.cells for k in c.constants))
    default = {k: float(np.ravel(model.constants[model.names[k]])[0]) for k in names}
    return pd.DataFrame([{k: c.constants.get(k, default[k]) for k in names} for c in design.cells],
                        index=pd.Index(design.names, name="cell"))


def factorial_design(combined: Scenario | str = COMBINED) -> FactorialDesign:
    """The full factorial design over the policy groups of ``combined`` (a Scenario or a
    shipped name); refuses a scenario with fewer than two groups."""
    combined = combined if isinstance(combined, Scenario) else read_scenario(combined)
    groups = policy_groups(combined)
    if len(groups) < 2:
        raise InvalidValueError(combined.path or combined.name, "scenario.include", list(combined.includes),
                                "a scenario with at least two policy groups (included scenarios or own levers)")
    k = len(groups)
    on = np.array([[bool(i >> j & 1) for j in range(k)] for i in range(2 ** k)])
    cells = []
    for row in on:
        chosen = [g for g, flag in zip(groups, row) if flag]
        name = "+".join(g.name for g in chosen) or "none"
        cells.append(cell_scenario(combined, {lv for g in chosen for lv in g.levers}, name))
    return FactorialDesign(combined, groups, on, tuple(cells))


# ---------------------------------------------------------------------------
# Yates' effects
# ---------------------------------------------------------------------------


def effect_sets(k: int) -> list[tuple[int, ...]]:
    """Every non-empty set of the k groups (indices), by order then in lexicographic order."""
    return [combo for order in range(1, k + 1) for combo in itertools.combinations(range(k), order)]


def effect_names(groups: Sequence[PolicyGroup]) -> list[str]:
    """Names of the effects of :func:`effect_sets`: "balance", "decentralization × balance", …"""
    return [TIMES.join(groups[j].name for j in s) for s in effect_sets(len(groups))]


def contrast_matrix(k: int) -> np.ndarray:
    """Signs (effects, cells) of the contrasts: Π_{j∈S} s_j with s = ±1, cells in Yates' order."""
    s = np.array([[1 if i >> j & 1 else -1 for j in range(k)] for i in range(2 ** k)])
    return np.array([[np.prod(s[c, list(S)]) for c in range(2 ** k)] for S in effect_sets(k)], dtype=float)


def yates_effects(values: np.ndarray, k: int, axis: int = 0) -> np.ndarray:
    """Yates' effects of the responses ``values`` whose ``axis`` runs over the 2^k cells
    (Yates' order); returns the effects along that axis (2^k − 1, in :func:`effect_sets` order)."""
    values = np.moveaxis(np.asarray(values, float), axis, 0)
    if values.shape[0] != 2 ** k:
        raise InvalidValueError("yates_effects", "values", values.shape, f"{2 ** k} cells along axis {axis}")
    effects = np.tensordot(contrast_matrix(k), values, axes=(1, 0)) * (2.0 / 2 ** k)
    return np.moveaxis(effects, 0, axis)


def effects_dataset(cells: xr.Dataset, design: FactorialDesign) -> xr.Dataset:
    """Yates' effects of every variable of ``cells`` (dims cell, member, year, …): dims
    (effect, member, year, …), ``effect`` holding the names of :func:`effect_names`, with
    coordinate ``order`` (1 main effect, 2… interactions)."""
    k = len(design.groups)
    cells = cells.transpose("cell", ...)
    out = {name: (("effect", *cells[name].dims[1:]), yates_effects(cells[name].values, k))
           for name in cells.data_vars}
    coords = {d: cells[d] for d in cells.dims if d != "cell" and d in cells.coords}
    return xr.Dataset(out, coords={**coords, "effect": effect_names(design.groups),
                                   "order": ("effect", [len(s) for s in effect_sets(k)])})


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def run_factorial(design: FactorialDesign, parameters: pd.DataFrame, until: int,
                  keys: Sequence[str] = FACTORIAL_KEYS, workers: int | None = None,
                  chunk_size: int | None = None, engine: str = "numpy") -> xr.Dataset:
    """The indicators ``keys`` (national, model/indicators.toml) of every member in every
    cell, streamed: each chunk keeps only the indicators' variables from :data:`FIRST_YEAR`.

    parameters : DataFrame  members × parameter columns (the constrained ensemble), indexed
        by member id; the same members run in every cell
    until : int  last year [year]
    workers : int, optional  local processes (default: cores; 1 for fewer than 64 members)
    chunk_size : int, optional  members per chunk (default: the members spread over the workers, at most 250)
    engine : "numpy" (default, PySD's arithmetic), "fused" or "auto": the fast engine's execution path
    Returns a Dataset over (cell, member, year) in the indicators' display units.
    """
    inds = [indicator(k) for k in keys]
    for ind in inds:
        if ind.level != "national":
            raise InvalidValueError("run_factorial", "keys", ind.key, "national indicators of model/indicators.toml")
    variables = tuple(dict.fromkeys(ind.variable for ind in inds))
    years = list(range(FIRST_YEAR, until + 1))
    n = len(parameters)
    workers = workers or (1 if n < 64 else (os.cpu_count() or 1))
    chunk = chunk_size or max(1, min(250, math.ceil(n / workers)))
    table = parameters.reset_index(drop=True)
    per_cell = []
    for cell in design.cells:
        summary = summarize_ensemble(table, keep={v: years for v in variables}, scenario=cell, until=until,
                                     variables=variables, chunk_size=chunk, workers=workers, engine=engine)
        results = xr.Dataset({v: summary.outcomes(v) for v in variables})
        per_cell.append(xr.Dataset({ind.key: ind.values(results) for ind in inds}))
    out = xr.concat(per_cell, dim=pd.Index(design.names, name="cell"))
    return out.assign_coords(member=parameters.index.to_numpy())


# ---------------------------------------------------------------------------
# Bands and classification
# ---------------------------------------------------------------------------


def practical_threshold(main_medians: np.ndarray, digits: int) -> float:
    """Smallest interaction size that counts [indicator's unit]: :data:`PRACTICAL_SHARE`
    of the largest |median main effect|, and at least half a unit of the last shown digit."""
    largest = float(np.max(np.abs(main_medians))) if len(main_medians) else 0.0
    return max(PRACTICAL_SHARE * largest, 0.5 * 10.0 ** -digits)


def same_sign_share(values: np.ndarray, median: float) -> float:
    """Share of members whose effect has the sign of the median (exactly zero when it is zero)."""
    return float(np.mean(np.sign(values) == np.sign(median)))


def classify_interaction(low: float, high: float, median: float, threshold: float, direction: int) -> str:
    """"additive" unless the band [low, high] excludes 0 and |median| exceeds ``threshold``;
    else "complementary" when the interaction moves the indicator in its better direction
    (``direction`` +1 higher is better, −1 lower is), "substitutive" when against it, and
    "interacting" for an indicator without a better direction."""
    if low <= 0 <= high or abs(median) <= threshold:
        return "additive"
    if direction == 0:
        return "interacting"
    return "complementary" if np.sign(median) * direction > 0 else "substitutive"


def member_agreement(values: np.ndarray, classification: str, threshold: float, direction: int) -> float:
    """Share of members whose own effect gets the ensemble's class: within ±``threshold``
    for "additive", beyond it on the median's side for the other classes."""
    if classification == "additive":
        return float(np.mean(np.abs(values) <= threshold))
    sign = (1 if classification == "complementary" else -1) * (direction or 1)
    if classification == "interacting":
        sign = np.sign(np.median(values))
    return float(np.mean(sign * values > threshold))


def effect_table(effects: xr.Dataset, years: Sequence[int] | None = None) -> pd.DataFrame:
    """Every effect per indicator and year with its band over members.

    effects : Dataset over (effect, member, year) of :func:`effects_dataset`
    years : years to report (default every year)
    Returns rows: indicator, year, effect, order, q05, q50, q95, same_sign (share of
    members with the median's sign), threshold (the practical threshold of the indicator
    and year), not_additive (interactions only), classification and agree (interactions:
    the share of members whose own effect gets that class, :func:`member_agreement`).
    """
    years = list(effects["year"].values if years is None else years)
    orders = effects["order"].values
    names = list(effects["effect"].values)
    rows = []
    for key in effects.data_vars:
        ind = indicator(key)
        x = effects[key].sel(year=years).transpose("effect", "member", "year").values
        bands = np.quantile(x, BAND, axis=1)  # (quantile, effect, year)
        for t, year in enumerate(years):
            threshold = practical_threshold(bands[1, orders == 1, t], ind.digits)
            for e, name in enumerate(names):
                low, mid, high = (float(b) for b in bands[:, e, t])
                cls = ("main" if orders[e] == 1 else
                       classify_interaction(low, high, mid, threshold, ind.direction))
                rows.append({"indicator": key, "year": int(year), "effect": name, "order": int(orders[e]),
                             **dict(zip(BAND_NAMES, (low, mid, high))),
                             "same_sign": same_sign_share(x[e, :, t], mid), "threshold": threshold,
                             "not_additive": cls not in ("main", "additive"), "classification": cls,
                             "agree": (np.nan if cls == "main" else
                                       member_agreement(x[e, :, t], cls, threshold, ind.direction))})
    return pd.DataFrame(rows)


def effect_paths(effects: xr.Dataset) -> xr.Dataset:
    """Bands of every effect over members at every year: dims (quantile, effect, year)."""
    q = effects.quantile(list(BAND), dim="member")
    return q.assign_coords(quantile=list(BAND_NAMES))


__all__ = [
    "BAND_NAMES", "COMBINED", "FACTORIAL_KEYS", "FIRST_YEAR", "FactorialDesign", "PRACTICAL_SHARE", "PolicyGroup",
    "TIMES", "cell_scenario", "cell_table", "classify_interaction", "contrast_matrix", "effect_names", "effect_paths", "effect_sets",
    "effect_table", "effects_dataset", "factorial_design", "lever_of_constants", "member_agreement", "policy_groups",
    "practical_threshold", "run_factorial", "same_sign_share", "yates_effects",
]
