"""The fast engine's runtime: the helpers the generated code calls, parameter tables,
members and floating types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.engine import kernels
from kbalance.engine.runtime import if_then_else, run_fast, sum_product
from kbalance.errors import InvalidValueError


def test_members_of_an_ensemble_equal_their_single_runs():
    table = pd.DataFrame({"mortality index drift": [-4.5, -3.7, -3.0], "regional fertility factor[Seoul]": [0.7, 1.0, 1.3]})
    ensemble = run_fast(table, None, 2030, ["total population", "births"])
    for i, row in table.iterrows():
        single = run_fast(pd.DataFrame([row]), None, 2030, ["total population"]).isel(member=0)
        np.testing.assert_allclose(ensemble["total population"].isel(member=i), single["total population"], rtol=1e-12)
    first_births = ensemble["births"].sel(year=2001)
    seoul, busan = first_births.sel(Region="Seoul").values, first_births.sel(Region="Busan").values
    assert seoul[0] < seoul[1] < seoul[2]  # the element column set Seoul's factor ...
    np.testing.assert_allclose(busan, busan[0], rtol=1e-12)  # ... and no other region's (to rounding)


#: float32 against float64 on outputs summed over cohorts: float32 carries 7 digits
#: (machine epsilon 1.2e-7) and 69 yearly steps of about 30 operations each compound
#: its rounding; the differences seen to 2070 are near 1e-6 (1.1e-6 by region, 1.5e-6
#: for grdp, 4e-7 nationally), so 1e-5 leaves a sixfold margin or more.
FLOAT32_RTOL = 1e-5


@pytest.mark.parametrize("engine", ["numpy", pytest.param("fused", marks=pytest.mark.skipif(
    not kernels.available(), reason="numba is not installed"))])
def test_float32_runs_match_float64_on_key_outputs(engine):
    """float32 on either path against the reference, float64 on the numpy path."""
    rng = np.random.default_rng(11)
    table = pd.DataFrame({"mortality index drift": rng.uniform(-5.0, -2.5, 6), "push elasticity": rng.uniform(0, 2, 6),
                          "regional fertility factor": rng.uniform(0.8, 1.2, 6),
                          "productivity elasticity of innovation": rng.uniform(0, 0.6, 6)})
    names = ["total population", "national population", "capital region share", "extinction risk index", "grdp"]
    exact = run_fast(table, None, 2070, names, engine="numpy")
    fast = run_fast(table, None, 2070, names, dtype="float32", engine=engine)
    for name in names:
        assert fast[name].dtype == np.float64  # results come back as float64 either way
        np.testing.assert_allclose(fast[name].values, exact[name].values, rtol=FLOAT32_RTOL, err_msg=name)
    by_region = fast["total population"].sel(year=2070) / exact["total population"].sel(year=2070) - 1
    assert float(abs(by_region).max()) > 0  # the run really was in float32


@pytest.mark.parametrize("dtype", ["float16", "int64", "double precision", None])
def test_an_invalid_dtype_is_refused_naming_the_argument_and_the_allowed_values(dtype):
    with pytest.raises(InvalidValueError, match="run_fast: field 'dtype'.*expected one of float64, float32"):
        run_fast(None, None, 2005, ["national population"], dtype=dtype)


def test_if_then_else_computes_only_the_branch_taken_where_the_condition_is_uniform():
    def fail():
        raise AssertionError("branch computed")

    then = np.arange(6.0).reshape(1, 2, 3)
    assert np.array_equal(if_then_else(np.ones((4, 2, 1), bool), lambda: then, fail, (2, 3)), then)
    assert if_then_else(np.zeros((4, 1, 1), bool), fail, lambda: then[:, :1], (2, 3)).shape == (1, 2, 3)
    condition = np.array([True, False]).reshape(1, 2, 1)
    np.testing.assert_array_equal(if_then_else(condition, lambda: then, lambda: -then, (2, 3)),
                                  np.where(condition, then, -then))
    # a number as a branch, and a truth value as the condition
    zero = if_then_else(np.zeros((4, 2, 1), bool), fail, lambda: np.float32(0.0), (2, 3))
    assert zero.shape == (1, 2, 3) and zero.dtype == np.float32 and not zero.any()
    assert np.array_equal(if_then_else(True, lambda: then, fail, (2, 3)), then)
    np.testing.assert_array_equal(if_then_else(condition, lambda: then, lambda: np.float64(0.0), (2, 3)),
                                  np.where(condition, then, 0.0))


def test_bad_parameter_tables_name_the_column_and_what_is_allowed():
    with pytest.raises(InvalidValueError, match="'no such constant'.*constants of model/kbalance.mdl"):
        run_fast(pd.DataFrame({"no such constant": [1.0]}), None, 2005, ["national population"])
    with pytest.raises(InvalidValueError, match=r"'regional fertility factor\[Atlantis\]'.*Region"):
        run_fast(pd.DataFrame({"regional fertility factor[Atlantis]": [1.0]}), None, 2005, ["national population"])
    with pytest.raises(InvalidValueError, match="'mortality index drift'.*finite"):
        run_fast(pd.DataFrame({"mortality index drift": [np.nan]}), None, 2005, ["national population"])
    with pytest.raises(InvalidValueError, match="'variables'.*no such variable"):
        run_fast(None, None, 2005, ["no such variable"])


@pytest.mark.parametrize("spec, shapes", [
    ("...abc,...ad->...dbc", [(3, 17, 2, 101), (3, 17, 17)]),  # arrivals: out-movers by destination share
    ("...ab,...bcd->...acd", [(1, 17, 17), (3, 17, 2, 101)]),  # boundary transfer: member axis broadcast
    ("...abc,...ad->...bcd", [(3, 4, 2, 5), (3, 4, 6)]),  # a result that needs a transpose
    ("...ab,...ab->...a", [(3, 17, 101), (3, 17, 101)]),  # a weighted sum: numpy's C loop
    ("...a,...a->...", [(3, 17), (1, 17)]),
])
def test_contractions_equal_numpy_einsum(spec, shapes):
    rng = np.random.default_rng(5)
    operands = [rng.uniform(0.5, 1.5, shape) for shape in shapes]
    got = sum_product(spec, *operands)
    np.testing.assert_allclose(got, np.einsum(spec, *operands), rtol=1e-13)
    assert got.flags.c_contiguous
