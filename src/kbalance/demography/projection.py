"""Projection of mortality indices: random walk with drift, AR(1), projected rates.

The Lee–Carter index (and the common Li–Lee index K_t) is a random walk with drift::

    k_t = k_{t−1} + d + e_t,   e_t ~ N(0, σ²),

d estimated by the mean annual change (k_T − k_1)/(T − 1), σ² by the variance
of the annual changes about d, and the drift's standard error by σ/√(T − 1)
(Lee & Carter 1992, appendix).  Projections here use the mean path
k_{T+h} = k_T + h d for a chosen drift: the fitted one, one at a quantile of its
sampling distribution N(d, se²), or one drawn from it.  Li–Lee population
indices follow a stationary AR(1), k_t = c + φ k_{t−1} + e_t, projected by its
mean path, which tends to c / (1 − φ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from kbalance.demography.leecarter import LeeCarter, LiLee


@dataclass(frozen=True)
class RandomWalk:
    """Random walk with drift fitted to an index.

    last [-] the index at the jump-off year; drift [1/year] mean annual change;
    drift_se [1/year] its standard error; sigma [-] s.d. of annual innovations;
    n_changes [-] the number of annual changes used.
    """

    last: float
    drift: float
    drift_se: float
    sigma: float
    n_changes: int


def fit_random_walk(kt) -> RandomWalk:
    """Fit a random walk with drift to annual index values.

    Parameters
    ----------
    kt : array_like, shape (n_years,)
        Index values [-] in consecutive years, n_years ≥ 3.

    Returns
    -------
    RandomWalk
    """
    k = np.asarray(kt, float)
    if k.ndim != 1 or k.size < 3 or not np.all(np.isfinite(k)):
        raise ValueError("the index needs at least three finite annual values")
    changes = np.diff(k)
    drift = changes.mean()
    sigma = float(np.sqrt(((changes - drift) ** 2).sum() / (changes.size - 1)))
    return RandomWalk(last=float(k[-1]), drift=float(drift), drift_se=float(sigma / np.sqrt(changes.size)),
                      sigma=sigma, n_changes=int(changes.size))


def drift_at_quantile(walk: RandomWalk, quantile) -> np.ndarray:
    """Drift [1/year] at a quantile of its sampling distribution N(drift, drift_se²).

    ``quantile`` (0 < q < 1) may be an array.  Because the drift is negative when
    mortality falls, a low quantile means a faster decline (higher life expectancy).
    """
    q = np.asarray(quantile, float)
    if np.any((q <= 0) | (q >= 1)):
        raise ValueError("quantile must lie strictly between 0 and 1")
    return walk.drift + norm.ppf(q) * walk.drift_se


def sample_drift(walk: RandomWalk, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` drifts [1/year] drawn from N(drift, drift_se²) with ``rng``."""
    return rng.normal(walk.drift, walk.drift_se, size=size)


def index_path(walk: RandomWalk, horizon: int, drift=None) -> np.ndarray:
    """Mean path k_{T+h} = k_T + h d for h = 1 … horizon [-].

    Parameters
    ----------
    walk : RandomWalk
    horizon : int
        Years after the jump-off.
    drift : float or array_like, optional
        Drift(s) [1/year]; the fitted one when omitted.  An array of n drifts
        gives paths of shape (n, horizon).
    """
    d = walk.drift if drift is None else np.asarray(drift, float)
    return walk.last + np.asarray(d)[..., None] * np.arange(1, horizon + 1)


@dataclass(frozen=True)
class AR1:
    """Stationary AR(1) k_t = c + φ k_{t−1} + e_t: const c [-], phi φ [-], last k_T [-]."""

    const: float
    phi: float
    last: float

    @property
    def mean(self) -> float:
        """Long-run mean c / (1 − φ) [-]."""
        return self.const / (1.0 - self.phi)


def fit_ar1(kt) -> AR1:
    """Least-squares AR(1) fit; φ must come out with |φ| < 1 (stationary).

    Parameters
    ----------
    kt : array_like, shape (n_years,)
        Index values [-], n_years ≥ 4.
    """
    k = np.asarray(kt, float)
    if k.ndim != 1 or k.size < 4:
        raise ValueError("an AR(1) fit needs at least four annual values")
    design = np.column_stack([np.ones(k.size - 1), k[:-1]])
    (const, phi), *_ = np.linalg.lstsq(design, k[1:], rcond=None)
    if not abs(phi) < 1:
        raise ValueError(f"the AR(1) coefficient is {phi:.3f}; a coherent projection needs |φ| < 1")
    return AR1(const=float(const), phi=float(phi), last=float(k[-1]))


def ar1_path(process: AR1, horizon: int) -> np.ndarray:
    """Mean path of an AR(1), h = 1 … horizon [-]: μ + φ^h (k_T − μ)."""
    h = np.arange(1, horizon + 1)
    return process.mean + process.phi ** h * (process.last - process.mean)


def project_lee_carter(model: LeeCarter, horizon: int, drift=None) -> np.ndarray:
    """Projected death rates [1/year] for h = 1 … horizon, shape (…, horizon, n_ages).

    Rates are exp(a_x + b_x k_{T+h}) along the mean path from the fitted k_T
    (:func:`index_path`); ``drift`` [1/year] as there (fitted when omitted).
    A zero drift keeps the jump-off year's fitted rates.
    """
    return model.rates(index_path(fit_random_walk(model.kt), horizon, drift))


def project_li_lee(model: LiLee, horizon: int, drift=None) -> np.ndarray:
    """Projected Li–Lee death rates [1/year], shape (n_pop, …, horizon, n_ages).

    K follows :func:`index_path` with ``drift`` [1/year] (fitted when omitted);
    each population's k follows its AR(1) mean path (:func:`ar1_path`).
    """
    K = index_path(fit_random_walk(model.Kt), horizon, drift)          # (…, horizon)
    k = np.stack([ar1_path(fit_ar1(row), horizon) for row in model.kt])  # (n_pop, horizon)
    extra = (1,) * (K.ndim - 1)
    n_pop, n_ages = model.ax.shape
    log_m = (model.ax.reshape((n_pop,) + extra + (1, n_ages)) + model.Bx * K[..., None]
             + model.bx.reshape((n_pop,) + extra + (1, n_ages)) * k.reshape((n_pop,) + extra + (horizon, 1)))
    return np.exp(log_m)
