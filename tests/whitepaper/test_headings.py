"""Workbook headings: every column of the white paper's tables named for readers in the
report's language, units in brackets."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from kbalance.whitepaper import headings, tables

RAW = re.compile(r"[a-z0-9_]+")


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_column_of_every_table_has_a_heading_in_the_language(small_whitepaper, lang):
    built = tables.build_tables(small_whitepaper)
    hangul = re.compile(r"[\uac00-\ud7a3]")
    for name, table in built.items():
        shown = headings.sheet(table, lang, {"pop_registered": "persons"}, name)
        raw = [c for c in map(str, shown.columns) if RAW.fullmatch(c) and not c.isdigit()]
        assert not raw, (name, raw)
        produced = [headings.heading(str(k), lang, name) for k in table.columns if not str(k).isdigit()]
        if lang == "en":
            assert not [c for c in produced if hangul.search(c)], name
        else:  # every heading that names a thing in words is Korean
            words = [c for c in produced if re.search(r"[A-Za-z]{4,}", c) and not re.search(r"MAPE|RMSE|Sobol|Theil|KOSIS|toml|docs", c)]
            assert all(hangul.search(c) for c in words), (name, words)

def test_quantile_columns_say_where_their_unit_is_and_a_fit_table_gets_its_units():
    assert headings.heading("q05", "en") == "5 % [unit column]" and headings.heading("q50", "ko") == "중앙값 [단위 열]"
    fit = pd.DataFrame({"target": ["population"], "series": ["pop_registered"], "rmse_pooled": [30317.0],
                        "mape_pooled": [0.9]})
    shown = headings.sheet(fit, "en", {"pop_registered": "persons"}, "fit_statistics")
    assert list(shown.columns) == ["Calibration target", "Observed series", "RMSE, pooled [unit of the series]",
                                   "Unit of the series", "MAPE, pooled [%]"]
    assert shown.iloc[0].tolist() == ["population", "pop_registered", 30317.0, "persons", 0.9]  # numbers stay numbers
    levers = headings.sheet(pd.DataFrame({"target": [1.0]}), "ko", None, "scenario_levers")
    assert list(levers.columns) == ["목표값 [단위 열]"]
    assert headings.heading("2030", "en") == "2030"
    effects = headings.sheet(pd.DataFrame({"indicator": ["population"], "q50": [0.1]}), "en", None, "complementarity")
    assert list(effects.columns) == ["Indicator", "median [unit of the indicator]"]  # no unit column to point to
