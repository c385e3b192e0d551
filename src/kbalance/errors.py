"""Typed errors raised at kbalance's input boundary.

Every message names the file, the field and what is allowed, so a user can
fix the input without reading code. The checks at the end (a number in a range, a
documented range, a table, its keys) raise them for the readers of TOML files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable


def _allowed(values: Iterable[object] | str) -> str:
    if isinstance(values, str):
        return values
    items = [str(v) for v in values]
    shown = ", ".join(items[:20]) + (" …" if len(items) > 20 else "")
    return f"one of {shown}"


class KbalanceInputError(ValueError):
    """Bad input: a file, a field in it and what was expected.

    path : the file at fault; field : the column, key or variable; expected : what is allowed.
    """

    def __init__(self, path: str | Path, field: str, problem: str, expected: str):
        self.path = str(path)
        self.field = field
        self.expected = expected
        super().__init__(f"{self.path}: field '{field}': {problem}; expected {expected}")


class MissingFileError(KbalanceInputError, FileNotFoundError):
    """A required input file does not exist."""

    def __init__(self, path: str | Path, what: str, expected: str):
        super().__init__(path, what, "file not found", expected)


class MissingColumnError(KbalanceInputError):
    """A required column is absent."""

    def __init__(self, path: str | Path, column: str, expected: str):
        super().__init__(path, column, "column missing", expected)


class UnknownRegionError(KbalanceInputError):
    """A region code (or other label) that the regions table does not know."""

    def __init__(self, path: str | Path, field: str, value: object, allowed: Iterable[object] | str):
        super().__init__(path, field, f"unknown value {value!r}", _allowed(allowed))


class DuplicateCellError(KbalanceInputError):
    """The same cell (series, region, year …) appears more than once."""

    def __init__(self, path: str | Path, field: str, cell: str):
        super().__init__(path, field, f"duplicate cell {cell}", "each cell once")


class MissingValueError(KbalanceInputError):
    """A NaN or empty value where a number is required."""

    def __init__(self, path: str | Path, field: str, where: str):
        super().__init__(path, field, f"missing value (NaN or empty) at {where}", "a finite number")


class UnitMismatchError(KbalanceInputError):
    """A unit that differs from the one declared for the series."""

    def __init__(self, path: str | Path, field: str, found: str, declared: str):
        super().__init__(path, field, f"unit {found!r}", f"the declared unit {declared!r}")


class InvalidValueError(KbalanceInputError):
    """A value of the wrong type or outside its allowed range."""

    def __init__(self, path: str | Path, field: str, value: object, allowed: Iterable[object] | str):
        super().__init__(path, field, f"invalid value {value!r}", _allowed(allowed))


class MissingKeyError(KbalanceInputError):
    """A required key (table entry, column of a TOML table) is absent."""

    def __init__(self, path: str | Path, field: str, expected: str):
        super().__init__(path, field, "missing", expected)


class ModelFileError(KbalanceInputError):
    """The model file does not parse or translate: field is the equation (variable) at fault."""

    def __init__(self, path: str | Path, field: str, problem: str):
        super().__init__(path, field, problem, "a complete Vensim model file (every equation "
                         "'name = expression ~ unit ~ comment |', every variable defined)")


class ChangedInputError(KbalanceInputError):
    """An input file whose hash differs from the one a manifest recorded: what was recorded
    cannot be reproduced. path is the input (its key in the manifest's ``inputs``)."""

    def __init__(self, path: str | Path, manifest: str | Path, recorded: str, now: str | None,
                 others: Iterable[str] = ()):
        others = list(others)
        problem = (f"changed since {manifest} was written (sha256 recorded {recorded[:12]}…, "
                   + (f"now {now[:12]}…)" if now else "now missing)")
                   + (f"; also changed: {', '.join(others)}" if others else ""))
        super().__init__(path, "sha256", problem, "the file as recorded in the manifest's inputs (restore it, "
                         "or run the command anew for a new manifest)")


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (int or float, not bool) and finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number_in(path: str | Path, field: str, value: object, low: float = -math.inf, high: float = math.inf,
              integer: bool = False) -> float:
    """``value`` as a float if it is a finite number in [low, high] (an integer when
    ``integer``); InvalidValueError naming the file, the field and the range otherwise."""
    kind = "an integer" if integer else "a finite number"
    bounds = f" in [{low:g}, {high:g}]" if math.isfinite(low) or math.isfinite(high) else ""
    ok = (isinstance(value, int) and not isinstance(value, bool)) if integer else is_number(value)
    if not ok or not low <= value <= high:
        raise InvalidValueError(path, field, value, kind + bounds)
    return float(value)


def range_of(path: str | Path, field: str, value: object) -> tuple[float, float]:
    """A documented range ``[low, high]``: two finite numbers with low < high;
    InvalidValueError naming the file and the field otherwise."""
    if (not isinstance(value, list) or len(value) != 2 or not all(is_number(v) for v in value)
            or not value[0] < value[1]):
        raise InvalidValueError(path, field, value, "[low, high]: two finite numbers with low < high")
    return float(value[0]), float(value[1])


def table_of(path: str | Path, field: str, value: object, expected: str) -> dict:
    """``value`` if it is a TOML table (a dict); InvalidValueError naming ``expected`` otherwise."""
    if not isinstance(value, dict):
        raise InvalidValueError(path, field, value, expected)
    return value


def keys_of(path: str | Path, field: str, table: dict, required: Iterable[str], optional: Iterable[str] = ()) -> None:
    """Check that ``table`` holds every ``required`` key and no key beyond ``optional``;
    MissingKeyError or InvalidValueError naming the first one at fault."""
    required, optional = list(required), list(optional)
    prefix = f"{field}." if field else ""
    for key in table:
        if key not in required and key not in optional:
            raise InvalidValueError(path, prefix + str(key), "unknown key", required + optional)
    for key in required:
        if key not in table:
            raise MissingKeyError(path, prefix + key, "keys " + ", ".join(required)
                                  + (" and optionally " + ", ".join(optional) if optional else ""))
