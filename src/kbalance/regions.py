"""The 17 first-level regions (시도) and their aggregations.

The table lives in ``model/regions.csv``; this module is the one loader used
everywhere. Aggregations: capital region vs the rest, the 5+3 blocs (5극 3특)
and the merged Gwangju–Jeonnam special city (전남광주통합특별시, from July 2026,
docs/references.md [R192][R193]) for reporting.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from kbalance.errors import MissingColumnError, MissingFileError, UnknownRegionError
from kbalance.paths import model_dir

NATIONAL_CODE = "00"

REGION_COLUMNS = (
    "code", "iso_code", "name_en", "name_ko", "short_ko", "capital_region", "bloc",
    "began", "split_from", "seat_en", "seat_ko", "seat_lat", "seat_lon", "seat_geonameid", "area_km2",
)

BLOCS = ("capital", "chungcheong", "honam", "daegyeong", "dongnam", "special")
BLOC_NAMES = {
    "capital": ("Capital region", "수도권"),
    "chungcheong": ("Chungcheong", "충청권"),
    "honam": ("Honam", "호남권"),
    "daegyeong": ("Daegyeong", "대경권"),
    "dongnam": ("Dongnam", "동남권"),
    "special": ("Special provinces", "3특"),
}

GROUP_NAMES = {"capital": ("Capital region", "수도권"), "noncapital": ("Rest of Korea", "비수도권")}

#: Gwangju (24) and Jeonnam (36) form one reporting unit from 1 July 2026 [R193].
GWANGJU_JEONNAM = ("24", "36")
GWANGJU_JEONNAM_CODE = "36M"
GWANGJU_JEONNAM_NAMES = ("Jeonnam-Gwangju", "전남광주통합특별시")


def _read_regions(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise MissingFileError(path, "regions table", "model/regions.csv with columns " + ", ".join(REGION_COLUMNS))
    table = pd.read_csv(path, dtype={"code": str, "split_from": str, "seat_geonameid": str})
    missing = [c for c in REGION_COLUMNS if c not in table.columns]
    if missing:
        raise MissingColumnError(path, missing[0], "columns " + ", ".join(REGION_COLUMNS))
    bad_bloc = sorted(set(table["bloc"]) - set(BLOCS))
    if bad_bloc:
        raise UnknownRegionError(path, "bloc", bad_bloc[0], BLOCS)
    table["split_from"] = table["split_from"].fillna("")
    table["capital_region"] = table["capital_region"].astype(str).str.lower().eq("true")
    return table.set_index("code", drop=False)


@lru_cache(maxsize=4)
def load_regions(path: Path | None = None) -> pd.DataFrame:
    """Return the regions table indexed by KOSIS code, in KOSIS order.

    path : Path, optional  a regions CSV; default ``model/regions.csv``
    """
    return _read_regions(Path(path) if path else model_dir() / "regions.csv")


def region_codes() -> list[str]:
    """KOSIS codes of the 17 regions, in KOSIS order (11 Seoul … 39 Jeju)."""
    return list(load_regions().index)


def names(lang: str = "en") -> dict[str, str]:
    """Name of each of the 17 regions in ``lang`` ("en" or "ko"), keyed by KOSIS code, in KOSIS order.

    The English names are the model's ``Region`` subscripts.
    """
    return dict(load_regions()["name_en" if lang == "en" else "name_ko"].items())


@lru_cache(maxsize=1)
def _codes_by_name() -> dict[str, str]:
    return {name: code for code, name in names("en").items()}


def code_of(name_en: str) -> str:
    """KOSIS code of a region from its English name (a model ``Region`` subscript).

    Raises :class:`UnknownRegionError` naming the allowed names.
    """
    codes = _codes_by_name()
    if name_en not in codes:
        raise UnknownRegionError("model/regions.csv", "name_en", name_en, tuple(codes))
    return codes[name_en]


def region_name(code: str, lang: str = "en") -> str:
    """Name of a region, bloc, capital/non-capital group or the nation in ``lang`` ("en" or "ko").

    Raises :class:`UnknownRegionError` for any other code.
    """
    i = 0 if lang == "en" else 1
    if code == NATIONAL_CODE:
        return ("National", "전국")[i]
    if code in BLOC_NAMES:
        return BLOC_NAMES[code][i]
    if code in GROUP_NAMES:
        return GROUP_NAMES[code][i]
    if code == GWANGJU_JEONNAM_CODE:
        return GWANGJU_JEONNAM_NAMES[i]
    table = load_regions()
    if code not in table.index:
        allowed = dict.fromkeys((NATIONAL_CODE, *table.index, *BLOCS, *GROUP_NAMES, GWANGJU_JEONNAM_CODE))
        raise UnknownRegionError("model/regions.csv", "code", code, tuple(allowed))
    return str(table.loc[code, "name_en" if lang == "en" else "name_ko"])


def membership(kind: str) -> dict[str, str]:
    """Map each region code to its group under an aggregation.

    kind : str
        ``"capital"`` (capital / noncapital), ``"bloc"`` (5+3 blocs) or
        ``"gwangju_jeonnam"`` (the 16 reporting units with Gwangju and Jeonnam merged).
    """
    table = load_regions()
    if kind == "capital":
        return {c: ("capital" if cap else "noncapital") for c, cap in table["capital_region"].items()}
    if kind == "bloc":
        return dict(table["bloc"].items())
    if kind == "gwangju_jeonnam":
        return {c: (GWANGJU_JEONNAM_CODE if c in GWANGJU_JEONNAM else c) for c in table.index}
    raise ValueError(f"aggregation kind {kind!r}: allowed 'capital', 'bloc', 'gwangju_jeonnam'")


def aggregate(values: pd.DataFrame, kind: str, region_column: str = "region_code",
              value_column: str = "value") -> pd.DataFrame:
    """Sum an additive quantity (people, money) over the groups of an aggregation.

    values : DataFrame  tidy rows with ``region_column`` and ``value_column``; other columns are kept as keys
    kind : str  see :func:`membership`
    Returns the same layout with ``region_column`` holding group codes. Regions
    outside the 17 (e.g. the national row) are dropped.
    """
    groups = membership(kind)
    rows = values[values[region_column].isin(groups)].copy()
    rows[region_column] = rows[region_column].map(groups)
    keys = [c for c in rows.columns if c != value_column]
    return rows.groupby(keys, as_index=False, sort=False)[value_column].sum()


def distance_km(lat: np.ndarray | None = None, lon: np.ndarray | None = None) -> np.ndarray:
    """Great-circle distance between region seats [km], a 17 × 17 matrix in KOSIS order.

    lat, lon : array, optional  seat coordinates [degrees]; default those in the regions table
    """
    table = load_regions()
    lat = np.radians(table["seat_lat"].to_numpy(float) if lat is None else np.asarray(lat, float))
    lon = np.radians(table["seat_lon"].to_numpy(float) if lon is None else np.asarray(lon, float))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    earth_radius_km = 6371.0088  # IUGG mean Earth radius
    return 2 * earth_radius_km * np.arcsin(np.sqrt(h))
