"""Time the complementarity factorial experiment: 16 combinations of the integrated
scenario's policy groups, each on the same members of the constrained ensemble, to 2070.

    python benchmarks/factorial_bench.py                 # 1,000 members, 2 processes
    python benchmarks/factorial_bench.py --members 200 --workers 1

Prints the wall and CPU time, the peak resident memory of this process and of its worker
processes, and the 1-minute load average before and after (the machine is shared, so the
load says how much of it the run had). The target is 1,000 members within 5 minutes on a
2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

from kbalance.calibration.ensemble import read_ensemble
from kbalance.engine.compiler import compile_model
from kbalance.sensitivity.factorial import effects_dataset, factorial_design, run_factorial

#: The target [s] for 1,000 members.
TARGET_SECONDS = 300.0


def peak_mb(who: int) -> float:
    """Peak resident memory [MB] of this process (RUSAGE_SELF) or its finished children."""
    return resource.getrusage(who).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000, help="ensemble members (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="local processes (default 2)")
    parser.add_argument("--until", type=int, default=2070, help="last year (default 2070)")
    parser.add_argument("--engine", choices=("numpy", "fused"), default="numpy",
                        help="execution path of the fast engine (default numpy)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    compile_model(args.engine == "fused")
    design = factorial_design()
    members = read_ensemble().iloc[:args.members]
    cpu0 = time.process_time() + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
    start = time.perf_counter()
    cells = run_factorial(design, members, args.until, workers=args.workers, engine=args.engine)
    effects = effects_dataset(cells, design)
    seconds = time.perf_counter() - start
    cpu = time.process_time() + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]) - cpu0
    figures = {
        "members": len(members), "cells": len(design.cells), "runs": len(members) * len(design.cells),
        "until": args.until, "workers": args.workers, "engine": args.engine, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
        "seconds_per_run": round(seconds / (len(members) * len(design.cells)), 5),
        "peak_mb_self": round(peak_mb(resource.RUSAGE_SELF), 1),
        "peak_mb_workers": round(peak_mb(resource.RUSAGE_CHILDREN), 1),
        "result_mb": round((cells.nbytes + effects.nbytes) / 2 ** 20, 1),
        "load_start": round(load_start, 2), "load_end": round(os.getloadavg()[0], 2),
        "target_seconds_for_1000": TARGET_SECONDS,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
