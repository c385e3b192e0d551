"""Typed input errors: each is a ValueError whose message names file, field, value and what is allowed."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from kbalance import errors
from kbalance.errors import (ChangedInputError, DuplicateCellError, InvalidValueError, KbalanceInputError, MissingColumnError,
                             MissingFileError, MissingKeyError, MissingValueError, ModelFileError,
                             UnitMismatchError, UnknownRegionError)

FILE = Path("calibration") / "observations" / "population.csv"

#: One instance of every error class and the words its message must hold
#: (the file, the field, the value when the error has one, what is allowed).
CASES = {
    KbalanceInputError: (KbalanceInputError(FILE, "value", "negative -3", "a count ≥ 0"),
                         ["value", "negative -3", "a count ≥ 0"]),
    MissingFileError: (MissingFileError(FILE, "observations", "the file written by kbalance data build"),
                       ["observations", "file not found", "kbalance data build"]),
    MissingColumnError: (MissingColumnError(FILE, "region_code", "columns series, region_code, year, value"),
                         ["region_code", "column missing", "columns series, region_code, year, value"]),
    UnknownRegionError: (UnknownRegionError(FILE, "region_code", "99", ["11", "21", "22"]),
                         ["region_code", "'99'", "one of 11, 21, 22"]),
    DuplicateCellError: (DuplicateCellError(FILE, "series", "population 11 2020"),
                         ["series", "population 11 2020", "each cell once"]),
    MissingValueError: (MissingValueError(FILE, "value", "row 7"),
                        ["value", "row 7", "a finite number"]),
    UnitMismatchError: (UnitMismatchError(FILE, "unit", "thousand persons", "persons"),
                        ["unit", "'thousand persons'", "'persons'"]),
    InvalidValueError: (InvalidValueError(FILE, "year", 1850, "a year from 1970 to 2070"),
                        ["year", "1850", "a year from 1970 to 2070"]),
    MissingKeyError: (MissingKeyError(FILE, "gompertz_slope.range", "[low, high] with low < high"),
                      ["gompertz_slope.range", "missing", "[low, high] with low < high"]),
    ModelFileError: (ModelFileError(FILE, "mortality rate", "unknown variable 'gompertz slope'"),
                     ["mortality rate", "unknown variable", "a complete Vensim model file"]),
    ChangedInputError: (ChangedInputError(FILE, "outputs/run/manifest.json", "ab" * 32, None, ["model/levers.toml"]),
                        ["sha256", "changed since outputs/run/manifest.json", "recorded abababababab", "now missing",
                         "also changed: model/levers.toml", "as recorded in the manifest"]),
}


def test_every_error_class_has_a_case():
    defined = {obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, KbalanceInputError) and obj.__module__ == errors.__name__}
    assert defined == set(CASES)


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_error_is_an_input_error_and_a_value_error(cls):
    error, _ = CASES[cls]
    assert type(error) is cls
    assert isinstance(error, KbalanceInputError) and isinstance(error, ValueError)
    with pytest.raises(ValueError):
        raise error


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_message_names_file_field_value_and_what_is_allowed(cls):
    error, words = CASES[cls]
    message = str(error)
    assert message.startswith(f"{FILE}: field '{error.field}': ")
    for word in words:
        assert word in message
    assert error.path == str(FILE)
    assert message.endswith(f"expected {error.expected}")


def test_missing_file_is_also_a_file_not_found_error():
    assert isinstance(CASES[MissingFileError][0], FileNotFoundError)
    assert not isinstance(CASES[InvalidValueError][0], FileNotFoundError)


def test_long_lists_of_allowed_values_are_cut_after_twenty():
    error = UnknownRegionError(FILE, "region_code", "99", range(30))
    assert error.expected.startswith("one of 0, 1, 2") and error.expected.endswith("19 …")
    assert "20" not in error.expected.split(", ")


def test_allowed_values_given_as_text_are_kept_as_written():
    error = InvalidValueError(FILE, "sex", "x", "male or female")
    assert error.expected == "male or female"
