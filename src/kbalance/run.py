"""Run the model (PySD reference engine) and write a run folder.

A run folder holds ``results.csv`` (long format: variable, region, sex, age, year,
value, unit; empty where a dimension does not apply), ``results.nc`` (the same as
labelled arrays) and ``manifest.json`` (hashes of the model, parameters, scenario and
data; package versions; the command). A folder is never overwritten: the run is
written to a temporary sibling and renamed into place at the end.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

import kbalance
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.paths import calibration_dir, model_dir, read_toml, write_new_folder
from kbalance.regions import load_regions
from kbalance.scenarios import Scenario, read_scenario

#: Variables written by default: stocks, flows by region and every indicator of design §2.
DEFAULT_VARIABLES = (
    "Population", "total population", "national population", "capital region share",
    "births", "total births", "total deaths", "net migration", "other change total",
    "boundary transfer total", "total fertility rate", "national total fertility rate",
    "elderly share", "extinction risk index", "employed", "employment rate", "grdp",
    "grdp per capita", "national grdp", "Innovation Base", "innovation per worker",
    "fiscal autonomy ratio", "fiscal independence ratio", "own source revenue", "local budget",
    "national local tax ratio", "cv grdp per capita", "theil grdp per capita",
    "cv fiscal autonomy", "theil fiscal autonomy", "Public Service Capital",
    "Cumulative Births", "Cumulative Deaths",
    "local share of total tax", "local allocation tax rate", "balanced development account",
    "locally programmed share", "local extinction fund", "relocated public staff",
    "noncapital share of government rd", "regional university support",
    "capital region regulation", "mega region integration", "fertility support",
)



def model_path() -> Path:
    """model/kbalance.mdl."""
    return model_dir() / "kbalance.mdl"


def file_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of the given files, in sorted order of their names."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_hash() -> str:
    """Hash of the model file, its inputs and the lever histories."""
    folder = model_dir()
    return file_hash([model_path(), folder / "levers.toml", *sorted((folder / "inputs").glob("*.csv"))])


def data_hash() -> str:
    """Hash of the observation set (calibration/observations, sources and breaks)."""
    root = calibration_dir()
    return file_hash([root / "sources.csv", root / "breaks.csv", *sorted((root / "observations").glob("*.csv"))])


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSet:
    """Values of the model's free parameters.

    name : str  the set's name (file stem), e.g. ``parameters`` for the priors
    values : dict  model constant → float, or list of floats for a subscripted one
    path : Path  the file read
    """

    name: str
    values: dict[str, float | list[float]]
    path: Path

    def sha256(self) -> str:
        return file_hash([self.path])


def parameter_definitions(path: Path | None = None) -> dict[str, dict]:
    """The parameter table of calibration/parameters.toml (key → definition)."""
    return read_toml(path or calibration_dir() / "parameters.toml", "parameters", "calibration/parameters.toml")


def latest_fitted_set() -> Path | None:
    """calibration/fitted/v<N>.toml with the highest N, or None before any calibration."""
    versions = [(int(p.stem[1:]), p) for p in (calibration_dir() / "fitted").glob("v*.toml") if p.stem[1:].isdigit()]
    return max(versions)[1] if versions else None


def shipped_parameter_set() -> ParameterSet:
    """The parameter set runs use by default: the latest fitted set, else the priors."""
    return read_parameter_set(latest_fitted_set())


def read_parameter_set(path: Path | None = None) -> ParameterSet:
    """Parameter values: the defaults of calibration/parameters.toml, or a fitted set.

    A fitted set (calibration/fitted/<version>.toml) has a ``[values]`` table mapping
    parameter keys to values; each is checked against the definition's range.
    """
    definitions = parameter_definitions()
    if path is None:
        path = calibration_dir() / "parameters.toml"
        return ParameterSet("parameters", {d["model"]: d["default"] for d in definitions.values()}, path)
    path = Path(path)
    fitted = read_toml(path, "parameter set", "a TOML file with a [values] table").get("values", {})
    values = {d["model"]: d["default"] for d in definitions.values()}
    for key, value in fitted.items():
        if key not in definitions:
            raise InvalidValueError(path, f"values.{key}", "unknown parameter", list(definitions))
        low, high = definitions[key]["range"]
        for v in np.atleast_1d(value):
            if not (isinstance(v, (int, float, np.floating)) and low <= float(v) <= high):
                raise InvalidValueError(path, f"values.{key}", value, f"numbers in [{low}, {high}]")
        values[definitions[key]["model"]] = value
    return ParameterSet(path.stem, values, path)


# ---------------------------------------------------------------------------
# PySD
# ---------------------------------------------------------------------------


@contextmanager
def quiet_pysd():
    """Silence PySD's per-step notices (data held past their last year, mixed-type
    definitions, deprecations of its dependencies); they are expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pysd(\..*)?")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


@lru_cache(maxsize=2)
def _translated(mdl: str, stamp: float):
    import pysd

    with quiet_pysd():
        py = Path(mdl).with_suffix(".py")
        if py.is_file() and py.stat().st_mtime >= stamp:
            return pysd.load(str(py))
        return pysd.read_vensim(mdl)


def load_model():
    """The PySD model of model/kbalance.mdl, translated once per process."""
    path = model_path()
    if not path.is_file():
        raise MissingFileError(path, "model", "model/kbalance.mdl")
    newest = max(p.stat().st_mtime for p in [path, *(model_dir() / "inputs").glob("*.csv")])
    return _translated(str(path), newest)


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
    codes = dict(zip(load_regions()["name_en"], load_regions().index))
    frames = []
    for name, array in results.data_vars.items():
        frame = array.to_dataframe(name="value").reset_index()
        rows = pd.DataFrame({
            "variable": name,
            "region": frame["Region"].map(codes) if "Region" in frame else "",
            "sex": frame["Sex"].str.lower() if "Sex" in frame else "",
            "age": frame["Age"].map(_age_label) if "Age" in frame else "",
            "year": frame["year"],
            "value": frame["value"],
            "unit": array.attrs.get("units", ""),
        })
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def netcdf_ready(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with netCDF-safe names (no spaces in dimensions and variables) and text
    instead of Python objects."""
    ds = ds.rename({d: d.replace(" ", "_") for d in ds.dims if " " in d})
    ds = ds.rename({v: v.replace(" ", "_") for v in ds.data_vars})
    for name in ds.variables:
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    return ds


def package_versions(*extra: str) -> dict[str, str]:
    """Versions of Python, kbalance and the packages a result depends on (plus ``extra``)."""
    from importlib.metadata import PackageNotFoundError, version

    import kbalance

    out = {"python": platform.python_version(), "kbalance": kbalance.__version__}
    for package in ("pysd", "numpy", "pandas", "xarray", "scipy", *extra):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def write_run(out: Path, results: xr.Dataset, manifest: dict) -> Path:
    """Write results.csv, results.nc and manifest.json into the new folder ``out``.

    Refuses an existing ``out``; writes into a temporary sibling first and renames it
    into place, so an interrupted run leaves no half-written folder.
    """
    out = Path(out)
    if out.exists():
        raise InvalidValueError(out, "--out", "folder exists", "a folder that does not exist yet (runs are never overwritten)")

    def write(tmp: Path) -> None:
        results_long(results).to_csv(tmp / "results.csv", index=False, float_format="%.10g")
        netcdf_ready(results).to_netcdf(tmp / "results.nc")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return write_new_folder(out, write)


def build_manifest(scenario: Scenario, parameters: ParameterSet, until: int, engine: str,
                   command: Sequence[str] | None = None, seed: int | None = None) -> dict:
    """What a run needs to be reproduced: hashes, versions, settings and command."""
    return {
        "kbalance_version": kbalance.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(command if command is not None else ["kbalance", *sys.argv[1:]]),
        "engine": engine,
        "until": until,
        "seed": seed,
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
    from kbalance.engine import run_fast

    if until < 2002 or until > 2100:
        raise InvalidValueError("kbalance run", "until", until, "a year in [2002, 2100]")
    constants = {**parameters.values, **scenario.constants}
    return run_fast(None, constants, until, variables).isel(member=0, drop=True)


def run_to_folder(scenario: str | Path, out: Path, until: int = 2070, parameters: Path | None = None,
                  command: Sequence[str] | None = None, engine: str = "fast") -> Path:
    """Run one scenario and write a run folder; returns the folder."""
    out = Path(out)
    if out.exists():
        raise InvalidValueError(out, "--out", "folder exists", "a folder that does not exist yet (runs are never overwritten)")
    chosen = read_scenario(scenario)
    params = read_parameter_set(parameters) if parameters else shipped_parameter_set()
    results = run_model(chosen, params, until, engine=engine)
    return write_run(out, results, build_manifest(chosen, params, until, engine, command))


__all__ = [
    "DEFAULT_VARIABLES", "ENGINES", "ParameterSet", "build_manifest", "data_hash", "load_model", "model_hash",
    "read_parameter_set", "results_long", "run_model", "run_pysd", "run_to_folder", "write_run",
]
