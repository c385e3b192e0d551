"""What the municipal (시군구) layer adds to ``kbalance whitepaper --members N``.

Runs the white paper's ensemble of one scenario twice on the constrained ensemble of the
latest fitted set: with the indicators only, and as the white paper runs it (every member
keeping ``Population`` and the policy channels' variables, the layer reduced inside each
chunk); then the section itself (maps, tables, page) on the second run's municipal
results copied to every white-paper scenario. The layer's part of the second run is the
time the layer reports from inside the chunks. Wall and CPU seconds (this process and
its worker processes) are printed with the load average of the machine, since other work
on it slows every figure; the white paper's total is the per-scenario addition times
its scenarios, plus the section. Target (issue 16): at most 60 s for 1,000 members.

    python benchmarks/municipal_bench.py                  # 1,000 members, 2 workers
    python benchmarks/municipal_bench.py --members 100 --workers 1
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
import xarray as xr

from kbalance.calibration.ensemble import latest_ensemble_set
from kbalance.engine.compiler import compile_model
from kbalance.model.mdl import subscript_ranges
from kbalance.municipal.layer import channel_variables
from kbalance.whitepaper.analysis import Whitepaper, ensemble_members, run_scenario_members, whitepaper_scenarios
from kbalance.whitepaper.municipal import member_reduce, municipal_html, split_municipal, write_section

TARGET_S = 60.0


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children [s]."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function, *args, **kwargs):
    """(result, wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def section_seconds(municipal: xr.Dataset, names: list[str], until: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the section: results, tables, figures and page of
    ``municipal`` (one scenario) repeated under every white-paper scenario ``names``."""
    per_scenario = xr.concat([municipal] * len(names), dim="scenario").assign_coords(scenario=names)
    ages = subscript_ranges()["Age"]
    wp = Whitepaper(lang="en", until=until, members=xr.Dataset(), summary=xr.Dataset(),
                    bestfit=xr.Dataset(coords={"Age": list(ages)}), scenarios={}, levers=pd.DataFrame(),
                    fit=pd.DataFrame(), backtest=None, fit_report=Path(), sensitivity=None, municipal=per_scenario)
    with tempfile.TemporaryDirectory() as folder:
        for sub in ("results", "tables", "figures"):
            (Path(folder) / sub).mkdir()
        wall, cpu = time.perf_counter(), cpu_seconds()
        municipal_html(write_section(wp, Path(folder)))
        return time.perf_counter() - wall, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--until", type=int, default=2070)
    args = parser.parse_args()
    load_before = os.getloadavg()
    scenarios, _ = whitepaper_scenarios()
    table = ensemble_members(latest_ensemble_set(), args.members)
    compile_model()
    base = scenarios[0]
    _, wall_0, cpu_0 = timed(run_scenario_members, base, table, args.until, args.workers)
    members, wall_1, cpu_1 = timed(run_scenario_members, base, table, args.until, args.workers, reduce=member_reduce,
                                   extra_variables=("Population", *channel_variables()))
    _, municipal, layer = split_municipal(members)
    section_wall, section_cpu = section_seconds(municipal, [s.name for s in scenarios], args.until)
    k = len(scenarios)
    added_wall = k * (wall_1 - wall_0) + section_wall
    print(f"members {args.members:,}, workers {args.workers}, until {args.until}, white-paper scenarios {k}")
    print(f"load average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"one scenario, indicators only:          wall {wall_0:7.1f} s   CPU {cpu_0:7.1f} s")
    print(f"one scenario, with Population and layer: wall {wall_1:7.1f} s   CPU {cpu_1:7.1f} s")
    print(f"  of which the layer inside the chunks:  wall {layer:7.1f} s (summed over chunks)")
    print(f"section (maps, tables, page; {k} scenarios): wall {section_wall:5.1f} s   CPU {section_cpu:7.1f} s")
    print(f"added to the white paper: wall {added_wall:.1f} s, CPU {k * (cpu_1 - cpu_0) + section_cpu:.1f} s "
          f"(target {TARGET_S:.0f} s)")


if __name__ == "__main__":
    main()
