"""report.html: self-contained, in the language asked, rendered by headless Chromium,
with the folder's final name in its footer."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from kbalance.model.variants import default_variant, read_variants
from kbalance.whitepaper import figures, page

CHROMIUM = Path("/usr/bin/chromium")


def test_report_html_is_self_contained_and_korean(whitepaper_folder):
    html = (whitepaper_folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html, re.IGNORECASE)
    assert "<link" not in html and "<script" not in html
    assert "@font-face{font-family:'KbalanceHangul'" in html and "url(data:font/woff;base64," in html
    assert html.count("data:image/png;base64,") >= len(figures.FIGURES) - 1
    assert "<html lang='ko'>" in html and "주요 결과" in html and "보정" in html
    for section in ("summary", "method", "data", "fit", "scenarios", "results", "complementarity",
                    "sensitivity", "caveats"):
        assert f"id='{section}'" in html
    assert "mobility" in html  # the sensitivity top factors
    # lever units and labels in Korean (model/levers.toml unit_ko, label_ko); differences of % in %p
    assert "trillion KRW/year" not in html and "조 원/년" in html and "%p" in html


def test_footer_names_the_final_folder(whitepaper_folder):
    html = (whitepaper_folder / "report.html").read_text(encoding="utf-8")
    footer = re.search(r"<footer>(.*?)</footer>", html, re.DOTALL).group(1)
    assert whitepaper_folder.name in footer and "· ." not in footer


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_report_renders_in_headless_chromium(whitepaper_folder, tmp_path):
    probe = ("<script>window.addEventListener('load',function(){var i=Array.from(document.images);"
             "var bad=i.filter(function(x){return !(x.complete&&x.naturalWidth>0);}).length;"
             "var p=document.createElement('pre');p.id='imgcheck';p.textContent='images='+i.length+' broken='+bad;"
             "document.body.appendChild(p);});</script>")
    copy = tmp_path / "report.html"
    copy.write_text((whitepaper_folder / "report.html").read_text(encoding="utf-8").replace("</body>", probe + "</body>"),
                    encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000"]
    dom = subprocess.run([str(CHROMIUM), *flags, "--dump-dom", copy.as_uri()], capture_output=True, text=True,
                         timeout=180, check=False)
    found = re.search(r"images=(\d+) broken=(\d+)", dom.stdout)
    assert found, dom.stderr[-2000:]
    assert int(found.group(1)) >= len(figures.FIGURES) - 1 and found.group(2) == "0"
    shot = tmp_path / "screenshot.png"
    subprocess.run([str(CHROMIUM), *flags, "--window-size=1280,2400", f"--screenshot={shot}", copy.as_uri()],
                   capture_output=True, timeout=180, check=True)
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_report_without_sensitivity_folder_says_how_to_add_one(small_whitepaper):
    wp = replace(small_whitepaper, lang="en", sensitivity=None)
    assert "kbalance sensitivity" in page.sensitivity_html(wp, {})


def test_findings_name_the_tax_targets_of_the_scenarios(small_whitepaper):
    wp = replace(small_whitepaper, lang="en")
    text = " ".join(page.findings(wp))
    assert "70:30 national:local tax target (local 30 %)" in text
    assert "60:40 national:local tax target (local 40 %)" in text


def test_every_reference_key_on_the_page_is_resolved(whitepaper_folder):
    html = (whitepaper_folder / "report.html").read_text(encoding="utf-8")
    body, references = html.split("<section id='references'>")
    cited = set(re.findall(r"\bR\d+\b", re.sub(r"data:[^\"')\s]+", "", body)))
    assert cited and all(f"<b>{k}</b>" in references for k in cited)
    assert "(not listed in docs/references.md)" not in references


#: Boxes of text blocks on the rendered page: the page wider than the window, text running
#: out of the column (outside a scrolling table box) and blocks drawn over one another.
LAYOUT_PROBE = """() => {
  const inner = window.innerWidth;
  const blocks = Array.from(document.querySelectorAll('h1,h2,h3,p,figcaption,figure,nav'));
  const boxes = blocks.map(e => [e, e.getBoundingClientRect()]).filter(([e, r]) => r.width > 0 && r.height > 0);
  const column = document.body.getBoundingClientRect();
  const out = boxes.filter(([e, r]) => !e.closest('.scroll') && r.right > column.right + 1)
                   .map(([e, r]) => e.tagName + ': ' + e.textContent.slice(0, 60));
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (w > 2 && h > 2) overlaps.push(a.tagName + ' / ' + b.tagName + ': ' + a.textContent.slice(0, 40));
  }
  const clippedCells = Array.from(document.querySelectorAll('.scroll')).filter(
      s => s.scrollWidth > s.clientWidth + 1 && getComputedStyle(s).overflowX === 'hidden').length;
  return {pageWidth: document.scrollingElement.scrollWidth, inner: inner, out: out, overlaps: overlaps,
          clippedTables: clippedCells, images: document.images.length,
          broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length};
}"""


@pytest.fixture(scope="module")
def english_report(english_screened) -> Path:
    """The English report of the small white paper, written with its figures (and its screening)."""
    return english_screened[0] / "report.html"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_both_languages_render_without_clipped_or_overlapping_text(whitepaper_folder, english_report):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for report, lang in ((whitepaper_folder / "report.html", "ko"), (english_report, "en")):
                page_ = browser.new_page(viewport={"width": 1280, "height": 900})
                page_.goto(report.as_uri())
                page_.wait_for_load_state("load")
                found = page_.evaluate(LAYOUT_PROBE)
                assert found["pageWidth"] <= found["inner"], (lang, found["pageWidth"])
                assert not found["out"] and not found["overlaps"], (lang, found["out"][:5], found["overlaps"][:5])
                assert found["images"] >= len(figures.FIGURES) - 1 and found["broken"] == 0, lang
                assert page_.evaluate("document.documentElement.lang") == lang
                page_.close()
        finally:
            browser.close()


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_caveats_say_what_the_ensemble_samples(small_whitepaper, lang):
    wp = replace(small_whitepaper, lang=lang)
    text = page.caveats_html(wp)
    assert "<code>tfr path deviation</code>" in text and "<code>mortality index drift</code>" in text
    assert "mortality improvement" not in text and "사망률 개선" not in text and "출산 추세" not in text


def test_method_states_the_variant_and_the_population_sector(small_whitepaper):
    wp = replace(small_whitepaper, lang="en", variant="low")
    text = page.method_html(wp)
    assert "<code>low</code>" in text and read_variants()["low"].label_en in text
    assert "--variant KEY" in text and "<b>Jump-off.</b>" in text
    assert page.variant_label(replace(small_whitepaper, variant=None))[0] == default_variant()


#: Texts of a source line that names no table.
NO_TABLE = ("not stated", "source not", "출처 미상", "출처 없음")


def test_every_source_line_names_a_table_in_both_languages(whitepaper_folder, english_report):
    for report in (whitepaper_folder / "report.html", english_report):
        text = report.read_text(encoding="utf-8")
        assert not [t for t in NO_TABLE if t in text], report
        assert "national_tax_revenue" in text  # the series whose line fell back is listed with its table
    for lang in ("en", "ko"):
        rows = re.findall(r"<tr>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", page.data_html(lang))
        assert rows and all(ident.strip() and name.strip() for ident, name in rows)
