"""Where the fast engine's time goes: one projection or one chunk of members, by model group.

    python benchmarks/profile_engine.py [--members N] [--until YEAR] [--dtype float64|float32]
                                 [--engine numpy|fused] [--top N]

Runs the fast engine once to warm up, then once under cProfile, and attributes the time
to the variables of model/kbalance.mdl: each generated function's own time plus the
numpy and helper calls it makes (einsum, sums, ZIDZ, lookups, fused kernels), summed by
the group of the model file the variable is defined in (``.Population``, ``.Migration``,
…). Expressions hoisted or shared between variables (``_static_<n>``, ``_cse_<n>``,
``_initial_<n>``) are listed as their own group. One chunk of members runs in this process
(as a worker of run_ensemble runs each chunk), so ``--members 250`` profiles one chunk of
the default ensemble. cProfile adds a fixed cost per Python call, so the shares of the
single projection (many small calls) are inflated more than those of a chunk.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

#: Parameters drawn for the members (as benchmarks/bench.py): model constant → uniform range.
SAMPLED = {
    "mortality index drift": (-5.0, -2.5),
    "push elasticity": (0.0, 2.0),
    "regional fertility factor": (0.8, 1.2),
}
GENERATED = "<kbalance engine>"  # the file name of the generated code (kbalance.engine.runtime)


def groups(model_file: Path) -> dict[str, str]:
    """Variable py-name → the group of the model file (``.Population`` → "Population") it is defined in."""
    lines = model_file.read_text(encoding="utf-8").splitlines()
    group, owner = "", {}
    for before, line in zip([""] + lines, lines):
        if line.startswith("\t.") and before.startswith("****"):
            group = line.strip()[1:]
        elif match := re.match(r"^([A-Za-z][^=:\[~|]*?)\s*(\[[^\]]*\])?\s*(=|:=)", line):
            owner[match.group(1).strip().lower().replace(" ", "_")] = group
    return owner


def attributed(stats: pstats.Stats) -> Counter:
    """Generated function → its own time plus that of the non-generated functions it calls [s]."""
    seconds: Counter = Counter()
    for function, (_, _, own, _, callers) in stats.stats.items():
        if function[0] == GENERATED:
            seconds[function[2]] += own
            continue
        for caller, (_, _, _, cumulative) in callers.items():
            if caller[0] == GENERATED:
                seconds[caller[2]] += cumulative
    return seconds


def group_of(function: str, owner: dict[str, str]) -> str:
    """The model group of a generated function (``v_<py>``, ``flow_<py>``, ``init_<py>``)."""
    if re.match(r"_(static|cse|initial)_\d+$", function):
        return "shared and hoisted expressions"
    return owner.get(re.sub(r"^(v|flow|init)_", "", function), "other")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1, help="members in the chunk (default 1: one projection)")
    parser.add_argument("--until", type=int, default=2070, help="last year (default 2070)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--engine", choices=["numpy", "fused"], default="numpy")
    parser.add_argument("--top", type=int, default=15, help="variables listed (default 15)")
    args = parser.parse_args(argv)

    from kbalance.engine.runtime import run_fast

    rng = np.random.default_rng(20260101)
    table = None if args.members == 1 else pd.DataFrame({k: rng.uniform(*r, args.members) for k, r in SAMPLED.items()})

    def run():
        return run_fast(table, None, args.until, ["national population"], args.dtype, args.engine)

    run()  # compiles the model (and the kernels) and warms the caches
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    seconds = attributed(stats)
    owner = groups(Path("model/kbalance.mdl"))
    by_group: Counter = Counter()
    for function, s in seconds.items():
        by_group[group_of(function, owner)] += s
    total = stats.total_tt
    print(f"{args.members} member(s) 2001-{args.until}, {args.dtype}, {args.engine} path: "
          f"{wall:.3f} s wall, {cpu:.3f} s CPU unprofiled; {total:.3f} s profiled")
    print(f"{'group':34s} {'s':>8s} {'share':>7s}")
    for group, s in by_group.most_common():
        print(f"{group:34s} {s:8.3f} {100 * s / total:6.1f} %")
    print(f"\n{'variable (generated function)':42s} {'s':>8s} {'share':>7s}  group")
    for function, s in seconds.most_common(args.top):
        print(f"{function:42s} {s:8.3f} {100 * s / total:6.1f} %  {group_of(function, owner)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
