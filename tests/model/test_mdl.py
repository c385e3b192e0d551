"""The model layer: one cached load of model/kbalance.mdl, translated outside the checkout."""

from __future__ import annotations

import math
import os
import re
import shutil
import warnings
from pathlib import Path

import pytest

from kbalance.errors import ModelFileError
from kbalance.model import mdl
from kbalance.model.inputs import read_levers
from kbalance.paths import model_dir, model_file, project_root


def test_model_file_translates_without_warnings(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        translated = mdl.translate_into(tmp_path)
    own = [w for w in caught if "chardet" not in str(w.message)]
    assert not own, [str(w.message) for w in own]
    assert translated == tmp_path / "kbalance.py" and translated.stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "inputs").iterdir()) == [p.name for p in mdl.input_tables()]


def test_loading_writes_nothing_into_the_checkout():
    model = mdl.load_model()
    translated = Path(model.py_model_file).resolve()
    assert mdl.cache_dir().resolve() in translated.parents
    assert project_root().resolve() not in translated.parents
    assert not (model_dir() / "kbalance.py").exists(), (
        "model/kbalance.py is in the checkout (left by an older version? delete it)")


def test_one_load_per_process():
    assert mdl.load_model() is mdl.load_model()
    assert mdl.abstract_model() is mdl.abstract_model()


def _open(limit, side: float) -> float:
    return side if limit is None or limit != limit else float(limit)


def test_the_parse_and_the_translation_describe_the_same_model():
    doc = mdl.documentation().set_index("Real Name")
    elements = {el.name: el for el in mdl.abstract_model().sections[0].elements}
    assert len(elements) > 200 and set(elements) <= set(doc.index)
    constants = mdl.scalar_constants()
    assert len(constants) > 100
    model = mdl.load_model()
    with mdl.quiet_pysd():
        model.reload()  # the values of the model file (a run may have set others)
        values = {name: model[name] for name in constants}
    for name, (value, low, high) in constants.items():
        limits = doc.at[name, "Limits"]
        assert (low, high) == (_open(limits[0], -math.inf), _open(limits[1], math.inf)), name
        assert values[name] == value, name


def test_every_lever_constant_has_a_value_and_limits():
    constants = mdl.scalar_constants()
    assert constants["consumption tax start year"] == (2100.0, 2025.0, 2100.0)
    names = [lever[role] + suffix for lever in read_levers().values() for role in ("start", "ramp")
             if role in lever for suffix in ("", " 2")]
    assert len(names) > 10
    for name in names:
        if name in constants or not name.endswith(" 2"):  # second steps: only levers that have one
            value, low, high = constants[name]
            assert math.isfinite(low) and math.isfinite(high) and low <= value <= high, name


@pytest.fixture
def model_copy(tmp_path, monkeypatch):
    """A writable copy of model/kbalance.mdl and model/inputs/ that the model layer reads."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copyfile(model_dir() / "kbalance.mdl", folder / "kbalance.mdl")
    shutil.copytree(model_dir() / "inputs", folder / "inputs")
    monkeypatch.setattr(mdl, "model_file", lambda: folder / "kbalance.mdl")
    monkeypatch.setattr(mdl, "model_dir", lambda: folder)
    return folder


def test_an_edited_model_file_or_input_is_read_again(model_copy):
    first = mdl.model_key()
    assert mdl.scalar_constants()["consumption tax start year"][1:] == (2025.0, 2100.0)
    path = model_copy / "kbalance.mdl"
    text = path.read_text(encoding="utf-8")
    assert text.count("[2025,2100]") >= 1
    path.write_text(text.replace("[2025,2100]", "[2024,2099]"), encoding="utf-8")
    os.utime(path, ns=(first[1] + 10**9, first[1] + 10**9))
    assert mdl.model_key() != first
    assert mdl.scalar_constants()["consumption tax start year"][1:] == (2024.0, 2099.0)
    table = model_copy / "inputs" / "scalars.csv"
    before = mdl.model_key()
    os.utime(table, ns=(table.stat().st_mtime_ns + 10**9,) * 2)
    assert mdl.model_key() != before


def test_a_missing_model_file_is_named(model_copy):
    (model_copy / "kbalance.mdl").unlink()
    with pytest.raises(FileNotFoundError, match="kbalance.mdl"):
        mdl.load_model()


def _delete_equation(text: str, name: str) -> str:
    """``text`` without the equation of ``name`` (from its first line to its closing |)."""
    edited, count = re.subn(rf"^{re.escape(name)}=\n(?:.*\n)*?.*\|\n", "", text, count=1, flags=re.M)
    assert count == 1, name
    return edited


@pytest.mark.parametrize("corrupt, load, field, problem", [
    (lambda text: "", "abstract_model", "(file)", "ParseError"),
    (lambda text: text.replace("|", "", 1), "abstract_model", "****", "ParseError"),
    (lambda text: text.replace("regional mortality ratio[Region]=\n\t1", "regional mortality ratio[Region]=\n\t(1", 1), "abstract_model",
     "regional mortality ratio", "ParseError"),
    (lambda text: text[: len(text) // 2], "load_model", "Population", "uses 'time_step', which no equation defines"),
    (lambda text: _delete_equation(text, "regional mortality ratio[Region]"), "load_model", "regional mortality level",
     "uses 'regional_mortality_ratio', which no equation defines"),
    (lambda text: _delete_equation(text, "regional fertility factor[Region]"), "load_model", "total fertility rate",
     "uses 'regional_fertility_factor'"),
    # translated, then failed inside the engine when run
    (lambda text: text.replace("regional mortality ratio[Region]=\n\t1", "regional mortality ratio[Region]=\n\tFOOBAR(1)", 1), "load_model",
     "regional mortality ratio", "'FOOBAR' which it is not implemented"),
    (lambda text: b"\xff\xfe" + text.encode("utf-8"), "abstract_model", "(file)", "byte 0 is not UTF-8"),
    # one of a variable's two definitions deleted: its other cells would be undefined
    (lambda text: _delete_equation(text, "ageing share[Younger]"), "abstract_model", "ageing share",
     "100 cells of its subscripts have no definition"),
    (lambda text: _delete_equation(text, "ageing share[Younger]"), "load_model", "ageing share",
     "100 cells of its subscripts have no definition"),
])
def test_a_corrupt_model_file_names_the_file_and_the_equation(model_copy, corrupt, load, field, problem):
    path = model_copy / "kbalance.mdl"
    text = corrupt(path.read_text(encoding="utf-8"))
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(ModelFileError) as info:  # was a PySD KeyError or ParseError
        getattr(mdl, load)()
    error = info.value
    assert error.path == str(path) and error.field.startswith(field), str(error)
    assert problem in str(error) and "a complete Vensim model file" in str(error)


def test_the_shipped_model_defines_every_cell_of_every_variable():
    assert mdl.uncovered_cells(mdl.abstract_model()) == {}


def test_subscript_ranges_and_variable_names():
    ranges = mdl.subscript_ranges()
    assert len(ranges["Region"]) == 17 and ranges["Region"][0] == "Seoul"
    assert ranges["To Region"] == ranges["Region"]  # an alias
    assert ranges["Sex"] == ("Male", "Female") and len(ranges["Age"]) == 101
    names = mdl.variable_names()
    assert {"mortality index drift", "regional fertility factor", "consumption tax start year"} <= names


def closes_at_end(text: str) -> bool:
    """Whether the parenthesis that opens ``text`` closes at its last character."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char == ")":
            return i == len(text) - 1
    return False


def test_initial_is_only_ever_the_whole_right_hand_side_of_an_equation():
    # Vensim's rule: INITIAL(x) stands alone; an expression uses a variable defined as INITIAL(x)
    text = model_file().read_text(encoding="utf-8").split("\\\\\\---///")[0]
    uses = []
    for equation in text.split("|"):
        left, _, right = equation.split("~")[0].partition("=")
        right = " ".join(right.split())
        if "INITIAL(" in right:
            uses.append(left.strip())
            alone = right.startswith("INITIAL(") and closes_at_end(right[len("INITIAL"):])
            assert alone and right.count("INITIAL(") == 1, (left.strip(), right)
    assert len(uses) >= 9
