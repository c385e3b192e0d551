"""The factorial design over the integrated scenario's policy groups and Yates' effects."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kbalance.calibration.ensemble import read_ensemble
from kbalance.engine.ensemble import run_ensemble
from kbalance.model.indicators import indicator
from kbalance.model.scenarios import Scenario, read_scenario
from kbalance.sensitivity import factorial as fx

K = 4


def cells_x(k: int = K) -> np.ndarray:
    """(cells, k) of 0/1 levels in Yates' order."""
    return np.array([[i >> j & 1 for j in range(k)] for i in range(2 ** k)], dtype=float)


def effects_by_name(y: np.ndarray) -> dict[tuple[int, ...], float]:
    return dict(zip(fx.effect_sets(K), fx.yates_effects(y, K)))


def test_additive_response_has_no_interaction():
    x = cells_x()
    y = 5.0 + x @ np.array([2.0, -3.0, 0.5, 7.0])
    effects = effects_by_name(y)
    assert [effects[(j,)] for j in range(K)] == pytest.approx([2.0, -3.0, 0.5, 7.0])
    assert all(abs(v) < 1e-12 for s, v in effects.items() if len(s) > 1)


def test_product_response_gives_the_product_term():
    x = cells_x()
    beta = 4.0
    effects = effects_by_name(beta * x[:, 1] * x[:, 3])  # β x_B x_D
    assert effects[(1, 3)] == pytest.approx(beta / 2)  # Yates' scale: half the difference of differences
    assert effects[(1,)] == pytest.approx(beta / 2) and effects[(3,)] == pytest.approx(beta / 2)
    assert all(abs(v) < 1e-12 for s, v in effects.items() if s not in ((1,), (3,), (1, 3)))
    # a three-way product in ±1 coding: only its own effect, twice its coefficient
    s = 2 * x - 1
    effects = effects_by_name(0.3 * s[:, 0] * s[:, 1] * s[:, 2])
    assert effects[(0, 1, 2)] == pytest.approx(0.6)
    assert all(abs(v) < 1e-12 for k, v in effects.items() if k != (0, 1, 2))


def test_yates_effects_along_an_axis_and_wrong_size():
    y = np.stack([cells_x()[:, 0] * cells_x()[:, 2], cells_x()[:, 1]], axis=1)  # (cells, 2)
    out = fx.yates_effects(y, K, axis=0)
    assert out.shape == (15, 2) and out[fx.effect_sets(K).index((0, 2)), 0] == pytest.approx(0.5)
    with pytest.raises(Exception, match="16 cells"):
        fx.yates_effects(np.ones(8), K)


def test_design_has_16_unique_cells_from_the_scenario_files():
    design = fx.factorial_design()
    integrated = read_scenario("integrated")
    assert [g.name for g in design.groups][:2] == list(integrated.includes)
    assert len(design.groups) == K and len(design.cells) == 16
    keys = {tuple(sorted(c.constants.items())) for c in design.cells}
    assert len(keys) == 16 and len(set(design.names)) == 16
    assert design.cells[0].constants == read_scenario("baseline").constants
    assert design.cells[-1].constants == integrated.constants
    both = {**read_scenario("decentralization").constants, **read_scenario("balance").constants}
    assert design.cells[design.cell([0, 1])].constants == both
    own = {st.lever for st in integrated.steps} - {st.lever for n in integrated.includes for st in read_scenario(n).steps}
    assert {g.name for g in design.groups[2:]} == own


def test_design_refuses_a_scenario_with_one_group():
    with pytest.raises(Exception, match="at least two policy groups"):
        fx.factorial_design(read_scenario("baseline"))


def test_classification_needs_band_and_size():
    assert fx.classify_interaction(0.1, 0.3, 0.2, 0.05, +1) == "complementary"
    assert fx.classify_interaction(0.1, 0.3, 0.2, 0.05, -1) == "substitutive"
    assert fx.classify_interaction(-0.1, 0.3, 0.2, 0.05, +1) == "additive"  # band includes 0
    assert fx.classify_interaction(0.1, 0.3, 0.2, 0.5, +1) == "additive"  # below the practical threshold
    assert fx.classify_interaction(0.1, 0.3, 0.2, 0.05, 0) == "interacting"
    assert fx.practical_threshold(np.array([1.0, -4.0]), 2) == pytest.approx(0.4)
    assert fx.practical_threshold(np.array([0.0]), 1) == pytest.approx(0.05)


def test_effect_table_bands_and_sign_share():
    k = 2
    design = fx.FactorialDesign(Scenario("x", ""), (fx.PolicyGroup("a", ("a",)), fx.PolicyGroup("b", ("b",))),
                                cells_x(k).astype(bool), tuple(Scenario(n, "") for n in ("none", "a", "b", "a+b")))
    members = np.arange(20)
    x = cells_x(k)
    # capital share [%]: a lowers it by 2, b by 1, together 1.6 more (member-dependent, all positive)
    y = (-2 * x[:, :1] - x[:, 1:] + (1.6 + 0.01 * members) * x[:, :1] * x[:, 1:])[:, :, None]
    cells = xr.Dataset({"capital_share": (("cell", "member", "year"), y)},
                       coords={"cell": design.names, "member": members, "year": [2050]})
    effects = fx.effects_dataset(cells, design)
    assert list(effects["effect"].values) == ["a", "b", "a × b"]
    table = fx.effect_table(effects).set_index("effect")
    inter = table.loc["a × b"]
    assert inter["q50"] == pytest.approx((1.6 + 0.01 * 9.5) / 2) and inter["same_sign"] == 1.0
    assert inter["not_additive"] and inter["classification"] == (
        "complementary" if indicator("capital_share").direction > 0 else "substitutive")
    assert table.loc["a", "classification"] == "main" and inter["agree"] == 1.0
    assert fx.member_agreement(np.array([0.1, -0.2, 0.5, 2.0]), "additive", 0.3, 1) == 0.5
    assert fx.member_agreement(np.array([0.1, -0.2, 0.5, 2.0]), "complementary", 0.3, 1) == 0.5
    assert fx.member_agreement(np.array([0.1, -0.2, 0.5, 2.0]), "complementary", 0.3, -1) == 0.0


@pytest.fixture(scope="module")
def small_run():
    members = read_ensemble().iloc[:3]
    design = fx.factorial_design()
    return design, members, fx.run_factorial(design, members, 2030, keys=("capital_share", "population"), workers=1)


def test_cells_are_paired_by_member_and_match_the_scenario_runs(small_run):
    design, members, cells = small_run
    assert cells.sizes["cell"] == 16 and list(cells["member"].values) == list(members.index)
    assert list(cells["year"].values) == list(range(fx.FIRST_YEAR, 2031))
    direct = run_ensemble(members, read_scenario("integrated"), 2030, ("capital region share",), workers=1)
    full = cells["capital_share"].sel(cell=design.names[-1]).values
    expected = indicator("capital_share").values(direct).sel(year=cells["year"]).values
    np.testing.assert_allclose(full, expected, rtol=1e-12, atol=0)
    # the decentralization cell differs from the none cell member by member
    diff = cells["capital_share"].sel(cell="decentralization", year=2030) - cells["capital_share"].sel(cell="none", year=2030)
    assert (np.abs(diff.values) > 0).all()


def test_cell_table_holds_model_values_where_a_cell_sets_nothing():
    design = fx.factorial_design()
    table = fx.cell_table(design)
    assert table.shape[0] == 16 and list(table.index) == design.names
    assert table.loc["none", "consumption tax start year"] == 2100 and table.loc["none", "consumption tax target"] == 25.3
    full = table.iloc[-1].to_dict()
    assert full == pytest.approx(read_scenario("integrated").constants)
