"""``check``: the committed set passes; bad files raise, failing identities are reported."""

from __future__ import annotations

import pytest

from kbalance.errors import MissingFileError
from kbalance.observations.check import CheckReport, check

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
