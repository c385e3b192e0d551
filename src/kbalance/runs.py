"""Run the model once and write a run folder.

A run folder holds ``results.csv`` (long format: variable, region, sex, age, year,
value, unit; empty where a dimension does not apply), ``results.nc`` (the same as
labelled arrays) and ``manifest.json`` (the hash of every input that can change a
number, the engine's source hash, package versions, settings and the command). A folder
is never overwritten: it is reserved before the run and the run is written to a
temporary sibling renamed into place at the end. :func:`reproduce` does a run, a white
paper or a sensitivity analysis again from its manifest and compares the numbers.
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
from kbalance.errors import ChangedInputError, InvalidValueError, KbalanceInputError, MissingFileError
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

#: Two results match when every number agrees within this relative difference.
MATCH_RTOL = 1e-12

#: The manifests kbalance writes: kind → the key that marks it and the keys a re-run reads.
MANIFEST_KINDS = {
    "run": ("kbalance_run", ("engine", "until", "scenario", "parameter_set", "inputs")),
    "whitepaper": ("kbalance_whitepaper", ("lang", "until", "members", "scenarios", "fitted_set", "inputs")),
    "sensitivity": ("kbalance_sensitivity", ("method", "n", "seed", "until", "dtype", "scenario", "outcomes",
                                             "ensemble", "inputs")),
}

#: A re-run of one manifest kind: (manifest, new folder, command) → the folder written.
Rerun = Callable[[dict, Path, Sequence[str] | None], Path]


@dataclass(frozen=True)
class Reproduction:
    """A run, white paper or sensitivity analysis done again from its manifest.

    kind : "run", "whitepaper" or "sensitivity" (:data:`MANIFEST_KINDS`)
    folder : the new folder
    files : every netCDF and CSV file of the original folder (path relative to it) → its
        variables or columns beyond :data:`MATCH_RTOL` with their largest relative difference
        (empty when the file matches; inf for one missing, of another shape or other text)
    """

    kind: str
    folder: Path
    files: dict[str, dict[str, float]]

    @property
    def matches(self) -> bool:
        """True when every number of every file matches within :data:`MATCH_RTOL`."""
        return not self.differing

    @property
    def differing(self) -> list[str]:
        """The files whose numbers differ."""
        return [name for name, differences in self.files.items() if differences]


def manifest_kind(manifest: object) -> str | None:
    """The kind of a manifest (a key of :data:`MANIFEST_KINDS`), None when it is none of them.
    White-paper manifests written before they were marked are known by their ``lang``."""
    if not isinstance(manifest, dict):
        return None
    for kind, (marker, _) in MANIFEST_KINDS.items():
        if marker in manifest:
            return kind
    return "whitepaper" if {"lang", "scenarios", "fitted_set"} <= set(manifest) else None


def read_manifest(path: Path, kinds: Sequence[str] = tuple(MANIFEST_KINDS)) -> tuple[Path, dict, str]:
    """The manifest.json of a run, white-paper or sensitivity folder (``path`` is the file or
    its folder): (file, content, kind). KbalanceInputError naming the file when it is absent,
    not JSON, not of one of ``kinds`` or lacks a key a re-run reads."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    wanted = ", ".join(f"kbalance {k}" for k in kinds)
    if not path.is_file():
        raise MissingFileError(path, "MANIFEST", f"the manifest.json of a folder written by {wanted}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KbalanceInputError(path, "MANIFEST", f"not a JSON file ({exc})", "a manifest.json written by kbalance") from None
    kind = manifest_kind(manifest)
    if kind not in kinds:
        raise InvalidValueError(path, "MANIFEST", f"{'another' if kind is None else 'a ' + kind} manifest",
                                f"the manifest of a folder written by {wanted}")
    for key in MANIFEST_KINDS[kind][1]:
        if key not in manifest:
            raise KbalanceInputError(path, key, "missing", f"a manifest written by kbalance {kind}")
    return path, manifest, kind


def read_run_manifest(path: Path) -> dict:
    """A run folder's manifest.json (see :func:`read_manifest`)."""
    return read_manifest(path, ("run",))[1]


def check_unchanged(manifest_path: Path, recorded: dict[str, str]) -> None:
    """Refuse to reproduce when an input's hash differs from ``recorded`` (a manifest's
    ``inputs``): ChangedInputError naming the first changed file (and the others)."""
    changed = changed_inputs(recorded)
    if changed:
        key, old, new = changed[0]
        others = [k for k, _, _ in changed[1:]]
        raise ChangedInputError(key, manifest_path, old, new, others)


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest relative difference between two arrays of one shape (0 where both are
    equal or NaN, inf where one only is NaN)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both_nan = np.isnan(a) & np.isnan(b)
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(both_nan | (a == b), 0.0, np.abs(a - b) / scale)
    return float(np.nanmax(np.where(np.isnan(rel), np.inf, rel))) if rel.size else 0.0


def compare_results(new: xr.Dataset, old: xr.Dataset, rtol: float = MATCH_RTOL) -> dict[str, float]:
    """Variables of ``old`` whose values in ``new`` differ by more than ``rtol`` relative:
    variable → largest relative difference (inf when missing or of another shape)."""
    differences = {}
    for name in old.data_vars:
        if name not in new.data_vars or new[name].shape != old[name].shape:
            differences[name] = float("inf")
            continue
        worst = relative_difference(new[name].values, old[name].values)
        if worst > rtol:
            differences[name] = worst
    return differences


def compare_tables(new: pd.DataFrame, old: pd.DataFrame, rtol: float = MATCH_RTOL) -> dict[str, float]:
    """Columns of ``old`` that differ in ``new``: numbers by more than ``rtol`` relative,
    text at all; column → largest relative difference (inf for text, a missing column or
    another number of rows)."""
    if len(new) != len(old):
        return {"(rows)": float("inf")}
    differences = {}
    for name in old.columns:
        if name not in new.columns:
            differences[str(name)] = float("inf")
        elif pd.api.types.is_numeric_dtype(old[name]) and pd.api.types.is_numeric_dtype(new[name]):
            worst = relative_difference(new[name].to_numpy(), old[name].to_numpy())
            if worst > rtol:
                differences[str(name)] = worst
        elif not new[name].fillna("").astype(str).equals(old[name].fillna("").astype(str)):
            differences[str(name)] = float("inf")
    return differences


def compare_folders(new: Path, old: Path, rtol: float = MATCH_RTOL) -> dict[str, dict[str, float]]:
    """Every netCDF and CSV file under ``old`` compared with the same file under ``new``
    (:func:`compare_results`, :func:`compare_tables`): relative path → what differs."""
    files = {}
    for path in sorted([*old.rglob("*.nc"), *old.rglob("*.csv")]):
        name = path.relative_to(old).as_posix()
        other = new / name
        if not other.is_file():
            files[name] = {"(file)": float("inf")}
        elif path.suffix == ".nc":
            with xr.open_dataset(other) as a, xr.open_dataset(path) as b:
                files[name] = compare_results(a.load(), b.load(), rtol)
        else:
            files[name] = compare_tables(pd.read_csv(other, low_memory=False), pd.read_csv(path, low_memory=False),
                                         rtol)
    return files


def reproduce(manifest_path: Path, out: Path, reruns: dict[str, Rerun],
              command: Sequence[str] | None = None) -> Reproduction:
    """Do a recorded run, white paper or sensitivity analysis again into the new folder
    ``out`` and compare the numbers, for every kind by one rule: the manifest is read
    (:func:`read_manifest`), refused when an input changed since (:func:`check_unchanged`),
    re-run with its recorded settings and seed by ``reruns[kind]`` and every netCDF and CSV
    file of the original folder compared with the new one (:func:`compare_folders`)."""
    path, manifest, kind = read_manifest(manifest_path, tuple(reruns))
    check_unchanged(path, manifest["inputs"])
    with reserved_folder(out) as out:
        folder = reruns[kind](manifest, out, command)
    return Reproduction(kind, folder, compare_folders(folder, path.parent))


def rerun_run(manifest: dict, out: Path, command: Sequence[str] | None = None,
              extra: Callable[[Path, xr.Dataset], object] | None = None) -> Path:
    """A recorded run again (scenario file, parameter set, engine, last year, variant) into
    the new folder ``out``; ``extra`` as in :func:`write_run`."""
    recorded = {"scenario": manifest["scenario"].get("path"), "parameter_set": manifest["parameter_set"].get("path")}
    for key, value in recorded.items():
        if not value:
            raise KbalanceInputError("MANIFEST", f"{key}.path", "missing", "the path of the file the run read")
    return run_to_folder(project_root() / recorded["scenario"], out, until=int(manifest["until"]),
                         parameters=project_root() / recorded["parameter_set"], command=command,
                         engine=manifest["engine"], variant=manifest.get("variant", {}).get("key"), extra=extra)


def reproduce_run(manifest_path: Path, out: Path, command: Sequence[str] | None = None) -> Reproduction:
    """A recorded ``kbalance run`` again (:func:`reproduce` with :func:`rerun_run`)."""
    return reproduce(manifest_path, out, {"run": rerun_run}, command)


__all__ = [
    "ENGINES", "MANIFEST_KINDS", "MATCH_RTOL", "Reproduction", "Rerun", "age_label", "build_manifest",
    "check_unchanged", "compare_folders", "compare_results", "compare_tables", "manifest_kind", "read_manifest",
    "read_run_manifest", "relative_difference", "reproduce", "reproduce_run", "rerun_run", "results_long",
    "run_model", "run_to_folder", "run_variant", "scenario_files", "write_run",
]
