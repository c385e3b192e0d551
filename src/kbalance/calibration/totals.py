"""National totals that the references give, against the model's history run.

calibration/national_totals.toml lists, for a model variable, the totals of some years typed
from the references (local consumption tax revenue, the general allocation tax of the original
budget) with their keys in docs/references.md. :func:`national_totals` runs a parameter set's
history run (as the calibration does: no jump-off) and compares the variable, converted to
the reference's unit and prices, with each total; `kbalance calibrate` writes the table into
its report folder as national_totals.csv.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kbalance.calibration.targets import history_run
from kbalance.engine.compiler import compile_model
from kbalance.errors import InvalidValueError, MissingKeyError
from kbalance.model.inputs import reference_keys
from kbalance.paths import calibration_dir, read_toml

#: The model's GDP deflator, 2020 = 1: its amounts are in 2020 prices.
PRICE_LEVEL = "price level"
#: Columns of :func:`national_totals`.
COLUMNS = ["series", "label", "year", "unit", "reference", "model", "gap", "within_goal", "source"]


@dataclass(frozen=True)
class NationalTotal:
    """The reference totals of one model variable.

    name : str  the table's key in calibration/national_totals.toml
    variable : str  the model variable (national, or summed over its subscripts)
    label : str  what the total is
    unit : str  the references' unit
    factor : float  model units → ``unit``
    nominal : bool  whether the model's 2020 prices are turned into current prices by ``price level``
    values : DataFrame  ``year`` [calendar year], ``value`` [``unit``], ``source`` (reference keys)
    """

    name: str
    variable: str
    label: str
    unit: str
    factor: float
    nominal: bool
    values: pd.DataFrame


def read_national_totals(path: Path | None = None) -> tuple[list[NationalTotal], float]:
    """The checks of calibration/national_totals.toml and the goal [-] (largest relative gap).

    Raises :class:`MissingKeyError` for a missing key and :class:`InvalidValueError` for a
    variable the model does not have, a non-positive value or factor, a year that is not an
    integer or repeats, and a source that is not a key of docs/references.md.
    """
    path = Path(path) if path else calibration_dir() / "national_totals.toml"
    spec = read_toml(path, "national totals", "calibration/national_totals.toml")
    goal = spec.get("goal")
    if not isinstance(goal, (int, float)) or not 0 < goal < 1:
        raise InvalidValueError(path, "goal", goal, "a relative gap between 0 and 1")
    names = compile_model().names
    keys = reference_keys()
    checks = []
    for name, table in spec.items():
        if name == "goal":
            continue
        for key in ("variable", "label", "unit", "factor", "nominal", "values"):
            if key not in table:
                raise MissingKeyError(path, f"{name}.{key}", "variable, label, unit, factor, nominal and values")
        if table["variable"] not in names:
            raise InvalidValueError(path, f"{name}.variable", table["variable"], "a variable of model/kbalance.mdl")
        if not isinstance(table["factor"], (int, float)) or table["factor"] <= 0:
            raise InvalidValueError(path, f"{name}.factor", table["factor"], "a positive number")
        if not isinstance(table["nominal"], bool):
            raise InvalidValueError(path, f"{name}.nominal", table["nominal"], "true or false")
        rows = []
        for i, entry in enumerate(table["values"]):
            where = f"{name}.values[{i}]"
            year, value, source = entry.get("year"), entry.get("value"), str(entry.get("source", ""))
            if not isinstance(year, int) or year in [r[0] for r in rows]:
                raise InvalidValueError(path, f"{where}.year", year, "a calendar year, once per table")
            if not isinstance(value, (int, float)) or value <= 0:
                raise InvalidValueError(path, f"{where}.value", value, "a positive total")
            if not source.split() or set(source.split()) - keys:
                raise InvalidValueError(path, f"{where}.source", source, "keys listed in docs/references.md")
            rows.append((year, float(value), source))
        if not rows:
            raise InvalidValueError(path, f"{name}.values", [], "at least one year")
        checks.append(NationalTotal(name, table["variable"], table["label"], table["unit"], float(table["factor"]),
                                    table["nominal"], pd.DataFrame(rows, columns=["year", "value", "source"])))
    return checks, float(goal)


def national_totals(parameters: pd.DataFrame, path: Path | None = None) -> pd.DataFrame:
    """Model against reference totals for one parameter set.

    parameters : DataFrame  one row of model constants (a fitted set's table,
        ``kbalance.calibration.fit.to_table``)
    path : calibration/national_totals.toml by default

    Returns one row per reference total (:data:`COLUMNS`): the reference and the model
    [the reference's unit], ``gap`` = model / reference − 1 [-] and whether |gap| is within
    the file's goal.
    """
    if len(parameters) != 1:
        raise InvalidValueError("national totals", "parameters", len(parameters), "one parameter set")
    checks, goal = read_national_totals(path)
    until = max(int(c.values["year"].max()) for c in checks)
    variables = sorted({c.variable for c in checks} | {PRICE_LEVEL})
    run = history_run(parameters, until, variables).isel(member=0)
    rows = []
    for check in checks:
        series = run[check.variable]
        series = series.sum([d for d in series.dims if d != "year"])
        for year, value, source in check.values.itertuples(index=False):
            model = float(series.sel(year=year)) * check.factor
            if check.nominal:
                model *= float(run[PRICE_LEVEL].sel(year=year))
            gap = model / value - 1
            rows.append((check.name, check.label, year, check.unit, value, model, gap, bool(abs(gap) <= goal), source))
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["COLUMNS", "NationalTotal", "national_totals", "read_national_totals"]
