"""``kbalance whitepaper``: run every shipped scenario on the constrained ensemble and
write one new folder::

    manifest.json            command, hashes of scenarios, fitted set, ensemble, model and data,
                             versions, members, timings, the sensitivity folder used
    results/                 ensemble_summary.nc/.csv (quantiles by scenario, year, region),
                             bestfit.nc/.csv (the best-fit run of every scenario),
                             municipal_summary.nc/.csv and municipal_index.csv (the 시군구 layer),
                             factorial_effects.nc (bands of the factorial experiment's effects)
    tables/                  CSV tables and tables.xlsx (one sheet each)
    figures/                 PNG (300 dpi) and SVG
    report.html              one self-contained page

Each scenario runs with the members of the latest constrained ensemble
(``calibration/fitted/v<N>-ensemble.csv``; the same members for every scenario, so
differences between scenarios are paired) and once with the best-fit set (for
full-detail variables such as age pyramids). The folder is written to a hidden
temporary sibling and renamed at the end, so a failed or interrupted run leaves nothing
behind. The analysis is in :mod:`~kbalance.whitepaper.analysis`, the tables in
:mod:`~kbalance.whitepaper.tables`, the figures in :mod:`~kbalance.whitepaper.figures`
and the page in :mod:`~kbalance.whitepaper.page`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import xarray as xr

import kbalance
from kbalance.calibration.ensemble import ensemble_path, latest_ensemble_set
from kbalance.engine.compiler import compile_model, source_hash
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.model.conventions import global_attributes, indicator_results, model_results
from kbalance.model.parameters import read_parameter_set
from kbalance.model.scenarios import Scenario, read_scenario, scenario_dir, with_variant
from kbalance.model.variants import default_variant, read_variants
from kbalance.outputs import (check_new_folder, data_hash, file_hash, input_hashes, model_hash, netcdf_ready,
                              package_versions, project_path, write_new_folder)
from kbalance.paths import calibration_dir, outputs_dir, project_root
from kbalance.sensitivity.factorial import COMBINED
from kbalance.sensitivity.interactions import SOBOL_N
from kbalance.sensitivity.levers import BAND_MEMBERS
from kbalance.runs import scenario_files
from kbalance.sensitivity.factors import OUTCOMES
from kbalance.sensitivity.pipeline import sensitivity_to_folder
from kbalance.whitepaper.analysis import (LANGS, Whitepaper, ensemble_members, lever_settings, pyramid_years,
                                          run_bestfit, run_scenario_members, summarize, table_years,
                                          whitepaper_scenarios)
from kbalance.whitepaper.complementarity import run_complementarity
from kbalance.whitepaper.levers import run_lever_evidence
from kbalance.whitepaper.demography import FIGURES as DEMOGRAPHY_FIGURES, assumptions_table
from kbalance.whitepaper.figures import FIGURES, save_figure
from kbalance.municipal.layer import channel_variables
from kbalance.whitepaper.municipal import member_reduce, split_municipal, write_section
from kbalance.whitepaper.page import render_html
from kbalance.whitepaper.sources import find_sensitivity, fit_summary, latest_backtest
from kbalance.whitepaper.tables import bestfit_long, build_tables, summary_long, write_tables

FIGURE_DPI = 300
#: The small sensitivity screening a white paper runs when no analysis is found: Morris
#: trajectories, the first outcomes of the sensitivity analysis' default list and the
#: ensemble members of its fan charts (about a minute on a loaded 2-core machine).
SCREENING = {"method": "morris", "n": 4, "outcomes": tuple(OUTCOMES[:2]), "fan_members": 20}
#: The screening's folder inside the white-paper folder.
SCREENING_FOLDER = "sensitivity-screening"


class Progress:
    """Stage messages on standard error with the elapsed time, and a timing record."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}
        self._stage: tuple[str, float] | None = None

    def stage(self, name: str) -> None:
        """Close the current stage (recording its duration [s]) and open ``name``."""
        now = time.perf_counter()
        if self._stage is not None:
            key, began = self._stage
            self.timings[key] = round(self.timings.get(key, 0.0) + now - began, 3)
        self._stage = (name, now)
        if self.enabled and name:
            print(f"[whitepaper {now - self.start:7.1f} s] {name}", file=sys.stderr, flush=True)

    def done(self) -> dict[str, float]:
        """Close the last stage; the durations of every stage and the total [s]."""
        self.stage("")
        self.timings.pop("", None)
        self.timings["total"] = round(time.perf_counter() - self.start, 3)
        return self.timings


def default_out() -> Path:
    """outputs/whitepaper-<UTC timestamp>."""
    return outputs_dir() / f"whitepaper-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def prepare_whitepaper(lang: str = "ko", until: int = 2070, members: int | None = None,
                       sensitivity: Path | None = None, workers: int | None = None,
                       log: Progress | None = None, sobol_n: int | None = None,
                       scenarios: Sequence[Path] = (), variant: str | None = None) -> tuple[Whitepaper, dict]:
    """Run every scenario (the shipped ones and the files ``scenarios``) on the ensemble and
    the best-fit set, and the factorial experiment of the complementarity analysis
    (``sobol_n`` base samples of its Sobol cross-check, default
    :data:`~kbalance.sensitivity.interactions.SOBOL_N`); nothing is written. Every scenario
    and every factorial cell runs under the demographic ``variant`` (a key of
    model/demography.toml; default the file's default), so differences stay paired.

    Returns the :class:`Whitepaper` and the inputs the manifest records (fitted set,
    scenarios, derived scenario note, members).
    """
    if lang not in LANGS:
        raise InvalidValueError("kbalance whitepaper", "--lang", lang, LANGS)
    if until < 2030 or until > 2100:
        raise InvalidValueError("kbalance whitepaper", "--until", until, "a year in [2030, 2100]")
    variant = variant or default_variant()
    if variant not in read_variants():
        raise InvalidValueError("kbalance whitepaper", "--variant", variant, list(read_variants()))
    log = log or Progress(False)
    sobol_n = SOBOL_N if sobol_n is None else sobol_n
    if sobol_n < 4 or sobol_n & (sobol_n - 1):
        raise InvalidValueError("kbalance whitepaper", "--sobol-n", sobol_n, "a power of two, at least 4")
    log.stage("reading inputs")
    fitted = latest_ensemble_set()
    if fitted is None:
        raise MissingFileError(calibration_dir() / "fitted" / "v<N>-ensemble.csv", "constrained ensemble",
                               "run kbalance calibrate, then kbalance ensemble")
    table = ensemble_members(fitted, members)
    params = read_parameter_set(fitted)
    user_files = scenarios
    scenarios, derived = whitepaper_scenarios(user_files)
    scenarios = [with_variant(s, variant, "kbalance whitepaper") for s in scenarios]
    sens = find_sensitivity(sensitivity)
    fit_dir = calibration_dir() / "reports" / fitted.stem
    backtest = latest_backtest()
    compile_model()  # once here: forked workers inherit it
    runs, best = [], []
    for s in scenarios:
        log.stage(f"scenario {s.name}: {len(table):,} ensemble members to {until}")
        runs.append(run_scenario_members(s, table, until, workers, reduce=member_reduce,
                                         extra_variables=("Population", *channel_variables())))
        log.stage(f"scenario {s.name}: best-fit run")
        best.append(run_bestfit(s, params, until))
    log.stage(f"factorial experiment: 16 combinations × {len(table):,} members, traces, Sobol cross-check")
    combined = with_variant(read_scenario(COMBINED), variant, "kbalance whitepaper") if COMBINED in {
        s.name for s in scenarios} else None
    complementarity = (run_complementarity(table, params.values, until, table_years(until), workers, sobol_n,
                                           combined=combined)
                       if COMBINED in {s.name for s in scenarios} else None)
    log.stage(f"lever evidence: every lever's standard change, best fit and {min(BAND_MEMBERS, len(table))} members")
    lever_evidence = run_lever_evidence(params.values, table, variant, until)
    names = pd.Index([s.name for s in scenarios], name="scenario")
    log.stage("ensemble summaries")
    member_ds, municipal, seconds = split_municipal(xr.concat(runs, dim=names))
    wp = Whitepaper(lang=lang, until=until, members=member_ds, summary=summarize(member_ds),
                    municipal=municipal, municipal_seconds=seconds,
                    bestfit=xr.concat(best, dim=names), scenarios={s.name: s for s in scenarios},
                    levers=lever_settings(scenarios), fit=fit_summary(fit_dir),
                    backtest=pd.read_csv(backtest) if backtest else None, fit_report=fit_dir,
                    sensitivity=sens, complementarity=complementarity, variant=variant,
                    lever_evidence=lever_evidence)
    inputs = {"variant": variant, "fitted": fitted, "scenarios": scenarios, "derived": derived, "members": len(table),
              "factorial": None if complementarity is None else {
                  "combined": COMBINED, "groups": [g.name for g in complementarity.design.groups],
                  "cells": complementarity.design.names, "sobol_n": sobol_n}}
    return wp, inputs


def build_whitepaper_manifest(command: Sequence[str], scenarios: Sequence[Scenario], derived: dict,
                              fitted: Path, members: int, until: int, lang: str,
                              sensitivity: Path | None, timings: dict, factorial: dict | None = None,
                              variant: str | None = None) -> dict:
    """What reproduces the white paper: command, inputs with hashes, versions, settings
    (``factorial``: the groups, cells and Sobol sample size of the complementarity analysis;
    ``variant``: the demographic variant of every scenario, default the file's default)."""
    variant = variant or default_variant()
    spec = read_variants()[variant]
    ens = ensemble_path(fitted)
    info = ens.with_suffix(".json")
    seed = json.loads(info.read_text(encoding="utf-8")).get("seed") if info.is_file() else None
    return {
        "kbalance_whitepaper": 1,
        "kbalance_version": kbalance.__version__,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(command),
        "until": until, "lang": lang, "members": members,
        "variant": {"key": variant, "code": spec.code, "label": spec.label_en},
        "seed": None, "ensemble_seed": seed,
        "scenarios": [{"name": s.name, "file": s.path.name if s.path else None,
                       "path": project_path(s.path) if s.path else None,
                       "sha256": file_hash([s.path]) if s.path else None, "constants": s.constants}
                      for s in scenarios],
        "derived_scenario": derived or None,
        "factorial": factorial,
        "fitted_set": {"file": fitted.name, "sha256": file_hash([fitted])},
        "ensemble": {"file": ens.name, "sha256": file_hash([ens]),
                     "info_file": info.name if info.is_file() else None,
                     "info_sha256": file_hash([info]) if info.is_file() else None},
        "dtype": "float64",
        "inputs": input_hashes(dict.fromkeys([f for s in scenarios for f in scenario_files(s)]
                                             + [fitted, ens] + ([info] if info.is_file() else []))),
        "model_sha256": model_hash(), "data_sha256": data_hash(), "engine_source_sha256": source_hash(),
        "sensitivity": str(sensitivity) if sensitivity else None,
        "versions": package_versions("matplotlib", "openpyxl", "koreanize-matplotlib", "fonttools"),
        "timings_s": timings,
    }


def run_whitepaper(out: Path | None = None, lang: str = "ko", until: int = 2070, members: int | None = None,
                   sensitivity: Path | None = None, command: Sequence[str] | None = None,
                   progress: bool = True, workers: int | None = None, sobol_n: int | None = None,
                   scenarios: Sequence[Path] = (), variant: str | None = None) -> Path:
    """Run every shipped scenario on the ensemble and write the white-paper folder.

    out : Path, optional  new folder (default outputs/whitepaper-<UTC time>); an existing
        non-empty folder is refused
    lang : "ko" or "en"  language of figures, tables and report
    until : int  last projected year [year]
    members : int, optional  first M members of the constrained ensemble (default all)
    sensitivity : Path, optional  a kbalance sensitivity folder (default the newest
        outputs/sensitivity*/ with summary.json, if any)
    workers : int, optional  local processes for the ensemble (default: cores)
    sobol_n : int, optional  Sobol base samples of the complementarity cross-check
    scenarios : scenario files [TOML] run beside the shipped ones (``--scenario FILE``)
    variant : str, optional  demographic variant of every scenario (``--variant KEY``, a key of
        model/demography.toml; default the file's default)
    Returns the folder written.
    """
    out = check_new_folder(Path(out) if out else default_out())
    log = Progress(progress)
    wp, inputs = prepare_whitepaper(lang, until, members, sensitivity, workers, log, sobol_n, scenarios, variant)
    timings: dict[str, float] = {}

    def write(tmp: Path) -> None:
        written = write_contents(wp, tmp, log, out.name, screening=True)
        log.stage("manifest")
        timings.update(log.done())
        sens = out / SCREENING_FOLDER if written.screening else wp.sensitivity
        manifest = build_whitepaper_manifest(command or ["kbalance", *sys.argv[1:]], inputs["scenarios"],
                                             inputs["derived"], inputs["fitted"], inputs["members"], until, lang,
                                             sens, timings, inputs.get("factorial"), inputs["variant"])
        if written.screening:
            manifest["sensitivity_screening"] = dict(SCREENING, outcomes=list(SCREENING["outcomes"]))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")

    write_new_folder(out, write)
    if progress:
        print(f"[whitepaper {timings['total']:7.1f} s] wrote {out}", file=sys.stderr, flush=True)
    return out


def rerun_whitepaper(manifest: dict, out: Path, command: Sequence[str] | None = None) -> Path:
    """A recorded white paper again into the new folder ``out``: its language, last year,
    members, demographic variant, Sobol sample size, scenario files beside the shipped ones
    and sensitivity folder (a screening is run again); the folder written. Refused when the
    newest fitted set with an ensemble is no longer the one the white paper ran on."""
    recorded = calibration_dir() / "fitted" / manifest["fitted_set"]["file"]
    latest = latest_ensemble_set()
    if latest is None or latest.name != recorded.name:
        raise InvalidValueError(latest or recorded, "fitted_set.file", latest.name if latest else None,
                                f"{recorded.name}, the fitted set the white paper ran on, as the newest with a "
                                "constrained ensemble")
    shipped = scenario_dir().resolve()
    files = [project_root() / s["path"] for s in manifest["scenarios"]
             if s.get("path") and (project_root() / s["path"]).resolve().parent != shipped]
    screening = "sensitivity_screening" in manifest
    sensitivity = Path(manifest["sensitivity"]) if manifest.get("sensitivity") and not screening else None
    return run_whitepaper(out, lang=manifest["lang"], until=int(manifest["until"]), members=int(manifest["members"]),
                          sensitivity=sensitivity, command=command, sobol_n=(manifest.get("factorial") or {}).get(
                              "sobol_n"), scenarios=files, variant=(manifest.get("variant") or {}).get("key"))


def run_screening(folder: Path, until: int) -> Path:
    """The small sensitivity screening (:data:`SCREENING`) of the baseline into the new ``folder``."""
    out, _ = sensitivity_to_folder(folder, method=SCREENING["method"], n=SCREENING["n"],
                                   outcomes=list(SCREENING["outcomes"]), until=until,
                                   fan_members=SCREENING["fan_members"], progress=False,
                                   command=["kbalance whitepaper (screening)"])
    return out


def write_contents(wp: Whitepaper, folder: Path, log: Progress, name: str | None = None,
                   screening: bool = False) -> Whitepaper:
    """Results, tables, figures and the report into ``folder``.

    name : the folder's final name, shown in the report's footer (default ``folder``'s name)
    screening : when no sensitivity folder was found, run the small screening
        (:data:`SCREENING`) into ``folder``/sensitivity-screening and report it as such
    Returns a copy of ``wp`` holding the tables and figures.
    """
    for sub in ("results", "tables", "figures"):
        (folder / sub).mkdir()
    log.stage("writing results (netCDF, CSV)")
    write_results(wp, folder / "results")
    if wp.sensitivity is None and screening:
        log.stage(f"sensitivity: no analysis found, a small screening ({SCREENING['method']}, N = {SCREENING['n']})")
        wp = replace(wp, sensitivity=run_screening(folder / SCREENING_FOLDER, wp.until), screening=True)
    log.stage("tables")
    tables = {**build_tables(wp), "demography_assumptions": assumptions_table(wp)}
    write_tables(tables, folder / "tables", wp.lang)
    wp = replace(wp, tables=tables, figures={})
    for key, make in {**FIGURES, **DEMOGRAPHY_FIGURES}.items():
        log.stage(f"figure {key}")
        fig = make(wp)
        if fig is not None:
            wp.figures[key] = save_figure(fig, folder / "figures", key, dpi=FIGURE_DPI)
    log.stage("municipal section")
    wp = write_section(wp, folder)
    log.stage("copying calibration and sensitivity figures")
    wp.figures.update(copy_external_figures(wp, folder / "figures"))
    log.stage("report.html")
    (folder / "report.html").write_text(render_html(wp, name or folder.name), encoding="utf-8")
    return wp


def write_netcdf(ds: xr.Dataset, path: Path) -> Path:
    """Write a Dataset compressed (zlib) with netCDF-safe names."""
    ready = netcdf_ready(ds)
    encoding = {v: {"zlib": True, "complevel": 4} for v in ready.data_vars}
    ready.to_netcdf(path, encoding=encoding)
    return path


def write_results(wp: Whitepaper, folder: Path) -> None:
    """results/ensemble_summary.nc and .csv, results/bestfit.nc and .csv, in the output
    convention of :mod:`kbalance.model.conventions` (names, coordinates, units, attributes)."""
    fitted, members = wp.fit_report.name, int(wp.members.sizes.get("member", 0))
    summary = indicator_results(wp.summary)
    summary.attrs = {**global_attributes("kbalance white paper: ensemble quantiles of the indicators by scenario",
                                         fitted), "ensemble_members": members,
                     "quantile": "q05 … q95: 5, 25, 50, 75 and 95 % quantiles over the ensemble members"}
    write_netcdf(summary, folder / "ensemble_summary.nc")
    summary_long(wp.summary).to_csv(folder / "ensemble_summary.csv", index=False, float_format="%.8g")
    bestfit = model_results(wp.bestfit)
    bestfit.attrs = global_attributes("kbalance white paper: best-fit run of every scenario", fitted)
    write_netcdf(bestfit, folder / "bestfit.nc")
    if wp.complementarity is not None:
        write_netcdf(wp.complementarity.paths, folder / "factorial_effects.nc")
    years = sorted({*range(2025, wp.until + 1, 5), *pyramid_years(wp.until)})
    bestfit_long(wp.bestfit, years).to_csv(folder / "bestfit.csv", index=False, float_format="%.10g")


def copy_external_figures(wp: Whitepaper, folder: Path) -> dict[str, Path]:
    """Copy the calibration fit figures and the sensitivity figures into figures/."""
    copied = {}
    for name in ("population", "tfr", "fiscal_autonomy", "net_migration"):
        src = wp.fit_report / f"fit_{name}.png"
        if src.is_file():
            dest = folder / "calibration" / src.name
            dest.parent.mkdir(exist_ok=True)
            copied[f"calibration_fit_{name}"] = Path(shutil.copy2(src, dest))
    if wp.sensitivity is not None:
        for src in sorted((wp.sensitivity / "figures").glob("*.png")):
            dest = folder / "sensitivity" / src.name
            dest.parent.mkdir(exist_ok=True)
            copied[f"sensitivity_{src.stem}"] = Path(shutil.copy2(src, dest))
    return copied


__all__ = ["SCREENING", "SCREENING_FOLDER", "run_screening", "Progress", "build_whitepaper_manifest", "default_out",
           "prepare_whitepaper", "rerun_whitepaper", "run_whitepaper",
           "write_contents", "write_results"]
