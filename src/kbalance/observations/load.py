"""Read the observation set: validated, cached loaders for series, the OD matrix, age
structures and the breaks table.

Every file goes through one validating reader (:func:`read_observation_file`):
required columns, region codes in the 17 or ``"00"``, integer years, finite values (negative
only for the net flows of ``SIGNED_SERIES``),
series listed in ``sources.csv`` with their declared unit, each cell once. Reads are
cached on path, modification time and size.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.errors import DuplicateCellError, InvalidValueError, KbalanceInputError, MissingColumnError, MissingFileError, MissingValueError, UnitMismatchError, UnknownRegionError
from kbalance.observations.schema import AGE_5Y, AGE_OPEN, BREAK_COLUMNS, BREAK_KINDS, OBSERVATION_COLUMNS, OD_COLUMNS, OD_FILE, OD_SERIES, OD_SPEC, REFERENCE_COLUMNS, REFERENCE_TOTALS, SIGNED_SERIES, SOURCE_COLUMNS
from kbalance.paths import calibration_dir
from kbalance.regions import NATIONAL_CODE, region_codes


def calibration_root(root: Path | str | None = None) -> Path:
    """The calibration folder holding the observation set: ``root``, default ``calibration/``."""
    return Path(root) if root is not None else calibration_dir()


def _allowed_regions() -> tuple[str, ...]:
    return (NATIONAL_CODE, *region_codes())


def read_csv_text(path: Path, what: str, expected: str) -> pd.DataFrame:
    """A CSV file with every field as text (no NA parsing; a short row's missing fields are empty).

    Raises MissingFileError naming ``what`` and ``expected`` when the file is absent, and
    KbalanceInputError naming the file when it is empty, not UTF-8 (the line is named) or
    has a row with more fields than the header.
    """
    if not path.is_file():
        raise MissingFileError(path, what, expected)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise _encoding_error(path) from None
    except pd.errors.EmptyDataError:
        raise KbalanceInputError(path, what, "the file is empty", expected) from None
    except pd.errors.ParserError as exc:
        raise KbalanceInputError(path, what, f"malformed CSV ({str(exc).strip()})",
                                 "every row with as many fields as the header") from None


def _encoding_error(path: Path) -> KbalanceInputError:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        where = "somewhere"
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        where = f"byte 0x{data[exc.start]:02x} on line {line}"
    return KbalanceInputError(path, "encoding", f"not UTF-8 text ({where})", "a UTF-8 encoded CSV file")


def require_columns(path: Path, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise MissingColumnError for the first of ``columns`` absent from ``frame`` (read from ``path``)."""
    for col in columns:
        if col not in frame.columns:
            raise MissingColumnError(path, col, "columns " + ", ".join(columns))


@lru_cache(maxsize=8)
def _sources_cached(path: str, stamp: tuple[int, int]) -> pd.DataFrame:
    p = Path(path)
    table = read_csv_text(p, "sources table", "calibration/sources.csv with columns " + ", ".join(SOURCE_COLUMNS))
    require_columns(p, table, SOURCE_COLUMNS)
    dup = table["series"].duplicated()
    if dup.any():
        raise DuplicateCellError(p, "series", repr(table.loc[dup, "series"].iloc[0]))
    for col in ("series", "file", "unit"):
        empty = table[col].str.strip().eq("")
        if empty.any():
            raise MissingValueError(p, col, f"row {int(np.flatnonzero(empty)[0]) + 2}")
    return table.set_index("series", drop=False)


def file_stamp(path: Path) -> tuple[int, int]:
    """(modification time [ns], size [bytes]) of ``path``, (-1, -1) when absent: the key of the caches."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def series_table(root: Path | str | None = None) -> pd.DataFrame:
    """The sources table ``calibration/sources.csv``, indexed by series.

    root : Path, optional  the calibration folder; default :func:`kbalance.paths.calibration_dir`
    Columns: series, file (relative to root), unit, description, table_id, table_name, origin.
    """
    path = calibration_root(root) / "sources.csv"
    return _sources_cached(str(path), file_stamp(path)).copy()


#: The first year an observation may have [year]; the last is the coming year
#: (budget-based series are published for it), see :func:`observation_years`.
FIRST_OBSERVED_YEAR = 1900


def observation_years() -> tuple[int, int]:
    """The years an observation may have: :data:`FIRST_OBSERVED_YEAR` to next year [year]."""
    return FIRST_OBSERVED_YEAR, date.today().year + 1


def _parse_years(path: Path, years: pd.Series, field: str = "year", limits: tuple[int, int] | None = None) -> np.ndarray:
    bad = ~years.str.fullmatch(r"\d{4}")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        if years.iloc[i].strip() == "":
            raise MissingValueError(path, field, f"row {i + 2}")
        raise InvalidValueError(path, field, years.iloc[i], "a four-digit integer year")
    parsed = years.astype(int).to_numpy()
    if limits is not None:
        outside = (parsed < limits[0]) | (parsed > limits[1])
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise InvalidValueError(path, field, int(parsed[i]), f"a year in [{limits[0]}, {limits[1]}] (row {i + 2})")
    return parsed


def _parse_values(path: Path, values: pd.Series, keys: pd.DataFrame) -> np.ndarray:
    empty = values.str.strip().str.lower().isin(["", "nan", "na", "n/a", "null", "none"])
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        where = ", ".join(f"{c}={keys.iloc[i][c]}" for c in keys.columns)
        raise MissingValueError(path, "value", f"row {i + 2} ({where})")
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(path, "value", values.iloc[i], "a finite number")
    return numbers


def _check_signs(path: Path, series: pd.Series, values: np.ndarray) -> None:
    """Refuse a negative value of a series that is not a net flow (:data:`SIGNED_SERIES`)."""
    negative = values < 0
    if negative.any():
        signed = series.map(lambda name: any(fnmatch.fnmatchcase(name, p) for p in SIGNED_SERIES)).to_numpy()
        bad = np.flatnonzero(negative & ~signed)
        if bad.size:
            i = int(bad[0])
            raise InvalidValueError(path, "value", float(values[i]), f"a value >= 0 for series {series.iloc[i]!r} (row {i + 2}; "
                                    f"only net flows ({', '.join(SIGNED_SERIES)}) may be negative)")


def _check_regions(path: Path, codes: pd.Series, field: str, allowed: Sequence[str]) -> None:
    bad = ~codes.isin(allowed)
    if bad.any():
        raise UnknownRegionError(path, field, codes[bad].iloc[0], allowed)


def _check_units(path: Path, frame: pd.DataFrame, sources: pd.DataFrame, sources_path: Path) -> None:
    unknown = sorted(set(frame["series"]) - set(sources.index))
    if unknown:
        raise InvalidValueError(path, "series", unknown[0], f"a series listed in {sources_path}")
    declared = frame["series"].map(sources["unit"])
    bad = frame["unit"] != declared
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        err = UnitMismatchError(path, "unit", frame["unit"].iloc[i], declared.iloc[i])
        err.args = (f"{err.args[0]} (series {frame['series'].iloc[i]!r}, row {i + 2})",)
        raise err


@lru_cache(maxsize=64)
def _read_cached(path: str, stamp: tuple[int, int], sources_path: str, sources_stamp: tuple[int, int]) -> pd.DataFrame:
    p = Path(path)
    sp = Path(sources_path)
    is_od = p.name == OD_FILE
    columns = OD_COLUMNS if is_od else OBSERVATION_COLUMNS
    raw = read_csv_text(p, "observation file", "a CSV with columns " + ", ".join(columns))
    require_columns(p, raw, columns)
    raw = raw[list(columns)]
    allowed = _allowed_regions()
    if is_od:
        _check_regions(p, raw["origin_code"], "origin_code", allowed[1:])
        _check_regions(p, raw["dest_code"], "dest_code", allowed[1:])
        keys = raw[["year", "origin_code", "dest_code"]]
    else:
        _check_regions(p, raw["region_code"], "region_code", allowed)
        keys = raw[["series", "region_code", "year"]]
        empty = raw["series"].str.strip().eq("")
        if empty.any():
            raise MissingValueError(p, "series", f"row {int(np.flatnonzero(empty.to_numpy())[0]) + 2}")
    years = _parse_years(p, raw["year"], limits=(OD_SPEC[1], observation_years()[1]) if is_od else observation_years())
    values = _parse_values(p, raw["value"], keys)
    _check_signs(p, pd.Series(OD_SERIES, index=raw.index) if is_od else raw["series"], values)
    frame = raw.copy()
    frame["year"] = years
    frame["value"] = values
    if is_od:
        frame.insert(0, "series", OD_SERIES)
    sources = _sources_cached(str(sp), sources_stamp)
    _check_units(p, frame, sources, sp)
    if is_od:
        frame = frame.drop(columns="series")
    key_cols = ["year", "origin_code", "dest_code"] if is_od else ["series", "region_code", "year"]
    dup = frame.duplicated(key_cols)
    if dup.any():
        cell = ", ".join(f"{c}={frame.loc[dup, c].iloc[0]}" for c in key_cols)
        raise DuplicateCellError(p, "+".join(key_cols), f"({cell})")
    return frame.reset_index(drop=True)


def read_observation_file(path: Path | str, sources: Path | str | None = None) -> pd.DataFrame:
    """Read and validate one observation file.

    path : Path  ``observations/<topic>.csv`` (or ``migration_od.csv``)
    sources : Path, optional  the sources table; default ``<path>/../../sources.csv``

    Returns the rows with ``year`` as int and ``value`` as float. Raises
    :class:`MissingFileError`, :class:`MissingColumnError`, :class:`UnknownRegionError`
    (region code not one of the 17 or ``"00"``), :class:`InvalidValueError` (series not
    in the sources table, non-integer year, non-numeric value), :class:`MissingValueError`,
    :class:`UnitMismatchError` and :class:`DuplicateCellError`.
    """
    p = Path(path)
    sp = Path(sources) if sources is not None else p.parent.parent / "sources.csv"
    if not sp.is_file():
        raise MissingFileError(sp, "sources table", "calibration/sources.csv with columns " + ", ".join(SOURCE_COLUMNS))
    return _read_cached(str(p), file_stamp(p), str(sp), file_stamp(sp)).copy()


#: A ``source`` of :data:`REFERENCE_TOTALS`: keys of docs/references.md separated by spaces.
REFERENCE_KEY = re.compile(r"R\d+( R\d+)*")


def reference_totals(name: str, root: Path | str | None = None) -> pd.DataFrame:
    """The totals of one series typed from the references (``calibration/reference_totals.csv``)
    in long format: ``region_code``, ``year``, ``value`` [the series' unit in ``sources.csv``]
    and ``source`` (its keys in docs/references.md, e.g. ``"R780"``).

    The file has a topic file's layout plus ``source`` and is read by the same validating
    reader (:func:`read_observation_file`). Raises :class:`MissingColumnError` without the
    ``source`` column, :class:`MissingValueError` or :class:`InvalidValueError` for a row
    without reference keys, and :class:`DuplicateCellError` for a cell the built observation
    set already holds (a reference adds years, it never overrides an observation).
    """
    r = calibration_root(root)
    path = r / REFERENCE_TOTALS
    frame = read_observation_file(path, r / "sources.csv")
    raw = read_csv_text(path, "reference totals", "a CSV with columns " + ", ".join(REFERENCE_COLUMNS))
    require_columns(path, raw, REFERENCE_COLUMNS)
    for i, key in enumerate(raw["source"]):
        if key.strip() == "":
            raise MissingValueError(path, "source", f"row {i + 2}")
        if not REFERENCE_KEY.fullmatch(key):
            raise InvalidValueError(path, "source", key, f"keys of docs/references.md such as 'R780' (row {i + 2})")
    frame["source"] = raw["source"].to_numpy()
    rows = frame.loc[frame["series"] == name, ["region_code", "year", "value", "source"]].reset_index(drop=True)
    observed = load_series(name, r)
    both = rows.merge(observed, on=["region_code", "year"])
    if len(both):
        raise DuplicateCellError(path, "series+region_code+year",
                                 f"({name}, {both['region_code'].iloc[0]}, {both['year'].iloc[0]}: "
                                 f"also in {series_table(r).loc[name, 'file']})")
    rows.attrs.update(unit=observed.attrs["unit"], series=name)
    return rows


def clear_cache() -> None:
    """Forget cached file reads (they are keyed on path, mtime and size)."""
    _read_cached.cache_clear()
    _sources_cached.cache_clear()
    _breaks_cached.cache_clear()


def _topic_path(root: Path, name: str) -> Path:
    table = series_table(root)
    if name not in table.index:
        raise InvalidValueError(root / "sources.csv", "series", name, "a series listed in sources.csv")
    return root / table.loc[name, "file"]


def load_series(name: str, root: Path | str | None = None) -> pd.DataFrame:
    """One observed series in long format.

    name : str  series name as in ``sources.csv``, e.g. ``"pop_registered"``
    root : Path, optional  calibration folder

    Returns columns ``region_code`` (str, ``"00"`` national), ``year`` (int) and
    ``value`` (float) [unit in ``.attrs['unit']``]; ``.attrs`` also holds ``source``
    (table id), ``origin`` and ``description``.
    """
    r = calibration_root(root)
    if name == OD_SERIES:
        raise InvalidValueError(r / "sources.csv", "series", name, "a long-format series; use load_od() for the OD matrix")
    path = _topic_path(r, name)
    frame = read_observation_file(path, r / "sources.csv")
    rows = frame.loc[frame["series"] == name, ["region_code", "year", "value"]].reset_index(drop=True)
    meta = series_table(r).loc[name]
    rows.attrs.update(unit=meta["unit"], source=meta["table_id"], origin=meta["origin"],
                      description=meta["description"], series=name)
    return rows


def wide_series(name: str, root: Path | str | None = None, national: bool = False) -> pd.DataFrame:
    """One observed series as years × region codes [its unit in ``sources.csv``]: the 17
    regions in KOSIS order, preceded by the nation (``"00"``) when ``national``; NaN where
    a region has no value in a year."""
    rows = load_series(name, root)
    codes = [NATIONAL_CODE, *region_codes()] if national else region_codes()
    rows = rows[rows["region_code"].isin(codes)]
    return rows.pivot(index="year", columns="region_code", values="value").reindex(columns=codes)


def national_by_year(name: str, root: Path | str | None = None) -> pd.Series:
    """One observed series' national values (``"00"``) by year [its unit in ``sources.csv``],
    NaN in a year without them (the national column of :func:`wide_series`)."""
    return wide_series(name, root, national=True)[NATIONAL_CODE]


def load_od(root: Path | str | None = None) -> xr.DataArray:
    """Movers by origin × destination [persons], dims (year, origin, dest).

    Regions are the 17 KOSIS codes in KOSIS order; the diagonal holds moves within
    a province. Pairs absent from the file (a province not yet existing, e.g.
    Sejong before 2012) are 0.
    """
    r = calibration_root(root)
    path = _topic_path(r, OD_SERIES)
    frame = read_observation_file(path, r / "sources.csv")
    codes = region_codes()
    years = np.array(sorted(frame["year"].unique()), dtype=int)
    data = np.zeros((len(years), len(codes), len(codes)))
    yi = np.searchsorted(years, frame["year"].to_numpy())
    index = {c: i for i, c in enumerate(codes)}
    oi = frame["origin_code"].map(index).to_numpy()
    di = frame["dest_code"].map(index).to_numpy()
    data[yi, oi, di] = frame["value"].to_numpy()
    unit = series_table(r).loc[OD_SERIES, "unit"]
    return xr.DataArray(data, dims=("year", "origin", "dest"),
                        coords={"year": years, "origin": codes, "dest": codes},
                        name=OD_SERIES, attrs={"units": unit, "source": series_table(r).loc[OD_SERIES, "table_id"]})


def _age_key(label: str) -> tuple[int, int]:
    m = AGE_5Y.match(label) or AGE_OPEN.match(label)
    if label == "lt15":
        return (0, 0)
    if m:
        return (int(m.group(1)), 1)
    return (10_000, 0)  # unknown last


def age_structure(prefix: str, root: Path | str | None = None) -> xr.DataArray:
    """Population by 5-year age group [persons], dims (region, year, sex, age_group).

    prefix : str  ``"pop_registered"`` (resident registration 2011–2023) or
        ``"pop_census"`` (census years)
    Age groups are labelled ``"00_04"`` … and the open top group as present
    (``"85p"`` in the 1995–2010 censuses, ``"100p"`` otherwise); broad aggregates
    (``00_14``, ``15_64``, ``65p``, totals) and ``unknown`` are left out. Sex is
    ``total``, ``male``, ``female``. Cells absent from the data are NaN.
    """
    r = calibration_root(root)
    table = series_table(r)
    pattern = re.compile(rf"^{re.escape(prefix)}_(total|male|female)_(.+)$")
    names = [s for s in table.index if pattern.match(s)]
    if not names:
        raise InvalidValueError(r / "sources.csv", "series", prefix + "_*", "a prefix of age-group series, e.g. pop_registered")
    files = sorted({table.loc[s, "file"] for s in names})
    frames = [read_observation_file(r / f, r / "sources.csv") for f in files]
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["series"].isin(names)].copy()
    parts = rows["series"].str.extract(pattern)
    rows["sex"], rows["age_group"] = parts[0], parts[1]
    bounds = rows["age_group"].str.extract(AGE_5Y.pattern).apply(pd.to_numeric)
    five = (bounds[1] - bounds[0]).eq(4)
    # an open group "Np" is the top group when no 5-year group starts at N in that region-year
    starts = set(zip(rows.loc[five, "region_code"], rows.loc[five, "year"], bounds.loc[five, 0].astype(int)))
    top = pd.to_numeric(rows["age_group"].str.extract(AGE_OPEN.pattern)[0])
    is_open = pd.Series([n == n and (reg, yr, int(n)) not in starts
                         for reg, yr, n in zip(rows["region_code"], rows["year"], top)], index=rows.index)
    rows = rows[five | is_open]
    groups = sorted(rows["age_group"].unique(), key=_age_key)
    return _to_array(rows, ["region_code", "year", "sex", "age_group"],
                     {"sex": ["total", "male", "female"], "age_group": groups},
                     name=prefix, unit=table.loc[names[0], "unit"])


def _region_order(codes: Iterable[str]) -> list[str]:
    present = set(codes)
    return [c for c in _allowed_regions() if c in present]


def _to_array(rows: pd.DataFrame, dims: list[str], order: dict[str, list], name: str, unit: str) -> xr.DataArray:
    coords = {
        "region": _region_order(rows["region_code"]),
        "year": sorted(rows["year"].unique()),
        **order,
    }
    series = rows.set_index(dims)["value"]
    full = pd.MultiIndex.from_product([coords["region"], coords["year"], *[order[d] for d in dims[2:]]], names=dims)
    data = series.reindex(full).to_numpy().reshape([len(coords["region"]), len(coords["year"]),
                                                    *[len(order[d]) for d in dims[2:]]])
    out_dims = ("region", "year", *dims[2:])
    return xr.DataArray(data, dims=out_dims, coords={d: coords[d] for d in out_dims}, name=name,
                        attrs={"units": unit})


def births_by_mother_age(root: Path | str | None = None) -> xr.DataArray:
    """Live births by mother's age group [persons], dims (region, year, age_group).

    Age groups: ``lt15``, ``15_19`` … ``45_49``, ``50p`` and ``unknown`` (their sum is
    ``births_mother_age_total``).
    """
    r = calibration_root(root)
    table = series_table(r)
    names = [s for s in table.index if s.startswith("births_mother_age_") and s != "births_mother_age_total"]
    files = sorted({table.loc[s, "file"] for s in names})
    rows = pd.concat([read_observation_file(r / f, r / "sources.csv") for f in files], ignore_index=True)
    rows = rows[rows["series"].isin(names)].copy()
    rows["age_group"] = rows["series"].str.slice(len("births_mother_age_"))
    groups = sorted(rows["age_group"].unique(), key=_age_key)
    return _to_array(rows, ["region_code", "year", "age_group"], {"age_group": groups},
                     name="births_by_mother_age", unit=table.loc[names[0], "unit"])


# ---------------------------------------------------------------------------
# Breaks
# ---------------------------------------------------------------------------


#: Columns every breaks table has; the region columns of boundary breaks may be absent
#: (older tables), and then read as empty.
_BREAK_REQUIRED = BREAK_COLUMNS[:5]


def _first_row(mask: pd.Series) -> str:
    return f"row {int(np.flatnonzero(mask.to_numpy())[0]) + 2}"


@lru_cache(maxsize=8)
def _breaks_cached(path: str, stamp: tuple[int, int]) -> pd.DataFrame:
    p = Path(path)
    table = read_csv_text(p, "breaks table", "calibration/breaks.csv with columns " + ", ".join(BREAK_COLUMNS))
    require_columns(p, table, _BREAK_REQUIRED)
    table = table.reindex(columns=list(BREAK_COLUMNS), fill_value="")
    allowed = ("*", *_allowed_regions())
    _check_regions(p, table["region_code"], "region_code", allowed)
    bad = ~table["kind"].isin(BREAK_KINDS)
    if bad.any():
        raise InvalidValueError(p, "kind", table.loc[bad, "kind"].iloc[0], BREAK_KINDS)
    for col in ("series", "description"):
        empty = table[col].str.strip().eq("")
        if empty.any():
            raise MissingValueError(p, col, _first_row(empty))
    table["year"] = _parse_years(p, table["year"])
    _check_boundary_regions(p, table)
    return table


def _check_boundary_regions(path: Path, table: pd.DataFrame) -> None:
    """``origin_codes`` and ``dest_code``: region codes in boundary rows, empty in the others."""
    boundary = table["kind"].eq("boundary")
    for col in ("origin_codes", "dest_code"):
        stray = ~boundary & table[col].ne("")
        if stray.any():
            raise InvalidValueError(path, col, table.loc[stray, col].iloc[0], f"empty outside boundary rows ({_first_row(stray)})")
    origins = table.loc[boundary & table["origin_codes"].ne(""), "origin_codes"].str.split(";").explode()
    _check_regions(path, origins, "origin_codes", region_codes())
    _check_regions(path, table.loc[boundary & table["dest_code"].ne(""), "dest_code"], "dest_code", region_codes())
    named = boundary & table["dest_code"].ne("")
    involved = [r in (d, *o.split(";")) for r, d, o in zip(table["region_code"], table["dest_code"], table["origin_codes"])]
    outside = named & ~pd.Series(involved, index=table.index)
    if outside.any():
        raise InvalidValueError(path, "region_code", table.loc[outside, "region_code"].iloc[0],
                                f"one of the row's origin_codes or its dest_code ({_first_row(outside)})")


def load_breaks(root: Path | str | None = None) -> pd.DataFrame:
    """Definitional breaks, columns :data:`BREAK_COLUMNS`.

    ``series`` may be an fnmatch pattern (``pop_registered*``), ``region_code`` may be
    ``"*"`` (all regions); ``year`` [year] is the first year under the new definition.
    """
    path = calibration_root(root) / "breaks.csv"
    return _breaks_cached(str(path), file_stamp(path)).copy()


def breaks_for(series: str, region_code: str | None = None, root: Path | str | None = None) -> pd.DataFrame:
    """Breaks that apply to ``series`` (and to ``region_code`` when given)."""
    table = load_breaks(root)
    hit = table["series"].map(lambda pat: fnmatch.fnmatchcase(series, pat))
    if region_code is not None:
        hit &= table["region_code"].isin(["*", region_code])
    return table[hit].reset_index(drop=True)


@dataclass(frozen=True)
class BoundaryChange:
    """A change of the boundaries between regions (the ``boundary`` rows of ``breaks.csv``).

    year : int  first year on the new boundaries [year]
    origins : tuple of str  KOSIS codes of the regions that gave up territory
    dest : str  KOSIS code of the region that received it (new that year, or existing)
    """

    year: int
    origins: tuple[str, ...]
    dest: str


def boundary_changes(root: Path | str | None = None) -> list[BoundaryChange]:
    """The boundary changes of ``breaks.csv``, in the order of the file (one per change,
    though the table has a row for every region involved).

    Raises InvalidValueError naming the row when a boundary row lacks ``dest_code`` or
    ``origin_codes``.
    """
    path = calibration_root(root) / "breaks.csv"
    table = load_breaks(root)
    rows = table[table["kind"] == "boundary"]
    for col, what in (("dest_code", "the region receiving territory"), ("origin_codes", "the regions giving it up")):
        empty = rows[col].eq("")
        if empty.any():
            raise InvalidValueError(path, col, "", f"{what} in every boundary row (row {int(empty.idxmax()) + 2})")
    changes = (BoundaryChange(int(y), tuple(o.split(";")), d)
               for y, o, d in zip(rows["year"], rows["origin_codes"], rows["dest_code"]))
    return list(dict.fromkeys(changes))


# ---------------------------------------------------------------------------
# Cells of files with more keys (kbalance.observations.keyed)
# ---------------------------------------------------------------------------


def validate_cells(path: Path, frame: pd.DataFrame, sources: pd.DataFrame, cell: Sequence[str],
                   regions: Sequence[str] | None = None) -> pd.DataFrame:
    """Validate rows in long form (text fields) the way :func:`read_observation_file` does.

    path : Path  the file (named in errors)
    frame : DataFrame  columns ``cell`` (which include series, region_code, year), ``value``, ``unit``
    sources : DataFrame  the sources table (:func:`series_table`)
    cell : the columns that name a cell once
    regions : the allowed region codes; default the 17 and ``"00"``

    Returns the rows with ``year`` as int and ``value`` as float. Raises
    :class:`UnknownRegionError`, :class:`MissingValueError` (an empty key or value),
    :class:`InvalidValueError` (year, value, series not in the table),
    :class:`UnitMismatchError` and :class:`DuplicateCellError`.
    """
    _check_regions(path, frame["region_code"], "region_code", regions or _allowed_regions())
    for col in cell:
        empty = frame[col].str.strip().eq("")
        if empty.any():
            raise MissingValueError(path, col, f"row {int(np.flatnonzero(empty.to_numpy())[0]) + 2}")
    out = frame.copy()
    out["year"] = _parse_years(path, frame["year"])
    out["value"] = _parse_values(path, frame["value"], frame[list(cell)])
    _check_units(path, out, sources, path.parent.parent / "sources.csv")
    dup = out.duplicated(list(cell))
    if dup.any():
        where = ", ".join(f"{c}={out.loc[dup, c].iloc[0]}" for c in cell)
        raise DuplicateCellError(path, "+".join(cell), f"({where})")
    return out.reset_index(drop=True)
