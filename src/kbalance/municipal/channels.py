"""Policy channels of the municipal layer: the local extinction response fund to the
designated areas and the relocated public agencies to the innovation-city hosts.

A channel gives every municipality an *exposure* per head in every year: the fund it
receives [million KRW/(person·year)] or the relocated staff it gains [person/(person·year)].
In a projection step the municipality's cohort-change ratios are multiplied by

    exp(strength · (min(exposure(y), ceiling) − w(h) · window exposure))

where ``window exposure`` is the municipality's mean exposure over the steps of the
estimation window (already contained in its estimated ratios), ``w(h)`` the damping
weight of that departure from the region (:func:`kbalance.municipal.projection.damped`)
and ``ceiling`` the largest exposure of any municipality in the window: the evidence says
nothing beyond it, so a larger fund per resident acts as the largest observed one.
The raking then keeps every region's total: a channel moves people within a region.
Strengths, their priors and the host municipalities are in ``model/municipal.toml``
(docs/municipal.md, "Policy channels"; estimates in :mod:`kbalance.municipal.evidence`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.errors import InvalidValueError, KbalanceInputError, MissingFileError
from kbalance.model.fiscal_inputs import DEPOPULATION_SHARE
from kbalance.observations.keyed import municipalities
from kbalance.paths import model_dir, read_toml
from kbalance.regions import code_of

#: Municipal account of the fund: 75 % of it (the rest goes to the provinces) [R302].
MUNICIPAL_ACCOUNT = 0.75
#: million KRW per trillion KRW.
MILLION_PER_TRILLION = 1e6
#: The channels, in the order of ``model/municipal.toml``.
CHANNEL_KEYS = ("extinction_fund", "relocation")
#: Keys every channel of ``model/municipal.toml`` has.
REQUIRED = ("variable", "unit", "strength", "prior", "prior_mean", "prior_sd", "status", "calibrate", "reason")


@lru_cache(maxsize=2)
def read_channels(path: str | None = None) -> dict[str, dict]:
    """The channels of ``model/municipal.toml`` (key → table), checked: every key of
    :data:`REQUIRED`, a finite ``strength``, ``calibrate = false``; the relocation's
    ``hosts`` as [sgg code, reference key] pairs of known municipalities."""
    file = Path(path or model_dir() / "municipal.toml")
    table = read_toml(file, "municipal channels", "model/municipal.toml")
    known = set(municipalities().index)
    for key in CHANNEL_KEYS:
        spec = table.get(key)
        if not isinstance(spec, dict):
            raise KbalanceInputError(file, key, "missing", f"a table [{key}]")
        for field in REQUIRED:
            if field not in spec:
                raise KbalanceInputError(file, f"{key}.{field}", "missing", f"every key of {REQUIRED}")
        if not np.isfinite(float(spec["strength"])) or spec["calibrate"] is not False:
            raise InvalidValueError(file, f"{key}.strength", spec["strength"], "a finite number, calibrate = false")
    for code, ref in table["relocation"].get("hosts", []):
        if str(code) not in known or not str(ref).startswith("R"):
            raise InvalidValueError(file, "relocation.hosts", f"[{code}, {ref}]",
                                    "[sgg code of calibration/observations/municipalities.csv, reference key R…]")
    return table


def fund_weights(codes: np.ndarray) -> np.ndarray:
    """Share of the fund's municipal account of every municipality of ``codes`` [1]: the
    depopulation areas share :data:`~kbalance.model.fiscal_inputs.DEPOPULATION_SHARE` of it
    equally, the areas of concern the rest equally [R316][R320]; 0 for the others."""
    designation = municipalities()["designation"].reindex(codes).fillna("")
    counts = designation.value_counts()
    share = {"depopulation_area": DEPOPULATION_SHARE, "area_of_concern": 1.0 - DEPOPULATION_SHARE}
    return np.array([share[d] / counts[d] if d in share else 0.0 for d in designation])


def host_weights(codes: np.ndarray, region: np.ndarray, hosts) -> np.ndarray:
    """Share of its region's relocated staff of every municipality [1]: 1 for the host of
    its region (``hosts``: [sgg code, reference] pairs), 0 elsewhere. A region with two
    hosts would share equally."""
    chosen = {str(code) for code, _ in hosts}
    is_host = np.array([str(c) in chosen for c in codes], dtype=float)
    frame = pd.DataFrame({"region": region, "host": is_host})
    per_region = frame.groupby("region")["host"].transform("sum").to_numpy()
    return np.where(is_host > 0, is_host / np.maximum(per_region, 1.0), 0.0)


@dataclass(frozen=True)
class Channel:
    """One channel on the municipalities of a projection.

    amounts : (member, year, sgg) what each municipality receives in the year starting at
        each projection year [unit·person/year: million KRW/year, person/year]
    window : (sgg,) its mean exposure per head over the estimation window [unit/year]
    strength : change of the log cohort-change ratio per unit of exposure [1/unit]
    ceiling : the largest exposure per head of the window [unit/year]
    """

    amounts: np.ndarray
    window: np.ndarray
    strength: float
    ceiling: float = np.inf

    def factor(self, step: int, pop: np.ndarray, weight: float) -> np.ndarray:
        """(member, sgg) multiplier of the cohort-change ratios of the step from year
        ``step − 1`` to ``step``; ``pop`` (member, sgg, sex, group) [persons] at its start,
        ``weight`` the damping weight of the step [1]."""
        head = pop.sum(axis=(2, 3))
        with np.errstate(divide="ignore", invalid="ignore"):
            exposure = np.where(head > 0, self.amounts[:, step - 1] / head, 0.0)
        return np.exp(self.strength * (np.minimum(exposure, self.ceiling) - weight * self.window))


def national_series(values: xr.DataArray, years: list[int]) -> np.ndarray:
    """(member, year) of a run variable without ``Region`` in ``years``."""
    pop = values if "member" in values.dims else values.expand_dims(member=[0])
    return pop.sel(year=years).transpose("member", "year").values


def regional_series(values: xr.DataArray, years: list[int], region: np.ndarray) -> np.ndarray:
    """(member, year, sgg) of a run variable over ``Region``, each municipality given its
    region's value (``region`` the municipalities' KOSIS codes)."""
    pop = values if "member" in values.dims else values.expand_dims(member=[0])
    by_code = pop.assign_coords(Region=[code_of(str(r)) for r in pop["Region"].values])
    return by_code.sel(year=years, Region=list(region)).transpose("member", "year", "Region").values


def fund_amounts(fund: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(member, year, sgg) fund received [million KRW/year] from the national fund
    (member, year) [trillion KRW/year] and :func:`fund_weights`."""
    return MUNICIPAL_ACCOUNT * MILLION_PER_TRILLION * fund[..., None] * weights


def staff_inflows(staff: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(member, year, sgg) relocated staff gained in the year starting at each year
    [person/year] from the cumulative regional staff (member, year, sgg) [person] and
    :func:`host_weights`; 0 in the last year (no step starts there)."""
    return np.diff(staff, axis=1, append=staff[:, -1:]) * weights


def input_table(name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """A table of ``model/inputs/`` with ``columns`` (written by ``kbalance model inputs``)."""
    path = model_dir() / "inputs" / name
    if not path.is_file():
        raise MissingFileError(path, "model input table", "run `kbalance model inputs`")
    table = pd.read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KbalanceInputError(path, ",".join(missing), "missing", f"columns {columns}")
    return table


def lever_path(name: str, years) -> np.ndarray:
    """A lever's history of ``model/inputs/lever_<name>.csv`` at ``years``, linear between
    its points and held beyond them [the lever's unit]."""
    table = input_table(f"lever_{name}.csv", ("key", "value"))
    return np.interp(np.asarray(years, dtype=float), table["key"].to_numpy(float), table["value"].to_numpy(float))


def historical_amounts(codes: np.ndarray, region: np.ndarray, years) -> dict[str, np.ndarray]:
    """(year, sgg) what each channel gave every municipality in the calendar ``years``:
    the fund [million KRW/year] from its lever history, the relocated staff gained
    [person/year] from the first round's history (``first relocation staff``) and its
    regional allocation (``inputs/relocation_allocation.csv``, percent)."""
    fund = fund_amounts(lever_path("local_extinction_fund", years)[None], fund_weights(codes))[0]
    years = np.asarray(years)
    national = lever_path("first_relocation_staff", years) - lever_path("first_relocation_staff", years - 1)
    allocation = input_table("relocation_allocation.csv", ("key", "first"))
    share = pd.Series(allocation["first"].to_numpy(float) / 100, index=[code_of(k) for k in allocation["key"]])
    hosts = read_channels()["relocation"].get("hosts", [])
    staff = national[:, None] * share.reindex(region).fillna(0.0).to_numpy()[None] * host_weights(codes, region, hosts)
    return {"extinction_fund": fund, "relocation": staff}


def exposures(amounts: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Exposure per head [unit/year]: ``amounts`` / ``population`` [persons], 0 where there
    is nobody."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(population > 0, amounts / population, 0.0)


def window_exposures(codes: np.ndarray, region: np.ndarray, totals: np.ndarray, window: tuple[int, int]) -> dict[str, np.ndarray]:
    """(step, sgg) each channel's exposure per head in the year-to-year steps of the
    estimation ``window`` (December years) [unit/year]; ``totals`` (sgg, year) [persons]
    the observed totals of the window's years, the population at each step's start."""
    years = np.arange(window[0] + 1, window[1] + 1)
    return {key: exposures(part, totals[:, :-1].T) for key, part in historical_amounts(codes, region, years).items()}


def layer_channels(run: dict[str, xr.DataArray], codes: np.ndarray, region: np.ndarray, years: list[int],
                   window: dict[str, np.ndarray]) -> list[Channel]:
    """The channels of a projection over ``years`` from a run's ``local extinction fund``
    (year) [trillion KRW/year] and ``relocated public staff`` (year, Region) [person]
    (``run``: variable → DataArray, with or without ``member``); ``window`` from
    :func:`window_exposures` gives each channel's window mean and ceiling. A channel whose variable the run lacks raises
    KbalanceInputError: a projection with policy channels needs both."""
    spec = read_channels()
    missing = [spec[k]["variable"] for k in CHANNEL_KEYS if spec[k]["variable"] not in run]
    if missing:
        raise KbalanceInputError("municipal layer", ", ".join(missing), "not in the run",
                                 "the run variables of model/municipal.toml's channels")
    fund = fund_amounts(national_series(run[spec["extinction_fund"]["variable"]], years), fund_weights(codes))
    staff = regional_series(run[spec["relocation"]["variable"]], years, region)
    inflow = staff_inflows(staff, host_weights(codes, region, spec["relocation"].get("hosts", [])))
    return [Channel(amounts, window[key].mean(axis=0), float(spec[key]["strength"]), float(window[key].max()))
            for key, amounts in (("extinction_fund", fund), ("relocation", inflow))]
