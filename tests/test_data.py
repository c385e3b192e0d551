"""The observation set: loader, validation errors, build and check."""

from __future__ import annotations

import filecmp
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA, copy_observation_set, needs_shared
from kbalance.observations import dataset as data
from kbalance.errors import DuplicateCellError, InvalidValueError, MissingColumnError, MissingFileError, MissingValueError, UnitMismatchError, UnknownRegionError
from kbalance.paths import calibration_dir
from kbalance.regions import region_codes

HARMONIZED = SHARED_DATA / "harmonized"


def _harmonized(name: str) -> pd.DataFrame:
    return pd.read_csv(HARMONIZED / name, dtype={"region_code": str, "origin_code": str, "dest_code": str})


# --- the committed set -------------------------------------------------------------


@pytest.fixture(scope="module")
def report() -> data.CheckReport:
    return data.check()


def test_committed_set_passes_all_checks(report):
    failed = [r for r in report.results if not r.passed]
    assert report.ok, failed
    names = [r.name for r in report.results]
    for expected in ("regions sum to national: pop_registered", "regions sum to national: grdp_nominal",
                     "regions sum to national: employed", "OD: net inter-provincial migration sums to 0 each year",
                     "migrants_net_interprovincial sums to 0 over regions each year",
                     "5-year age groups sum to pop_registered_total_total",
                     "male + female = total: pop_registered age groups"):
        assert expected in names


def test_summary_table(report):
    table = report.summary_table()
    assert list(table.columns) == ["series", "file", "regions", "national", "first_year", "last_year", "unit", "table_id"]
    assert table["series"].is_unique
    row = table.set_index("series").loc["pop_registered"]
    assert row["regions"] == 17 and row["national"] and row["unit"] == "persons"
    assert "DT_1B040A3" in row["table_id"]
    assert table.set_index("series").loc["migration_od", "table_id"] == "DT_1B26003_A01"


def test_load_series_national_equals_sum_of_regions():
    pop = data.load_series("pop_registered")
    assert pop.attrs["unit"] == "persons" and "DT_1B040A3" in pop.attrs["source"]
    assert pop["region_code"].dtype != np.int64 and set(pop["region_code"]) == {"00", *region_codes()}
    y24 = pop[pop["year"] == 2024].set_index("region_code")["value"]
    assert y24.drop("00").sum() == y24["00"]
    assert len(y24) == 18


def test_sources_one_row_per_series_with_table():
    table = data.series_table()
    assert table["series"].is_unique
    assert (table["table_id"].str.len() > 0).all()
    assert table.loc["births", "table_id"] == "DT_1B8000H (1990); DT_1B81A12 (1991–2023)"
    assert "DT_1B040A3 (2000–2024)" in table.loc["pop_registered", "table_id"]
    assert table.loc["population_wb", "table_id"] == "WB SP.POP.TOTL"
    assert table.loc["fiscal_independence_ratio", "table_id"] == "DT_1YL20891"
    assert table.loc["deaths", "origin"].startswith("1990–2022 [national]: derived:")


def test_load_od():
    od = data.load_od()
    assert od.dims == ("year", "origin", "dest") and od.attrs["units"] == "persons"
    assert list(od["origin"].values) == region_codes()
    assert int(od["year"].min()) == 1990
    assert float(od.sel(year=2011, origin="29").sum() + od.sel(year=2011, dest="29").sum()) == 0.0
    assert float(od.sel(year=2012, origin="29").sum()) > 0
    off = od.where(od["origin"] != od["dest"], 0)
    net = off.sum("origin").values - off.sum("dest").values  # inflow - outflow, per (year, region)
    assert (net.sum(axis=1) == 0).all()
    intra = data.load_series("movers_intraprovincial")
    row = intra[(intra["region_code"] == "31") & (intra["year"] == 2020)]["value"].item()
    assert float(od.sel(year=2020, origin="31", dest="31")) == row


def test_age_structure():
    reg = data.age_structure("pop_registered")
    assert reg.dims == ("region", "year", "sex", "age_group")
    groups = list(reg["age_group"].values)
    assert groups[0] == "00_04" and groups[-1] == "100p" and len(groups) == 21
    assert "65p" not in groups and "00_14" not in groups and "total" not in groups
    total = data.load_series("pop_registered_total_total").set_index(["region_code", "year"])["value"]
    summed = reg.sel(sex="total").sum("age_group").to_series()
    assert (summed.reindex(total.index).to_numpy() == total.to_numpy()).all()
    census = data.age_structure("pop_census")
    assert "85p" in census["age_group"].values and "100p" in census["age_group"].values
    assert np.isnan(float(census.sel(region="11", year=1995, sex="total", age_group="100p")))
    assert float(census.sel(region="11", year=1995, sex="total", age_group="85p")) > 0
    assert sorted(set(census["year"].values)) == list(data.CENSUS_YEARS)


def test_births_by_mother_age_sum_to_births():
    arr = data.births_by_mother_age()
    assert arr.dims == ("region", "year", "age_group")
    births = data.load_series("births").set_index(["region_code", "year"])["value"]
    summed = arr.sum("age_group").to_series()
    common = summed.index.intersection(births.index)
    assert len(common) > 500
    assert (summed[common] == births[common]).all()


def test_breaks():
    breaks = data.load_breaks()
    assert set(breaks["kind"]) <= set(data.BREAK_KINDS)
    hit = data.breaks_for("pop_registered_male")
    assert ((hit["kind"] == "registration") & (hit["year"] == 2010)).any()
    sejong = data.breaks_for("fiscal_autonomy_ratio", "29")
    assert set(sejong["kind"]) == {"method", "boundary"}
    assert data.breaks_for("births", "11").query("kind == 'boundary'").empty
    # the description quotes the data, not a typed number
    fa = data.load_series("fiscal_autonomy_ratio").query("region_code == '00'").set_index("year")["value"]
    text = data.breaks_for("fiscal_autonomy_ratio").query("kind == 'method'")["description"].item()
    assert f"{fa[2013]:.1f} % (2013) → {fa[2014]:.1f} % (2014)" in text
    assert not data.breaks_for("grdp_nominal").query("kind == 'base_vintage'").empty


# --- facts reproduced against ../shared (skipped without it) --------------------------


@needs_shared
def test_loader_reproduces_harmonized_values():
    h = _harmonized("population.csv")
    h = h[h["variable"] == "pop_registered"].set_index(["region_code", "year"])["value"]
    ours = data.load_series("pop_registered").set_index(["region_code", "year"])["value"]
    assert ours.sort_index().equals(h.sort_index().astype(float))
    nat24 = h.loc[("00", 2024)]
    assert nat24 == h.xs(2024, level="year").drop("00").sum()
    assert ours.loc[("00", 2024)] == nat24

    v = _harmonized("vital.csv")
    tfr = v[(v["variable"] == "tfr") & (v["region_code"] == "00") & (v["year"] == 2023)]["value"].item()
    ours_tfr = data.load_series("tfr")
    assert ours_tfr.query("region_code == '00' and year == 2023")["value"].item() == tfr

    m = _harmonized("migration.csv")
    gg = m[(m["variable"] == "migrants_net_interprovincial") & (m["region_code"] == "31") & (m["year"] == 2024)]
    od = data.load_od()
    off = od.where(od["origin"] != od["dest"], 0)
    net = float(off.sel(year=2024, dest="31").sum() - off.sel(year=2024, origin="31").sum())
    assert net == gg["value"].item()

    e = _harmonized("economy_nominal.csv")
    g = e[(e["variable"] == "grdp_nominal") & (e["year"] >= 1995)]
    ours_g = data.load_series("grdp_nominal")
    assert len(ours_g) == len(g) and ours_g["value"].sum() == g["value"].sum()


@needs_shared
def test_every_harmonized_series_selected_is_complete():
    """Each compiled series holds every harmonized row in its year window."""
    sources = data.series_table()
    pop = _harmonized("population_age.csv")
    cen = pop[pop["variable"].str.startswith("pop_census") & pop["year"].isin(data.CENSUS_YEARS)]
    ours = data.read_observation_file(calibration_dir() / "observations" / "census_age.csv")
    assert len(ours) == len(cen)
    assert set(ours["series"]) == set(cen["variable"])
    assert sources.loc["pop_census_total_00_04", "file"] == "observations/census_age.csv"


# --- bad input: one test per error kind --------------------------------------------


def _edit_lines(path: Path, edit) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(edit(lines)), encoding="utf-8")


def _replace_field(line: str, index: int, value: str) -> str:
    parts = line.rstrip("\n").split(",")
    parts[index] = value
    return ",".join(parts) + "\n"


BAD_INPUTS = {
    # name: (file, edit(lines) -> lines, error type, substrings of the message)
    "missing_column": ("vital.csv", lambda ls: [",".join(l.rstrip("\n").split(",")[:4]) + "\n" for l in ls],
                       MissingColumnError, ["vital.csv", "field 'unit'", "column missing",
                                            "expected columns series, region_code, year, value, unit"]),
    "unknown_region": ("fiscal.csv", lambda ls: [ls[0], _replace_field(ls[1], 1, "99"), *ls[2:]],
                       UnknownRegionError, ["fiscal.csv", "field 'region_code'", "unknown value '99'",
                                            "expected one of 00, 11, 21"]),
    "duplicate_cell": ("fiscal.csv", lambda ls: [*ls, ls[5]],
                       DuplicateCellError, ["fiscal.csv", "field 'series+region_code+year'", "duplicate cell",
                                            "expected each cell once"]),
    "nan_value": ("fiscal.csv", lambda ls: [ls[0], _replace_field(ls[1], 3, ""), *ls[2:]],
                  MissingValueError, ["fiscal.csv", "field 'value'", "missing value", "row 2",
                                      "expected a finite number"]),
    "nan_text": ("fiscal.csv", lambda ls: [ls[0], _replace_field(ls[1], 3, "NaN"), *ls[2:]],
                 MissingValueError, ["fiscal.csv", "field 'value'", "expected a finite number"]),
    "unit_mismatch": ("fiscal.csv", lambda ls: [ls[0], _replace_field(ls[1], 4, "percent"), *ls[2:]],
                      UnitMismatchError, ["fiscal.csv", "field 'unit'", "unit 'percent'",
                                          "expected the declared unit '%'"]),
    "unknown_series": ("fiscal.csv", lambda ls: [ls[0], _replace_field(ls[1], 0, "fiscal_made_up"), *ls[2:]],
                       InvalidValueError, ["fiscal.csv", "field 'series'", "invalid value 'fiscal_made_up'",
                                           "expected a series listed in", "sources.csv"]),
    "bad_year": ("fiscal.csv", lambda ls: [ls[0], _replace_field(ls[1], 2, "2001.5"), *ls[2:]],
                 InvalidValueError, ["fiscal.csv", "field 'year'", "expected a four-digit integer year"]),
    "od_unknown_region": ("migration_od.csv", lambda ls: [ls[0], _replace_field(ls[1], 2, "00"), *ls[2:]],
                          UnknownRegionError, ["migration_od.csv", "field 'dest_code'", "unknown value '00'"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_typed_error(calib_copy, case):
    fname, edit, error, needles = BAD_INPUTS[case]
    path = calib_copy / "observations" / fname
    _edit_lines(path, edit)
    with pytest.raises(error) as info:
        data.read_observation_file(path)
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    # the check goes through the same reader
    with pytest.raises(error):
        data.check(calib_copy)


def test_missing_file_raises(calib_copy):
    (calib_copy / "observations" / "fiscal.csv").unlink()
    with pytest.raises(MissingFileError) as info:
        data.check(calib_copy)
    message = str(info.value)
    assert "fiscal.csv" in message and "field 'observation file'" in message
    assert "file not found" in message and "expected a CSV with columns series, region_code" in message
    with pytest.raises(MissingFileError, match="sources.csv"):
        data.read_observation_file(calib_copy / "observations" / "vital.csv", calib_copy / "nowhere.csv")


def test_loader_reads_region_codes_as_text(calib_copy):
    frame = data.read_observation_file(calib_copy / "observations" / "population.csv")
    assert frame["region_code"].map(type).eq(str).all()
    assert "00" in set(frame["region_code"]) and frame["year"].dtype.kind == "i"


def test_identity_failure_is_reported_not_raised(calib_copy):
    def bump(lines):
        out = []
        for line in lines:
            if line.startswith("pop_registered,11,2024,"):
                parts = line.rstrip("\n").split(",")
                line = ",".join([*parts[:3], str(int(parts[3]) + 1), parts[4]]) + "\n"
            out.append(line)
        return out
    _edit_lines(calib_copy / "observations" / "population.csv", bump)
    rep = data.check(calib_copy)
    assert not rep.ok
    failed = {r.name: r.detail for r in rep.results if not r.passed}
    assert "regions sum to national: pop_registered" in failed
    assert "max |gap| 1 in 2024" in failed["regions sum to national: pop_registered"]


# --- build --------------------------------------------------------------------------


@needs_shared
def test_build_reproduces_committed_set_byte_for_byte(tmp_path):
    dest = tmp_path / "calibration"
    written = data.build(SHARED_DATA, dest)
    committed = calibration_dir()
    rel = sorted(p.relative_to(dest).as_posix() for p in written)
    expected = sorted(["sources.csv", "breaks.csv",
                       *(f"observations/{p.name}" for p in (committed / "observations").glob("*.csv"))])
    assert rel == expected
    for r in rel:
        assert filecmp.cmp(dest / r, committed / r, shallow=False), r
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "calibration"]
    assert leftovers == []  # the temporary build folder is gone
    assert (committed / "observations").stat().st_size > 0
    total = sum(p.stat().st_size for p in (committed / "observations").glob("*.csv"))
    assert total < 6_000_000


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _harmonized_without(tmp_path: Path, name: str) -> Path:
    """A harmonized folder linking every shared file but ``name``."""
    src = tmp_path / "harmonized"
    src.mkdir()
    for p in HARMONIZED.glob("*.csv"):
        if p.name != name:
            os.symlink(p, src / p.name)
    return src


@needs_shared
def test_build_missing_harmonized_file_leaves_dest_untouched(tmp_path):
    src = _harmonized_without(tmp_path, "vital.csv")
    dest = copy_observation_set(tmp_path / "calibration")
    before = _snapshot(dest)
    with pytest.raises(MissingFileError) as info:
        data.build(src, dest)
    assert "vital.csv" in str(info.value) and "harmonized file" in str(info.value)
    assert _snapshot(dest) == before


def test_build_missing_source_folder_raises(tmp_path):
    dest = copy_observation_set(tmp_path / "calibration")
    before = _snapshot(dest)
    with pytest.raises(MissingFileError, match=re.escape("births_by_mother_age.csv")):
        data.build(tmp_path / "nothing", dest)
    assert _snapshot(dest) == before


@needs_shared
def test_build_failing_validation_leaves_dest_untouched(tmp_path):
    """A bad harmonized row fails validation of the temporary set; dest keeps the old files."""
    src = _harmonized_without(tmp_path, "national.csv")
    text = (HARMONIZED / "national.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    text[1] = re.sub(r"^00,", "98,", text[1])
    (src / "national.csv").write_text("".join(text), encoding="utf-8")
    dest = copy_observation_set(tmp_path / "calibration")
    before = _snapshot(dest)
    with pytest.raises(UnknownRegionError, match="national.csv"):
        data.build(src, dest)
    assert _snapshot(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration", "harmonized"]


def test_harmonized_dir_accepts_both_forms(tmp_path):
    (tmp_path / "harmonized").mkdir()
    assert data._harmonized_dir(tmp_path) == tmp_path / "harmonized"
    assert data._harmonized_dir(tmp_path / "harmonized") == tmp_path / "harmonized"
