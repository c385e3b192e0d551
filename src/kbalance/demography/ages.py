"""Single-year ages from 5-year age groups.

The registered population comes in 21 groups, 0–4 … 95–99 and an open 100+.
:func:`split_five_year` gives single years 0–99 plus the open 100+ by a monotone
cubic (PCHIP, Fritsch–Carlson) interpolation of the cumulative count at the group
boundaries 0, 5, …, 100.  Because the interpolant passes through every boundary
value and never decreases between them, each single-year value is non-negative
and each group's five values sum to the group's count (to rounding).
See docs/demography.md for the choice against Sprague/Beers.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.interpolate import PchipInterpolator

#: Labels of the 5-year groups as in the harmonized population files.
FIVE_YEAR_GROUPS: tuple[str, ...] = tuple(f"{a:02d}_{a + 4:02d}" for a in range(0, 100, 5)) + ("100p",)

#: Boundaries [years] of the closed groups: 0, 5, …, 100.
GROUP_BOUNDS = np.arange(0, 101, 5)

#: Single ages of the result: 0 … 99 and 100, the open group 100+ [years].
SINGLE_AGES = np.arange(0, 101)


def split_five_year(counts, axis: int = -1) -> np.ndarray:
    """Split 5-year group counts into single years 0–99 and the open group 100+.

    Parameters
    ----------
    counts : array_like, shape (..., 21, ...)
        Counts [persons] in the groups 0–4, 5–9, …, 95–99, 100+ along ``axis``;
        finite and non-negative.  Any other dimensions (region, sex, year) are
        carried through.
    axis : int
        The axis of the age groups.

    Returns
    -------
    numpy.ndarray, shape (..., 101, ...)
        Counts [persons] at single ages 0, 1, …, 99 and the open group 100+
        (unchanged) along ``axis``.  Every value is ≥ 0 and the five single
        years of a group add up to the group's count.

    Raises
    ------
    ValueError
        If the axis does not have 21 groups, or a count is negative or not finite.
    """
    c = np.moveaxis(np.asarray(counts, dtype=float), axis, -1)
    if c.shape[-1] != len(FIVE_YEAR_GROUPS):
        raise ValueError(f"age-group axis has {c.shape[-1]} entries; expected 21 "
                         f"({FIVE_YEAR_GROUPS[0]} … {FIVE_YEAR_GROUPS[-1]})")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError("age-group counts must be finite and non-negative")
    closed, open_group = c[..., :-1], c[..., -1:]
    # Cumulative count at the boundaries 0, 5, …, 100, and its monotone cubic.
    knots = np.concatenate([np.zeros(c.shape[:-1] + (1,)), np.cumsum(closed, axis=-1)], axis=-1)
    with np.errstate(over="ignore", divide="ignore"):   # tiny slopes: harmonic mean → 0, as intended
        cubic = PchipInterpolator(GROUP_BOUNDS, knots, axis=-1)
    # Growth of the cumulative count within each group at t = 0 … 5 years from its
    # lower bound, from the local cubic coefficients (c[0] t³ + c[1] t² + c[2] t):
    # this keeps rounding relative to the group, not to the running total.
    coef = np.moveaxis(cubic.c, (0, 1), (-1, -2))[..., :3]          # (..., 20, 3)
    t = np.arange(6.0)
    growth = coef[..., 0:1] * t**3 + coef[..., 1:2] * t**2 + coef[..., 2:3] * t
    growth[..., 0] = 0.0
    growth[..., 5] = closed                 # exact group totals
    single = np.maximum(np.diff(growth, axis=-1), 0.0).reshape(c.shape[:-1] + (100,))
    return np.moveaxis(np.concatenate([single, open_group], axis=-1), -1, axis)


def split_five_year_da(counts: xr.DataArray, dim: str = "age_group") -> xr.DataArray:
    """:func:`split_five_year` on a DataArray: ``dim`` (the 21 group labels) becomes ``age``.

    Parameters
    ----------
    counts : xarray.DataArray
        Counts [persons] with dimension ``dim`` labelled by :data:`FIVE_YEAR_GROUPS`
        (any order); other dimensions (region, sex, year) are kept.
    dim : str
        The age-group dimension.

    Returns
    -------
    xarray.DataArray
        Counts [persons] with dimension ``age`` = 0 … 100, where 100 is the open
        group 100+.
    """
    missing = sorted(set(FIVE_YEAR_GROUPS) - set(map(str, counts[dim].values)))
    if missing:
        raise ValueError(f"dimension {dim!r} lacks the groups {missing}; expected {FIVE_YEAR_GROUPS}")
    ordered = counts.sel({dim: list(FIVE_YEAR_GROUPS)})
    values = split_five_year(ordered.values, axis=ordered.get_axis_num(dim))
    dims = [("age" if d == dim else d) for d in ordered.dims]
    coords = {d: ordered[d] for d in ordered.dims if d != dim and d in ordered.coords}
    coords["age"] = SINGLE_AGES
    return xr.DataArray(values, dims=dims, coords=coords, name=counts.name,
                        attrs={**counts.attrs, "open_age": 100})
