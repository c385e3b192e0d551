"""Bad input of every file kind through the command line: how many probes end in a clear error.

    python benchmarks/probes.py                    # every probe (a few minutes: model-file probes parse it)
    python benchmarks/probes.py --kind scenarios   # one file kind (repeatable)
    python benchmarks/probes.py --list             # the probes, nothing run

The project's model/ and calibration/ folders and docs/references.md are copied once into
a temporary project folder (``KBALANCE_HOME``). Each probe writes bad content into one or
two files of the copy (observations, parameters, fitted sets, levers, scenarios, the model
file, the ensemble) or passes bad command-line arguments, runs one ``kbalance`` command in
this process (:func:`kbalance.cli.main`) and puts the files back. A probe ends as

    clear      exit 2 with a ``kbalance: error:`` message that names the file (or the
               argument) and the field, and no traceback
    unclear    any other end: the bad input was accepted (exit 0 or 1), or the message
               does not name the file and the field
    traceback  an exception escaped the command line

Prints one line for every probe that is not clear, then the counts per file kind and in
total (probes tried, clear errors, unclear, tracebacks). Exits 1 when a probe ends in a
traceback or is unclear.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kbalance import cli, paths
from kbalance.calibration.ensemble import ensemble_path
from kbalance.model.parameters import latest_fitted_set

#: A change of one file: its text → the bad text (or bytes); None deletes the file.
Change = Callable[[str], "str | bytes | None"]


@dataclass(frozen=True)
class Probe:
    """One bad input.

    kind : the file kind probed
    name : what is wrong
    argv : the command's arguments; ``{root}`` is the project copy, ``{out}`` a new folder
    files : project path → its change (a text for a file that does not exist yet)
    names : what the message must name besides a field (the file or the argument)
    """

    kind: str
    name: str
    argv: tuple[str, ...]
    files: dict[str, Change | str] = field(default_factory=dict)
    names: str = ""


# --- changes -------------------------------------------------------------------------------


def replace(old: str, new: str, count: int = 1) -> Change:
    """Replace the first ``count`` occurrences of ``old`` (which must occur)."""
    def change(text: str) -> str:
        if old not in text:
            raise ValueError(f"probe pattern {old!r} not found")
        return text.replace(old, new, count)
    return change


def sub(pattern: str, new: str) -> Change:
    """Replace the first match of the regular expression ``pattern`` (multi-line)."""
    def change(text: str) -> str:
        result, n = re.subn(pattern, new, text, count=1, flags=re.M)
        if not n:
            raise ValueError(f"probe pattern {pattern!r} not found")
        return result
    return change


def empty(text: str) -> str:
    return ""


def header_only(text: str) -> str:
    return text.splitlines()[0] + "\n"


def truncated(text: str) -> str:
    return text[: len(text) // 2]


def non_utf8(text: str) -> bytes:
    return b"\xff\xfe" + text.encode("utf-8")[:200]


def deleted(text: str) -> None:
    return None


def drop_last_rows(n: int) -> Change:
    return lambda text: "".join(text.splitlines(keepends=True)[:-n])


def edit_row(row: int, column: int, value: str) -> Change:
    """Set one cell of a CSV (row 1 is the first data row)."""
    def change(text: str) -> str:
        lines = text.splitlines(keepends=True)
        cells = lines[row].rstrip("\n").split(",")
        cells[column] = value
        lines[row] = ",".join(cells) + "\n"
        return "".join(lines)
    return change


def extra_cell(row: int) -> Change:
    return lambda text: "".join(line.rstrip("\n") + ",1\n" if i == row else line
                                for i, line in enumerate(text.splitlines(keepends=True)))


def duplicate_row(row: int) -> Change:
    def change(text: str) -> str:
        lines = text.splitlines(keepends=True)
        return "".join(lines + [lines[row]])
    return change


def drop_block(start: str) -> Change:
    """Remove a model-file equation: from the line starting with ``start`` to its closing ``|``."""
    def change(text: str) -> str:
        begin = text.index(start)
        end = text.index("|", begin) + 1
        return text[:begin] + text[end:]
    return change


# --- the probes ---------------------------------------------------------------------------

RUN = ("run", "--until", "2002", "--out", "{out}")
SENSITIVITY = ("sensitivity", "--method", "morris", "--n", "2", "--until", "2026", "--outputs", "population",
               "--fan-members", "2", "--workers", "1", "--out", "{out}")
SCENARIO_FILE = "outputs/probe.toml"
CHECK = ("scenarios", "check", "{root}/" + SCENARIO_FILE)
CHECK_INTEGRATED = ("scenarios", "check", "{root}/model/scenarios/integrated.toml")
VITAL = "calibration/observations/vital.csv"
POPULATION = "calibration/observations/population.csv"
PARAMETERS = "calibration/parameters.toml"
SHIPPED = latest_fitted_set()  # the set every command reads by default
FITTED = f"calibration/fitted/{SHIPPED.name}"
ENSEMBLE = f"calibration/fitted/{ensemble_path(SHIPPED).name}"
LEVERS = "model/levers.toml"
MDL = "model/kbalance.mdl"
TFR = "[tfr_path_deviation]\nmodel = \"tfr path deviation\""


def observation_probes() -> list[Probe]:
    def probe(name: str, path: str, change: Change) -> Probe:
        return Probe("observations", name, RUN, {path: change}, Path(path).name)
    return [
        probe("empty file", VITAL, empty),
        probe("header only", VITAL, header_only),
        probe("last three rows removed", VITAL, drop_last_rows(3)),
        probe("a row moved to year 3000", VITAL, edit_row(1, 2, "3000")),
        probe("a value that is not a number", VITAL, edit_row(1, 3, "abc")),
        probe("an empty value", VITAL, edit_row(1, 3, "")),
        probe("a ragged row", VITAL, extra_cell(2)),
        probe("non-UTF-8 bytes", VITAL, non_utf8),
        probe("a duplicate row", VITAL, duplicate_row(1)),
        probe("an unknown region", VITAL, edit_row(1, 1, "99")),
        probe("a column renamed", VITAL, replace("series,region_code", "series,region")),
        probe("a negative population", POPULATION, edit_row(1, 3, "-5")),
        probe("another unit", POPULATION, edit_row(1, 4, "thousand persons")),
        probe("file deleted", POPULATION, deleted),
        probe("OD matrix empty", "calibration/observations/migration_od.csv", empty),
        probe("sources table empty", "calibration/sources.csv", empty),
        probe("breaks table ragged", "calibration/breaks.csv", extra_cell(1)),
        probe("life table: a text value", "calibration/observations/life_table.csv", edit_row(1, 5, "x")),
        probe("life table: a text age", "calibration/observations/life_table.csv", edit_row(1, 4, "x")),
        probe("UN WPP truncated", "calibration/observations/un_wpp.csv", truncated),
        probe("ages non-UTF-8", "calibration/observations/population_age.csv", non_utf8),
    ]


def parameter_probes() -> list[Probe]:
    def probe(name: str, change: Change) -> Probe:
        return Probe("parameters", name, RUN, {PARAMETERS: change}, "parameters.toml")
    block = r"(\[tfr_path_deviation\]\n(?:(?!\[)[^\n]*\n)*?)"  # the entry's lines before the key
    return [
        probe("empty file", empty),
        probe("non-UTF-8 bytes", non_utf8),
        probe("broken TOML", replace(TFR, "[tfr_path_deviation\nmodel = \"tfr path deviation\"")),
        probe("range = \"wide\"", sub(block + r"^range = .*$", r'\1range = "wide"')),
        probe("range missing", sub(block + r"^range = .*\n", r"\1")),
        probe("range inverted", sub(block + r"^range = .*$", r"\1range = [3.0, -3.0]")),
        probe("default 99 outside the range", sub(block + r"^default = .*$", r"\1default = 99.0")),
        probe("default is text", sub(block + r"^default = .*$", r'\1default = "none"')),
        probe("model missing", replace(TFR, "[tfr_path_deviation]")),
        probe("model names no constant", replace(TFR, "[tfr_path_deviation]\nmodel = \"no such constant\"")),
        probe("unknown key", replace(TFR, TFR + "\ncolour = \"red\"")),
        probe("negative prior_sd", sub(block + r"^prior_sd = .*$", r"\1prior_sd = -1.0")),
        probe("calibrate = \"yes\"", sub(block + r"^calibrate = .*$", r'\1calibrate = "yes"')),
    ]


def fitted_probes() -> list[Probe]:
    """Bad fitted sets (a value of a parameter no longer defined is ignored by design)."""
    def probe(name: str, change: Change) -> Probe:
        return Probe("fitted sets", name, RUN, {FITTED: change}, SHIPPED.name)
    key = r"^regional_fertility_factor = .*$"
    return [
        probe("empty file", empty),
        probe("non-UTF-8 bytes", non_utf8),
        probe("[values] renamed", replace("[values]", "[valeurs]")),
        probe("a calibrated parameter deleted", sub(key + r"\n", "")),
        probe("a per-region list as a scalar", sub(key, "regional_fertility_factor = 1.0")),
        probe("a per-region list too short", sub(key, "regional_fertility_factor = [1.0, 1.0]")),
        probe("a value out of its range", sub(key, "regional_fertility_factor = [" + ", ".join(["99.0"] * 17) + "]")),
        probe("a value that is text", sub(key, "regional_fertility_factor = [" + ", ".join(['"a"'] * 17) + "]")),
        probe("a value nan", sub(key, "regional_fertility_factor = [" + ", ".join(["nan"] * 17) + "]")),
        probe("broken TOML", replace("[values]", "[values")),
    ]


def lever_probes() -> list[Probe]:
    def probe(name: str, change: Change, argv: tuple[str, ...] = CHECK_INTEGRATED) -> Probe:
        return Probe("levers", name, argv, {LEVERS: change}, "levers.toml")
    block = r"(\[local_consumption_tax_rate\]\n(?:(?!\[)[^\n]*\n)*?)"
    return [
        probe("empty file", empty),
        probe("non-UTF-8 bytes", non_utf8),
        probe("broken TOML", replace("[local_consumption_tax_rate]\n", "[local_consumption_tax_rate\n")),
        probe("range missing", sub(block + r"^range = .*\n", r"\1")),
        probe("range = \"wide\"", sub(block + r"^range = .*$", r'\1range = "wide"')),
        probe("range inverted", sub(block + r"^range = .*$", r"\1range = [100.0, 0.0]")),
        probe("model missing", sub(block + r"^model = .*\n", r"\1")),
        probe("model names no variable", sub(block + r"^model = .*$", r'\1model = "no such variable"')),
        probe("target constant unknown", sub(block + r"^target = .*$", r'\1target = "no such target"')),
        probe("history point nan", replace('[2023, 25.3, "R300 R309"]', '[2023, nan, "R300 R309"]'),
              ("model", "inputs")),
        probe("history year is text", replace('[2023, 25.3, "R300 R309"]', '["2023", 25.3, "R300 R309"]'),
              ("model", "inputs")),
        probe("history reference unknown", replace('[2023, 25.3, "R300 R309"]', '[2023, 25.3, "R99999"]'),
              ("model", "inputs")),
    ]


def scenario_probes() -> list[Probe]:
    head = '[scenario]\nname = "probe"\ndescription = "probe"\n'
    lever = head + '[levers.local_consumption_tax_rate]\n'

    def probe(name: str, text: str, argv: tuple[str, ...] = CHECK) -> Probe:
        return Probe("scenarios", name, argv, {SCENARIO_FILE: text}, "probe.toml")
    return [
        probe("empty file", ""),
        Probe("scenarios", "non-UTF-8 bytes", CHECK, {SCENARIO_FILE: lambda _: b'[scenario]\nname = "\xff"\n'},
              "probe.toml"),
        probe("broken TOML", "[scenario\nname = 'x'\n"),
        probe("name = 42", '[scenario]\nname = 42\n'),
        probe("scenario = 5", "scenario = 5\n"),
        probe("scenario = \"name\"", 'scenario = "name"\n'),
        probe("levers = 5", head + "levers = 5\n"),
        probe("an unknown lever", head + "[levers.no_such_lever]\ntarget = 1.0\nstart = 2026\nramp = 4\nref = 'R4'\n"),
        probe("target out of range", lever + "target = 300.0\nstart = 2026\nramp = 4\nref = 'R4'\n"),
        probe("target is text", lever + "target = 'high'\nstart = 2026\nramp = 4\nref = 'R4'\n"),
        probe("start = 2027.5", lever + "target = 30.0\nstart = 2027.5\nramp = 4\nref = 'R4'\n"),
        probe("ramp = 0.001", lever + "target = 30.0\nstart = 2026\nramp = 0.001\nref = 'R4'\n"),
        probe("ramp = -1", lever + "target = 30.0\nstart = 2026\nramp = -1\nref = 'R4'\n"),
        probe("ref not a reference key", lever + "target = 30.0\nstart = 2026\nramp = 4\nref = 'see above'\n"),
        probe("an unknown key", lever + "target = 30.0\nstart = 2026\nramp = 4\nref = 'R4'\ncolour = 1\n"),
        probe("an unknown variant", head + "[demography]\nvariant = 'no-such-variant'\n"),
        probe("an include missing", '[scenario]\nname = "probe"\ninclude = ["no_such_scenario"]\n'),
        probe("overlapping steps", lever + "steps = [\n  { target = 30.0, start = 2026, ramp = 10, ref = 'R4' },\n"
              "  { target = 40.0, start = 2028, ramp = 4, ref = 'R4' },\n]\n"),
        probe("run: target out of range", lever + "target = 300.0\nstart = 2026\nramp = 4\nref = 'R4'\n",
              ("run", "--scenario", "{root}/" + SCENARIO_FILE, "--until", "2002", "--out", "{out}")),
        Probe("scenarios", "an include cycle", ("scenarios", "check", "{root}/model/scenarios/probe_a.toml"),
              {"model/scenarios/probe_a.toml": '[scenario]\nname = "probe_a"\ninclude = ["probe_b"]\n',
               "model/scenarios/probe_b.toml": '[scenario]\nname = "probe_b"\ninclude = ["probe_a"]\n'},
              "probe_b.toml"),
        Probe("scenarios", "scenarios list with an include cycle", ("scenarios", "list"),
              {"model/scenarios/probe_a.toml": '[scenario]\nname = "probe_a"\ninclude = ["probe_b"]\n',
               "model/scenarios/probe_b.toml": '[scenario]\nname = "probe_b"\ninclude = ["probe_a"]\n'},
              "probe_b.toml"),
    ]


def model_probes() -> list[Probe]:
    def probe(name: str, change: Change) -> Probe:
        return Probe("model file", name, RUN, {MDL: change}, "kbalance.mdl")
    return [
        probe("empty file", empty),
        probe("truncated at half", truncated),
        probe("non-UTF-8 bytes", non_utf8),
        probe("an equation deleted", drop_block("ageing share[Younger]=")),
        probe("a constant deleted", drop_block("jump off year=")),
        probe("a '|' missing", replace("initial population[Region,Sex,Age])\n\t~\tperson [0,?]",
                                       "initial population[Region,Sex,Age])\n\t~\tperson [0,?]\n\t~\tx\n\t~\ty")),
        probe("an unknown variable", replace("(jump off population[Region,Sex,Age] - Population", "(no such[Region,Sex,Age] - Population")),
        probe("an unbalanced parenthesis", replace("(jump off population[Region,Sex,Age] - Population", "((jump off population[Region,Sex,Age] - Population")),
    ]


def ensemble_probes() -> list[Probe]:
    """Bad ensemble files (a parameter the ensemble lacks keeps its shipped value by design)."""
    def probe(name: str, change: Change) -> Probe:
        return Probe("ensemble", name, SENSITIVITY, {ENSEMBLE: change}, ensemble_path(SHIPPED).name)
    return [
        probe("empty file", empty),
        probe("header only", header_only),
        probe("cost column renamed", replace("member,cost,", "member,price,")),
        probe("a value that is text", edit_row(1, 2, "abc")),
        probe("an empty value", edit_row(1, 2, "")),
        probe("non-UTF-8 bytes", non_utf8),
        probe("a ragged row", extra_cell(1)),
        Probe("ensemble", "--ensemble names no file", SENSITIVITY[:-2] + ("--ensemble", "{root}/nope.toml", "--out",
                                                                         "{out}"), {}, "nope.toml"),
    ]


def argument_probes() -> list[Probe]:
    def probe(argv: tuple[str, ...], names: str) -> Probe:
        return Probe("CLI arguments", " ".join(argv).replace("{out}", "DIR"), argv, {}, names)
    return [
        probe(("run", "--out", "/proc/x"), "--out"),
        probe(("run", "--out", "{root}/calibration/sources.csv/sub"), "--out"),
        probe(("run", "--out", ""), "--out"),
        probe(("run", "--until", "1900", "--out", "{out}"), "--until"),
        probe(("run", "--engine", "vensim", "--out", "{out}"), "--engine"),
        probe(("run", "--variant", "nope", "--until", "2002", "--out", "{out}"), "--variant"),
        probe(("run", "--parameters", "{root}/nope.toml", "--out", "{out}"), "nope.toml"),
        probe(("run", "--scenario", "nosuch", "--out", "{out}"), "nosuch"),
        probe(("sensitivity", "--scheduler", "tcp://127.0.0.1:1", "--out", "{out}"), "--scheduler"),
        probe(("sensitivity", "--scheduler", "not a url", "--out", "{out}"), "--scheduler"),
        probe(("sensitivity", "--seed", "-1", "--out", "{out}"), "--seed"),
        probe(("sensitivity", "--workers", "-1", "--out", "{out}"), "--workers"),
        probe(("sensitivity", "--n", "1099511627776", "--out", "{out}"), "--n"),
        probe(("sensitivity", "--method", "bogus", "--out", "{out}"), "--method"),
        probe(("sensitivity", "--dtype", "float16", "--out", "{out}"), "--dtype"),
        probe(("sensitivity", "--outputs", "nosuch", "--out", "{out}"), "--outputs"),
        probe(("sensitivity", "--fan-members", "0", "--out", "{out}"), "--fan-members"),
        probe(("sensitivity", "--chunk-size", "0", "--out", "{out}"), "--chunk-size"),
        probe(("sensitivity", "--until", "1900", "--out", "{out}"), "until"),
        probe(("whitepaper", "--members", "0", "--out", "{out}"), "--members"),
        probe(("whitepaper", "--sobol-n", "6", "--members", "2", "--out", "{out}"), "--sobol-n"),
        probe(("whitepaper", "--lang", "fr", "--out", "{out}"), "--lang"),
        probe(("whitepaper", "--until", "2200", "--members", "2", "--out", "{out}"), "--until"),
        probe(("whitepaper", "--variant", "nope", "--members", "2", "--out", "{out}"), "--variant"),
        probe(("ensemble", "--members", "100000000000"), "--members"),
        probe(("ensemble", "--fitted", "{root}/nope.toml"), "--fitted"),
        probe(("backtest", "--origins", "1990", "--out", "{out}"), "--origins"),
        probe(("calibrate", "--version", SHIPPED.stem, "--out", "{out}"), "--version"),
        probe(("explore", "--port", "70000"), "--port"),
        probe(("reproduce", "{root}/nope.json", "--out", "{out}"), "MANIFEST"),
        probe(("reproduce", "{root}/calibration/parameters.toml", "--out", "{out}"), "MANIFEST"),
        probe(("data", "check", "--root", "{root}/nowhere"), "nowhere"),
    ]


PROBES = {"observations": observation_probes, "parameters": parameter_probes, "fitted sets": fitted_probes,
          "levers": lever_probes, "scenarios": scenario_probes, "model file": model_probes,
          "ensemble": ensemble_probes, "CLI arguments": argument_probes}


# --- running -------------------------------------------------------------------------------


def project_copy(folder: Path) -> Path:
    """The project's model/, calibration/ and docs/references.md copied into ``folder``."""
    source = paths.project_root()
    for name in ("model", "calibration"):
        shutil.copytree(source / name, folder / name, ignore=shutil.ignore_patterns("reports"))
    (folder / "outputs").mkdir()
    (folder / "docs").mkdir()
    shutil.copy2(source / "docs" / "references.md", folder / "docs" / "references.md")
    return folder


@contextlib.contextmanager
def changed(root: Path, files: dict[str, Change | str]):
    """Apply a probe's changes to the copy ``root``; put every file back afterwards."""
    saved = {name: (root / name).read_bytes() if (root / name).exists() else None for name in files}
    try:
        for name, change in files.items():
            path = root / name
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            new = change if isinstance(change, str) else change(text)
            if new is None:
                path.unlink()
            elif isinstance(new, bytes):
                path.write_bytes(new)
            else:
                path.write_text(new, encoding="utf-8")
        yield
    finally:
        for name, content in saved.items():
            if content is None:
                (root / name).unlink(missing_ok=True)
            else:
                (root / name).write_bytes(content)


def outcome(code: int | None, err: str, probe: Probe) -> str:
    """clear, unclear or traceback (:mod:`this script's docstring <benchmarks.probes>`)."""
    if code is None or "Traceback" in err:
        return "traceback"
    named = "field '" in err or "argument " in err
    if code == 2 and "error:" in err and named and probe.names in err:
        return "clear"
    return "unclear"


def run_probe(probe: Probe, root: Path, number: int) -> tuple[str, str]:
    """Run one probe in the copy ``root``: its outcome and the last line of its messages."""
    out = root / "outputs" / f"probe-{number}"
    argv = [a.replace("{root}", str(root)).replace("{out}", str(out)) for a in probe.argv]
    err, code = io.StringIO(), None
    with changed(root, probe.files), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except BaseException:  # what a user would see as a traceback
            traceback.print_exc()
    shutil.rmtree(out, ignore_errors=True)
    text = err.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    return outcome(code, text, probe), f"exit {code}: {lines[-1] if lines else '(no message)'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", action="append", choices=list(PROBES), help="probe one file kind (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the probes without running them")
    args = parser.parse_args(argv)
    probes = [p for kind in (args.kind or PROBES) for p in PROBES[kind]()]
    if args.list:
        for probe in probes:
            print(f"{probe.kind:14s} {probe.name}")
        return 0
    counts: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory(prefix="kbalance-probes-") as tmp:
        root = project_copy(Path(tmp))
        os.environ["KBALANCE_HOME"] = str(root)
        paths.project_root.cache_clear()
        for number, probe in enumerate(probes):
            result, message = run_probe(probe, root, number)
            counts.setdefault(probe.kind, Counter())[result] += 1
            if result != "clear":
                print(f"{result:9s} {probe.kind}: {probe.name}: {message}", flush=True)
    total = sum(counts.values(), Counter())
    print(f"\n{'file kind':14s} {'probes':>6s} {'clear':>6s} {'unclear':>8s} {'traceback':>9s}")
    for kind, c in [*counts.items(), ("total", total)]:
        print(f"{kind:14s} {sum(c.values()):6d} {c['clear']:6d} {c['unclear']:8d} {c['traceback']:9d}")
    return 0 if total["clear"] == sum(total.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
