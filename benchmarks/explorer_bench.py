"""Response times of the policy explorer (kbalance explore).

Measures, in this process, the best-fit redraw after a lever change (the projection of
the new state with its municipal layer, the new data of every view, the 시군구 map among
them, and the change table), the municipal layer alone (part of the redraw) and the
ensemble band of 100 members; with ``--browser``, also the same two in the served page in headless
Chromium: from a key press on a lever's slider to the new line in the page, and from
there to the band. Targets: 0.5 s and 5 s. The load average of the machine is printed
at the start and the end, since other work on the machine slows the figures down; each run
appends one line to benchmarks/explorer_history.csv.

    python benchmarks/explorer_bench.py                 # in-process, about a minute
    python benchmarks/explorer_bench.py --browser       # also in Chromium (/usr/bin/chromium)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from kbalance.explorer.app import baseline_projection, best_fit, ensemble_band
from kbalance.explorer.compute import change_table, with_municipal
from kbalance.explorer.state import baseline_state, state_to_query
from kbalance.explorer.views import Views, change_frame
from kbalance.paths import project_root

TARGETS = {"redraw_s": 0.5, "band_100_s": 5.0}
LEVER = "capital_region_regulation"
CHROMIUM = Path("/usr/bin/chromium")
HISTORY = Path(__file__).with_name("explorer_history.csv")


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``work()``; the CPU time is this process's (all its threads),
    which other work on the machine slows down much less than the wall time."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def redraw_times(repeats: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds from a lever change to new data in every view, ``repeats`` times."""
    views, base = Views("en"), baseline_projection()
    best_fit(baseline_state("en"))  # compile and warm up

    def redraw(state):
        current = best_fit(state)
        views.update(current, base, [], state.region, state.year)
        change_frame(change_table(current, base, state.year), "en")

    return [timed(lambda: redraw(baseline_state("en").with_lever(LEVER, 0.1 * (i + 1), 2026, 4)))
            for i in range(repeats)]


def municipal_times(repeats: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds for the municipal layer of one best-fit projection (part of every
    redraw), ``repeats`` times."""
    projection = baseline_projection()
    with_municipal(projection)  # load the observed municipal population once
    return [timed(lambda: with_municipal(projection)) for _ in range(repeats)]


def band_times(repeats: int, members: int = 100) -> list[tuple[float, float]]:
    """(wall, CPU) seconds for the band of ``members`` members, ``repeats`` times."""
    state = baseline_state("en").with_lever(LEVER, 0.5, 2026, 4)
    return [timed(lambda: ensemble_band((state, members))) for _ in range(repeats)]


def browser_times(repeats: int) -> dict[str, list[float]]:
    """Seconds in Chromium from a key press on a slider to the new line, and from the new
    line to the 100-member band, on a server started here."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "kbalance.cli", "explore", "--port", str(port), "--lang", "en"],
                              cwd=project_root(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/?" + urlencode({**state_to_query(baseline_state("en")), "members": "100"})
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=30).read()
                break
            except OSError:
                time.sleep(0.5)
        current = "Bokeh.documents[0].get_model_by_name('capital_share_current').data.value"
        band = "Bokeh.documents[0].get_model_by_name('capital_share_band').data.low"
        out: dict[str, list[float]] = {"browser_redraw_s": [], "browser_band_100_s": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_function(f"() => window.Bokeh && Bokeh.documents.length && {band}.length > 0", timeout=120_000)
            handle = page.locator(f".lever-{LEVER}-target .noUi-handle")
            for _ in range(repeats):
                before = page.evaluate(f"() => {current}[{current}.length - 1]")
                handle.focus()
                start = time.perf_counter()
                page.keyboard.press("ArrowLeft")
                page.wait_for_function(f"() => {current}[{current}.length - 1] != {before!r}", timeout=60_000)
                shown = time.perf_counter()
                page.wait_for_function(f"() => {band}.length > 0", timeout=120_000)
                out["browser_redraw_s"].append(shown - start)
                out["browser_band_100_s"].append(time.perf_counter() - shown)
            browser.close()
        return out
    finally:
        server.terminate()
        server.wait(30)


def summary(name: str, times: list) -> dict:
    """Median and maximum of wall seconds (and the median CPU seconds, for (wall, CPU) pairs)."""
    walls = [t[0] if isinstance(t, tuple) else t for t in times]
    target = TARGETS.get(name.removeprefix("browser_"))
    row = {"median_s": statistics.median(walls), "max_s": max(walls), "runs": len(walls), "target_s": target}
    if isinstance(times[0], tuple):
        row["cpu_median_s"] = statistics.median(t[1] for t in times)
    cpu = f"  cpu {row['cpu_median_s']:6.3f} s" if "cpu_median_s" in row else ""
    aim = f"; target {target} s" if target else ""
    print(f"{name:22s} median {row['median_s']:6.3f} s  max {row['max_s']:6.3f} s{cpu}  ({len(walls)} runs{aim})")
    return row


def history_row(figures: dict, load_start: float, load_end: float) -> dict:
    """One line of benchmarks/explorer_history.csv: when, which commit, the 1-minute load at
    the start and the end, and the median and maximum of every figure and the median CPU
    time of those measured in this process [s]."""
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    row = {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit,
           "load_start": f"{load_start:.3g}", "load_end": f"{load_end:.3g}"}
    for name in ("redraw_s", "municipal_s", "band_100_s", "browser_redraw_s", "browser_band_100_s"):
        found = figures.get(name, {})
        for figure in ("median_s", "max_s", "cpu_median_s"):
            if figure == "cpu_median_s" and name.startswith("browser_"):
                continue
            row[f"{name.removesuffix('_s')}_{figure}"] = f"{found[figure]:.4g}" if figure in found else ""
    return row


def append_history(row: dict, path: Path = HISTORY) -> None:
    """Append ``row`` to ``path`` (a CSV with a header, written when new)."""
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="lever changes timed (default 5)")
    parser.add_argument("--band-repeats", type=int, default=3, help="bands timed (default 3)")
    parser.add_argument("--browser", action="store_true", help="also time the served page in headless Chromium")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--history", type=Path, default=HISTORY,
                        help="CSV the figures are appended to (default benchmarks/explorer_history.csv)")
    parser.add_argument("--no-history", action="store_true", help="do not append to the history file")
    args = parser.parse_args(argv)
    figures: dict = {"load_average_start": os.getloadavg()}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in figures['load_average_start'])} on "
          f"{os.cpu_count()} cores")
    figures.update({"redraw_s": summary("redraw_s", redraw_times(args.repeats)),
                    "municipal_s": summary("municipal_s", municipal_times(args.repeats)),
                    "band_100_s": summary("band_100_s", band_times(args.band_repeats))})
    if args.browser and CHROMIUM.exists():
        for name, times in browser_times(args.repeats).items():
            figures[name] = summary(name, times)
    figures["load_average_after"] = os.getloadavg()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in figures['load_average_after'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if not args.no_history:
        append_history(history_row(figures, figures["load_average_start"][0], figures["load_average_after"][0]),
                       args.history)
    return 0


if __name__ == "__main__":
    sys.exit(main())
