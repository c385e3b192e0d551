"""The explorer's app: its session logic in this process, and the served page in Chromium.

The browser tests serve ``kbalance explore`` on a free 127.0.0.1 port in a subprocess and
drive the system Chromium with Playwright (never a downloaded browser); they are skipped
only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
import xarray as xr
from fontTools.ttLib import TTFont

from kbalance import cli
from kbalance.explorer.app import EDITOR_TABLES, Explorer, best_fit, font_css, query_of, variant_options, web_font
from kbalance.explorer.state import (UNTIL, ExplorerState, baseline_state, current_versions, lever_controls,
                                     state_from_query, state_from_scenario, state_to_query)
from kbalance.explorer.views import label, municipal_shapes, tr
from kbalance.model.scenarios import read_scenario, with_variant
from kbalance.model.variants import default_variant, read_variants
from kbalance.paths import project_root

CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT = 240  # the server's start on a loaded 2-core machine [s]
RUN_TIMEOUT = 240_000  # a projection shown in the page, on a loaded 2-core machine [ms]


def test_query_of_takes_the_last_value_of_each_argument():
    assert query_of({"lang": [b"ko", b"en"], "year": [b"2040"], "empty": []}) == {"lang": "en", "year": "2040"}


def test_the_web_font_drops_the_tables_browsers_reject(tmp_path):
    path = web_font(tmp_path)
    assert path is not None and path.parent == tmp_path
    assert not set(EDITOR_TABLES) & set(TTFont(path).keys())
    assert f"url('/fonts/{path.name}')" in font_css(path) and "@font-face" not in font_css(None)


def wait_for(condition, timeout: float = 240.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_a_session_runs_the_latest_lever_state_and_exports_it():
    explorer = Explorer(baseline_state("en"))
    try:
        explorer.request()
        wait_for(lambda: (explorer.poll(), explorer.current is not None)[1])
        first = explorer.views.sources["capital_share_current"].data["value"][-1]
        _, (target, start, ramp) = explorer.controls["capital_region_regulation"]
        target.value = 0.2
        start.value = 2027
        assert explorer.state.levers["capital_region_regulation"][0].start == 2027.0
        wait_for(lambda: (explorer.poll(), explorer.views.sources["capital_share_current"].data["value"][-1] != first)[1])
        shown = explorer.views.sources["capital_share_current"].data["value"][-1]
        assert shown == pytest.approx(float(best_fit(explorer.state)["capital region share"].sel(year=UNTIL)))
        text = explorer.export_file().getvalue().decode()
        steps = tomllib.loads(text)["levers"]["capital_region_regulation"]["steps"]
        assert steps == [{"target": 0.2, "start": 2027.0, "ramp": float(ramp.value), "ref": "hypothetical"}]
        explorer.load(read_scenario("decentralization"))
        assert target.value == 1.0 and explorer.controls["local_consumption_tax_rate"][1][0].value == 50.0
        assert "capital_region_regulation" not in explorer.state.levers
        explorer.load(None)
        assert explorer.state.levers == {} and explorer.controls["local_consumption_tax_rate"][1][0].value == 25.3
    finally:
        explorer.best.close()
        explorer.band.close()


def test_the_variant_menu_lists_every_variant_in_the_pages_language():
    variants = read_variants()
    for lang in ("ko", "en"):
        options = variant_options(lang)
        assert list(options.values()) == list(variants)
        default = next(name for name, key in options.items() if key == default_variant())
        assert default.endswith(f"({tr('default', lang)})")
        assert all(getattr(variants[key], f"label_{lang}") in name for name, key in options.items())


def test_the_variant_control_changes_the_plotted_births_and_the_export():
    explorer = Explorer(baseline_state("en"))
    births = explorer.views.sources["births_current"]
    try:
        assert explorer.variant.value == default_variant() and explorer.state.variant is None
        explorer.request()
        wait_for(lambda: (explorer.poll(), explorer.current is not None)[1])
        first = list(births.data["value"])
        explorer.variant.value = "high"
        assert explorer.state.variant == "high"
        wait_for(lambda: (explorer.poll(), list(births.data["value"]) != first)[1])
        expected = 1e-3 * best_fit(explorer.state)["total births"].sel(year=slice(2015, UNTIL))
        assert births.data["value"] == pytest.approx(list(expected.values), rel=1e-12)
        assert births.data["value"][-1] > first[-1]  # the UN high variant has more births than the TFR held
        assert tomllib.loads(explorer.export_file().getvalue().decode())["demography"] == {"variant": "high"}
        explorer.variant.value = default_variant()
        assert explorer.state.variant is None
        explorer.load(with_variant(read_scenario("balance"), "low"))
        assert explorer.variant.value == "low" and explorer.state.variant == "low"
        explorer.load(None)
        assert explorer.variant.value == default_variant() and explorer.state.variant is None
    finally:
        explorer.best.close()
        explorer.band.close()


def test_a_link_from_another_version_says_so():
    explorer = Explorer(ExplorerState(lang="en", versions={"model": "000000000000", "fitted": "v0"}))
    try:
        assert explorer.message.visible and "000000000000" in explorer.message.object
        assert explorer.state.versions == current_versions()
    finally:
        explorer.best.close()
        explorer.band.close()


# ---------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------

browser_test = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed")
    port = free_port()
    log_path = tmp_path_factory.mktemp("explorer") / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "kbalance.cli", "explore", "--port", str(port), "--lang", "en"],
                            cwd=project_root(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + START_TIMEOUT
    while True:
        try:
            urllib.request.urlopen(url, timeout=30).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                log.close()
                pytest.fail(f"kbalance explore did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_page(browser, url: str, requests: list | None = None):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    if requests is not None:
        page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length && "
                           "Bokeh.documents[0].get_model_by_name('capital_share_current').data.value.length > 0",
                           timeout=RUN_TIMEOUT)
    return page


def plotted(page, name: str = "capital_share_current") -> list[float]:
    return page.evaluate(f"() => Array.from(Bokeh.documents[0].get_model_by_name('{name}').data.value)")


def page_state(page) -> ExplorerState:
    return state_from_query(dict(parse_qsl(urlparse(page.url).query)))


@browser_test
def test_the_page_loads_with_no_request_beyond_127_0_0_1(server, browser):
    requests: list[str] = []
    page = open_page(browser, server, requests)
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('capital_share_band').data.low.length > 0",
                           timeout=RUN_TIMEOUT)
    hosts = {urlparse(u).netloc for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {urlparse(server).netloc}, hosts
    assert any("/static/js/bokeh" in u for u in requests) and any("/fonts/NanumGothic" in u for u in requests)
    page.close()


@browser_test
def test_moving_a_slider_changes_the_plotted_values_and_the_url(server, browser):
    page = open_page(browser, server)
    before = plotted(page)
    page.locator(".lever-capital_region_regulation-target .noUi-handle").focus()
    for _ in range(30):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"() => Bokeh.documents[0].get_model_by_name('capital_share_current').data.value"
                           f"[{len(before) - 1}] != {before[-1]!r}", timeout=RUN_TIMEOUT)
    expected: dict[float, list[float]] = {}
    deadline = time.time() + RUN_TIMEOUT / 1000
    while True:  # until the line shows the projection of the state in the URL (the last key press's)
        state = page_state(page)
        target = state.levers["capital_region_regulation"][0].target
        if target not in expected:
            expected[target] = list(best_fit(state)["capital region share"].sel(year=slice(None, UNTIL)).values)
        if plotted(page) == pytest.approx(expected[target][-len(before):], rel=1e-12):
            break
        assert time.time() < deadline, "the plotted line does not match the URL's state"
        page.wait_for_timeout(200)
    assert target < 1.0 and plotted(page)[-1] != before[-1]
    page.close()


MAP_VALUES = "Bokeh.documents[0].get_model_by_name('municipal_map').data.value"


def map_values(page) -> list[float]:
    return page.evaluate(f"() => Array.from({MAP_VALUES})")


@browser_test
def test_the_municipal_map_draws_229_municipalities_and_follows_a_lever(server, browser):
    page = open_page(browser, f"{server}?{urlencode({'lang': 'en', 'members': '0', 'year': '2040'})}")
    page.wait_for_function(f"() => {MAP_VALUES}.every(v => !isNaN(v))", timeout=RUN_TIMEOUT)
    glyph = "Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('municipal_patches')).glyph"
    assert page.evaluate(f"() => {glyph}.data_size") == 229  # drawn in the page, one multi-polygon each
    before = map_values(page)
    page.locator(".lever-capital_region_regulation-target .noUi-handle").focus()
    for _ in range(30):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"() => {MAP_VALUES}.some((v, i) => v != {before!r}[i])", timeout=RUN_TIMEOUT)
    codes = municipal_shapes()["code"]
    deadline = time.time() + RUN_TIMEOUT / 1000
    while True:  # until the map shows the municipal layer of the state in the URL
        state = page_state(page)
        expected = best_fit(state)["municipal extinction index"].sel(year=2040).to_series().reindex(codes)
        if map_values(page) == pytest.approx(list(expected), rel=1e-12):
            break
        assert time.time() < deadline, "the map does not show the URL's state"
        page.wait_for_timeout(200)
    assert state.levers["capital_region_regulation"][0].target < 1.0 and map_values(page) != before
    page.close()


@pytest.fixture(scope="module")
def shared_state() -> ExplorerState:
    return state_from_scenario(with_variant(read_scenario("integrated"), "statistics-korea-2022"),
                               ExplorerState(lang="en", region="36", year=2040, members=0, versions=current_versions()))


@browser_test
def test_a_url_reopens_the_same_state(server, browser, shared_state):
    page = open_page(browser, f"{server}?{urlencode(state_to_query(shared_state))}")
    assert page_state(page) == shared_state
    expected = float(best_fit(shared_state)["capital region share"].sel(year=UNTIL))
    assert plotted(page)[-1] == pytest.approx(expected, rel=1e-12)
    again = open_page(browser, page.url)
    assert plotted(again) == plotted(page) and page_state(again) == shared_state
    page.close()
    again.close()


@browser_test
def test_the_export_is_checked_and_reproduced_by_kbalance_run(server, browser, shared_state, tmp_path, capsys):
    page = open_page(browser, f"{server}?{urlencode(state_to_query(shared_state))}")
    with page.expect_download(timeout=RUN_TIMEOUT) as download:
        page.get_by_text(tr("export", "en")).click()
    path = tmp_path / "exported.toml"
    download.value.save_as(path)
    # the command line in this process (its model already compiled); the server is its own process
    assert cli.main(["scenarios", "check", str(path)]) == 0, capsys.readouterr().err
    assert cli.main(["run", "--scenario", str(path), "--out", str(tmp_path / "run")]) == 0, capsys.readouterr().err
    with xr.open_dataset(tmp_path / "run" / "results.nc") as results:
        reproduced = {name: results[name].sel(year=slice(None, UNTIL)).values
                      for name in ("capital_region_share", "total_births")}
    for shown, name in ((plotted(page), "capital_region_share"), (plotted(page, "births_current"), "total_births")):
        scale = 1e-3 if name == "total_births" else 1.0  # births are shown in thousands
        assert shown == pytest.approx(list(scale * reproduced[name][-len(shown):]), rel=1e-12)
    exported = read_scenario(path)
    assert exported.variant == shared_state.variant == "statistics-korea-2022"
    assert exported.constants == with_variant(read_scenario("integrated"), "statistics-korea-2022").constants
    page.close()


@browser_test
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_both_languages_render(server, browser, lang):
    page = open_page(browser, f"{server}?{urlencode({'lang': lang, 'members': '0'})}")
    for text in (tr("title", lang), f"{label('capital_share', lang)}, {UNTIL}:", tr("reset", lang)):
        page.get_by_text(text).first.wait_for(timeout=RUN_TIMEOUT)
    assert page.evaluate("async () => (await document.fonts.load(\"12px 'NanumGothic'\", '인구')).length") > 0
    lever = lever_controls()["local_consumption_tax_rate"]
    page.get_by_text(lever.label(lang), exact=True).first.wait_for(timeout=RUN_TIMEOUT)
    assert page.locator(".demographic-variant select option").all_text_contents() == list(variant_options(lang))
    other = "en" if lang == "ko" else "ko"
    assert page.get_by_text(tr("reset", other)).count() == 0
    assert page_state(page).lang == lang
    page.close()


def test_the_baseline_state_is_the_pages_default():
    assert state_from_query({"lang": "en"}) == baseline_state("en")


def test_the_command_line_imports_panel_only_to_explore():
    code = ("import sys, kbalance.cli as cli; parser = cli.build_parser(); "
            "args = parser.parse_args(['explore', '--port', '5099', '--lang', 'en']); "
            "print(args.port, args.lang, 'panel' in sys.modules, 'bokeh' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=project_root(), capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["5099", "en", "False", "False"]
