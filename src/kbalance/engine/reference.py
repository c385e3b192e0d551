"""The reference engine: PySD runs model/kbalance.mdl as translated.

The PySD model comes from kbalance.model.mdl (translated once, outside the checkout);
:func:`quiet_pysd` silences PySD's expected notices around a run.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

from kbalance.errors import InvalidValueError
from kbalance.model.mdl import load_model, quiet_pysd
from kbalance.model.parameters import ParameterSet
from kbalance.model.scenarios import Scenario

#: Variables written by default: stocks, flows by region and every indicator of design §2.
DEFAULT_VARIABLES = (
    "Population", "total population", "national population", "capital region share",
    "births", "total births", "total deaths", "net migration", "net international migration",
    "other change total", "jump off adjustment total",
    "boundary transfer total", "total fertility rate", "national total fertility rate",
    "elderly share", "extinction risk index", "employed", "employment rate", "grdp",
    "grdp per capita", "national grdp", "Innovation Base", "innovation per worker",
    "fiscal autonomy ratio", "fiscal independence ratio", "own source revenue", "local budget",
    "national local tax ratio", "cv grdp per capita", "theil grdp per capita",
    "cv fiscal autonomy", "theil fiscal autonomy", "Public Service Capital",
    "Cumulative Births", "Cumulative Deaths",
    "provincial taxes", "local taxes", "general allocation tax", "subsidies", "transfers", "fiscal room",
    "local share of total tax", "local consumption tax rate", "coprosperity fund rate",
    "local allocation tax rate", "national subsidy programme", "balanced development account",
    "locally programmed share", "local extinction fund", "relocated public staff",
    "noncapital share of government rd", "regional university support",
    "capital region regulation", "mega region integration", "fertility support",
)


def _as_param(model, name: str, value):
    """A value PySD accepts for a constant: a float, or a DataArray over its subscripts."""
    if np.ndim(value) == 0:
        return float(value)
    subs = model.components._subscript_dict
    dims = model.doc.set_index("Real Name").loc[name, "Subscripts"]
    coords = {d: subs[d] for d in dims}
    return xr.DataArray(np.asarray(value, float), dims=list(dims), coords=coords)


def run_pysd(scenario: Scenario, parameters: ParameterSet, until: int = 2070,
             variables: Sequence[str] = DEFAULT_VARIABLES) -> xr.Dataset:
    """One deterministic run with PySD.

    scenario : Scenario  lever settings
    parameters : ParameterSet  free-parameter values
    until : int  last calendar year simulated [year]
    variables : names of model variables to return

    Returns a Dataset with a ``year`` dimension and the model's subscripts (Region,
    Sex, Age, ...) for each variable; ``attrs['units']`` and ``attrs['comment']``
    come from the model file.
    """
    model = load_model()
    if until < 2002 or until > 2100:
        raise InvalidValueError("kbalance run", "until", until, "a year in [2002, 2100]")
    doc = model.doc.set_index("Real Name")
    unknown = [v for v in variables if v not in doc.index]
    if unknown:
        raise InvalidValueError("kbalance run", "variables", unknown[0], "variables of model/kbalance.mdl")
    params = {name: _as_param(model, name, value) for name, value in parameters.values.items()}
    params.update(scenario.constants)
    with quiet_pysd():
        model.reload()
        frame = model.run(params=params, final_time=until, return_columns=list(variables),
                          flatten_output=False, progress=False)
    years = frame.index.to_numpy().astype(int)
    out = {}
    for name in variables:
        column = frame[name]
        first = column.iloc[0]
        if isinstance(first, xr.DataArray):
            stacked = xr.concat([xr.DataArray(np.asarray(c.values, float), dims=c.dims, coords=c.coords)
                                 for c in column], dim="year")
        else:
            stacked = xr.DataArray(column.to_numpy(float), dims=["year"])
        stacked = stacked.assign_coords(year=years)
        stacked.attrs = {"units": str(doc.loc[name, "Units"]), "comment": str(doc.loc[name, "Comment"])}
        out[name] = stacked
    return xr.Dataset(out)


__all__ = ["DEFAULT_VARIABLES", "quiet_pysd", "run_pysd"]
