"""What the observation set holds: file layouts, topics, series descriptions and table names.

Declarations only (no reading or writing): the columns of every file in
``calibration/`` (see ``calibration/README.md``), which harmonized series go into
which topic file (:data:`TOPICS`), the original statistical tables
(:data:`TABLE_NAMES`) and the text that describes each series (:func:`describe`),
all taken from ``shared/data/PROVENANCE.md``.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

import pandas as pd

from kbalance.errors import InvalidValueError

#: Columns of a topic file in ``calibration/observations/``.
OBSERVATION_COLUMNS = ("series", "region_code", "year", "value", "unit")
#: Columns of ``calibration/observations/migration_od.csv``.
OD_COLUMNS = ("year", "origin_code", "dest_code", "value", "unit")
#: Columns of ``calibration/sources.csv``.
SOURCE_COLUMNS = ("series", "file", "unit", "description", "table_id", "table_name", "origin")
#: Columns of ``calibration/breaks.csv``. ``origin_codes`` (";"-separated) and
#: ``dest_code`` name the regions of a ``boundary`` break and are empty otherwise.
BREAK_COLUMNS = ("series", "region_code", "year", "kind", "description", "origin_codes", "dest_code")
#: Allowed ``kind`` values in ``breaks.csv``.
BREAK_KINDS = ("method", "registration", "boundary", "base_vintage", "preliminary", "definition")

#: Series name of the origin-destination matrix in ``sources.csv``, and its file.
OD_SERIES = "migration_od"
OD_FILE = "migration_od.csv"
#: The folder of the topic files, inside the calibration folder.
OBSERVATIONS = "observations"
#: The entries of the calibration folder that make up the observation set.
OBSERVATION_SET = (OBSERVATIONS, "sources.csv", "breaks.csv")

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
#: Columns of a harmonized topic file and of the harmonized OD matrix.
HARMONIZED_COLUMNS = ("region_code", "region", "year", "variable", "value", "unit", "source")
HARMONIZED_OD_COLUMNS = ("year", "origin_code", "origin", "dest_code", "dest", "migrants", "unit", "source")

# ---------------------------------------------------------------------------
# Source strings -> table ids, table names and origins
# ---------------------------------------------------------------------------

#: Identifiers for sources whose harmonized ``source`` string has no KOSIS DT_ id,
#: keyed by the start of the raw path (names as in shared/data/PROVENANCE.md).
NON_KOSIS_IDS = {
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
KOSTAT_GI_TABLES = {"2-2-2": "DT_1C83"}
#: The fiscal file names both tables; PROVENANCE: DT_1YL20921 (자립도), DT_1YL20891 (자주도).
SERIES_TABLES = {"fiscal_autonomy_ratio": "DT_1YL20921", "fiscal_independence_ratio": "DT_1YL20891"}

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

# ---------------------------------------------------------------------------
# Descriptions of series (text only; from PROVENANCE.md)
# ---------------------------------------------------------------------------

DESCRIPTIONS = {
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
#: Age-group labels: a 5-year group ``"15_19"`` and an open top group ``"85p"``.
AGE_5Y = re.compile(r"^(\d{2,3})_(\d{2,3})$")
AGE_OPEN = re.compile(r"^(\d{2,3})p$")


def _age_text(label: str) -> str:
    m = AGE_5Y.match(label)
    if m:
        return f"aged {int(m.group(1))}–{int(m.group(2))}"
    m = AGE_OPEN.match(label)
    if m:
        return f"aged {int(m.group(1))}+"
    return {"total": "all ages", "unknown": "age unknown", "lt15": "aged under 15",
            "sum_of_ages": "sum of the age groups (age unknown excluded)"}.get(label, label)


def describe(series: str) -> str:
    """The ``description`` of a series in ``sources.csv``; InvalidValueError for a series not described here."""
    if series in DESCRIPTIONS:
        return DESCRIPTIONS[series]
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
    raise InvalidValueError("calibration/sources.csv", "description", series, "a series described in kbalance.observations.schema")
