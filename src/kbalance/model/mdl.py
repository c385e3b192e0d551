"""The model file, loaded once: model/kbalance.mdl as PySD parses and translates it.

Every part of the package that needs the model's equations reads them from here:

- :func:`abstract_model`: PySD's parse of the file (``VensimFile(...).parse()``, then
  ``get_abstract_model()``), the equations as syntax trees;
- :func:`load_model`: the PySD model, translated from a copy of the file and its input
  tables in a cache folder outside the checkout (PySD writes the translated ``.py``
  beside the file it translates, so the checkout stays untouched);
- :func:`documentation`: PySD's documentation table (units, limits, comments);
- :func:`scalar_constants`: value and limits of every scalar constant (the lever limits
  that scenario files are checked against).

Each is computed once per process and again only when :func:`model_key` changes: the
modification times of model/kbalance.mdl and model/inputs/*.csv.
"""

from __future__ import annotations

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

from kbalance.errors import InvalidValueError, MissingFileError
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
    vensim = VensimFile(copy)
    vensim.parse()
    return Path(ModelBuilder(vensim.get_abstract_model()).build_model())


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
    with quiet_pysd():
        return pysd.load(str(_translation(key)))


@lru_cache(maxsize=1)
def _abstract_model(key: tuple):
    with quiet_pysd():
        vensim = VensimFile(model_file())
        vensim.parse()
        return vensim.get_abstract_model()


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


__all__ = [
    "abstract_model", "cache_dir", "documentation", "input_tables", "load_model", "model_key",
    "quiet_pysd", "scalar_constants", "translate_into",
]
