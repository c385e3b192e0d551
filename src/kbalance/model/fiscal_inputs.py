"""Input tables of the fiscal sector (model/inputs/fiscal_*.csv).

The fiscal sector of model/kbalance.mdl encodes the rules of the law texts (docs/model.md,
"Fiscal"); the observable ratios it needs are computed here from the observation set and a
few totals of the references, and then held fixed:

- the share of a year's VAT base collected in the next year (the fourth quarter, whose
  final return is filed in January [R690]), so that a year's revenue is shared at three
  quarters of this year's rate and a quarter of last year's (the collected rate);
- the local consumption tax base (VAT base) per unit of GDP: the 2023 revenue of the tax
  (24.6731조 [R312]) over its 2023 collected rate (25.3 % and 23.7 % [R300][R301]) and the
  2023 nominal GDP;
- the national tax collected in the year before each budget year, nominal, and the last
  budget year where it is observed: the base of the allocation tax pool the original budget
  writes [R304] 제4조①1호, so that a history year's pool rests on the observed national tax,
  not on the modelled GDP;
- national tax before the local consumption tax is carved out of VAT, per unit of GDP, by
  year from 2000 (tax.csv to 2020, the settled totals of calibration/reference_totals.csv
  [R780][R781] after it, with the collected rates of model/levers.toml's history), the base
  of the allocation tax;
- provincial taxes other than the consumption tax per resident relative to national GDP per
  resident by region, 2012–2013, when the consumption tax was a single 5 %p block distributed
  by the consumption index (tax.csv, economy.csv, population.csv);
- the national level of those provincial taxes per unit of GDP by year relative to
  2012–2013 (tax.csv less the consumption tax by its blocks' rules): the acquisition tax of
  the housing boom of 2015–2022 is in it, as no housing-transaction base is observed;
- municipal taxes per resident relative to national GDP per resident in 2023, for the
  autonomous districts of the special and metropolitan cities from Seoul (its local tax [R312] less its provincial government's in
  tax.csv), for the cities and counties of the provinces from the rest of the national
  total [R312]; both less the municipalities' part of block 4 of the consumption tax;
- non-tax own revenue per unit of local tax, 2023 budget (24.7조 / 115.3조 [R94]);
- the share of the 2023 budgets that is neither own revenue nor transfers (surpluses,
  carry-overs, internal transfers and borrowing: 24.2조 of 305.4조 [R94]), which the ratios'
  budget holds since the 2014 reclassification;
- private consumption per resident relative to the nation, 2017–2021 (economy.csv);
- the shares of the local extinction response fund from the designated areas
  (municipal_designations.csv) by the rule of [R316];
- the national GDP deflator by year (economy.csv, 2020 = 1), which turns the nominal sums of
  the levers and the law into 2020 prices.

Amounts are in the units of the model: GRDP is in chained 2020 prices, so a ratio of
nominal tax to nominal GRDP applied to it gives taxes in 2020 prices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kbalance.errors import InvalidValueError
from kbalance.observations.keyed import municipal_designations
from kbalance.observations.load import national_by_year, reference_totals, wide_series
from kbalance.regions import NATIONAL_CODE, load_regions, names

#: Local consumption tax revenue in 2023 [KRW] [R312].
CONSUMPTION_TAX_2023 = 24.6731e12
#: Share of a year's VAT base paid in the next year: the October-December quarter [R690].
COLLECTED_NEXT_YEAR = 0.25
#: Local tax of all local governments in 2023, nationally and in Seoul [KRW] [R312].
LOCAL_TAX_TOTAL_2023, SEOUL_LOCAL_TAX_2023 = 112.4609e12, 26.3070e12
#: Block 4 of the consumption tax in 2023 [%p of the VAT base], its fixed sum [KRW] and the
#: municipalities' part of its residual [R301] 제75조②6·8호.
BLOCK_4, BLOCK_4_FIXED, BLOCK_4_MUNICIPAL = 4.3, 2.2521168e12, 0.4
#: 2023 local budget: non-tax revenue and local tax [trillion KRW] [R94].
NON_TAX_REVENUE_2023, LOCAL_TAX_2023 = 24.7, 115.3
#: 2023 local budget: the total, national subsidies and allocation tax [trillion KRW] [R94].
BUDGET_2023, SUBSIDIES_2023, ALLOCATION_TAX_2023 = 305.4, 77.8, 63.4
#: Provinces' part of block 2, (1 - 0.1924 - 0.2027) × 10/11, and the year block 2 began
#: compensating the acquisition-tax cut [R301] 제75조②2호 [R300].
BLOCK_2_PROVINCE, ACQUISITION_CUT_YEAR = 0.5499, 2014
#: The only block of the consumption tax before 2014 [%p of the VAT base] [R300][R301].
FIRST_BLOCK = 5.0
#: Years whose ratios are used (see the module docstring).
PROVINCIAL_TAX_YEARS = (2012, 2013)
MUNICIPAL_TAX_YEAR = 2023
NATIONAL_TAX_FIRST_YEAR = 2000
CONSUMPTION_YEARS = range(2017, 2022)
#: The latest year of the consumption index, its key for the 2023 municipal taxes.
MUNICIPAL_SHARE_YEAR = 2021
#: Regions without autonomous municipalities: every local tax is the region's own [R301].
SINGLE_TIER = ("Sejong", "Jeju")
#: Local extinction response fund: share of the depopulation areas (the rest: the areas of
#: concern) in the municipal account [R316].
DEPOPULATION_SHARE = 0.95


def consumption_weights(levers: dict[str, dict]) -> pd.Series:
    """Weight of each region in the consumption index [1] by region code: 100 in the capital
    region, the metropolitan-city and province weights of model/levers.toml (their first
    history point) elsewhere [R301]."""
    regions = load_regions()
    metro = levers["metropolitan_consumption_weight"]["history"][0][1]
    province = levers["province_consumption_weight"]["history"][0][1]
    capital = regions["capital_region"].astype(bool)
    city = regions["name_ko"].str.endswith(("특별시", "광역시")) & ~capital
    return pd.Series(np.where(capital, 100.0, np.where(city, metro, province)), index=regions.index)


def consumption_index(root: Path | None, years) -> pd.DataFrame:
    """Private final consumption by region [thousand KRW × persons] (per-resident consumption
    times the registered population), years × region codes."""
    per_head = wide_series("private_consumption_per_capita", root, national=True)
    population = wide_series("pop_registered", root, national=True)
    return (per_head * population).reindex(index=list(years))


def rate_path(levers: dict[str, dict], years) -> pd.Series:
    """The local consumption tax rate [%] of model/levers.toml's history in the given years
    (linear between points, the first value held before it, the last after it)."""
    points = levers["local_consumption_tax_rate"]["history"]
    x, y = [p[0] for p in points], [p[1] for p in points]
    return pd.Series(np.interp(list(years), x, y), index=list(years))


def collected_rate(levers: dict[str, dict], years) -> pd.Series:
    """The rate [%] of the local consumption tax collected in each year: this year's rate on
    the part of the VAT base paid in the year, last year's on its fourth quarter."""
    years = list(years)
    now = rate_path(levers, years).to_numpy()
    before = rate_path(levers, [y - 1 for y in years]).to_numpy()
    return pd.Series((1 - COLLECTED_NEXT_YEAR) * now + COLLECTED_NEXT_YEAR * before, index=years)


def collected_blocks(levers: dict[str, dict], years) -> pd.DataFrame:
    """The four blocks of the local consumption tax collected in each year [%p of the VAT
    base], years × blocks 1–4, as model/kbalance.mdl collects them (this year's rate on three
    quarters of the base, last year's on the fourth)."""
    years = list(years)

    def blocks(rate: np.ndarray) -> np.ndarray:
        return np.stack([np.minimum(rate, 5.0), np.clip(rate - 5.0, 0, 6.0), np.clip(rate - 11.0, 0, 10.0),
                         np.clip(rate - 21.0, 0, BLOCK_4)], axis=1)
    now = blocks(rate_path(levers, years).to_numpy())
    before = blocks(rate_path(levers, [y - 1 for y in years]).to_numpy())
    return pd.DataFrame((1 - COLLECTED_NEXT_YEAR) * now + COLLECTED_NEXT_YEAR * before, index=years, columns=[1, 2, 3, 4])


def provincial_tax_level(root: Path | None, levers: dict[str, dict], vat_ratio: float) -> pd.DataFrame:
    """The provincial governments' taxes other than the consumption tax per unit of GDP by year,
    relative to their 2012–2013 mean [1]: the observed national total (tax.csv) less their
    consumption tax by the blocks' rules, plus the acquisition tax the 2014 cut removed.
    Block 4's municipal part is taken over all regions (Sejong's and Jeju's part of it, a few
    hundred million KRW, is neglected)."""
    gdp = national_by_year("grdp_nominal", root).dropna() * 1e6  # KRW
    provincial = national_by_year("local_tax_revenue_provincial_govt", root).dropna()
    years = [int(y) for y in provincial.index if y in gdp.index]
    base = vat_ratio * gdp.loc[years]
    b = collected_blocks(levers, years)
    residual_4 = (b[4] / 100 * base - BLOCK_4_FIXED * b[4] / BLOCK_4).clip(lower=0)
    consumption = (b[1] + BLOCK_2_PROVINCE * b[2] + b[3] + b[4]) / 100 * base - BLOCK_4_MUNICIPAL * residual_4
    cut = pd.Series(np.where(np.array(years) >= ACQUISITION_CUT_YEAR, 0.06 * BLOCK_2_PROVINCE, 0.0), index=years) * base
    ratio = (provincial.loc[years] - consumption + cut) / gdp.loc[years]
    level = ratio / ratio.loc[list(PROVINCIAL_TAX_YEARS)].mean()
    return pd.DataFrame({"value": level.to_numpy()}, index=pd.Index(years, name="key"))


def fiscal_scalars(root: Path | None, levers: dict[str, dict], budget_tax: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The national ratios of the fiscal sector (key → value) and the VAT base per unit of GDP;
    budget_tax : :func:`national_tax_for_budget`, whose last budget year is one of them."""
    gdp = national_by_year("grdp_nominal", root) * 1e6  # KRW
    vat_ratio = CONSUMPTION_TAX_2023 / (collected_rate(levers, [2023]).iloc[0] / 100) / gdp[2023]
    table = pd.DataFrame({"value": [vat_ratio, NON_TAX_REVENUE_2023 / LOCAL_TAX_2023, COLLECTED_NEXT_YEAR,
                                    other_budget_share(), float(budget_tax.index.max())]},
                         index=["vat_base_to_gdp", "non_tax_revenue_per_local_tax", "consumption_tax_collected_next_year",
                                "other_budget_revenue_share", "national_tax_for_budget_last_year"])
    return table, vat_ratio


def other_budget_share() -> float:
    """Share of the 2023 local budgets [1] that is neither own revenue nor transfers: surpluses
    and carry-overs (보전수입 등), internal transfers and borrowing (지방채) [R94]."""
    own = LOCAL_TAX_2023 + NON_TAX_REVENUE_2023
    return (BUDGET_2023 - own - SUBSIDIES_2023 - ALLOCATION_TAX_2023) / BUDGET_2023


def national_tax_history(root: Path | None, levers: dict[str, dict], vat_ratio: float) -> pd.DataFrame:
    """National tax plus the local consumption tax carved out of it, per unit of GDP [1] by
    year: tax.csv's national tax, then the settled totals of calibration/reference_totals.csv
    [R780][R781], over nominal GDP, plus the collected consumption-tax rate times the VAT base
    per unit of GDP."""
    gdp = national_by_year("grdp_nominal", root) * 1e6  # KRW
    national = national_tax_collected(root)
    years = [int(y) for y in national.index if y in gdp.dropna().index]
    ratio = national.loc[years] / gdp.loc[years] + collected_rate(levers, years) / 100 * vat_ratio
    return pd.DataFrame({"value": ratio.to_numpy()}, index=pd.Index(years, name="key"))


def national_tax_collected(root: Path | None) -> pd.Series:
    """National tax collected [KRW, nominal] by year from :data:`NATIONAL_TAX_FIRST_YEAR`:
    tax.csv, then the settled totals of calibration/reference_totals.csv [R780][R781][R782]."""
    observed = national_by_year("national_tax_revenue", root).dropna()
    typed = reference_totals("national_tax_revenue", root).set_index("year")["value"]
    national = pd.concat([observed, typed]).sort_index().loc[NATIONAL_TAX_FIRST_YEAR:] * 1e8  # KRW
    national.index = national.index.astype(int)
    return national


def national_tax_for_budget(root: Path | None) -> pd.DataFrame:
    """The national tax collected in the year before [million KRW, nominal] by budget year:
    the base of the allocation tax pool the year's original budget writes (model/kbalance.mdl,
    `allocation tax budgeted pool`), where it is observed."""
    collected = national_tax_collected(root) / 1e6
    return pd.DataFrame({"value": collected.to_numpy()}, index=pd.Index(collected.index + 1, name="key"))


def municipal_tax_ratios(root: Path | None, levers: dict[str, dict], vat_ratio: float, share: pd.Series,
                         city: pd.Series, single: pd.Series) -> pd.Series:
    """Municipal taxes per resident relative to national GDP per resident [1] by region code in
    :data:`MUNICIPAL_TAX_YEAR`: the Seoul districts' ratio for the special and metropolitan
    cities, the rest of the national total over the provinces' residents for the provinces, 0
    in the single-tier regions. Residents, not GRDP, are the base: the property, automobile,
    tobacco and resident taxes follow them, and in 2012 the cities' and counties' taxes per
    resident of Gyeonggi, Gyeongbuk and Gyeongnam differed by ±6 % against ±20 % per unit of
    GRDP (their totals [R312]'s 2012 list in fiscal-rules.md less tax.csv).

    share : the regions' consumption-index shares (the key of block 4's municipal part)
    city, single : flags of the special and metropolitan cities and of the single-tier regions
    """
    y = MUNICIPAL_TAX_YEAR
    grdp = wide_series("grdp_nominal", root, national=True).loc[y] * 1e6
    provincial = wide_series("local_tax_revenue_provincial_govt", root, national=True).loc[y]
    rate = collected_rate(levers, [y]).iloc[0]
    block_4 = min(BLOCK_4, max(0.0, rate - 21.0))  # collected, as model/kbalance.mdl's blocks
    residual_4 = block_4 / 100 * vat_ratio * grdp[NATIONAL_CODE] - BLOCK_4_FIXED * block_4 / BLOCK_4
    block_4 = BLOCK_4_MUNICIPAL * residual_4 * share * (1 - single)
    population = wide_series("pop_registered", root, national=True).loc[y]
    base = grdp[NATIONAL_CODE] / population[NATIONAL_CODE] * population  # KRW: residents × GDP per resident
    seoul = next(code for code, name in names().items() if name == "Seoul")
    district = (SEOUL_LOCAL_TAX_2023 - provincial[seoul] - block_4[seoul]) / base[seoul]
    codes = share.index
    cities = city & ~single.astype(bool)
    provinces = ~city & ~single.astype(bool)
    rest = (LOCAL_TAX_TOTAL_2023 - provincial[NATIONAL_CODE] - block_4.sum()
            - district * base[codes][cities].sum())
    county = rest / base[codes][provinces].sum()
    return pd.Series(np.where(cities, district, np.where(provinces, county, 0.0)), index=codes)


def extinction_fund_shares(root: Path | None) -> pd.DataFrame:
    """Each region's share of the designated depopulation areas and of the municipal account
    of the local extinction response fund [1] by region code (the provincial account's rule,
    which also gives every eligible region a part, is in model/kbalance.mdl)."""
    designations = municipal_designations(root)
    counts = designations.groupby(["region_code", "status"]).size().unstack(fill_value=0)
    codes = list(names())
    counts = counts.reindex(index=codes, fill_value=0)
    depopulation = counts.get("depopulation_area", pd.Series(0, index=codes)).astype(float)
    concern = counts.get("area_of_concern", pd.Series(0, index=codes)).astype(float)
    municipal = (DEPOPULATION_SHARE * depopulation / depopulation.sum()
                 + (1 - DEPOPULATION_SHARE) * concern / concern.sum())
    return pd.DataFrame({"depopulation_area_share": depopulation / depopulation.sum(),
                         "extinction_fund_municipal_share": municipal})


def fiscal_regions(root: Path | None, levers: dict[str, dict], vat_ratio: float) -> pd.DataFrame:
    """The regional ratios of the fiscal sector, one row per region (by English name)."""
    codes = list(names())
    regions = load_regions()
    weights = consumption_weights(levers)
    grdp = wide_series("grdp_nominal", root, national=True) * 1e6
    years = list(PROVINCIAL_TAX_YEARS)
    consumption = consumption_index(root, [*years, MUNICIPAL_SHARE_YEAR])[codes]
    weighted = consumption * weights[codes]
    share = weighted.div(weighted.sum(axis=1), axis=0)
    first_block = (FIRST_BLOCK / 100 * vat_ratio * grdp.loc[years, NATIONAL_CODE]).to_numpy()[:, None] * share.loc[years]
    provincial = wide_series("local_tax_revenue_provincial_govt", root, national=True).loc[years, codes]
    population = wide_series("pop_registered", root, national=True).loc[years]
    base = population[codes].mul(grdp.loc[years, NATIONAL_CODE] / population[NATIONAL_CODE], axis=0)
    other_tax = ((provincial - first_block) / base).mean()
    per_head = wide_series("private_consumption_per_capita", root, national=True).reindex(list(CONSUMPTION_YEARS))
    relative = per_head[codes].div(per_head[NATIONAL_CODE], axis=0).mean()
    city = regions.loc[codes, "name_ko"].str.endswith(("특별시", "광역시"))
    single = pd.Series([float(names()[c] in SINGLE_TIER) for c in codes], index=codes)
    table = pd.DataFrame({
        "provincial_tax_per_resident": other_tax,
        "relative_consumption_per_head": relative,
        "city_flag": city.astype(float),
        "single_tier_flag": single,
        **extinction_fund_shares(root).loc[codes].to_dict("series"),
        "municipal_tax_per_resident": municipal_tax_ratios(root, levers, vat_ratio, share.loc[MUNICIPAL_SHARE_YEAR], city, single),
    }, index=codes)
    if table.isna().any().any():
        region, field = table.isna().stack().loc[lambda bad: bad].index[0]
        raise InvalidValueError("calibration/observations", field, f"undefined for region {region}",
                                "observations of every region in the years this module names")
    table.index = [names()[c] for c in codes]
    return table


def price_level(root: Path | None = None) -> pd.DataFrame:
    """The national GDP deflator [1] by year (nominal over chained 2020 GDP, 2020 = 1), the
    years where both are observed."""
    deflator = (national_by_year("grdp_nominal", root) / national_by_year("grdp_real_chained_2020", root)).dropna()
    return pd.DataFrame({"value": deflator.to_numpy()}, index=pd.Index(deflator.index.astype(int), name="key"))


def fiscal_tables(root: Path | None, levers: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """The fiscal sector's input tables by file name."""
    budget_tax = national_tax_for_budget(root)
    scalars, vat_ratio = fiscal_scalars(root, levers, budget_tax)
    return {"fiscal_scalars.csv": scalars, "fiscal_regions.csv": fiscal_regions(root, levers, vat_ratio),
            "fiscal_price_level.csv": price_level(root),
            "fiscal_national_tax.csv": national_tax_history(root, levers, vat_ratio),
            "fiscal_national_tax_for_budget.csv": budget_tax,
            "fiscal_provincial_tax_level.csv": provincial_tax_level(root, levers, vat_ratio)}
