"""The project's own observation set: compile, load and check.

Observed data live in ``calibration/`` (see ``calibration/README.md``):

- ``observations/<topic>.csv`` — long format, columns :data:`OBSERVATION_COLUMNS`
  (``series, region_code, year, value, unit``); ``region_code`` is the KOSIS
  two-digit code, ``"00"`` = national. ``migration_od.csv`` uses :data:`OD_COLUMNS`.
- ``sources.csv`` — one row per series: file, unit, description, original
  statistical table (``table_id``, ``table_name``) and raw file (``origin``).
- ``breaks.csv`` — definitional breaks (method, boundary, registration, …) as data.

The set is compiled from ``../shared/data/harmonized`` by :func:`build` (the
only code that reads ``../shared``) and verified by :func:`check`. Every value
is copied verbatim from the harmonized files; nothing is typed in.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.errors import DuplicateCellError, InvalidValueError, KbalanceInputError, MissingColumnError, MissingFileError, MissingValueError, UnitMismatchError, UnknownRegionError
from kbalance.paths import calibration_dir
from kbalance.regions import NATIONAL_CODE, load_regions, region_codes

#: Columns of a topic file in ``calibration/observations/``.
OBSERVATION_COLUMNS = ("series", "region_code", "year", "value", "unit")
#: Columns of ``calibration/observations/migration_od.csv``.
OD_COLUMNS = ("year", "origin_code", "dest_code", "value", "unit")
#: Columns of ``calibration/sources.csv``.
SOURCE_COLUMNS = ("series", "file", "unit", "description", "table_id", "table_name", "origin")
#: Columns of ``calibration/breaks.csv``.
BREAK_COLUMNS = ("series", "region_code", "year", "kind", "description")
#: Allowed ``kind`` values in ``breaks.csv``.
BREAK_KINDS = ("method", "registration", "boundary", "base_vintage", "preliminary", "definition")

#: Series name of the origin-destination matrix in ``sources.csv``.
OD_SERIES = "migration_od"
OD_FILE = "migration_od.csv"
OBSERVATIONS = "observations"

#: Census years kept in ``census_age.csv``: the 1995–2010 censuses and the
#: annual register-based census 2015–2021.
CENSUS_YEARS = (1995, 2000, 2005, 2010, 2015, 2016, 2017, 2018, 2019, 2020, 2021)

# ---------------------------------------------------------------------------
# What goes where: topic -> list of (harmonized file, series patterns, year filter)
# ---------------------------------------------------------------------------

_YearFilter = Callable[[pd.Series], pd.Series]


def _from(year: int) -> _YearFilter:
    return lambda y: y >= year


def _in(years: Iterable[int]) -> _YearFilter:
    allowed = set(years)
    return lambda y: y.isin(allowed)


_ECONOMY_NOMINAL = (
    "grdp_nominal", "grdp_real_chained_2020", "gva_nominal_*", "net_taxes_on_products_nominal",
)
_ECONOMY = (
    "grdp_per_capita_nominal", "grdp_real_chained", "employed", "labour_force", "pop_15plus_lfs",
    "unemployed", "employment_rate_15_64", "participation_rate", "unemployment_rate",
)

#: topic -> [(harmonized file, series patterns (fnmatch), year filter or None)]
TOPICS: dict[str, list[tuple[str, tuple[str, ...], _YearFilter | None]]] = {
    "population": [("population.csv", (
        "pop_registered", "pop_registered_male", "pop_registered_female", "households_registered",
        "pop_estimate_midyear"), None)],
    "population_age": [("population_age.csv", ("pop_registered_*",), None)],
    "census_age": [("population_age.csv", ("pop_census_*",), _in(CENSUS_YEARS))],
    "vital": [("vital.csv", (
        "births", "deaths", "tfr", "natural_increase", "cbr", "cdr", "marriages"), None)],
    "births_by_mother_age": [("births_by_mother_age.csv", ("births_mother_age_*",), None)],
    "migration": [("migration.csv", ("*",), _from(1990))],
    "fiscal": [("fiscal.csv", ("fiscal_autonomy_ratio", "fiscal_independence_ratio"), None)],
    "economy": [("economy_nominal.csv", _ECONOMY_NOMINAL, _from(1995)),
                ("economy.csv", _ECONOMY, _from(1995))],
    "innovation": [("innovation.csv", ("univ_*", "gradschool_*", "businesses_active_*", "rdi_*"), None),
                   ("innovation_rd.csv", ("*",), None)],
    "tax": [("fiscal_tax.csv", ("*",), None)],
    "national": [("national.csv", ("population_wb", "gdp_current_usd_wb"), None)],
}
#: The OD matrix: harmonized file and first year kept.
OD_SPEC = ("migration_od.csv", 1990)

_HARMONIZED_COLUMNS = ("region_code", "region", "year", "variable", "value", "unit", "source")
_HARMONIZED_OD_COLUMNS = ("year", "origin_code", "origin", "dest_code", "dest", "migrants", "unit", "source")

# ---------------------------------------------------------------------------
# Source strings -> table ids, table names and origins
# ---------------------------------------------------------------------------

#: Identifiers for sources whose harmonized ``source`` string has no KOSIS DT_ id,
#: keyed by the start of the raw path (names as in shared/data/PROVENANCE.md).
_NON_KOSIS_IDS = {
    "raw/datasets_population/": "WB SP.POP.TOTL",
    "raw/datasets_gdp/": "WB NY.GDP.MKTP.CD",
    "raw/misc_preproc_kr/": "NTS 가동사업자 현황 (KOSIS orgId 133)",
    "raw/local_finance_lofin/": "lofin365 FIACRV",
    "raw/navis_contest/1_2.": "KIET 지역발전지수 (NAVIS)",
    "raw/navis_contest/2025년_1분기": "KOSTAT 지역경제동향 2025 Q1 (실질 지역내총생산)",
    "raw/letcodesing_project/": "letcodesing/project 개인1/data.csv (original source not stated)",
    "raw/bage/Resident_Population_in_FiveYear": "KOSIS Resident Population in Five-Year Age Groups (English; table id not in file)",
    "raw/migest/Resident_Population_by": "KOSIS Resident Population by City, County and District (English; table id not in file)",
    "raw/gcam_korea/GRDP": "gcam-korea compilation (method undocumented)",
}
#: kostat_gi indicator 2-2-2 names no table; PROVENANCE: same indicator as 6-1-2 (DT_1C83).
_KOSTAT_GI_TABLES = {"2-2-2": "DT_1C83"}
#: The fiscal file names both tables; PROVENANCE: DT_1YL20921 (자립도), DT_1YL20891 (자주도).
_SERIES_TABLE = {"fiscal_autonomy_ratio": "DT_1YL20921", "fiscal_independence_ratio": "DT_1YL20891"}

#: Table names, from shared/data/PROVENANCE.md.
TABLE_NAMES = {
    "DT_1B040A3": "주민등록인구현황 (MOIS resident registration, year-end, Korean nationals)",
    "DT_1B040B3": "주민등록세대수 (registered households)",
    "DT_1BPB002": "주요 인구지표/시도 (KOSTAT mid-year estimates, 2010-based, current boundaries)",
    "DT_1B81A12": "출생아수 by province × mother's 5-year age group (Vital Statistics, English)",
    "DT_1B8000H": "시도 인구동태건수 및 동태율 (출생, 사망, 혼인, 이혼)",
    "DT_1B81A21": "합계출산율 by 시도",
    "DT_1B83A03": "혼인건수 by 시도",
    "DT_1B26003_A01": "전출지/전입지(시도)별 이동자수 (movers by origin × destination)",
    "DT_1IN0001_ENG": "총조사인구 총괄, 시도/성/연령별 (census, foreigners excluded)",
    "DT_1IN1503": "등록센서스 인구, 시도/성/연령별 (register-based census, foreigners included)",
    "DT_1YL20921": "재정자립도 (fiscal autonomy ratio, budget-based)",
    "DT_1YL20891": "재정자주도 (fiscal independence ratio, budget-based)",
    "DT_1C81": "시도별 경제활동별 지역내총생산 (2020 base)",
    "DT_1C86": "1인당 지역내총생산, 지역총소득, 개인소득 (per capita GRDP, GRI, personal income)",
    "DT_1DA7004S": "행정구역(시도)별 경제활동인구 (Economically Active Population Survey)",
    "DT_1963003_013": "대학 개황 (KEDI 교육기본통계, as of 1 April)",
    "DT_1963003_014": "대학원 개황 (KEDI 교육기본통계, as of 1 April)",
    "DT_1YL202109E": "특허출원건수(시도) (KIPO, first applicant's address)",
    "DT_1C83": "지역소득: 연구개발비 / 실질 GRDP (KOSTAT regional indicator)",
    "DT_142N_F204": "창업기업동향 (MSS start-ups)",
}

_DT_RE = re.compile(r"\bDT_[0-9A-Za-z_]+")
_PAGE_TAG_RE = re.compile(r"\[([TP]\d+)(?: in [^\]]*)?\]")
_KOSTAT_GI_RE = re.compile(r"raw/kostat_gi/data_indicator_(\d+-\d+-\d+)")

# ---------------------------------------------------------------------------
# Descriptions of series (text only; from PROVENANCE.md)
# ---------------------------------------------------------------------------

_DESCRIPTIONS = {
    "pop_registered": "Registered population (resident registration, Korean nationals), year-end",
    "pop_registered_male": "Registered population, male, year-end",
    "pop_registered_female": "Registered population, female, year-end",
    "households_registered": "Registered households (resident registration), year-end",
    "pop_estimate_midyear": "KOSTAT mid-year population estimate, current boundaries, incl. foreigners; "
                            "16 provinces (Sejong inside Chungnam/Chungbuk)",
    "births": "Live births by mother's province of residence",
    "deaths": "Deaths (national = sum of provinces, abroad excluded)",
    "tfr": "Total fertility rate",
    "natural_increase": "Natural increase (births − deaths), DT_1B8000H",
    "cbr": "Crude birth rate",
    "cdr": "Crude death rate",
    "marriages": "Marriages",
    "migrants_in_interprovincial": "Inter-provincial in-movers (moves from other provinces)",
    "migrants_out_interprovincial": "Inter-provincial out-movers (moves to other provinces)",
    "migrants_net_interprovincial": "Net inter-provincial migration (in − out)",
    "movers_intraprovincial": "Moves within the province (OD diagonal)",
    "movers_in_total_incl_intra": "All in-movers incl. intra-provincial moves, as published",
    "movers_out_total_incl_intra": "All out-movers incl. intra-provincial moves, as published",
    "movers_total": "All movers, national, as published",
    OD_SERIES: "Movers by province of origin × destination; diagonal = moves within the province",
    "fiscal_autonomy_ratio": "재정자립도 (fiscal autonomy ratio), budget-based; method break 2014",
    "fiscal_independence_ratio": "재정자주도 (fiscal independence ratio), budget-based; method break 2014",
    "grdp_nominal": "Nominal GRDP at market prices, 2020-base vintage",
    "grdp_real_chained_2020": "Real GRDP, chained volume, reference year 2020",
    "gva_nominal_total_basic_prices": "Nominal gross value added, all activities, basic prices",
    "net_taxes_on_products_nominal": "Net taxes on products, nominal",
    "gva_nominal_agriculture_forestry_fishing": "Nominal GVA: agriculture, forestry and fishing",
    "gva_nominal_manufacturing": "Nominal GVA: manufacturing",
    "gva_nominal_electrical_electronic_precision_mfg":
        "Nominal GVA: electrical, electronic and precision manufacturing (high-tech proxy)",
    "gva_nominal_construction": "Nominal GVA: construction",
    "gva_nominal_services": "Nominal GVA: services",
    "gva_nominal_information_communication": "Nominal GVA: information and communication",
    "gva_nominal_finance_insurance": "Nominal GVA: finance and insurance",
    "gva_nominal_public_administration": "Nominal GVA: public administration",
    "grdp_per_capita_nominal": "Nominal GRDP per capita, older DT_1C86 vintage (do not mix with 2020-base totals)",
    "grdp_real_chained": "Real GRDP, chained volume (2023–2024 provisional; chain reference year not stated)",
    "employed": "Employed persons (EAPS)",
    "labour_force": "Economically active population (EAPS)",
    "pop_15plus_lfs": "Population aged 15+ (EAPS)",
    "unemployed": "Unemployed persons (EAPS)",
    "employment_rate_15_64": "Employment rate, ages 15–64 (EAPS)",
    "participation_rate": "Labour-force participation rate, 15+ (EAPS)",
    "unemployment_rate": "Unemployment rate (EAPS)",
    "univ_institutions": "Universities (institutions; branch campuses included from 2018)",
    "univ_departments": "University departments",
    "univ_students_enrolled": "University students enrolled (incl. deferred graduation from 2021)",
    "univ_entrants": "University entrants",
    "gradschool_institutions": "Graduate schools (institutions; branch campuses included from 2018)",
    "gradschool_graduate_universities": "Graduate universities (대학원대학교)",
    "gradschool_students_enrolled": "Graduate students enrolled (incl. deferred graduation from 2021)",
    "gradschool_entrants": "Graduate-school entrants",
    "gradschool_departments": "Graduate-school departments",
    "businesses_active_total": "Active business operators (NTS 가동사업자), all",
    "businesses_active_corporations": "Active business operators, corporations (법인)",
    "businesses_active_individual": "Active business operators, individuals",
    "rdi_total": "KIET regional development index, total",
    "rdi_economy": "KIET regional development index, economy",
    "rdi_resident_vitality": "KIET regional development index, resident vitality",
    "patent_applications": "Patent applications by first applicant's address (2024 only)",
    "utility_model_applications": "Utility-model applications (2024 only)",
    "design_applications": "Design applications (2024 only)",
    "trademark_applications": "Trademark applications (2024 only)",
    "patent_applications_per_million_pop": "Patent applications per million residents (권역 file; Gangwon, Jeju, national)",
    "rd_share_of_real_grdp_kostat_pct": "R&D expenditure / real GRDP × 100, KOSTAT indicator; not the KISTEP survey concept",
    "startups_new_firms": "New firms (start-ups), corporate + individual",
    "rd_expenditure_total": "R&D expenditure (KISTEP/MSIT survey as quoted on web pages; sparse spot values)",
    "rd_expenditure_government_public_funded": "Government/public-funded R&D expenditure (page spot value)",
    "researchers": "Researchers (KISTEP/MSIT survey as quoted on web pages; sparse spot values)",
    "gov_rd_program_funds_allocated": "Government R&D programme funds allocated (2012 article; year 2010 assumed)",
    "local_tax_revenue_provincial_govt": "Local tax revenue of the provincial-level government only (시·도 본청), settlement",
    "national_tax_revenue": "National tax (국세) revenue",
    "local_tax_revenue_total": "Total local tax revenue, national (sparse page values)",
    "local_tax_share_of_total_tax_pct": "Local tax share of total tax (sparse page values)",
    "tax_burden_ratio_pct": "Tax burden ratio, national + local tax / nominal GDP of its time",
    "population_wb": "Population, World Bank WDI (KOSTAT mid-year estimate incl. foreigners)",
    "gdp_current_usd_wb": "GDP, current US$, World Bank WDI",
}

_SEX = {"total": "both sexes", "male": "male", "female": "female"}
_AGE_5Y = re.compile(r"^(\d{2,3})_(\d{2,3})$")
_AGE_OPEN = re.compile(r"^(\d{2,3})p$")


def _age_text(label: str) -> str:
    m = _AGE_5Y.match(label)
    if m:
        return f"aged {int(m.group(1))}–{int(m.group(2))}"
    m = _AGE_OPEN.match(label)
    if m:
        return f"aged {int(m.group(1))}+"
    return {"total": "all ages", "unknown": "age unknown", "lt15": "aged under 15",
            "sum_of_ages": "sum of the age groups (age unknown excluded)"}.get(label, label)


def _describe(series: str) -> str:
    if series in _DESCRIPTIONS:
        return _DESCRIPTIONS[series]
    m = re.match(r"^pop_(registered|census)_(total|male|female)_(.+)$", series)
    if m:
        kind, sex, age = m.groups()
        head = ("Registered population (resident registration, Korean nationals), year-end"
                if kind == "registered" else
                "Census population (1995–2010 census excl. foreigners; 2015+ register-based census incl. foreigners)")
        return f"{head}, {_SEX[sex]}, {_age_text(age)}"
    m = re.match(r"^births_mother_age_(.+)$", series)
    if m:
        return f"Live births, mother {_age_text(m.group(1))}"
    raise InvalidValueError("calibration/sources.csv", "description", series, "a series described in kbalance.data")


# ---------------------------------------------------------------------------
# Reading and validating
# ---------------------------------------------------------------------------


def _root(root: Path | str | None) -> Path:
    return Path(root) if root is not None else calibration_dir()


def _allowed_regions() -> tuple[str, ...]:
    return (NATIONAL_CODE, *region_codes())


def _read_csv_str(path: Path, what: str, expected: str) -> pd.DataFrame:
    if not path.is_file():
        raise MissingFileError(path, what, expected)
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def _require_columns(path: Path, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    for col in columns:
        if col not in frame.columns:
            raise MissingColumnError(path, col, "columns " + ", ".join(columns))


@lru_cache(maxsize=8)
def _sources_cached(path: str, stamp: tuple[int, int]) -> pd.DataFrame:
    p = Path(path)
    table = _read_csv_str(p, "sources table", "calibration/sources.csv with columns " + ", ".join(SOURCE_COLUMNS))
    _require_columns(p, table, SOURCE_COLUMNS)
    dup = table["series"].duplicated()
    if dup.any():
        raise DuplicateCellError(p, "series", repr(table.loc[dup, "series"].iloc[0]))
    for col in ("series", "file", "unit"):
        empty = table[col].str.strip().eq("")
        if empty.any():
            raise MissingValueError(p, col, f"row {int(np.flatnonzero(empty)[0]) + 2}")
    return table.set_index("series", drop=False)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def series_table(root: Path | str | None = None) -> pd.DataFrame:
    """The sources table ``calibration/sources.csv``, indexed by series.

    root : Path, optional  the calibration folder; default :func:`kbalance.paths.calibration_dir`
    Columns: series, file (relative to root), unit, description, table_id, table_name, origin.
    """
    path = _root(root) / "sources.csv"
    return _sources_cached(str(path), _stamp(path)).copy()


def _parse_years(path: Path, years: pd.Series, field: str = "year") -> np.ndarray:
    bad = ~years.str.fullmatch(r"\d{4}")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        if years.iloc[i].strip() == "":
            raise MissingValueError(path, field, f"row {i + 2}")
        raise InvalidValueError(path, field, years.iloc[i], "a four-digit integer year")
    return years.astype(int).to_numpy()


def _parse_values(path: Path, values: pd.Series, keys: pd.DataFrame) -> np.ndarray:
    empty = values.str.strip().str.lower().isin(["", "nan", "na", "n/a", "null", "none"])
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        where = ", ".join(f"{c}={keys.iloc[i][c]}" for c in keys.columns)
        raise MissingValueError(path, "value", f"row {i + 2} ({where})")
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(path, "value", values.iloc[i], "a finite number")
    return numbers


def _check_regions(path: Path, codes: pd.Series, field: str, allowed: Sequence[str]) -> None:
    bad = ~codes.isin(allowed)
    if bad.any():
        raise UnknownRegionError(path, field, codes[bad].iloc[0], allowed)


def _check_units(path: Path, frame: pd.DataFrame, sources: pd.DataFrame, sources_path: Path) -> None:
    unknown = sorted(set(frame["series"]) - set(sources.index))
    if unknown:
        raise InvalidValueError(path, "series", unknown[0], f"a series listed in {sources_path}")
    declared = frame["series"].map(sources["unit"])
    bad = frame["unit"] != declared
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        err = UnitMismatchError(path, "unit", frame["unit"].iloc[i], declared.iloc[i])
        err.args = (f"{err.args[0]} (series {frame['series'].iloc[i]!r}, row {i + 2})",)
        raise err


@lru_cache(maxsize=64)
def _read_cached(path: str, stamp: tuple[int, int], sources_path: str, sources_stamp: tuple[int, int]) -> pd.DataFrame:
    p = Path(path)
    sp = Path(sources_path)
    is_od = p.name == OD_FILE
    columns = OD_COLUMNS if is_od else OBSERVATION_COLUMNS
    raw = _read_csv_str(p, "observation file", "a CSV with columns " + ", ".join(columns))
    _require_columns(p, raw, columns)
    raw = raw[list(columns)]
    allowed = _allowed_regions()
    if is_od:
        _check_regions(p, raw["origin_code"], "origin_code", allowed[1:])
        _check_regions(p, raw["dest_code"], "dest_code", allowed[1:])
        keys = raw[["year", "origin_code", "dest_code"]]
    else:
        _check_regions(p, raw["region_code"], "region_code", allowed)
        keys = raw[["series", "region_code", "year"]]
        empty = raw["series"].str.strip().eq("")
        if empty.any():
            raise MissingValueError(p, "series", f"row {int(np.flatnonzero(empty.to_numpy())[0]) + 2}")
    years = _parse_years(p, raw["year"])
    values = _parse_values(p, raw["value"], keys)
    frame = raw.copy()
    frame["year"] = years
    frame["value"] = values
    if is_od:
        frame.insert(0, "series", OD_SERIES)
    sources = _sources_cached(str(sp), sources_stamp)
    _check_units(p, frame, sources, sp)
    if is_od:
        frame = frame.drop(columns="series")
    key_cols = ["year", "origin_code", "dest_code"] if is_od else ["series", "region_code", "year"]
    dup = frame.duplicated(key_cols)
    if dup.any():
        cell = ", ".join(f"{c}={frame.loc[dup, c].iloc[0]}" for c in key_cols)
        raise DuplicateCellError(p, "+".join(key_cols), f"({cell})")
    return frame.reset_index(drop=True)


def read_observation_file(path: Path | str, sources: Path | str | None = None) -> pd.DataFrame:
    """Read and validate one observation file.

    path : Path  ``observations/<topic>.csv`` (or ``migration_od.csv``)
    sources : Path, optional  the sources table; default ``<path>/../../sources.csv``

    Returns the rows with ``year`` as int and ``value`` as float. Raises
    :class:`MissingFileError`, :class:`MissingColumnError`, :class:`UnknownRegionError`
    (region code not one of the 17 or ``"00"``), :class:`InvalidValueError` (series not
    in the sources table, non-integer year, non-numeric value), :class:`MissingValueError`,
    :class:`UnitMismatchError` and :class:`DuplicateCellError`.
    """
    p = Path(path)
    sp = Path(sources) if sources is not None else p.parent.parent / "sources.csv"
    if not sp.is_file():
        raise MissingFileError(sp, "sources table", "calibration/sources.csv with columns " + ", ".join(SOURCE_COLUMNS))
    return _read_cached(str(p), _stamp(p), str(sp), _stamp(sp)).copy()


def clear_cache() -> None:
    """Forget cached file reads (they are keyed on path, mtime and size)."""
    _read_cached.cache_clear()
    _sources_cached.cache_clear()
    _breaks_cached.cache_clear()


def _topic_path(root: Path, name: str) -> Path:
    table = series_table(root)
    if name not in table.index:
        raise InvalidValueError(root / "sources.csv", "series", name, "a series listed in sources.csv")
    return root / table.loc[name, "file"]


def load_series(name: str, root: Path | str | None = None) -> pd.DataFrame:
    """One observed series in long format.

    name : str  series name as in ``sources.csv``, e.g. ``"pop_registered"``
    root : Path, optional  calibration folder

    Returns columns ``region_code`` (str, ``"00"`` national), ``year`` (int) and
    ``value`` (float) [unit in ``.attrs['unit']``]; ``.attrs`` also holds ``source``
    (table id), ``origin`` and ``description``.
    """
    r = _root(root)
    if name == OD_SERIES:
        raise InvalidValueError(r / "sources.csv", "series", name, "a long-format series; use load_od() for the OD matrix")
    path = _topic_path(r, name)
    frame = read_observation_file(path, r / "sources.csv")
    rows = frame.loc[frame["series"] == name, ["region_code", "year", "value"]].reset_index(drop=True)
    meta = series_table(r).loc[name]
    rows.attrs.update(unit=meta["unit"], source=meta["table_id"], origin=meta["origin"],
                      description=meta["description"], series=name)
    return rows


def load_od(root: Path | str | None = None) -> xr.DataArray:
    """Movers by origin × destination [persons], dims (year, origin, dest).

    Regions are the 17 KOSIS codes in KOSIS order; the diagonal holds moves within
    a province. Pairs absent from the file (a province not yet existing, e.g.
    Sejong before 2012) are 0.
    """
    r = _root(root)
    path = _topic_path(r, OD_SERIES)
    frame = read_observation_file(path, r / "sources.csv")
    codes = region_codes()
    years = np.array(sorted(frame["year"].unique()), dtype=int)
    data = np.zeros((len(years), len(codes), len(codes)))
    yi = np.searchsorted(years, frame["year"].to_numpy())
    index = {c: i for i, c in enumerate(codes)}
    oi = frame["origin_code"].map(index).to_numpy()
    di = frame["dest_code"].map(index).to_numpy()
    data[yi, oi, di] = frame["value"].to_numpy()
    unit = series_table(r).loc[OD_SERIES, "unit"]
    return xr.DataArray(data, dims=("year", "origin", "dest"),
                        coords={"year": years, "origin": codes, "dest": codes},
                        name=OD_SERIES, attrs={"units": unit, "source": series_table(r).loc[OD_SERIES, "table_id"]})


def _age_key(label: str) -> tuple[int, int]:
    m = _AGE_5Y.match(label) or _AGE_OPEN.match(label)
    if label == "lt15":
        return (0, 0)
    if m:
        return (int(m.group(1)), 1)
    return (10_000, 0)  # unknown last


def age_structure(prefix: str, root: Path | str | None = None) -> xr.DataArray:
    """Population by 5-year age group [persons], dims (region, year, sex, age_group).

    prefix : str  ``"pop_registered"`` (resident registration 2011–2023) or
        ``"pop_census"`` (census years)
    Age groups are labelled ``"00_04"`` … and the open top group as present
    (``"85p"`` in the 1995–2010 censuses, ``"100p"`` otherwise); broad aggregates
    (``00_14``, ``15_64``, ``65p``, totals) and ``unknown`` are left out. Sex is
    ``total``, ``male``, ``female``. Cells absent from the data are NaN.
    """
    r = _root(root)
    table = series_table(r)
    pattern = re.compile(rf"^{re.escape(prefix)}_(total|male|female)_(.+)$")
    names = [s for s in table.index if pattern.match(s)]
    if not names:
        raise InvalidValueError(r / "sources.csv", "series", prefix + "_*", "a prefix of age-group series, e.g. pop_registered")
    files = sorted({table.loc[s, "file"] for s in names})
    frames = [read_observation_file(r / f, r / "sources.csv") for f in files]
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["series"].isin(names)].copy()
    parts = rows["series"].str.extract(pattern)
    rows["sex"], rows["age_group"] = parts[0], parts[1]
    bounds = rows["age_group"].str.extract(_AGE_5Y.pattern).apply(pd.to_numeric)
    five = (bounds[1] - bounds[0]).eq(4)
    # an open group "Np" is the top group when no 5-year group starts at N in that region-year
    starts = set(zip(rows.loc[five, "region_code"], rows.loc[five, "year"], bounds.loc[five, 0].astype(int)))
    top = pd.to_numeric(rows["age_group"].str.extract(_AGE_OPEN.pattern)[0])
    is_open = pd.Series([n == n and (reg, yr, int(n)) not in starts
                         for reg, yr, n in zip(rows["region_code"], rows["year"], top)], index=rows.index)
    rows = rows[five | is_open]
    groups = sorted(rows["age_group"].unique(), key=_age_key)
    return _to_array(rows, ["region_code", "year", "sex", "age_group"],
                     {"sex": ["total", "male", "female"], "age_group": groups},
                     name=prefix, unit=table.loc[names[0], "unit"])


def _region_order(codes: Iterable[str]) -> list[str]:
    present = set(codes)
    return [c for c in _allowed_regions() if c in present]


def _to_array(rows: pd.DataFrame, dims: list[str], order: dict[str, list], name: str, unit: str) -> xr.DataArray:
    coords = {
        "region": _region_order(rows["region_code"]),
        "year": sorted(rows["year"].unique()),
        **order,
    }
    series = rows.set_index(dims)["value"]
    full = pd.MultiIndex.from_product([coords["region"], coords["year"], *[order[d] for d in dims[2:]]], names=dims)
    data = series.reindex(full).to_numpy().reshape([len(coords["region"]), len(coords["year"]),
                                                    *[len(order[d]) for d in dims[2:]]])
    out_dims = ("region", "year", *dims[2:])
    return xr.DataArray(data, dims=out_dims, coords={d: coords[d] for d in out_dims}, name=name,
                        attrs={"units": unit})


def births_by_mother_age(root: Path | str | None = None) -> xr.DataArray:
    """Live births by mother's age group [persons], dims (region, year, age_group).

    Age groups: ``lt15``, ``15_19`` … ``45_49``, ``50p`` and ``unknown`` (their sum is
    ``births_mother_age_total``).
    """
    r = _root(root)
    table = series_table(r)
    names = [s for s in table.index if s.startswith("births_mother_age_") and s != "births_mother_age_total"]
    files = sorted({table.loc[s, "file"] for s in names})
    rows = pd.concat([read_observation_file(r / f, r / "sources.csv") for f in files], ignore_index=True)
    rows = rows[rows["series"].isin(names)].copy()
    rows["age_group"] = rows["series"].str.slice(len("births_mother_age_"))
    groups = sorted(rows["age_group"].unique(), key=_age_key)
    return _to_array(rows, ["region_code", "year", "age_group"], {"age_group": groups},
                     name="births_by_mother_age", unit=table.loc[names[0], "unit"])


# ---------------------------------------------------------------------------
# Breaks
# ---------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _breaks_cached(path: str, stamp: tuple[int, int]) -> pd.DataFrame:
    p = Path(path)
    table = _read_csv_str(p, "breaks table", "calibration/breaks.csv with columns " + ", ".join(BREAK_COLUMNS))
    _require_columns(p, table, BREAK_COLUMNS)
    table = table[list(BREAK_COLUMNS)].copy()
    allowed = ("*", *_allowed_regions())
    _check_regions(p, table["region_code"], "region_code", allowed)
    bad = ~table["kind"].isin(BREAK_KINDS)
    if bad.any():
        raise InvalidValueError(p, "kind", table.loc[bad, "kind"].iloc[0], BREAK_KINDS)
    for col in ("series", "description"):
        empty = table[col].str.strip().eq("")
        if empty.any():
            raise MissingValueError(p, col, f"row {int(np.flatnonzero(empty.to_numpy())[0]) + 2}")
    table["year"] = _parse_years(p, table["year"])
    return table


def load_breaks(root: Path | str | None = None) -> pd.DataFrame:
    """Definitional breaks, columns :data:`BREAK_COLUMNS`.

    ``series`` may be an fnmatch pattern (``pop_registered*``), ``region_code`` may be
    ``"*"`` (all regions); ``year`` [year] is the first year under the new definition.
    """
    path = _root(root) / "breaks.csv"
    return _breaks_cached(str(path), _stamp(path)).copy()


def breaks_for(series: str, region_code: str | None = None, root: Path | str | None = None) -> pd.DataFrame:
    """Breaks that apply to ``series`` (and to ``region_code`` when given)."""
    table = load_breaks(root)
    hit = table["series"].map(lambda pat: fnmatch.fnmatchcase(series, pat))
    if region_code is not None:
        hit &= table["region_code"].isin(["*", region_code])
    return table[hit].reset_index(drop=True)


# ---------------------------------------------------------------------------
# Build: harmonized -> calibration/
# ---------------------------------------------------------------------------


def _harmonized_dir(source_dir: Path) -> Path:
    source_dir = Path(source_dir)
    sub = source_dir / "harmonized"
    return sub if sub.is_dir() else source_dir


def _needed_files() -> list[str]:
    names = {f for specs in TOPICS.values() for f, _, _ in specs}
    return sorted(names | {OD_SPEC[0]})


def _read_harmonized(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    frame = _read_csv_str(path, "harmonized file", "a harmonized CSV with columns " + ", ".join(columns))
    _require_columns(path, frame, columns)
    return frame


def _origin_text(source: str) -> str:
    """The raw-file part of a harmonized source string (parenthetical notes dropped)."""
    text = source.strip()
    if text.startswith("page:"):
        tag = _PAGE_TAG_RE.search(text)
        url = text.split()[1]
        return f"raw/web_pages/page_excerpts_rd_tax.md [{tag.group(1)}] ({url})" if tag else text
    # raw paths contain no " (": the notes start there
    return text.split(" (", 1)[0]


def _table_ids(series: str, source: str, where: Path) -> list[str]:
    if series in _SERIES_TABLE:
        return [_SERIES_TABLE[series]]
    if source.startswith("page:") or "page https://" in source or "page http://" in source:
        tags = _PAGE_TAG_RE.findall(source) or re.findall(r"\[([TP]\d+)\]", source)
        return [f"page excerpts [{t}]" for t in tags] or ["page excerpts"]
    gi = _KOSTAT_GI_RE.search(source)
    if gi:
        ids = _DT_RE.findall(source) or [_KOSTAT_GI_TABLES.get(gi.group(1), "")]
        return [f"KOSTAT-GI {gi.group(1)} ({i})" if i else f"KOSTAT-GI {gi.group(1)}" for i in ids]
    ids = _DT_RE.findall(source)
    if ids:
        return list(dict.fromkeys(ids))
    for start, ident in _NON_KOSIS_IDS.items():
        if start in source:
            return [ident]
    raise InvalidValueError(where, "source", source, "a source naming a KOSIS table (DT_…) or a known non-KOSIS source")


def _years_text(years: Iterable[int]) -> str:
    ys = sorted(set(int(y) for y in years))
    runs: list[str] = []
    start = prev = ys[0]
    for y in ys[1:] + [None]:
        if y is not None and y == prev + 1:
            prev = y
            continue
        runs.append(str(start) if start == prev else f"{start}–{prev}")
        if y is not None:
            start = prev = y
    return ", ".join(runs)


def _source_row(series: str, rows: pd.DataFrame, topic_file: str, where: Path) -> dict[str, str]:
    """One sources.csv row from the harmonized rows of a series."""
    units = sorted(set(rows["unit"]))
    if len(units) != 1:
        raise InvalidValueError(where, "unit", " | ".join(units), f"one unit per series ({series})")
    tables: dict[str, set[int]] = {}
    origins: dict[str, tuple[set[int], set[str]]] = {}
    region_col = "region_code" if "region_code" in rows else None
    for source, grp in rows.groupby("source", sort=False):
        years = set(grp["year"].astype(int))
        for tid in _table_ids(series, source, where):
            tables.setdefault(tid, set()).update(years)
        o = _origin_text(source)
        ys, regs = origins.setdefault(o, (set(), set()))
        ys.update(years)
        regs.update(grp[region_col] if region_col else [])
    all_regions = set(rows[region_col]) if region_col else set()
    multi_t = len(tables) > 1
    ordered = sorted(tables.items(), key=lambda kv: (min(kv[1]), kv[0]))
    table_id = "; ".join(f"{t} ({_years_text(y)})" if multi_t else t for t, y in ordered)
    names = []
    for t, _ in ordered:
        dt = _DT_RE.search(t)
        if dt:
            names.append(TABLE_NAMES.get(dt.group(0), t))
        elif t.startswith("page excerpts"):
            names.append("quoted web pages (raw/web_pages/page_excerpts_rd_tax.md)")
        else:
            names.append(t)
    table_name = "; ".join(dict.fromkeys(names))
    parts = []
    for o, (ys, regs) in sorted(origins.items(), key=lambda kv: (min(kv[1][0]), kv[0])):
        scope = ""
        if regs and regs != all_regions and regs == {NATIONAL_CODE}:
            scope = " [national]"
        elif regs and regs != all_regions and NATIONAL_CODE not in regs and NATIONAL_CODE in all_regions:
            scope = " [regions]"
        parts.append(f"{_years_text(ys)}{scope}: {o}" if len(origins) > 1 else o)
    return {
        "series": series, "file": f"{OBSERVATIONS}/{topic_file}", "unit": units[0],
        "description": _describe(series), "table_id": table_id, "table_name": table_name,
        "origin": "; ".join(parts),
    }


def _compile(hdir: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Topic frames, the OD frame, the sources table and the breaks table."""
    cache: dict[str, pd.DataFrame] = {}

    def harmonized(name: str) -> pd.DataFrame:
        if name not in cache:
            cols = _HARMONIZED_OD_COLUMNS if name == OD_SPEC[0] else _HARMONIZED_COLUMNS
            cache[name] = _read_harmonized(hdir / name, cols)
        return cache[name]

    topics: dict[str, pd.DataFrame] = {}
    source_rows: list[dict[str, str]] = []
    for topic, specs in TOPICS.items():
        pieces = []
        for fname, patterns, years in specs:
            h = harmonized(fname)
            pick = h["variable"].map(lambda v: any(fnmatch.fnmatchcase(v, p) for p in patterns))
            sel = h[pick]
            if years is not None:
                sel = sel[years(sel["year"].astype(int))]
            missing = [p for p in patterns if not sel["variable"].map(lambda v: fnmatch.fnmatchcase(v, p)).any()]
            if missing:
                raise MissingValueError(hdir / fname, "variable", f"no rows for {missing[0]!r}")
            pieces.append(sel)
            for series, rows in sel.groupby("variable", sort=True):
                source_rows.append(_source_row(series, rows, f"{topic}.csv", hdir / fname))
        sel = pd.concat(pieces, ignore_index=True)
        out = pd.DataFrame({"series": sel["variable"], "region_code": sel["region_code"],
                            "year": sel["year"], "value": sel["value"], "unit": sel["unit"]})
        out["_y"] = out["year"].astype(int)
        out = out.sort_values(["series", "region_code", "_y"], kind="stable").drop(columns="_y")
        topics[topic] = out.reset_index(drop=True)

    fname, first = OD_SPEC
    h = harmonized(fname)
    h = h[h["year"].astype(int) >= first]
    od = pd.DataFrame({"year": h["year"], "origin_code": h["origin_code"], "dest_code": h["dest_code"],
                       "value": h["migrants"], "unit": h["unit"]})
    od["_y"] = od["year"].astype(int)
    od = od.sort_values(["_y", "origin_code", "dest_code"], kind="stable").drop(columns="_y").reset_index(drop=True)
    source_rows.append(_source_row(OD_SERIES, h.rename(columns={"migrants": "value"}).assign(
        region_code=h["origin_code"]), OD_FILE, hdir / fname))

    sources = pd.DataFrame(source_rows, columns=list(SOURCE_COLUMNS)).sort_values("series", kind="stable")
    breaks = _make_breaks(topics, od)
    return topics, od, sources.reset_index(drop=True), breaks


def _value(topics: dict[str, pd.DataFrame], series: str, region: str, year: int) -> float:
    for frame in topics.values():
        hit = frame[(frame["series"] == series) & (frame["region_code"] == region) & (frame["year"] == str(year))]
        if len(hit):
            return float(hit["value"].iloc[0])
    raise InvalidValueError("harmonized data", "value", f"{series}/{region}/{year}", "a value present in the harmonized files")


def _fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _first_year(topics: dict[str, pd.DataFrame], series: str, region: str) -> int:
    for frame in topics.values():
        hit = frame[(frame["series"] == series) & (frame["region_code"] == region)]
        if len(hit):
            return int(hit["year"].astype(int).min())
    raise InvalidValueError("harmonized data", "series", f"{series}/{region}", "a series with rows for the region")


def _make_breaks(topics: dict[str, pd.DataFrame], od: pd.DataFrame) -> pd.DataFrame:
    """The break table. Numbers in descriptions are computed from the data (dates from PROVENANCE.md)."""
    v = lambda s, r, y: _value(topics, s, r, y)  # noqa: E731
    first = lambda s, r: _first_year(topics, s, r)  # noqa: E731
    od_first = lambda r: int(od.loc[(od["origin_code"] == r) | (od["dest_code"] == r), "year"].astype(int).min())  # noqa: E731
    n = NATIONAL_CODE
    regions = load_regions()
    rows: list[tuple[str, str, int, str, str]] = []
    fa = (v("fiscal_autonomy_ratio", n, 2013), v("fiscal_autonomy_ratio", n, 2014))
    fi = (v("fiscal_independence_ratio", n, 2013), v("fiscal_independence_ratio", n, 2014))
    rows += [
        ("fiscal_autonomy_ratio", "*", 2014, "method",
         f"세입과목 개편 (reclassification of revenue items): national 재정자립도 {fa[0]:.1f} % (2013) → "
         f"{fa[1]:.1f} % (2014); pre-reform definition to 2013, post-reform from 2014 (no flag in the file)"),
        ("fiscal_independence_ratio", "*", 2014, "method",
         f"세입과목 개편 (reclassification of revenue items): national 재정자주도 {fi[0]:.1f} % (2013) → "
         f"{fi[1]:.1f} % (2014); pre-reform definition to 2013, post-reform from 2014"),
    ]
    p09, p10 = v("pop_registered", n, 2009), v("pop_registered", n, 2010)
    rows.append(("pop_registered*", "*", 2010, "registration",
                 f"From 2010-01 people registered as whereabouts-unknown (거주불명) are included: national "
                 f"{_fmt(p09)} (2009) → {_fmt(p10)} (2010), a level break"))
    for code in ("26", "29"):
        name = regions.loc[code, "name_en"]
        began = int(regions.loc[code, "began"])
        mothers = [c for c in regions.loc[code, "split_from"].split(";") if c]
        mnames = " and ".join(f"{regions.loc[m, 'name_en']} ({m})" for m in mothers)
        if code == "29":
            cn11, cn12 = v("pop_registered", "34", began - 1), v("pop_registered", "34", began)
            extra = (f"; created 2012-07 from Yeongi-gun (Chungnam) and parts of Gongju and Cheongwon (Chungbuk); "
                     f"Chungnam registered population {_fmt(cn11)} ({began - 1}) → {_fmt(cn12)} ({began}); "
                     f"first year in the data: OD flows {od_first(code)} (reconstructed back to January), "
                     f"fiscal_autonomy_ratio {first('fiscal_autonomy_ratio', code)}, "
                     f"grdp_nominal {first('grdp_nominal', code)}, census {first('pop_census_total_sum_of_ages', code)}; "
                     f"earlier data count it in the mother provinces")
        else:
            extra = (f"; earlier data count it in Gyeongnam; first year in the data: pop_registered "
                     f"{first('pop_registered', code)}, OD flows {od_first(code)}, grdp_nominal "
                     f"{first('grdp_nominal', code)} (topic file starts 1995), census {first('pop_census_total_sum_of_ages', code)}")
        desc = f"{name} ({code}) became a separate 시도 in {began}, carved from {mnames}{extra}"
        for c in (code, *mothers):
            rows.append(("*", c, began, "boundary", desc))
    dg = (v("pop_registered", "22", 2022), v("pop_registered", "22", 2023))
    gb = (v("pop_registered", "37", 2022), v("pop_registered", "37", 2023))
    desc = (f"Gunwi-gun moved from Gyeongbuk (37) to Daegu (22) on 2023-07-01, not back-cast: registered population "
            f"Daegu {_fmt(dg[0])} → {_fmt(dg[1])}, Gyeongbuk {_fmt(gb[0])} → {_fmt(gb[1])} (2022 → 2023)")
    rows += [("*", "22", 2023, "boundary", desc), ("*", "37", 2023, "boundary", desc)]
    g22 = v("grdp_nominal", n, 2022) * 1e6  # million KRW -> KRW
    pc22 = v("grdp_per_capita_nominal", n, 2022) * 1e3  # thousand KRW -> KRW
    ratio = g22 / (pc22 * v("pop_registered", n, 2022))
    vint = (f"2020-base vintage of KOSIS DT_1C81 (real = chained volume, reference year 2020); levels are above "
            f"older vintages: national nominal total ÷ grdp_per_capita_nominal ÷ registered population = "
            f"{ratio:.3f} in 2022; do not mix with grdp_per_capita_nominal or published ratios without rebasing")
    for s in ("grdp_nominal", "grdp_real_chained_2020", "gva_nominal_*", "net_taxes_on_products_nominal"):
        rows.append((s, "*", 2020, "base_vintage", vint))
    rows.append(("grdp_per_capita_nominal", "*", 2020, "base_vintage",
                 f"Older DT_1C86 vintage: not consistent with the 2020-base DT_1C81 totals "
                 f"(total ÷ per capita ÷ registered population = {ratio:.3f} nationally in 2022)"))
    rows.append(("grdp_nominal", "*", 2023, "preliminary",
                 "2023 column of DT_1C81 is most likely preliminary (downloaded mid-2025, no 'p' flag)"))
    rows.append(("grdp_real_chained_2020", "*", 2023, "preliminary",
                 "2023 column of DT_1C81 is most likely preliminary (downloaded mid-2025, no 'p' flag)"))
    for y in (2023, 2024):
        rows.append(("grdp_real_chained", "*", y, "preliminary",
                     "Provisional (잠정) in the KOSTAT 2025 Q1 regional-economy release"))
    for s in ("deaths", "natural_increase", "cbr", "cdr"):
        rows.append((s, "*", 2022, "preliminary",
                     "2022 from DT_1B8000H downloaded 2023-06-16: preliminary (births, TFR and marriages 2022 "
                     "come from later final tables)"))
    mar = topics["vital"][topics["vital"]["series"] == "marriages"].assign(value=lambda f: f["value"].astype(float),
                                                                         year=lambda f: f["year"].astype(int))
    nat = mar[mar["region_code"] == n].set_index("year")["value"]
    gap = (nat - mar[mar["region_code"] != n].groupby("year")["value"].sum()).dropna()
    switch = int(gap[gap != 0].index.min())
    rows.append(("marriages", n, switch, "definition",
                 f"National total: {int(gap.index.min())}–{switch - 1} the sum of provinces (abroad row excluded); from "
                 f"{switch} the published DT_1B83A03 total, which includes marriages reported abroad (국외 row of "
                 f"DT_1B8000H): national − sum of provinces = {_fmt(gap[switch])} ({switch}) … "
                 f"{_fmt(gap[gap.index.max()])} ({int(gap.index.max())})"))
    rows += [
        ("local_tax_revenue_provincial_govt", "*", 2014, "method",
         "지방소득세 became an independent local tax (2014 reform) [T8]"),
        ("local_tax_revenue_provincial_govt", "*", 2020, "method",
         "지방소비세 rate raised from 15 % to 21 % (2020) [T8]"),
        ("univ_institutions", "*", 2018, "definition", "Institution counts include branch campuses from 2018"),
        ("gradschool_institutions", "*", 2018, "definition", "Institution counts include branch campuses from 2018"),
        ("univ_students_enrolled", "*", 2021, "definition", "Enrolment includes students deferring graduation from 2021"),
        ("gradschool_students_enrolled", "*", 2021, "definition",
         "Enrolment includes students deferring graduation from 2021"),
    ]
    c10 = topics["census_age"]
    def census_total(y: int) -> float:
        sel = c10[(c10["series"] == "pop_census_total_sum_of_ages") & (c10["year"] == str(y))]
        return float(sel["value"].astype(float).sum())
    rows.append(("pop_census*", "*", 2015, "definition",
                 f"Register-based census (DT_1IN1503) from 2015 includes foreigners; 1975–2010 censuses "
                 f"(DT_1IN0001_ENG) exclude them: sum of regions {_fmt(census_total(2010))} (2010) → "
                 f"{_fmt(census_total(2015))} (2015); open age group 85+ to 2010, 100+ from 2015"))
    out = pd.DataFrame(rows, columns=list(BREAK_COLUMNS))
    out["year"] = out["year"].astype(str)
    return out


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def build(source_dir: Path | str, dest_dir: Path | str) -> list[Path]:
    """Compile the harmonized files into the observation set.

    source_dir : Path  ``shared/data`` or its ``harmonized/`` subfolder
    dest_dir : Path  the calibration folder (``observations/``, ``sources.csv``, ``breaks.csv``)

    Everything is written to a temporary sibling folder of ``dest_dir``, validated
    with :func:`read_observation_file` and :func:`load_breaks`, and only then moved
    into place file by file (``os.replace``); a failure leaves ``dest_dir``
    untouched. Returns the written paths. Raises :class:`MissingFileError` naming
    a missing harmonized file.
    """
    hdir = _harmonized_dir(Path(source_dir))
    for name in _needed_files():
        if not (hdir / name).is_file():
            raise MissingFileError(hdir / name, "harmonized file", f"{name} in {hdir} (shared/data/harmonized)")
    dest = Path(dest_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    topics, od, sources, breaks = _compile(hdir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-build-", dir=dest.parent))
    try:
        rel: list[Path] = []
        for topic, frame in topics.items():
            rel.append(Path(OBSERVATIONS) / f"{topic}.csv")
            _write_csv(frame, tmp / rel[-1])
        rel.append(Path(OBSERVATIONS) / OD_FILE)
        _write_csv(od, tmp / rel[-1])
        _write_csv(sources, tmp / "sources.csv")
        _write_csv(breaks, tmp / "breaks.csv")
        for r in rel:
            read_observation_file(tmp / r, tmp / "sources.csv")
        listed = set(sources["file"])
        if listed != {r.as_posix() for r in rel}:
            raise InvalidValueError(tmp / "sources.csv", "file", sorted(listed), "the files written by build")
        load_breaks(tmp)
        rel += [Path("sources.csv"), Path("breaks.csv")]
        (dest / OBSERVATIONS).mkdir(parents=True, exist_ok=True)
        written = []
        for r in rel:
            os.replace(tmp / r, dest / r)
            written.append(dest / r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    clear_cache()
    return written


# ---------------------------------------------------------------------------
# Check
# ---------------------------------------------------------------------------

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
        self.results.append(CheckResult(name, bool(passed), detail))

    def summary_table(self) -> pd.DataFrame:
        """Per series: file, regions (count of the 17), national (bool), first and last year, unit, table_id."""
        return self.summary.copy()

    def table(self) -> pd.DataFrame:
        """The checks as a DataFrame (check, passed, detail)."""
        return pd.DataFrame([(r.name, r.passed, r.detail) for r in self.results],
                            columns=["check", "passed", "detail"])


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
    r = _root(root)
    report = CheckReport()
    sources = series_table(r)
    files = sorted(set(sources["file"]))
    frames: dict[str, pd.DataFrame] = {}
    for f in files:
        frames[f] = read_observation_file(r / f, r / "sources.csv")
        report.add(f"schema, units, regions, no duplicates: {f}", True, f"{len(frames[f])} rows")
    extra = sorted(p.relative_to(r).as_posix() for p in (r / OBSERVATIONS).glob("*.csv")) if (r / OBSERVATIONS).is_dir() else []
    extra = [e for e in extra if e not in set(files)]
    report.add("no unlisted observation files", not extra, ", ".join(extra) or "none")

    od_file = sources.loc[OD_SERIES, "file"] if OD_SERIES in sources.index else None
    long = pd.concat([fr for f, fr in frames.items() if f != od_file], ignore_index=True)
    present = set(long["series"]) | ({OD_SERIES} if od_file else set())
    missing = sorted(set(sources.index) - present)
    report.add("every listed series has data", not missing, ", ".join(missing[:10]) or f"{len(sources)} series")
    wrong_file = [s for f, fr in frames.items() if f != od_file
                  for s in set(fr["series"]) if sources.loc[s, "file"] != f]
    report.add("series are in the file sources.csv names", not wrong_file, ", ".join(sorted(wrong_file)[:10]) or "ok")

    breaks = load_breaks(r)
    unmatched = [p for p in breaks["series"] if not any(fnmatch.fnmatchcase(s, p) for s in sources.index)]
    report.add("breaks name known series", not unmatched, ", ".join(unmatched) or f"{len(breaks)} breaks")

    # summary table
    regs17 = set(region_codes())
    g = long.groupby("series")
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
    return report
