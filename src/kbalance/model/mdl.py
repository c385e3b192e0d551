"""The model file, loaded once: model/kbalance.mdl as PySD parses and translates it.

Every part of the package that needs the model's equations reads them from here:

- :func:`abstract_model`: PySD's parse of the file (``VensimFile(...).parse()``, then
  ``get_abstract_model()``), the equations as syntax trees;
- :func:`load_model`: the PySD model, translated from a copy of the file and its input
  tables in a cache folder outside the checkout (PySD writes the translated ``.py``
  beside the file it translates, so the checkout stays untouched);
- :func:`documentation`: PySD's documentation table (units, limits, comments);
- :func:`scalar_constants`: value and limits of every scalar constant (the lever limits
  that scenario files are checked against);
- :func:`variable_names`, :func:`subscript_ranges`: what parameter files are checked against.

A model file that PySD cannot parse or translate (an equation without its ``|``, a
variable used but not defined, a truncated or empty file) raises
:class:`~kbalance.errors.ModelFileError` naming the file and, where PySD's error shows
it, the equation.

Each is computed once per process and again only when :func:`model_key` changes: the
modification times of model/kbalance.mdl and model/inputs/*.csv.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pysd
from pysd.translators.vensim.vensim_file import VensimFile

from kbalance.errors import InvalidValueError, KbalanceInputError, MissingFileError, ModelFileError
from kbalance.outputs import file_hash, write_new_folder
from kbalance.paths import model_dir, model_file


@contextmanager
def quiet_pysd():
    """Silence PySD's per-step notices (data held past their last year, mixed-type
    definitions, deprecations of its dependencies); they are expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pysd(\..*)?")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


def equation_at_fault(exc: BaseException) -> str:
    """The equation PySD was parsing or translating when it raised ``exc``: the name of the
    innermost element or component on the traceback, else the start of the entry's text,
    else "(file)"."""
    found = "(file)"
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        name = getattr(owner, "name", None)
        equation = getattr(owner, "equation", None)
        if isinstance(name, str) and name and type(owner).__module__.startswith("pysd"):
            found = name
        elif isinstance(equation, str) and equation.strip() and type(owner).__module__.startswith("pysd"):
            found = " ".join(equation.split())[:60]
        tb = tb.tb_next
    return found


def model_file_problem(exc: BaseException) -> str:
    """What went wrong, in words, from PySD's exception."""
    if isinstance(exc, KeyError):
        return f"uses {exc.args[0]!r}, which no equation defines (a deleted or misspelt variable or subscript)"
    if isinstance(exc, UnicodeDecodeError):
        return f"byte {exc.start} is not UTF-8"
    if isinstance(exc, UserWarning):
        return " ".join(str(exc).split()).replace(". The translated model will crash...", "")
    text = " ".join(str(exc).split())[:300]
    return f"PySD cannot read it ({type(exc).__name__}: {text})"


@contextmanager
def model_file_errors():
    """Turn any error of PySD's parser, builder or loader into a ModelFileError naming
    model/kbalance.mdl and the equation at fault; a file that is not UTF-8 text is one too."""
    try:
        model_file().read_bytes().decode("utf-8")
        yield
    except (KbalanceInputError, OSError):
        raise
    except Exception as exc:
        raise ModelFileError(model_file(), equation_at_fault(exc), model_file_problem(exc)) from exc


def input_tables() -> list[Path]:
    """model/inputs/*.csv: the tables the model file reads, sorted by name."""
    return sorted((model_dir() / "inputs").glob("*.csv"))


def model_key() -> tuple:
    """The cache key of everything this module loads: the model file's path and the
    modification times [ns] of it and of its input tables. MissingFileError without
    the model file."""
    path = model_file()
    if not path.is_file():
        raise MissingFileError(path, "model", "model/kbalance.mdl")
    return (str(path), path.stat().st_mtime_ns, *((p.name, p.stat().st_mtime_ns) for p in input_tables()))


def cache_dir() -> Path:
    """The folder of translated copies of the model, in the system's temporary folder
    (one per user)."""
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"kbalance-{user}" / "models"


def translate_into(folder: Path) -> Path:
    """Copy model/kbalance.mdl and model/inputs/ into ``folder`` and translate the copy
    with PySD; returns the translated ``kbalance.py``. PySD's warnings are not silenced
    here (a clean model file translates without any)."""
    from pysd.builders.python.python_model_builder import ModelBuilder

    folder = Path(folder)
    copy = folder / model_file().name
    shutil.copyfile(model_file(), copy)
    (folder / "inputs").mkdir(exist_ok=True)
    for table in input_tables():
        shutil.copyfile(table, folder / "inputs" / table.name)
    with model_file_errors(), warnings.catch_warnings():
        # a function PySD does not implement would only fail when the model runs
        warnings.filterwarnings("error", message="Trying to translate .* which it is not implemented", category=UserWarning)
        vensim = VensimFile(copy)
        vensim.parse()
        abstract = vensim.get_abstract_model()
        check_coverage(abstract, model_file())
        return Path(ModelBuilder(abstract).build_model())


def _translation(key: tuple) -> Path:
    """The translated model file for ``key``: in a cache folder named by the contents of
    the model file and its inputs and by PySD's version, translated on first use. The
    folder is written atomically, so processes starting at once share one translation."""
    name = f"{file_hash([model_file(), *input_tables()])[:20]}-pysd{pysd.__version__}"
    folder = cache_dir() / name
    translated = folder / model_file().with_suffix(".py").name
    if not translated.is_file():
        try:
            with quiet_pysd():
                write_new_folder(folder, translate_into)
        except (InvalidValueError, OSError):
            if not translated.is_file():  # not another process's translation: a real failure
                raise
    return translated


@lru_cache(maxsize=1)
def _pysd_model(key: tuple):
    translated = _translation(key)
    with quiet_pysd(), model_file_errors():
        return pysd.load(str(translated))


@lru_cache(maxsize=1)
def _abstract_model(key: tuple):
    with quiet_pysd(), model_file_errors():
        vensim = VensimFile(model_file())
        vensim.parse()
        abstract = vensim.get_abstract_model()
        check_coverage(abstract, model_file())
        return abstract


def uncovered_cells(abstract) -> dict[str, int]:
    """Variables of PySD's abstract model whose definitions leave cells of their subscripts
    undefined: name → the count of cells no definition covers. A variable's dimension at
    each position is the largest subscript range holding every element its definitions
    name there (a definition on a subrange plus one on the rest covers the range)."""
    section = abstract.sections[0]
    ranges = ranges_of(abstract)
    out = {}
    for element in section.elements:
        parts = [c.subscripts[0] for c in element.components if c.subscripts and c.subscripts[0]]
        if not parts or len({len(p) for p in parts}) != 1:
            continue
        cells = set()
        for part in parts:
            cells |= set(itertools.product(*(ranges.get(s, (s,)) for s in part)))
        full = 1
        for i in range(len(parts[0])):
            named = {cell[i] for cell in cells}
            holding = [r for r in ranges.values() if named <= set(r)]
            full *= max((len(r) for r in holding), default=len(named))
        if len(cells) < full:
            out[element.name] = full - len(cells)
    return out


def check_coverage(abstract, path: Path) -> None:
    """Refuse a model file in which a subscripted variable's definitions leave cells
    undefined (say one of its two definitions was deleted), naming the file and the variable."""
    missing = uncovered_cells(abstract)
    if missing:
        name, count = next(iter(missing.items()))
        raise ModelFileError(path, name, f"{count} cells of its subscripts have no definition "
                                         "(a definition of the variable for part of its range is missing)")


def load_model():
    """The PySD model of model/kbalance.mdl (translated once, then loaded once per process).

    The object is shared: a caller that sets parameters calls ``reload()`` first.
    """
    return _pysd_model(model_key())


def abstract_model():
    """PySD's abstract model of model/kbalance.mdl (its parse; nothing is written)."""
    return _abstract_model(model_key())


def documentation() -> pd.DataFrame:
    """PySD's documentation table of the model: one row per variable with "Real Name",
    "Py Name", "Subscripts", "Units", "Limits", "Type", "Subtype" and "Comment"."""
    return load_model().doc


def _limit(value, default: float) -> float:
    return default if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@lru_cache(maxsize=1)
def _scalar_constants(key: tuple) -> dict[str, tuple[float, float, float]]:
    out = {}
    for element in _abstract_model(key).sections[0].elements:
        component = element.components[0]
        value = component.ast
        if (len(element.components) == 1 and not component.subscripts[0]
                and isinstance(value, (int, float)) and not isinstance(value, bool)):
            low, high = element.limits
            out[element.name] = (float(value), _limit(low, -math.inf), _limit(high, math.inf))
    return out


def scalar_constants() -> dict[str, tuple[float, float, float]]:
    """Value, low and high limit of every scalar constant written as a number in the
    model file: name → (value, low, high) [the constant's unit]; an open limit ("?") is
    -inf or inf."""
    return dict(_scalar_constants(model_key()))


def ranges_of(abstract) -> dict[str, tuple[str, ...]]:
    """The elements of every subscript range of PySD's abstract model: range name → element
    names (an alias, such as "To Region: Region", names another range instead of listing them)."""
    declared = {r.name: r.subscripts for r in abstract.sections[0].subscripts}
    return {name: tuple(declared.get(value, ()) if isinstance(value, str) else value)
            for name, value in declared.items()}


@lru_cache(maxsize=1)
def _subscript_ranges(key: tuple) -> dict[str, tuple[str, ...]]:
    return ranges_of(_abstract_model(key))


def subscript_ranges() -> dict[str, tuple[str, ...]]:
    """The elements of every subscript range of the model file, in order: range name →
    element names (an alias, such as "To Region", gives its range's elements)."""
    return dict(_subscript_ranges(model_key()))


def variable_names() -> frozenset[str]:
    """The names of every variable and constant defined in the model file."""
    return frozenset(element.name for element in _abstract_model(model_key()).sections[0].elements)


__all__ = [
    "abstract_model", "cache_dir", "check_coverage", "documentation", "equation_at_fault", "input_tables", "load_model",
    "model_file_errors", "model_file_problem", "model_key", "quiet_pysd", "ranges_of", "scalar_constants",
    "subscript_ranges", "translate_into", "uncovered_cells", "variable_names",
]
