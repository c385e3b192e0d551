"""Read the files of the observation set that have more keys than (series, region_code, year):
national mortality by sex and single age, the life table, UN WPP 2024 assumptions, the
municipal (시군구) population, the list of municipalities and their designations, and the
시군구 boundaries.

Layouts are declared in :data:`kbalance.observations.schema.KEYED_FILES` and
:data:`~kbalance.observations.schema.TEXT_FILES`. Every keyed file goes through
:func:`read_keyed_file`, which applies the checks of the long files
(:func:`kbalance.observations.load.validate_cells`); :func:`read_observation_table`
reads any file of the set by its layout. Reads are cached on path, modification time and size.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.errors import DuplicateCellError, InvalidValueError, MissingColumnError, MissingFileError, MissingValueError, UnknownRegionError
from kbalance.observations.load import (calibration_root, file_stamp, read_csv_text, read_observation_file, require_columns,
                                        series_table, validate_cells)
from kbalance.observations.schema import (
    AGE_5Y, AGE_OPEN, BOUNDARY_FILE, BOUNDARY_SERIES, KEYED_FILES, MUNICIPAL_STATUSES, OBSERVATIONS, SEXES, SGG_CODE,
    TEXT_FILES, KeyedLayout,
)
from kbalance.regions import region_codes


def _sources_path(path: Path, sources: Path | str | None) -> Path:
    sp = Path(sources) if sources is not None else path.parent.parent / "sources.csv"
    if not sp.is_file():
        raise MissingFileError(sp, "sources table", "calibration/sources.csv")
    return sp


def _layout(path: Path) -> KeyedLayout:
    if path.name not in KEYED_FILES:
        raise InvalidValueError(path, "file", path.name, sorted(KEYED_FILES))
    return KEYED_FILES[path.name]


@lru_cache(maxsize=16)
def _keyed_cached(path: str, stamp: tuple[int, int], sources_path: str, sources_stamp: tuple[int, int]) -> pd.DataFrame:
    p = Path(path)
    layout = _layout(p)
    raw = read_csv_text(p, "observation file", "a CSV with columns " + ", ".join(layout.columns(["…"])))
    if layout.wide:
        head = layout.columns([])
        require_columns(p, raw, head)
        labels = [c for c in raw.columns if c not in head]
        if not labels or list(raw.columns) != [*head[:-1], *labels, head[-1]]:
            raise MissingColumnError(p, layout.wide, "columns " + ", ".join(layout.columns([f"<{layout.wide} labels>"])))
        for label in labels:
            empty = raw[label].str.strip().eq("")
            if empty.any():
                raise MissingValueError(p, label, f"row {int(np.flatnonzero(empty.to_numpy())[0]) + 2}")
        raw = raw.melt(id_vars=list(head), value_vars=labels, var_name=layout.wide, value_name="value")
    else:
        require_columns(p, raw, layout.columns())
    frame = raw[[*layout.cell, "value", "unit"]]
    cells = validate_cells(p, frame, series_table(Path(sources_path).parent), layout.cell)
    check_keys(p, cells)
    return cells


#: What the age and sex keys of a keyed file may hold.
AGE_LABEL = re.compile(r"\d+p?")


def check_keys(path: Path, frame: pd.DataFrame) -> None:
    """The ``age`` key of a keyed file in whole years (``Np``: the open group N and over) and
    its ``sex`` key one of :data:`~kbalance.observations.schema.SEXES`; InvalidValueError
    naming the file and the key otherwise."""
    if "age" in frame:
        bad = ~frame["age"].astype(str).str.fullmatch(AGE_LABEL.pattern)
        if bad.any():
            raise InvalidValueError(path, "age", frame.loc[bad, "age"].iloc[0],
                                    "an age in whole years, or Np for the open group N and over")
    if "sex" in frame:
        bad = ~frame["sex"].isin(SEXES)
        if bad.any():
            raise InvalidValueError(path, "sex", frame.loc[bad, "sex"].iloc[0], SEXES)


def read_keyed_file(path: Path | str, sources: Path | str | None = None) -> pd.DataFrame:
    """Read and validate a keyed file (see :data:`~kbalance.observations.schema.KEYED_FILES`).

    path : Path  e.g. ``calibration/observations/mortality.csv``
    sources : Path, optional  the sources table; default ``<path>/../../sources.csv``

    Returns the cells in long form: series, region_code, year [int], the keys of the
    layout (a wide file's column labels as its key, e.g. ``age_group``), value [float],
    unit. Raises the errors of :func:`~kbalance.observations.load.validate_cells`,
    :class:`MissingFileError` and :class:`MissingColumnError`.
    """
    p = Path(path)
    sp = _sources_path(p, sources)
    return _keyed_cached(str(p), file_stamp(p), str(sp), file_stamp(sp)).copy()


@lru_cache(maxsize=8)
def _text_cached(path: str, stamp: tuple[int, int], sources_path: str, sources_stamp: tuple[int, int]) -> pd.DataFrame:
    p = Path(path)
    if p.name not in TEXT_FILES:
        raise InvalidValueError(p, "file", p.name, sorted(TEXT_FILES))
    series, columns = TEXT_FILES[p.name]
    table = read_csv_text(p, "observation file", "a CSV with columns " + ", ".join(columns))
    require_columns(p, table, columns)
    table = table[list(columns)]
    if table.empty:
        raise MissingValueError(p, columns[0], "every row (the table has none)")
    listed = series_table(Path(sources_path).parent)
    if series not in listed.index or Path(listed.loc[series, "file"]).name != p.name:
        raise InvalidValueError(Path(sources_path), "series", series, f"a row naming {OBSERVATIONS}/{p.name}")
    for col in columns:
        empty = table[col].str.strip().eq("")
        if empty.any():
            raise MissingValueError(p, col, f"row {int(np.flatnonzero(empty.to_numpy())[0]) + 2}")
    bad = ~table["sgg_code"].str.fullmatch(SGG_CODE.pattern)
    if bad.any():
        raise InvalidValueError(p, "sgg_code", table.loc[bad, "sgg_code"].iloc[0], "a 5-digit MOIS 시군구 code")
    dup = table["sgg_code"].duplicated()
    if dup.any():
        raise DuplicateCellError(p, "sgg_code", repr(table.loc[dup, "sgg_code"].iloc[0]))
    unknown = ~table["region_code"].isin(region_codes())
    if unknown.any():
        raise UnknownRegionError(p, "region_code", table.loc[unknown, "region_code"].iloc[0], region_codes())
    if "status" in table:
        bad = ~table["status"].isin(MUNICIPAL_STATUSES)
        if bad.any():
            raise InvalidValueError(p, "status", table.loc[bad, "status"].iloc[0], MUNICIPAL_STATUSES)
    return table.reset_index(drop=True)


def read_text_table(path: Path | str, sources: Path | str | None = None) -> pd.DataFrame:
    """Read and validate a text table (:data:`~kbalance.observations.schema.TEXT_FILES`).

    Checks the columns, that no field is empty, 5-digit ``sgg_code`` values each once,
    ``region_code`` one of the 17 and, for designations, ``status`` one of
    :data:`~kbalance.observations.schema.MUNICIPAL_STATUSES`.
    """
    p = Path(path)
    sp = _sources_path(p, sources)
    return _text_cached(str(p), file_stamp(p), str(sp), file_stamp(sp)).copy()


def read_boundaries(path: Path | str) -> pd.DataFrame:
    """The feature properties of the 시군구 boundary file (GeoJSON FeatureCollection).

    Returns one row per feature with the columns ``sgg_cd``, ``sgg_nm``, ``sido_cd``,
    ``sido_nm`` (text). Raises :class:`MissingFileError` and :class:`InvalidValueError`
    (not a FeatureCollection, a feature without geometry or properties).
    """
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(p, "boundary file", f"a GeoJSON FeatureCollection ({BOUNDARY_FILE})")
    data = json.loads(p.read_text(encoding="utf-8"))
    if data.get("type") != "FeatureCollection" or not data.get("features"):
        raise InvalidValueError(p, "type", data.get("type"), "a FeatureCollection with features")
    columns = ("sgg_cd", "sgg_nm", "sido_cd", "sido_nm")
    rows = []
    for i, feature in enumerate(data["features"]):
        props = feature.get("properties") or {}
        if not feature.get("geometry") or any(c not in props for c in columns):
            raise InvalidValueError(p, "features", f"feature {i}", "features with a geometry and the properties "
                                                                    + ", ".join(columns))
        rows.append({c: str(props[c]) for c in columns})
    return pd.DataFrame(rows, columns=list(columns))


def read_observation_table(path: Path | str, sources: Path | str | None = None) -> pd.DataFrame:
    """Read any file of the observation set through the reader of its layout.

    Long topic files and the OD matrix: :func:`~kbalance.observations.load.read_observation_file`;
    keyed files: :func:`read_keyed_file`; text tables: :func:`read_text_table`; the
    boundary file: :func:`read_boundaries`.
    """
    p = Path(path)
    if p.name in KEYED_FILES:
        return read_keyed_file(p, sources)
    if p.name in TEXT_FILES:
        return read_text_table(p, sources)
    if p.name == BOUNDARY_FILE:
        return read_boundaries(p)
    return read_observation_file(p, sources)


# ---------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------


def _rows(series: str, root: Path | str | None) -> tuple[pd.DataFrame, pd.Series]:
    r = calibration_root(root)
    table = series_table(r)
    if series not in table.index:
        raise InvalidValueError(r / "sources.csv", "series", series, "a series listed in sources.csv")
    meta = table.loc[series]
    frame = read_keyed_file(r / meta["file"], r / "sources.csv")
    return frame[frame["series"] == series].reset_index(drop=True), meta


def _age_number(label: str) -> int:
    return int(label[:-1]) if label.endswith("p") else int(label)


def _array(rows: pd.DataFrame, dims: list[str], order: dict[str, list], meta: pd.Series) -> xr.DataArray:
    index = pd.MultiIndex.from_product([order[d] for d in dims], names=dims)
    data = rows.set_index(dims)["value"].reindex(index).to_numpy().reshape([len(order[d]) for d in dims])
    return xr.DataArray(data, dims=dims, coords={d: order[d] for d in dims}, name=meta["series"],
                        attrs={"units": meta["unit"], "source": meta["table_id"], "origin": meta["origin"]})


def _single_ages(rows: pd.DataFrame, dims: list[str], meta: pd.Series) -> xr.DataArray:
    """A (…, age) array with integer ages; ``attrs['open_age']`` the open top age when labelled ``Np``."""
    rows = rows.assign(age_label=rows["age"], age=rows["age"].map(_age_number))
    dup = rows.duplicated(dims)
    if dup.any():
        raise DuplicateCellError(meta["file"], "+".join(dims), f"age {rows.loc[dup, 'age'].iloc[0]} (an age and "
                                                                f"an open group starting at it)")
    order = {d: [s for s in SEXES if s in set(rows[d])] if d == "sex" else sorted(rows[d].unique()) for d in dims}
    out = _array(rows, dims, order, meta)
    open_ages = sorted({_age_number(a) for a in rows["age_label"] if a.endswith("p")})
    if open_ages:
        out.attrs["open_age"] = open_ages[-1] if len(open_ages) == 1 else open_ages
    return out


def national_mortality(what: str = "deaths", root: Path | str | None = None) -> xr.DataArray:
    """HMD deaths [persons] or exposure [person-years], national, dims (sex, year, age).

    what : ``"deaths"`` or ``"exposure"``
    Ages 0–110 [year]; 110 is the open interval 110+ (``attrs['open_age']``). Sexes male, female.
    """
    if what not in ("deaths", "exposure"):
        raise InvalidValueError("national_mortality", "what", what, ("deaths", "exposure"))
    rows, meta = _rows(f"hmd_{what}", root)
    return _single_ages(rows, ["sex", "year", "age"], meta)


def life_table_lx(root: Path | str | None = None) -> xr.DataArray:
    """Survivors lx at exact age [persons of a radix of 100,000], dims (sex, year, age).

    KOSIS abridged life tables 1970–2013, ages 0, 1, 5, 10 …; NaN where a year's table
    has no row. The non-dimension coordinate ``open_age`` (year) is the age at which the
    year's open group starts (NaN when the table does not label one).
    """
    rows, meta = _rows("life_table_lx", root)
    out = _single_ages(rows, ["sex", "year", "age"], meta)
    out.attrs.pop("open_age", None)
    labelled = rows[rows["age"].str.endswith("p")].assign(age=lambda f: f["age"].map(_age_number))
    top = labelled.groupby("year")["age"].max().reindex(out["year"].values)
    return out.assign_coords(open_age=("year", top.to_numpy(dtype=float)))


def un_wpp(root: Path | str | None = None) -> pd.DataFrame:
    """UN WPP 2024 for Korea as a tidy table: columns variable, year, quantile, value, unit.

    variable : ``e0_male``, ``e0_female``, ``e0_both`` [years], ``tfr`` [children per woman],
        ``net_international_migration`` [thousand persons]
    quantile : ``estimate`` (to 2023) or, for the projection from 2024, ``median``, ``p2.5``,
        ``p10``, ``p90``, ``p97.5`` and, for the TFR, ``low_variant``, ``high_variant``
    """
    r = calibration_root(root)
    frame = read_keyed_file(r / OBSERVATIONS / "un_wpp.csv", r / "sources.csv")
    out = frame.assign(variable=frame["series"].str.removeprefix("wpp_"))
    return out[["variable", "year", "quantile", "value", "unit"]].sort_values(
        ["variable", "quantile", "year"], kind="stable").reset_index(drop=True)


def un_wpp_migration_by_age(root: Path | str | None = None) -> xr.DataArray:
    """UN WPP 2024 projected net international migrants [thousand persons], dims (sex, year, age)."""
    rows, meta = _rows("wpp_net_migrants_by_age", root)
    return _single_ages(rows, ["sex", "year", "age"], meta)


def un_wpp_fertility_pattern(root: Path | str | None = None) -> xr.DataArray:
    """UN WPP 2024 percentage of fertility by mother's 5-year age group [%], dims (year, age_group).

    ``year`` is the mid-year of each 5-year period as the source gives it (1953 = 1950–1955).
    """
    rows, meta = _rows("wpp_percent_asfr", root)
    groups = sorted(rows["age_group"].unique(), key=lambda g: int(AGE_5Y.match(g).group(1)))
    return _array(rows, ["year", "age_group"], {"year": sorted(rows["year"].unique()), "age_group": groups}, meta)


def municipalities(root: Path | str | None = None) -> pd.DataFrame:
    """The 229 시군구, indexed by ``sgg_code`` (MOIS 5-digit): region_code (KOSIS), sgg_name,
    and ``designation`` (``depopulation_area``, ``area_of_concern`` or ``""``)."""
    r = calibration_root(root)
    table = read_text_table(r / OBSERVATIONS / "municipalities.csv", r / "sources.csv").set_index("sgg_code", drop=False)
    status = municipal_designations(r).set_index("sgg_code")["status"]
    return table.assign(designation=status.reindex(table.index).fillna("").to_numpy())


def municipal_designations(root: Path | str | None = None) -> pd.DataFrame:
    """The October 2021 designations: columns sgg_code, region_code, status, designated (``YYYY-MM``)."""
    r = calibration_root(root)
    return read_text_table(r / OBSERVATIONS / "municipal_designations.csv", r / "sources.csv")


def _sgg_array(rows: pd.DataFrame, dims: list[str], order: dict[str, list], meta: pd.Series) -> xr.DataArray:
    codes = sorted(rows["sgg_code"].unique())
    region = rows.drop_duplicates("sgg_code").set_index("sgg_code")["region_code"].reindex(codes)
    out = _array(rows, dims, {"sgg_code": codes, "year": sorted(rows["year"].unique()), **order}, meta)
    return out.assign_coords(region=("sgg_code", region.to_numpy()))


def municipal_population(root: Path | str | None = None) -> xr.DataArray:
    """Registered population by 시군구, December [persons], dims (sgg_code, year); coordinate
    ``region`` (sgg_code) the KOSIS region code. On current boundaries (군위군 in Daegu)."""
    rows, meta = _rows("sgg_pop_registered", root)
    return _sgg_array(rows, ["sgg_code", "year"], {}, meta)


def municipal_age_structure(root: Path | str | None = None) -> xr.DataArray:
    """Registered population by 시군구, sex and 5-year age group [persons], December, dims
    (sgg_code, year, sex, age_group); coordinate ``region`` (sgg_code). Sexes male, female;
    groups ``00_04`` … ``95_99``, ``100p``. NaN where the source has no age vector
    (군위군 2015–2022, 미추홀구 2015–2017: their totals are in :func:`municipal_population`)."""
    rows, meta = _rows("sgg_pop_registered_by_age", root)
    groups = sorted(rows["age_group"].unique(),
                    key=lambda g: int((AGE_5Y.match(g) or AGE_OPEN.match(g)).group(1)))
    return _sgg_array(rows, ["sgg_code", "year", "sex", "age_group"],
                      {"sex": [s for s in SEXES if s in set(rows["sex"])], "age_group": groups}, meta)


def sgg_boundaries(root: Path | str | None = None) -> pd.DataFrame:
    """The properties of the 시군구 boundary file (one row per polygon feature); the file is
    ``calibration/`` + the ``file`` of :data:`~kbalance.observations.schema.BOUNDARY_SERIES` in sources.csv."""
    r = calibration_root(root)
    return read_boundaries(r / series_table(r).loc[BOUNDARY_SERIES, "file"])
