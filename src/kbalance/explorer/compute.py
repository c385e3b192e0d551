"""What the explorer computes: the best-fit projection of a state, the ensemble band,
the values each view shows, and a background runner that keeps only the latest request.

The best fit is ``kbalance run``'s own run (kbalance.runs.run_model on the shipped
parameter set), so an exported scenario reproduces it, with the municipal layer of that
run (kbalance.municipal.layer: the 229 시군구 raked to its regional population, about
0.03 s a run, so it is computed with every best fit); the band runs members of the
constrained ensemble (kbalance.calibration.ensemble.read_ensemble) on the fast engine.
Shown values come from model/indicators.toml (scale, unit, labels).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.calibration.ensemble import read_ensemble
from kbalance.engine.ensemble import run_ensemble
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import indicator, model_variables
from kbalance.model.parameters import ParameterSet
from kbalance.model.scenarios import Scenario
from kbalance.municipal.layer import channel_variables, municipal_results
from kbalance.regions import BLOCS, code_of, membership, region_codes
from kbalance.runs import run_model

#: National indicators drawn as time series, each with an ensemble band.
SERIES_KEYS = ("capital_share", "births", "tfr")
#: Regional indicators of the bar charts and the change table.
REGIONAL_KEYS = ("region_population", "region_fiscal_autonomy", "region_extinction_index")
BLOC_KEY = "bloc_population"
PYRAMID_VARIABLE = "Population"  # persons by Region, Sex and Age
VARIABLES = (*model_variables([*SERIES_KEYS, *REGIONAL_KEYS, BLOC_KEY]), PYRAMID_VARIABLE, *channel_variables())
BAND_QUANTILES = (0.05, 0.5, 0.95)
#: Variables of the municipal layer added to a projection (name in the projection →
#: name in kbalance.municipal.layer.municipal_results): the index (year, sgg_code) [1] and
#: the municipalities at risk and at high risk (year) [count]; NaN before the layer's jump-off.
MUNICIPAL = {"municipal extinction index": "extinction_index", "municipalities at risk": "at_risk",
             "municipalities at high risk": "high_risk"}


def with_municipal(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` (with the model's ``Population`` and the variables of the municipal policy
    channels) and the :data:`MUNICIPAL` variables of its municipal layer, on the years of ``ds``."""
    layer = municipal_results(ds[PYRAMID_VARIABLE], policy={name: ds[name] for name in channel_variables()})
    return ds.assign({name: layer[source].drop_vars(["sgg_name", "designation", "region"], errors="ignore")
                      for name, source in MUNICIPAL.items()})


def project(scenario: Scenario, parameters: ParameterSet, until: int) -> xr.Dataset:
    """The best-fit projection of ``scenario``: :data:`VARIABLES` over (year, Region, …)
    and its municipal layer (:func:`with_municipal`)."""
    return with_municipal(run_model(scenario, parameters, until, VARIABLES, engine="fast"))


def municipal_year(ds: xr.Dataset, year: int) -> int:
    """The year [year] the municipal map shows for ``year``: ``year``, or the layer's first
    year (its jump-off) when ``year`` is before it."""
    counts = ds["municipalities at risk"]
    return max(year, int(counts["year"][counts.notnull()].min()))


def municipal_index(ds: xr.Dataset, year: int) -> pd.Series:
    """The extinction index [1] of every 시군구 in ``year`` (see :func:`municipal_year`), by sgg_code."""
    return ds["municipal extinction index"].sel(year=municipal_year(ds, year)).to_series()


def municipal_counts(ds: xr.Dataset, name: str = "municipalities at risk") -> pd.Series:
    """A count of :data:`MUNICIPAL` (municipalities at risk or at high risk) by year [count],
    from the layer's jump-off."""
    return ds[name].to_series().dropna().astype(int)


def ensemble_subset(members: int) -> pd.DataFrame:
    """The first ``members`` members of the latest constrained ensemble (its order is random)."""
    table = read_ensemble()
    if not 1 <= members <= len(table):
        raise InvalidValueError("kbalance explore", "members", members, f"1 to {len(table)}")
    return table.iloc[:members]


def band(scenario: Scenario, parameters: pd.DataFrame, until: int) -> xr.Dataset:
    """The 5, 50 and 95 % quantiles over ensemble members of the :data:`SERIES_KEYS`
    (shown values, indicator units): variables named by key over (quantile, year)."""
    ds = run_ensemble(parameters.reset_index(drop=True), scenario, until, model_variables(list(SERIES_KEYS)),
                      chunk_size=max(1, len(parameters)), workers=1)
    return xr.Dataset({key: indicator(key).values(ds).quantile(list(BAND_QUANTILES), dim="member")
                       for key in SERIES_KEYS})


def series(ds: xr.Dataset, key: str) -> pd.Series:
    """A national indicator's shown values by year."""
    return indicator(key).values(ds).to_series()


def regional(ds: xr.Dataset, key: str, year: int) -> pd.Series:
    """A regional indicator's shown values in ``year``, by KOSIS code (KOSIS order)."""
    values = indicator(key).values(ds).sel(year=year).to_series()
    return values.rename(index=code_of).reindex(region_codes())


def blocs(ds: xr.Dataset, year: int) -> pd.Series:
    """Population of the 5+3 blocs in ``year`` [the bloc indicator's unit], by bloc key."""
    by_region = regional(ds, BLOC_KEY, year)
    first = {b: min(c for c, g in membership("bloc").items() if g == b) for b in BLOCS}
    return pd.Series({b: float(by_region[first[b]]) for b in BLOCS})


def pyramid(ds: xr.Dataset, region: str, year: int) -> pd.DataFrame:
    """Persons by single year of age (the model's ages, 0 … 100+) and sex in one region: columns Male, Female."""
    names = {code_of(n): n for n in ds["Region"].values}
    values = ds[PYRAMID_VARIABLE].sel(year=year, Region=names[region])
    table = values.transpose("Age", "Sex").to_pandas()
    table.index = [int(a[1:]) for a in table.index]
    return table


def change_table(current: xr.Dataset, baseline: xr.Dataset, year: int) -> pd.DataFrame:
    """Per region (KOSIS code) in ``year``: each of :data:`REGIONAL_KEYS` and its change
    against the baseline (the population in % of the baseline, the others in the
    indicator's unit). Columns: ``<key>`` and ``<key>_change``."""
    columns = {}
    for key in REGIONAL_KEYS:
        now, base = regional(current, key, year), regional(baseline, key, year)
        columns[key] = now
        columns[f"{key}_change"] = 100.0 * (now / base - 1.0) if key == "region_population" else now - base
    return pd.DataFrame(columns)


def classes(values: pd.Series, key: str = "region_extinction_index") -> pd.Series:
    """The class (0 = lowest) of each value under the indicator's classes."""
    bounds = indicator(key).classes
    return pd.Series(np.searchsorted(np.asarray(bounds), values.to_numpy(), side="right"), index=values.index)


class LatestOnly:
    """Runs ``work(request)`` on one background thread, for the latest request only.

    A request submitted while another runs replaces any request still waiting; a result
    whose request is no longer the latest is dropped. :meth:`take` returns the latest
    request's result once (or None): the caller polls it from its own thread.
    """

    def __init__(self, work: Callable[[Any], Any]):
        self.work = work
        self.ticket = 0  # number of the latest request
        self.runs = 0  # requests actually run
        self.waiting: tuple[int, Any] | None = None
        self.done: tuple[int, Any, BaseException | None] | None = None
        self.lock = threading.Condition()
        threading.Thread(target=self.loop, daemon=True, name="kbalance-explorer").start()

    def submit(self, request: Any) -> int:
        """Queue ``request`` in place of any waiting one; returns its ticket."""
        with self.lock:
            self.ticket += 1
            self.waiting = (self.ticket, request)
            self.done = None
            self.lock.notify()
            return self.ticket

    def take(self) -> tuple[int, Any, BaseException | None] | None:
        """(ticket, result, error) of the latest request once it has run, else None."""
        with self.lock:
            found, self.done = self.done, None
            return found

    def cancel(self) -> None:
        """Drop the waiting request and the result of any running one."""
        with self.lock:
            self.ticket += 1
            self.waiting = None
            self.done = None

    def busy(self) -> bool:
        """Whether a request is waiting or running."""
        with self.lock:
            return self.waiting is not None or self.running

    def close(self) -> None:
        """Stop the thread once the running request (if any) has finished."""
        with self.lock:
            self.closed = True
            self.waiting = None
            self.lock.notify()

    running = False
    closed = False

    def loop(self) -> None:
        while True:
            with self.lock:
                while self.waiting is None and not self.closed:
                    self.lock.wait()
                if self.closed:
                    return
                ticket, request = self.waiting
                self.waiting = None
                self.running = True
            result, error = None, None
            try:
                result = self.work(request)
            except Exception as exc:  # reported to the caller through take()
                error = exc
            with self.lock:
                self.running = False
                self.runs += 1
                if ticket == self.ticket:
                    self.done = (ticket, result, error)


__all__ = [
    "BAND_QUANTILES", "BLOC_KEY", "LatestOnly", "MUNICIPAL", "PYRAMID_VARIABLE", "REGIONAL_KEYS", "SERIES_KEYS",
    "VARIABLES", "band", "blocs", "change_table", "classes", "ensemble_subset", "municipal_counts", "municipal_index",
    "municipal_year", "project", "pyramid", "regional", "series", "with_municipal",
]
