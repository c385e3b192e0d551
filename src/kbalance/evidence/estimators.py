"""The two estimators: Poisson pseudo-maximum likelihood (PPML) and two-way fixed-effects OLS.

Both are pure functions of a table: they take the outcome, the regressors, the fixed-effect
groupings and the cluster variable by column name and return an :class:`Estimate` (the
regressors' coefficients with cluster-robust standard errors, the number of observations and
fit statistics). Fixed effects enter as dummies (statsmodels ``GLM`` / ``OLS``); their
coefficients are not reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from kbalance.errors import InvalidValueError, MissingColumnError, MissingValueError


@dataclass(frozen=True)
class Estimate:
    """One fitted regression.

    model : name of the regression; spec : its specification in words;
    coef, std_error, p_value : per regressor (cluster-robust); n : observations;
    fit : statistics by name (``pseudo_r2``, ``r2_fitted`` for PPML; ``r2``, ``within_r2`` for OLS;
    ``clusters``, ``fixed_effects`` for both).
    """

    model: str
    spec: str
    coef: pd.Series
    std_error: pd.Series
    p_value: pd.Series
    n: int
    fit: dict[str, float] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Coefficients as a table: term, estimate, std_error, p_value."""
        return pd.DataFrame({"term": self.coef.index, "estimate": self.coef.to_numpy(),
                             "std_error": self.std_error.to_numpy(), "p_value": self.p_value.to_numpy()})


def _check_table(table: pd.DataFrame, what: str, columns: Sequence[str]) -> None:
    """Every column present and finite; raises a typed error naming the table and the column."""
    for column in columns:
        if column not in table.columns:
            raise MissingColumnError(what, column, f"columns {', '.join(columns)}")
        values = table[column]
        if values.isna().any():
            row = values[values.isna()].index[0]
            raise MissingValueError(what, column, f"row {row}")


def _fixed_effect_codes(table: pd.DataFrame, groups: Sequence[str]) -> np.ndarray:
    """Integer code of each row's fixed-effect cell (the combination of the ``groups`` columns)."""
    keys = table[list(groups)].astype(str).agg("|".join, axis=1)
    return pd.factorize(keys, sort=True)[0]


def design_matrix(table: pd.DataFrame, terms: Sequence[str], fixed_effects: Sequence[Sequence[str]],
                  intercept: bool = True) -> tuple[np.ndarray, int]:
    """Regressors followed by fixed-effect dummies; returns (matrix, number of dummies).

    With ``intercept`` the first fixed effect gets a dummy for every cell (it is the intercept);
    every other one drops its first cell. ``fixed_effects`` is a list of column groups, e.g.
    ``[("origin", "year"), ("dest",)]`` for origin–year and destination effects.
    """
    blocks = [table[list(terms)].to_numpy(float)]
    for k, groups in enumerate(fixed_effects):
        codes = _fixed_effect_codes(table, groups)
        dummies = np.zeros((len(table), codes.max() + 1))
        dummies[np.arange(len(table)), codes] = 1.0
        blocks.append(dummies if (k == 0 and intercept) else dummies[:, 1:])
    x = np.hstack(blocks)
    return x, x.shape[1] - len(terms)


def _coefficients(result, terms: Sequence[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    k = len(terms)
    return (pd.Series(np.asarray(result.params)[:k], index=list(terms)),
            pd.Series(np.asarray(result.bse)[:k], index=list(terms)),
            pd.Series(np.asarray(result.pvalues)[:k], index=list(terms)))


def group_mean(values: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of ``values`` (rows, or rows × columns) within each group, broadcast back to the rows."""
    total = np.bincount(codes, weights)
    if values.ndim == 1:
        return (np.bincount(codes, weights * values) / total)[codes]
    return np.column_stack([(np.bincount(codes, weights * v) / total)[codes] for v in values.T])


def _ppml_absorbed(y: np.ndarray, x: np.ndarray, codes: np.ndarray,
                   tol: float = 1e-11, maxiter: int = 200) -> tuple[np.ndarray, np.ndarray, bool]:
    """Poisson IRLS with one set of fixed effects absorbed by weighted within-group demeaning.

    Returns (coefficients of ``x``, linear predictor, whether the deviance converged to ``tol``). Each iteration is the weighted least
    squares step of the full dummy regression, solved on demeaned data (Frisch–Waugh–Lovell).
    """
    mu = 0.5 * (y + y.mean())
    eta = np.log(mu)
    beta = np.zeros(x.shape[1])
    deviance = np.inf
    converged = False
    for _ in range(maxiter):
        z = eta + (y - mu) / mu
        xt = x - group_mean(x, codes, mu)
        zt = z - group_mean(z, codes, mu)
        root = np.sqrt(mu)
        beta = np.linalg.lstsq(xt * root[:, None], zt * root, rcond=None)[0]
        eta = x @ beta + group_mean(z - x @ beta, codes, mu)
        mu = np.exp(eta)
        new = sm.families.Poisson().deviance(y, mu)
        if abs(new - deviance) <= tol * max(new, 1.0):
            converged = True
            break
        deviance = new
    return beta, eta, converged


def ppml(table: pd.DataFrame, outcome: str, terms: Sequence[str], fixed_effects: Sequence[Sequence[str]],
         cluster: str, model: str = "ppml", spec: str = "", what: str = "gravity panel") -> Estimate:
    """Poisson pseudo-maximum-likelihood regression with fixed effects.

    E[y] = exp(sum_k b_k x_k + fixed effects); standard errors cluster-robust by ``cluster``.

    table : DataFrame  one row per observation; outcome : column of counts [>= 0];
    terms : regressor columns; fixed_effects : column groups (see :func:`design_matrix`); the
    first is absorbed (demeaned out, so hundreds of origin–year effects cost nothing), further
    ones enter as dummies; cluster : column whose values define the clusters;
    what : the table's name in error messages.

    The coefficients are those of the full dummy regression. The final step is a statsmodels
    Poisson GLM on the demeaned regressors with the fixed effects as offset, which gives the
    same coefficients and the cluster-robust covariance; its small-sample factor
    G/(G − 1) · (N − 1)/(N − K) is set to count the absorbed effects in K, so the standard errors
    equal those of the full dummy regression (normal p-values, as statsmodels GLM). Cells of a first fixed effect whose outcomes are all
    0 carry no information and are dropped.

    Fit: ``pseudo_r2`` = 1 − deviance / deviance of a constant alone, ``r2_fitted`` = squared
    correlation of fitted and observed ``outcome``, ``dropped`` rows, ``converged`` (1 or 0).
    """
    _check_table(table, what, [outcome, *terms, *(c for g in fixed_effects for c in g), cluster])
    y_all = table[outcome].to_numpy(float)
    if (y_all < 0).any():
        raise InvalidValueError(what, outcome, float(y_all[y_all < 0][0]), "counts >= 0")
    codes_all = _fixed_effect_codes(table, fixed_effects[0])
    keep = np.bincount(codes_all, y_all)[codes_all] > 0
    rows = table[keep]
    y = y_all[keep]
    codes = pd.factorize(codes_all[keep])[0]
    x, n_dummies = design_matrix(rows, terms, fixed_effects[1:], intercept=False)
    beta, eta, converged = _ppml_absorbed(y, x, codes)
    mu = np.exp(eta)
    xt = x - group_mean(x, codes, mu)
    groups = pd.factorize(rows[cluster])[0]
    result = sm.GLM(y, xt, family=sm.families.Poisson(), offset=eta - xt @ beta).fit(
        start_params=beta, cov_type="cluster", cov_kwds={"groups": groups})
    coef, se, _ = _coefficients(result, terms)
    n_absorbed = codes.max() + 1
    se = se * np.sqrt((len(y) - xt.shape[1]) / (len(y) - xt.shape[1] - n_absorbed))
    p = pd.Series(2.0 * stats.norm.sf(np.abs(coef / se)), index=coef.index)
    mu = np.asarray(result.fittedvalues)
    poisson = sm.families.Poisson()
    fit = {"pseudo_r2": 1.0 - poisson.deviance(y, mu) / poisson.deviance(y, np.full_like(y, y.mean())),
           "r2_fitted": float(np.corrcoef(y, mu)[0, 1] ** 2),
           "clusters": float(groups.max() + 1), "fixed_effects": float(n_absorbed + n_dummies),
           "dropped": float((~keep).sum()), "converged": float(converged)}
    return Estimate(model, spec, coef, se, p, len(y), fit)


def fe_ols(table: pd.DataFrame, outcome: str, terms: Sequence[str], fixed_effects: Sequence[Sequence[str]],
           cluster: str, model: str = "fe_ols", spec: str = "", what: str = "region panel") -> Estimate:
    """OLS with fixed effects (e.g. region and year), standard errors cluster-robust by ``cluster``.

    Small-sample corrected cluster covariance, t distribution with G − 1 degrees of freedom.
    Fit: ``r2`` of the whole regression, ``within_r2`` = 1 − SSR / SSR of the fixed effects alone,
    ``rmse`` [units of ``outcome``].
    """
    _check_table(table, what, [outcome, *terms, *(c for g in fixed_effects for c in g), cluster])
    y = table[outcome].to_numpy(float)
    x, n_fe = design_matrix(table, terms, fixed_effects)
    groups = pd.factorize(table[cluster])[0]
    result = sm.OLS(y, x).fit(cov_type="cluster", use_t=True,
                              cov_kwds={"groups": groups, "use_correction": True, "df_correction": True})
    coef, se, p = _coefficients(result, terms)
    ssr_fe = sm.OLS(y, x[:, len(terms):]).fit().ssr
    fit = {"r2": float(result.rsquared), "within_r2": 1.0 - result.ssr / ssr_fe,
           "rmse": float(np.sqrt(result.ssr / len(y))),
           "clusters": float(groups.max() + 1), "fixed_effects": float(n_fe)}
    return Estimate(model, spec, coef, se, p, len(y), fit)
