"""Death rates above the highest reliable age: the Kannisto model.

Above about age 95 the single-year national counts become small (a few dozen
male deaths a year at 99 in 2003) and age misreporting matters.  The Kannisto
(logistic) hazard

    μ(x) = a e^{b (x − x0)} / (1 + a e^{b (x − x0)}),

fitted by Poisson maximum likelihood to deaths and exposures at ages 80–94,
replaces the observed rates from age 95 on and extends them to any age (the
Human Mortality Database uses the same model above 80 for smoothing; Thatcher,
Kannisto & Vaupel 1998 found it the best of the simple models at these ages).
"""

from __future__ import annotations

import numpy as np

from kbalance.demography.lifetable import close_at

#: Reference age x0 [years] of the Kannisto parameters.
KANNISTO_X0 = 80.0


def kannisto_rates(log_a, b, ages) -> np.ndarray:
    """Kannisto hazard μ(x) [1/year] at ``ages``.

    Parameters
    ----------
    log_a : array_like
        ln a [-], the log-odds of the hazard at age x0 = 80.
    b : array_like
        b [1/year], the rate of increase of the log-odds with age.
    ages : array_like, shape (n,)
        Ages [years].

    Returns
    -------
    numpy.ndarray, shape (..., n)
        μ [1/year], with the broadcast shape of ``log_a`` and ``b`` in front.
    """
    eta = np.asarray(log_a, float)[..., None] + np.asarray(b, float)[..., None] * (
        np.asarray(ages, float) - KANNISTO_X0)
    return 1.0 / (1.0 + np.exp(-eta))


def fit_kannisto(deaths, exposure, ages, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Poisson maximum-likelihood fit of the Kannisto hazard.

    Maximises Σ_x D_x ln μ(x) − E_x μ(x) by Fisher scoring, started from a
    weighted least-squares fit of logit(D/E).

    Parameters
    ----------
    deaths : array_like, shape (..., n)
        Deaths [persons] at ``ages`` (last axis), finite and ≥ 0.
    exposure : array_like, shape (..., n)
        Person-years of exposure [person-years], > 0.
    ages : array_like, shape (n,)
        The fitting ages [years], at least two.
    iterations : int
        Fisher-scoring steps (converges in well under 20 on national data).

    Returns
    -------
    (log_a, b) : tuple of numpy.ndarray, shape (...)
        ln a [-] at x0 = 80 and b [1/year] (see :func:`kannisto_rates`).
    """
    d = np.asarray(deaths, float)
    e = np.asarray(exposure, float)
    x = np.asarray(ages, float) - KANNISTO_X0
    if d.shape != e.shape or d.shape[-1] != x.size or x.size < 2:
        raise ValueError("deaths and exposure must share a shape whose last axis is the fitting ages")
    if np.any(e <= 0) or np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ValueError("exposure must be positive and deaths finite and non-negative")
    design = np.stack([np.ones_like(x), x], axis=-1)                      # (n, 2)
    m = np.clip(d / e, 1e-6, 1 - 1e-6)
    theta = _weighted_lstsq(design, np.log(m / (1 - m)), np.maximum(d, 0.5))
    for _ in range(iterations):
        mu = 1.0 / (1.0 + np.exp(-(theta @ design.T)))
        score = ((d - e * mu) * (1 - mu)) @ design                       # (..., 2)
        weight = e * mu * (1 - mu) ** 2
        info = np.einsum("...n,ni,nj->...ij", weight, design, design)
        step = np.linalg.solve(info, score[..., None])[..., 0]
        theta = theta + step
        if np.max(np.abs(step)) < 1e-12:
            break
    return theta[..., 0], theta[..., 1]


def _weighted_lstsq(design, y, w) -> np.ndarray:
    info = np.einsum("...n,ni,nj->...ij", w, design, design)
    rhs = np.einsum("...n,ni->...i", w * y, design)
    return np.linalg.solve(info, rhs[..., None])[..., 0]


def extend_old_ages(deaths, exposure, fit_ages=(80, 94), from_age: int = 95,
                    last_age: int = 130) -> np.ndarray:
    """Death rates at single ages 0 … last_age−1 and an open group last_age+,
    observed below ``from_age`` and Kannisto above.

    Parameters
    ----------
    deaths, exposure : array_like, shape (..., n_ages)
        Deaths [persons] and exposure [person-years] at single ages 0, 1, …
        (the last may be an open group; only ages below ``from_age`` and in
        ``fit_ages`` are used).
    fit_ages : (int, int)
        First and last age [years] of the Kannisto fit, inclusive.
    from_age : int
        First age [years] whose rate is the fitted one.
    last_age : int
        The open age [years] of the result; the open rate is μ(last_age).

    Returns
    -------
    numpy.ndarray, shape (..., last_age + 1)
        Death rates [1/year].
    """
    d = np.asarray(deaths, float)
    e = np.asarray(exposure, float)
    lo, hi = fit_ages
    if not (0 <= lo < hi < d.shape[-1] and from_age <= d.shape[-1] and from_age < last_age):
        raise ValueError(f"fit ages {fit_ages}, from_age {from_age} and last_age {last_age} "
                         f"do not fit {d.shape[-1]} ages")
    fit = slice(lo, hi + 1)
    log_a, b = fit_kannisto(d[..., fit], e[..., fit], np.arange(lo, hi + 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = d[..., :from_age] / e[..., :from_age]
    if not np.all(np.isfinite(observed)):
        raise ValueError(f"exposure must be positive at every age below {from_age}")
    fitted = kannisto_rates(log_a, b, np.arange(from_age, last_age + 1))
    return np.concatenate([observed, fitted], axis=-1)


def complete_rates(deaths, exposure, open_age: int = 100, fit_ages=(80, 94),
                   from_age: int = 95) -> np.ndarray:
    """Death rates at ages 0 … open_age−1 and open_age+: observed below ``from_age``,
    Kannisto from it on, the open group's rate l/T of the Kannisto tail to age 130.

    Parameters
    ----------
    deaths, exposure : array_like, shape (..., n_ages)
        Deaths [persons] and exposure [person-years] at single ages 0, 1, …
    open_age, fit_ages, from_age
        Ages [years]; see :func:`extend_old_ages` and :func:`~kbalance.demography.lifetable.close_at`.

    Returns
    -------
    numpy.ndarray, shape (..., open_age + 1)
        Death rates [1/year], all positive.
    """
    return close_at(extend_old_ages(deaths, exposure, fit_ages, from_age), open_age)
