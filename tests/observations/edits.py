"""Edits that break one file of a copied observation set, and the error each must raise."""

from __future__ import annotations

from pathlib import Path

from kbalance.errors import DuplicateCellError, InvalidValueError, MissingColumnError, MissingValueError, UnitMismatchError, UnknownRegionError


def edit_lines(path: Path, edit) -> None:
    """Rewrite ``path`` with ``edit(lines) -> lines`` (lines keep their line ends)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(edit(lines)), encoding="utf-8")


def replace_field(line: str, index: int, value: str) -> str:
    """``line`` of a CSV without quoted commas, with field ``index`` set to ``value``."""
    parts = line.rstrip("\n").split(",")
    parts[index] = value
    return ",".join(parts) + "\n"


BAD_INPUTS = {
    # name: (file, edit(lines) -> lines, error type, substrings of the message)
    "missing_column": ("vital.csv", lambda ls: [",".join(line.rstrip("\n").split(",")[:4]) + "\n" for line in ls],
                       MissingColumnError, ["vital.csv", "field 'unit'", "column missing",
                                            "expected columns series, region_code, year, value, unit"]),
    "unknown_region": ("fiscal.csv", lambda ls: [ls[0], replace_field(ls[1], 1, "99"), *ls[2:]],
                       UnknownRegionError, ["fiscal.csv", "field 'region_code'", "unknown value '99'",
                                            "expected one of 00, 11, 21"]),
    "duplicate_cell": ("fiscal.csv", lambda ls: [*ls, ls[5]],
                       DuplicateCellError, ["fiscal.csv", "field 'series+region_code+year'", "duplicate cell",
                                            "expected each cell once"]),
    "nan_value": ("fiscal.csv", lambda ls: [ls[0], replace_field(ls[1], 3, ""), *ls[2:]],
                  MissingValueError, ["fiscal.csv", "field 'value'", "missing value", "row 2",
                                      "expected a finite number"]),
    "nan_text": ("fiscal.csv", lambda ls: [ls[0], replace_field(ls[1], 3, "NaN"), *ls[2:]],
                 MissingValueError, ["fiscal.csv", "field 'value'", "expected a finite number"]),
    "unit_mismatch": ("fiscal.csv", lambda ls: [ls[0], replace_field(ls[1], 4, "percent"), *ls[2:]],
                      UnitMismatchError, ["fiscal.csv", "field 'unit'", "unit 'percent'",
                                          "expected the declared unit '%'"]),
    "unknown_series": ("fiscal.csv", lambda ls: [ls[0], replace_field(ls[1], 0, "fiscal_made_up"), *ls[2:]],
                       InvalidValueError, ["fiscal.csv", "field 'series'", "invalid value 'fiscal_made_up'",
                                           "expected a series listed in", "sources.csv"]),
    "bad_year": ("fiscal.csv", lambda ls: [ls[0], replace_field(ls[1], 2, "2001.5"), *ls[2:]],
                 InvalidValueError, ["fiscal.csv", "field 'year'", "expected a four-digit integer year"]),
    "negative_count": ("population.csv", lambda ls: [ls[0], replace_field(ls[1], 3, "-5"), *ls[2:]],
                       InvalidValueError, ["population.csv", "field 'value'", "invalid value -5.0",
                                           "expected a value >= 0 for series", "only net flows"]),
    "od_unknown_region": ("migration_od.csv", lambda ls: [ls[0], replace_field(ls[1], 2, "00"), *ls[2:]],
                          UnknownRegionError, ["migration_od.csv", "field 'dest_code'", "unknown value '00'"]),
}
