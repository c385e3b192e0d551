"""Backtest of the municipal method against the constant-share forecast.

From a December base year (2015, 2019) to the latest observed year, the method gets the
OBSERVED regional population by sex and age group of every target year (the sum of its
municipalities), so the error measured is the municipal method's own and not the regional
model's. The ratios are estimated on the observed years up to the base year only; from 2015,
the first year of the data, no step precedes the base, so the regional ratios are not
available either and the ratios of 2015–2019 are used (this backtest is partly in sample,
and is labelled so). The naive forecast holds each municipality's share of its region
within region × sex × age group at its base-year value. Scores: the mean absolute
percentage error of the municipalities' total population in the last year, and the number
of municipalities at risk and at high risk there, against the observed numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.errors import InvalidValueError
from kbalance.municipal.indicators import extinction_index, risk_bounds
from kbalance.outputs import replace_file
from kbalance.municipal.projection import HALF_LIFE, estimate_ratios, project, rake, region_matrix

#: Base years of the backtests [December year] and the years their ratios are estimated on.
BACKTESTS = {2015: (2015, 2019), 2019: (2015, 2019)}
#: Where the backtest table goes, relative to calibration/.
BACKTEST_FILE = "reports/municipal/backtest.csv"


def regional_totals(observed: xr.DataArray, codes: list[str]) -> np.ndarray:
    """(year, region, sex, group) sums of the municipalities of each region [persons]."""
    members = region_matrix(observed["region"].values.astype(str), codes)
    return np.einsum("rs,syxg->yrxg", members, observed.transpose("sgg_code", "year", "sex", "age_group").values)


def constant_share(observed: xr.DataArray, base: int, targets: np.ndarray, codes: list[str]) -> np.ndarray:
    """The naive forecast (year, sgg, sex, group) [persons]: base-year shares within
    region × sex × group times the regional ``targets`` (year, region, sex, group)."""
    members = region_matrix(observed["region"].values.astype(str), codes)
    start = observed.sel(year=base).transpose("sgg_code", "sex", "age_group").values
    return np.stack([rake(start[None], t[None], members)[0] for t in targets])


def mape(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute percentage error [%] of totals over municipalities (arrays (sgg, …))."""
    f, a = forecast.reshape(len(forecast), -1).sum(axis=1), actual.reshape(len(actual), -1).sum(axis=1)
    return float(np.mean(np.abs(f - a) / a) * 100)


def run_backtest(observed: xr.DataArray, base: int, window: tuple[int, int], last: int | None = None,
                 half_life: float = HALF_LIFE, unfilled: xr.DataArray | None = None) -> dict:
    """One backtest from December ``base`` to ``last`` (default the latest observed year).

    observed : the output of :func:`kbalance.municipal.projection.observed_population`
    window : December years the ratios are estimated on
    unfilled : the same without filled age vectors, for the ratios (default ``observed``)
    Returns a row: base, last, window, in_sample, horizon, MAPEs of method and naive [%],
    counts at risk and high risk (observed, method, naive).
    """
    years = [int(y) for y in observed["year"].values]
    last = years[-1] if last is None else last
    if base not in years or last <= base or last not in years:
        raise InvalidValueError("municipal backtest", "base", base, f"a December year before {last} in {years}")
    codes = sorted(set(observed["region"].values.astype(str)))
    ratios = estimate_ratios(observed if unfilled is None else unfilled, window)
    span = observed.sel(year=list(range(base, last + 1)))
    targets = regional_totals(span, codes)
    base_pop = observed.sel(year=base).transpose("sgg_code", "sex", "age_group").values
    method = project(ratios, base_pop, targets[None], codes, half_life)[0, -1]
    naive = constant_share(observed, base, targets[-1:], codes)[0]
    actual = observed.sel(year=last).transpose("sgg_code", "sex", "age_group").values
    high, risk = risk_bounds()
    labels = ratios.labels

    def counts(pop: np.ndarray) -> tuple[int, int]:
        index = extinction_index(pop, labels)
        return int((index < risk).sum()), int((index < high).sum())

    (obs_risk, obs_high), (m_risk, m_high), (n_risk, n_high) = counts(actual), counts(method), counts(naive)
    return {"base": base, "last": last, "window": f"{window[0]}-{window[1]}", "in_sample": window[1] > base,
            "horizon": last - base, "mape_method": mape(method, actual), "mape_naive": mape(naive, actual),
            "at_risk_observed": obs_risk, "at_risk_method": m_risk, "at_risk_naive": n_risk,
            "high_risk_observed": obs_high, "high_risk_method": m_high, "high_risk_naive": n_high}


def backtests(observed: xr.DataArray, half_life: float = HALF_LIFE, unfilled: xr.DataArray | None = None) -> pd.DataFrame:
    """Every backtest of :data:`BACKTESTS`, one row each (arguments as :func:`run_backtest`)."""
    return pd.DataFrame([run_backtest(observed, base, window, half_life=half_life, unfilled=unfilled)
                         for base, window in BACKTESTS.items()])


def write_backtest(table: pd.DataFrame, path: Path) -> Path:
    """Write the backtest table to the CSV ``path`` atomically; returns the path."""
    return replace_file(Path(path), lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
