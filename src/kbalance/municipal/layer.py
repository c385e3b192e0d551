"""The municipal layer of a model run or of an ensemble chunk.

:func:`municipal_population` projects the 시군구 population from the latest observed
December (the model's 1 January of the next year, the jump-off of the layer) to the end
of a run, raked to the run's ``Population``; :func:`municipal_results` adds the
extinction index per municipality and the counted indicators; :func:`member_summary` is
the same reduced to the counts, for every member of an ensemble chunk;
:func:`write_municipal` writes ``municipal.csv``, ``municipal_summary.csv`` and
``municipal.nc`` into a run folder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.errors import InvalidValueError
from kbalance.municipal.channels import CHANNEL_KEYS, layer_channels, read_channels, window_exposures
from kbalance.municipal.indicators import extinction_index, summary, summary_dataset
from kbalance.municipal.projection import (HALF_LIFE, MODEL_YEAR_OFFSET, Ratios, age_groups, estimate_ratios,
                                           observed_population, project, project_years)
from kbalance.observations.keyed import municipalities
from kbalance.outputs import netcdf_ready
from kbalance.regions import code_of


def channel_variables() -> tuple[str, ...]:
    """The run variables the policy channels read (``model/municipal.toml``)."""
    spec = read_channels()
    return tuple(spec[k]["variable"] for k in CHANNEL_KEYS)


@lru_cache(maxsize=4)
def window_of(labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each channel's exposures per head in the steps of the ratios' estimation window
    (:func:`kbalance.municipal.channels.window_exposures`), per grouping."""
    observed, ratios = observed_and_ratios(labels)
    first, last = ratios.window
    totals = observed.sel(year=list(range(first, last + 1))).sum(["sex", "age_group"]).transpose("sgg_code", "year")
    return window_exposures(ratios.codes, ratios.region, totals.values, ratios.window)


@lru_cache(maxsize=4)
def observed_and_ratios(labels: tuple[str, ...]) -> tuple[xr.DataArray, Ratios]:
    """The observed municipal population in ``labels`` (missing age vectors filled) and its
    ratios (estimated without the filled years); cached per grouping."""
    return observed_population(labels), estimate_ratios(observed_population(labels, fill=False))


def jump_off_year(observed: xr.DataArray) -> int:
    """The model year [year] of the layer's first year: the latest observed December + 1."""
    return int(observed["year"].max()) + MODEL_YEAR_OFFSET


def regional_targets(population: xr.DataArray, matrix: np.ndarray, years: list[int]) -> tuple[np.ndarray, list[str]]:
    """(member, year, region, sex, group) population of the model [persons] in the 5-year
    groups of ``matrix`` (age × group), regions as KOSIS codes sorted; and those codes."""
    all_years = [int(y) for y in population["year"].values]
    first = all_years.index(years[0])
    if all_years[first:first + len(years)] != list(years):
        raise InvalidValueError("municipal layer", "year", f"{all_years}", f"consecutive years {years[0]}–{years[-1]}")
    pop = population.transpose("member", "year", "Region", "Sex", "Age").values[:, first:first + len(years)]
    codes = [code_of(str(r)) for r in population["Region"].values]
    order = np.argsort(codes)
    grouped = np.matmul(pop, matrix)
    return grouped[:, :, order], sorted(codes)


def layer_inputs(population: xr.DataArray, policy: dict | None = None):
    """What the projection of a run needs: (labels, ratios, base, targets, region codes,
    years, member ids, channels); ``population`` with or without a ``member`` dimension;
    ``policy`` the run's channel variables (:func:`channel_variables` → DataArray), or
    None for a projection without policy channels."""
    labels, matrix = age_groups(population["Age"].values)
    observed, ratios = observed_and_ratios(labels)
    first = jump_off_year(observed)
    years = [int(y) for y in population["year"].values if y >= first]
    if not years or years[0] != first:
        raise InvalidValueError("municipal layer", "year", f"{population['year'].values.max()}",
                                f"a run that reaches the layer's jump-off year {first}")
    pop = population if "member" in population.dims else population.expand_dims(member=[0])
    targets, codes = regional_targets(pop, matrix, years)
    base = observed.isel(year=-1).transpose("sgg_code", "sex", "age_group").values
    channels = [] if policy is None else layer_channels(policy, ratios.codes, ratios.region, years, window_of(labels))
    return labels, ratios, base, targets, codes, years, pop["member"].values, channels


def municipal_population(population: xr.DataArray, half_life: float = HALF_LIFE,
                         policy: dict | None = None) -> xr.DataArray:
    """The municipal population of a run [persons]: dims (member, year, sgg_code, sex,
    age_group) for the model years from the jump-off to the last year of ``population``.

    population : the model's ``Population`` (year, Region, Sex, Age), with or without a
        ``member`` dimension (kept when present); its years must reach the jump-off
    policy : the run's variables of the policy channels (:func:`channel_variables`), with
        the same dimensions; None: no channels
    """
    labels, ratios, base, targets, codes, years, member, channels = layer_inputs(population, policy)
    observed, _ = observed_and_ratios(labels)
    values = project(ratios, base, targets, codes, half_life, channels)
    out = xr.DataArray(values, dims=("member", "year", "sgg_code", "sex", "age_group"),
                       coords={"member": member, "year": years, "sgg_code": ratios.codes,
                               "sex": list(observed["sex"].values), "age_group": list(labels),
                               "region": ("sgg_code", ratios.region)},
                       name="population", attrs={"units": "person"})
    return out if "member" in population.dims else out.isel(member=0, drop=True)


def designations(codes: np.ndarray) -> np.ndarray:
    """The designation of every municipality of ``codes`` (``""`` when none)."""
    return municipalities()["designation"].reindex(codes).fillna("").to_numpy()


def municipal_results(population: xr.DataArray, half_life: float = HALF_LIFE,
                      policy: dict | None = None) -> xr.Dataset:
    """The municipal layer of one run: ``population`` (year, sgg_code, sex, age_group)
    [persons], ``extinction_index`` (year, sgg_code) [1], the counts and designated-area
    indicators of :func:`kbalance.municipal.indicators.summary` over ``year``, and the
    observed base (``observed_extinction_index``, the latest December); ``policy`` as in
    :func:`municipal_population`."""
    pop = municipal_population(population, half_life, policy)
    labels = tuple(pop["age_group"].values)
    index = extinction_index(pop.transpose("year", "sgg_code", "sex", "age_group").values, labels)
    observed, _ = observed_and_ratios(labels)
    latest = observed.isel(year=-1).transpose("sgg_code", "sex", "age_group").values
    table = municipalities().reindex(pop["sgg_code"].values)
    counts = summary_dataset(summary(pop.transpose("year", "sgg_code", "sex", "age_group").values, labels,
                                     designations(pop["sgg_code"].values)), {"year": pop["year"].values})
    ds = xr.Dataset({
        "population": pop,
        "extinction_index": xr.DataArray(index, dims=("year", "sgg_code"), coords={"year": pop["year"]}),
        "observed_extinction_index": xr.DataArray(extinction_index(latest, labels), dims=("sgg_code",)),
    }).assign_coords(sgg_name=("sgg_code", table["sgg_name"].to_numpy()),
                     designation=("sgg_code", designations(pop["sgg_code"].values)))
    ds["observed_extinction_index"].attrs["december"] = int(observed["year"].max())
    return xr.merge([ds, counts])


def member_summary(population: xr.DataArray, index_years=(), half_life: float = HALF_LIFE,
                   policy: dict | None = None) -> xr.Dataset:
    """The counted municipal indicators of every member [count, person, 1] over (member,
    year, …), and ``extinction_index`` (member, index_year, sgg_code) [1] in ``index_years``
    (those the run reaches). Each year is reduced as it is projected, so memory stays
    that of one year; ``policy`` as in :func:`municipal_population`."""
    labels, ratios, base, targets, codes, years, member, channels = layer_inputs(population, policy)
    designation = designations(ratios.codes)
    kept = [y for y in index_years if y in years]
    counts, index = [], []
    for year, pop in zip(years, project_years(ratios, base, targets, codes, half_life, channels)):
        counts.append(summary(pop, labels, designation))
        if year in kept:
            index.append(extinction_index(pop, labels))
    stacked = {k: np.stack([c[k] for c in counts], axis=1) for k in counts[0]}
    out = summary_dataset(stacked, {"member": member, "year": years})
    if kept:
        out["extinction_index"] = xr.DataArray(np.stack(index, axis=1), dims=("member", "index_year", "sgg_code"),
                                               coords={"member": member, "index_year": kept,
                                                       "sgg_code": ratios.codes})
    return out


def municipal_table(results: xr.Dataset) -> pd.DataFrame:
    """Per municipality and year: sgg_code, sgg_name, region, designation, year, population
    [persons], women_20_39, elderly_65 [persons], extinction_index [1]."""
    pop = results["population"]
    total = pop.sum(["sex", "age_group"]).to_pandas().T
    index = results["extinction_index"].to_pandas().T
    frame = pd.DataFrame({"population": total.stack(), "extinction_index": index.stack()}).reset_index()
    info = pd.DataFrame({"sgg_code": results["sgg_code"].values, "sgg_name": results["sgg_name"].values,
                         "region": results["region"].values, "designation": results["designation"].values})
    return info.merge(frame, on="sgg_code")[["sgg_code", "sgg_name", "region", "designation", "year", "population",
                                             "extinction_index"]]


def summary_table(results: xr.Dataset) -> pd.DataFrame:
    """Per year: the counts (at risk, high risk, below each threshold) and the designated
    groups' population and index, one column each."""
    counts = results[[v for v in results.data_vars if "group" not in results[v].dims
                      and results[v].dims == ("year",)]].to_dataframe()
    groups = results[["designated_population", "designated_index"]].to_dataframe().unstack("group")
    groups.columns = [f"{name}_{group}" for name, group in groups.columns]
    return counts.join(groups).reset_index()


def write_municipal(folder: Path, results: xr.Dataset) -> list[Path]:
    """Write ``municipal.csv`` (:func:`municipal_table`), ``municipal_summary.csv``
    (:func:`summary_table`) and ``municipal.nc`` (the Dataset) into ``folder``."""
    folder = Path(folder)
    paths = [folder / "municipal.csv", folder / "municipal_summary.csv", folder / "municipal.nc"]
    municipal_table(results).to_csv(paths[0], index=False, float_format="%.10g")
    summary_table(results).to_csv(paths[1], index=False, float_format="%.10g")
    netcdf_ready(results).to_netcdf(paths[2])
    return paths


def write_run_municipal(folder: Path, results: xr.Dataset) -> list[Path]:
    """The municipal files of a run folder from the run's results (its ``Population`` and
    the variables of the policy channels)."""
    policy = {name: results[name] for name in channel_variables() if name in results}
    return write_municipal(folder, municipal_results(results["Population"], policy=policy))
