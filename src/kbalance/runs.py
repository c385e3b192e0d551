"""Run the model once and write a run folder.

A run folder holds ``results.csv`` (long format: variable, region, sex, age, year,
value, unit; empty where a dimension does not apply), ``results.nc`` (the same as
labelled arrays) and ``manifest.json`` (the hash of every input that can change a
number, the engine's source hash, package versions, settings and the command). A folder
is never overwritten: it is reserved before the run and the run is written to a
temporary sibling renamed into place at the end. :func:`reproduce_run` runs a manifest
again and compares the numbers.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

import kbalance
from kbalance.engine.compiler import source_hash
from kbalance.engine.reference import DEFAULT_VARIABLES, run_pysd
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError, KbalanceInputError, MissingFileError
from kbalance.model.conventions import global_attributes, model_results
from kbalance.model.parameters import ParameterSet, read_parameter_set, shipped_parameter_set
from kbalance.model.scenarios import Scenario, read_scenario, scenario_dir, with_variant
from kbalance.model.variants import default_variant, read_variants
from kbalance.outputs import (changed_inputs, data_hash, file_hash, input_hashes, model_hash, netcdf_ready,
                              package_versions, project_path, reserved_folder, write_new_folder)
from kbalance.paths import project_root

# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def age_label(age: int, last: int) -> str:
    """An age [years] as written in tables: ``85+`` for the open last group ``last``."""
    return f"{age}+" if age == last else str(age)


def results_long(results: xr.Dataset) -> pd.DataFrame:
    """Results as a long table in the output convention (:mod:`kbalance.model.conventions`):
    variable (output name), region (KOSIS code), sex (male, female), age (single years, the
    open last group as ``85+``), year, value, unit; empty where a dimension does not apply
    (the destination region of origin × destination variables is not written).

    results : Dataset  model results (variables and subscripts named as in model/kbalance.mdl)
    """
    converted = model_results(results)
    last = int(converted["age"].values[-1]) if "age" in converted.dims else None
    frames = []
    for name, array in converted.data_vars.items():
        frame = array.drop_vars([c for c in array.coords if c.startswith("region_name")]).to_dataframe(
            name="value").reset_index()
        rows = pd.DataFrame({
            "variable": name,
            "region": frame["region"] if "region" in frame else "",
            "sex": frame["sex"] if "sex" in frame else "",
            "age": frame["age"].map(lambda a: age_label(int(a), last)) if "age" in frame else "",
            "year": frame["year"],
            "value": frame["value"],
            "unit": array.attrs.get("units", ""),
        })
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)



def write_run(out: Path, results: xr.Dataset, manifest: dict,
              extra: Callable[[Path, xr.Dataset], object] | None = None) -> Path:
    """Write results.csv, results.nc and manifest.json into the new folder ``out``.

    Refuses an existing ``out`` unless it is an empty folder; writes into a temporary
    sibling first and renames it into place, so an interrupted run leaves no
    half-written folder. ``extra(folder, results)``, when given, writes further files
    (the municipal layer) into the same folder before it is renamed.
    """
    converted = model_results(results)
    converted.attrs = {**global_attributes(f"kbalance run: {manifest['scenario']['name']}",
                                           manifest["parameter_set"]["name"], manifest["command"]),
                       "scenario": manifest["scenario"]["name"], "engine": manifest["engine"]}

    def write(tmp: Path) -> None:
        results_long(results).to_csv(tmp / "results.csv", index=False, float_format="%.10g")
        netcdf_ready(converted).to_netcdf(tmp / "results.nc")
        if extra is not None:
            extra(tmp, results)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return write_new_folder(out, write)


def scenario_files(scenario: Scenario) -> list[Path]:
    """The files a scenario was read from: its own and those of the scenarios it includes."""
    own = [scenario.path] if scenario.path else []
    return [*own, *(scenario_dir() / f"{name}.toml" for name in scenario.includes)]


def run_variant(scenario: Scenario) -> dict:
    """The demographic variant a scenario runs under: its key (the scenario's, else the
    default of model/demography.toml), code and English label."""
    key = scenario.variant or default_variant()
    variant = read_variants()[key]
    return {"key": key, "code": variant.code, "label": variant.label_en}


def build_manifest(scenario: Scenario, parameters: ParameterSet, until: int, engine: str,
                   command: Sequence[str] | None = None) -> dict:
    """What a run needs to be reproduced (:func:`reproduce_run`): the hash of every input
    that can change a number (``inputs``, see :func:`kbalance.outputs.input_hashes`), the
    engine's source hash, versions, settings and the command. A run is deterministic: its
    ``seed`` is None."""
    return {
        "kbalance_run": 1,
        "kbalance_version": kbalance.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(command if command is not None else ["kbalance", *sys.argv[1:]]),
        "engine": engine,
        "until": until,
        "seed": None,
        "dtype": "float64",
        "variant": run_variant(scenario),
        "scenario": {"name": scenario.name, "file": str(scenario.path.name if scenario.path else ""),
                     "path": project_path(scenario.path) if scenario.path else None,
                     "sha256": file_hash([scenario.path]) if scenario.path else None,
                     "includes": list(scenario.includes), "constants": scenario.constants},
        "parameter_set": {"name": parameters.name, "file": parameters.path.name,
                          "path": project_path(parameters.path), "sha256": parameters.sha256()},
        "inputs": input_hashes([*scenario_files(scenario), parameters.path]),
        "model_sha256": model_hash(),
        "data_sha256": data_hash(),
        "engine_source_sha256": source_hash(),
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
                  command: Sequence[str] | None = None, engine: str = "fast", variant: str | None = None,
                  extra: Callable[[Path, xr.Dataset], object] | None = None) -> Path:
    """Run one scenario and write a run folder (reserved before the run); returns the folder.
    ``variant`` (a key of model/demography.toml) overrides the scenario's demographic variant;
    ``extra`` writes further files into it (see :func:`write_run`)."""
    with reserved_folder(out) as out:
        chosen = read_scenario(scenario)
        if variant is not None:
            chosen = with_variant(chosen, variant)
        params = read_parameter_set(parameters) if parameters else shipped_parameter_set()
        results = run_model(chosen, params, until, engine=engine)
        return write_run(out, results, build_manifest(chosen, params, until, engine, command), extra)


# ---------------------------------------------------------------------------
# Reproducing
# ---------------------------------------------------------------------------

#: Two runs match when every number agrees within this relative difference.
MATCH_RTOL = 1e-12


@dataclass(frozen=True)
class Reproduction:
    """A run done again from its manifest.

    folder : the new run folder
    changed : (input, recorded hash, hash now or None) for inputs that changed since the run
    differences : variable → largest relative difference, for variables beyond :data:`MATCH_RTOL`
        (inf for a variable missing from one of the runs or of another shape)
    """

    folder: Path
    changed: list[tuple[str, str, str | None]]
    differences: dict[str, float]

    @property
    def matches(self) -> bool:
        """True when every number matches within :data:`MATCH_RTOL`."""
        return not self.differences


def read_run_manifest(path: Path) -> dict:
    """A run folder's manifest.json; KbalanceInputError naming the file when it is absent,
    not JSON, or not the manifest of a ``kbalance run``."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise MissingFileError(path, "MANIFEST", "the manifest.json of a kbalance run folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KbalanceInputError(path, "MANIFEST", f"not a JSON file ({exc})", "a manifest.json written by kbalance") from None
    if not isinstance(manifest, dict) or "kbalance_run" not in manifest:
        kind = ("a white-paper" if isinstance(manifest, dict) and "lang" in manifest else
                "a sensitivity" if isinstance(manifest, dict) and "kbalance_sensitivity" in manifest else "another")
        raise InvalidValueError(path, "MANIFEST", f"{kind} manifest",
                                "the manifest of a kbalance run (white papers and sensitivity analyses "
                                "are not reproduced by this command)")
    for key in ("engine", "until", "scenario", "parameter_set", "inputs"):
        if key not in manifest:
            raise KbalanceInputError(path, key, "missing", "a manifest written by kbalance run")
    return manifest


def compare_results(new: xr.Dataset, old: xr.Dataset, rtol: float = MATCH_RTOL) -> dict[str, float]:
    """Variables of ``old`` whose values in ``new`` differ by more than ``rtol`` relative:
    variable → largest relative difference (inf when missing or of another shape)."""
    differences = {}
    for name in old.data_vars:
        if name not in new.data_vars or new[name].shape != old[name].shape:
            differences[name] = float("inf")
            continue
        a, b = new[name].values.astype(float), old[name].values.astype(float)
        both_nan = np.isnan(a) & np.isnan(b)
        scale = np.maximum(np.abs(a), np.abs(b))
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(both_nan | (a == b), 0.0, np.abs(a - b) / scale)
        worst = float(np.nanmax(np.where(np.isnan(rel), np.inf, rel))) if rel.size else 0.0
        if worst > rtol:
            differences[name] = worst
    return differences


def reproduce_run(manifest_path: Path, out: Path, command: Sequence[str] | None = None) -> Reproduction:
    """Run a recorded run again with its recorded settings (scenario file, parameter set,
    engine, last year) into the new folder ``out`` and compare the numbers with the
    ``results.nc`` beside the manifest; the inputs whose hash changed are listed."""
    manifest_path = Path(manifest_path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / "manifest.json"
    manifest = read_run_manifest(manifest_path)
    original = manifest_path.parent / "results.nc"
    if not original.is_file():
        raise MissingFileError(original, "results.nc", "the results.nc of the run, beside its manifest.json")
    recorded = {"scenario": manifest["scenario"].get("path"), "parameter_set": manifest["parameter_set"].get("path")}
    for key, value in recorded.items():
        if not value:
            raise KbalanceInputError(manifest_path, f"{key}.path", "missing", "the path of the file the run read")
    with reserved_folder(out) as out:
        changed = changed_inputs(manifest["inputs"])
        folder = run_to_folder(project_root() / recorded["scenario"], out, until=int(manifest["until"]),
                               parameters=project_root() / recorded["parameter_set"], command=command,
                               engine=manifest["engine"], variant=manifest.get("variant", {}).get("key"))
    with xr.open_dataset(folder / "results.nc") as new, xr.open_dataset(original) as old:
        differences = compare_results(new.load(), old.load())
    return Reproduction(folder, changed, differences)


__all__ = [
    "ENGINES", "MATCH_RTOL", "Reproduction", "age_label", "build_manifest", "compare_results", "read_run_manifest",
    "reproduce_run", "results_long", "run_model", "run_to_folder", "run_variant", "scenario_files", "write_run",
]
