"""Fertility of a new city's newcomers, from Sejong's TFR as it filled.

Sejong was created in 2012 from Yeongi-gun and parts of Gongju and Cheongwon; its TFR
relative to the nation stayed at the level of its mother province Chungnam (about 1.2)
while few had moved in, and rose to about 1.6 once most residents were newcomers (DT_1B81A21,
``tfr`` in calibration/observations/vital.csv). The model (``new city fertility effect``,
model/kbalance.mdl) gives a new city's TFR the factor

    1 + (k − 1) · s_t,    s_t = 1 − I / P_t,

s_t the share of residents beyond the I inherited at the creation (the boundary transfer of
the model inputs, :func:`kbalance.model.inputs.boundary_transfers`) among the P_t registered
on 1 January (year-end of t − 1; 0 in the year of creation), k the newcomers' fertility
relative to the inherited residents' (``new city fertility ratio``). With the city's own level
α free (its ``regional fertility factor``), the observed ratio to the national TFR is

    R_t = α + α (k − 1) s_t,

a straight line in s_t: :func:`fertility_ratio` fits it by least squares and gives
k = 1 + slope / intercept with its delta-method standard error (docs/evidence.md, "The new
city's fertility").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from kbalance.evidence.migration_ages import NEW_CITY
from kbalance.model.inputs import boundary_transfers, observations
from kbalance.observations.load import wide_series
from kbalance.regions import NATIONAL_CODE, code_of


@dataclass(frozen=True)
class FertilityRatio:
    """The newcomers' fertility relative to the inherited residents' and its fit.

    ratio : k [-]; std_error : its delta-method standard error [-]; intercept : α, the
    inherited residents' TFR over the national [-]; slope : α (k − 1) [-]; n : years fitted.
    """

    ratio: float
    std_error: float
    intercept: float
    slope: float
    n: int


def inherited_residents(code: str) -> float:
    """Residents a new region received at its creation [persons]: its boundary transfer."""
    transfers, _ = boundary_transfers(observations())
    return float(transfers[code].clip(lower=0.0).sum())


def newcomer_share(population: pd.Series, inherited: float, first_year: int) -> pd.Series:
    """Share of a new city's residents beyond those inherited, by year [-].

    population : registered population at year-end [persons], indexed by year
    inherited : residents received at the creation [persons]
    first_year : the year of creation (share 0: no residents on 1 January)
    Returns, for first_year and every later year with the previous year-end observed,
    max(0, 1 − inherited / population at the end of the previous year).
    """
    if inherited < 0:
        raise ValueError("inherited residents must be non-negative")
    start = population.shift(1)
    share = (1.0 - inherited / start).clip(lower=0.0)
    share = share[share.index >= first_year]
    share.loc[first_year] = 0.0
    return share.dropna().sort_index()


def observed_tfr_ratio(code: str) -> pd.Series:
    """A region's TFR over the national TFR by year [-] (DT_1B81A21), years with both."""
    tfr = wide_series("tfr", national=True)
    return (tfr[code] / tfr[NATIONAL_CODE]).dropna()


def fit_ratio(share: pd.Series, tfr_ratio: pd.Series) -> FertilityRatio:
    """Least squares of the TFR ratio on the newcomer share over their common years.

    Returns k = 1 + slope / intercept and its delta-method standard error from the
    coefficients' covariance (statsmodels OLS: residual variance over n − 2 degrees of freedom).
    """
    years = share.index.intersection(tfr_ratio.index)
    if len(years) < 3:
        raise ValueError("the newcomer fertility ratio needs at least three years")
    x, y = share.loc[years].to_numpy(float), tfr_ratio.loc[years].to_numpy(float)
    fit = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
    a, b = fit.params
    gradient = np.array([-b / a ** 2, 1.0 / a])
    return FertilityRatio(float(1.0 + b / a), float(np.sqrt(gradient @ fit.cov_params() @ gradient)), float(a), float(b), len(x))


def fertility_ratio(name: str = NEW_CITY) -> FertilityRatio:
    """The newcomers' fertility ratio of the new city ``name`` (model/regions.csv ``name_en``)."""
    code = code_of(name)
    population = wide_series("pop_registered")[code].dropna()
    share = newcomer_share(population, inherited_residents(code), int(population.index.min()))
    return fit_ratio(share, observed_tfr_ratio(code))


def priors() -> pd.DataFrame:
    """The prior of ``new city fertility ratio``: columns parameter, prior_mean, prior_sd, unit."""
    fit = fertility_ratio()
    return pd.DataFrame([{"parameter": "new city fertility ratio", "prior_mean": fit.ratio,
                          "prior_sd": fit.std_error, "unit": "Dmnl"}])
