"""Fused kernels: the generated loops equal numpy's broadcasting, and the fused path of the
model equals its numpy path."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kbalance.engine import kernels
from kbalance.engine.compiler import compile_model
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError

numba = pytest.importorskip("numba")


def _kernel(template: str, kinds: tuple[str, ...], ndim: int, dtype=np.float64):
    namespace = {"np": np, "F": dtype}
    exec(kernels.kernel_source("k", template, kinds, False, ndim), namespace)  # noqa: S102 (generated)
    return numba.njit(error_model="numpy")(namespace["k"])


def test_a_kernel_broadcasts_its_arguments_like_numpy():
    rng = np.random.default_rng(2)
    a = rng.uniform(1, 2, (3, 4, 5))  # every axis
    b = rng.uniform(1, 2, (1, 1, 5))  # no member axis, no first subscript
    c = rng.uniform(1, 2, (3, 4, 1))  # no last subscript
    kernel = _kernel("np.maximum(F(0.0), ({0} - {1}) / {2} * {3})", ("F:11", "F:01", "F:10", "scalar"), 3)
    got = kernel(a, b, c, 0.5)
    np.testing.assert_array_equal(got, np.maximum(0.0, (a - b) / c * 0.5))
    assert got.shape == (3, 4, 5)


def test_zidz_in_a_kernel_is_zero_where_the_divisor_is_zero():
    kernel = _kernel("({0} / {1} if {1} != F(0.0) else F(0.0))", ("F:", "F:"), 1)
    np.testing.assert_array_equal(kernel(np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.0, 4.0])), [0.5, 0.0, 0.75])


def test_the_fused_path_calls_kernels_and_equals_the_numpy_path():
    fused = compile_model(fused=True)
    assert fused.fused and "s.k.k" in fused.source and fused.kernel_names
    assert "s.k." not in compile_model().source  # the numpy path, the reference, has none
    rng = np.random.default_rng(4)
    table = pd.DataFrame({"mortality index drift": rng.uniform(-5.0, -2.5, 3), "push elasticity": rng.uniform(0, 2, 3)})
    names = ["total population", "grdp", "fiscal autonomy ratio"]
    exact = run_fast(table, None, 2030, names, engine="numpy")
    got = run_fast(table, None, 2030, names, engine="fused")
    for name in names:
        np.testing.assert_allclose(got[name].values, exact[name].values, rtol=1e-12, err_msg=name)


def test_an_unknown_engine_is_refused_naming_the_allowed_values():
    with pytest.raises(InvalidValueError, match="run_fast: field 'engine'.*auto, fused, numpy"):
        run_fast(None, None, 2005, ["national population"], engine="jax")


def test_a_kernel_that_fills_the_variable_is_not_passed_through_full():
    source = compile_model(fused=True).source.splitlines()
    flow = source[source.index("def flow_population(s):") + 1]
    assert flow.startswith("    return s.k.k") and "full(" not in flow
    leaf = kernels.Fused("{0}", [], ("Region",), False, None)
    region = SimpleNamespace(code="x", dims=("Region",), literal=False, boolean=False)
    number = SimpleNamespace(code="2.0", dims=(), literal=True, boolean=False)
    assert kernels.Fused("({0} * {1})", [region, number], ("Region",), False, None).fills(("Region",))
    assert not kernels.Fused("({0} * {1})", [region, number], ("Region", "Age"), False, None).fills(("Region", "Age"))
    assert not kernels.Fused("({0} > {1})", [region, number], ("Region",), True, None).fills(("Region",))  # a truth value
    assert not leaf.fills(("Region",))  # no array to take the sizes from
