"""Command line: ``kbalance <group> <command> …``.

Groups register themselves with an ``_add_<group>_commands(subparsers)`` function
that adds the argparse sub-commands and sets ``command=(group, name)``; the
handler for that key goes into :data:`DISPATCH`. Exit codes: 0 success, 1 a check
failed, 2 bad input (a :class:`~kbalance.errors.KbalanceInputError`, message on
stderr, no traceback) or bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from kbalance.calibration.backtest import BACKTEST_EVALUATIONS, backtest
from kbalance.calibration.ensemble import constrained_ensemble, write_ensemble
from kbalance.calibration.fit import MAX_EVALUATIONS, calibrate
from kbalance.errors import InvalidValueError, KbalanceInputError, MissingFileError
from kbalance.model.parameters import latest_fitted_set

Handler = Callable[[argparse.Namespace], int]

#: (group, command) -> handler(args) -> exit code
DISPATCH: dict[tuple[str, str], Handler] = {}

EXIT_OK, EXIT_CHECK_FAILED, EXIT_INPUT_ERROR = 0, 1, 2


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

    written = build_model_inputs()
    print(f"wrote {len(written)} model input tables into {written[0].parent}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from kbalance.paths import outputs_dir
    from kbalance.runs import run_to_folder

    out = Path(args.out) if args.out else outputs_dir() / f"run-{Path(args.scenario).stem}-{_stamp()}"
    print(f"running scenario {args.scenario} to {args.until} on the {args.engine} engine ...", flush=True)
    folder = run_to_folder(args.scenario, out, until=args.until,
                           parameters=Path(args.parameters) if args.parameters else None,
                           command=["kbalance", *args.argv], engine=args.engine)
    print(f"wrote {folder}/results.csv, results.nc and manifest.json")
    return EXIT_OK


def _stamp() -> str:
    from datetime import datetime

    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _scenarios_list(args: argparse.Namespace) -> int:
    from kbalance.model.scenarios import list_scenarios, read_scenario

    for name in list_scenarios():
        print(f"{name:20s} {read_scenario(name).description}")
    return EXIT_OK


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
    run.add_argument("--until", type=int, default=2070, help="last year to simulate (default 2070)")
    run.add_argument("--out", metavar="DIR", help="new folder to write (default outputs/run-<scenario>-<time>)")
    run.add_argument("--parameters", metavar="FILE", help="parameter set (default: the latest calibration/fitted/v<N>.toml, else the priors)")
    run.add_argument("--engine", choices=("fast", "pysd"), default="fast",
                     help="fast: numpy code generated from the model file (default); pysd: the PySD reference run")
    run.set_defaults(command=("run", "run"))
    DISPATCH[("run", "run")] = _run

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
    print(f"calibrating against observations up to {args.until} (at most {args.max_evaluations} evaluations) ...",
          flush=True)
    fitted, report = calibrate(until=args.until, out=Path(args.out) if args.out else None,
                               version=args.version, max_evaluations=args.max_evaluations,
                               start=Path(args.start) if args.start else None)
    print(f"wrote {fitted} and the fit report in {report}")
    return EXIT_OK


def _ensemble(args: argparse.Namespace) -> int:
    fitted = Path(args.fitted) if args.fitted else latest_fitted_set()
    if fitted is None:
        raise InvalidValueError("calibration/fitted", "--fitted", "no fitted set", "run kbalance calibrate first")
    if not fitted.is_file():
        raise MissingFileError(fitted, "--fitted", "a fitted set calibration/fitted/v<N>.toml")
    table, info = constrained_ensemble(fitted, members=args.members, seed=args.seed, scheduler=args.scheduler)
    path = write_ensemble(table, info, fitted.stem)
    print(f"{info['members_accepted']:,} of {info['members_sampled']:,} members passed "
          f"(objective <= {info['threshold']:.6g}; best fit {info['cost_best_fit']:.6g}); "
          f"wrote {info['members_stored']:,} to {path}")
    return EXIT_OK if info["members_accepted"] >= 200 else EXIT_CHECK_FAILED


def _backtest(args: argparse.Namespace) -> int:
    summary = backtest(args.until, Path(args.out), max_evaluations=args.max_evaluations)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(summary.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"wrote {args.out}/backtest.csv, summary.csv and fitted.toml")
    return EXIT_OK


def _add_calibration_commands(subparsers: argparse._SubParsersAction) -> None:
    cal = subparsers.add_parser("calibrate", help="fit the free parameters to history")
    cal.add_argument("--until", type=int, default=2024, help="last observed year used (default 2024)")
    cal.add_argument("--out", metavar="DIR", help="report folder (default calibration/reports/<version>)")
    cal.add_argument("--version", help="name of the fitted set (default the next v<N>)")
    cal.add_argument("--start", metavar="FILE", help="start from this fitted set (default: the parameter defaults)")
    cal.add_argument("--max-evaluations", type=int, default=MAX_EVALUATIONS,
                     help=f"least-squares evaluations, each one ensemble of the fast engine (default {MAX_EVALUATIONS})")
    cal.set_defaults(command=("calibrate", "calibrate"))
    DISPATCH[("calibrate", "calibrate")] = _calibrate

    ens = subparsers.add_parser("ensemble", help="sample around a fitted set and keep the members that fit history")
    ens.add_argument("--fitted", metavar="FILE", help="fitted set (default: the latest calibration/fitted/v<N>.toml)")
    ens.add_argument("--members", type=int, default=100_000, help="members to sample (default 100000)")
    ens.add_argument("--seed", type=int, default=20261129, help="random seed (default 20261129)")
    ens.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (default: local processes)")
    ens.set_defaults(command=("ensemble", "ensemble"))
    DISPATCH[("ensemble", "ensemble")] = _ensemble

    back = subparsers.add_parser("backtest", help="calibrate to a year, forecast the rest, compare with naive forecasts")
    back.add_argument("--until", type=int, required=True, help="last observed year used for fitting")
    back.add_argument("--out", metavar="DIR", required=True, help="new folder for backtest.csv and summary.csv")
    back.add_argument("--max-evaluations", type=int, default=BACKTEST_EVALUATIONS,
                      help=f"least-squares evaluations (default {BACKTEST_EVALUATIONS})")
    back.set_defaults(command=("backtest", "backtest"))
    DISPATCH[("backtest", "backtest")] = _backtest


# --- entry point ------------------------------------------------------------------------

#: Functions that add one command group each; other groups append here.
COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [_add_data_commands, _add_model_commands, _add_calibration_commands]


# --- sensitivity ------------------------------------------------------------------------


def _sensitivity(args: argparse.Namespace) -> int:
    from kbalance.paths import outputs_dir
    from kbalance.sensitivity.pipeline import format_summary, sensitivity_to_folder

    out = Path(args.out) if args.out else outputs_dir() / f"sensitivity-{args.method}-{_stamp()}"
    folder, summary = sensitivity_to_folder(
        out, method=args.method, n=args.n, scenario=args.scenario, outcomes=args.outputs, until=args.until,
        seed=args.seed, second_order=args.second_order, workers=args.workers, scheduler=args.scheduler,
        chunk_size=args.chunk_size, fan_members=args.fan_members,
        ensemble=Path(args.ensemble) if args.ensemble else None, command=["kbalance", *args.argv], dtype=args.dtype)
    print(format_summary(summary))
    print(f"wrote {folder}/manifest.json, summary.json, indices.csv, indices.nc, fan.csv and figures/")
    return EXIT_OK


def _add_sensitivity_commands(subparsers: argparse._SubParsersAction) -> None:
    sens = subparsers.add_parser("sensitivity", help="global sensitivity analysis (Sobol or Morris, SALib) "
                                                     "of calibrated parameters and lever targets")
    sens.add_argument("--method", default="sobol", help="sobol (S1, ST with confidence intervals) or morris "
                                                        "(screening: mu*, sigma); default sobol")
    sens.add_argument("--n", type=int, help="Sobol base samples N, a power of two (default 1024; runs N (D+2) "
                                            "for D groups) or Morris trajectories (default 40)")
    sens.add_argument("--scenario", default="baseline", help="shipped scenario name or .toml file (default baseline)")
    sens.add_argument("--outputs", nargs="+", metavar="NAME",
                      help="outcomes to analyse: keys of national indicators in model/indicators.toml (default "
                           "population capital_share regions_at_risk mean_extinction_index fiscal_autonomy_cv "
                           "innovation_pw_cv grdp_pc_cv)")
    sens.add_argument("--until", type=int, default=2070, help="last year (default 2070)")
    sens.add_argument("--seed", type=int, default=20261129, help="seed of the sample and bootstrap (default 20261129)")
    sens.add_argument("--second-order", action="store_true", help="Sobol second-order indices too (doubles the runs)")
    sens.add_argument("--workers", type=int, help="local processes (default: the number of cores)")
    sens.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (default: local processes)")
    sens.add_argument("--chunk-size", type=int, default=250, help="runs per engine chunk (default 250)")
    sens.add_argument("--dtype", help="floating type of the model runs: float32 (default; about twice as fast, "
                                      "same indices) or float64")
    sens.add_argument("--fan-members", type=int, help="constrained-ensemble members for the fan charts (default all)")
    sens.add_argument("--ensemble", metavar="FILE", help="fitted set whose constrained ensemble gives the parameter "
                                                       "ranges (default: the newest v<N>.toml with a v<N>-ensemble.csv)")
    sens.add_argument("--out", metavar="DIR", help="new folder to write (default outputs/sensitivity-<method>-<time>)")
    sens.set_defaults(command=("sensitivity", "sensitivity"))
    DISPATCH[("sensitivity", "sensitivity")] = _sensitivity


COMMAND_GROUPS.append(_add_sensitivity_commands)


# --- white paper --------------------------------------------------------------------------


def _whitepaper(args: argparse.Namespace) -> int:
    from kbalance.whitepaper.pipeline import run_whitepaper

    folder = run_whitepaper(Path(args.out) if args.out else None, lang=args.lang, until=args.until,
                            members=args.members, sensitivity=Path(args.sensitivity) if args.sensitivity else None,
                            command=["kbalance", *args.argv])
    print(f"wrote {folder}/report.html, manifest.json, results/, tables/ and figures/")
    return EXIT_OK


def _add_whitepaper_commands(subparsers: argparse._SubParsersAction) -> None:
    wp = subparsers.add_parser("whitepaper", help="run every shipped scenario on the constrained ensemble and write "
                                                  "tables, figures and a self-contained report.html")
    wp.add_argument("--lang", choices=("ko", "en"), default="ko", help="language of figures and report (default ko)")
    wp.add_argument("--until", type=int, default=2070, help="last year to project (default 2070)")
    wp.add_argument("--out", metavar="DIR", help="new folder to write (default outputs/whitepaper-<UTC time>)")
    wp.add_argument("--members", type=int, metavar="M",
                    help="use the first M members of the constrained ensemble (default all)")
    wp.add_argument("--sensitivity", metavar="DIR", help="kbalance sensitivity folder to include (default the newest "
                                                         "outputs/sensitivity*/ with summary.json, if any)")
    wp.set_defaults(command=("whitepaper", "whitepaper"))
    DISPATCH[("whitepaper", "whitepaper")] = _whitepaper


COMMAND_GROUPS.append(_add_whitepaper_commands)


# --- evidence -------------------------------------------------------------------------------


def _evidence_estimate(args: argparse.Namespace) -> int:
    from kbalance.evidence.priors import write_evidence
    from kbalance.paths import calibration_dir

    estimates_csv, fit_csv, estimates = write_evidence(Path(args.out) if args.out else calibration_dir() / "evidence")
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


if __name__ == "__main__":
    sys.exit(main())
