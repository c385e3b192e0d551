"""Fonts for figures in Korean: NanumGothic bundled with koreanize-matplotlib, or a system
Hangul font."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

#: Families tried, in order, when koreanize-matplotlib's bundled NanumGothic is missing.

HANGUL_FAMILIES = ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", "AppleGothic",
                   "UnDotum", "Baekmuk Gulim")


def bundled_hangul_fonts() -> list[Path]:
    """The TTF files koreanize-matplotlib ships, found without importing it (its import
    rewrites rcParams and, on Python >= 3.12, needs distutils)."""
    spec = find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(Path(next(iter(spec.submodule_search_locations))).glob("fonts/*.ttf"))


def font_has_glyphs(path: str | Path, text: str) -> bool:
    """True when the font file maps every non-space character of ``text`` to a glyph."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(path))
    return all(font.get_char_index(ord(ch)) != 0 for ch in text if not ch.isspace())


def use_korean_font() -> str:
    """Make matplotlib draw Hangul: register NanumGothic (bundled with koreanize-matplotlib,
    a pip dependency) or a system Hangul font, and set it as the default family with
    DejaVu Sans as the per-glyph fallback (symbols such as – ≤ ²).

    Returns the family name used. Raises RuntimeError when no font renders Hangul.
    """
    import matplotlib
    from matplotlib import font_manager

    probe = "가나다한글인구"
    for path in bundled_hangul_fonts():
        font_manager.fontManager.addfont(str(path))
    for family in HANGUL_FAMILIES:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        if font_has_glyphs(path, probe):
            matplotlib.rcParams["font.family"] = [family, "DejaVu Sans"]
            matplotlib.rcParams["axes.unicode_minus"] = False
            matplotlib.rcParams["svg.fonttype"] = "path"  # glyphs as outlines: no font needed to view
            return family
    raise RuntimeError("no installed font renders Hangul: pip install koreanize-matplotlib "
                       "(bundles NanumGothic) or install fonts-nanum")
