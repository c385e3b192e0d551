"""Compiled stock updates (kbalance.engine.loops): the flow kernel and the Euler step in one
loop give the integrator's numbers bit for bit, in both floating types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.engine import kernels, loops
from kbalance.engine.compiler import compile_model
from kbalance.engine.runtime import run_fast

numba = pytest.importorskip("numba")


def _compiled(block: str, name: str, dtype):
    namespace = {"np": np, "F": dtype}
    exec(block, namespace)  # noqa: S102 (generated)
    return numba.njit(error_model="numpy")(namespace[name])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_update_kernel_is_the_stock_plus_the_time_step_times_its_flow_kernel(dtype):
    template, kinds = "np.maximum(F(0.0), ({0} - {1}) / {2})", ("F:11", "F:01", "F:10")
    block = kernels.kernel_source("k7", template, kinds, False, 3)
    update = loops.update_kernel("k7", block)
    assert update.startswith("def k7_update(st, dt, a0, a1, a2):")
    flow, step = _compiled(block, "k7", dtype), _compiled(update, "k7_update", dtype)
    rng = np.random.default_rng(3)
    a = rng.uniform(-1, 2, (3, 4, 5)).astype(dtype)
    b = rng.uniform(0, 1, (1, 1, 5)).astype(dtype)
    c = rng.uniform(1, 2, (3, 4, 1)).astype(dtype)
    for stock in (rng.uniform(0, 9, (3, 4, 5)).astype(dtype), rng.uniform(0, 9, (1, 4, 5)).astype(dtype)):
        dt = dtype(0.25)
        np.testing.assert_array_equal(step(stock, dt, a, b, c), stock + dt * flow(a, b, c))


def test_a_kernel_over_the_member_axis_only_has_no_update():
    assert loops.update_kernel("k1", kernels.kernel_source("k1", "{0} + {1}", ("F:", "F:"), False, 1)) is None


def test_the_population_flow_is_updated_by_a_compiled_loop():
    source, names, calls = loops._plan(compile_model(fused=True))
    assert "population" in calls and names and "rs[j] + dt * (" in source


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_fused_path_with_compiled_updates_equals_it_without(dtype, monkeypatch):
    rng = np.random.default_rng(5)
    table = pd.DataFrame({"mortality index drift": rng.uniform(-5.0, -2.5, 3), "push elasticity": rng.uniform(0, 2, 3)})
    names = ["Population", "total population", "grdp", "Innovation Base", "Public Service Capital"]
    got = run_fast(table, None, 2040, names, dtype=dtype, engine="fused")
    monkeypatch.setattr(loops, "ENABLED", False)
    exact = run_fast(table, None, 2040, names, dtype=dtype, engine="fused")
    for name in names:
        np.testing.assert_array_equal(got[name].values, exact[name].values, err_msg=name)
