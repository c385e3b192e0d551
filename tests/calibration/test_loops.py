"""Loop strengths: every named loop of docs/model.md measured on the shipped fitted set."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from kbalance.calibration.loops import knockout_table, loop_strengths, read_loops
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import shipped_parameter_set
from kbalance.paths import project_root


def loop_names_in_model_md() -> set[str]:
    text = (project_root() / "docs" / "model.md").read_text(encoding="utf-8")
    feedback = text.split("## Feedback loops", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"\*\*([RB]\d+) ", feedback)) | set(re.findall(r"\*\*B5\*\* and \*\*(B6)", feedback))


LOOPS, NOT_MEASURED = read_loops()


def test_every_named_loop_is_measured_or_says_why_not():
    measured = {part for loop in LOOPS for part in loop.name.split("+")} | set(NOT_MEASURED)
    names = loop_names_in_model_md()
    assert len(names) >= 14 and names <= measured


def test_the_knockouts_cut_one_loop_each():
    table = knockout_table(shipped_parameter_set(), LOOPS)
    assert len(table) == len(LOOPS) + 1
    changed = (table.iloc[1:].to_numpy() != table.iloc[0].to_numpy()).any(axis=1)
    assert changed.sum() >= len(LOOPS) - 2  # a knockout of a constant fitted to 0 changes nothing
    assert (table.iloc[1:].to_numpy() <= np.maximum(table.iloc[0].to_numpy(), 0)).all()


@pytest.fixture(scope="module")
def strengths() -> pd.DataFrame:
    return loop_strengths()


def test_loop_strengths_of_the_shipped_set_are_finite_and_signed(strengths):
    assert list(strengths["loop"]) == [loop.name for loop in LOOPS]
    assert np.isfinite(strengths[["response", "response_without", "strength"]]).all().all()
    assert (strengths["regions"] == 16).all()  # Sejong has no stock at the start
    by = strengths.set_index("loop")["strength"]
    assert by["B6"] < 0 and by["B5"] < 0  # leaving and dying absorb a population shock
    assert by["R7"] > 0 and by["R1"] > 0  # births and R&D agglomeration carry it on
    shock = strengths.groupby("shock")["response"].nunique()
    assert (shock == 1).all()  # one response with every loop per kind of shock
    assert ((strengths["response"] > 0) & (strengths["response"] < 2)).all()


def test_the_loop_strengths_in_model_md_have_the_computed_signs(strengths):
    text = (project_root() / "docs" / "model.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (R\d\+B\d|[RB]\d) \| [^|]+\| [^|]+\| ([−+-]?[\d.]+) \|", text, re.M))
    assert set(rows) == set(strengths["loop"])
    for loop, strength in strengths.set_index("loop")["strength"].items():
        documented = float(rows[loop].replace("−", "-"))
        assert np.sign(round(documented, 3)) == np.sign(round(strength, 3)), loop


@pytest.mark.parametrize("text, field", [('[X1]\nshock = "jobs"\nknockout = ["mobility"]\n', "'X1.shock'"),
                                         ('[X1]\nshock = "population"\nknockout = []\n', "'X1.knockout'")])
def test_a_broken_loops_file_names_the_field(tmp_path, text, field):
    path = tmp_path / "loops.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidValueError, match=field):
        read_loops(path)
