"""Speed and memory of the two engines, measured in one process.

    python benchmarks/bench.py [--quick] [--json FILE] [--workers N] [--seed N] [--sobol-full]
                               [--dtype float64|float32|both] [--engine numpy|fused|both]
                               [--history FILE | --no-history]

Measures PySD's translation and load of model/kbalance.mdl, one PySD run, the fast
engine's compile time (and its fused kernels'), one fast deterministic run, and the fast
engine's time per member for ensembles of 1, 100, 1,000, 4,096 and 10,000 members (random
parameter tables, run with ``kbalance.engine.ensemble.run_ensemble``) on each execution
path (numpy, the reference, and fused, when numba is installed) in each floating type
(float64, the default of the engine, and float32, the default of the sensitivity
analysis), with the peak memory of each step, and the time of a Sobol-sized ensemble
(43,008 members, extrapolated from the 4,096-member run unless --sobol-full runs it). The
ratios to PySD use the PySD run of this same process. Prints a plain table, then the same
figures as JSON (also written to FILE with --json), and appends one line of figures to
benchmarks/history.csv. Progress goes to standard error.

--quick runs PySD to 2030 only and ensembles of 1 and 100 members on one process; it
finishes in well under a minute and is meant as a smoke check, not as the reference
figures. See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

START = time.perf_counter()

#: Parameters drawn for the ensembles: model constant → uniform range.
SAMPLED = {
    "mortality index drift": (-5.0, -2.5),
    "push elasticity": (0.0, 2.0),
    "regional fertility factor": (0.8, 1.2),
}
VARIABLES = ["national population"]
FULL_UNTIL = 2070
QUICK_UNTIL = 2030
CHUNK_SIZE = 250  # run_ensemble's default
#: A Sobol analysis with N = 1024 base samples over 20 factor groups and second-order
#: indices: N * (2 * 20 + 2) = 43,008 model runs. Timed on SOBOL_SAMPLE members and
#: extrapolated (same chunking and workers), or run in full with --sobol-full.
SOBOL_MEMBERS = 43_008
SOBOL_SAMPLE = 4_096
SOBOL_LIMIT_SECONDS = 300.0

#: Floating types the ensembles are timed in (kbalance.engine.DTYPES): float64, the
#: engine's default, and float32, the sensitivity analysis's.
DTYPES = ("float64", "float32")
#: Execution paths of the fast engine (kbalance.engine.runtime.ENGINES): numpy, the
#: reference, and fused (numba kernels; timed when numba is installed).
ENGINES = ("numpy", "fused")
#: Wall time of 10,000 members 2001-2070 by floating type [s] (issue 20)
ENSEMBLE_LIMITS = {"float64": 20.0, "float32": 12.0}
#: Targets: (key, description, measured figure key, comparison, limit, unit), for each
#: execution path, and the ensemble targets for each floating type measured.
TARGETS = [target for engine in ENGINES for target in (
    (f"single_run_seconds_{engine}", f"one projection 2001-2070 ({engine})",
     f"fast_single_seconds_{engine}", "<=", 0.08, "s"),
    (f"single_run_speedup_{engine}", f"one projection, speed-up over PySD ({engine})",
     f"single_run_speedup_{engine}", ">=", 20.0, "x"),
    *[t for dtype in DTYPES for t in (
        (f"ensemble_10000_seconds_{engine}_{dtype}", f"10,000 members, wall ({engine}, {dtype})",
         f"ensemble_10000_seconds_{engine}_{dtype}", "<=", ENSEMBLE_LIMITS[dtype], "s"),
        (f"ensemble_10000_peak_{engine}_{dtype}", f"10,000 members, peak memory ({engine}, {dtype})",
         f"ensemble_10000_peak_gb_{engine}_{dtype}", "<=", 4.0, "GB"),
        (f"sobol_seconds_{engine}_{dtype}", f"Sobol-sized, 43,008 members ({engine}, {dtype})",
         f"sobol_seconds_{engine}_{dtype}", "<=", SOBOL_LIMIT_SECONDS, "s"))])
]
HISTORY = Path(__file__).with_name("history.csv")

GB = 1024 ** 3
MB = 1024 ** 2


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - START:7.1f} s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------


def _maxrss_bytes(who: int) -> int:
    value = resource.getrusage(who).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024  # kilobytes on Linux


def reset_peak() -> bool:
    """Reset this process's peak resident set size (Linux: /proc/self/clear_refs), so
    that ru_maxrss afterwards is the peak of the step that follows. False when the
    platform does not allow it (the figure is then the peak since the process began)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class TreeSampler:
    """Samples the resident memory of this process and all its descendants (needs psutil;
    otherwise records nothing). Gives the concurrent total that ru_maxrss cannot."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self._stop = interval, None, threading.Event()
        try:
            import psutil
        except ImportError:
            self._psutil = None
        else:
            self._psutil = psutil
            self._me = psutil.Process()

    def __enter__(self):
        if self._psutil is not None:
            self.peak = 0
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> int:
        total = 0
        for proc in [self._me, *self._me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except self._psutil.Error:
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        if self._psutil is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._sample())


def traced_peak(fn) -> int:
    """tracemalloc's peak of Python and numpy allocations during fn() [bytes]. Run apart
    from the timed runs, since tracing slows allocation."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children [s]."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def load_average() -> float | None:
    """The 1-minute load average of the machine (other work competing for the cores)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def pysd_translation() -> dict:
    """Translate a copy of the model and its inputs in a scratch folder and load it (the
    model layer's translation, uncached), then load the translated file alone."""
    import pysd

    from kbalance.model.mdl import quiet_pysd, translate_into

    folder = Path(tempfile.mkdtemp(prefix="kbalance-bench-"))
    try:
        with quiet_pysd():
            translate, model = timed(lambda: pysd.load(str(translate_into(folder))))
            del model
            gc.collect()
            load, model = timed(lambda: pysd.load(str(folder / "kbalance.py")))
            del model
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    gc.collect()
    return {"pysd_translate_load_seconds": translate, "pysd_load_seconds": load}


def ensemble_table(members: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({name: rng.uniform(low, high, members) for name, (low, high) in SAMPLED.items()})


def sobol_estimate(ensembles: list[dict], engine: str, dtype: str) -> dict | None:
    """The Sobol-sized figure in ``dtype``: the 43,008-member run if it was measured, else
    the 4,096-member run scaled by 43,008 / 4,096 (marked extrapolated). None in the quick
    variant, which runs neither."""
    rows = {row["members"]: row for row in ensembles if row["dtype"] == dtype and row["engine"] == engine}
    if SOBOL_MEMBERS in rows:
        row, extrapolated = rows[SOBOL_MEMBERS], False
    elif SOBOL_SAMPLE in rows:
        row, extrapolated = rows[SOBOL_SAMPLE], True
    else:
        return None
    seconds = row["seconds_per_member"] * SOBOL_MEMBERS
    return {"members": SOBOL_MEMBERS, "engine": engine, "dtype": dtype, "seconds": seconds,
            "ms_per_member": 1000 * row["seconds_per_member"],
            "extrapolated": extrapolated, "from_members": row["members"],
            "ratio_to_limit": seconds / SOBOL_LIMIT_SECONDS, "limit_seconds": SOBOL_LIMIT_SECONDS}


def kernel_cache_files() -> int:
    """Files in numba's cache of the fused kernels (0: they will be compiled afresh)."""
    from kbalance.model.mdl import cache_dir

    folder = cache_dir() / "kernels" / "__pycache__"
    return len(list(folder.glob("*.nbi"))) if folder.is_dir() else 0


def run(quick: bool, workers: int, seed: int, sobol_full: bool = False, dtypes: tuple[str, ...] = DTYPES,
        engines: tuple[str, ...] = ENGINES, sizes: tuple[int, ...] = ()) -> dict:
    import numpy
    import pysd
    import xarray

    import kbalance
    from kbalance.engine.compiler import compile_model
    from kbalance.engine.ensemble import run_ensemble
    from kbalance.engine.reference import run_pysd
    from kbalance.engine.runtime import generated_functions, run_fast
    from kbalance.model.mdl import load_model
    from kbalance.model.parameters import read_parameter_set
    from kbalance.model.scenarios import Scenario

    until = QUICK_UNTIL if quick else FULL_UNTIL
    member_counts = list(sizes) if sizes else [1, 100] if quick else [1, 100, 1_000, SOBOL_SAMPLE, 10_000]
    if sobol_full and not quick:
        member_counts.append(SOBOL_MEMBERS)
    peak_resettable = reset_peak()
    load_start = load_average()
    figures: dict = {}
    steps: list[dict] = []

    def step(name: str, seconds: float, peak_self: int | None = None, **extra) -> dict:
        row = {"step": name, "seconds": seconds,
               "peak_rss_self_mb": None if peak_self is None else peak_self / MB, **extra}
        steps.append(row)
        return row

    # -- PySD ---------------------------------------------------------------------
    progress("PySD: translating and loading a copy of model/kbalance.mdl ...")
    reset_peak()
    figures.update(pysd_translation())
    step("PySD translate + load (read_vensim)", figures["pysd_translate_load_seconds"], _maxrss_bytes(resource.RUSAGE_SELF))
    step("PySD load of the translated .py", figures["pysd_load_seconds"])

    progress("PySD: warm-up load of the project model ...")
    figures["pysd_project_load_seconds"], _ = timed(load_model)
    step("PySD load of the project model (warm-up)", figures["pysd_project_load_seconds"])

    progress(f"PySD: one run 2001-{until} ...")
    params = read_parameter_set()
    reset_peak()
    seconds, reference = timed(lambda: run_pysd(Scenario("baseline", ""), params, until, variables=VARIABLES))
    figures["pysd_run_seconds"] = seconds
    figures["pysd_run_until"] = until
    step(f"PySD run 2001-{until}", seconds, _maxrss_bytes(resource.RUSAGE_SELF))

    # -- fast engine: compile and one run, on each path -----------------------------
    progress("fast engine: compiling ...")
    reset_peak()
    figures["fast_compile_seconds"], _ = timed(lambda: generated_functions(compile_model()))
    step("fast compile (parse + generate + exec)", figures["fast_compile_seconds"], _maxrss_bytes(resource.RUSAGE_SELF))
    if "fused" in engines:
        progress("fast engine: compiling the fused path ...")
        figures["fused_compile_seconds"], _ = timed(lambda: generated_functions(compile_model(fused=True)))
        step("fused compile (generate + exec)", figures["fused_compile_seconds"])
        figures["fused_kernels"] = len(compile_model(fused=True).kernel_names)
        for dtype in dtypes:
            cached = kernel_cache_files()
            progress(f"fast engine: fused kernels in {dtype} (numba cache: {cached} files) ...")
            seconds, _ = timed(lambda dtype=dtype: run_fast(None, None, 2002, VARIABLES, dtype, "fused"))
            figures[f"fused_kernel_seconds_{dtype}"] = seconds
            figures[f"fused_kernel_cache_files_before_{dtype}"] = cached
            step(f"fused kernels {dtype}, {'cache load' if cached else 'compile'} (2001-02)", seconds)

    def best_of(n: int, horizon: int, engine: str) -> tuple[float, object]:
        run_fast(None, None, horizon, VARIABLES, engine=engine)  # warm-up
        times, out = [], None
        for _ in range(n):
            seconds, out = timed(lambda: run_fast(None, None, horizon, VARIABLES, engine=engine))
            times.append(seconds)
        return min(times), out

    a = np.asarray(reference["national population"].values, float)
    for engine in engines:
        progress(f"fast engine, {engine}: one run 2001-{FULL_UNTIL}, best of 3 ...")
        reset_peak()
        figures[f"fast_single_seconds_{engine}"], _ = best_of(3, FULL_UNTIL, engine)
        peak = _maxrss_bytes(resource.RUSAGE_SELF)
        traced = traced_peak(lambda engine=engine: run_fast(None, None, FULL_UNTIL, VARIABLES, engine=engine)) / MB
        figures[f"fast_single_tracemalloc_mb_{engine}"] = traced
        step(f"fast single run {engine} 2001-{FULL_UNTIL} (best of 3)", figures[f"fast_single_seconds_{engine}"],
             peak, tracemalloc_peak_mb=traced)
        if until != FULL_UNTIL:
            progress(f"fast engine, {engine}: one run 2001-{until}, best of 3 (same span as the PySD run) ...")
            same_span, fast = best_of(3, until, engine)
            step(f"fast single run {engine} 2001-{until} (best of 3)", same_span)
        else:
            same_span = figures[f"fast_single_seconds_{engine}"]
            fast = run_fast(None, None, until, VARIABLES, engine=engine)
        figures[f"fast_single_same_span_seconds_{engine}"] = same_span
        figures[f"single_run_speedup_{engine}"] = figures["pysd_run_seconds"] / same_span
        b = np.asarray(fast["national population"].isel(member=0).values, float)
        figures[f"max_relative_difference_to_pysd_{engine}"] = float(np.max(np.abs(b - a) / np.abs(a)))

    # -- fast engine: ensembles, in each floating type -------------------------------
    ensembles = []
    for engine, dtype, members in [(e, d, m) for e in engines for d in dtypes for m in member_counts]:
        table = ensemble_table(members, np.random.default_rng([seed, members]))  # same tables for each type
        chunks = -(-members // CHUNK_SIZE)
        processes = 1 if workers == 1 or chunks == 1 else min(workers, chunks)
        where = "this process" if processes == 1 else f"{processes} processes"
        progress(f"fast engine, {engine}, {dtype}: {members:,} member{'s' if members > 1 else ''} 2001-{until} ({chunks} chunk(s) of <= {CHUNK_SIZE}, {where}) ...")
        gc.collect()
        reset_peak()
        load_before, cpu_before = load_average(), cpu_seconds()
        with TreeSampler() as sampler:
            seconds, result = timed(lambda table=table, dtype=dtype, engine=engine: run_ensemble(
                table, until=until, variables=VARIABLES, chunk_size=CHUNK_SIZE, workers=workers, dtype=dtype,
                engine=engine))
        cpu = cpu_seconds() - cpu_before  # the pool's workers are joined by now
        load_after = load_average()
        assert result.sizes["member"] == members
        del result
        peak_self = _maxrss_bytes(resource.RUSAGE_SELF)
        peak_children = _maxrss_bytes(resource.RUSAGE_CHILDREN) if processes > 1 else 0
        row = {
            "engine": engine, "dtype": dtype, "members": members, "seconds": seconds, "seconds_per_member": seconds / members,
            "per_member_speedup": figures["pysd_run_seconds"] / (seconds / members),
            "cpu_seconds": cpu, "cpu_seconds_per_member": cpu / members,
            "load_average_before": load_before, "load_average_after": load_after,
            "chunks": chunks, "processes": processes,
            "peak_rss_self_mb": peak_self / MB,
            "peak_rss_largest_worker_mb": peak_children / MB if processes > 1 else None,
            "peak_bound_mb": (peak_self + processes * peak_children) / MB if processes > 1 else peak_self / MB,
            "peak_sampled_total_mb": None if sampler.peak is None else sampler.peak / MB,
            "tracemalloc_peak_mb": None,
        }
        if processes == 1 and members <= (1 if quick else 100):
            progress(f"fast engine: the same {members:,} member{'s' if members > 1 else ''} again under tracemalloc ...")
            row["tracemalloc_peak_mb"] = traced_peak(
                lambda table=table, dtype=dtype, engine=engine: run_ensemble(
                    table, until=until, variables=VARIABLES, chunk_size=CHUNK_SIZE, workers=1, dtype=dtype,
                    engine=engine)) / MB
        ensembles.append(row)
        step(f"fast ensemble {engine} {dtype}, {members:,} member{'s' if members > 1 else ''} 2001-{until}", seconds,
             peak_self, per_member_seconds=seconds / members)
    figures["ensembles"] = ensembles
    for row in ensembles:
        if row["members"] == 10_000:
            figures[f"ensemble_10000_seconds_{row['engine']}_{row['dtype']}"] = row["seconds"]
            figures[f"ensemble_10000_peak_gb_{row['engine']}_{row['dtype']}"] = row["peak_bound_mb"] * MB / GB
    figures["sobol"] = {f"{e}_{d}": sobol_estimate(ensembles, e, d) for e in engines for d in dtypes}
    for key, sobol in figures["sobol"].items():
        if sobol is not None:
            figures[f"sobol_seconds_{key}"] = sobol["seconds"]

    targets = []
    for key, text, figure, op, limit, unit in TARGETS:
        value = figures.get(figure)
        met = None if value is None else (value <= limit if op == "<=" else value >= limit)
        note = ""
        if key.startswith("single_run_speedup") and until != FULL_UNTIL:
            note = f"quick: measured on 2001-{until} for both engines"
        dtype = next((d for d in DTYPES if key.endswith(d)), None)
        engine = next(e for e in ENGINES if f"_{e}" in key)
        if key.startswith("sobol_seconds") and value is not None and figures["sobol"][f"{engine}_{dtype}"]["extrapolated"]:
            note = f"extrapolated from {SOBOL_SAMPLE:,} members"
        if value is None:
            if (dtype is not None and dtype not in dtypes) or engine not in engines:
                continue
            note = "not measured in the quick variant"
        targets.append({"target": key, "description": text, "limit": f"{op} {limit:g} {unit}",
                        "measured": value, "unit": unit, "met": met, "note": note})

    return {
        "variant": ("quick" if quick else "full") + ("-members" if sizes else ""),
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "versions": {"kbalance": kbalance.__version__, "pysd": pysd.__version__, "numpy": numpy.__version__,
                     "xarray": xarray.__version__, "pandas": pd.__version__},
        "settings": {"pysd_until": until, "fast_single_until": FULL_UNTIL, "ensemble_until": until,
                     "members": member_counts, "dtypes": list(dtypes), "engines": list(engines),
                     "workers": workers,
                     "chunk_size": CHUNK_SIZE, "seed": seed,
                     "sobol_members": SOBOL_MEMBERS, "sobol_sample": SOBOL_SAMPLE,
                     "sampled_parameters": {k: list(v) for k, v in SAMPLED.items()}, "variables": VARIABLES,
                     "peak_reset_per_step": peak_resettable,
                     "thread_environment": {k: os.environ.get(k) for k in
                                            ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}},
        "load_average_start": load_start,
        "figures": figures,
        "steps": steps,
        "targets": targets,
        "load_average_end": load_average(),
        "total_seconds": time.perf_counter() - START,
    }


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _num(value, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)


def table(report: dict) -> str:
    f, s = report["figures"], report["settings"]
    until = s["pysd_until"]
    lines = []
    title = "kbalance benchmark" + (f" - QUICK VARIANT (PySD to {until}, members 1 and 100; not the reference "
                                    "figures)" if report["variant"].startswith("quick") else " - full")
    lines += [title, "=" * len(title),
              (f"date {report['date_utc']}   {report['machine']['platform']}   {report['machine']['cpu_count']} cores   "
               f"load average {_num(report['load_average_start'], '{:.1f}')} at start, "
               f"{_num(report['load_average_end'], '{:.1f}')} at end"),
              "versions " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
              f"ensembles: workers={s['workers']}, chunk_size={s['chunk_size']}, seed={s['seed']}, "
              f"until={s['ensemble_until']}; sampled " + ", ".join(f"{k} U({a:g},{b:g})" for k, (a, b)
                                                                  in s["sampled_parameters"].items()),
              ""]
    lines.append(f"{'step':<46} {'seconds':>10} {'peak RSS MB':>12} {'tracemalloc MB':>15}")
    lines.append("-" * 86)
    for row in report["steps"]:
        lines.append(f"{row['step']:<46} {row['seconds']:>10.3f} {_num(row.get('peak_rss_self_mb'), '{:.0f}'):>12} "
                     f"{_num(row.get('tracemalloc_peak_mb'), '{:.1f}'):>15}")
    lines.append("")
    lines.append(f"{'engine':<6} {'dtype':<8} {'members':>8} {'wall s':>9} {'s/member':>10} {'x PySD':>8} {'cpu s/mbr':>10} "
                 f"{'load':>5} {'chunks':>7} {'procs':>6} "
                 f"{'parent MB':>10} {'worker MB':>10} {'bound MB':>9} {'sampled MB':>11} {'traced MB':>10}")
    lines.append("-" * 141)
    for r in f["ensembles"]:
        lines.append(f"{r['engine']:<6} {r['dtype']:<8} {r['members']:>8,} {r['seconds']:>9.2f} {r['seconds_per_member']:>10.4f} "
                     f"{r['per_member_speedup']:>8.1f} {r['cpu_seconds_per_member']:>10.4f} "
                     f"{_num(r['load_average_after'], '{:.1f}'):>5} {r['chunks']:>7} {r['processes']:>6} "
                     f"{r['peak_rss_self_mb']:>10.0f} {_num(r['peak_rss_largest_worker_mb'], '{:.0f}'):>10} "
                     f"{r['peak_bound_mb']:>9.0f} {_num(r['peak_sampled_total_mb'], '{:.0f}'):>11} "
                     f"{_num(r['tracemalloc_peak_mb'], '{:.1f}'):>10}")
    lines.append("")
    for engine in s["engines"]:
        lines.append(f"single-run speed-up over PySD (2001-{until}, {engine}): {f[f'single_run_speedup_{engine}']:.1f}x "
                     f"(PySD {f['pysd_run_seconds']:.2f} s / fast {f[f'fast_single_same_span_seconds_{engine}']:.3f} s)")
        lines.append(f"fast ({engine}) vs PySD, national population 2001-{until}: max relative difference "
                     f"{f[f'max_relative_difference_to_pysd_{engine}']:.1e}")
    for sobol in (f.get("sobol") or {}).values():
        if sobol is None:
            continue
        how = (f"EXTRAPOLATED from the {sobol['from_members']:,}-member run" if sobol["extrapolated"]
               else "measured")
        lines.append(f"Sobol-sized ensemble, {sobol['members']:,} members 2001-{FULL_UNTIL}, {sobol['engine']}, "
                     f"{sobol['dtype']} ({how}, "
                     f"workers={s['workers']}, chunk_size={s['chunk_size']}): {sobol['seconds']:.0f} s, "
                     f"{sobol['ms_per_member']:.2f} ms/member, {sobol['ratio_to_limit']:.2f}x the "
                     f"{sobol['limit_seconds']:.0f} s target")
    lines.append("")
    lines.append(f"{'target':<52} {'limit':>10} {'measured':>12}  result")
    lines.append("-" * 86)
    for t in report["targets"]:
        measured = "-" if t["measured"] is None else f"{t['measured']:.3g} {t['unit']}"
        result = "not measured" if t["met"] is None else ("met" if t["met"] else "NOT MET")
        note = f"  ({t['note']})" if t["note"] and t["met"] is not None else ""
        lines.append(f"{t['description']:<52} {t['limit']:>10} {measured:>12}  {result}{note}")
    lines.append("")
    lines.append(f"total {report['total_seconds']:.1f} s")
    return "\n".join(lines)


def history_row(report: dict) -> dict:
    """One line of benchmarks/history.csv: when, which commit, the load, the main figures
    (the largest ensemble measured on each path and floating type)."""
    f = report["figures"]
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    row = {"date_utc": report["date_utc"], "commit": commit, "variant": report["variant"],
           "load_start": report["load_average_start"], "load_end": report["load_average_end"],
           "pysd_run_s": f["pysd_run_seconds"], "compile_s": f["fast_compile_seconds"],
           "fused_compile_s": f.get("fused_compile_seconds")}
    for dtype in DTYPES:
        row[f"fused_kernels_{dtype}_s"] = f.get(f"fused_kernel_seconds_{dtype}")
    for engine in ENGINES:
        row[f"single_{engine}_s"] = f.get(f"fast_single_seconds_{engine}")
    for engine in ENGINES:
        for dtype in DTYPES:
            rows = [r for r in f["ensembles"] if r["engine"] == engine and r["dtype"] == dtype]
            largest = max(rows, key=lambda r: r["members"]) if rows else {}
            row[f"{engine}_{dtype}_members"] = largest.get("members")
            row[f"{engine}_{dtype}_s"] = largest.get("seconds")
            row[f"{engine}_{dtype}_cpu_s_per_member"] = largest.get("cpu_seconds_per_member")
            row[f"{engine}_{dtype}_peak_mb"] = largest.get("peak_bound_mb")
    return {k: (f"{v:.4g}" if isinstance(v, float) else ("" if v is None else v)) for k, v in row.items()}


def append_history(report: dict, path: Path = HISTORY) -> None:
    """Append the report's line to ``path`` (a CSV with a header, written when new)."""
    row = history_row(report)
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time and memory of the PySD and fast engines (one process).")
    parser.add_argument("--quick", action="store_true",
                        help=f"PySD run to {QUICK_UNTIL}, ensembles of 1 and 100 members on one process (< 1 minute)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the figures as JSON to FILE")
    parser.add_argument("--workers", type=int, default=None,
                        help="local processes for the ensembles (default: 2; 1 with --quick)")
    parser.add_argument("--seed", type=int, default=20260101, help="seed of the random parameter tables")
    parser.add_argument("--sobol-full", action="store_true",
                        help=f"also run the Sobol-sized ensemble of {SOBOL_MEMBERS:,} members instead of "
                             f"extrapolating it from {SOBOL_SAMPLE:,} (adds several minutes)")
    parser.add_argument("--dtype", choices=[*DTYPES, "both"], default="both",
                        help="floating type(s) of the ensembles (default both: float64, then float32)")
    parser.add_argument("--engine", choices=[*ENGINES, "both"], default="both",
                        help="execution path(s) of the fast engine (default both: numpy, then fused when "
                             "numba is installed)")
    parser.add_argument("--members", type=int, nargs="+", metavar="N",
                        help="ensemble sizes to time instead of the variant's (e.g. 1 100 1000 on a loaded "
                             "machine); the variant is then recorded as quick-members or full-members")
    parser.add_argument("--history", type=Path, default=HISTORY,
                        help="CSV the figures are appended to (default benchmarks/history.csv)")
    parser.add_argument("--no-history", action="store_true", help="do not append to the history file")
    args = parser.parse_args(argv)
    workers = args.workers if args.workers is not None else (1 if args.quick else 2)
    if workers < 1:
        parser.error("--workers must be at least 1")

    dtypes = DTYPES if args.dtype == "both" else (args.dtype,)
    from kbalance.engine import kernels

    engines = ENGINES if args.engine == "both" else (args.engine,)
    if not kernels.available():
        if engines == ("fused",):
            parser.error("--engine fused needs numba (pip install numba)")
        engines = tuple(e for e in engines if e != "fused")
    if args.members and min(args.members) < 1:
        parser.error("--members must be at least 1")
    report = run(args.quick, workers, args.seed, args.sobol_full, dtypes, engines, tuple(args.members or ()))
    print(table(report))
    if not args.no_history:
        append_history(report, args.history)
    text = json.dumps(report, indent=2)
    print()
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
