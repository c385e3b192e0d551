"""Regional mortality relative to the national schedule, by year, and the prior of its trend.

The ratio R(r, t) of a region's observed deaths to those of the national schedule on its
registered residents, relative to the country's (indirect standardisation), is defined and
computed in the model layer (:mod:`kbalance.model.regional_mortality`), which also makes the
model input of its latest level; this module gives the priors drawn from it.

:func:`trend_prior` fits ln R(r, t) = α_r + β_r t by least squares for every region and
gives the spread of the β_r about 0 that a hierarchical prior of the model's
`regional mortality trend` takes; :func:`level_spread` the spread of the regions' mean
ratios, the prior standard deviation of `regional mortality ratio` about 1 (docs/evidence.md,
"Regional mortality over time"). :func:`sex_gap_prior` gives the prior of the level the gap of
life expectancy between the sexes converges to in projections (`life expectancy sex gap
target`) from UN WPP 2024 (docs/evidence.md, "The gap of life expectancy between the sexes").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kbalance.model.regional_mortality import regional_mortality_ratios
from kbalance.observations.keyed import un_wpp


@dataclass(frozen=True)
class TrendPrior:
    """Log-linear trends of the regional ratios and their spread.

    slopes [1/year] β_r by region name; std_errors [1/year] their least-squares standard
    errors; spread [1/year] the standard deviation of the β_r about 0 (root mean square);
    between [1/year] the same less the mean sampling variance (method of moments, ≥ 0):
    the spread of the true trends.
    """

    slopes: pd.Series
    std_errors: pd.Series
    spread: float
    between: float


def log_linear_slope(years, values) -> tuple[float, float]:
    """Least-squares slope [1/year] of ln ``values`` on ``years`` and its standard error
    (NaN values left out; at least three years)."""
    t, y = np.asarray(years, float), np.log(np.asarray(values, float))
    keep = np.isfinite(y)
    t, y = t[keep], y[keep]
    if t.size < 3:
        raise ValueError("a trend needs at least three years")
    design = np.column_stack([np.ones_like(t), t - t.mean()])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    variance = (resid ** 2).sum() / (t.size - 2)
    return float(coef[1]), float(np.sqrt(variance / ((t - t.mean()) ** 2).sum()))


def trend_prior(ratios: pd.DataFrame | None = None) -> TrendPrior:
    """Slopes of ln R by region and their spread about 0 (:class:`TrendPrior`)."""
    ratios = regional_mortality_ratios() if ratios is None else ratios
    fits = {region: log_linear_slope(ratios.index, ratios[region]) for region in ratios.columns}
    slopes = pd.Series({r: f[0] for r, f in fits.items()})
    errors = pd.Series({r: f[1] for r, f in fits.items()})
    spread = float(np.sqrt((slopes ** 2).mean()))
    between = float(np.sqrt(max(0.0, spread ** 2 - (errors ** 2).mean())))
    return TrendPrior(slopes=slopes, std_errors=errors, spread=spread, between=between)


def level_spread(ratios: pd.DataFrame | None = None) -> float:
    """Standard deviation over the regions of each region's mean ratio R over the years [1]."""
    ratios = regional_mortality_ratios() if ratios is None else ratios
    return float(ratios.mean().std(ddof=1))


@dataclass(frozen=True)
class SexGapPrior:
    """Prior of the projected gap of life expectancy at birth, women minus men [years].

    mean [years] the UN WPP 2024 median gap of ``year``; sd [years] the standard deviation of
    the UN WPP estimated gap over ``estimate_years``; gaps [years] the median gap by projection
    year.
    """

    year: int
    mean: float
    sd: float
    estimate_years: tuple[int, int]
    gaps: pd.Series


def sex_gap_prior(year: int = 2070, estimate_years: tuple[int, int] = (2003, 2023), root=None) -> SexGapPrior:
    """Gap of UN WPP 2024's median e0 of women over men in ``year`` [years] and the spread of the
    gap its estimates show over ``estimate_years`` (the years of the HMD fit to the latest
    estimate) [years] (calibration/observations/un_wpp.csv)."""
    table = un_wpp(root)
    e0 = table[table["variable"].isin(["e0_male", "e0_female"])].pivot_table(
        index=["quantile", "year"], columns="variable", values="value")
    gap = e0["e0_female"] - e0["e0_male"]
    median, estimate = gap.loc["median"], gap.loc["estimate"]
    first, last = estimate_years
    if year not in median.index or first not in estimate.index or last not in estimate.index:
        raise ValueError(f"UN WPP has medians for {median.index.min()}-{median.index.max()} and "
                         f"estimates for {estimate.index.min()}-{estimate.index.max()}")
    return SexGapPrior(year=year, mean=float(median.loc[year]), sd=float(estimate.loc[first:last].std(ddof=1)),
                       estimate_years=estimate_years, gaps=median)
