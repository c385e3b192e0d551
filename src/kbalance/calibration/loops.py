"""Loop strengths of the fitted model: how much each feedback loop of docs/model.md adds to
the response of a region's stock to a shock of itself.

A loop is measured by a shock and a knockout. The shock raises one region's stock at the
start of the run by :data:`SHOCK` (1 %): its population (``initial population``) or its
innovation base (``initial innovation concentration``, to which the start value is
proportional). The response is the change of that stock after :data:`HORIZON` years over
the shock itself (both in persons or million KRW): 1 when the shock is carried on
unchanged, more when reinforcing loops amplify it, less when outflows and balancing loops
absorb it. The knockout sets the constant that
closes the loop's link to zero (model/loops.toml, :func:`read_loops`), which cuts the loop and nothing else the
shock travels through, as far as one constant can. The loop's strength is the response
with the loop minus the response without it, averaged over the regions (a region without
that stock at the start, Sejong, is left out): positive for a reinforcing loop at work,
negative for a balancing one, near zero for a loop the fitted set has switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.errors import InvalidValueError, table_of
from kbalance.model.parameters import ParameterSet, shipped_parameter_set
from kbalance.model.scenarios import Scenario
from kbalance.paths import model_dir, read_toml

#: The shock: relative rise of one region's stock at the start of the run [-].
SHOCK = 0.01
#: Years after the shock at which the response is read [year].
HORIZON = 10
#: What each kind of shock raises (a model constant) and the stock it is read on.
SHOCKS = {"population": ("initial population", "total population"),
          "innovation": ("initial innovation concentration", "Innovation Base")}


@dataclass(frozen=True)
class Loop:
    """A named loop of docs/model.md, its shock and its knockout.

    name : str  the loop's name in docs/model.md
    title : str  its title there
    shock : str  a key of :data:`SHOCKS`
    knockout : tuple of str  the constants set to 0 to cut the loop
    """

    name: str
    title: str
    shock: str
    knockout: tuple[str, ...]


def read_loops(path: Path | None = None) -> tuple[tuple[Loop, ...], dict[str, str]]:
    """The loops of model/loops.toml: those measured, and the others with the reason.

    InvalidValueError naming the file and the field for a loop without a known ``shock``
    and a non-empty ``knockout`` list, unless it gives ``not_measured``."""
    path = Path(path) if path else model_dir() / "loops.toml"
    raw = read_toml(path, "loops", "model/loops.toml")
    loops, skipped = [], {}
    for name, spec in raw.items():
        spec = table_of(path, name, spec, f"a table [{name}] with title, shock and knockout")
        if "not_measured" in spec:
            skipped[name] = str(spec["not_measured"])
            continue
        if spec.get("shock") not in SHOCKS:
            raise InvalidValueError(path, f"{name}.shock", spec.get("shock"), sorted(SHOCKS))
        knockout = spec.get("knockout")
        if not isinstance(knockout, list) or not knockout or not all(isinstance(k, str) for k in knockout):
            raise InvalidValueError(path, f"{name}.knockout", knockout, "a list of model constants")
        loops.append(Loop(name, str(spec.get("title", name)), spec["shock"], tuple(knockout)))
    return tuple(loops), skipped


def knockout_table(parameters: ParameterSet, loops: Sequence[Loop]) -> pd.DataFrame:
    """Members × knockout constants: the first member keeps the fitted values, each further
    one sets one loop's constants to 0 (subscripted ones in every element)."""
    names = sorted({c for loop in loops for c in loop.knockout})
    base = {}
    for name in names:
        value = parameters.values.get(name)
        if value is None:
            raise KeyError(f"{name}: not a free parameter of calibration/parameters.toml")
        base[name] = value
    rows = [base] + [{**base, **{c: 0.0 for c in loop.knockout}} for loop in loops]
    columns = {}
    model = compile_model()
    for name in names:
        if isinstance(base[name], list):
            dim = model.dims[model.names[name]][0]
            for k, element in enumerate(model.subscripts[dim]):
                columns[f"{name}[{element}]"] = [r[name][k] if isinstance(r[name], list) else r[name] for r in rows]
        else:
            columns[name] = [r[name] for r in rows]
    return pd.DataFrame(columns)


def responses(parameters: ParameterSet, shock: str, table: pd.DataFrame) -> np.ndarray:
    """The response [-] of each region's stock :data:`HORIZON` years after a :data:`SHOCK`
    to it at the start: its change then over the shock, for every member of ``table``;
    (member, region), NaN for a region without the stock at the start."""
    constant, variable = SHOCKS[shock]
    model = compile_model()
    base = model.constants[model.names[constant]]
    regions = model.subscripts["Region"]
    others = {k: v for k, v in parameters.values.items() if k not in table.columns
              and not any(c.startswith(f"{k}[") for c in table.columns)}
    until = int(model.initial_time) + HORIZON

    def stock(values: dict) -> np.ndarray:
        run = run_ensemble(table, Scenario("loop strengths", "shock", constants=values), until, [variable], workers=1)
        return run[variable].sel(year=[int(model.initial_time), until]).values  # (member, start/end, region)

    reference = stock(others)
    out = np.full(reference[:, 1].shape, np.nan)
    axis = model.dims[model.names[constant]].index("Region") + 1
    for r in range(len(regions)):
        scale = np.ones(base.shape)
        scale[(slice(None),) * axis + (r,)] = 1 + SHOCK
        if not np.any(base[(slice(None),) * axis + (r,)]):
            continue
        shocked = stock({**others, constant: base * scale})
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, r] = (shocked[:, 1, r] - reference[:, 1, r]) / (shocked[:, 0, r] - reference[:, 0, r])
    return out


def loop_strengths(parameters: ParameterSet | None = None, loops: Sequence[Loop] | None = None) -> pd.DataFrame:
    """The strength of each loop of ``loops`` (default those of model/loops.toml) in a parameter set (default the shipped
    fitted set): one row each with its shock, knockout, the mean response with every loop
    (``response``) and without this one (``response_without``) [-], their
    difference (``strength``), its range over the regions and the regions measured."""
    parameters = parameters or shipped_parameter_set()
    loops = read_loops()[0] if loops is None else loops
    table = knockout_table(parameters, loops)
    found = {kind: responses(parameters, kind, table) for kind in sorted({loop.shock for loop in loops})}
    regions = compile_model().subscripts["Region"]
    rows = []
    for i, loop in enumerate(loops, start=1):
        values = found[loop.shock]
        diff = values[0] - values[i]
        ok = np.isfinite(diff)
        rows.append({"loop": loop.name, "title": loop.title, "shock": loop.shock, "knockout": ", ".join(loop.knockout),
                     "response": float(np.nanmean(values[0])), "response_without": float(np.nanmean(values[i])),
                     "strength": float(np.nanmean(diff)), "strength_min": float(np.nanmin(diff)),
                     "strength_max": float(np.nanmax(diff)), "regions": int(ok.sum()),
                     "strongest_region": regions[int(np.nanargmax(np.abs(diff)))]})
    return pd.DataFrame(rows)
