"""Where the project's own files are: model/, calibration/ and outputs/.

The project root is, in order: the ``KBALANCE_HOME`` environment variable; the
nearest folder above the working directory holding ``model/regions.csv``; the
checkout this package was installed from (editable install).
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path

from kbalance.errors import InvalidValueError, MissingFileError

_MARKER = Path("model") / "regions.csv"


@lru_cache(maxsize=1)
def project_root() -> Path:
    """The kbalance project folder (holding model/, calibration/, outputs/)."""
    env = os.environ.get("KBALANCE_HOME")
    if env:
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / _MARKER).is_file():
                return folder
    raise FileNotFoundError(
        "kbalance project folder not found: set KBALANCE_HOME or run inside a checkout "
        "(a folder holding model/regions.csv)"
    )


def model_dir() -> Path:
    """model/: the model file, scenarios and regions table."""
    return project_root() / "model"


def model_file() -> Path:
    """model/kbalance.mdl: the model's equations."""
    return model_dir() / "kbalance.mdl"


def calibration_dir() -> Path:
    """calibration/: observations, sources, parameters and fitted sets."""
    return project_root() / "calibration"


def read_toml(path: str | Path, what: str, expected: str) -> dict:
    """A TOML file as a dict; MissingFileError or InvalidValueError (naming the file) otherwise.

    what : the kind of file, for the message; expected : what should be there
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, what, expected)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValueError(path, "(file)", str(exc), "valid TOML") from exc
    except UnicodeDecodeError as exc:
        raise InvalidValueError(path, "(file)", f"byte {exc.start} is not UTF-8", "UTF-8 encoded TOML") from exc


def outputs_dir() -> Path:
    """outputs/: one folder per run."""
    return project_root() / "outputs"
