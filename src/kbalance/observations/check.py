"""Check the observation set: schema and units, regions, duplicates and accounting identities."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import pandas as pd

from kbalance.errors import KbalanceInputError
from kbalance.observations.check_keyed import keyed_checks
from kbalance.observations.keyed import read_observation_table
from kbalance.observations.load import (age_structure, births_by_mother_age, boundary_changes, breaks_for, calibration_root,
                                        file_stamp, load_breaks, read_observation_file, series_table)
from kbalance.observations.schema import (BOUNDARY_FILE, CENSUS_YEARS, KEYED_FILES, OBSERVATIONS, OD_FILE, OD_SERIES,
                                          TEXT_FILES)
from kbalance.regions import NATIONAL_CODE, region_codes


#: Series whose 17 regions sum exactly to the national row.
ADDITIVE_EXACT = (
    "pop_registered", "pop_registered_male", "pop_registered_female", "households_registered",
    "pop_estimate_midyear", "births", "deaths", "natural_increase",
    "grdp_nominal", "gva_nominal_*", "net_taxes_on_products_nominal",
    "univ_institutions", "univ_departments", "univ_students_enrolled", "univ_entrants",
    "gradschool_*", "businesses_active_*", "local_tax_revenue_provincial_govt",
    "births_mother_age_*", "pop_registered_*_*",
)
#: Series published in thousands, rounded per region: tolerance 0.5 per region summed [thousand persons].
ADDITIVE_ROUNDED = ("employed", "labour_force", "unemployed", "pop_15plus_lfs")
#: Not additive, kept out of the identity check (reason).
NOT_ADDITIVE = {
    "marriages": "national from 2000 (DT_1B83A03) includes marriages reported abroad (see breaks.csv)",
    "grdp_real_chained": "chained volumes are not additive",
    "grdp_real_chained_2020": "chained volumes are not additive (except in 2020)",
    "patent_applications": "national 계 includes 기타 (applicants not assigned to a province)",
    "design_applications": "national 계 includes 기타",
    "trademark_applications": "national 계 includes 기타",
}


#: Series observed in irregular years or regions, kept out of the completeness rule (reason).
IRREGULAR = {
    "rd_expenditure_total": "spot values quoted on web pages, some regions and years",
    "rd_expenditure_government_public_funded": "a spot value quoted on a web page",
    "researchers": "spot values quoted on web pages, some regions and years",
    "gov_rd_program_funds_allocated": "one 2012 article",
    "gradschool_graduate_universities": "a region without a graduate university has no row",
    "national_tax_revenue": "page values for some years",
    "local_tax_revenue_total": "page values for some years",
    "local_tax_share_of_total_tax_pct": "page values for some years",
    "tax_burden_ratio_pct": "page values for some years",
    "pop_census_*_100p": "a region without anyone in the open age group has no row",
    "intl_*": "national figures quoted in press releases for some years only",
}
#: What the completeness rule allows, for its error messages.
COMPLETE = ("rows for every region of the series in every year from the series' first year to its last "
            "(census series: the census years); a region may start late only when a boundary row of "
            "breaks.csv creates it (its first row from the year before the change)")


def _years_text(years: Iterable[int]) -> str:
    years = sorted(years)
    return ", ".join(str(y) for y in years[:6]) + (f" … ({len(years)} years)" if len(years) > 6 else "")


def _expected_years(series: str, first: int, last: int) -> list[int]:
    if fnmatch.fnmatchcase(series, "pop_census_*"):
        return [y for y in CENSUS_YEARS if first <= y <= last]
    return list(range(first, last + 1))


def check_complete(path: Path, frame: pd.DataFrame, new_regions: dict[str, int]) -> None:
    """Raise KbalanceInputError when a series of one observation file has a hole.

    path : the file (named in the message)
    frame : its rows, as :func:`~kbalance.observations.load.read_observation_file` returns them
    new_regions : KOSIS code → year [year] of the boundary change that created the region

    Per series (outside :data:`IRREGULAR`), the national row and the regions separately:
    no year missing inside the span (census series: no census year missing, and no other
    year); every region present from its first year to the series' last. A region may
    start after the series' first year only when it is in ``new_regions`` and its first
    row is at most a year before the change.
    """
    rows = (frame.rename(columns={"origin_code": "region_code"}).assign(series=OD_SERIES)
            if "origin_code" in frame else frame)
    for series, part in rows.groupby("series", sort=False):
        if any(fnmatch.fnmatchcase(series, pattern) for pattern in IRREGULAR):
            continue
        if fnmatch.fnmatchcase(series, "pop_census_*"):
            odd = sorted(set(part["year"]) - set(CENSUS_YEARS))
            if odd:
                raise KbalanceInputError(path, "year", f"series {series!r}: year {odd[0]} is not a census year",
                                         "one of " + ", ".join(map(str, CENSUS_YEARS)))
        national = part["region_code"] == NATIONAL_CODE
        for label, sub in (("national row", part[national]), ("regions", part[~national])):
            if sub.empty:
                continue
            first, last = int(sub["year"].min()), int(sub["year"].max())
            gaps = sorted(set(_expected_years(series, first, last)) - set(sub["year"]))
            if gaps:
                raise KbalanceInputError(path, "year", f"series {series!r}, {label}: no rows for "
                                                       f"{_years_text(gaps)} inside {first}–{last}", COMPLETE)
        regional = part[~national]
        if regional.empty:
            continue
        start, last = int(regional["year"].min()), int(regional["year"].max())
        for code, years in regional.groupby("region_code", sort=True)["year"]:
            first = int(years.min())
            if first > start and not (code in new_regions and first >= new_regions[code] - 1):
                raise KbalanceInputError(path, "region_code", f"series {series!r}, region {code}: no rows for "
                                                              f"{_years_text(range(start, first))}", COMPLETE)
            missing = sorted(set(_expected_years(series, first, last)) - set(years))
            if missing:
                raise KbalanceInputError(path, "region_code", f"series {series!r}, region {code}: no rows for "
                                                              f"{_years_text(missing)} inside {first}–{last}",
                                         COMPLETE)


def _observation_files(root: Path) -> list[Path]:
    sources = series_table(root)
    return [root / f for f in sorted(set(sources["file"]))]


def validate_observation_set(root: Path | str | None = None) -> None:
    """Validate the whole observation set before a command computes with it.

    Every file listed in ``sources.csv`` goes through the validating reader (schema,
    encoding, regions, years in range, finite values, units, each cell once) and
    :func:`check_complete`; every listed series must have rows. Cached on the files'
    modification times and sizes, so a second call costs a few stat calls. Raises
    :class:`~kbalance.errors.KbalanceInputError` naming the file and the field.
    """
    r = calibration_root(root)
    files = [r / "sources.csv", r / "breaks.csv", *_observation_files(r)]
    _validated(str(r), tuple(file_stamp(f) for f in files))


@lru_cache(maxsize=4)
def _validated(root: str, stamps: tuple[tuple[int, int], ...]) -> None:
    r = Path(root)
    sources = series_table(r)
    new_regions: dict[str, int] = {}
    for change in boundary_changes(r):
        new_regions.setdefault(change.dest, change.year)
    present: set[str] = set()
    for path in _observation_files(r):
        if path.name in KEYED_FILES or path.name in TEXT_FILES or path.name == BOUNDARY_FILE:
            frame = read_observation_table(path, r / "sources.csv")  # their own layouts and checks
            present |= set(frame["series"]) if "series" in frame else set(sources.index[sources["file"] == path.relative_to(r).as_posix()])
            continue
        frame = read_observation_file(path, r / "sources.csv")
        check_complete(path, frame, new_regions)
        present |= {OD_SERIES} if path.name == OD_FILE else set(frame["series"])
    for file, listed in sources.groupby("file")["series"]:
        missing = sorted(set(listed) - present)
        if missing:
            raise KbalanceInputError(r / file, "series", f"no rows for {', '.join(missing[:5])}"
                                                         f"{' …' if len(missing) > 5 else ''}",
                                     "rows for every series that sources.csv places in this file")


@dataclass
class CheckResult:
    """One check: name, passed, detail (what was compared and the largest gap)."""

    name: str
    passed: bool
    detail: str


@dataclass
class CheckReport:
    """Result of :func:`check`: the list of checks and a per-series summary."""

    results: list[CheckResult] = field(default_factory=list)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(r.passed for r in self.results)

    def add(self, name: str, passed: bool, detail: str) -> None:
        """Record one check."""
        self.results.append(CheckResult(name, bool(passed), detail))

    def summary_table(self) -> pd.DataFrame:
        """Per series: file, regions (count of the 17), national (bool), first and last year, unit, table_id."""
        return self.summary.copy()


def _match_any(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _sum_checks(report: CheckReport, long: pd.DataFrame, tolerances: dict[str, float]) -> None:
    """Regions sum to national, per series; tolerance [unit per region summed]."""
    rows = long[long["series"].isin(tolerances)]
    nat = rows[rows["region_code"] == NATIONAL_CODE].set_index(["series", "year"])["value"]
    reg = rows[rows["region_code"] != NATIONAL_CODE].groupby(["series", "year"])["value"].agg(["sum", "count"])
    both = reg.join(nat.rename("national"), how="inner")
    both["gap"] = (both["sum"] - both["national"]).abs()
    both["rel"] = both["gap"] / both["national"].abs().where(both["national"] != 0)
    both["tol"] = both.index.get_level_values("series").map(tolerances) * both["count"]
    for series, grp in both.groupby(level="series", sort=True):
        tol_per_region = tolerances[series]
        gap = grp["gap"].droplevel("series")
        passed = bool((grp["gap"] <= grp["tol"] + 1e-9 * grp["national"].abs()).all())
        worst = f" in {int(gap.idxmax())}" if gap.max() > 0 else ""
        tol_text = "0" if tol_per_region == 0 else f"{tol_per_region:g} per region (rounding)"
        report.add(f"regions sum to national: {series}", passed,
                   f"{len(grp)} years; max |gap| {gap.max():g}{worst}; max rel gap {grp['rel'].max():.2e}; "
                   f"tolerance {tol_text}")


def _identity(report: CheckReport, name: str, lhs: pd.Series, rhs: pd.Series, tol: float = 0.0,
              note: str = "") -> None:
    lhs, rhs = lhs.align(rhs, join="inner")
    ok = lhs.notna() & rhs.notna()
    gap = (lhs[ok] - rhs[ok]).abs()
    passed = bool(len(gap) > 0 and (gap <= tol).all())
    if len(gap) and gap.max() > 0:
        key = gap.idxmax()
        where = " at " + "/".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
    else:
        where = ""
    report.add(name, passed, f"{len(gap)} cells; max |gap| {gap.max() if len(gap) else float('nan'):g}{where}; "
                             f"tolerance {tol:g}{note}")


class _BySeries:
    """Rows of a long frame split by series, as (region_code, year)-indexed values."""

    def __init__(self, frame: pd.DataFrame):
        self.rows = {s: g for s, g in frame.groupby("series", sort=False)}
        self._keyed: dict[str, pd.Series] = {}

    def __call__(self, series: str) -> pd.Series:
        if series not in self._keyed:
            self._keyed[series] = self.rows[series].set_index(["region_code", "year"])["value"]
        return self._keyed[series]


def check(root: Path | str | None = None) -> CheckReport:
    """Check the observation set: schema and units, regions, duplicates and identities.

    root : Path, optional  calibration folder; default ``calibration/``

    Raises :class:`KbalanceInputError` when a file does not load (missing file or
    column, unknown region or series, duplicate, NaN, unit mismatch). Identity
    checks that do not hold are reported, not raised (``report.ok`` is False).
    """
    r = calibration_root(root)
    validate_observation_set(r)
    report = CheckReport()
    sources = series_table(r)
    files = sorted(set(sources["file"]))
    frames: dict[str, pd.DataFrame] = {}
    keyed: dict[str, pd.DataFrame] = {}  # keyed files, text tables and boundaries, read by their layouts
    for f in files:
        name = Path(f).name
        frame = read_observation_table(r / f, r / "sources.csv")
        (keyed if name in KEYED_FILES or name in TEXT_FILES or name == BOUNDARY_FILE else frames)[f] = frame
        report.add(f"schema, units, regions, no duplicates: {f}", True, f"{len(frame)} rows")
    extra = sorted(p.relative_to(r).as_posix() for p in (r / OBSERVATIONS).glob("*.csv")) if (r / OBSERVATIONS).is_dir() else []
    extra = [e for e in extra if e not in set(files)]
    report.add("no unlisted observation files", not extra, ", ".join(extra) or "none")

    od_file = sources.loc[OD_SERIES, "file"] if OD_SERIES in sources.index else None
    long = pd.concat([fr for f, fr in frames.items() if f != od_file], ignore_index=True)
    present = set(long["series"]) | ({OD_SERIES} if od_file else set())
    keyed_long = [fr for fr in keyed.values() if "series" in fr]
    present |= {s for fr in keyed_long for s in fr["series"]} | set(
        sources.index[sources["file"].isin([f for f, fr in keyed.items() if "series" not in fr])])
    missing = sorted(set(sources.index) - present)
    report.add("every listed series has data", not missing, ", ".join(missing[:10]) or f"{len(sources)} series")
    wrong_file = [s for f, fr in {**frames, **keyed}.items() if f != od_file and "series" in fr
                  for s in set(fr["series"]) if sources.loc[s, "file"] != f]
    report.add("series are in the file sources.csv names", not wrong_file, ", ".join(sorted(wrong_file)[:10]) or "ok")

    breaks = load_breaks(r)
    unmatched = [p for p in breaks["series"] if not any(fnmatch.fnmatchcase(s, p) for s in sources.index)]
    report.add("breaks name known series", not unmatched, ", ".join(unmatched) or f"{len(breaks)} breaks")

    # summary table
    regs17 = set(region_codes())
    g = pd.concat([long, *keyed_long], ignore_index=True).groupby("series")
    summary = pd.DataFrame({
        "regions": g["region_code"].agg(lambda s: len(set(s) & regs17)),
        "national": g["region_code"].agg(lambda s: NATIONAL_CODE in set(s)),
        "first_year": g["year"].min(),
        "last_year": g["year"].max(),
    })
    if od_file:
        od = frames[od_file]
        summary.loc[OD_SERIES] = [len(set(od["origin_code"]) | set(od["dest_code"])), False,
                                  od["year"].min(), od["year"].max()]
    summary = summary.join(sources[["file", "unit", "table_id"]]).reset_index(names="series")
    report.summary = summary[["series", "file", "regions", "national", "first_year", "last_year", "unit", "table_id"]]

    # regions sum to national
    by = _BySeries(long)
    tolerances = {}
    for s in by.rows:
        if _match_any(s, ADDITIVE_ROUNDED):
            tolerances[s] = 0.5
        elif _match_any(s, ADDITIVE_EXACT) and s not in NOT_ADDITIVE:
            tolerances[s] = 0.0
    _sum_checks(report, long, tolerances)

    # migration
    if od_file:
        od = frames[od_file]
        off = od[od["origin_code"] != od["dest_code"]]
        inflow = off.groupby(["dest_code", "year"])["value"].sum().rename_axis(["region_code", "year"])
        outflow = off.groupby(["origin_code", "year"])["value"].sum().rename_axis(["region_code", "year"])
        net = inflow.sub(outflow, fill_value=0)
        by_year = net.groupby(level="year").sum()
        report.add("OD: net inter-provincial migration sums to 0 each year", bool((by_year == 0).all()),
                   f"{len(by_year)} years; max |sum| {by_year.abs().max():g}")
        diag = od[od["origin_code"] == od["dest_code"]].set_index(["origin_code", "year"])["value"].rename_axis(
            ["region_code", "year"])
        for name, derived in (("migrants_in_interprovincial", inflow), ("migrants_out_interprovincial", outflow),
                              ("movers_intraprovincial", diag)):
            if name in present:
                _identity(report, f"{name} = OD matrix", by(name), derived)
    if "migrants_net_interprovincial" in present:
        net_s = by("migrants_net_interprovincial")
        net_s = net_s[net_s.index.get_level_values(0) != NATIONAL_CODE]
        by_year = net_s.groupby(level="year").sum()
        report.add("migrants_net_interprovincial sums to 0 over regions each year", bool((by_year == 0).all()),
                   f"{len(by_year)} years; max |sum| {by_year.abs().max():g}")
        _identity(report, "migrants_net = in − out", by("migrants_net_interprovincial"),
                  by("migrants_in_interprovincial") - by("migrants_out_interprovincial"))
    for tot, part in (("movers_in_total_incl_intra", "migrants_in_interprovincial"),
                      ("movers_out_total_incl_intra", "migrants_out_interprovincial")):
        if {tot, part, "movers_intraprovincial"} <= present:
            _identity(report, f"{tot} = {part} + movers_intraprovincial", by(tot),
                      by(part) + by("movers_intraprovincial"))

    # age groups and sexes
    for prefix, total_label in (("pop_registered", "total"), ("pop_census", "sum_of_ages")):
        try:
            arr = age_structure(prefix, r)
        except KbalanceInputError:
            continue
        for sex in ("total", "male", "female"):
            name = f"{prefix}_{sex}_{total_label}"
            if name not in present:
                continue
            s5 = arr.sel(sex=sex).sum("age_group", min_count=1).to_series().rename_axis(["region_code", "year"])
            _identity(report, f"5-year age groups sum to {name}", by(name), s5)
        mf = (arr.sel(sex="male") + arr.sel(sex="female")).to_series()
        tt = arr.sel(sex="total").to_series()
        _identity(report, f"male + female = total: {prefix} age groups", tt, mf)
    if {"pop_registered", "pop_registered_male", "pop_registered_female"} <= present:
        _identity(report, "pop_registered_male + pop_registered_female = pop_registered",
                  by("pop_registered"),
                  by("pop_registered_male") + by("pop_registered_female"))
    for a, b in (("pop_registered_total_total", "pop_registered"), ("pop_registered_male_total", "pop_registered_male"),
                 ("pop_registered_female_total", "pop_registered_female"), ("births_mother_age_total", "births")):
        if {a, b} <= present:
            _identity(report, f"{a} = {b}", by(a), by(b))
    if "births_mother_age_total" in present:
        bm = births_by_mother_age(r).sum("age_group", min_count=1).to_series().rename_axis(["region_code", "year"])
        _identity(report, "births by mother's age groups sum to births_mother_age_total",
                  by("births_mother_age_total"), bm)

    # flows and accounts
    if {"natural_increase", "births", "deaths"} <= present:
        prelim = set(breaks_for("natural_increase", root=r).query("kind == 'preliminary'")["year"])
        ni = by("natural_increase")
        ni = ni[~ni.index.get_level_values("year").isin(prelim)]
        _identity(report, "natural_increase = births − deaths", ni,
                  by("births") - by("deaths"),
                  note=f"; preliminary years excluded: {sorted(prelim) or 'none'}")
    if {"labour_force", "employed", "unemployed"} <= present:
        _identity(report, "labour_force = employed + unemployed", by("labour_force"),
                  by("employed") + by("unemployed"), tol=1.0, note=" (thousands, rounding)")
    if {"grdp_nominal", "gva_nominal_total_basic_prices", "net_taxes_on_products_nominal"} <= present:
        _identity(report, "grdp_nominal = gva_nominal_total_basic_prices + net_taxes_on_products_nominal",
                  by("grdp_nominal"),
                  by("gva_nominal_total_basic_prices") + by("net_taxes_on_products_nominal"))
    if {"businesses_active_total", "businesses_active_corporations", "businesses_active_individual"} <= present:
        _identity(report, "businesses_active_total = corporations + individual", by("businesses_active_total"),
                  by("businesses_active_corporations") + by("businesses_active_individual"))
    for name, passed, detail in keyed_checks(r):
        report.add(name, passed, detail)
    return report
