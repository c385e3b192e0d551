"""Panels for the evidence regressions, assembled from the observation set.

Two tables, every number from ``calibration/observations/`` (through
:func:`kbalance.observations.load.load_series` / ``load_od``) and ``model/regions.csv``
(areas, seats, blocs through :mod:`kbalance.regions`):

* :func:`region_panel`: one row per region and year with population, density, real GRDP
  per capita and per worker, the employment rate, the innovation proxy and the TFR;
* :func:`gravity_panel`: one row per origin, destination (off-diagonal) and year with the
  flow, distance, same-bloc membership and the destination's attributes of the previous year.

No regional panel of patents or R&D exists in the set (patent counts are for 2024 only, R&D
spot values cover at most six regions), so the innovation proxy is graduate students
enrolled per employed person (KEDI DT_1963003_014 over EAPS DT_1DA7004S); see docs/evidence.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kbalance.errors import InvalidValueError
from kbalance.observations.load import load_od, load_series
from kbalance.regions import distance_km, load_regions, membership, region_codes

#: Observed series the panels use: panel column -> series name in calibration/sources.csv.
SERIES = {
    "population": "pop_registered",                       # [persons], year-end
    "grdp_real": "grdp_real_chained_2020",                # [million KRW], chained 2020
    "employed": "employed",                               # [thousand persons]
    "employment_rate_pct": "employment_rate_15_64",       # [%]
    "grad_students": "gradschool_students_enrolled",      # [persons]
    "tfr": "tfr",                                         # [births per woman]
}

#: Blocs that are not geographic neighbourhoods: the three special self-governing provinces
#: (Gangwon, Jeonbuk, Jeju) are grouped by status, not by location.
NON_GEOGRAPHIC_BLOCS = ("special",)

#: First year of the origin × destination flows used (the brief of issue #14: 2000–2024).
FIRST_FLOW_YEAR = 2000

#: Destination attributes of the gravity panel, taken from :func:`region_panel` one year earlier.
DESTINATION_ATTRIBUTES = ("log_population", "log_grdp_per_capita", "employment_rate",
                          "log_innovation_per_worker", "log_density")


def _series_wide(name: str, column: str, root) -> pd.Series:
    """One series for the 17 regions as a Series indexed by (region_code, year)."""
    rows = load_series(name, root)
    rows = rows[rows["region_code"].isin(region_codes())]
    if rows.empty:
        raise InvalidValueError("calibration/sources.csv", "series", name,
                                "a series with rows for the 17 regions")
    return rows.set_index(["region_code", "year"])["value"].rename(column)


def region_panel(root=None) -> pd.DataFrame:
    """Region × year attributes, one row per region and year with every series observed.

    root : Path, optional  calibration folder (default ``calibration/``)

    Returns columns ``region_code``, ``year`` and
    ``population`` [persons, year-end registered], ``area_km2`` [km²] (``model/regions.csv``,
    one vintage), ``density`` [persons/km²], ``grdp_real`` [million KRW, chained 2020],
    ``grdp_per_capita`` [million KRW/person], ``employed`` [persons],
    ``grdp_per_worker`` [million KRW/person], ``employment_rate`` [fraction, 15–64],
    ``grad_students`` [persons], ``innovation_per_worker`` [graduate students per employed person],
    ``tfr`` [births per woman] and the logs ``log_population``, ``log_density``,
    ``log_grdp_per_capita``, ``log_grdp_per_worker``, ``log_employment_rate``,
    ``log_innovation_per_worker``, ``log_tfr``. Raises :class:`~kbalance.errors.InvalidValueError`
    (naming ``sources.csv`` and the series) when a series is missing.
    """
    wide = pd.concat([_series_wide(name, column, root) for column, name in SERIES.items()], axis=1, join="inner")
    panel = wide.reset_index()
    panel["area_km2"] = panel["region_code"].map(load_regions()["area_km2"]).astype(float)
    panel["density"] = panel["population"] / panel["area_km2"]
    panel["grdp_per_capita"] = panel["grdp_real"] / panel["population"]
    panel["employed"] = panel["employed"] * 1000.0
    panel["grdp_per_worker"] = panel["grdp_real"] / panel["employed"]
    panel["employment_rate"] = panel.pop("employment_rate_pct") / 100.0
    panel["innovation_per_worker"] = panel["grad_students"] / panel["employed"]
    for column in ("population", "density", "grdp_per_capita", "grdp_per_worker", "employment_rate",
                   "innovation_per_worker", "tfr"):
        panel[f"log_{column}"] = np.log(panel[column])
    return panel.sort_values(["region_code", "year"]).reset_index(drop=True)


def same_bloc_matrix() -> np.ndarray:
    """1 where two different regions share a geographic 5+3 bloc, else 0 [17 × 17, KOSIS order].

    The project has no adjacency table, so this stands in for contiguity; the ``special``
    group (:data:`NON_GEOGRAPHIC_BLOCS`) counts as no bloc.
    """
    blocs = membership("bloc")
    labels = np.array([blocs[c] for c in region_codes()], dtype=object)
    same = (labels[:, None] == labels[None, :]) & ~np.isin(labels, NON_GEOGRAPHIC_BLOCS)[:, None]
    np.fill_diagonal(same, False)
    return same.astype(float)


def od_flows(root=None, first_year: int = FIRST_FLOW_YEAR) -> pd.DataFrame:
    """Inter-provincial movers by origin, destination and year [persons], off-diagonal cells only.

    Only cells whose origin and destination both existed in the year (``began`` in
    ``model/regions.csv``: Sejong from 2012) are kept; columns ``year``, ``origin``, ``dest``, ``flow``.
    """
    od = load_od(root)
    od = od.sel(year=od["year"] >= first_year)
    flows = od.to_dataframe(name="flow").reset_index()
    began = load_regions()["began"].astype(int)
    exists = (flows["year"] >= flows["origin"].map(began)) & (flows["year"] >= flows["dest"].map(began))
    return flows[(flows["origin"] != flows["dest"]) & exists].reset_index(drop=True)


def gravity_panel(root=None, first_year: int = FIRST_FLOW_YEAR) -> pd.DataFrame:
    """Origin × destination × year flows with pair and lagged destination attributes.

    root : Path, optional  calibration folder; first_year : int  first flow year [year]

    Columns: ``year``, ``origin``, ``dest``, ``flow`` [persons], ``pair`` (``"origin-dest"``),
    ``log_distance`` [ln km, great-circle between seats], ``same_bloc`` [0/1, see
    :func:`same_bloc_matrix`] and, from :func:`region_panel` of year − 1,
    :data:`DESTINATION_ATTRIBUTES`. Rows whose destination lacks an attribute in the previous
    year are dropped (the count is in ``.attrs['dropped']``).
    """
    flows = od_flows(root, first_year)
    codes = region_codes()
    index = {c: i for i, c in enumerate(codes)}
    oi, di = flows["origin"].map(index).to_numpy(), flows["dest"].map(index).to_numpy()
    flows["pair"] = flows["origin"] + "-" + flows["dest"]
    flows["log_distance"] = np.log(distance_km()[oi, di])
    flows["same_bloc"] = same_bloc_matrix()[oi, di]
    attributes = region_panel(root)[["region_code", "year", *DESTINATION_ATTRIBUTES]].copy()
    attributes["year"] += 1
    panel = flows.merge(attributes.rename(columns={"region_code": "dest"}), on=["dest", "year"], how="left")
    complete = panel[list(DESTINATION_ATTRIBUTES)].notna().all(axis=1)
    out = panel[complete].sort_values(["year", "origin", "dest"]).reset_index(drop=True)
    out.attrs["dropped"] = int((~complete).sum())
    return out
