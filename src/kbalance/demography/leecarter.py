"""Lee–Carter and Li–Lee models of log death rates.

Lee–Carter (Lee & Carter 1992), for one population::

    ln m(x, t) = a_x + b_x k_t + ε,     Σ_x b_x = 1,  Σ_t k_t = 0,

a_x the mean log rate over the years, b_x k_t the first term of the singular
value decomposition of the centred log rates.  Second stage: k_t is re-estimated
each year so that the fitted rates reproduce that year's observed total deaths,
Σ_x E(x, t) exp(a_x + b_x k_t) = Σ_x D(x, t); k is then re-centred (a_x absorbs
b_x × mean k), which leaves the fitted rates unchanged.

Li–Lee (Li & Lee 2005), coherent for several populations i (here the sexes)::

    ln m_i(x, t) = a_{x,i} + B_x K_t + b_{x,i} k_{t,i} + ε,

B_x K_t the Lee–Carter factor of both sexes together (rates weighted by
exposure, K re-estimated to total deaths), b_{x,i} k_{t,i} the first singular
term of each sex's residual, with k_{t,i} re-estimated to that sex's deaths.
K_t is projected as a random walk with drift and k_{t,i} as a stationary AR(1),
so the sexes' rates keep a bounded ratio at every age (they do not diverge).

For a year observed only as total deaths of both sexes (after the last year of
the rates by age), :func:`common_index_to_deaths` applies the second stage to
K alone: given each sex's index, K_t is the value for which the schedule
applied to the residents by sex and age at the start of the year (as a
cohort-component step applies it, each age at the mean rate of its age and the
next over the year) gives the observed total.

Arrays have years on the second-to-last axis and ages on the last; ages are
single years with an open last group (0 … 99, 100+ in the model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from kbalance.demography.lifetable import cohort_rates


@dataclass(frozen=True)
class LeeCarter:
    """Fitted Lee–Carter model: ax [ln(1/year)] (n_ages,), bx [-] (n_ages,), kt [-] (n_years,)."""

    ax: np.ndarray
    bx: np.ndarray
    kt: np.ndarray

    def rates(self, kt=None) -> np.ndarray:
        """Death rates [1/year] exp(a_x + b_x k_t), shape (n_k, n_ages); ``kt`` defaults to the fitted index."""
        k = self.kt if kt is None else np.asarray(kt, float)
        return np.exp(self.ax + self.bx * k[..., None])


@dataclass(frozen=True)
class LiLee:
    """Fitted Li–Lee model for n_pop populations (sexes).

    ax [ln(1/year)] (n_pop, n_ages); Bx [-] (n_ages,) and Kt [-] (n_years,) the
    common factor; bx [-] (n_pop, n_ages) and kt [-] (n_pop, n_years) each
    population's own factor.
    """

    ax: np.ndarray
    Bx: np.ndarray
    Kt: np.ndarray
    bx: np.ndarray
    kt: np.ndarray

    def rates(self, Kt=None, kt=None) -> np.ndarray:
        """Death rates [1/year], shape (n_pop, n_K, n_ages); indices default to the fitted ones.

        ``Kt`` has shape (n_K,) and ``kt`` (n_pop, n_K).
        """
        K = self.Kt if Kt is None else np.asarray(Kt, float)
        k = self.kt if kt is None else np.asarray(kt, float)
        return np.exp(self.ax[:, None, :] + self.Bx * K[:, None] + self.bx[:, None, :] * k[..., None])


def _log_rates(mx) -> np.ndarray:
    m = np.asarray(mx, float)
    if m.ndim < 2 or m.shape[-2] < 3:
        raise ValueError("rates need (…, years, ages) with at least three years")
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise ValueError("rates must be finite and positive to take logs (extend or group ages with no deaths)")
    return np.log(m)


def first_singular_term(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First singular term of a (years, ages) matrix as (b_x, k_t) with Σ b_x = 1.

    Parameters
    ----------
    z : numpy.ndarray, shape (n_years, n_ages)
        Centred log rates [-].

    Returns
    -------
    (bx, kt) : numpy.ndarray (n_ages,), numpy.ndarray (n_years,)
        b_x k_t is the best rank-one approximation of ``z`` in least squares.
    """
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    bx = vt[0]
    scale = bx.sum()
    return bx / scale, u[:, 0] * s[0] * scale


def match_deaths(base_log, bx, k0, deaths, exposure, iterations: int = 100) -> np.ndarray:
    """k_t so that fitted deaths equal observed deaths each year (damped Newton).

    Solves Σ_x E(x, t) exp(base(x, t) + b_x k_t) = Σ_x D(x, t) for every t; a
    Newton step is halved until it reduces the gap, so the iteration also
    converges when some b_x are negative (the function is then convex, not monotone).

    Parameters
    ----------
    base_log : array_like, shape (n_years, n_ages) or (n_ages,)
        The log rates [ln(1/year)] without the factor being fitted.
    bx : array_like, shape (n_ages,)
        Age loadings [-].
    k0 : array_like, shape (n_years,)
        Starting values [-].
    deaths, exposure : array_like, shape (n_years, n_ages)
        Observed deaths [persons] and exposure [person-years].

    Returns
    -------
    numpy.ndarray, shape (n_years,)
        k_t [-].

    Raises
    ------
    ValueError
        If no k_t reproduces a year's deaths (to 1e-12 relative), which can
        happen only when some b_x are negative.
    """
    e = np.asarray(exposure, float)
    target = np.asarray(deaths, float).sum(axis=-1)

    def gap(k):
        fitted = e * np.exp(base_log + bx * k[:, None])
        return fitted.sum(-1) - target, (fitted * bx).sum(-1)

    k = np.asarray(k0, float).copy()
    residual, slope = gap(k)
    for _ in range(iterations):
        if np.all(np.abs(residual) <= 1e-12 * target):
            return k
        step = residual / np.where(slope != 0, slope, np.inf)
        length = np.ones_like(k)
        for _ in range(60):
            trial = k - length * step
            new_residual, new_slope = gap(trial)
            worse = (np.abs(new_residual) >= np.abs(residual)) & (np.abs(residual) > 1e-12 * target)
            if not np.any(worse):
                break
            length = np.where(worse, length / 2, length)
        k, residual, slope = trial, new_residual, new_slope
    if np.all(np.abs(residual) <= 1e-12 * target):
        return k
    raise ValueError("no index reproduces the observed deaths of every year "
                     f"(largest relative gap {np.max(np.abs(residual) / target):.2e})")


def _checked_counts(deaths, exposure, shape) -> tuple[np.ndarray, np.ndarray]:
    d, e = np.asarray(deaths, float), np.asarray(exposure, float)
    if d.shape != shape or e.shape != shape:
        raise ValueError(f"deaths and exposure must have the rates' shape {shape}")
    if np.any(e < 0) or np.any(d < 0) or not (np.all(np.isfinite(d)) and np.all(np.isfinite(e))):
        raise ValueError("deaths and exposure must be finite and non-negative")
    return d, e


def fit_lee_carter(mx, deaths, exposure) -> LeeCarter:
    """Lee–Carter fit with k_t re-estimated to observed deaths (see module docstring).

    Parameters
    ----------
    mx : array_like, shape (n_years, n_ages)
        Death rates [1/year] to model, all > 0 (e.g. observed below 95 and
        Kannisto above, closed at 100+).
    deaths, exposure : array_like, shape (n_years, n_ages)
        Observed deaths [persons] and exposure [person-years] for the second stage.

    Returns
    -------
    LeeCarter
    """
    log_m = _log_rates(mx)
    if log_m.ndim != 2:
        raise ValueError("Lee–Carter needs rates shaped (years, ages); fit each sex separately")
    d, e = _checked_counts(deaths, exposure, log_m.shape)
    ax = log_m.mean(axis=0)
    bx, k = first_singular_term(log_m - ax)
    k = match_deaths(ax, bx, k, d, e)
    return LeeCarter(ax=ax + bx * k.mean(), bx=bx, kt=k - k.mean())


def fit_li_lee(mx, deaths, exposure) -> LiLee:
    """Li–Lee fit for several populations (see module docstring).

    Parameters
    ----------
    mx : array_like, shape (n_pop, n_years, n_ages)
        Death rates [1/year] of each population (sex), all > 0.
    deaths, exposure : array_like, shape (n_pop, n_years, n_ages)
        Observed deaths [persons] and exposure [person-years].

    Returns
    -------
    LiLee
    """
    log_m = _log_rates(mx)
    d, e = _checked_counts(deaths, exposure, log_m.shape)
    if log_m.ndim != 3:
        raise ValueError("Li–Lee needs rates shaped (populations, years, ages)")
    weights = e / e.sum(axis=0)
    common = fit_lee_carter((weights * np.exp(log_m)).sum(axis=0), d.sum(axis=0), e.sum(axis=0))
    Bx, Kt = common.bx, common.kt
    ax = log_m.mean(axis=1)                              # Σ_t K_t = 0
    bx, kt = [], []
    for i in range(log_m.shape[0]):
        base = ax[i] + Bx * Kt[:, None]
        b, k = first_singular_term(log_m[i] - base)
        k = match_deaths(base, b, k, d[i], e[i])
        ax[i] = ax[i] + b * k.mean()
        bx.append(b)
        kt.append(k - k.mean())
    return LiLee(ax=ax, Bx=Bx, Kt=Kt, bx=np.array(bx), kt=np.array(kt))


def ultimate_loading(Bx, young: tuple[int, int] = (15, 64)) -> np.ndarray:
    """Ultimate age pattern of mortality decline of Li, Lee & Gerland (2013) [-].

    The pattern the loading B(x) rotates towards as life expectancy rises: at every age up
    to the last of ``young`` the mean of B(x) over ``young`` (flat: the young ages no
    longer decline faster than the adults), above it B(x) scaled so that the pattern is
    continuous at the first older age, then normalised to sum to 1 like B(x) (as in the
    UN's MortCast ``ultimate.bx``, single years of age here).

    Parameters
    ----------
    Bx : array_like, shape (n_ages,)
        Common loading [-] by single year of age from 0, Σ B(x) = 1.
    young : (int, int)
        First and last age [year] of the mean; the pattern is flat from age 0 to the last.

    Returns
    -------
    numpy.ndarray, shape (n_ages,)
        B_u(x) [-], Σ B_u(x) = 1.
    """
    b = np.asarray(Bx, float)
    first, last = young
    if b.ndim != 1 or not 0 <= first < last < b.size - 1 or np.any(b[last + 1:] <= 0):
        raise ValueError(f"B(x) needs ages 0 to above {last} with positive values above it")
    ultimate = b.copy()
    ultimate[: last + 1] = b[first: last + 1].mean()
    ultimate[last + 1:] = b[last + 1:] * ultimate[last] / b[last + 1]
    return ultimate / ultimate.sum()


def common_index_to_deaths(model: LiLee, kt, population, total_deaths) -> np.ndarray:
    """Common index K_t of a Li–Lee model that reproduces observed total deaths.

    Lee and Carter's second stage for K alone, in the form of a cohort-component step
    (the deaths of the residents at the start of the year at their cohort's rate over the
    year, :func:`kbalance.demography.lifetable.cohort_rates` of the schedule
    m_i(x, t) = exp(a_{x,i} + B_x K_t + b_{x,i} k_{t,i})): for every year t,
    Σ_i Σ_x P_i(x, t) (1 − exp(−m̄_i(x, t))) = D(t), m̄ the cohort rates, with each
    population's index k_{t,i} given (e.g. its AR(1) path after the last fitted year).

    Parameters
    ----------
    model : LiLee
        The fitted model (its a, B and b are used); every B_x > 0.
    kt : array_like, shape (n_pop, n_years)
        Each population's index [-] in the years to estimate.
    population : array_like, shape (n_pop, n_years, n_ages)
        Residents [persons] by population, year and age at the start of each year.
    total_deaths : array_like, shape (n_years,)
        Observed deaths of all populations and ages [persons] in each year, each
        above 0 and below the residents.

    Returns
    -------
    numpy.ndarray, shape (n_years,)
        K_t [-], to 1e-12 relative in the deaths; ValueError if the shapes disagree, a
        count is negative or not finite, or some B_x ≤ 0.
    """
    k = np.atleast_2d(np.asarray(kt, float))
    n_pop, n_ages = model.ax.shape
    p = np.asarray(population, float)
    target = np.atleast_1d(np.asarray(total_deaths, float))
    if k.shape != (n_pop, target.size) or p.shape != (n_pop, target.size, n_ages):
        raise ValueError(f"kt must be ({n_pop}, n_years) and population ({n_pop}, n_years, {n_ages}) "
                         f"for {target.size} years of total deaths")
    if not (np.all(np.isfinite(p)) and np.all(p >= 0) and np.all(np.isfinite(target))):
        raise ValueError("population and total deaths must be finite and non-negative")
    if np.any(model.Bx <= 0):
        raise ValueError("every common loading B_x must be positive (deaths then rise with K)")
    residents = p.sum(axis=(0, 2))
    if np.any(target <= 0) or np.any(target >= residents):
        raise ValueError("total deaths must be positive and below the residents of the year")
    out = np.empty(target.size)
    for t in range(target.size):
        base = model.ax + model.bx * k[:, t, None]                      # (n_pop, n_ages)

        def gap(K: float) -> float:
            return float((p[:, t] * -np.expm1(-cohort_rates(np.exp(base + model.Bx * K)))).sum() - target[t])
        low, high = -100.0, 100.0
        while gap(low) > 0:
            low *= 2
        while gap(high) < 0:
            high *= 2
        out[t] = brentq(gap, low, high, xtol=1e-13, rtol=1e-15, maxiter=500)
    return out
