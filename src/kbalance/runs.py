"""Run the model once and write a run folder.

A run folder holds ``results.csv`` (long format: variable, region, sex, age, year,
value, unit; empty where a dimension does not apply), ``results.nc`` (the same as
labelled arrays) and ``manifest.json`` (hashes of the model, parameters, scenario and
data; package versions; the command). A folder is never overwritten: the run is
written to a temporary sibling and renamed into place at the end.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd
import xarray as xr

import kbalance
from kbalance.engine.reference import DEFAULT_VARIABLES, run_pysd
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import ParameterSet, read_parameter_set, shipped_parameter_set
from kbalance.model.scenarios import Scenario, read_scenario
from kbalance.outputs import check_new_folder, data_hash, file_hash, model_hash, netcdf_ready, package_versions, write_new_folder
from kbalance.regions import code_of

# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _age_label(element: str) -> str:
    age = int(element[1:])
    return f"{age}+" if age == 85 else str(age)


def results_long(results: xr.Dataset) -> pd.DataFrame:
    """Results as a long table: variable, region, sex, age, year, value, unit.

    region is the KOSIS code (the destination region for origin × destination
    variables is not written); age is 0..84 and 85+; empty where a dimension does
    not apply.
    """
    frames = []
    for name, array in results.data_vars.items():
        frame = array.to_dataframe(name="value").reset_index()
        rows = pd.DataFrame({
            "variable": name,
            "region": frame["Region"].map(code_of) if "Region" in frame else "",
            "sex": frame["Sex"].str.lower() if "Sex" in frame else "",
            "age": frame["Age"].map(_age_label) if "Age" in frame else "",
            "year": frame["year"],
            "value": frame["value"],
            "unit": array.attrs.get("units", ""),
        })
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)



def write_run(out: Path, results: xr.Dataset, manifest: dict) -> Path:
    """Write results.csv, results.nc and manifest.json into the new folder ``out``.

    Refuses an existing ``out`` unless it is an empty folder; writes into a temporary
    sibling first and renames it into place, so an interrupted run leaves no
    half-written folder.
    """
    def write(tmp: Path) -> None:
        results_long(results).to_csv(tmp / "results.csv", index=False, float_format="%.10g")
        netcdf_ready(results).to_netcdf(tmp / "results.nc")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return write_new_folder(out, write)


def build_manifest(scenario: Scenario, parameters: ParameterSet, until: int, engine: str,
                   command: Sequence[str] | None = None) -> dict:
    """What a run needs to be reproduced: hashes, versions, settings and command (a run
    is deterministic: it has no random seed)."""
    return {
        "kbalance_version": kbalance.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(command if command is not None else ["kbalance", *sys.argv[1:]]),
        "engine": engine,
        "until": until,
        "scenario": {"name": scenario.name, "file": str(scenario.path.name if scenario.path else ""),
                     "sha256": file_hash([scenario.path]) if scenario.path else None,
                     "constants": scenario.constants},
        "parameter_set": {"name": parameters.name, "file": parameters.path.name, "sha256": parameters.sha256()},
        "model_sha256": model_hash(),
        "data_sha256": data_hash(),
        "versions": package_versions(),
    }


ENGINES = ("fast", "pysd")


def run_model(scenario: Scenario, parameters: ParameterSet, until: int = 2070,
              variables: Sequence[str] = DEFAULT_VARIABLES, engine: str = "fast") -> xr.Dataset:
    """One deterministic run on either engine; the same Dataset layout from both."""
    if engine == "pysd":
        return run_pysd(scenario, parameters, until, variables)
    if engine != "fast":
        raise InvalidValueError("kbalance run", "--engine", engine, ENGINES)
    if until < 2002 or until > 2100:
        raise InvalidValueError("kbalance run", "until", until, "a year in [2002, 2100]")
    constants = {**parameters.values, **scenario.constants}
    return run_fast(None, constants, until, variables).isel(member=0, drop=True)


def run_to_folder(scenario: str | Path, out: Path, until: int = 2070, parameters: Path | None = None,
                  command: Sequence[str] | None = None, engine: str = "fast") -> Path:
    """Run one scenario and write a run folder; returns the folder."""
    out = check_new_folder(out)
    chosen = read_scenario(scenario)
    params = read_parameter_set(parameters) if parameters else shipped_parameter_set()
    results = run_model(chosen, params, until, engine=engine)
    return write_run(out, results, build_manifest(chosen, params, until, engine, command))


__all__ = [
    "ENGINES", "build_manifest", "results_long", "run_model", "run_to_folder", "write_run",
]
