"""National demographic variants (model/demography.toml) and the model inputs made from them.

A variant is the assumption a run makes about the national total fertility rate (TFR)
after the last observed year and about net international migration of Korean nationals
after the last observed flow year. Each entry of model/demography.toml has an integer
``code`` (the value of the model constant ``fertility variant`` that selects it), labels
in both languages, a description, how its TFR path is made (``tfr``: ``"hold"``,
``"wpp:<quantile>"`` or ``"points"`` with ``tfr_points``), the window of observed
international migration whose mean is its projected level (``migration_years``) and its
sources (``reference``). The model's ``Variant`` subscript names the variants by their
keys with hyphens as spaces (:func:`model_element`).

The spread of the TFR path that ``tfr path deviation`` scales is relative: the UN WPP 2024
probabilistic 95 % interval as log ratios to its median, ln(median / p2.5) / 1.96 below and
ln(p97.5 / median) / 1.96 above, by year (:func:`tfr_path_spread`). A member at deviation z
has the variant's path × exp(z · spread), so under the UN median variant the members at
z = ±1.96 are the UN's own 2.5 % and 97.5 % paths, and every path stays positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kbalance.errors import InvalidValueError, MissingKeyError, keys_of, number_in, table_of
from kbalance.observations.keyed import un_wpp
from kbalance.observations.load import national_by_year, wide_series
from kbalance.paths import model_dir, read_toml
from kbalance.regions import NATIONAL_CODE, names, region_codes

#: The variant keys model/demography.toml must define (contracts: hold, UN WPP 2024
#: median, Statistics Korea 2022 medium, UN low and high).
VARIANT_KEYS = ("hold", "un-wpp-2024", "statistics-korea-2022", "low", "high")
ENTRY_KEYS = ("code", "label_ko", "label_en", "description", "tfr", "migration_years", "reference")
TFR_METHODS = ("hold", "points", "wpp:median", "wpp:low_variant", "wpp:high_variant")
#: Last year of the compiled paths [year]: the end of the UN WPP 2024 projection.
LAST_PATH_YEAR = 2100
#: Standard normal quantile of 97.5 %: the 95 % interval is ±1.96 standard deviations.
Z975 = 1.959963984540054
#: Plausible bounds of a TFR given in the file [children per woman].
TFR_LIMITS = (0.0, 10.0)


@dataclass(frozen=True)
class Variant:
    """One national demographic variant.

    key : str  key in model/demography.toml (``hold``, ``un-wpp-2024`` …)
    code : int  value of the model constant ``fertility variant`` selecting it
    label_ko, label_en, description : str
    tfr : str  ``hold``, ``points`` or ``wpp:<quantile>``
    tfr_points : tuple of (year, TFR)  the published path for ``points`` [year, children per woman]
    migration_years : (int, int)  window of observed net international migration of nationals
        whose mean is the projected level [year]
    reference : str  reference keys of docs/references.md or obs:<series>
    """

    key: str
    code: int
    label_ko: str
    label_en: str
    description: str
    tfr: str
    tfr_points: tuple[tuple[int, float], ...]
    migration_years: tuple[int, int]
    reference: str


def demography_file() -> Path:
    """model/demography.toml."""
    return model_dir() / "demography.toml"


def model_element(key: str) -> str:
    """The element of the model's ``Variant`` subscript for a variant key (hyphens as spaces)."""
    return key.replace("-", " ")


def _points(path: Path, where: str, value: object) -> tuple[tuple[int, float], ...]:
    if not isinstance(value, list) or len(value) < 1:
        raise InvalidValueError(path, where, value, "a list of [year, TFR] points")
    out, last = [], None
    for i, point in enumerate(value):
        field = f"{where}[{i + 1}]"
        if not isinstance(point, list) or len(point) != 2:
            raise InvalidValueError(path, field, point, "a point [year, TFR]")
        year = int(number_in(path, f"{field}.year", point[0], integer=True))
        if last is not None and year <= last:
            raise InvalidValueError(path, f"{field}.year", year, f"a year after {last} (points in time order)")
        last = year
        out.append((year, number_in(path, f"{field}.tfr", point[1], *TFR_LIMITS)))
    return tuple(out)


def check_variant(path: Path, key: str, entry: object) -> Variant:
    """One entry of model/demography.toml, checked: keys, types, the TFR method and its points,
    the migration window; KbalanceInputError naming the file, the key and what is allowed."""
    where = f"variants.{key}"
    entry = table_of(path, where, entry, "a table with " + ", ".join(ENTRY_KEYS))
    keys_of(path, where, entry, ENTRY_KEYS, ("tfr_points",))
    code = int(number_in(path, f"{where}.code", entry["code"], 1, 99, integer=True))
    for name in ("label_ko", "label_en", "description", "reference"):
        if not isinstance(entry[name], str) or not entry[name].strip():
            raise InvalidValueError(path, f"{where}.{name}", entry[name], "a non-empty string")
    if entry["tfr"] not in TFR_METHODS:
        raise InvalidValueError(path, f"{where}.tfr", entry["tfr"], TFR_METHODS)
    if entry["tfr"] == "points" and "tfr_points" not in entry:
        raise MissingKeyError(path, f"{where}.tfr_points", 'tfr_points for tfr = "points"')
    if entry["tfr"] != "points" and "tfr_points" in entry:
        raise InvalidValueError(path, f"{where}.tfr_points", "given", 'tfr_points only with tfr = "points"')
    points = _points(path, f"{where}.tfr_points", entry["tfr_points"]) if "tfr_points" in entry else ()
    window = entry["migration_years"]
    if not isinstance(window, list) or len(window) != 2:
        raise InvalidValueError(path, f"{where}.migration_years", window, "[first year, last year]")
    first = int(number_in(path, f"{where}.migration_years[1]", window[0], 1990, LAST_PATH_YEAR, integer=True))
    last = int(number_in(path, f"{where}.migration_years[2]", window[1], first, LAST_PATH_YEAR, integer=True))
    return Variant(key, code, entry["label_ko"], entry["label_en"], entry["description"], entry["tfr"],
                   points, (first, last), entry["reference"].strip())


def read_variants(path: Path | None = None) -> dict[str, Variant]:
    """The variants of model/demography.toml (key → :class:`Variant`), each checked by
    :func:`check_variant`; every key of :data:`VARIANT_KEYS` present, codes distinct,
    ``default`` one of the keys. KbalanceInputError naming the file and the key otherwise."""
    path = Path(path or demography_file())
    raw = read_toml(path, "demographic variants", "model/demography.toml")
    keys_of(path, "", raw, ("default", "variants"))
    table = table_of(path, "variants", raw["variants"], "[variants.<key>] tables")
    missing = [k for k in VARIANT_KEYS if k not in table]
    if missing:
        raise MissingKeyError(path, f"variants.{missing[0]}", "the variants " + ", ".join(VARIANT_KEYS))
    variants = {key: check_variant(path, key, entry) for key, entry in table.items()}
    codes = [v.code for v in variants.values()]
    duplicate = next((c for c in codes if codes.count(c) > 1), None)
    if duplicate is not None:
        raise InvalidValueError(path, "variants.*.code", duplicate, "a distinct code for every variant")
    if raw["default"] not in variants:
        raise InvalidValueError(path, "default", raw["default"], list(variants))
    return variants


def default_variant(path: Path | None = None) -> str:
    """The key of the variant a run uses unless its scenario or command names another."""
    path = Path(path or demography_file())
    read_variants(path)
    return read_toml(path, "demographic variants", "model/demography.toml")["default"]


def _national(name: str, root: Path | None) -> pd.Series:
    observed = national_by_year(name, root).dropna().astype(float)
    observed.index = observed.index.astype(int)
    return observed


def last_national_tfr_year(root: Path | None = None) -> int:
    """The last year of the observed national TFR (vital.csv) [year]: where every variant's
    path starts, the model's ``last observed fertility year`` (inputs/scalars.csv) and the
    year to which the backtests' ex-post forecast takes the observed national TFR."""
    return int(_national("tfr", root).index.max())


def _wpp_tfr(quantile: str, root: Path | None) -> pd.Series:
    table = un_wpp(root)
    rows = table[(table["variable"] == "tfr") & (table["quantile"] == quantile)]
    return pd.Series(rows["value"].to_numpy(dtype=float), index=rows["year"].astype(int).to_numpy())


def tfr_path(variant: Variant, root: Path | None = None) -> pd.Series:
    """The national TFR path of a variant [children per woman] by year, from the last
    observed year (its observed value) to :data:`LAST_PATH_YEAR`.

    ``hold``: the observed value held; ``wpp:<quantile>``: the UN WPP 2024 projection
    (linearly interpolated where a year is missing, held after its end); ``points``: the
    published points, linearly interpolated and held after the last one.
    """
    observed = _national("tfr", root)
    last = last_national_tfr_year(root)
    years = np.arange(last, LAST_PATH_YEAR + 1)
    if variant.tfr == "hold":
        values = np.full(len(years), observed[last])
    elif variant.tfr == "points":
        x, y = zip(*variant.tfr_points)
        values = np.interp(years, x, y)
    else:
        wpp = _wpp_tfr(variant.tfr.removeprefix("wpp:"), root)
        values = np.interp(years, wpp.index.to_numpy(), wpp.to_numpy())
    values[0] = observed[last]
    return pd.Series(values, index=years, name=model_element(variant.key))


def tfr_path_spread(root: Path | None = None) -> pd.DataFrame:
    """Relative spread of the national TFR path [1] by year, columns ``lower`` and ``upper``:
    the UN WPP 2024 95 % interval as log ratios to its median per standard deviation,
    ln(median / p2.5) / 1.96 and ln(p97.5 / median) / 1.96; 0 in the last observed year."""
    observed = _national("tfr", root)
    last = int(observed.index.max())
    years = np.arange(last, LAST_PATH_YEAR + 1)
    low, median, high = (_wpp_tfr(q, root) for q in ("p2.5", "median", "p97.5"))
    table = pd.DataFrame({"lower": np.log(median / low), "upper": np.log(high / median)}).dropna()
    spread = pd.DataFrame({column: np.interp(years, table.index.to_numpy(), table[column].to_numpy()) / Z975
                           for column in table}, index=years)
    spread.loc[years <= max(last, int(table.index.min()) - 1)] = 0.0
    return spread


def migration_level(variant: Variant, root: Path | None = None) -> float:
    """Projected net international migration of Korean nationals [persons/year]: the mean of
    the observed years of intl_net_korean (thousand persons) within the variant's window."""
    observed = _national("intl_net_korean", root)
    first, last = variant.migration_years
    window = observed[(observed.index >= first) & (observed.index <= last)]
    if window.empty:
        raise InvalidValueError(demography_file(), f"variants.{variant.key}.migration_years",
                                list(variant.migration_years),
                                f"a window holding observed years of intl_net_korean ({list(observed.index)})")
    return float(window.mean()) * 1000.0


def regional_tfr_ratio(first_year: int, root: Path | None = None) -> pd.DataFrame:
    """Observed regional TFR over the national TFR of the same year [1], years ``first_year``
    … the last observed × region name; 1 where a region has no observed TFR (before it
    existed)."""
    table = wide_series("tfr", root, national=True)
    years = range(first_year, int(table.index.max()) + 1)
    table = table.reindex(index=years)
    ratio = table[region_codes()].div(table[NATIONAL_CODE], axis=0).fillna(1.0)
    ratio.columns = [names()[c] for c in ratio.columns]
    return ratio


def international_migration_history(root: Path | None = None) -> pd.DataFrame:
    """Observed net international migration of Korean nationals [persons/year] by year
    (intl_net_korean, thousand persons in the observation set); the model interpolates
    linearly between the observed years and holds the first value before them."""
    observed = _national("intl_net_korean", root) * 1000.0
    return observed.rename_axis("year").to_frame("value")


def variant_tables(root: Path | None = None) -> dict[str, pd.DataFrame]:
    """The model inputs of the variants, by file name: ``tfr_variants.csv`` (year × variant
    [children per woman]), ``tfr_path_spread.csv`` (year → lower and upper relative spread) and
    ``demographic_variants.csv`` (variant → code, projected net international migration
    [persons/year])."""
    variants = read_variants()
    paths = pd.concat([tfr_path(v, root) for v in variants.values()], axis=1)
    spread = tfr_path_spread(root)
    table = pd.DataFrame({"code": [float(v.code) for v in variants.values()],
                          "net_international_migration": [migration_level(v, root) for v in variants.values()]},
                         index=[model_element(k) for k in variants])
    return {"tfr_variants.csv": paths, "tfr_path_spread.csv": spread, "demographic_variants.csv": table,
            "international_migration_history.csv": international_migration_history(root)}
