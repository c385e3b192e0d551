"""Parameter sets: the priors of calibration/parameters.toml and the fitted sets of
calibration/fitted/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kbalance.errors import InvalidValueError
from kbalance.outputs import file_hash
from kbalance.paths import calibration_dir, read_toml


@dataclass(frozen=True)
class ParameterSet:
    """Values of the model's free parameters.

    name : str  the set's name (file stem), e.g. ``parameters`` for the priors
    values : dict  model constant → float, or list of floats for a subscripted one
    path : Path  the file read
    """

    name: str
    values: dict[str, float | list[float]]
    path: Path

    def sha256(self) -> str:
        return file_hash([self.path])


def parameter_definitions(path: Path | None = None) -> dict[str, dict]:
    """The parameter table of calibration/parameters.toml (key → definition)."""
    return read_toml(path or calibration_dir() / "parameters.toml", "parameters", "calibration/parameters.toml")


def fitted_versions() -> dict[int, Path]:
    """The fitted sets calibration/fitted/v<N>.toml by version number N, in increasing N."""
    found = {int(p.stem[1:]): p for p in (calibration_dir() / "fitted").glob("v*.toml") if p.stem[1:].isdigit()}
    return dict(sorted(found.items()))


def latest_fitted_set() -> Path | None:
    """calibration/fitted/v<N>.toml with the highest N, or None before any calibration."""
    versions = fitted_versions()
    return versions[max(versions)] if versions else None


def shipped_parameter_set() -> ParameterSet:
    """The parameter set runs use by default: the latest fitted set, else the priors."""
    return read_parameter_set(latest_fitted_set())


def read_parameter_set(path: Path | None = None) -> ParameterSet:
    """Parameter values: the defaults of calibration/parameters.toml, or a fitted set.

    A fitted set (calibration/fitted/<version>.toml) has a ``[values]`` table mapping
    parameter keys to values; each is checked against the definition's range.
    """
    definitions = parameter_definitions()
    if path is None:
        path = calibration_dir() / "parameters.toml"
        return ParameterSet("parameters", {d["model"]: d["default"] for d in definitions.values()}, path)
    path = Path(path)
    fitted = read_toml(path, "parameter set", "a TOML file with a [values] table").get("values", {})
    values = {d["model"]: d["default"] for d in definitions.values()}
    for key, value in fitted.items():
        if key not in definitions:
            raise InvalidValueError(path, f"values.{key}", "unknown parameter", list(definitions))
        low, high = definitions[key]["range"]
        for v in np.atleast_1d(value):
            if not (isinstance(v, (int, float, np.floating)) and low <= float(v) <= high):
                raise InvalidValueError(path, f"values.{key}", value, f"numbers in [{low}, {high}]")
        values[definitions[key]["model"]] = value
    return ParameterSet(path.stem, values, path)


