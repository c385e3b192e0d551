"""Observed history of the national indicators the figures draw before the jump-off.

Each series is computed from the observation set with the formula of its model variable
in model/kbalance.mdl, on the model's time axis: a flow of year y is shown at y, a
year-end stock of year y at 1 January y + 1 (so the population weight of year y is the
registered population at the end of y − 1). An indicator absent from
:data:`OBSERVED_INDICATORS` has no observed counterpart (a model stock such as the
innovation base); figures say so in their caption.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kbalance.model.indicators import indicator
from kbalance.observations.load import breaks_for, wide_series
from kbalance.whitepaper.sources import source_table

#: Observed series of the indicators of GRDP per capita and fiscal autonomy.
GRDP_SERIES = "grdp_real_chained_2020"
FISCAL_SERIES = "fiscal_autonomy_ratio"
POPULATION_SERIES = "pop_registered"
#: Indicators (model/indicators.toml keys) with an observed history → the series they rest on.
OBSERVED_INDICATORS = {
    "grdp_per_capita": (GRDP_SERIES, POPULATION_SERIES),
    "grdp_pc_cv": (GRDP_SERIES, POPULATION_SERIES),
    "grdp_pc_theil": (GRDP_SERIES, POPULATION_SERIES),
    "fiscal_autonomy_mean": (FISCAL_SERIES, POPULATION_SERIES),
    "fiscal_autonomy_cv": (FISCAL_SERIES, POPULATION_SERIES),
    "fiscal_autonomy_theil": (FISCAL_SERIES, POPULATION_SERIES),
}


def population_weights() -> pd.DataFrame:
    """The registered population at 1 January of each model year (year-end of the year
    before), year × KOSIS code [persons]."""
    pop = wide_series(POPULATION_SERIES)
    pop.index = pop.index + 1
    return pop


def weighted_dispersion(values: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """Population-weighted mean, coefficient of variation and Theil index of ``values``
    (year × region) as in the model's ``mean fiscal autonomy``, ``cv …`` and ``theil …``
    equations; only years where every region with residents has a value.

    Returns a year × (mean [unit of values], cv [-], theil [-]) table."""
    years = values.index.intersection(weights.index)
    w, v = weights.loc[years], values.loc[years]
    inhabited = w.fillna(0) > 0
    complete = (v.notna() | ~inhabited).all(axis=1)
    w, v = w[complete].where(inhabited[complete], 0).fillna(0), v[complete].fillna(0)
    share = w.div(w.sum(axis=1), axis=0)
    mean = (share * v).sum(axis=1)
    cv = np.sqrt((share * v.sub(mean, axis=0) ** 2).sum(axis=1)) / mean
    ratio = v.div(mean, axis=0)
    theil = (share * ratio * np.log(ratio.clip(lower=1e-9))).sum(axis=1)
    return pd.DataFrame({"mean": mean, "cv": cv, "theil": theil})


def first_year_of_definition(series: str) -> int:
    """The first year of the current definition of ``series`` (its last ``method`` break in
    calibration/breaks.csv), or 0 without one [year]."""
    breaks = breaks_for(series)
    method = breaks[breaks["kind"] == "method"]
    return int(method["year"].max()) if len(method) else 0


def observed_indicators() -> dict[str, pd.Series]:
    """Observed history of the indicators of :data:`OBSERVED_INDICATORS`, by key, in the
    indicators' units: GRDP per capita [million KRW (2020 prices) per person] (real GRDP
    over the registered population), its CV and Theil index [-], and the mean of the 17
    regions [%] and the population-weighted CV and Theil index [-] of fiscal autonomy from
    its current definition on."""
    weights = population_weights()
    grdp = wide_series(GRDP_SERIES)
    per_capita = grdp / weights.reindex(grdp.index)
    national = grdp.sum(axis=1, min_count=1) / weights.reindex(grdp.index).sum(axis=1, min_count=1)
    grdp_stats = weighted_dispersion(per_capita, weights)
    fiscal = wide_series(FISCAL_SERIES)
    fiscal = fiscal[fiscal.index >= first_year_of_definition(FISCAL_SERIES)]
    fiscal_stats = weighted_dispersion(fiscal, weights)
    out = {"grdp_per_capita": national.reindex(grdp_stats.index), "grdp_pc_cv": grdp_stats["cv"],
           "grdp_pc_theil": grdp_stats["theil"], "fiscal_autonomy_mean": fiscal.dropna().mean(axis=1),
           "fiscal_autonomy_cv": fiscal_stats["cv"], "fiscal_autonomy_theil": fiscal_stats["theil"]}
    return {k: v.dropna().rename(k) for k, v in out.items()}


#: First year of the observed history the figures draw [year].
FIRST_SHOWN = 2000
#: Caption notes: (English, Korean).
NOTES = {"observed": ("dots: observed ({tables}); the model from the jump-off {year}",
                      "점: 관측 ({tables}); 모형은 출발 연도 {year}부터"),
         "none": ("{what}: no observed series (a model stock), the model from the jump-off {year}",
                  "{what}: 관측 계열 없음 (모형 스톡), 모형은 출발 연도 {year}부터")}


def observed_before(key: str, start: int) -> pd.Series | None:
    """The observed history of indicator ``key`` from :data:`FIRST_SHOWN` to the year before
    ``start`` (the jump-off) [the indicator's unit], or None when it has none."""
    found = observed_indicators().get(key)
    return None if found is None else found[(found.index >= FIRST_SHOWN) & (found.index < start)]


def observed_note(keys, lang: str, start: int) -> str:
    """The caption note of a figure of the indicators ``keys``: the tables of the observed
    history (calibration/sources.csv), and the indicators that have no observed series."""
    ko = lang == "ko"
    series = dict.fromkeys(s for k in keys if k in OBSERVED_INDICATORS for s in OBSERVED_INDICATORS[k])
    notes = [NOTES["observed"][ko].format(tables="; ".join(source_table(s) for s in series), year=start)] if series else []
    notes += [NOTES["none"][ko].format(what=indicator(k).label(lang), year=start)
              for k in keys if k not in OBSERVED_INDICATORS]
    return "; ".join(notes)


__all__ = ["FIRST_SHOWN", "NOTES", "observed_before", "observed_note", "FISCAL_SERIES", "GRDP_SERIES", "OBSERVED_INDICATORS", "POPULATION_SERIES", "first_year_of_definition",
           "observed_indicators", "population_weights", "weighted_dispersion"]
