"""Typed errors raised at kbalance's input boundary.

Every message names the file, the field and what is allowed, so a user can
fix the input without reading code.
"""

from __future__ import annotations

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
