"""Single-year ages from 5-year groups: totals, non-negativity, smoothness."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from conftest import needs_shared
from kbalance.demography.ages import FIVE_YEAR_GROUPS, split_five_year, split_five_year_da

#: A step across a group boundary may be at most this multiple of the largest
#: step inside the two groups it joins (see docs/demography.md; a uniform split
#: has no step inside a group and fails it).
BOUNDARY_STEP_BOUND = 1.5


def group_sums(single: np.ndarray) -> np.ndarray:
    """Sums of the single years 0–99 in 5-year groups, with the open group appended."""
    closed = single[..., :100].reshape(single.shape[:-1] + (20, 5)).sum(-1)
    return np.concatenate([closed, single[..., 100:]], axis=-1)


def boundary_step_ratio(single: np.ndarray) -> np.ndarray:
    """|y(5k) − y(5k−1)| ÷ the largest |y(j+1) − y(j)| inside groups k−1 and k, k = 1 … 19."""
    steps = np.abs(np.diff(single[..., :100], axis=-1))                  # 99 steps
    inside = np.stack([steps[..., 5 * k:5 * k + 4].max(-1) for k in range(20)], -1)
    across = steps[..., 4::5]                                           # 19 boundaries
    return across / np.maximum(np.maximum(inside[..., :-1], inside[..., 1:]), 1e-300)


def test_equal_groups_give_equal_single_years():
    single = split_five_year(np.full(21, 50.0))
    np.testing.assert_allclose(single[:100], 10.0, rtol=1e-12)
    assert single[100] == 50.0


def test_zero_groups_stay_zero_and_totals_hold_beside_them():
    groups = np.zeros(21)
    groups[[3, 4, 10]] = [100.0, 250.0, 7.0]
    single = split_five_year(groups)
    np.testing.assert_allclose(group_sums(single), groups, rtol=1e-12, atol=0)
    assert np.all(single[:15] == 0) and np.all(single[25:50] == 0)


def test_leading_dimensions_and_axis():
    rng = np.random.default_rng(3)
    groups = rng.uniform(0, 1e4, size=(3, 2, 21))
    stacked = split_five_year(groups)
    assert stacked.shape == (3, 2, 101)
    np.testing.assert_array_equal(stacked[1, 0], split_five_year(groups[1, 0]))
    np.testing.assert_array_equal(split_five_year(np.moveaxis(groups, -1, 0), axis=0),
                                  np.moveaxis(stacked, -1, 0))


def test_rejects_wrong_groups_and_negative_counts():
    with pytest.raises(ValueError, match="21"):
        split_five_year(np.ones(20))
    with pytest.raises(ValueError, match="non-negative"):
        split_five_year(-np.ones(21))


def test_uniform_split_fails_the_smoothness_bound():
    groups = np.linspace(100, 300, 21)
    assert np.all(boundary_step_ratio(np.repeat(groups[:20] / 5, 5)) > BOUNDARY_STEP_BOUND)
    assert np.all(boundary_step_ratio(split_five_year(groups)) <= BOUNDARY_STEP_BOUND)


@needs_shared
@pytest.mark.parametrize("region", [11, 21, 29, 32, 36])  # Seoul, Busan, Sejong, Gangwon, Jeonnam
def test_registered_population_2024(region):
    from .demography_data import registered_2024

    groups = registered_2024().sel(region_code=region)                   # (sex, age_group)
    single = split_five_year_da(groups)
    assert single.dims == ("sex", "age") and single.sizes["age"] == 101
    values = single.values
    assert np.all(values >= 0)
    np.testing.assert_allclose(group_sums(values), groups.values, rtol=1e-9, atol=0)
    assert boundary_step_ratio(values).max() <= BOUNDARY_STEP_BOUND


def test_dataarray_labels_in_any_order():
    labels = list(reversed(FIVE_YEAR_GROUPS))
    da = xr.DataArray(np.arange(21.0)[::-1] + 1, dims="age_group", coords={"age_group": labels})
    single = split_five_year_da(da)
    np.testing.assert_allclose(group_sums(single.values), np.arange(21.0) + 1, rtol=1e-12)
    with pytest.raises(ValueError, match="lacks"):
        split_five_year_da(da.isel(age_group=slice(1, None)))
