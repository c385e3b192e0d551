"""The explorer's Panel app and its server (``kbalance explore``).

One session holds one :class:`~kbalance.explorer.state.ExplorerState`. Moving a
control changes the state, writes it into the page's URL and asks a background thread
for the best-fit projection; a periodic callback shows the latest result and then asks
a second thread for the ensemble band, shown when it is ready. Requests made while one
runs replace each other, so only the latest state is computed.

The server listens on 127.0.0.1 only and serves every script and style itself (Bokeh's
and Panel's resources in "server" mode), so the page works offline.
"""

from __future__ import annotations

import io
from urllib.parse import urlencode
import tempfile
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import panel as pn
from fontTools.ttLib import TTFont
import xarray as xr

from kbalance.errors import KbalanceInputError
from kbalance.explorer.compute import LatestOnly, band, change_table, ensemble_subset, project
from kbalance.explorer.state import (BAND_SIZES, UNTIL, ExplorerState, baseline_state, current_versions,
                                     lever_controls, scenario_of, scenario_toml, state_from_query,
                                     state_from_scenario, state_to_query)
from kbalance.explorer.views import FONT, MAX_SAVED, Views, change_frame, label, tr
from kbalance.fonts import bundled_hangul_fonts
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import list_scenarios, read_scenario
from kbalance.model.variants import default_variant, read_variants
from kbalance.regions import region_codes, region_name

POLL_MS = 50  # how often a session looks for finished runs [ms]
HOST = "127.0.0.1"


@lru_cache(maxsize=1)
def baseline_projection() -> xr.Dataset:
    """The baseline's best-fit projection, once per process."""
    return project(scenario_of(baseline_state()), shipped_parameter_set(), UNTIL)


def best_fit(state: ExplorerState) -> xr.Dataset:
    """The best-fit projection of a state (the work of the first background thread)."""
    return project(scenario_of(state), shipped_parameter_set(), UNTIL)


def ensemble_band(request: tuple[ExplorerState, int]) -> xr.Dataset:
    """The band of (state, members) (the work of the second background thread)."""
    state, members = request
    return band(scenario_of(state), ensemble_subset(members), UNTIL)


def variant_options(lang: str) -> dict[str, str]:
    """The demographic variants of model/demography.toml as a menu: label in ``lang``
    (the default one marked) → key."""
    default = default_variant()
    return {(v.label_ko if lang == "ko" else v.label_en) + (f" ({tr('default', lang)})" if k == default else ""): k
            for k, v in read_variants().items()}


def query_of(session_args: dict[str, list[bytes]]) -> dict[str, str]:
    """A request's query arguments as one string each (the last one given)."""
    return {k: v[-1].decode() for k, v in session_args.items() if v}


class Explorer:
    """One session of the explorer: controls, views, the two background runners."""

    def __init__(self, state: ExplorerState):
        self.state = state
        self.lang = lang = state.lang
        self.current: xr.Dataset | None = None
        self.saved: list[xr.Dataset] = []
        self.syncing = False
        self.views = Views(lang)
        self.best = LatestOnly(best_fit)
        self.band = LatestOnly(ensemble_band)
        self.status = pn.pane.Markdown(tr("computing", lang))
        self.headline = pn.pane.Markdown("")
        self.message = pn.pane.Alert("", alert_type="warning", visible=False)
        self.table = pn.pane.DataFrame(None, sizing_mode="stretch_width")
        self.table_title = pn.pane.Markdown("")
        self.links = pn.pane.HTML("")
        self.controls = {}
        for key, c in lever_controls().items():
            widgets = (
                pn.widgets.FloatSlider(label=f"{tr('target', lang)} [{c.unit(lang)}]", start=c.target[1], end=c.target[2],
                                       step=c.step, value=c.target[0], css_classes=[f"lever-{key}-target"]),
                pn.widgets.IntSlider(label=tr("start", lang), start=int(c.start[1]), end=int(c.start[2]),
                                     value=int(c.start[0]), css_classes=[f"lever-{key}-start"]),
                pn.widgets.IntSlider(label=tr("ramp", lang), start=int(c.ramp[1]), end=int(c.ramp[2]),
                                     value=int(c.ramp[0]), css_classes=[f"lever-{key}-ramp"]))
            for w in widgets:
                w.param.watch(lambda event, key=key: self.on_lever(key), "value")
            self.controls[key] = (c, widgets)
        self.scenario = pn.widgets.Select(label=tr("scenario", lang), options=["", *list_scenarios()], value="")
        self.scenario.param.watch(lambda e: e.new and self.load(read_scenario(e.new)), "value")
        self.variant = pn.widgets.Select(label=tr("demography", lang), options=variant_options(lang),
                                         css_classes=["demographic-variant"])
        self.variant.param.watch(self.on_variant, "value")
        self.upload = pn.widgets.FileInput(accept=".toml", label=tr("upload", lang))
        self.upload.param.watch(self.on_upload, "value")
        self.region = pn.widgets.Select(label=tr("region", lang), value=state.region,
                                        options={region_name(c, lang): c for c in region_codes()})
        self.year = pn.widgets.IntSlider(label=tr("year", lang), start=2025, end=UNTIL, value=state.year)
        self.members = pn.widgets.Select(label=tr("members", lang), options=list(BAND_SIZES), value=state.members)
        for w in (self.region, self.year, self.members):
            w.param.watch(self.on_view, "value")
        buttons = {k: pn.widgets.Button(label=tr(k, lang), css_classes=[f"button-{k}"]) for k in ("reset", "save", "clear")}
        buttons["reset"].on_click(lambda e: self.load(None))
        buttons["save"].on_click(self.on_save)
        buttons["clear"].on_click(self.on_clear)
        self.buttons = buttons
        self.export = pn.widgets.FileDownload(callback=self.export_file, filename="explorer.toml",
                                              label=tr("export", lang), color="primary")
        self.sync_widgets()
        self.check_versions()

    # --- state ---------------------------------------------------------------------------

    def sync_widgets(self) -> None:
        """Set every control to the state (without treating it as a move)."""
        self.syncing = True
        try:
            for key, (c, (target, start, ramp)) in self.controls.items():
                steps = self.state.levers.get(key)
                first = steps[0] if steps else None
                target.value = first.target if first else c.target[0]
                start.value = int(first.start) if first else int(c.start[0])
                ramp.value = int(first.ramp) if first and first.ramp is not None else int(c.ramp[0])
            self.variant.value = self.state.variant or default_variant()
            self.region.value, self.year.value, self.members.value = (
                self.state.region, self.state.year, self.state.members)
        finally:
            self.syncing = False

    def check_versions(self) -> None:
        now = current_versions()
        made = self.state.versions
        if made and made != now:
            self.message.object = tr("versions", self.lang, model=made.get("model"), fitted=made.get("fitted"),
                                     now_model=now["model"], now_fitted=now["fitted"])
            self.message.visible = True
        self.state = replace(self.state, versions=now)

    def on_lever(self, key: str) -> None:
        if self.syncing:
            return
        _, (target, start, ramp) = self.controls[key]
        self.state = self.state.with_lever(key, target.value, start.value, ramp.value)
        self.request()

    def on_variant(self, event) -> None:
        """Run under the chosen variant (the file's default is kept as None, as in a scenario file)."""
        if self.syncing:
            return
        self.state = replace(self.state, variant=None if event.new == default_variant() else event.new)
        self.request()

    def on_view(self, event) -> None:
        if self.syncing:
            return
        self.state = replace(self.state, region=self.region.value, year=self.year.value, members=self.members.value)
        self.write_url()
        if event.obj is self.members:
            self.request_band()
        else:
            self.redraw()

    def load(self, scenario) -> None:
        """Take the lever paths and variant of a scenario (None: the baseline), keeping the view settings."""
        self.state = (state_from_scenario(scenario, self.state) if scenario
                      else replace(self.state, levers={}, variant=None))
        self.sync_widgets()
        self.request()

    def on_upload(self, event) -> None:
        if not event.new:
            return
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / (Path(self.upload.filename or "uploaded.toml").stem + ".toml")
            path.write_bytes(event.new)
            try:
                self.load(read_scenario(path))
            except KbalanceInputError as exc:
                self.show_error(exc)

    def show_error(self, exc: Exception) -> None:
        self.message.object = str(exc)
        self.message.alert_type = "danger"
        self.message.visible = True

    def export_file(self) -> io.BytesIO:
        """The state as a scenario TOML file (the download's content)."""
        return io.BytesIO(scenario_toml(self.state, "explorer", "Lever paths set in kbalance explore").encode())

    # --- runs ----------------------------------------------------------------------------

    def request(self) -> None:
        """Ask for the best fit of the current state (replacing any waiting request)."""
        self.write_url()
        self.band.cancel()
        self.status.object = tr("computing", self.lang)
        self.best.submit(self.state)

    def request_band(self) -> None:
        self.views.update_band(None)
        if self.state.members:
            self.status.object = tr("band_wait", self.lang, n=self.state.members)
            self.band.submit((self.state, self.state.members))
        else:
            self.band.cancel()
            self.status.object = ""

    def poll(self) -> None:
        """Show finished runs (called periodically on the session's own thread)."""
        self._show(self.best, self._show_best)
        self._show(self.band, self._show_band)

    def _show(self, runner: LatestOnly, show) -> None:
        """Pass the finished run of ``runner`` to ``show``, or show its error."""
        found = runner.take()
        if found is not None:
            _, result, error = found
            if error is not None:
                self.show_error(error)
            else:
                show(result)

    def _show_best(self, result) -> None:
        self.current = result
        self.redraw()
        self.request_band()

    def _show_band(self, result) -> None:
        self.views.update_band(result)
        self.status.object = tr("band_ready", self.lang, n=self.state.members)

    def redraw(self) -> None:
        if self.current is None:
            return
        base = baseline_projection()
        self.views.update(self.current, base, self.saved, self.state.region, self.state.year)
        self.table.object = change_frame(change_table(self.current, base, self.state.year), self.lang)
        self.table_title.object = f"### {tr('change', self.lang)} ({self.state.year})"
        now, was = (float(ds["capital region share"].sel(year=UNTIL)) for ds in (self.current, base))
        self.headline.object = (f"**{label('capital_share', self.lang)}, {UNTIL}:** "
                                f"<span class='capital-share'>{now:.3f}</span> "
                                f"({tr('baseline', self.lang)} {was:.3f})")

    def on_save(self, event) -> None:
        if self.current is not None:
            self.saved = [*self.saved, self.current][-MAX_SAVED:]
            self.redraw()

    def on_clear(self, event) -> None:
        self.saved = []
        self.redraw()

    # --- page ----------------------------------------------------------------------------

    def write_url(self) -> None:
        query = state_to_query(self.state)
        if pn.state.location is not None:  # the whole query, so that a variant set back to the default leaves it
            pn.state.location.search = f"?{urlencode(query)}"
        other = "en" if self.lang == "ko" else "ko"
        self.links.object = (f"<a class='lang-link' href='?{urlencode({**query, 'lang': other})}'>"
                             f"{'English' if other == 'en' else '한국어'}</a>")

    def lever_card(self, key: str):
        c, widgets = self.controls[key]
        return pn.Card(*widgets, title=c.label(self.lang), collapsed=False, sizing_mode="stretch_width",
                       header_background="#f3f3f3")

    def layout(self):
        lang = self.lang
        sidebar = pn.Column(
            pn.pane.Markdown(f"### {tr('levers', lang)}"), self.scenario, self.upload,
            pn.Row(self.buttons["reset"], self.export),
            self.variant,
            *(self.lever_card(k) for k in self.controls),
            width=360, scroll=True, height=900)
        f = self.views.figures
        main = pn.Column(
            pn.Row(pn.pane.Markdown(f"## {tr('title', lang)}"), self.links),
            self.message, self.headline, self.status,
            pn.Row(self.region, self.year, self.members, self.buttons["save"], self.buttons["clear"]),
            pn.Row(*(pn.pane.Bokeh(f[k], sizing_mode="stretch_width") for k in ("capital_share", "births", "tfr")),
                   sizing_mode="stretch_width"),
            pn.Row(*(pn.pane.Bokeh(f[k], sizing_mode="stretch_width")
                     for k in ("region_population", "region_fiscal_autonomy")), sizing_mode="stretch_width"),
            pn.Row(pn.Column(pn.pane.Bokeh(f["bloc_population"], sizing_mode="stretch_width"),
                             pn.pane.Bokeh(f["at_risk"], sizing_mode="stretch_width"), sizing_mode="stretch_width"),
                   pn.pane.Bokeh(f["map"], sizing_mode="stretch_width"),
                   pn.pane.Bokeh(f["pyramid"], sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            self.table_title, self.table,
            sizing_mode="stretch_width")
        return pn.Row(sidebar, main, sizing_mode="stretch_width")


def session(default_lang: str = "ko"):
    """The page of one browser session: the state from the URL (if any), its layout and
    the periodic callback that shows finished runs."""
    query = query_of(pn.state.session_args or {})
    query.setdefault("lang", default_lang)
    try:
        state = state_from_query(query)
    except KbalanceInputError as exc:
        state, error = baseline_state(default_lang), exc
    else:
        error = None
    explorer = Explorer(state)
    if error is not None:
        explorer.show_error(error)
    callback = pn.state.add_periodic_callback(explorer.poll, period=POLL_MS)
    pn.state.on_session_destroyed(lambda context: (callback.stop(), explorer.best.close(), explorer.band.close()))
    explorer.request()
    return explorer.layout()


FONT_ROUTE = "fonts"  # NanumGothic is served at /fonts/ so that Hangul renders without system fonts


#: Tables of font-editing sources that browsers' font sanitizers reject (NanumGothic has them).
EDITOR_TABLES = ("TSI0", "TSI1", "TSI2", "TSI3", "TSI5")


def web_font(folder: Path) -> Path | None:
    """The bundled NanumGothic (kbalance.fonts) without :data:`EDITOR_TABLES`, written
    into ``folder``; None when the font is not installed."""
    regular = [f for f in bundled_hangul_fonts() if f.stem == FONT]
    if not regular:
        return None
    font = TTFont(regular[0])
    for table in EDITOR_TABLES:
        if table in font:
            del font[table]
    path = folder / regular[0].name
    font.save(path)
    return path


def font_css(font: Path | None) -> str:
    """The @font-face rule of the font served at /:data:`FONT_ROUTE`/ and the page's
    font family (:data:`kbalance.explorer.views.FONT`, then the browser's sans-serif)."""
    rules = [] if font is None else [
        f"@font-face {{ font-family: '{FONT}'; src: url('/{FONT_ROUTE}/{font.name}') format('truetype'); }}"]
    family = f"'{FONT}', sans-serif"
    return "\n".join([*rules, f":root {{ --base-font: {family}; --bokeh-base-font: {family}; }}",
                      f"html, body {{ font-family: {family}; }}"])


def configure() -> dict[str, str]:
    """Load Panel's extension with its resources served by the local server (Panel's
    default "server" resource mode; no CDN), the plain "native" design and the bundled
    Hangul font; returns the static folders to serve (route → folder)."""
    folder = Path(tempfile.mkdtemp(prefix="kbalance-explorer-fonts-"))
    font = web_font(folder)
    pn.extension(design="native", inline=False, global_css=[font_css(font)])
    return {FONT_ROUTE: str(folder)} if font else {}


def serve(port: int = 5006, lang: str = "ko", show: bool = False):
    """Serve the explorer on http://127.0.0.1:<port>/ until interrupted."""
    static = configure()
    baseline_projection()  # compile the engine and run the baseline before the first page
    return pn.serve({"/": lambda: session(lang)}, port=port, address=HOST, show=show, title=tr("title", lang),
                    allow_websocket_origin=[f"{HOST}:{port}", f"localhost:{port}"], static_dirs=static,
                    threaded=False, print_url=True)


__all__ = ["Explorer", "baseline_projection", "best_fit", "configure", "ensemble_band", "query_of", "serve", "session",
           "variant_options"]
