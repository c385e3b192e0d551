"""The identity checks of the keyed files: the committed set passes each, and a corruption fails it."""

from __future__ import annotations

import pytest

from kbalance.observations.check import check
from kbalance.observations.check_keyed import keyed_checks, life_table_checks, mortality_checks, municipal_checks, wpp_checks

from .edits import edit_lines


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[bool, str]]:
    return {name: (passed, detail) for name, passed, detail in keyed_checks()}


EXPECTED = (
    "HMD deaths by sex and age sum to national deaths", "HMD deaths and exposure: same cells, non-negative",
    "life table: lx(0) = 100000", "life table: lx does not rise with age",
    "UN WPP: p2.5 ≤ p10 ≤ median ≤ p90 ≤ p97.5", "UN WPP: TFR low variant ≤ median ≤ high variant",
    "UN WPP: net migrants by sex and age sum to net migration", "UN WPP: percentage ASFR sums to 100",
    "municipal codes: every file's codes and regions are those of municipalities.csv",
    "municipal age groups sum to the municipal totals", "municipal totals sum to pop_registered by region",
    "municipal totals sum to national pop_registered",
    "municipal age groups sum to pop_registered by region, sex and age group",
    "boundary file: one polygon per municipality, same codes",
)


def test_committed_set_passes_every_keyed_check(results):
    assert sorted(results) == sorted(EXPECTED)
    assert all(passed for passed, _ in results.values()), {k: v for k, v in results.items() if not v[0]}
    assert "tolerance 0.5 persons per year" in results["HMD deaths by sex and age sum to national deaths"][1]
    detail = results["municipal age groups sum to pop_registered by region, sex and age group"][1]
    assert detail.startswith("134 region-years (2015–2023)") and "22 2015–2022, 23 2015–2017, 37 2015–2022" in detail
    assert "22, 37 in 2015–2022" in results["municipal totals sum to pop_registered by region"][1]


def test_keyed_checks_are_part_of_data_check():
    names = [r.name for r in check().results]
    assert set(EXPECTED) <= set(names)


def _change(column: int, new: str, where):
    """An edit setting field ``column`` to ``new`` (a function of the old text) in the rows ``where(fields)``."""
    def edit(lines):
        out = [lines[0]]
        for line in lines[1:]:
            parts = line.rstrip("\n").split(",")
            if where(parts):
                parts[column] = new(parts[column])
            out.append(",".join(parts) + "\n")
        return out
    return edit


def _plus(amount: float):
    return lambda text: repr(float(text) + amount)


CORRUPTIONS = {
    # check name: (file, edit); the function that runs the check is named by the file's topic
    "HMD deaths by sex and age sum to national deaths":
        ("mortality.csv", _change(5, _plus(1.0), lambda p: p[0] == "hmd_deaths" and p[2:5] == ["2010", "male", "60"])),
    "HMD deaths and exposure: same cells, non-negative":
        ("mortality.csv", _change(5, lambda t: "-1.0", lambda p: p[0] == "hmd_exposure" and p[2:5] == ["2005", "female", "3"])),
    "life table: lx(0) = 100000":
        ("life_table.csv", _change(5, lambda t: "99999.0", lambda p: p[2:5] == ["1980", "male", "0"])),
    "life table: lx does not rise with age":
        ("life_table.csv", _change(5, lambda t: "99000.0", lambda p: p[2:5] == ["1990", "female", "40"])),
    "UN WPP: p2.5 ≤ p10 ≤ median ≤ p90 ≤ p97.5":
        ("un_wpp.csv", _change(4, lambda t: "9.9", lambda p: p[0] == "wpp_tfr" and p[2:4] == ["2060", "p10"])),
    "UN WPP: TFR low variant ≤ median ≤ high variant":
        ("un_wpp.csv", _change(4, lambda t: "0.1", lambda p: p[0] == "wpp_tfr" and p[2:4] == ["2060", "high_variant"])),
    "UN WPP: net migrants by sex and age sum to net migration":
        ("un_wpp_migration_age.csv", _change(30, _plus(1.0), lambda p: p[2:4] == ["2040", "female"])),
    "UN WPP: percentage ASFR sums to 100":
        ("un_wpp_fertility_age.csv", _change(4, _plus(0.5), lambda p: p[2:4] == ["2003", "30_34"])),
    "municipal codes: every file's codes and regions are those of municipalities.csv":
        ("municipal_designations.csv", _change(1, lambda t: "38", lambda p: p[0] == "26110")),
    "municipal age groups sum to the municipal totals":
        ("municipal_population.csv", _change(4, lambda t: str(int(t) + 1), lambda p: p[2:4] == ["2025", "46910"])),
    "municipal totals sum to pop_registered by region":
        ("municipal_population.csv", _change(4, lambda t: str(int(t) + 1), lambda p: p[2:4] == ["2019", "11110"])),
    "municipal totals sum to national pop_registered":
        ("municipal_population.csv", _change(4, lambda t: str(int(t) + 1), lambda p: p[2:4] == ["2020", "47110"])),
    "municipal age groups sum to pop_registered by region, sex and age group":
        ("municipal_population_age.csv", _change(10, lambda t: str(int(t) + 1),
                                                 lambda p: p[2:5] == ["2021", "46910", "female"])),
}


#: The check function of each file's checks (running only it keeps the tests short).
RUNS = {"mortality.csv": mortality_checks, "life_table.csv": life_table_checks, "un_wpp.csv": wpp_checks,
        "un_wpp_migration_age.csv": wpp_checks, "un_wpp_fertility_age.csv": wpp_checks}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_fails_its_check(calib_copy, name):
    fname, edit = CORRUPTIONS[name]
    path = calib_copy / "observations" / fname
    before = path.read_bytes()
    edit_lines(path, edit)
    assert path.read_bytes() != before  # the edit hit a row
    results = {n: passed for n, passed, _ in RUNS.get(fname, municipal_checks)(calib_copy)}
    assert results[name] is False


def test_boundary_file_without_a_municipality_fails(calib_copy):
    path = calib_copy / "observations" / "sgg_2023_229.geojson"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"sgg_cd":"36110"', '"sgg_cd":"36111"', 1), encoding="utf-8")
    results = {n: (p, d) for n, p, d in municipal_checks(calib_copy)}
    passed, detail = results["boundary file: one polygon per municipality, same codes"]
    assert not passed and "not in municipalities.csv: 36111" in detail and "without a polygon: 36110" in detail
