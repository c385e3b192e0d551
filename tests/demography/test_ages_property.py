"""Property test of the age split with Hypothesis (skipped where Hypothesis is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from kbalance.demography.ages import split_five_year
from .test_ages import group_sums

pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, 21, elements=st.one_of(
    st.just(0.0), st.floats(min_value=1e-3, max_value=1e9, allow_subnormal=False))))
def test_any_counts_keep_totals_and_sign(groups):
    single = split_five_year(groups)
    assert np.all(single >= 0)
    np.testing.assert_allclose(group_sums(single), groups, rtol=1e-9, atol=0)


# Counts are 0 or at least a thousandth of a person, as in the test above: near the smallest
# normal float (2e-308) the spline's coefficients underflow, so scaling is not exact there.
@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (2, 21), elements=st.one_of(
    st.just(0.0), st.floats(min_value=1e-3, max_value=1e7, allow_subnormal=False))),
       st.floats(min_value=1e-3, max_value=1e3))
def test_split_scales_with_the_counts(groups, factor):
    np.testing.assert_allclose(split_five_year(groups * factor), split_five_year(groups) * factor,
                               rtol=1e-9, atol=1e-9 * factor * groups.max())
