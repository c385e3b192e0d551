"""What the observation set holds: file layouts, topics, series descriptions and table names.

Declarations only (no reading or writing): the columns of every file in
``calibration/`` (see ``calibration/README.md``), which harmonized series go into
which topic file (:data:`TOPICS`), the original statistical tables
(:data:`TABLE_NAMES`) and the text that describes each series (:func:`describe`),
all taken from ``shared/data/PROVENANCE.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

import pandas as pd

from kbalance.errors import InvalidValueError

#: Series whose values may be negative (net flows and balances, by name pattern); every
#: other series of the observation set counts or measures something and must be >= 0.
SIGNED_SERIES = ("*_net_*", "natural_increase")

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
#: Totals typed from the references, beside the built set (kept by hand, never rebuilt), and
#: their columns: a topic file's plus the key of docs/references.md each row is read from.
REFERENCE_TOTALS = "reference_totals.csv"
REFERENCE_COLUMNS = (*OBSERVATION_COLUMNS, "source")

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
    "private_consumption_per_capita",
)

#: The raw press file of international migration, relative to the harmonized folder; its
#: numbers are read as harmonized rows (variable ``intl_<what>_<group>``) by the build.
INTL_FILE = "../raw/kostat_intl_migration_press/kostat_intl_migration_national_from_press.csv"
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
    "international_migration": [(INTL_FILE, ("intl_*",), None)],
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
    "raw/letcodesing_project/": "국세 수입 (national tax revenue)",
    "raw/bage/Resident_Population_in_FiveYear": "KOSIS Resident Population in Five-Year Age Groups (English; table id not in file)",
    "raw/migest/Resident_Population_by": "KOSIS Resident Population by City, County and District (English; table id not in file)",
    "raw/gcam_korea/GRDP": "gcam-korea compilation (method undocumented)",
    "raw/hmd_kor": "HMD KOR Deaths_1x1, Exposures_1x1",
    "raw/kr_pop_atlas/decline.json": "MOIS 인구감소지역·관심지역 designation (October 2021)",
    "raw/kostat_intl_migration_press/": "KOSTAT 국제인구이동통계 (as reported in press articles)",
    **{f"raw/un_wpp2024/{name}_": f"UN WPP 2024 {name}" for name in (
        "e01dt", "e0proj1dt", "tfr1dt", "tfrproj1dt", "mig1dt", "migproj1dt", "migprojAge1dt", "percentASFR5dt")},
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
    "DT_1B41": "생명표 (abridged life tables, national, by sex)",
    "DT_1B04005N": "행정구역(시군구)별/성별/5세별 주민등록인구 (resident registration by 시군구, sex and 5-year age, December)",
    "국세 수입 (national tax revenue)": (
        "국세 수입 (national tax revenue, 100 million KRW) as compiled in letcodesing/project 개인1/data.csv; "
        "agrees with page excerpts [T5] (2016), [T8] (2019) and [T7] (2020 fiscal-year settlement)"),
    "HMD KOR Deaths_1x1, Exposures_1x1": "Human Mortality Database (www.mortality.org), Republic of Korea; "
                                         "HMD terms of use: cite the HMD",
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
    "private_consumption_per_capita": "Private final consumption per resident, nominal (DT_1C86 vintage)",
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
    "hmd_deaths": "Deaths by sex and single age 0–109 and the open interval 110+ (age label 110p), national, "
                  "Human Mortality Database estimates (with decimals); cite the HMD",
    "hmd_exposure": "Exposure to risk [person-years] by sex and single age 0–109 and 110+, national, "
                    "Human Mortality Database; cite the HMD",
    "life_table_lx": "Survivors lx at exact age (radix 100,000), national abridged life table by sex (total, male, "
                     "female); the open age group is labelled as the table gives it (85p, 95p, 100p)",
    "wpp_e0_male": "Life expectancy at birth, male, UN WPP 2024 (everyone resident): estimates; probabilistic "
                   "projection median, 80 % (p10–p90) and 95 % (p2.5–p97.5) intervals",
    "wpp_e0_female": "Life expectancy at birth, female, UN WPP 2024: estimates; projection median and 80 %/95 % intervals",
    "wpp_e0_both": "Life expectancy at birth, both sexes, UN WPP 2024: estimates; projection median and 80 %/95 % intervals",
    "wpp_tfr": "Total fertility rate, UN WPP 2024: estimates; projection median, 80 %/95 % intervals and the "
               "low/high variants (±0.5 child)",
    "wpp_net_international_migration": "Net international migration, all nationalities, UN WPP 2024: estimates; "
                                       "projection median and 80 %/95 % intervals",
    "wpp_net_migrants_by_age": "Net international migrants by sex and single age (0–100 as in the file), "
                               "UN WPP 2024 projection",
    "wpp_percent_asfr": "Percentage distribution of age-specific fertility by mother's 5-year age group, UN WPP 2024; "
                        "year = the mid-year the file gives for each 5-year period (1953 = 1950–1955)",
    "sgg_pop_registered_by_age": "Registered population by 시군구 (229 units: 일반구 merged into their 시), sex and "
                                 "5-year age group (00_04 … 95_99, 100p), December, on current boundaries "
                                 "(군위군 in Daegu every year); the source's copied age vectors of 군위군 2015–2022 "
                                 "and 미추홀구 2015–2017 are left out",
    "sgg_pop_registered": "Registered population by 시군구, December totals, on current boundaries (군위군 in Daegu every year)",
    "municipalities": "The 229 시군구 of the municipal files: MOIS 5-digit code, region, name",
    "municipal_designations": "인구감소지역 (depopulation_area, 89) and 관심지역 (area_of_concern, 18) designated by MOIS "
                              "in October 2021, on current codes; the source file marks the 관심지역 list as "
                              "second-hand (medium confidence)",
    "sgg_boundaries": "시군구 boundaries (229 units, 일반구 dissolved), simplified polygons (shared borders kept), "
                      "WGS84 lon/lat, properties sgg_cd, sgg_nm, sido_cd, sido_nm on 2023 codes",
}

_INTL = {"arrivals": "arrivals", "departures": "departures", "net": "net migration (arrivals − departures)",
         "movers": "total movers (arrivals + departures)"}
_INTL_GROUP = {"all": "all nationalities", "korean": "Korean nationals", "foreigner": "foreigners"}
DESCRIPTIONS.update({
    f"intl_{what}_{group}": f"International migration, national, {_INTL_GROUP[group]}: {text}; rounded thousands "
                            f"as reported in press articles on Statistics Korea's international-migration "
                            f"statistics (sparse years; address of each article in the raw file)"
    for what, text in _INTL.items() for group in _INTL_GROUP})

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


# ---------------------------------------------------------------------------
# Files with more keys than (series, region_code, year), text tables, boundaries
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyedLayout:
    """The columns of a file whose cells have keys besides series, region_code and year.

    keys : the key columns after ``year``; with series, region_code and year they name a cell
    wide : the key whose labels are columns (one value column per label, e.g. age groups,
        to keep large files small), or ``""`` for a single ``value`` column
    """

    keys: tuple[str, ...]
    wide: str = ""

    def columns(self, labels: Iterable[str] = ()) -> tuple[str, ...]:
        """The header: ``series, region_code, year, *keys``, then ``value`` or the ``labels``, then ``unit``."""
        values = tuple(labels) if self.wide else ("value",)
        return ("series", "region_code", "year", *self.keys, *values, "unit")

    @property
    def cell(self) -> tuple[str, ...]:
        """The columns that name a cell once the wide labels are read as the key ``wide``."""
        return ("series", "region_code", "year", *self.keys, *((self.wide,) if self.wide else ()))


#: Keyed files of ``calibration/observations/`` and their layouts.
KEYED_FILES = {
    "mortality.csv": KeyedLayout(("sex", "age")),
    "life_table.csv": KeyedLayout(("sex", "age")),
    "un_wpp.csv": KeyedLayout(("quantile",)),
    "un_wpp_fertility_age.csv": KeyedLayout(("age_group",)),
    "un_wpp_migration_age.csv": KeyedLayout(("sex",), wide="age"),
    "municipal_population.csv": KeyedLayout(("sgg_code",)),
    "municipal_population_age.csv": KeyedLayout(("sgg_code", "sex"), wide="age_group"),
}
#: Tables of text (no values), one series each: file -> (series, columns); the first column is the key.
TEXT_FILES = {
    "municipalities.csv": ("municipalities", ("sgg_code", "region_code", "sgg_name")),
    "municipal_designations.csv": ("municipal_designations", ("sgg_code", "region_code", "status", "designated")),
}
#: Allowed ``status`` of ``municipal_designations.csv``.
MUNICIPAL_STATUSES = ("depopulation_area", "area_of_concern")
#: The 시군구 boundaries (GeoJSON), copied byte for byte from ``shared/data/geo``; its series name.
BOUNDARY_FILE = "sgg_2023_229.geojson"
BOUNDARY_SERIES = "sgg_boundaries"
#: A 5-digit MOIS 시군구 code.
SGG_CODE = re.compile(r"^\d{5}$")
#: Sex labels of the keyed files.
SEXES = ("total", "male", "female")

#: Harmonized files of the keyed set and their columns (shared/data/PROVENANCE.md).
KEYED_HARMONIZED = {
    "mortality_national.csv": ("year", "sex", "age", "deaths", "exposure", "open_interval", "source"),
    "life_table_lx_national.csv": ("year", "sex", "age_start", "lx", "source"),
    "un_wpp2024_korea.csv": ("year", "variable", "quantile", "value", "unit", "source"),
    "municipal_population.csv": ("region_code", "sgg_code", "sido_name", "sgg_name", "year", "value", "unit", "source"),
    "municipal_population_age.csv": ("year", "region_code", "sido_code", "sgg_code", "sgg_name", "sex", "age_group",
                                     "value", "unit", "source"),
    "municipal_designations.csv": ("region_code", "sgg_code", "sido_name", "sgg_name", "status", "designated", "source"),
}
#: Raw files read directly (under ``shared/data``) and their columns.
RAW_FILES = {
    "raw/un_wpp2024/migprojAge1dt_KOR.csv": ("country_code", "year", "age", "migM", "migF"),
    "raw/un_wpp2024/percentASFR5dt_KOR.csv": ("country_code", "year", "period", "age", "pasfr"),
    INTL_FILE.removeprefix("../"):
        ("year", "group", "arrivals_k", "departures_k", "net_k", "total_movers_k", "source_url", "note"),
    f"geo/{BOUNDARY_FILE}": (),
}
#: UN WPP 2024 country code of the Republic of Korea in the raw files.
WPP_COUNTRY = "410"
#: The wpp2024 datasets behind each harmonized UN WPP variable: (estimates, projection).
WPP_DATASETS = {"e0": ("e01dt", "e0proj1dt"), "tfr": ("tfr1dt", "tfrproj1dt"),
                "net_international_migration": ("mig1dt", "migproj1dt")}
#: The licence and citation of the UN WPP rows, in their sources.csv table names.
WPP_CITATION = "UN DESA Population Division (2024), World Population Prospects 2024, R package wpp2024 v1.1-3 (CC BY 3.0 IGO)"
#: The HMD series: series -> (harmonized column, unit, raw file).
HMD_SERIES = {"hmd_deaths": ("deaths", "persons", "raw/hmd_kor/HMD_KOR_Deaths_1x1_2003_2020.csv"),
              "hmd_exposure": ("exposure", "person-years", "raw/hmd_kor/HMD_KOR_Exposures_1x1_2003_2020.csv")}
#: The raw file of the municipal age structure (``pyrSeries``; PROVENANCE.md, raw/kr_pop_atlas).
MUNICIPAL_AGE_RAW = "raw/kr_pop_atlas/atlas.json"
#: Unit of life_table_lx.
LX_UNIT = "persons (radix 100000)"
#: The open-group suffix of the KOSIS life-table ages ("85이상" = 85 and over), written ``85p``.
LX_OPEN_SUFFIX = "이상"
#: The columns of the press file compiled as series ``intl_<what>_<group>``: column -> what.
INTL_COLUMNS = {"arrivals_k": "arrivals", "departures_k": "departures", "net_k": "net", "total_movers_k": "movers"}
#: sources.csv row of the boundary file (from PROVENANCE.md, "Boundaries: geo/").
BOUNDARY_SOURCE = {
    "unit": "degrees (WGS84 lon/lat)",
    "table_id": "SGIS 시군구 boundaries 2022-03 (github.com/vuski/admdongkor ver20220309_sgg_vote_simple)",
    "table_name": "Statistics Korea SGIS boundaries, KOGL type 1 (attribution); codes remapped to the 2023 state "
                  "(강원 42→51, 전북 45→52, 군위군 47720→27720); not reflected: 부천 구 (2024), 화성 구 (2026)",
    "origin": f"geo/{BOUNDARY_FILE} (geo/build_geometry.py: simplified, tolerance 0.002°)",
}
TABLE_NAMES.update({ident: WPP_CITATION for start, ident in NON_KOSIS_IDS.items() if start.startswith("raw/un_wpp2024/")})
