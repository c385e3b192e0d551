"""Indicators of the municipal layer: the extinction risk index per 시군구, the counts of
municipalities at risk and at high risk, the designated areas as a group and the
municipalities below population thresholds.

The index and its classes are those of the regional indicator ``region_extinction_index``
of model/indicators.toml (women 20–39 per resident 65+; classes from the KEIS report): the
class bounds and labels are read from there, so the municipal and regional maps classify
alike. Arrays have the group axis last and the sex axis (male, female) before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.errors import KbalanceInputError
from kbalance.model.indicators import Indicator, indicator, indicators_file
from kbalance.municipal.projection import group_lower

#: The indicator of model/indicators.toml whose definition and classes the layer uses.
INDEX_KEY = "region_extinction_index"
#: Population thresholds [persons]: 10,000 and 20,000 residents, and 50,000, the population
#: a 시 needs (Local Autonomy Act, art. 10).
POPULATION_THRESHOLDS = (10_000, 20_000, 50_000)
#: Designations of municipal_designations.csv, in display order.
DESIGNATIONS = ("depopulation_area", "area_of_concern")


def index_indicator() -> Indicator:
    """The regional extinction index entry of model/indicators.toml (labels, classes)."""
    return indicator(INDEX_KEY)


def risk_bounds() -> tuple[float, float]:
    """(high-risk, at-risk) bounds of the index [1]: its two lowest classes (0.2, 0.5)."""
    classes = index_indicator().classes
    if len(classes) < 2:
        raise KbalanceInputError(indicators_file(), f"{INDEX_KEY}.classes", f"{list(classes)}",
                                 "at least two class bounds (high risk, at risk)")
    return classes[0], classes[1]


def group_slice(labels: tuple[str, ...], low: int, high: int = 10_000) -> slice:
    """The groups of ``labels`` from age ``low`` to age ``high`` [years] (closed groups
    inside, or the open group from its lower bound), as a slice (groups are in order)."""
    chosen = [i for i, g in enumerate(labels) if low <= group_lower(g) and (group_lower(g) + 4 <= high)
              or (g.endswith("p") and low <= group_lower(g) <= high)]
    return slice(chosen[0], chosen[-1] + 1)


def young_women(pop: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """Women aged 20–39 [persons] of ``pop`` (..., sex, group)."""
    return pop[..., 1, group_slice(labels, 20, 39)].sum(axis=-1)


def elderly(pop: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """Residents aged 65 and over [persons] of ``pop`` (..., sex, group)."""
    return pop[..., group_slice(labels, 65)].sum(axis=(-1, -2))


def extinction_index(pop: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """Women 20–39 per resident 65+ [1] of ``pop`` (..., sex, group); 0 without elderly
    residents, as the model's ZIDZ."""
    old = elderly(pop, labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(old > 0, young_women(pop, labels) / old, 0.0)


def designation_matrix(designation: np.ndarray) -> np.ndarray:
    """(group, sgg) 0/1: the municipalities of each group of :data:`DESIGNATIONS` and of
    both together (rows: depopulation areas, areas of concern, all designated)."""
    rows = [designation == d for d in DESIGNATIONS]
    return np.array([*rows, np.logical_or.reduce(rows)], dtype=float)


#: Names of the rows of :func:`designation_matrix`.
DESIGNATED_GROUPS = (*DESIGNATIONS, "designated")


def summary(pop: np.ndarray, labels: tuple[str, ...], designation: np.ndarray) -> dict[str, np.ndarray]:
    """The counted indicators of ``pop`` (..., sgg, sex, group) [persons].

    Returns arrays over the leading axes: ``at_risk`` and ``high_risk`` (municipalities with
    an index below the bounds of :func:`risk_bounds`), ``below_<N>`` (population below each
    of :data:`POPULATION_THRESHOLDS`), and over (..., designated group)
    ``designated_population`` [persons] and ``designated_index`` [1] (the group's women
    20–39 over its residents 65+).
    """
    high, risk = risk_bounds()
    index = extinction_index(pop, labels)
    total = pop.sum(axis=(-1, -2))
    groups = designation_matrix(designation)
    women = np.einsum("gs,...s->...g", groups, young_women(pop, labels))
    old = np.einsum("gs,...s->...g", groups, elderly(pop, labels))
    out = {"at_risk": (index < risk).sum(axis=-1), "high_risk": (index < high).sum(axis=-1)}
    out.update({f"below_{n}": (total < n).sum(axis=-1) for n in POPULATION_THRESHOLDS})
    out["designated_population"] = np.einsum("gs,...s->...g", groups, total)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["designated_index"] = np.where(old > 0, women / old, 0.0)
    return out


def summary_dataset(values: dict[str, np.ndarray], coords: dict[str, np.ndarray]) -> xr.Dataset:
    """The arrays of :func:`summary` as a Dataset; ``coords`` names their leading axes in
    order (e.g. ``{"member": …, "year": …}``); the designated groups get the axis ``group``."""
    dims = list(coords)
    out = {}
    for name, array in values.items():
        if name.startswith("designated_"):
            out[name] = xr.DataArray(array, dims=[*dims, "group"], coords={**coords, "group": list(DESIGNATED_GROUPS)})
        else:
            out[name] = xr.DataArray(array, dims=dims, coords=coords)
    return xr.Dataset(out)


def crossings(index: pd.DataFrame, start: int, end: int) -> pd.DataFrame:
    """Municipalities whose risk class changes between ``start`` and ``end``.

    index : columns sgg_code, sgg_name, region, scenario, year, extinction_index
    Returns rows scenario, sgg_code, sgg_name, region, index at start and end, and
    ``crossing``: ``"into risk"`` (at or above the at-risk bound at start, below it at end),
    ``"into high risk"`` (the same for the high-risk bound) or ``"out of risk"``.
    """
    high, risk = risk_bounds()
    keys = ["scenario", "sgg_code", "sgg_name", "region"]
    wide = index[index["year"].isin([start, end])].pivot_table(index=keys, columns="year",
                                                               values="extinction_index").reset_index()
    if start not in wide or end not in wide:
        return pd.DataFrame(columns=[*keys, "index_start", "index_end", "crossing"])
    wide = wide.rename(columns={start: "index_start", end: "index_end"})
    a, b = wide["index_start"], wide["index_end"]
    kind = np.select([(a >= high) & (b < high), (a >= risk) & (b < risk), (a < risk) & (b >= risk)],
                     ["into high risk", "into risk", "out of risk"], "")
    return wide.assign(crossing=kind)[lambda d: d["crossing"] != ""][[*keys, "index_start", "index_end", "crossing"]]
