"""``kbalance sensitivity``: sample the factors, run the model, analyse, and write the folder.

The output folder holds ``manifest.json``, ``summary.json``, ``indices.csv`` (long:
method, outcome, year, factor, index, value, conf), ``indices.nc``, ``fan.csv`` and
``figures/*.png`` / ``*.svg``; it is written to a temporary sibling and renamed into
place at the end (:func:`kbalance.outputs.write_new_folder`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.calibration.ensemble import ensemble_path, latest_ensemble_set, read_ensemble
from kbalance.engine.compiler import source_hash
from kbalance.engine.runtime import check_dtype
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.model.conventions import global_attributes
from kbalance.model.indicators import read_indicators
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import read_scenario
from kbalance.outputs import (check_new_folder, data_hash, file_hash, input_hashes, model_hash, package_versions,
                              project_path, write_new_folder)
from kbalance.paths import calibration_dir, project_root
from kbalance.runs import scenario_files
from kbalance.sensitivity.design import (CONFIDENCE, CONVERGENCE_TOLERANCE, DEFAULT_N, MORRIS_LEVELS, RESAMPLES,
                                         PipelineResult, check_method, check_n, finite_or_none, group_names,
                                         report_years, run_pipeline, sample_design)
from kbalance.sensitivity.factors import (DEFAULT_DTYPE, base_constants, check_outcomes, define_factors,
                                          fan_quantiles, held_parameters, lever_timing, model_evaluator,
                                          outcome_indicators, projection_years, run_outcomes, salib_problem)
from kbalance.sensitivity.figures import write_figures


#: What each index is (long_name in English and Korean) and its unit: Sobol indices are
#: fractions of variance [1]; Morris statistics are in the outcome's unit (``outcome_units``).
INDEX_NAMES = {
    "S1": ("first-order Sobol index", "1차 Sobol 지수", "1"),
    "ST": ("total-order Sobol index", "총 Sobol 지수", "1"),
    "mu_star": ("Morris mean absolute elementary effect", "Morris 평균 절대 기본효과", "outcome units"),
    "sigma": ("Morris standard deviation of elementary effects", "Morris 기본효과 표준편차", "outcome units"),
    "mu": ("Morris mean elementary effect", "Morris 평균 기본효과", "outcome units"),
}


def index_attributes(name: str) -> dict[str, str]:
    """CF attributes of an index variable (``S1``, ``ST_conf`` …) of indices.nc."""
    base = name.removesuffix("_conf")
    long_en, long_ko, units = INDEX_NAMES.get(base, (base, base, "1"))
    if name.endswith("_conf"):
        long_en, long_ko = (f"half-width of the {CONFIDENCE:.0%} bootstrap confidence interval of the {long_en}",
                            f"{long_ko}의 {CONFIDENCE:.0%} 부트스트랩 신뢰구간 반폭")
    if units == "outcome units":
        units = "the unit of the outcome (coordinate outcome_units)"
    return {"units": units, "long_name": long_en, "long_name_ko": long_ko}


def indices_dataset(indices: pd.DataFrame, checks: dict[str, dict], attrs: dict[str, object]) -> xr.Dataset:
    """The long table as arrays over (outcome, year, factor): one variable per index and its confidence
    (``<index>_conf``), with CF attributes, the outcomes' units and labels as coordinates and
    the global attributes of :func:`kbalance.model.conventions.global_attributes`;
    second-order indices are left to the CSV."""
    table = indices[indices["index"] != "S2"]
    ds = xr.Dataset()
    factors = list(dict.fromkeys(table["factor"]))
    outcomes = list(dict.fromkeys(table["outcome"]))
    for index, part in table.groupby("index", sort=False):
        for column, name in (("value", index), ("conf", f"{index}_conf")):
            frame = part.set_index(["outcome", "year", "factor"])[column]
            array = frame.to_xarray().reindex(outcome=outcomes, factor=factors)
            if column == "conf" and not np.isfinite(array.values).any():
                continue
            ds[name] = array
    ds["converged"] = xr.DataArray([int(checks[o]["converged"]) for o in ds["outcome"].values], dims="outcome")
    for name in ds.data_vars:
        ds[name].attrs = index_attributes(str(name)) if name != "converged" else {
            "units": "1", "long_name": "1 when the indices converged (N/2 to N) for the outcome",
            "long_name_ko": "수렴 여부 (1: 수렴)"}
    known = read_indicators()
    shown = [known[str(o)] if str(o) in known else None for o in ds["outcome"].values]
    ds = ds.assign_coords(outcome_units=("outcome", [i.unit_en if i else "" for i in shown]),
                          outcome_label_en=("outcome", [i.label_en if i else str(o) for i, o in zip(shown, ds["outcome"].values)]),
                          outcome_label_ko=("outcome", [i.label_ko if i else str(o) for i, o in zip(shown, ds["outcome"].values)]))
    ds["year"].attrs = {"units": "year", "long_name": "year", "long_name_ko": "연도"}
    attrs = dict(attrs)
    fitted = attrs.pop("fitted_set", None)
    ds.attrs = {**global_attributes(f"kbalance sensitivity analysis ({attrs.get('method', '')})",
                                    str(fitted) if fitted else None),
                **{k: (json.dumps(v) if not isinstance(v, (str, int, float)) else v) for k, v in attrs.items()}}
    return ds


def fan_table(fan: pd.DataFrame) -> pd.DataFrame:
    """The fan quantiles with the unit of each outcome (model/indicators.toml) as a column."""
    known = read_indicators()
    out = fan.copy()
    out.insert(2, "unit", out["outcome"].map(lambda k: known[k].unit_en if k in known else ""))
    return out




def top_factors(indices: pd.DataFrame, outcome: str, year: int, count: int = 5) -> list[dict]:
    """The ``count`` factors with the largest total index (ST, or mu* for Morris) at one year."""
    method = indices["method"].iloc[0]
    main, other = ("ST", "S1") if method == "sobol" else ("mu_star", "sigma")
    part = indices[(indices["outcome"] == outcome) & (indices["year"] == year)]
    wide = part.pivot_table(index="factor", columns="index", values="value", dropna=False)
    conf = part[part["index"] == main].set_index("factor")["conf"]
    wide = wide.dropna(subset=[main]).sort_values(main, ascending=False).head(count)
    return [{"factor": f, main: float(row[main]), f"{main}_conf": finite_or_none(conf.get(f, np.nan)),
             other: finite_or_none(row.get(other, np.nan))} for f, row in wide.iterrows()]


def build_summary(result: PipelineResult, outcomes: Sequence[str], years: Sequence[int],
                  seconds_total: float, dtype: str = DEFAULT_DTYPE) -> dict:
    """summary.json: method, size, runs, floating type of the runs, time, convergence and top
    factors per outcome."""
    report = report_years(years)
    return {
        "method": result.design.method,
        "n": result.design.n,
        "second_order": result.design.second_order,
        "runs": result.design.runs,
        "dtype": dtype,
        "seconds": round(seconds_total, 1),
        "years": [int(years[0]), int(years[-1])],
        "convergence_tolerance": CONVERGENCE_TOLERANCE,
        "converged": all(c["converged"] for c in result.convergence.values()),
        "convergence": result.convergence,
        "top_factors": {o: {str(y): top_factors(result.indices, o, y) for y in report} for o in outcomes},
    }


def _log(message: str) -> None:
    print(f"kbalance sensitivity: {message}", file=sys.stderr, flush=True)


def sensitivity_to_folder(out: Path, method: str = "sobol", n: int | None = None, scenario: str | Path = "baseline",
                          outcomes: Sequence[str] | None = None, until: int = 2070, seed: int = 20261129,
                          second_order: bool = False, workers: int | None = None, scheduler: str | None = None,
                          chunk_size: int = 250, fan_members: int | None = None, ensemble: Path | None = None,
                          command: Sequence[str] | None = None, progress: bool = True,
                          dtype: str | None = None) -> tuple[Path, dict]:
    """Run a global sensitivity analysis of the model and write the output folder.

    out : Path  new folder (refused if it exists and is not empty)
    method : "sobol" or "morris"
    n : int, optional  base samples N (Sobol, a power of two) or trajectories (Morris);
        default :data:`DEFAULT_N`
    scenario : shipped name or file; sets the levers that are not varied and the timing of the varied ones
    outcomes : keys of national indicators in model/indicators.toml (default
        :data:`kbalance.sensitivity.factors.OUTCOMES`)
    until : int  last year [year]
    seed : int  seed of the sample and the bootstrap (same seed, same numbers)
    second_order : bool  Sobol second-order indices (doubles the runs)
    workers, scheduler, chunk_size : how runs are spread (see :func:`kbalance.engine.run_ensemble`)
    fan_members : int, optional  ensemble members for the fan charts (default all)
    ensemble : Path, optional  fitted set whose constrained ensemble is used (default: the newest with one)
    command : the command line, for the manifest
    dtype : "float32" or "float64", optional  the type the model runs compute in (default :data:`DEFAULT_DTYPE`)

    Returns the folder and the summary.
    """
    started = time.perf_counter()
    dtype = check_dtype(DEFAULT_DTYPE if dtype is None else dtype, "kbalance sensitivity", "--dtype").name
    method = check_method(method)
    n = check_n(method, DEFAULT_N[method] if n is None else int(n))
    outcomes = check_outcomes(outcomes)
    years = projection_years(until)
    if fan_members is not None and fan_members < 1:
        raise InvalidValueError("kbalance sensitivity", "--fan-members", fan_members, "a positive number of members")
    out = check_new_folder(out)
    chosen = read_scenario(scenario)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    fitted = Path(ensemble) if ensemble is not None else latest_ensemble_set()
    if fitted is None:
        raise MissingFileError(calibration_dir() / "fitted" / "v<N>-ensemble.csv", "constrained ensemble",
                               "run kbalance calibrate, then kbalance ensemble")
    path = ensemble_path(fitted)
    for needed in (fitted, path):
        if not needed.is_file():
            raise MissingFileError(needed, "--ensemble", "a fitted set calibration/fitted/v<N>.toml beside its "
                                                         "constrained ensemble v<N>-ensemble.csv")
    shipped = shipped_parameter_set()
    if not path.name.startswith(f"{shipped.name}-"):
        _log(f"note: the shipped parameter set is {shipped.name} but the newest ensemble is {path.name}; "
             "parameters it lacks keep their shipped values")
    ensemble = read_ensemble(fitted)
    factors = define_factors(ensemble, ensemble_name=path.name)
    problem = salib_problem(factors)
    constants = base_constants(chosen, factors)
    design = sample_design(problem, method, n, seed, second_order)
    seconds["sampling"] = time.perf_counter() - t
    _log(f"{method}: {len(factors)} factors in {len(group_names(problem))} groups, N = {n}, "
         f"{design.runs:,} runs to {until} in {dtype} (scenario {chosen.name}, seed {seed})")
    evaluate = model_evaluator(factors, constants, until, outcomes, workers, scheduler, chunk_size, progress, dtype)
    result = run_pipeline(problem, design, evaluate, outcomes, years, log=_log,
                          workers=workers or os.cpu_count() or 1)
    seconds.update(result.seconds)

    t = time.perf_counter()
    members = ensemble[[f.name for f in factors if f.kind == "parameter"]]  # columns of current parameters
    members = members if fan_members is None else members.iloc[:fan_members]
    _log(f"fan charts: running {len(members):,} ensemble members under scenario {chosen.name} ...")
    fan_constants = {**shipped.values, **chosen.constants}
    fan_values = run_outcomes(members, fan_constants, until, outcomes, workers, scheduler, chunk_size, progress,
                              dtype)
    fan = fan_quantiles(fan_values, outcomes, years)
    seconds["ensemble_runs"] = time.perf_counter() - t

    manifest = {
        "kbalance_sensitivity": 1,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(command if command is not None else ["kbalance", *sys.argv[1:]]),
        "method": method, "n": n, "second_order": design.second_order, "runs": design.runs, "seed": seed,
        "chunk_size": chunk_size,
        "until": until, "years": [years[0], years[-1]], "dtype": dtype,
        "morris_levels": MORRIS_LEVELS if method == "morris" else None,
        "bootstrap": {"resamples": RESAMPLES, "confidence": CONFIDENCE},
        "scenario": {"name": chosen.name, "file": str(chosen.path.name if chosen.path else ""),
                     "path": project_path(chosen.path) if chosen.path else None,
                     "sha256": file_hash([chosen.path]) if chosen.path else None,
                     "includes": list(chosen.includes), "constants": chosen.constants},
        "factor_ranges": f"calibrated parameters: min-max over the members of {path.name}; "
                         "lever targets: the documented range in model/levers.toml",
        "lever_timing": lever_timing(chosen),
        "groups": {g: [f.name for f in factors if f.group == g] for g in group_names(problem)},
        "held_at_shipped_values": {"parameters": held_parameters(factors),
                                   "reason": f"calibrated but not in {path.name} (added after the ensemble was "
                                             "drawn): kept at the shipped parameter set's value"},
        "factors": [{"name": f.name, "group": f.group, "kind": f.kind, "low": f.low, "high": f.high,
                     "source": f.source} for f in factors],
        "outcomes": {key: {"variable": i.variable, "scale": i.scale, "unit": i.unit_en, "label": i.label_en,
                           "label_ko": i.label_ko} for key, i in outcome_indicators(outcomes).items()},
        "fan_members": len(members),
        "ensemble": {"file": path.name, "path": project_path(path), "sha256": file_hash([path]),
                     "fitted_set": project_path(fitted)},
        "parameter_set": {"name": shipped.name, "file": shipped.path.name, "path": project_path(shipped.path),
                          "sha256": shipped.sha256()},
        "inputs": input_hashes(dict.fromkeys([*scenario_files(chosen), shipped.path, fitted, path])),
        "model_sha256": model_hash(),
        "data_sha256": data_hash(),
        "engine_source_sha256": source_hash(),
        "versions": package_versions("SALib", "matplotlib"),
    }

    def files(tmp: Path) -> None:
        t = time.perf_counter()
        result.indices.to_csv(tmp / "indices.csv", index=False, float_format="%.6g")
        fan_table(fan).to_csv(tmp / "fan.csv", index=False, float_format="%.8g")
        attrs = {"method": method, "n": n, "runs": design.runs, "seed": seed, "scenario": chosen.name,
                 "fitted_set": Path(fitted).stem,
                 "conf": f"half-width of the {CONFIDENCE:.0%} bootstrap confidence interval"}
        indices_dataset(result.indices, result.convergence, attrs).to_netcdf(tmp / "indices.nc")
        write_figures(tmp / "figures", result.indices, fan, outcomes, years, len(members), chosen.name)
        seconds["writing_and_figures"] = time.perf_counter() - t
        seconds["total"] = time.perf_counter() - started
        summary = build_summary(result, outcomes, years, seconds["total"], dtype)
        manifest["timings_seconds"] = {k: round(v, 2) for k, v in seconds.items()}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        files.summary = summary  # type: ignore[attr-defined]

    folder = write_new_folder(out, files)
    return folder, files.summary  # type: ignore[attr-defined]


def rerun_sensitivity(manifest: dict, out: Path, command: Sequence[str] | None = None) -> Path:
    """A recorded sensitivity analysis again into the new folder ``out``: its method, N,
    seed, scenario file, outcomes, last year, second order, fan members, ensemble, chunk size
    and floating type (the manifest of :func:`sensitivity_to_folder`); the folder written."""
    root = project_root()
    folder, _ = sensitivity_to_folder(
        out, method=manifest["method"], n=manifest["n"], scenario=root / manifest["scenario"]["path"],
        outcomes=list(manifest["outcomes"]), until=int(manifest["until"]), seed=int(manifest["seed"]),
        second_order=bool(manifest.get("second_order", False)), chunk_size=int(manifest.get("chunk_size", 250)),
        fan_members=manifest.get("fan_members"), ensemble=root / manifest["ensemble"]["fitted_set"],
        command=command, dtype=manifest["dtype"])
    return folder


def format_summary(summary: dict) -> str:
    """Lines for stdout: convergence and the leading factors per outcome."""
    main = "ST" if summary["method"] == "sobol" else "mu_star"
    runs = f"{summary['runs']:,} runs ({summary.get('dtype', 'float64')})"
    lines = [f"{summary['method']}: N = {summary['n']}, {runs}, {summary['seconds']:.0f} s"]
    for outcome, check in summary["convergence"].items():
        changes = ", ".join(f"{y}: {v:.3f}" if v is not None else f"{y}: n/a"
                            for y, v in check["max_abs_change"].items())
        verdict = "converged" if check["converged"] else "not converged"
        lines.append(f"  {outcome:22s} {verdict} (max |Δ{main}| N/2→N {changes}; tolerance {check['tolerance']})")
        for year, top in summary["top_factors"][outcome].items():
            lines.append(f"      {year}: " + ", ".join(f"{t['factor']} {t[main]:.2f}" for t in top[:3]))
    lines.append("all outcomes converged" if summary["converged"] else "not converged for every outcome")
    return "\n".join(lines)
