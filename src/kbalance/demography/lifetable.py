"""Period life table from death rates by single year of age.

Ages are 0, 1, …, ω−1 and an open group ω+ (the last entry).  The infant
separation factor a0 follows Andreev & Kingkade (2015) as used by the Human
Mortality Database (Methods Protocol v6); ax = 0.5 at the other closed ages
and the open group has ax = 1/mω (its life expectancy).  All functions are
vectorised over leading dimensions (sex, year, region …); age is the last axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Andreev–Kingkade (2015) a0 from m0: (break 1, intercept, slope below it,
# break 2, intercept, slope between, value above), as in the HMD Methods Protocol v6.
_AK = {
    "male": (0.0230, 0.14929, -1.99545, 0.08307, 0.02832, 3.26201, 0.29915),
    "female": (0.01724, 0.14903, -2.05527, 0.06891, 0.04667, 3.88089, 0.31411),
}


def a0_andreev_kingkade(m0, female) -> np.ndarray:
    """Average fraction of the first year lived by infants who die [years].

    Parameters
    ----------
    m0 : array_like
        Infant death rate (deaths ÷ person-years at age 0) [1/year].
    female : array_like of bool
        True for female rates, False for male; broadcast against ``m0``.

    Returns
    -------
    numpy.ndarray
        a0 [years], piecewise linear in m0 (Andreev & Kingkade 2015).
    """
    m0 = np.asarray(m0, dtype=float)

    def rule(sex):
        b1, c1, s1, b2, c2, s2, top = _AK[sex]
        return np.where(m0 < b1, c1 + s1 * m0, np.where(m0 < b2, c2 + s2 * m0, top))

    return np.where(np.asarray(female, dtype=bool), rule("female"), rule("male"))


@dataclass(frozen=True)
class LifeTable:
    """Period life table columns; age is the last axis, the last age is open.

    mx [1/year] death rate; ax [years] average time lived in the interval by
    those who die in it; qx [-] probability of dying in the interval; lx
    [persons] survivors at exact age x (radix l0); dx [persons] deaths; Lx
    [person-years] lived in the interval; Tx [person-years] lived above x;
    ex [years] life expectancy at x.
    """

    mx: np.ndarray
    ax: np.ndarray
    qx: np.ndarray
    lx: np.ndarray
    dx: np.ndarray
    Lx: np.ndarray
    Tx: np.ndarray
    ex: np.ndarray

    @property
    def e0(self) -> np.ndarray:
        """Life expectancy at birth [years]."""
        return self.ex[..., 0]


def _checked_rates(mx) -> np.ndarray:
    m = np.asarray(mx, dtype=float)
    if m.ndim == 0 or m.shape[-1] < 2:
        raise ValueError("death rates need an age axis (last) with at least two ages")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError("death rates must be finite and non-negative")
    if np.any(m[..., -1] <= 0):
        raise ValueError("the open age group's death rate must be positive (its life expectancy is 1/m)")
    return m


def life_table(mx, female, radix: float = 100_000.0) -> LifeTable:
    """Period life table from single-year death rates.

    Parameters
    ----------
    mx : array_like, shape (..., n_ages)
        Death rates [1/year] at ages 0, 1, …, ω−1 and the open group ω+ (last).
    female : array_like of bool
        True where the rates are female (for a0); broadcast against ``mx[..., 0]``.
    radix : float
        l0 [persons].

    Returns
    -------
    LifeTable
        Columns with the shape of ``mx``.  qx = mx / (1 + (1 − ax) mx) at closed
        ages (capped at 1), qω = 1; Lx = lx − (1 − ax) dx at closed ages and
        Lω = lω / mω; Tx = Σ_{y≥x} Ly; ex = Tx / lx.
    """
    m = _checked_rates(mx)
    ax = np.full_like(m, 0.5)
    ax[..., 0] = a0_andreev_kingkade(m[..., 0], female)
    qx = np.minimum(m / (1.0 + (1.0 - ax) * m), 1.0)
    qx[..., -1] = 1.0
    ax[..., -1] = 1.0 / m[..., -1]
    survival = np.cumprod(1.0 - qx[..., :-1], axis=-1)
    lx = radix * np.concatenate([np.ones(m.shape[:-1] + (1,)), survival], axis=-1)
    dx = lx * qx
    Lx = lx - (1.0 - ax) * dx
    Lx[..., -1] = lx[..., -1] / m[..., -1]
    Tx = np.flip(np.cumsum(np.flip(Lx, -1), axis=-1), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ex = np.where(lx > 0, Tx / lx, 0.0)
    return LifeTable(mx=m, ax=ax, qx=qx, lx=lx, dx=dx, Lx=Lx, Tx=Tx, ex=ex)


def cohort_rates(mx) -> np.ndarray:
    """Death rate over a calendar year of the people of each age on 1 January [1/year].

    Rates by age in completed years over a calendar year (central rates, as the HMD's)
    apply to a Lexis square; the people of age x on 1 January spend about half of the
    year at x and half at x + 1, after their birthday, so their rate is the mean of the
    two ages' rates. The open last group keeps its own rate.

    mx : array_like, shape (..., n_ages)  death rates [1/year], the last an open group
    Returns shape (..., n_ages): (m(x) + m(x + 1)) / 2 below the open group, m(ω) at it.
    """
    m = np.asarray(mx, dtype=float)
    out = m.copy()
    out[..., :-1] = 0.5 * (m[..., :-1] + m[..., 1:])
    return out


def life_expectancy(mx, female) -> np.ndarray:
    """Life expectancy at birth e0 [years] from single-year death rates (see :func:`life_table`)."""
    return life_table(mx, female).e0


def close_at(mx, open_age: int) -> np.ndarray:
    """Rates at ages 0 … open_age−1 and one open group open_age+ with the same life table.

    The open group's rate is l(open_age) / T(open_age) of the longer table, so a
    table built from the result has the same lx, Lx and ex at every age below
    ``open_age`` and the same life expectancy at ``open_age``.

    Parameters
    ----------
    mx : array_like, shape (..., n_ages)
        Death rates [1/year] at single ages 0, 1, … with an open last group;
        ``open_age`` < n_ages − 1.
    open_age : int
        The new open age [years].

    Returns
    -------
    numpy.ndarray, shape (..., open_age + 1)
        Death rates [1/year]; the last is the open group open_age+.
    """
    m = _checked_rates(mx)
    if not 0 < open_age < m.shape[-1] - 1:
        raise ValueError(f"open_age {open_age} must lie between 1 and {m.shape[-1] - 2}")
    # The ratio l/T at open_age does not depend on a0 (both scale with l1), so any sex will do.
    table = life_table(m, female=True)
    closed = m[..., :open_age + 1].copy()
    closed[..., open_age] = table.lx[..., open_age] / table.Tx[..., open_age]
    return closed
