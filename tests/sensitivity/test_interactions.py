"""Mechanism traces of an interaction and the Sobol cross-check over the group intensities."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kbalance.engine.runtime import run_fast
from kbalance.model.indicators import indicator
from kbalance.model.parameters import latest_fitted_set, read_parameter_set
from kbalance.sensitivity import factorial as fx
from kbalance.sensitivity import interactions as ix


@pytest.fixture(scope="module")
def design():
    return fx.factorial_design()


def synthetic_runs(design) -> xr.Dataset:
    """Cells of a variable that is additive in Busan and has an A×B product in Seoul."""
    x = design.on.astype(float)
    seoul = 10 + x[:, 0] + x[:, 1] + 2 * x[:, 0] * x[:, 1]
    busan = 5 + x[:, 0] - x[:, 1] + 0.5 * x[:, 3]
    values = np.stack([seoul, busan], axis=1)[:, None, :] * np.ones((1, 3, 1))  # cell, year, region
    return xr.Dataset({"v": (("cell", "year", "region"), values), "w": (("cell", "year", "region"), 3 * values)},
                      coords={"cell": design.names, "year": [2030, 2040, 2050], "region": ["11", "26"]})


def test_trace_variables_are_computed_national_or_regional():
    names = ix.trace_variables()
    assert "national population" in names and "fiscal autonomy ratio" in names
    assert "Time" not in names and "consumption tax target" not in names and "Population" not in names


def test_additive_prediction_and_trace_find_the_product(design):
    runs = synthetic_runs(design)
    pred = ix.additive_prediction(runs, design, (0, 1))
    assert float(pred["v"].sel(region="11", year=2030)) == pytest.approx(12.0)  # 10 + 1 + 1
    trace = ix.mechanism_trace(runs, design, (0, 1))
    assert list(trace["variable"]) == ["w", "v"]  # one row per variable (Seoul; Busan is additive), ties by size
    assert trace.loc[0, "departure"] == 6.0 and list(trace["rank"]) == [1, 2]
    row = trace.iloc[1]
    assert (row["region"], row["departure"], row["combined_effect"], row["additive_effect"]) == ("11", 2.0, 4.0, 2.0)
    assert row["relative"] == pytest.approx(0.2) and row["interaction"] == "decentralization × balance"


def test_multilinear_indices_of_known_responses():
    x = np.array([[i >> j & 1 for j in range(3)] for i in range(8)], dtype=float)
    additive = ix.multilinear_indices(x @ np.array([1.0, 2.0, 0.0]), 3)
    assert additive[:3] == pytest.approx([0.2, 0.8, 0.0]) and additive[3:] == pytest.approx(0)
    s = 2 * x - 1  # y = a + ab in ±1 coding: variances 1/3 and 1/9
    product = ix.multilinear_indices(s[:, 0] + s[:, 0] * s[:, 1], 3)
    assert product[0] == pytest.approx(0.75) and product[fx.effect_sets(3).index((0, 1))] == pytest.approx(0.25)


def test_intensity_scales_targets_from_their_start_value(design):
    history = {lv: 1.0 for g in design.groups for lv in g.levers}
    table = ix.intensity_constants(design, np.array([[1.0] * 4, [0.0] * 4, [0.5] * 4]), history)
    assert table.iloc[0].to_dict() == pytest.approx(design.combined.constants)
    target = "consumption tax target"
    assert table[target].iloc[1] == 1.0 and table[target].iloc[2] == pytest.approx(0.5 * (1 + design.combined.constants[target]))
    start = "consumption tax start year"
    assert (table[start] == design.combined.constants[start]).all()


def test_sobol_cross_check_on_the_best_fit_set(design):
    values = read_parameter_set(latest_fitted_set()).values
    history = ix.start_values(design, values, 2040)
    assert history["local_consumption_tax_rate"] == pytest.approx(25.3, abs=0.5)
    sobol = ix.sobol_indices(design, values, ("capital_share",), n=4, years=(2040,))
    s2 = sobol[sobol["index"] == "S2"]
    assert len(s2) == 6 and set(sobol["factor"]) >= {"decentralization", "decentralization & balance"}
    runs = ix.bestfit_cells(design, values, 2040, ("capital region share",))
    corners = xr.Dataset({"capital_share": indicator("capital_share").values(runs)})
    check = ix.sobol_cross_check(sobol, corners, design)
    assert len(check) == 10 and set(check["order"]) == {1, 2}
    assert ((check["predicted"] >= 0) & (check["predicted"] <= 1)).all()
    main = check[check["order"] == 1].set_index("effect")
    assert main.loc["decentralization", "predicted"] > main.loc["mega_region_integration", "predicted"]


def test_bestfit_cells_equal_the_cell_scenarios_run_one_by_one(design):
    values = read_parameter_set(latest_fitted_set()).values
    runs = ix.bestfit_cells(design, values, 2032, ("capital region share", "fiscal autonomy ratio"))
    for i in (0, 5, 15):
        one = run_fast(None, {**values, **design.cells[i].constants}, 2032, ("capital region share",))
        expected = one["capital region share"].isel(member=0).sel(year=runs["year"]).values
        np.testing.assert_allclose(runs["capital region share"].isel(cell=i).values, expected, rtol=1e-12, atol=0)
    assert list(runs["region"].values)[:2] == ["11", "21"] and runs.sizes["cell"] == 16
