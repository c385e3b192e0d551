"""The README's picture of the policy explorer (docs/gallery/explorer.png).

Serves ``kbalance explore`` on a free 127.0.0.1 port, opens the integrated scenario under
the UN WPP 2024 median variant with a 20-member band in the system Chromium
(/usr/bin/chromium, driven by Playwright), waits for the best fit, the 시군구 map and the
band, and saves the top of the page (the variant menu, the lever cards, the series, the
bars and the map) as a small palette PNG.

    python docs/explorer_screenshot.py [--out docs/gallery/explorer.png]
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from PIL import Image
from playwright.sync_api import sync_playwright

from kbalance.explorer.state import ExplorerState, current_versions, state_from_scenario, state_to_query
from kbalance.model.scenarios import read_scenario, with_variant
from kbalance.paths import project_root

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1600, "height": 1390}  # the page up to the bottom of the map [CSS px]
WIDTH = 1100  # of the saved picture [px]
READY = ("() => window.Bokeh && Bokeh.documents.length && "
         "Bokeh.documents[0].get_model_by_name('municipal_map').data.value.every(v => !isNaN(v)) && "
         "Bokeh.documents[0].get_model_by_name('capital_share_band').data.low.length > 0")


def state_url(port: int) -> str:
    """The page of the integrated scenario under the UN WPP 2024 median, Jeonnam's pyramid, 2050."""
    state = state_from_scenario(with_variant(read_scenario("integrated"), "un-wpp-2024"),
                                ExplorerState(lang="en", region="36", year=2050, members=20,
                                              versions=current_versions()))
    return f"http://127.0.0.1:{port}/?{urlencode(state_to_query(state))}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=project_root() / "docs" / "gallery" / "explorer.png")
    args = parser.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "kbalance.cli", "explore", "--port", str(port), "--lang", "en"],
                              cwd=project_root(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read()
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(state_url(port))
            page.wait_for_function(READY, timeout=600_000)
            page.wait_for_timeout(1000)  # the last redraw of the canvases
            shot = Image.open(io.BytesIO(page.screenshot()))
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    small = shot.convert("RGB").resize((WIDTH, round(shot.height * WIDTH / shot.width)), Image.LANCZOS)
    small.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
