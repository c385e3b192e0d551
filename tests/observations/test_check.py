"""``check``: the committed set passes; bad files raise, failing identities are reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kbalance.errors import KbalanceInputError, MissingFileError
from kbalance.observations.check import IRREGULAR, CheckReport, check, check_complete, validate_observation_set

from .edits import BAD_INPUTS, edit_lines


@pytest.fixture(scope="module")
def report() -> CheckReport:
    return check()


def test_committed_set_passes_all_checks(report):
    failed = [r for r in report.results if not r.passed]
    assert report.ok, failed
    names = [r.name for r in report.results]
    for expected in ("regions sum to national: pop_registered", "regions sum to national: grdp_nominal",
                     "regions sum to national: employed", "OD: net inter-provincial migration sums to 0 each year",
                     "migrants_net_interprovincial sums to 0 over regions each year",
                     "5-year age groups sum to pop_registered_total_total",
                     "male + female = total: pop_registered age groups", "breaks name known series"):
        assert expected in names


def test_summary_table(report):
    table = report.summary_table()
    assert list(table.columns) == ["series", "file", "regions", "national", "first_year", "last_year", "unit", "table_id"]
    assert table["series"].is_unique
    row = table.set_index("series").loc["pop_registered"]
    assert row["regions"] == 17 and row["national"] and row["unit"] == "persons"
    assert "DT_1B040A3" in row["table_id"]
    assert table.set_index("series").loc["migration_od", "table_id"] == "DT_1B26003_A01"


@pytest.mark.parametrize("case", ["duplicate_cell", "unit_mismatch", "od_unknown_region"])
def test_check_reads_through_the_validating_reader(calib_copy, case):
    fname, edit, error, needles = BAD_INPUTS[case]
    edit_lines(calib_copy / "observations" / fname, edit)
    with pytest.raises(error, match=fname):
        check(calib_copy)


def test_missing_file_raises(calib_copy):
    (calib_copy / "observations" / "fiscal.csv").unlink()
    with pytest.raises(MissingFileError) as info:
        check(calib_copy)
    message = str(info.value)
    assert "fiscal.csv" in message and "field 'observation file'" in message
    assert "file not found" in message and "expected a CSV with columns series, region_code" in message


def test_unlisted_file_fails_a_check(calib_copy):
    (calib_copy / "observations" / "extra.csv").write_text("series,region_code,year,value,unit\n", encoding="utf-8")
    failed = {r.name: r.detail for r in check(calib_copy).results if not r.passed}
    assert failed == {"no unlisted observation files": "observations/extra.csv"}


def test_identity_failure_is_reported_not_raised(calib_copy):
    def bump(lines):
        out = []
        for line in lines:
            if line.startswith("pop_registered,11,2024,"):
                parts = line.rstrip("\n").split(",")
                line = ",".join([*parts[:3], str(int(parts[3]) + 1), parts[4]]) + "\n"
            out.append(line)
        return out
    edit_lines(calib_copy / "observations" / "population.csv", bump)
    rep = check(calib_copy)
    assert not rep.ok
    failed = {r.name: r.detail for r in rep.results if not r.passed}
    assert "regions sum to national: pop_registered" in failed
    assert "max |gap| 1 in 2024" in failed["regions sum to national: pop_registered"]


# --- the whole set validated before a command computes -------------------------------------


def _drop_last(count):
    return lambda lines: lines[:-count]


def _move_year(prefix, year):
    return lambda lines: [line.replace(prefix, prefix.rsplit(",", 2)[0] + f",{year},", 1)
                          if line.startswith(prefix) else line for line in lines]


#: name: (file, edit(lines) -> lines, substrings of the message)
CORRUPT_SETS = {
    "last_three_rows_of_vital_removed": ("vital.csv", _drop_last(3),
                                         ["vital.csv", "field 'region_code'", "series 'tfr', region 39",
                                          "no rows for 2021, 2022, 2023", "breaks.csv"]),
    "a_row_moved_to_year_3000": ("vital.csv", _move_year("tfr,39,2019,", 3000),
                                 ["vital.csv", "field 'year'", "invalid value 3000", "expected a year in [1900, "]),
    "a_year_missing_inside_a_span": ("migration_od.csv", lambda ls: [line for line in ls if not line.startswith("2005,")],
                                     ["migration_od.csv", "field 'year'", "no rows for 2005 inside 1990–2024"]),
    "a_region_missing_one_year": ("population.csv",
                                  lambda ls: [line for line in ls if not line.startswith("pop_registered,31,2010,")],
                                  ["population.csv", "series 'pop_registered', region 31", "no rows for 2010"]),
    "a_region_starting_late_without_a_boundary_break": (
        "fiscal.csv", lambda ls: [line for line in ls if not line.startswith(("fiscal_autonomy_ratio,11,2001,",
                                                                            "fiscal_autonomy_ratio,11,2002,"))],
        ["fiscal.csv", "region 11", "no rows for 2001, 2002"]),
    "not_a_census_year": ("census_age.csv", _move_year("pop_census_total_00_04,11,2021,", 2022),
                          ["census_age.csv", "year 2022 is not a census year"]),
    "header_only": ("fiscal.csv", lambda ls: ls[:1],
                    ["fiscal.csv", "field 'series'", "no rows for fiscal_autonomy_ratio"]),
    "empty_file": ("fiscal.csv", lambda ls: [], ["fiscal.csv", "the file is empty"]),
    "ragged_row": ("fiscal.csv", lambda ls: [*ls[:3], ls[3].rstrip("\n") + ",extra\n", *ls[4:]],
                   ["fiscal.csv", "malformed CSV", "Expected 5 fields in line 4, saw 6"]),
    "short_row": ("fiscal.csv", lambda ls: [*ls[:3], ",".join(ls[3].split(",")[:3]) + "\n", *ls[4:]],
                  ["fiscal.csv", "field 'value'", "row 4"]),
}


@pytest.mark.parametrize("case", list(CORRUPT_SETS))
def test_each_corruption_is_caught_with_file_and_field(calib_copy, case):
    fname, edit, needles = CORRUPT_SETS[case]
    edit_lines(calib_copy / "observations" / fname, edit)
    for validate in (validate_observation_set, check):
        with pytest.raises(KbalanceInputError) as info:
            validate(calib_copy)
        for needle in needles:
            assert needle in str(info.value)


@pytest.mark.parametrize("name", ["observations/fiscal.csv", "sources.csv", "breaks.csv"])
def test_a_file_not_in_utf8_is_named_with_its_line(calib_copy, name):
    path = calib_copy / name
    data = path.read_bytes()
    lines = data.count(b"\n")
    path.write_bytes(data + "x,\xe9\n".encode("latin-1"))
    with pytest.raises(KbalanceInputError, match=rf"{name.split('/')[-1]}: field 'encoding': not UTF-8 text "
                                                 rf"\(byte 0xe9 on line {lines + 1}\)"):
        validate_observation_set(calib_copy)


def test_the_committed_set_is_complete_and_the_check_is_cached(calib_copy):
    validate_observation_set()
    validate_observation_set(calib_copy)
    edit_lines(calib_copy / "observations" / "vital.csv", _drop_last(3))
    with pytest.raises(KbalanceInputError, match="region 39"):
        validate_observation_set(calib_copy)  # a changed file is read again


def test_new_regions_may_start_at_their_boundary_change_only():
    frame = pd.DataFrame({"series": "s", "region_code": ["11", "11", "11", "29", "29"],
                          "year": [2010, 2011, 2012, 2011, 2012], "value": 1.0})
    check_complete(Path("f.csv"), frame, {"29": 2012})
    check_complete(Path("f.csv"), frame, {"29": 2011})
    for new_regions in ({}, {"29": 2013}, {"26": 2011}):  # not created, or created later (first row 2011 < 2013 - 1)
        with pytest.raises(KbalanceInputError, match="region 29: no rows for 2010$|region 29: no rows for 2010;"):
            check_complete(Path("f.csv"), frame, new_regions)
    assert "gradschool_graduate_universities" in IRREGULAR
