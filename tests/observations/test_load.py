"""The validating loaders of the observation set: series, OD matrix, age structures, breaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.errors import DuplicateCellError, InvalidValueError, MissingColumnError, MissingFileError, MissingValueError, UnitMismatchError, UnknownRegionError
from kbalance.observations import load
from kbalance.observations.load import BoundaryChange
from kbalance.observations.schema import BREAK_COLUMNS, BREAK_KINDS, CENSUS_YEARS
from kbalance.regions import region_codes

from .edits import BAD_INPUTS, edit_lines


# --- the committed set -------------------------------------------------------------


def test_load_series_national_equals_sum_of_regions():
    pop = load.load_series("pop_registered")
    assert pop.attrs["unit"] == "persons" and "DT_1B040A3" in pop.attrs["source"]
    assert pop["region_code"].dtype != np.int64 and set(pop["region_code"]) == {"00", *region_codes()}
    y24 = pop[pop["year"] == 2024].set_index("region_code")["value"]
    assert y24.drop("00").sum() == y24["00"]
    assert len(y24) == 18


def test_load_series_refuses_the_od_matrix_and_unknown_series():
    with pytest.raises(InvalidValueError, match="load_od"):
        load.load_series("migration_od")
    with pytest.raises(InvalidValueError, match="'series'.*'made_up'"):
        load.load_series("made_up")


def test_sources_one_row_per_series_with_table():
    table = load.series_table()
    assert table["series"].is_unique
    assert (table["table_id"].str.len() > 0).all()
    assert table.loc["births", "table_id"] == "DT_1B8000H (1990); DT_1B81A12 (1991–2023)"
    assert "DT_1B040A3 (2000–2024)" in table.loc["pop_registered", "table_id"]
    assert table.loc["population_wb", "table_id"] == "WB SP.POP.TOTL"
    assert table.loc["fiscal_independence_ratio", "table_id"] == "DT_1YL20891"
    assert table.loc["deaths", "origin"].startswith("1990–2022 [national]: derived:")


def test_load_od():
    od = load.load_od()
    assert od.dims == ("year", "origin", "dest") and od.attrs["units"] == "persons"
    assert list(od["origin"].values) == region_codes()
    assert int(od["year"].min()) == 1990
    assert float(od.sel(year=2011, origin="29").sum() + od.sel(year=2011, dest="29").sum()) == 0.0
    assert float(od.sel(year=2012, origin="29").sum()) > 0
    off = od.where(od["origin"] != od["dest"], 0)
    net = off.sum("origin").values - off.sum("dest").values  # inflow - outflow, per (year, region)
    assert (net.sum(axis=1) == 0).all()
    intra = load.load_series("movers_intraprovincial")
    row = intra[(intra["region_code"] == "31") & (intra["year"] == 2020)]["value"].item()
    assert float(od.sel(year=2020, origin="31", dest="31")) == row


def test_age_structure():
    reg = load.age_structure("pop_registered")
    assert reg.dims == ("region", "year", "sex", "age_group")
    groups = list(reg["age_group"].values)
    assert groups[0] == "00_04" and groups[-1] == "100p" and len(groups) == 21
    assert "65p" not in groups and "00_14" not in groups and "total" not in groups
    total = load.load_series("pop_registered_total_total").set_index(["region_code", "year"])["value"]
    summed = reg.sel(sex="total").sum("age_group").to_series()
    assert (summed.reindex(total.index).to_numpy() == total.to_numpy()).all()
    census = load.age_structure("pop_census")
    assert "85p" in census["age_group"].values and "100p" in census["age_group"].values
    assert np.isnan(float(census.sel(region="11", year=1995, sex="total", age_group="100p")))
    assert float(census.sel(region="11", year=1995, sex="total", age_group="85p")) > 0
    assert sorted(set(census["year"].values)) == list(CENSUS_YEARS)
    with pytest.raises(InvalidValueError, match="pop_nowhere_"):
        load.age_structure("pop_nowhere")


def test_births_by_mother_age_sum_to_births():
    arr = load.births_by_mother_age()
    assert arr.dims == ("region", "year", "age_group")
    births = load.load_series("births").set_index(["region_code", "year"])["value"]
    summed = arr.sum("age_group").to_series()
    common = summed.index.intersection(births.index)
    assert len(common) > 500
    assert (summed[common] == births[common]).all()


def test_breaks():
    breaks = load.load_breaks()
    assert list(breaks.columns) == list(BREAK_COLUMNS)
    assert set(breaks["kind"]) <= set(BREAK_KINDS)
    hit = load.breaks_for("pop_registered_male")
    assert ((hit["kind"] == "registration") & (hit["year"] == 2010)).any()
    sejong = load.breaks_for("fiscal_autonomy_ratio", "29")
    assert set(sejong["kind"]) == {"method", "boundary"}
    assert load.breaks_for("births", "11").query("kind == 'boundary'").empty
    # the description quotes the data, not a typed number
    fa = load.load_series("fiscal_autonomy_ratio").query("region_code == '00'").set_index("year")["value"]
    text = load.breaks_for("fiscal_autonomy_ratio").query("kind == 'method'")["description"].item()
    assert f"{fa[2013]:.1f} % (2013) → {fa[2014]:.1f} % (2014)" in text
    assert not load.breaks_for("grdp_nominal").query("kind == 'base_vintage'").empty


def test_boundary_changes_are_read_from_the_breaks_table():
    assert load.boundary_changes() == [
        BoundaryChange(1997, ("38",), "26"), BoundaryChange(2012, ("34", "33"), "29"),
        BoundaryChange(2023, ("37",), "22"),
    ]
    # the regions named in each boundary row are those of its change
    rows = load.load_breaks().query("kind == 'boundary'")
    for code, dest, origins in zip(rows["region_code"], rows["dest_code"], rows["origin_codes"]):
        assert code in (dest, *origins.split(";"))


# --- bad input: one test per error kind --------------------------------------------


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_typed_error(calib_copy, case):
    fname, edit, error, needles = BAD_INPUTS[case]
    path = calib_copy / "observations" / fname
    edit_lines(path, edit)
    with pytest.raises(error) as info:
        load.read_observation_file(path)
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)


def test_missing_sources_table_raises(calib_copy):
    with pytest.raises(MissingFileError, match="sources.csv"):
        load.read_observation_file(calib_copy / "observations" / "vital.csv", calib_copy / "nowhere.csv")
    (calib_copy / "observations" / "fiscal.csv").unlink()
    with pytest.raises(MissingFileError, match="fiscal.csv.*file not found.*expected a CSV with columns series"):
        load.load_series("fiscal_autonomy_ratio", calib_copy)


def test_loader_reads_region_codes_as_text(calib_copy):
    frame = load.read_observation_file(calib_copy / "observations" / "population.csv")
    assert frame["region_code"].map(type).eq(str).all()
    assert "00" in set(frame["region_code"]) and frame["year"].dtype.kind == "i"


def test_reads_follow_edits_of_the_file(calib_copy):
    path = calib_copy / "observations" / "fiscal.csv"
    before = load.read_observation_file(path)
    edit_lines(path, lambda ls: ls[:-1])
    assert len(load.read_observation_file(path)) == len(before) - 1


def _edit_breaks(root, edit) -> None:
    """Rewrite breaks.csv of ``root`` with ``edit(table) -> table``."""
    path = root / "breaks.csv"
    edit(pd.read_csv(path, dtype=str, keep_default_na=False)).to_csv(path, index=False, lineterminator="\n")


def _set(column: str, value: str, where=lambda t: t.index == 0):
    """An edit of breaks.csv setting ``column`` to ``value`` in the rows ``where(table)``."""
    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table.loc[where(table), column] = value
        return table
    return edit


BAD_BREAKS = {
    "kind": (_set("kind", "weather"), InvalidValueError, "'kind'.*'weather'.*method"),
    "region": (_set("region_code", "99"), UnknownRegionError, "'region_code'.*'99'"),
    "dest_outside_boundary": (_set("dest_code", "29"), InvalidValueError,
                              "'dest_code'.*'29'.*empty outside boundary rows \\(row 2\\)"),
    "unknown_origin": (_set("origin_codes", "34;98", lambda t: t["dest_code"] == "29"),
                       UnknownRegionError, "'origin_codes'.*'98'"),
    "row_not_involved": (_set("origin_codes", "34", lambda t: t["region_code"] == "33"),
                         InvalidValueError, "'region_code'.*'33'.*origin_codes or its dest_code"),
}


@pytest.mark.parametrize("case", sorted(BAD_BREAKS))
def test_bad_breaks_table_raises_typed_error(calib_copy, case):
    edit, error, pattern = BAD_BREAKS[case]
    _edit_breaks(calib_copy, edit)
    with pytest.raises(error, match=f"breaks.csv.*{pattern}"):
        load.load_breaks(calib_copy)


def test_breaks_table_without_boundary_regions_loads_but_gives_no_changes(calib_copy):
    """A table of the five original columns still loads; boundary changes need the region columns."""
    _edit_breaks(calib_copy, lambda t: t.drop(columns=["origin_codes", "dest_code"]))
    breaks = load.load_breaks(calib_copy)
    assert list(breaks.columns) == list(BREAK_COLUMNS) and (breaks["dest_code"] == "").all()
    with pytest.raises(InvalidValueError, match="breaks.csv.*'dest_code'.*every boundary row \\(row 5\\)"):
        load.boundary_changes(calib_copy)


def test_wide_series_puts_a_series_on_years_by_region_codes():
    rows = load.load_series("pop_registered")
    table, with_nation = load.wide_series("pop_registered"), load.wide_series("pop_registered", national=True)
    assert list(table.columns) == region_codes() and list(with_nation.columns) == ["00", *region_codes()]
    seoul = rows[(rows["region_code"] == "11") & (rows["year"] == 2020)]["value"].item()
    assert table.loc[2020, "11"] == seoul and with_nation.loc[2020, "11"] == seoul


def test_national_by_year_is_the_countrys_row_by_year():
    rows = load.load_series("pop_registered")
    national = rows[rows["region_code"] == "00"].set_index("year")["value"]
    found = load.national_by_year("pop_registered")
    assert found.loc[national.index].tolist() == national.tolist() and found.index.is_monotonic_increasing


# --- the totals typed from the references -------------------------------------------


def test_reference_totals_add_the_settled_national_tax_after_tax_csv():
    typed = load.reference_totals("national_tax_revenue")
    observed = load.load_series("national_tax_revenue")
    assert typed.attrs["unit"] == observed.attrs["unit"] == "100 million KRW"
    assert list(typed["year"]) == [2021, 2022, 2023, 2024] and typed["year"].min() > observed["year"].max()
    assert typed.set_index("year").loc[2022, "value"] * 1e8 == 395.9e12  # [R780]
    assert list(typed["source"]) == ["R780", "R780", "R781", "R782"]


def _edit_references(root, edit) -> None:
    edit_lines(root / "reference_totals.csv", edit)


@pytest.mark.parametrize("edit, error, needles", [
    (lambda ls: [ls[0], ls[1].rsplit(",", 1)[0] + ",\n", *ls[2:]], MissingValueError, ["'source'", "row 2"]),
    (lambda ls: [ls[0], ls[1].rsplit(",", 1)[0] + ",trenue\n", *ls[2:]], InvalidValueError, ["'source'", "'trenue'", "R780"]),
    (lambda ls: [ls[0].replace(",source", ""), *(line.rsplit(",", 1)[0] + "\n" for line in ls[1:])],
     MissingColumnError, ["'source'"]),
    (lambda ls: [*ls, "national_tax_revenue,00,2020,2855462,100 million KRW,R780\n"], DuplicateCellError,
     ["reference_totals.csv", "2020", "also in observations/tax.csv"]),
    (lambda ls: [*ls, "national_tax_revenue,00,2025,3000000,KRW,R782\n"], UnitMismatchError, ["'unit'", "'KRW'"]),
])
def test_bad_reference_totals_raise_typed_errors(calib_copy, edit, error, needles):
    _edit_references(calib_copy, edit)
    with pytest.raises(error) as info:
        load.reference_totals("national_tax_revenue", calib_copy)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
