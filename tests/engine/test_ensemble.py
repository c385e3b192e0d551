"""Ensembles: chunks in this process, on local processes and on a Dask cluster give the
same numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.engine.ensemble import run_ensemble
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError


def test_chunks_on_processes_equal_chunks_in_process():
    rng = np.random.default_rng(7)
    table = pd.DataFrame({"push elasticity": rng.uniform(0, 2, 6), "productivity elasticity of innovation": rng.uniform(0, 0.6, 6)})
    local = run_ensemble(table, "baseline", 2012, ["national population", "grdp"], chunk_size=2, workers=1)
    pooled = run_ensemble(table, "baseline", 2012, ["national population", "grdp"], chunk_size=2, workers=2)
    assert local.sizes["member"] == 6
    for name in ("national population", "grdp"):
        np.testing.assert_array_equal(local[name].values, pooled[name].values)


def test_a_float32_chunk_on_a_process_equals_the_same_members_in_process():
    rng = np.random.default_rng(11)
    table = pd.DataFrame({"mortality index drift": rng.uniform(-5.0, -2.5, 6), "push elasticity": rng.uniform(0, 2, 6)})
    pooled = run_ensemble(table, None, 2030, ["national population"], chunk_size=3, workers=2, dtype=np.float32)
    single = run_fast(table.iloc[3:], None, 2030, ["national population"], dtype="float32")
    np.testing.assert_array_equal(pooled["national population"].values[3:], single["national population"].values)


def test_reduce_returns_the_reduced_chunks_in_member_order():
    table = pd.DataFrame({"push elasticity": [0.1, 0.9, 1.7]})
    chunks = run_ensemble(table, None, 2005, ["national population"], chunk_size=2, workers=1, reduce=_last_year)
    whole = run_fast(table, None, 2005, ["national population"])["national population"].sel(year=2005)
    assert [c.sizes["member"] for c in chunks] == [2, 1]
    np.testing.assert_array_equal(np.concatenate([c.values for c in chunks]), whole.values)


def _last_year(result):
    return result["national population"].isel(year=-1)


@pytest.mark.parametrize("dtype", ["float16", None])
def test_an_invalid_dtype_or_chunk_size_is_refused(dtype):
    with pytest.raises(InvalidValueError, match="run_ensemble: field 'dtype'.*float64, float32"):
        run_ensemble(None, None, 2005, ["national population"], dtype=dtype)
    with pytest.raises(InvalidValueError, match="run_ensemble: field 'chunk_size'"):
        run_ensemble(None, None, 2005, ["national population"], chunk_size=0)


def test_chunks_on_a_dask_cluster_equal_local_chunks():
    distributed = pytest.importorskip("dask.distributed")
    table = pd.DataFrame({"push elasticity": [0.1, 0.9, 1.7, 0.4]})
    local = run_ensemble(table, None, 2008, ["national population"], chunk_size=2, workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = run_ensemble(table, None, 2008, ["national population"], chunk_size=2,
                              scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(local["national population"].values, remote["national population"].values)
