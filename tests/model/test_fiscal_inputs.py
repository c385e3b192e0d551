"""The fiscal sector's input tables: ratios computed from the observation set and the
references' totals."""

from __future__ import annotations

import pandas as pd
import pytest

from kbalance.model import fiscal_inputs
from kbalance.model.inputs import read_levers
from kbalance.observations.load import reference_totals, wide_series
from kbalance.regions import names


@pytest.fixture(scope="module")
def tables():
    return fiscal_inputs.fiscal_tables(None, read_levers())


def test_vat_base_reproduces_the_2023_consumption_tax(tables):
    ratio = tables["fiscal_scalars.csv"].loc["vat_base_to_gdp", "value"]
    gdp = wide_series("grdp_nominal", national=True).loc[2023, "00"] * 1e6
    collected = 0.75 * 25.3 + 0.25 * 23.7  # October-December 2022 was shared at 2022's rate
    assert ratio * gdp * collected / 100 == pytest.approx(fiscal_inputs.CONSUMPTION_TAX_2023, rel=1e-12)
    assert 0.03 < ratio < 0.06  # VAT is about a twentieth of GDP


def test_collected_rate_takes_a_quarter_of_the_base_at_last_year_s_rate(tables):
    rates = fiscal_inputs.collected_rate(read_levers(), [2012, 2014, 2019, 2020, 2023])
    assert list(rates) == pytest.approx([5.0, 0.75 * 11 + 0.25 * 5, 0.75 * 15 + 0.25 * 11, 0.75 * 21 + 0.25 * 15,
                                         0.75 * 25.3 + 0.25 * 23.7])
    assert tables["fiscal_scalars.csv"].loc["consumption_tax_collected_next_year", "value"] == 0.25


def test_price_level_is_the_gdp_deflator_at_one_in_2020(tables):
    level = tables["fiscal_price_level.csv"]["value"]
    assert level.loc[2020] == pytest.approx(1.0, rel=1e-9)
    assert level.loc[2014] < 1 < level.loc[2023]
    assert level.index.is_monotonic_increasing and level.index.max() >= 2023


def test_non_tax_ratio_is_the_2023_budget_ratio(tables):
    assert tables["fiscal_scalars.csv"].loc["non_tax_revenue_per_local_tax", "value"] == pytest.approx(24.7 / 115.3)


def test_provincial_taxes_of_2012_are_reproduced_by_the_ratio_and_block_1(tables):
    """Other taxes at the region's ratio per resident plus block 1 by the consumption index give
    back the observed provincial taxes (2012-2013 mean ratio, so each year within the years' spread)."""
    regions = tables["fiscal_regions.csv"]
    gdp = wide_series("grdp_nominal", national=True).loc[2012, "00"] * 1e6
    population = wide_series("pop_registered", national=True).loc[2012]
    observed = wide_series("local_tax_revenue_provincial_govt", national=True).loc[2012]
    codes = [c for c in names() if names()[c] != "Sejong"]  # Sejong's first year is partial
    base = gdp / population["00"] * population[codes]  # residents × GDP per resident
    other = regions["provincial_tax_per_resident"].set_axis(list(names())).loc[codes] * base
    assert (other < observed[codes]).all()  # block 1 adds to it
    assert float((other / observed[codes]).median()) > 0.8


def test_provincial_tax_level_gives_back_the_observed_national_total(tables):
    """The level is one on average in 2012-2013 and, with the consumption tax by its blocks,
    reproduces the observed national total of the provincial governments' taxes."""
    levers = read_levers()
    level = tables["fiscal_provincial_tax_level.csv"]["value"]
    assert level.loc[[2012, 2013]].mean() == pytest.approx(1.0)
    vat = tables["fiscal_scalars.csv"].loc["vat_base_to_gdp", "value"]
    gdp = wide_series("grdp_nominal", national=True)["00"] * 1e6
    other_2012 = (wide_series("local_tax_revenue_provincial_govt", national=True).loc[2012, "00"] - 0.05 * vat * gdp[2012])
    per_gdp = other_2012 / gdp[2012] / level.loc[2012]
    b = fiscal_inputs.collected_blocks(levers, [2021]).loc[2021]
    assert list(b) == pytest.approx([5.0, 6.0, 10.0, 0.0])  # the 4.3 %p block starts in 2022
    consumption = (b[1] + 0.5499 * b[2] + b[3]) / 100 * vat * gdp[2021]
    rebuilt = per_gdp * level.loc[2021] * gdp[2021] - 0.06 * 0.5499 * vat * gdp[2021] + consumption
    assert rebuilt == pytest.approx(wide_series("local_tax_revenue_provincial_govt", national=True).loc[2021, "00"], rel=1e-9)
    assert level.loc[2021] > 1.2  # the acquisition-tax boom of the housing market


def test_national_tax_history_is_tax_csv_then_the_settled_totals(tables):
    history = tables["fiscal_national_tax.csv"]["value"]
    vat = tables["fiscal_scalars.csv"].loc["vat_base_to_gdp", "value"]
    gdp = wide_series("grdp_nominal", national=True)["00"] * 1e6
    rate = fiscal_inputs.collected_rate(read_levers(), [2019, 2022])
    national_2019 = wide_series("national_tax_revenue", national=True).loc[2019, "00"] * 1e8
    assert history.loc[2019] == pytest.approx(national_2019 / gdp[2019] + rate[2019] / 100 * vat)
    assert history.loc[2022] == pytest.approx(395.9e12 / gdp[2022] + rate[2022] / 100 * vat)
    assert history.index.min() == 2000 and history.index.max() == 2023


def test_consumption_weights_are_the_law_s(tables):
    weights = fiscal_inputs.consumption_weights(read_levers()).rename(index=names())
    assert weights["Seoul"] == weights["Gyeonggi"] == weights["Incheon"] == 100
    assert weights["Busan"] == weights["Ulsan"] == 200
    assert weights["Jeonnam"] == weights["Sejong"] == weights["Jeju"] == 300


def test_municipal_taxes_add_up_to_the_2023_national_total(tables):
    regions = tables["fiscal_regions.csv"]
    gdp = wide_series("grdp_nominal", national=True).loc[2023, "00"] * 1e6
    population = wide_series("pop_registered", national=True).loc[2023]
    base = gdp / population["00"] * population[list(names())].to_numpy()  # residents × GDP per resident
    provincial = wide_series("local_tax_revenue_provincial_govt", national=True).loc[2023, "00"]
    municipal = (regions["municipal_tax_per_resident"].to_numpy() * base).sum()
    assert provincial + municipal < fiscal_inputs.LOCAL_TAX_TOTAL_2023  # block 4's part is left out
    assert provincial + municipal > 0.97 * fiscal_inputs.LOCAL_TAX_TOTAL_2023
    column = regions["municipal_tax_per_resident"]
    assert column["Sejong"] == column["Jeju"] == 0
    assert column["Gyeonggi"] == column["Jeonnam"] > column["Seoul"] == column["Busan"] > 0


def test_extinction_fund_shares_sum_to_one_and_skip_seoul(tables):
    regions = tables["fiscal_regions.csv"]
    for column in ("depopulation_area_share", "extinction_fund_municipal_share"):
        assert regions[column].sum() == pytest.approx(1.0)
        assert regions.loc["Seoul", column] == 0
    assert regions["depopulation_area_share"].idxmax() == "Jeonnam"  # the most depopulation areas


def test_rate_path_interpolates_the_lever_history():
    path = fiscal_inputs.rate_path(read_levers(), [2005, 2012, 2014, 2022, 2030])
    assert list(path) == [0.0, 5.0, 11.0, 23.7, 25.3]


def test_undefined_inputs_name_the_field(monkeypatch, tables):
    real = fiscal_inputs.wide_series

    def without_sejong(series, root=None, national=False):
        table = real(series, root, national)
        if series == "private_consumption_per_capita":
            table["29"] = float("nan")
        return table
    monkeypatch.setattr(fiscal_inputs, "wide_series", without_sejong)
    with pytest.raises(fiscal_inputs.InvalidValueError, match="field .provincial_tax_per_resident.*undefined for region 29"):
        fiscal_inputs.fiscal_regions(None, read_levers(), 0.04)
    assert isinstance(tables["fiscal_regions.csv"], pd.DataFrame)


def test_other_budget_share_is_what_the_2023_budgets_hold_beside_revenue(tables):
    share = tables["fiscal_scalars.csv"].loc["other_budget_revenue_share", "value"]
    assert share == pytest.approx((305.4 - 115.3 - 24.7 - 77.8 - 63.4) / 305.4)
    assert 0.05 < share < 0.1  # surpluses, carry-overs and borrowing: a small part of the budgets


def test_the_budget_year_s_national_tax_is_the_year_before_s_collected(tables):
    budget = tables["fiscal_national_tax_for_budget.csv"]["value"]
    collected = fiscal_inputs.national_tax_collected(None)
    # the 2023 budget rests on 2022's settled total and the 2022 budget on 2021's [R780]
    settled = reference_totals("national_tax_revenue").set_index("year")["value"] * 100  # million KRW
    assert budget.loc[2023] == pytest.approx(settled.loc[2022]) and budget.loc[2022] == pytest.approx(settled.loc[2021])
    assert budget.loc[2002] == pytest.approx(collected.loc[2001] / 1e6)
    last = tables["fiscal_scalars.csv"].loc["national_tax_for_budget_last_year", "value"]
    assert last == budget.index.max() == collected.index.max() + 1
    assert budget.index.min() == fiscal_inputs.NATIONAL_TAX_FIRST_YEAR + 1
