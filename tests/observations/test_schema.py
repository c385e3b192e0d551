"""The observation set's layout: the declared columns, topics, descriptions and table names
against the committed files of calibration/."""

from __future__ import annotations

import fnmatch
import re

import pandas as pd
import pytest

from conftest import SHARED_DATA, needs_shared
from kbalance.errors import InvalidValueError
from kbalance.observations.schema import (BOUNDARY_FILE, BREAK_COLUMNS, BREAK_KINDS, HARMONIZED_COLUMNS, HARMONIZED_OD_COLUMNS, INTL_FILE,
                                          KEYED_FILES, OBSERVATION_COLUMNS, OBSERVATIONS, OD_COLUMNS, OD_FILE, OD_SERIES,
                                          OD_SPEC, SOURCE_COLUMNS, TABLE_NAMES, TEXT_FILES, TOPICS,
                                          describe)
from kbalance.paths import calibration_dir

FOLDER = calibration_dir() / OBSERVATIONS


def header(path) -> tuple[str, ...]:
    return tuple(pd.read_csv(path, nrows=0).columns)


def sources() -> pd.DataFrame:
    return pd.read_csv(calibration_dir() / "sources.csv", dtype=str, keep_default_na=False)


def test_every_topic_has_its_file_and_nothing_else_is_there():
    expected = {f"{topic}.csv" for topic in TOPICS} | {OD_FILE} | set(KEYED_FILES) | set(TEXT_FILES)
    assert {p.name for p in FOLDER.glob("*.csv")} == expected
    assert (FOLDER / BOUNDARY_FILE).is_file()
    assert set(sources()["file"]) == {f"{OBSERVATIONS}/{name}" for name in expected | {BOUNDARY_FILE}}


def test_column_tuples_match_the_committed_headers():
    for topic in TOPICS:
        assert header(FOLDER / f"{topic}.csv") == OBSERVATION_COLUMNS, topic
    assert header(FOLDER / OD_FILE) == OD_COLUMNS
    assert header(calibration_dir() / "sources.csv") == SOURCE_COLUMNS
    assert header(calibration_dir() / "breaks.csv") == BREAK_COLUMNS


def test_break_kinds_are_declared():
    kinds = set(pd.read_csv(calibration_dir() / "breaks.csv", dtype=str)["kind"])
    assert kinds and kinds <= set(BREAK_KINDS)


def test_every_series_has_its_description_from_the_schema():
    table = sources()
    assert table["series"].is_unique and OD_SERIES in set(table["series"])
    for row in table.itertuples():
        assert row.description == describe(row.series), row.series


def test_every_series_of_a_topic_file_is_in_sources_with_that_file():
    files = dict(zip(sources()["series"], sources()["file"]))
    for topic in TOPICS:
        for series in pd.read_csv(FOLDER / f"{topic}.csv", usecols=["series"])["series"].unique():
            assert files.get(series) == f"{OBSERVATIONS}/{topic}.csv", (topic, series)


def test_table_ids_have_names_and_the_names_are_in_sources():
    for row in sources().itertuples():
        for table_id in re.findall(r"DT_\w+", row.table_id):
            assert table_id in TABLE_NAMES, (row.series, table_id)
            assert TABLE_NAMES[table_id] in row.table_name, (row.series, table_id)


def test_every_series_names_its_table_and_none_says_its_source_is_not_stated():
    for row in sources().itertuples():
        assert row.table_id.strip() and row.table_name.strip(), row.series
        assert "not stated" not in row.table_id + row.table_name, row.series


@pytest.mark.parametrize(("series", "text"), [
    ("pop_registered_female_85p", "Registered population (resident registration, Korean nationals), "
                                  "year-end, female, aged 85+"),
    ("pop_census_total_15_19", "Census population (1995–2010 census excl. foreigners; 2015+ register-based "
                               "census incl. foreigners), both sexes, aged 15–19"),
    ("pop_registered_male_lt15", "Registered population (resident registration, Korean nationals), "
                                 "year-end, male, aged under 15"),
    ("births_mother_age_45_49", "Live births, mother aged 45–49"),
])
def test_describe_builds_age_and_sex_descriptions(series, text):
    assert describe(series) == text


def test_describe_refuses_a_series_it_does_not_know():
    with pytest.raises(InvalidValueError, match=r"sources\.csv.*'description'.*'made_up_series'"):
        describe("made_up_series")


@needs_shared
def test_topics_read_harmonized_files_with_the_declared_columns():
    harmonized = SHARED_DATA / "harmonized"
    for topic, entries in TOPICS.items():
        for name, patterns, _ in entries:
            if name == INTL_FILE:  # a raw file with its own columns (build.py reads it as such)
                continue
            assert header(harmonized / name) == HARMONIZED_COLUMNS, (topic, name)
            variables = pd.read_csv(harmonized / name, usecols=["variable"])["variable"].unique()
            for pattern in patterns:
                assert any(fnmatch.fnmatchcase(v, pattern) for v in variables), (topic, name, pattern)
    assert header(harmonized / OD_SPEC[0]) == HARMONIZED_OD_COLUMNS
