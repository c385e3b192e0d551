"""Throughput of the constrained ensemble (``kbalance ensemble``): members screened
against history per second, on the screening path and, with ``--reference``, on the
reference path (float64, numpy) with the same draws.

    python benchmarks/ensemble_bench.py                         # 1,000 and 5,000 members
    python benchmarks/ensemble_bench.py --members 1000 5000 --reference

Each size runs the whole command (proposal, screening, float64 recheck; nothing written).
What a process pays once (parsing the model, compiling both execution paths, loading the
fused kernels) is timed first as the warm-up, on an ensemble of 2 draws per path. The
cost of a member is the slope between the two largest sizes, the fixed cost (the fit's
Jacobian, the best fit, starting the processes, the recheck of the stored members) the
rest; the 100,000-member figure is the warm-up plus the fixed cost plus 100,000 members. The 1-minute load average
at the start and end says how much of the shared machine the run had. The target is
100,000 members within 3 minutes on this 2-core machine, idle.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

from kbalance.calibration.ensemble import constrained_ensemble
from kbalance.model.parameters import latest_fitted_set

#: The target [s] for :data:`FULL` members.
TARGET_SECONDS, FULL = 180.0, 100_000


def cpu_seconds() -> float:
    """CPU time [s] of this process and its finished children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fitted, members: int, workers: int, dtype: str, engine: str) -> dict:
    """Wall and CPU time [s] of one constrained ensemble of ``members`` draws, with its counts."""
    cpu, start = cpu_seconds(), time.perf_counter()
    table, info = constrained_ensemble(fitted, members=members, workers=workers, progress=False,
                                       dtype=dtype, engine=engine)
    return {"members": members, "seconds": time.perf_counter() - start, "cpu_seconds": cpu_seconds() - cpu,
            "accepted": info["members_accepted"], "stored": table["member"].tolist(),
            "rechecked": info["screening"]["members_rechecked_float64"],
            "largest_difference": info["screening"]["largest_difference_over_threshold"]}


def scaled(runs: list[dict], warm_up: float) -> dict:
    """Per-member wall [ms] and CPU time [ms] and fixed wall time [s] from the two largest
    runs, and the extrapolated :data:`FULL`-member time [s] with the ``warm_up`` [s]."""
    small, large = sorted(runs, key=lambda r: r["members"])[-2:]
    added = large["members"] - small["members"]
    per = (large["seconds"] - small["seconds"]) / added
    fixed = large["seconds"] - per * large["members"]
    return {"ms_per_member": round(1e3 * per, 3),
            "cpu_ms_per_member": round(1e3 * (large["cpu_seconds"] - small["cpu_seconds"]) / added, 3),
            "fixed_s": round(fixed, 1), "warm_up_s": round(warm_up, 1), "members_per_s": round(1 / per, 1),
            "full_s_extrapolated": round(warm_up + fixed + per * FULL, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1000, 5000], help="draws (default 1000 5000)")
    parser.add_argument("--workers", type=int, default=2, help="local processes (default 2)")
    parser.add_argument("--dtype", default="float32", help="screening type (default float32)")
    parser.add_argument("--engine", default="auto", help="screening path (default auto)")
    parser.add_argument("--reference", action="store_true", help="also time the reference path (float64, numpy)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    fitted = latest_fitted_set()
    paths = [(args.dtype, args.engine)] + ([("float64", "numpy")] if args.reference else [])
    figures = {"load_start": os.getloadavg()[0], "workers": args.workers, "fitted_set": fitted.name, "paths": {}}
    start = time.perf_counter()
    for dtype, engine in paths:
        timed(fitted, 2, args.workers, dtype, engine)
    warm_up = time.perf_counter() - start
    for dtype, engine in paths:
        runs = [timed(fitted, n, args.workers, dtype, engine) for n in sorted(args.members)]
        for r in runs:
            print(f"{dtype} {engine}: {r['members']:,} draws in {r['seconds']:.1f} s (CPU {r['cpu_seconds']:.1f} s), "
                  f"{r['accepted']:,} accepted, {r['rechecked']:,} rechecked in float64, largest screening "
                  f"difference {r['largest_difference']:.2g} of the threshold", flush=True)
        figures["paths"][f"{dtype} {engine}"] = {"runs": [{k: v for k, v in r.items() if k != "stored"} for r in runs],
                                                 **(scaled(runs, warm_up) if len(runs) > 1 else {})}
        figures["paths"][f"{dtype} {engine}"]["stored"] = runs[-1]["stored"]
    if args.reference:
        stored = [p.pop("stored") for p in figures["paths"].values()]
        figures["same_stored_members"] = stored[0] == stored[-1]
    else:
        for p in figures["paths"].values():
            p.pop("stored")
    figures["load_end"] = os.getloadavg()[0]
    for name, p in figures["paths"].items():
        if "ms_per_member" in p:
            print(f"{name}: {p['members_per_s']:,} members/s ({p['ms_per_member']} ms each, CPU "
                  f"{p['cpu_ms_per_member']} ms; {p['fixed_s']} s fixed, {p['warm_up_s']} s warm-up); "
                  f"{FULL:,} members extrapolated {p['full_s_extrapolated']} s (target {TARGET_SECONDS:.0f} s)")
    print(f"load average {figures['load_start']:.2f} at the start, {figures['load_end']:.2f} at the end")
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
