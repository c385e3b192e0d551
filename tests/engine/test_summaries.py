"""Streamed ensemble summaries equal the same statistics of the whole ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.engine.ensemble import run_ensemble
from kbalance.engine.summaries import ChunkReducer, EnsembleSummary, summarize_ensemble

VARIABLES = ["national population", "total population"]


def _table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"push elasticity": rng.uniform(0, 2, n), "mortality index drift": rng.uniform(-5.0, -2.5, n)})


def test_streamed_moments_and_quantiles_equal_those_of_the_whole_ensemble():
    table = _table(7)
    whole = run_ensemble(table, None, 2010, VARIABLES, chunk_size=7, workers=1)
    summary = summarize_ensemble(table, {"total population": [2005, 2010]}, until=2010, variables=VARIABLES,
                                 chunk_size=3, workers=1)
    assert summary.count == 7
    for name in VARIABLES:
        np.testing.assert_allclose(summary.mean()[name], whole[name].mean("member"), rtol=1e-12)
        # where every member has the same value the std is 0 up to rounding (1e-9 persons)
        np.testing.assert_allclose(summary.std()[name], whole[name].std("member", ddof=1), rtol=1e-8, atol=1e-6)
        np.testing.assert_array_equal(summary.low[name], whole[name].min("member"))
        np.testing.assert_array_equal(summary.high[name], whole[name].max("member"))
    expected = whole["total population"].sel(year=[2005, 2010]).quantile([0.05, 0.5, 0.95], dim="member")
    xr.testing.assert_allclose(summary.quantiles()["total population"], expected, rtol=1e-12)


def test_only_the_kept_outcomes_are_held_per_member():
    summary = EnsembleSummary()
    chunks = run_ensemble(_table(4), None, 2006, VARIABLES, chunk_size=2, workers=1,
                          reduce=ChunkReducer.of({"national population": [2006]}))
    for chunk in chunks:
        summary.add(chunk)
        assert set(chunk.kept) == {"national population"}
        assert chunk.kept["national population"].sizes == {"member": 2, "year": 1}
        assert "member" not in chunk.mean.dims  # the moments are one member's size
    assert summary.outcomes("national population").sizes["member"] == 4
