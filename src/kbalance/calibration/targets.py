"""Calibration targets: the observed series of calibration/targets.toml and the model
variables they are compared with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.errors import InvalidValueError
from kbalance.observations import load as data
from kbalance.paths import calibration_dir, read_toml
from kbalance.regions import load_regions, region_codes

#: First calendar year of any target.
FIRST_YEAR = 2001
#: A jump-off year beyond any history run [calendar year]: history runs never jump off.
NO_JUMP_OFF_YEAR = 2200.0


@dataclass(frozen=True)
class Target:
    """One observed series and the model variable it is compared with.

    name : str  the target's key in calibration/targets.toml
    series : str  the observation series (calibration/observations)
    variable : str  the model variable
    years : array  calendar years of the observations
    observed : array (year, region) or (year, origin, destination) [model units], NaN where missing
    offset : int  model Time = year + offset
    weight : float  weight of the target in the objective
    scale : float, or array (region,)  normalisation of its residuals [model units]; one
        value per region with ``normalise = "region"`` or ``"region-pooled"``
    """

    name: str
    series: str
    variable: str
    years: np.ndarray
    observed: np.ndarray
    offset: int
    weight: float
    scale: float | np.ndarray

    @property
    def times(self) -> np.ndarray:
        """Model times of the observations [year]."""
        return self.years + self.offset


def history_constants(model) -> dict[str, float]:
    """Constants that make a run a history run: ``{"jump off year": 2200}`` when the model
    defines a ``jump off year`` (the population then follows the model from the start,
    never reset to the observed one), nothing otherwise.

    model : the compiled model (``kbalance.engine.compiler.compile_model()``) or anything
        with ``names``, its model variable names
    """
    return {"jump off year": NO_JUMP_OFF_YEAR} if "jump off year" in model.names else {}


def history_run(table: pd.DataFrame, until: int, variables: Sequence[str], workers: int = 1,
                chunk_size: int = 100) -> xr.Dataset:
    """History runs of the members of ``table`` (members × model constants) to ``until``
    [year]: the constants of :func:`history_constants` are added where the table lacks them.
    Returns the fast engine's Dataset of ``variables`` over (member, year, …)."""
    extra = history_constants(compile_model())
    table = table.assign(**{k: v for k, v in extra.items() if k not in table.columns})
    return run_ensemble(table, None, until, variables, chunk_size=chunk_size, workers=workers)


def last_time(targets: Sequence[Target]) -> int:
    """The last model time any of ``targets`` is observed at [year]."""
    return int(max(t.times.max() for t in targets))


def target_variables(targets: Sequence[Target]) -> list[str]:
    """The model variables ``targets`` compare with, sorted, each once."""
    return sorted({t.variable for t in targets})


def created_regions() -> dict[str, int]:
    """Regions created after :data:`FIRST_YEAR` and the year each was created: KOSIS code →
    ``began`` of model/regions.csv [calendar year] (Sejong, 2012)."""
    began = load_regions()["began"].astype(int)
    return {code: int(year) for code, year in began.items() if year > FIRST_YEAR}


def without_creation_years(values: np.ndarray, years: np.ndarray, codes: Sequence[str], od: bool = False) -> np.ndarray:
    """A flow target's values with NaN in the year each region was created (:func:`created_regions`).

    A region created during the run has no residents on 1 January of its creation year (its
    residents arrive by the boundary change within the year), so the model's flows of that
    year (births, deaths, migration) are zero or partial; the observed ones are not comparable.
    values : (year, region) or, with ``od``, (year, origin, destination); a copy is returned.
    """
    out = np.array(values, dtype=float, copy=True)
    for code, year in created_regions().items():
        rows = np.flatnonzero(np.asarray(years) == year)
        if code not in codes or rows.size == 0:
            continue
        j = list(codes).index(code)
        out[rows, j] = np.nan
        if od:
            out[rows, :, j] = np.nan
    return out


def read_targets(path: Path | None = None, until: int = 2024, root: Path | None = None) -> list[Target]:
    """The calibration targets with their observations up to ``until`` [calendar year].

    A target with no observation in the window is left out. Flows (``offset`` 0) are not
    compared in the year a region was created (:func:`without_creation_years`).
    path : calibration/targets.toml by default; root : the observation set's folder
    (default calibration/).
    """
    path = Path(path) if path else calibration_dir() / "targets.toml"
    specs = read_toml(path, "targets", "calibration/targets.toml")
    codes = region_codes()
    targets = []
    for name, spec in specs.items():
        for key in ("series", "variable"):
            if key not in spec:
                raise InvalidValueError(path, f"{name}.{key}", "missing", "a series and a model variable")
        first = max(FIRST_YEAR, int(spec.get("first_year", FIRST_YEAR)))
        offset = int(spec.get("offset", 0))
        last = until  # a year-end stock of `until` is compared at model Time until + offset
        scale_unit = float(spec.get("scale", 1.0))
        if spec["series"] == data.OD_SERIES:
            od = data.load_od(root).sel(year=slice(first, last))
            values = od.values.astype(float) * scale_unit
            for i in range(values.shape[1]):
                values[:, i, i] = np.nan  # moves within a region are not modelled
            years = od.year.values.astype(int)
        else:
            rows = data.load_series(spec["series"], root)
            rows = rows[(rows["year"] >= first) & (rows["year"] <= last) & rows["region_code"].isin(codes)]
            table = rows.pivot(index="year", columns="region_code", values="value").reindex(columns=codes)
            years = table.index.to_numpy(int)
            values = table.to_numpy(float) * scale_unit
        if offset == 0:
            values = without_creation_years(values, years, codes, od=spec["series"] == data.OD_SERIES)
        finite = values[np.isfinite(values)]
        if finite.size == 0:  # nothing observed in the window (e.g. age groups before 2011): not fitted
            continue
        norm = _normalisation(values, spec.get("normalise", "mean"), path, name)
        targets.append(Target(name, spec["series"], spec["variable"], years, values, offset,
                              float(spec.get("weight", 1.0)), norm * np.sqrt(finite.size)))
    return targets


#: How a target's residuals may be normalised: by the mean absolute value of all its
#: observations, by their root mean square (a series that crosses zero), or by each region's
#: own mean absolute value (so that a small region's relative error counts as a large one's),
#: or by the geometric mean of the two (``"region-pooled"``, between them).
NORMALISATIONS = ("mean", "rms", "region", "region-pooled")


def _normalisation(values: np.ndarray, how: str, path: Path, name: str) -> float | np.ndarray:
    """The normalisation of a target's observations ``values`` (year, region) or (year,
    origin, destination) [model units]: one number, or one per region (last axis)."""
    if how not in NORMALISATIONS:
        raise InvalidValueError(path, f"{name}.normalise", how, " or ".join(f'"{h}"' for h in NORMALISATIONS))
    finite = values[np.isfinite(values)]
    if how == "rms":
        return float(np.sqrt(np.mean(finite ** 2)))
    pooled = float(np.mean(np.abs(finite)))
    if how == "mean":
        return pooled
    if values.ndim != 2:
        raise InvalidValueError(path, f"{name}.normalise", how, f'a (year, region) series for "{how}"')
    count = np.isfinite(values).sum(axis=0)
    total = np.nansum(np.abs(values), axis=0)
    # a region never observed, or observed as 0, keeps the pooled scale
    own = np.where(total > 0, total / np.maximum(count, 1), pooled)
    return own if how == "region" else np.sqrt(own * pooled)


def target_goals(path: Path | None = None) -> dict[str, tuple[str, float]]:
    """The accuracy goals of calibration/targets.toml: target → ("r2" or "mape", value),
    from ``goal_r2`` [-] or ``goal_mape`` [%]; a target may have none, not both."""
    path = Path(path) if path else calibration_dir() / "targets.toml"
    goals = {}
    for name, spec in read_toml(path, "targets", "calibration/targets.toml").items():
        found = [k for k in ("goal_r2", "goal_mape") if k in spec]
        if len(found) > 1:
            raise InvalidValueError(path, f"{name}.goal_r2", "both goals given", "goal_r2 or goal_mape, not both")
        for key in found:
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidValueError(path, f"{name}.{key}", value, "a non-negative number")
            goals[name] = (key.removeprefix("goal_"), float(value))
    return goals
