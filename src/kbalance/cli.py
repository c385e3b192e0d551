"""Command line: ``kbalance <group> <command> …``.

Groups register themselves with an ``_add_<group>_commands(subparsers)`` function
that adds the argparse sub-commands and sets ``command=(group, name)``; the
handler for that key goes into :data:`DISPATCH`. Exit codes: 0 success, 1 a check
failed, 2 bad input (a :class:`~kbalance.errors.KbalanceInputError`, message on
stderr, no traceback) or bad usage, 130 interrupted (Ctrl-C).

Arguments are checked before any compute: numbers against their allowed ranges (argparse
types below), output folders (checked and reserved, :func:`kbalance.outputs.reserved_folder`),
a Dask scheduler (its address, dask installed, a short connect), and the observation set
(:func:`kbalance.observations.check.validate_observation_set`) for every command that
reads it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from kbalance.arguments import SEED, WORKERS, check_scheduler, count, out_arg
from kbalance.calibration.backtest import BACKTEST_EVALUATIONS, ORIGINS, backtests, check_origins
from kbalance.calibration.ensemble import constrained_ensemble, write_ensemble
from kbalance.calibration.fit import MAX_EVALUATIONS, calibrate, next_version
from kbalance.errors import InvalidValueError, KbalanceInputError, MissingFileError
from kbalance.model.parameters import latest_fitted_set
from kbalance.observations.check import validate_observation_set
from kbalance.outputs import check_writable_folder, reserved_folder

Handler = Callable[[argparse.Namespace], int]

#: (group, command) -> handler(args) -> exit code
DISPATCH: dict[tuple[str, str], Handler] = {}

EXIT_OK, EXIT_CHECK_FAILED, EXIT_INPUT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


# --- data ---------------------------------------------------------------------------


def _default_shared_data() -> Path:
    from kbalance.paths import project_root

    return (project_root() / ".." / "shared" / "data").resolve()


def _data_build(args: argparse.Namespace) -> int:
    from kbalance.observations.build import build, harmonized_dir
    from kbalance.paths import calibration_dir

    source = Path(args.source) if args.source else _default_shared_data()
    dest = Path(args.dest) if args.dest else calibration_dir()
    written = build(source, dest)
    print(f"built {len(written)} files from {harmonized_dir(source)} into {dest}:")
    for path in written:
        print(f"  {path.relative_to(dest).as_posix()}  ({path.stat().st_size:,} bytes)")
    return EXIT_OK


def _data_check(args: argparse.Namespace) -> int:
    from kbalance.observations.check import check

    report = check(Path(args.root) if args.root else None)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.max_colwidth", 60):
        table = report.summary_table()
        table["table_id"] = table["table_id"].map(lambda t: t if len(t) <= 60 else t[:57] + "...")
        print(table.to_string(index=False))
    print()
    for result in report.results:
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.name}: {result.detail}")
    failed = sum(not r.passed for r in report.results)
    print(f"\n{len(report.summary)} series, {len(report.results)} checks, {failed} failed")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _add_data_commands(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("data", help="compile and check the observation set (calibration/)")
    commands = group.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="compile ../shared/data/harmonized into calibration/")
    build.add_argument("--from", dest="source", metavar="PATH",
                       help="shared/data folder or its harmonized/ subfolder (default: ../shared/data beside the checkout)")
    build.add_argument("--to", dest="dest", metavar="PATH", help="calibration folder to write (default: calibration/)")
    build.set_defaults(command=("data", "build"))

    chk = commands.add_parser("check", help="validate the observation set and its identities")
    chk.add_argument("--root", metavar="PATH", help="calibration folder (default: calibration/)")
    chk.set_defaults(command=("data", "check"))

    DISPATCH[("data", "build")] = _data_build
    DISPATCH[("data", "check")] = _data_check



# --- model, run and scenarios ----------------------------------------------------------


def _model_inputs(args: argparse.Namespace) -> int:
    from kbalance.model.inputs import build_model_inputs

    validate_observation_set()
    written = build_model_inputs()
    print(f"wrote {len(written)} model input tables into {written[0].parent}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from kbalance.paths import outputs_dir
    from kbalance.runs import run_to_folder

    out = out_arg(args.out) or outputs_dir() / f"run-{Path(args.scenario).stem}-{_stamp()}"
    with reserved_folder(out) as out:
        validate_observation_set()
        print(f"running scenario {args.scenario} to {args.until} on the {args.engine} engine ...", flush=True)
        extra = None
        if args.municipal:
            from kbalance.municipal.layer import write_run_municipal as extra
        folder = run_to_folder(args.scenario, out, until=args.until,
                               parameters=Path(args.parameters) if args.parameters else None,
                               command=["kbalance", *args.argv], engine=args.engine, variant=args.variant,
                               extra=extra)
    more = ", municipal.csv, municipal_summary.csv, municipal.nc" if args.municipal else ""
    print(f"wrote {folder}/results.csv, results.nc{more} and manifest.json")
    return EXIT_OK


def _reproduce(args: argparse.Namespace) -> int:
    """A run, white paper or sensitivity analysis again from its manifest; exit 0 when every
    number of every netCDF and CSV file matches, 1 when one differs, 2 when an input changed."""
    from kbalance.municipal.layer import write_run_municipal
    from kbalance.paths import outputs_dir
    from kbalance.runs import MATCH_RTOL, read_manifest, reproduce, rerun_run
    from kbalance.sensitivity.pipeline import rerun_sensitivity
    from kbalance.whitepaper.pipeline import rerun_whitepaper

    def run_again(manifest: dict, out: Path, command: Sequence[str] | None) -> Path:
        extra = write_run_municipal if "--municipal" in manifest["command"].split() else None
        return rerun_run(manifest, out, command, extra)

    path, manifest, kind = read_manifest(Path(args.manifest))
    out = out_arg(args.out) or outputs_dir() / f"reproduce-{_stamp()}"
    with reserved_folder(out) as out:
        validate_observation_set()
        print(f"running again ({kind}): {manifest['command']} ...", flush=True)
        result = reproduce(path, out, {"run": run_again, "whitepaper": rerun_whitepaper,
                                       "sensitivity": rerun_sensitivity}, command=["kbalance", *args.argv])
    for name, differences in result.files.items():
        shown = ", ".join(f"{k} ({v:.3g})" for k, v in sorted(differences.items(), key=lambda kv: -kv[1])[:5])
        print(f"  {'differs' if differences else 'matches'}  {name}" + (f": {shown}" if shown else ""))
    if result.matches:
        print(f"numbers match the original in {len(result.files)} files (every value within {MATCH_RTOL:g} "
              f"relative); wrote {result.folder}")
        return EXIT_OK
    print(f"numbers differ from the original in {len(result.differing)} of {len(result.files)} files "
          f"(largest relative difference per variable or column shown); wrote {result.folder}")
    return EXIT_CHECK_FAILED


def _stamp() -> str:
    from datetime import datetime

    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _scenarios_list(args: argparse.Namespace) -> int:
    """Every shipped scenario with its description; a file that does not validate is
    listed as invalid with its error (on stderr) and the exit code is 2."""
    from kbalance.model.scenarios import check_scenarios

    broken = 0
    for name, scenario in check_scenarios():
        if isinstance(scenario, KbalanceInputError):
            broken += 1
            print(f"{name:20s} (invalid)", flush=True)
            print(f"kbalance: error: {scenario}", file=sys.stderr, flush=True)
        else:
            print(f"{name:20s} {scenario.description}")
    return EXIT_INPUT_ERROR if broken else EXIT_OK


def _scenarios_check(args: argparse.Namespace) -> int:
    from kbalance.model.scenarios import read_scenario

    scenario = read_scenario(Path(args.file))
    print(f"{args.file}: scenario {scenario.name!r} is valid ({len(scenario.steps)} lever steps)")
    return EXIT_OK


def _add_model_commands(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("model", help="the model file's input tables")
    commands = group.add_subparsers(dest="model_command", required=True, metavar="COMMAND")
    inputs = commands.add_parser("inputs", help="compile model/inputs/*.csv from the observation set")
    inputs.set_defaults(command=("model", "inputs"))
    DISPATCH[("model", "inputs")] = _model_inputs

    run = subparsers.add_parser("run", help="run one scenario and write a run folder")
    run.add_argument("--scenario", default="baseline", help="shipped scenario name or path to a .toml file")
    run.add_argument("--until", type=count(2002, 2100, "a last year"), default=2070,
                     help="last year to simulate, 2002 to 2100 (default 2070)")
    run.add_argument("--out", metavar="DIR", help="new folder to write (default outputs/run-<scenario>-<time>)")
    run.add_argument("--parameters", metavar="FILE", help="parameter set (default: the latest calibration/fitted/v<N>.toml, else the priors)")
    run.add_argument("--variant", metavar="KEY", help="national demographic variant: a key of model/demography.toml "
                     "(default: the scenario's [demography] variant, else the file's default)")
    run.add_argument("--engine", choices=("fast", "pysd"), default="fast",
                     help="fast: numpy code generated from the model file (default); pysd: the PySD reference run")
    run.add_argument("--municipal", action="store_true",
                     help="also write the 229 시군구 projected from the latest observed year, raked to the run's regions")
    run.set_defaults(command=("run", "run"))
    DISPATCH[("run", "run")] = _run

    again = subparsers.add_parser("reproduce", help="do a run, white paper or sensitivity analysis again from its "
                                  "manifest and compare the numbers")
    again.add_argument("manifest", metavar="MANIFEST", help="manifest.json of a run, white-paper or sensitivity "
                       "folder (or the folder)")
    again.add_argument("--out", metavar="DIR", help="new folder to write (default outputs/reproduce-<time>)")
    again.set_defaults(command=("reproduce", "reproduce"))
    DISPATCH[("reproduce", "reproduce")] = _reproduce

    scen = subparsers.add_parser("scenarios", help="list or check scenario files")
    scen_commands = scen.add_subparsers(dest="scenarios_command", required=True, metavar="COMMAND")
    scen_commands.add_parser("list", help="the shipped scenarios").set_defaults(command=("scenarios", "list"))
    check = scen_commands.add_parser("check", help="validate a scenario file")
    check.add_argument("file")
    check.set_defaults(command=("scenarios", "check"))
    DISPATCH[("scenarios", "list")] = _scenarios_list
    DISPATCH[("scenarios", "check")] = _scenarios_check



# --- calibration ------------------------------------------------------------------------


def _calibrate(args: argparse.Namespace) -> int:
    from kbalance.paths import calibration_dir

    version = args.version or next_version()
    out = out_arg(args.out) or calibration_dir() / "reports" / version
    check_writable_folder(calibration_dir() / "fitted")
    with reserved_folder(out) as out:
        validate_observation_set()
        print(f"calibrating against observations up to {args.until} until convergence (safety cap "
              f"{args.max_evaluations} evaluations) ...", flush=True)
        fitted, report = calibrate(until=args.until, out=out, version=version, max_evaluations=args.max_evaluations,
                                   start=Path(args.start) if args.start else None)
    overview = pd.read_csv(report / "fit_overview.csv").set_index("statistic")["value"]
    print(f"{int(overview['evaluations'])} evaluations, "
          + ("stopped at the evaluation cap" if overview["hit_evaluation_cap"] else "converged")
          + f"; {int(overview['parameters_at_bound'])} of {int(overview['free_parameters'])} free parameters at a bound; "
          f"{int(overview['data_points'])} data points")
    print(f"wrote {fitted} and the fit report in {report}")
    return EXIT_OK


def _ensemble(args: argparse.Namespace) -> int:
    from kbalance.paths import calibration_dir

    fitted = Path(args.fitted) if args.fitted else latest_fitted_set()
    if fitted is None:
        raise InvalidValueError("calibration/fitted", "--fitted", "no fitted set", "run kbalance calibrate first")
    if not fitted.is_file():
        raise MissingFileError(fitted, "--fitted", "a fitted set calibration/fitted/v<N>.toml")
    check_scheduler(args.scheduler)
    check_writable_folder(calibration_dir() / "fitted")
    validate_observation_set()
    table, info = constrained_ensemble(fitted, members=args.members, seed=args.seed, scheduler=args.scheduler)
    path = write_ensemble(table, info, fitted.stem)
    print(f"{info['members_accepted']:,} of {info['members_sampled']:,} members passed "
          f"(objective <= {info['threshold']:.6g}; best fit {info['cost_best_fit']:.6g}); "
          f"wrote {info['members_stored']:,} to {path}")
    return EXIT_OK if info["members_accepted"] >= 200 else EXIT_CHECK_FAILED


def _backtest(args: argparse.Namespace) -> int:
    from kbalance.paths import calibration_dir

    out = out_arg(args.out)
    if out is None:
        fitted = latest_fitted_set()
        if fitted is None:
            raise InvalidValueError("calibration/fitted", "--out", "no fitted set", "a folder, or run kbalance calibrate first")
        out = calibration_dir() / "reports" / fitted.stem
    check_writable_folder(out)
    check_origins(args.origins)
    validate_observation_set()
    summary = backtests(out, origins=args.origins, max_evaluations=args.max_evaluations,
                        start=Path(args.start) if args.start else None)
    columns = ["origin", "series", "mape_model", "mape_naive_trend", "mape_naive_share", "wape_model",
               "wape_naive_trend", "model_beats_both", "converged", "jump_off"]
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(summary[columns].to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"wrote {out}/backtests.csv, backtests_summary.csv, backtest_error_by_horizon.png and the origins' fitted sets")
    return EXIT_OK


def _add_calibration_commands(subparsers: argparse._SubParsersAction) -> None:
    cal = subparsers.add_parser("calibrate", help="fit the free parameters to history")
    cal.add_argument("--until", type=int, default=2024, help="last observed year used (default 2024)")
    cal.add_argument("--out", metavar="DIR", help="report folder (default calibration/reports/<version>)")
    cal.add_argument("--version", help="name of the fitted set (default the next v<N>)")
    cal.add_argument("--start", metavar="FILE", help="start from this fitted set (default: the parameter defaults)")
    cal.add_argument("--max-evaluations", type=count(1, 100_000, "least-squares evaluations"), default=MAX_EVALUATIONS,
                     help=f"safety cap on the least-squares evaluations, each one ensemble of the fast engine; the fit "
                     f"stops at convergence (default {MAX_EVALUATIONS})")
    cal.set_defaults(command=("calibrate", "calibrate"))
    DISPATCH[("calibrate", "calibrate")] = _calibrate

    ens = subparsers.add_parser("ensemble", help="sample around a fitted set and keep the members that fit history")
    ens.add_argument("--fitted", metavar="FILE", help="fitted set (default: the latest calibration/fitted/v<N>.toml)")
    ens.add_argument("--members", type=count(1, 10_000_000, "members to sample"), default=100_000,
                     help="members to sample (default 100000)")
    ens.add_argument("--seed", type=SEED, default=20261129, help="random seed (default 20261129)")
    ens.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (default: local processes)")
    ens.set_defaults(command=("ensemble", "ensemble"))
    DISPATCH[("ensemble", "ensemble")] = _ensemble

    back = subparsers.add_parser("backtest", help="rolling-origin backtests: calibrate to each origin, forecast to the "
                                 "latest data, compare with naive forecasts")
    back.add_argument("--origins", type=int, nargs="+", default=list(ORIGINS), metavar="YEAR",
                      help="last observed years of the fits (default " + " ".join(map(str, ORIGINS)) + ")")
    back.add_argument("--out", metavar="DIR", help="report folder for backtests.csv (default "
                      "calibration/reports/<latest fitted version>)")
    back.add_argument("--start", metavar="FILE", help="start each fit from this fitted set (default: the parameter "
                      "defaults); with a few --max-evaluations a fast check")
    back.add_argument("--max-evaluations", type=count(1, 100_000, "least-squares evaluations"), default=BACKTEST_EVALUATIONS,
                      help=f"safety cap on each fit's evaluations; fits stop at convergence (default {BACKTEST_EVALUATIONS})")
    back.set_defaults(command=("backtest", "backtest"))
    DISPATCH[("backtest", "backtest")] = _backtest


# --- entry point ------------------------------------------------------------------------

#: Functions that add one command group each; other groups append here.
COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [_add_data_commands, _add_model_commands, _add_calibration_commands]


# --- sensitivity ------------------------------------------------------------------------


def _sensitivity(args: argparse.Namespace) -> int:
    from kbalance.paths import outputs_dir
    from kbalance.sensitivity.pipeline import format_summary, sensitivity_to_folder

    out = out_arg(args.out) or outputs_dir() / f"sensitivity-{args.method}-{_stamp()}"
    if args.n is not None and args.n > MAX_N.get(args.method, args.n):
        raise InvalidValueError("kbalance sensitivity", "--n", args.n,
                                f"at most {MAX_N[args.method]:,} for {args.method} (runs grow with N)")
    check_scheduler(args.scheduler)
    with reserved_folder(out) as out:
        validate_observation_set()
        folder, summary = sensitivity_to_folder(
            out, method=args.method, n=args.n, scenario=args.scenario, outcomes=args.outputs, until=args.until,
            seed=args.seed, second_order=args.second_order, workers=args.workers, scheduler=args.scheduler,
            chunk_size=args.chunk_size, fan_members=args.fan_members,
            ensemble=Path(args.ensemble) if args.ensemble else None, command=["kbalance", *args.argv],
            dtype=args.dtype)
    print(format_summary(summary))
    print(f"wrote {folder}/manifest.json, summary.json, indices.csv, indices.nc, fan.csv and figures/")
    return EXIT_OK


#: Largest ``--n`` per method: Sobol base samples (runs N (D+2)), Morris trajectories.
MAX_N = {"sobol": 2**20, "morris": 100_000}


def _add_sensitivity_commands(subparsers: argparse._SubParsersAction) -> None:
    sens = subparsers.add_parser("sensitivity", help="global sensitivity analysis (Sobol or Morris, SALib) "
                                                     "of calibrated parameters and lever targets")
    sens.add_argument("--method", default="sobol", help="sobol (S1, ST with confidence intervals) or morris "
                                                        "(screening: mu*, sigma); default sobol")
    sens.add_argument("--n", type=count(1, max(MAX_N.values()), "a sample size"), help="Sobol base samples N, a power of two (default 1024; runs N (D+2) "
                                            "for D groups) or Morris trajectories (default 40)")
    sens.add_argument("--scenario", default="baseline", help="shipped scenario name or .toml file (default baseline)")
    sens.add_argument("--outputs", nargs="+", metavar="NAME",
                      help="outcomes to analyse: keys of national indicators in model/indicators.toml (default "
                           "population capital_share regions_at_risk mean_extinction_index fiscal_autonomy_cv "
                           "innovation_pw_cv grdp_pc_cv)")
    sens.add_argument("--until", type=int, default=2070, help="last year (default 2070)")
    sens.add_argument("--seed", type=SEED, default=20261129, help="seed of the sample and bootstrap (default 20261129)")
    sens.add_argument("--second-order", action="store_true", help="Sobol second-order indices too (doubles the runs)")
    sens.add_argument("--workers", type=WORKERS, help="local processes (default: the number of cores)")
    sens.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (default: local processes)")
    sens.add_argument("--chunk-size", type=count(1, 1_000_000, "runs per chunk"), default=250, help="runs per engine chunk (default 250)")
    sens.add_argument("--dtype", help="floating type of the model runs: float32 (default; about twice as fast, "
                                      "same indices) or float64")
    sens.add_argument("--fan-members", type=count(1, 10_000_000, "ensemble members"), help="constrained-ensemble members for the fan charts (default all)")
    sens.add_argument("--ensemble", metavar="FILE", help="fitted set whose constrained ensemble gives the parameter "
                                                       "ranges (default: the newest v<N>.toml with a v<N>-ensemble.csv)")
    sens.add_argument("--out", metavar="DIR", help="new folder to write (default outputs/sensitivity-<method>-<time>)")
    sens.set_defaults(command=("sensitivity", "sensitivity"))
    DISPATCH[("sensitivity", "sensitivity")] = _sensitivity


COMMAND_GROUPS.append(_add_sensitivity_commands)


# --- white paper --------------------------------------------------------------------------


def _whitepaper(args: argparse.Namespace) -> int:
    from kbalance.whitepaper.pipeline import default_out, run_whitepaper

    with reserved_folder(out_arg(args.out) or default_out()) as out:
        validate_observation_set()
        folder = run_whitepaper(out, lang=args.lang, until=args.until, members=args.members,
                                sensitivity=Path(args.sensitivity) if args.sensitivity else None,
                                command=["kbalance", *args.argv], sobol_n=args.sobol_n,
                                scenarios=[Path(p) for p in args.scenario], variant=args.variant)
    print(f"wrote {folder}/report.html, manifest.json, results/, tables/ and figures/")
    return EXIT_OK


def _add_whitepaper_commands(subparsers: argparse._SubParsersAction) -> None:
    wp = subparsers.add_parser("whitepaper", help="run every shipped scenario on the constrained ensemble and write "
                                                  "tables, figures and a self-contained report.html")
    wp.add_argument("--lang", choices=("ko", "en"), default="ko", help="language of figures and report (default ko)")
    wp.add_argument("--until", type=int, default=2070, help="last year to project (default 2070)")
    wp.add_argument("--out", metavar="DIR", help="new folder to write (default outputs/whitepaper-<UTC time>)")
    wp.add_argument("--members", type=count(1, 10_000_000, "ensemble members"), metavar="M",
                    help="use the first M members of the constrained ensemble (default all)")
    wp.add_argument("--sensitivity", metavar="DIR", help="kbalance sensitivity folder to include (default the newest "
                                                         "outputs/sensitivity*/ with summary.json, if any)")
    wp.add_argument("--sobol-n", type=int, default=None, metavar="N",
                    help="Sobol base samples of the complementarity cross-check, a power of two (default 64)")
    wp.add_argument("--scenario", metavar="FILE", action="append", default=[],
                    help="a scenario file to run beside the shipped scenarios (repeatable)")
    wp.add_argument("--variant", metavar="KEY", help="national demographic variant of every scenario: a key of "
                    "model/demography.toml (default the file's default)")
    wp.set_defaults(command=("whitepaper", "whitepaper"))
    DISPATCH[("whitepaper", "whitepaper")] = _whitepaper


COMMAND_GROUPS.append(_add_whitepaper_commands)


# --- municipal layer ------------------------------------------------------------------------


def _municipal_backtest(args: argparse.Namespace) -> int:
    from kbalance.municipal.backtest import BACKTEST_FILE, backtests, write_backtest
    from kbalance.municipal.projection import age_groups, observed_population
    from kbalance.model.mdl import subscript_ranges
    from kbalance.paths import calibration_dir

    validate_observation_set()
    labels = age_groups(subscript_ranges()["Age"])[0]
    table = backtests(observed_population(labels), unfilled=observed_population(labels, fill=False))
    path = write_backtest(table, Path(args.out) if args.out else calibration_dir() / BACKTEST_FILE)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"wrote {path}")
    return EXIT_OK


def _add_municipal_commands(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("municipal", help="the 시군구 layer")
    commands = group.add_subparsers(dest="municipal_command", required=True, metavar="COMMAND")
    back = commands.add_parser("backtest", help="backtest the municipal method against constant shares")
    back.add_argument("--out", metavar="FILE", help="CSV to write (default calibration/reports/municipal/backtest.csv)")
    back.set_defaults(command=("municipal", "backtest"))
    DISPATCH[("municipal", "backtest")] = _municipal_backtest


COMMAND_GROUPS.append(_add_municipal_commands)


# --- evidence -------------------------------------------------------------------------------


def _evidence_estimate(args: argparse.Namespace) -> int:
    from kbalance.evidence.priors import write_evidence
    from kbalance.paths import calibration_dir

    out = check_writable_folder(out_arg(args.out) or calibration_dir() / "evidence")
    validate_observation_set()
    estimates_csv, fit_csv, estimates = write_evidence(out)
    for est in estimates:
        stats = ", ".join(f"{k} {v:.3g}" for k, v in est.fit.items() if k in ("pseudo_r2", "r2_fitted", "within_r2"))
        print(f"{est.model} (n {est.n}; {stats})")
        for term in est.coef.index:
            print(f"  {term:32s} {est.coef[term]:9.4f}  ({est.std_error[term]:.4f})")
    print(f"wrote {estimates_csv} and {fit_csv}")
    return EXIT_OK


def _add_evidence_commands(subparsers: argparse._SubParsersAction) -> None:
    evidence = subparsers.add_parser("evidence", help="responses estimated on the observation set (gravity, "
                                                      "fertility, productivity regressions) as parameter priors")
    commands = evidence.add_subparsers(dest="evidence_command", required=True, metavar="COMMAND")
    estimate = commands.add_parser("estimate", help="fit the regressions and write estimates.csv and fit.csv")
    estimate.add_argument("--out", metavar="DIR", help="folder to write (default calibration/evidence)")
    estimate.set_defaults(command=("evidence", "estimate"))
    DISPATCH[("evidence", "estimate")] = _evidence_estimate


COMMAND_GROUPS.append(_add_evidence_commands)


# --- levers -----------------------------------------------------------------------------


def _levers_evidence(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from kbalance.paths import outputs_dir
    from kbalance.sensitivity.levers import BAND_MEMBERS, write_lever_evidence

    default = outputs_dir() / f"levers-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    with reserved_folder(out_arg(args.out) or default) as out:
        folder, page = write_lever_evidence(out, args.members or BAND_MEMBERS, args.docs)
    print(f"wrote {folder}/levers.csv and levers.md" + (f"; {page}" if page else ""))
    return EXIT_OK


def _add_levers_commands(subparsers: argparse._SubParsersAction) -> None:
    levers = subparsers.add_parser("levers", help="the policy levers of model/levers.toml")
    commands = levers.add_subparsers(dest="levers_command", required=True, metavar="COMMAND")
    evidence = commands.add_parser("evidence", help="each lever's chain, evidence and response to a standard change "
                                                    "(10 %% of its range), best fit and ensemble band")
    evidence.add_argument("--members", type=count(1, 100_000, "ensemble members"),
                          help="first members of the constrained ensemble for the band (default "
                               "kbalance.sensitivity.levers.BAND_MEMBERS)")
    evidence.add_argument("--docs", action="store_true", help="also rewrite docs/levers.md")
    evidence.add_argument("--out", metavar="DIR", help="new folder to write (default outputs/levers-<time>)")
    evidence.set_defaults(command=("levers", "evidence"))
    DISPATCH[("levers", "evidence")] = _levers_evidence


COMMAND_GROUPS.append(_add_levers_commands)


# --- explorer -------------------------------------------------------------------------------


def _add_explorer_commands(subparsers: argparse._SubParsersAction) -> None:
    exp = subparsers.add_parser("explore", help="the interactive policy explorer: a local web app on 127.0.0.1 "
                                                "(needs the explorer extra: pip install -e \".[explorer]\")")
    exp.add_argument("--port", type=int, default=5006, help="port on 127.0.0.1 (default 5006)")
    exp.add_argument("--lang", choices=("ko", "en"), default="ko", help="language of the page (default ko)")
    exp.add_argument("--show", action="store_true", help="open the page in the default browser")
    exp.set_defaults(command=("explore", "explore"))

    def explore(args: argparse.Namespace) -> int:
        if not 1 <= args.port <= 65535:
            raise InvalidValueError("kbalance explore", "--port", args.port, "a port in 1 to 65535")
        from kbalance.explorer.app import serve  # Panel is imported only here

        serve(port=args.port, lang=args.lang, show=args.show)
        return EXIT_OK

    DISPATCH[("explore", "explore")] = explore


COMMAND_GROUPS.append(_add_explorer_commands)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with every registered command group."""
    parser = argparse.ArgumentParser(
        prog="kbalance",
        description="Projections of population, innovation and fiscal autonomy in Korea's 17 regions "
                    "under balanced-development and decentralization policy.")
    subparsers = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    for add in COMMAND_GROUPS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors and --help
        return int(exc.code or 0)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    handler = DISPATCH[args.command]
    try:
        return handler(args)
    except KbalanceInputError as exc:
        print(f"kbalance: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("kbalance: interrupted (Ctrl-C); nothing half-written was left", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
