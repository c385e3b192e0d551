"""One naming and units convention for every output (CSV, netCDF, XLSX).

Names
    variables: a model variable keeps its name with spaces as underscores
    (``capital_region_share``); an indicator of model/indicators.toml is named by its key
    (``capital_share``). Coordinates: ``year`` [year]; ``region`` the KOSIS code, with
    ``region_name_en`` and ``region_name_ko`` beside it; ``sex`` ``male``/``female``;
    ``age`` [years] the single age, the last one the open age group; ``bloc`` the 5+3
    bloc code.
Units
    the model's documented unit (model/kbalance.mdl), except that a dimensionless
    variable documented in [0, 100] is a percentage (``%``) and any other dimensionless
    one is ``1``; an indicator carries the unit of its shown value from
    model/indicators.toml, which states the scale (``million persons``).
Attributes (CF style)
    every variable: ``units``, ``long_name``, and ``long_name_ko`` and ``units_ko`` where
    model/indicators.toml gives a Korean label; every netCDF file: ``title``,
    ``source``, ``institution``, ``Conventions``, ``kbalance_version``,
    ``model_sha256``, ``fitted_set`` and ``history`` (:func:`global_attributes`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import xarray as xr

import kbalance
from kbalance.model.indicators import Indicator, read_indicators
from kbalance.model.mdl import documentation
from kbalance.outputs import model_hash
from kbalance.regions import code_of, names

#: The CF conventions the netCDF attributes follow.
CONVENTIONS = "CF-1.10"
#: The coordinates of model results (model subscript → output coordinate).
DIMENSIONS = {"Region": "region", "Sex": "sex", "Age": "age"}


def output_name(variable: str) -> str:
    """The output name of a model variable: spaces as underscores (``capital_region_share``)."""
    return variable.replace(" ", "_")


def output_unit(documented: str, limits: tuple[float, float]) -> str:
    """The output unit of a model unit: ``%`` for Dmnl documented in [0, 100], ``1`` for
    any other Dmnl, else the documented unit."""
    if documented.strip().lower() != "dmnl":
        return documented.strip()
    low, high = limits
    return "%" if (low == 0 and high == 100) else "1"


def model_unit(variable: str) -> str:
    """The output unit of a model variable, from its documentation in model/kbalance.mdl."""
    doc = documentation().set_index("Real Name")
    if variable not in doc.index:
        return ""
    row = doc.loc[variable]
    limits = row["Limits"] if isinstance(row["Limits"], tuple) else (math.nan, math.nan)
    return output_unit(str(row["Units"]), limits)


def korean_labels() -> dict[str, Indicator]:
    """Model variable → the indicator of model/indicators.toml shown unscaled from it (its
    Korean label names the variable too)."""
    return {i.variable: i for i in reversed(read_indicators().values()) if i.scale == 1}


def variable_attributes(variable: str) -> dict[str, str]:
    """CF attributes of a model variable: units, long_name, and long_name_ko where known."""
    attrs = {"units": model_unit(variable), "long_name": variable}
    shown = korean_labels().get(variable)
    if shown is not None:
        attrs["long_name_ko"] = shown.label_ko
    return attrs


def indicator_attributes(ind: Indicator) -> dict[str, str]:
    """CF attributes of an indicator's shown values: units (the scale stated), long_name
    and long_name_ko, units_ko, and the model variable it comes from."""
    return {"units": ind.unit_en, "units_ko": ind.unit_ko, "long_name": ind.label_en,
            "long_name_ko": ind.label_ko, "model_variable": ind.variable}


def age_years(elements) -> list[int]:
    """Single ages [years] of the model's Age elements (``A0`` … the open group)."""
    return [int(str(e).lstrip("A")) for e in elements]


def standard_coordinates(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the output coordinates: Region (English names or codes) → ``region``
    (KOSIS codes) with ``region_name_en``/``region_name_ko``; Sex → ``sex`` (lower case);
    Age → ``age`` [years] (its last value is the open age group)."""
    ds = ds.rename({k: v for k, v in DIMENSIONS.items() if k in ds.dims})
    if "region" in ds.dims:
        codes = [str(r) if str(r).isdigit() else code_of(str(r)) for r in ds["region"].values]
        en, ko = names("en"), names("ko")
        ds = ds.assign_coords(region=codes, region_name_en=("region", [en[c] for c in codes]),
                              region_name_ko=("region", [ko[c] for c in codes]))
        ds["region"].attrs = {"long_name": "region (KOSIS code)", "long_name_ko": "시도 (KOSIS 코드)"}
    if "sex" in ds.dims:
        ds = ds.assign_coords(sex=[str(s).lower() for s in ds["sex"].values])
        ds["sex"].attrs = {"long_name": "sex", "long_name_ko": "성별"}
    if "age" in ds.dims:
        ages = age_years(ds["age"].values)
        ds = ds.assign_coords(age=ages)
        ds["age"].attrs = {"units": "years", "long_name": f"age in completed years ({ages[-1]} is {ages[-1]} and over)",
                           "long_name_ko": f"연령 (만 나이, {ages[-1]}세 이상은 {ages[-1]})"}
    if "year" in ds.dims:
        ds["year"].attrs = {"units": "year", "long_name": "year (1 January of the year, or the calendar year for flows)",
                            "long_name_ko": "연도"}
    return ds


def model_results(ds: xr.Dataset) -> xr.Dataset:
    """Model results (variables named as in model/kbalance.mdl, model subscripts) in the
    output convention: output names and coordinates, CF attributes from the documentation."""
    out = standard_coordinates(ds)
    out = out.rename({v: output_name(v) for v in out.data_vars})
    for original in ds.data_vars:
        attrs = variable_attributes(str(original))
        if ds[original].attrs.get("comment"):
            attrs["comment"] = ds[original].attrs["comment"]
        out[output_name(str(original))].attrs = attrs
    return out


def indicator_results(ds: xr.Dataset) -> xr.Dataset:
    """Indicators (variables named by key of model/indicators.toml) in the output convention:
    coordinates and CF attributes of their shown values."""
    out = standard_coordinates(ds)
    known = read_indicators()
    for name in out.data_vars:
        if name in known:
            out[name].attrs = indicator_attributes(known[str(name)])
    return out


def global_attributes(title: str, fitted_set: str | None, command: str | None = None) -> dict[str, str]:
    """Global netCDF attributes: title, source, institution, Conventions, versions of
    kbalance, the model (sha256 of model/kbalance.mdl) and the fitted set, and history."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "title": title,
        "source": "kbalance system-dynamics model of Korea's 17 regions (model/kbalance.mdl)",
        "institution": "kbalance",
        "Conventions": CONVENTIONS,
        "kbalance_version": kbalance.__version__,
        "model_sha256": model_hash(),
        "fitted_set": fitted_set or "none (the priors of calibration/parameters.toml)",
        "history": f"{now} written by kbalance {kbalance.__version__}" + (f": {command}" if command else ""),
    }


__all__ = ["CONVENTIONS", "DIMENSIONS", "age_years", "global_attributes", "indicator_attributes", "indicator_results",
           "korean_labels", "model_results", "model_unit", "output_name", "output_unit", "standard_coordinates",
           "variable_attributes"]
