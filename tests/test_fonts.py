"""Hangul fonts for matplotlib: the bundled NanumGothic files, glyph coverage, the default family."""

from __future__ import annotations

import io
import warnings

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib import font_manager

from kbalance import fonts

#: Words the figures print in Korean.
KOREAN_WORDS = "수도권 인구 비중 소멸위험지수 합계출산율 재정자립도"

#: matplotlib's own font: Latin, Greek and symbols, no Hangul.
DEJAVU = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"), fallback_to_default=False)


def test_bundled_fonts_are_nanum_gothic_ttf_files():
    found = fonts.bundled_hangul_fonts()
    if not found:
        pytest.skip("koreanize-matplotlib is not installed")
    assert all(path.is_file() and path.suffix == ".ttf" for path in found)
    assert any(path.name == "NanumGothic.ttf" for path in found)
    assert found == sorted(found)
    assert all(fonts.font_has_glyphs(path, KOREAN_WORDS) for path in found)


def test_font_has_glyphs_tells_missing_hangul():
    assert fonts.font_has_glyphs(DEJAVU, "Population share – 2070 (5–95 %)")
    assert not fonts.font_has_glyphs(DEJAVU, "인구")
    assert not fonts.font_has_glyphs(DEJAVU, "Population 인구")   # one missing character is enough
    assert fonts.font_has_glyphs(DEJAVU, " \t\n")                   # spaces need no glyph


def test_korean_font_renders_hangul_without_missing_glyphs():
    with matplotlib.rc_context():
        family = fonts.use_korean_font()
        assert family in fonts.HANGUL_FAMILIES
        assert matplotlib.rcParams["font.family"] == [family, "DejaVu Sans"]
        assert matplotlib.rcParams["axes.unicode_minus"] is False
        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        assert fonts.font_has_glyphs(path, KOREAN_WORDS)
        fig, ax = plt.subplots()
        ax.set_title("수도권 인구 비중 – 2070년 (5–95 %)")
        ax.set_xlabel("연도 (1월 1일 기준)")
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*[Gg]lyph.*missing.*")
            fig.savefig(io.BytesIO(), format="png")
            fig.savefig(io.BytesIO(), format="svg")
        plt.close(fig)
