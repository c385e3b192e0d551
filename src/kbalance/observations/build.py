"""Compile the observation set (``calibration/``) from ``../shared/data/harmonized``.

:func:`build` is the only code that reads ``../shared``. Every value is copied
verbatim from the harmonized files; the numbers quoted in ``breaks.csv`` are computed
from them and the dates come from ``shared/data/PROVENANCE.md``.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from kbalance.errors import InvalidValueError, MissingFileError, MissingValueError
from kbalance.observations.keyed import read_observation_table
from kbalance.observations.load import clear_cache, load_breaks, read_csv_text, require_columns
from kbalance.observations.schema import (
    BOUNDARY_FILE, BOUNDARY_SERIES, BOUNDARY_SOURCE, BREAK_COLUMNS, HARMONIZED_COLUMNS, HARMONIZED_OD_COLUMNS,
    HMD_SERIES, INTL_COLUMNS, KEYED_HARMONIZED, KOSTAT_GI_TABLES, LX_OPEN_SUFFIX, LX_UNIT, MUNICIPAL_AGE_RAW, NON_KOSIS_IDS,
    OBSERVATION_SET, OBSERVATIONS, OD_FILE, OD_SERIES, OD_SPEC, INTL_FILE, RAW_FILES, SERIES_TABLES, SEXES, SOURCE_COLUMNS,
    TABLE_NAMES, TEXT_FILES, TOPICS, WPP_CITATION, WPP_COUNTRY, WPP_DATASETS, describe,
)
from kbalance.outputs import replace_entries
from kbalance.regions import NATIONAL_CODE, load_regions, region_name

_DT_RE = re.compile(r"\bDT_[0-9A-Za-z_]+")
_PAGE_TAG_RE = re.compile(r"\[([TP]\d+)(?: in [^\]]*)?\]")
_KOSTAT_GI_RE = re.compile(r"raw/kostat_gi/data_indicator_(\d+-\d+-\d+)")

#: Regions created by a split within the observed years; their year and mother regions
#: are those of model/regions.csv (``began``, ``split_from``).
NEW_REGIONS = ("26", "29")
#: Part of a region moved to another (PROVENANCE.md, "Boundaries"): what moved, from
#: (origin code), to (destination code), date, first year on the new boundaries.
MOVES = (("Gunwi-gun", "37", "22", "2023-07-01", 2023),)


def harmonized_dir(source_dir: Path | str) -> Path:
    """The folder of the harmonized CSV files: ``source_dir/harmonized`` if it exists, else ``source_dir``."""
    source_dir = Path(source_dir)
    sub = source_dir / "harmonized"
    return sub if sub.is_dir() else source_dir


def _needed_files() -> list[str]:
    """Harmonized files (names) and, as ``../raw/…`` and ``../geo/…``, the other files of shared/data read."""
    names = {f for specs in TOPICS.values() for f, _, _ in specs} | set(KEYED_HARMONIZED) | {OD_SPEC[0]}
    others = {f"../{name}" for name in RAW_FILES}
    return sorted(names - others) + sorted(others)


def _read_harmonized(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    frame = read_csv_text(path, "harmonized file", "a harmonized CSV with columns " + ", ".join(columns))
    require_columns(path, frame, columns)
    return frame


def _origin_text(source: str) -> str:
    """The raw-file part of a harmonized source string (parenthetical notes dropped)."""
    text = source.strip()
    if text.startswith("page:"):
        tag = _PAGE_TAG_RE.search(text)
        url = text.split()[1]
        return f"raw/web_pages/page_excerpts_rd_tax.md [{tag.group(1)}] ({url})" if tag else text
    # raw paths contain no " (": the notes start there
    return text.split(" (", 1)[0]


def _table_ids(series: str, source: str, where: Path) -> list[str]:
    if series in SERIES_TABLES:
        return [SERIES_TABLES[series]]
    if source.startswith("page:") or "page https://" in source or "page http://" in source:
        tags = _PAGE_TAG_RE.findall(source) or re.findall(r"\[([TP]\d+)\]", source)
        return [f"page excerpts [{t}]" for t in tags] or ["page excerpts"]
    gi = _KOSTAT_GI_RE.search(source)
    if gi:
        ids = _DT_RE.findall(source) or [KOSTAT_GI_TABLES.get(gi.group(1), "")]
        return [f"KOSTAT-GI {gi.group(1)} ({i})" if i else f"KOSTAT-GI {gi.group(1)}" for i in ids]
    ids = _DT_RE.findall(source)
    if ids:
        return list(dict.fromkeys(ids))
    for start, ident in NON_KOSIS_IDS.items():
        if start in source:
            return [ident]
    raise InvalidValueError(where, "source", source, "a source naming a KOSIS table (DT_…) or a known non-KOSIS source")


def _years_text(years: Iterable[int]) -> str:
    ys = sorted(set(int(y) for y in years))
    runs: list[str] = []
    start = prev = ys[0]
    for y in ys[1:] + [None]:
        if y is not None and y == prev + 1:
            prev = y
            continue
        runs.append(str(start) if start == prev else f"{start}–{prev}")
        if y is not None:
            start = prev = y
    return ", ".join(runs)


def _source_row(series: str, rows: pd.DataFrame, topic_file: str, where: Path) -> dict[str, str]:
    """One sources.csv row from the harmonized rows of a series."""
    units = sorted(set(rows["unit"]))
    if len(units) != 1:
        raise InvalidValueError(where, "unit", " | ".join(units), f"one unit per series ({series})")
    tables: dict[str, set[int]] = {}
    origins: dict[str, tuple[set[int], set[str]]] = {}
    region_col = "region_code" if "region_code" in rows else None
    for source, grp in rows.groupby("source", sort=False):
        years = set(grp["year"].astype(int))
        for tid in _table_ids(series, source, where):
            tables.setdefault(tid, set()).update(years)
        o = _origin_text(source)
        ys, regs = origins.setdefault(o, (set(), set()))
        ys.update(years)
        regs.update(grp[region_col] if region_col else [])
    all_regions = set(rows[region_col]) if region_col else set()
    multi_t = len(tables) > 1
    ordered = sorted(tables.items(), key=lambda kv: (min(kv[1]), kv[0]))
    table_id = "; ".join(f"{t} ({_years_text(y)})" if multi_t else t for t, y in ordered)
    names = []
    for t, _ in ordered:
        dt = _DT_RE.search(t)
        if dt:
            names.append(TABLE_NAMES.get(dt.group(0), t))
        elif t.startswith("page excerpts"):
            names.append("quoted web pages (raw/web_pages/page_excerpts_rd_tax.md)")
        else:
            names.append(TABLE_NAMES.get(t, t))
    table_name = "; ".join(dict.fromkeys(names))
    parts = []
    for o, (ys, regs) in sorted(origins.items(), key=lambda kv: (min(kv[1][0]), kv[0])):
        scope = ""
        if regs and regs != all_regions and regs == {NATIONAL_CODE}:
            scope = " [national]"
        elif regs and regs != all_regions and NATIONAL_CODE not in regs and NATIONAL_CODE in all_regions:
            scope = " [regions]"
        parts.append(f"{_years_text(ys)}{scope}: {o}" if len(origins) > 1 else o)
    return {
        "series": series, "file": f"{OBSERVATIONS}/{topic_file}", "unit": units[0],
        "description": describe(series), "table_id": table_id, "table_name": table_name,
        "origin": "; ".join(parts),
    }


def _compile(hdir: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                  dict[str, pd.DataFrame]]:
    """Topic frames, the OD frame, the sources table, the breaks table and the keyed files."""
    cache: dict[str, pd.DataFrame] = {}

    def harmonized(name: str) -> pd.DataFrame:
        if name not in cache:
            cols = HARMONIZED_OD_COLUMNS if name == OD_SPEC[0] else HARMONIZED_COLUMNS
            cache[name] = _international_migration(hdir.parent) if name == INTL_FILE else _read_harmonized(hdir / name, cols)
        return cache[name]

    topics: dict[str, pd.DataFrame] = {}
    keyed, source_rows = _compile_keyed(hdir)
    for topic, specs in TOPICS.items():
        pieces = []
        for fname, patterns, years in specs:
            h = harmonized(fname)
            pick = h["variable"].map(lambda v: any(fnmatch.fnmatchcase(v, p) for p in patterns))
            sel = h[pick]
            if years is not None:
                sel = sel[years(sel["year"].astype(int))]
            missing = [p for p in patterns if not sel["variable"].map(lambda v: fnmatch.fnmatchcase(v, p)).any()]
            if missing:
                raise MissingValueError(hdir / fname, "variable", f"no rows for {missing[0]!r}")
            pieces.append(sel)
            for series, rows in sel.groupby("variable", sort=True):
                source_rows.append(_source_row(series, rows, f"{topic}.csv", hdir / fname))
        sel = pd.concat(pieces, ignore_index=True)
        out = pd.DataFrame({"series": sel["variable"], "region_code": sel["region_code"],
                            "year": sel["year"], "value": sel["value"], "unit": sel["unit"]})
        out["_y"] = out["year"].astype(int)
        out = out.sort_values(["series", "region_code", "_y"], kind="stable").drop(columns="_y")
        topics[topic] = out.reset_index(drop=True)

    fname, first = OD_SPEC
    h = harmonized(fname)
    h = h[h["year"].astype(int) >= first]
    od = pd.DataFrame({"year": h["year"], "origin_code": h["origin_code"], "dest_code": h["dest_code"],
                       "value": h["migrants"], "unit": h["unit"]})
    od["_y"] = od["year"].astype(int)
    od = od.sort_values(["_y", "origin_code", "dest_code"], kind="stable").drop(columns="_y").reset_index(drop=True)
    source_rows.append(_source_row(OD_SERIES, h.rename(columns={"migrants": "value"}).assign(
        region_code=h["origin_code"]), OD_FILE, hdir / fname))

    sources = pd.DataFrame(source_rows, columns=list(SOURCE_COLUMNS)).sort_values("series", kind="stable")
    breaks = pd.concat([_make_breaks(topics, od), _municipal_breaks(topics, keyed["municipal_population.csv"])],
                       ignore_index=True)
    return topics, od, sources.reset_index(drop=True), breaks, keyed


# ---------------------------------------------------------------------------
# Keyed files, text tables and boundaries (layouts in schema.KEYED_FILES, TEXT_FILES)
# ---------------------------------------------------------------------------


def _age_start(label: str) -> int:
    """The first year of an age label (``"05_09"``, ``"110p"``, ``"85"``) [year]."""
    return int(re.match(r"\d+", label).group(0))


def _sort(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by ``columns``: sexes in the order of SEXES, ages by their first year, the rest as text."""
    def key(col: pd.Series) -> pd.Series:
        if col.name == "sex":
            return col.map({s: i for i, s in enumerate(SEXES)})
        return col.map(_age_start) if col.name in ("age", "age_group") else col
    return frame.sort_values(list(columns), key=key, kind="stable")


def _keyed(series: str, frame: pd.DataFrame, keys: Sequence[str], unit: str) -> pd.DataFrame:
    """Cells of one series in the column order of a keyed layout (region_code, year, keys, value, source)."""
    out = frame.assign(series=series, unit=unit)
    return out[["series", "region_code", "year", *keys, "value", "unit", "source"]]


def _mortality(hdir: Path) -> list[pd.DataFrame]:
    path = hdir / "mortality_national.csv"
    h = _read_harmonized(path, KEYED_HARMONIZED["mortality_national.csv"])
    is_open = h["open_interval"].eq("True")
    top = str(h["age"].astype(int).max())
    if not (h.loc[is_open, "age"].eq(top).all() and h.loc[h["age"].eq(top), "open_interval"].eq("True").all()):
        raise InvalidValueError(path, "open_interval", "True below the top age", f"True exactly at age {top}")
    h = _sort(h.assign(region_code=NATIONAL_CODE, age=h["age"].where(~is_open, h["age"] + "p")), ["year", "sex", "age"])
    return [_keyed(series, h.assign(value=h[col], source=f"{raw} (Human Mortality Database)"), ("sex", "age"), unit)
            for series, (col, unit, raw) in HMD_SERIES.items()]


def _life_table(hdir: Path) -> list[pd.DataFrame]:
    h = _read_harmonized(hdir / "life_table_lx_national.csv", KEYED_HARMONIZED["life_table_lx_national.csv"])
    h = h[h["lx"].ne("")]  # ages beyond a year's table
    h = h.assign(region_code=NATIONAL_CODE, age=h["age_start"].str.replace(LX_OPEN_SUFFIX, "p", regex=False),
                 value=h["lx"])
    return [_keyed("life_table_lx", _sort(h, ["year", "sex", "age"]), ("sex", "age"), LX_UNIT)]


def _un_wpp(hdir: Path) -> list[pd.DataFrame]:
    h = _read_harmonized(hdir / "un_wpp2024_korea.csv", KEYED_HARMONIZED["un_wpp2024_korea.csv"])
    family = h["variable"].str.replace(r"_(male|female|both)$", "", regex=True)
    dataset = [WPP_DATASETS[f][0 if q == "estimate" else 1] for f, q in zip(family, h["quantile"])]
    h = h.assign(region_code=NATIONAL_CODE,
                 source=[f"raw/un_wpp2024/{d}_KOR.csv ({WPP_CITATION})" for d in dataset])
    return [_keyed(f"wpp_{v}", grp, ("quantile",), grp["unit"].iloc[0]) for v, grp in h.groupby("variable", sort=True)]


def _raw(data_dir: Path, name: str) -> pd.DataFrame:
    frame = _read_harmonized(data_dir / name, RAW_FILES[name])
    if "country_code" in frame and not frame["country_code"].eq(WPP_COUNTRY).all():
        raise InvalidValueError(data_dir / name, "country_code", sorted(set(frame["country_code"])), [WPP_COUNTRY])
    return frame


def _un_wpp_ages(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Net migrants by sex and age (wide over age) and the percentage ASFR by age group."""
    name = "raw/un_wpp2024/migprojAge1dt_KOR.csv"
    mig = _raw(data_dir, name)
    source = f"{name} ({WPP_CITATION})"
    long = pd.concat([mig.assign(sex=sex, value=mig[col]) for sex, col in (("male", "migM"), ("female", "migF"))])
    wide = long.pivot(index=["year", "sex"], columns="age", values="value")
    wide = _sort(wide[sorted(wide.columns, key=_age_start)].reset_index(), ["year", "sex"])
    wide.insert(0, "region_code", NATIONAL_CODE)
    wide.insert(0, "series", "wpp_net_migrants_by_age")
    wide["unit"] = "thousand persons"
    wide["source"] = source
    name = "raw/un_wpp2024/percentASFR5dt_KOR.csv"
    asfr = _raw(data_dir, name)
    asfr = asfr.assign(region_code=NATIONAL_CODE, age_group=asfr["age"].str.replace("-", "_"), value=asfr["pasfr"],
                       source=f"{name} ({WPP_CITATION})")
    return wide.rename_axis(columns=None).reset_index(drop=True), _keyed("wpp_percent_asfr", asfr, ("age_group",), "%")


def _international_migration(data_dir: Path) -> pd.DataFrame:
    """The press file's reported numbers as long series ``intl_<what>_<group>`` [thousand persons]."""
    name = INTL_FILE.removeprefix("../")
    raw = _raw(data_dir, name)
    rows = []
    for col, what in INTL_COLUMNS.items():
        part = raw[raw[col].str.strip().ne("")]
        derived = part["note"].str.contains(f"{what} derived", regex=False)
        source = [f"derived: arrivals − departures, {name}" if d else f"{name} ({url})"
                  for d, url in zip(derived, part["source_url"])]
        rows.append(pd.DataFrame({"variable": "intl_" + what + "_" + part["group"], "region_code": NATIONAL_CODE,
                                  "year": part["year"], "value": part[col], "unit": "thousand persons",
                                  "source": source}))
    return pd.concat(rows, ignore_index=True)


def _municipal(hdir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The municipalities table, designations, totals (long) and age structure (wide over age group)."""
    tot_path, age_path = hdir / "municipal_population.csv", hdir / "municipal_population_age.csv"
    tot = _read_harmonized(tot_path, KEYED_HARMONIZED["municipal_population.csv"])
    age = _read_harmonized(age_path, KEYED_HARMONIZED["municipal_population_age.csv"])
    names = tot[["sgg_code", "region_code", "sgg_name", "year", "unit", "source"]]
    for path, frame in ((tot_path, tot), (age_path, age)):
        both = frame.drop_duplicates(["sgg_code", "region_code", "sgg_name"])
        if both["sgg_code"].duplicated().any() or not set(both["sgg_code"]) <= set(names["sgg_code"]):
            raise InvalidValueError(path, "sgg_code", both.loc[both["sgg_code"].duplicated(), "sgg_code"].tolist(),
                                    "one region and name per 시군구 code, as in municipal_population.csv")
    table = names.drop_duplicates("sgg_code").sort_values("sgg_code", kind="stable")
    if not (age.drop_duplicates("sgg_code").set_index("sgg_code")["sgg_name"]
            == table.set_index("sgg_code")["sgg_name"].reindex(age["sgg_code"].unique())).all():
        raise InvalidValueError(age_path, "sgg_name", "a name differing from municipal_population.csv", "the same names")
    des = _read_harmonized(hdir / "municipal_designations.csv", KEYED_HARMONIZED["municipal_designations.csv"])
    des = des.sort_values("sgg_code", kind="stable").assign(year=des["designated"].str.slice(0, 4), unit="-")
    totals = _keyed("sgg_pop_registered", _sort(tot, ["region_code", "sgg_code", "year"]), ("sgg_code",),
                    tot["unit"].iloc[0])
    wide = age.pivot(index=["region_code", "year", "sgg_code", "sex"], columns="age_group", values="value")
    wide = _sort(wide[sorted(wide.columns, key=_age_start)].reset_index(), ["region_code", "sgg_code", "year", "sex"])
    wide.insert(0, "series", "sgg_pop_registered_by_age")
    wide["unit"] = age["unit"].iloc[0]
    wide["source"] = age["source"].iloc[0].replace("raw/kr_pop_atlas ", f"{MUNICIPAL_AGE_RAW} ", 1)
    return (table.assign(unit="-"), des, totals, wide.rename_axis(columns=None).reset_index(drop=True))


def _compile_keyed(hdir: Path) -> tuple[dict[str, pd.DataFrame], list[dict[str, str]]]:
    """Keyed files and text tables (file name -> frame as written) and their source rows."""
    data_dir = hdir.parent
    table, des, totals, by_age = _municipal(hdir)
    mig_age, asfr = _un_wpp_ages(data_dir)
    parts = {
        "mortality.csv": _mortality(hdir), "life_table.csv": _life_table(hdir), "un_wpp.csv": _un_wpp(hdir),
        "un_wpp_fertility_age.csv": [asfr], "un_wpp_migration_age.csv": [mig_age],
        "municipal_population.csv": [totals], "municipal_population_age.csv": [by_age],
    }
    files: dict[str, pd.DataFrame] = {}
    rows: list[dict[str, str]] = []
    for fname, frames in parts.items():
        for frame in frames:
            rows.append(_source_row(frame["series"].iloc[0], frame, fname, hdir / fname))
        files[fname] = pd.concat(frames, ignore_index=True).drop(columns="source")
    for fname, frame in (("municipalities.csv", table), ("municipal_designations.csv", des)):
        series, columns = TEXT_FILES[fname]
        rows.append(_source_row(series, frame.drop(columns="region_code"), fname, hdir / fname))
        files[fname] = frame[list(columns)].reset_index(drop=True)
    rows.append({"series": BOUNDARY_SERIES, "file": f"{OBSERVATIONS}/{BOUNDARY_FILE}",
                 "description": describe(BOUNDARY_SERIES), **BOUNDARY_SOURCE})
    return files, rows


def _value(topics: dict[str, pd.DataFrame], series: str, region: str, year: int) -> float:
    for frame in topics.values():
        hit = frame[(frame["series"] == series) & (frame["region_code"] == region) & (frame["year"] == str(year))]
        if len(hit):
            return float(hit["value"].iloc[0])
    raise InvalidValueError("harmonized data", "value", f"{series}/{region}/{year}", "a value present in the harmonized files")


def _fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _first_year(topics: dict[str, pd.DataFrame], series: str, region: str) -> int:
    for frame in topics.values():
        hit = frame[(frame["series"] == series) & (frame["region_code"] == region)]
        if len(hit):
            return int(hit["year"].astype(int).min())
    raise InvalidValueError("harmonized data", "series", f"{series}/{region}", "a series with rows for the region")


def _make_breaks(topics: dict[str, pd.DataFrame], od: pd.DataFrame) -> pd.DataFrame:
    """The break table. Numbers in descriptions are computed from the data (dates from PROVENANCE.md)."""
    v = lambda s, r, y: _value(topics, s, r, y)  # noqa: E731
    first = lambda s, r: _first_year(topics, s, r)  # noqa: E731
    od_first = lambda r: int(od.loc[(od["origin_code"] == r) | (od["dest_code"] == r), "year"].astype(int).min())  # noqa: E731
    n = NATIONAL_CODE
    regions = load_regions()
    rows: list[tuple] = []  # BREAK_COLUMNS; the last two only for boundary rows
    fa = (v("fiscal_autonomy_ratio", n, 2013), v("fiscal_autonomy_ratio", n, 2014))
    fi = (v("fiscal_independence_ratio", n, 2013), v("fiscal_independence_ratio", n, 2014))
    rows += [
        ("fiscal_autonomy_ratio", "*", 2014, "method",
         f"세입과목 개편 (reclassification of revenue items): national 재정자립도 {fa[0]:.1f} % (2013) → "
         f"{fa[1]:.1f} % (2014); pre-reform definition to 2013, post-reform from 2014 (no flag in the file)"),
        ("fiscal_independence_ratio", "*", 2014, "method",
         f"세입과목 개편 (reclassification of revenue items): national 재정자주도 {fi[0]:.1f} % (2013) → "
         f"{fi[1]:.1f} % (2014); pre-reform definition to 2013, post-reform from 2014"),
    ]
    p09, p10 = v("pop_registered", n, 2009), v("pop_registered", n, 2010)
    rows.append(("pop_registered*", "*", 2010, "registration",
                 f"From 2010-01 people registered as whereabouts-unknown (거주불명) are included: national "
                 f"{_fmt(p09)} (2009) → {_fmt(p10)} (2010), a level break"))
    for code in NEW_REGIONS:
        name = region_name(code)
        began = int(regions.loc[code, "began"])
        mothers = [c for c in regions.loc[code, "split_from"].split(";") if c]
        mnames = " and ".join(f"{region_name(m)} ({m})" for m in mothers)
        if code == "29":
            cn11, cn12 = v("pop_registered", "34", began - 1), v("pop_registered", "34", began)
            extra = (f"; created 2012-07 from Yeongi-gun (Chungnam) and parts of Gongju and Cheongwon (Chungbuk); "
                     f"Chungnam registered population {_fmt(cn11)} ({began - 1}) → {_fmt(cn12)} ({began}); "
                     f"first year in the data: OD flows {od_first(code)} (reconstructed back to January), "
                     f"fiscal_autonomy_ratio {first('fiscal_autonomy_ratio', code)}, "
                     f"grdp_nominal {first('grdp_nominal', code)}, census {first('pop_census_total_sum_of_ages', code)}; "
                     f"earlier data count it in the mother provinces")
        else:
            extra = (f"; earlier data count it in Gyeongnam; first year in the data: pop_registered "
                     f"{first('pop_registered', code)}, OD flows {od_first(code)}, grdp_nominal "
                     f"{first('grdp_nominal', code)} (topic file starts 1995), census {first('pop_census_total_sum_of_ages', code)}")
        desc = f"{name} ({code}) became a separate 시도 in {began}, carved from {mnames}{extra}"
        for c in (code, *mothers):
            rows.append(("*", c, began, "boundary", desc, ";".join(mothers), code))
    for what, origin, dest, date, year in MOVES:
        d, o = (v("pop_registered", dest, year - 1), v("pop_registered", dest, year)), \
            (v("pop_registered", origin, year - 1), v("pop_registered", origin, year))
        desc = (f"{what} moved from {region_name(origin)} ({origin}) to {region_name(dest)} ({dest}) on {date}, "
                f"not back-cast: registered population {region_name(dest)} {_fmt(d[0])} → {_fmt(d[1])}, "
                f"{region_name(origin)} {_fmt(o[0])} → {_fmt(o[1])} ({year - 1} → {year})")
        rows += [("*", dest, year, "boundary", desc, origin, dest), ("*", origin, year, "boundary", desc, origin, dest)]
    g22 = v("grdp_nominal", n, 2022) * 1e6  # million KRW -> KRW
    pc22 = v("grdp_per_capita_nominal", n, 2022) * 1e3  # thousand KRW -> KRW
    ratio = g22 / (pc22 * v("pop_registered", n, 2022))
    vint = (f"2020-base vintage of KOSIS DT_1C81 (real = chained volume, reference year 2020); levels are above "
            f"older vintages: national nominal total ÷ grdp_per_capita_nominal ÷ registered population = "
            f"{ratio:.3f} in 2022; do not mix with grdp_per_capita_nominal or published ratios without rebasing")
    for s in ("grdp_nominal", "grdp_real_chained_2020", "gva_nominal_*", "net_taxes_on_products_nominal"):
        rows.append((s, "*", 2020, "base_vintage", vint))
    rows.append(("grdp_per_capita_nominal", "*", 2020, "base_vintage",
                 f"Older DT_1C86 vintage: not consistent with the 2020-base DT_1C81 totals "
                 f"(total ÷ per capita ÷ registered population = {ratio:.3f} nationally in 2022)"))
    rows.append(("grdp_nominal", "*", 2023, "preliminary",
                 "2023 column of DT_1C81 is most likely preliminary (downloaded mid-2025, no 'p' flag)"))
    rows.append(("grdp_real_chained_2020", "*", 2023, "preliminary",
                 "2023 column of DT_1C81 is most likely preliminary (downloaded mid-2025, no 'p' flag)"))
    for y in (2023, 2024):
        rows.append(("grdp_real_chained", "*", y, "preliminary",
                     "Provisional (잠정) in the KOSTAT 2025 Q1 regional-economy release"))
    for s in ("deaths", "natural_increase", "cbr", "cdr"):
        rows.append((s, "*", 2022, "preliminary",
                     "2022 from DT_1B8000H downloaded 2023-06-16: preliminary (births, TFR and marriages 2022 "
                     "come from later final tables)"))
    mar = topics["vital"][topics["vital"]["series"] == "marriages"].assign(value=lambda f: f["value"].astype(float),
                                                                         year=lambda f: f["year"].astype(int))
    nat = mar[mar["region_code"] == n].set_index("year")["value"]
    gap = (nat - mar[mar["region_code"] != n].groupby("year")["value"].sum()).dropna()
    switch = int(gap[gap != 0].index.min())
    rows.append(("marriages", n, switch, "definition",
                 f"National total: {int(gap.index.min())}–{switch - 1} the sum of provinces (abroad row excluded); from "
                 f"{switch} the published DT_1B83A03 total, which includes marriages reported abroad (국외 row of "
                 f"DT_1B8000H): national − sum of provinces = {_fmt(gap[switch])} ({switch}) … "
                 f"{_fmt(gap[gap.index.max()])} ({int(gap.index.max())})"))
    rows += [
        ("local_tax_revenue_provincial_govt", "*", 2014, "method",
         "지방소득세 became an independent local tax (2014 reform) [T8]"),
        ("local_tax_revenue_provincial_govt", "*", 2020, "method",
         "지방소비세 rate raised from 15 % to 21 % (2020) [T8]"),
        ("univ_institutions", "*", 2018, "definition", "Institution counts include branch campuses from 2018"),
        ("gradschool_institutions", "*", 2018, "definition", "Institution counts include branch campuses from 2018"),
        ("univ_students_enrolled", "*", 2021, "definition", "Enrolment includes students deferring graduation from 2021"),
        ("gradschool_students_enrolled", "*", 2021, "definition",
         "Enrolment includes students deferring graduation from 2021"),
    ]
    c10 = topics["census_age"]
    def census_total(y: int) -> float:
        sel = c10[(c10["series"] == "pop_census_total_sum_of_ages") & (c10["year"] == str(y))]
        return float(sel["value"].astype(float).sum())
    rows.append(("pop_census*", "*", 2015, "definition",
                 f"Register-based census (DT_1IN1503) from 2015 includes foreigners; 1975–2010 censuses "
                 f"(DT_1IN0001_ENG) exclude them: sum of regions {_fmt(census_total(2010))} (2010) → "
                 f"{_fmt(census_total(2015))} (2015); open age group 85+ to 2010, 100+ from 2015"))
    out = pd.DataFrame([r if len(r) == len(BREAK_COLUMNS) else (*r, "", "") for r in rows], columns=list(BREAK_COLUMNS))
    out["year"] = out["year"].astype(str)
    return out


def _municipal_breaks(topics: dict[str, pd.DataFrame], totals: pd.DataFrame) -> pd.DataFrame:
    """A ``definition`` row for the municipal series: they are on current boundaries, the
    regional series on each year's (the Gunwi move of :data:`MOVES`); the gaps quoted are computed."""
    rows = []
    sums = totals.assign(v=totals["value"].astype(float)).groupby(["region_code", "year"])["v"].sum()
    for what, origin, dest, date, year in MOVES:
        gaps = {int(y): sums[(dest, y)] - _value(topics, "pop_registered", dest, int(y))
                for y in sorted(set(totals["year"])) if int(y) < year}
        first, last = min(gaps), max(gaps)
        rows.append(("sgg_pop_registered*", "*", year, "definition",
                     f"The municipal files are on current boundaries: {what} is in {region_name(dest)} ({dest}) in "
                     f"every year, while pop_registered reports each year on its own boundaries ({what} moved from "
                     f"{region_name(origin)} ({origin}) on {date}); before {year} {region_name(dest)}'s municipal sum "
                     f"exceeds pop_registered by {_fmt(gaps[first])} ({first}) … {_fmt(gaps[last])} ({last}), and "
                     f"{region_name(origin)}'s falls short by as much", "", ""))
    return pd.DataFrame(rows, columns=list(BREAK_COLUMNS)).astype({"year": str})


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def build(source_dir: Path | str, dest_dir: Path | str) -> list[Path]:
    """Compile the harmonized files into the observation set.

    source_dir : Path  ``shared/data`` or its ``harmonized/`` subfolder
    dest_dir : Path  the calibration folder (``observations/``, ``sources.csv``, ``breaks.csv``)

    Besides the harmonized files it reads the raw files of ``schema.RAW_FILES`` and copies
    the 시군구 boundary file from ``shared/data/geo`` byte for byte. The set is written to a
    temporary folder, validated with
    :func:`~kbalance.observations.keyed.read_observation_table` (each file by its layout) and
    :func:`~kbalance.observations.load.load_breaks`, and swapped in with
    :func:`kbalance.outputs.replace_entries`: a failure leaves ``dest_dir`` untouched,
    and its other files (parameters, fitted sets) are never touched. Returns the
    written files. Raises :class:`MissingFileError` naming a missing harmonized file.
    """
    hdir = harmonized_dir(source_dir)
    for name in _needed_files():
        if not (hdir / name).is_file():
            if name.startswith("../"):
                raise MissingFileError(hdir.parent / name[3:], "shared/data file", f"{name[3:]} in {hdir.parent}")
            raise MissingFileError(hdir / name, "harmonized file", f"{name} in {hdir} (shared/data/harmonized)")
    topics, od, sources, breaks, keyed = _compile(hdir)
    frames = {**{f"{topic}.csv": frame for topic, frame in topics.items()}, OD_FILE: od, **keyed}
    boundary = f"{OBSERVATIONS}/{BOUNDARY_FILE}"
    rel = [*(f"{OBSERVATIONS}/{name}" for name in frames), boundary]

    def write(tmp: Path) -> None:
        for name, frame in frames.items():
            _write_csv(frame, tmp / OBSERVATIONS / name)
        shutil.copyfile(hdir.parent / "geo" / BOUNDARY_FILE, tmp / boundary)
        _write_csv(sources, tmp / "sources.csv")
        _write_csv(breaks, tmp / "breaks.csv")
        for r in rel:
            read_observation_table(tmp / r, tmp / "sources.csv")
        listed = set(sources["file"])
        if listed != set(rel):
            raise InvalidValueError(tmp / "sources.csv", "file", sorted(listed), "the files written by build")
        load_breaks(tmp)

    dest = Path(dest_dir)
    replace_entries(dest, OBSERVATION_SET, write)
    clear_cache()
    return [dest / r for r in (*rel, "sources.csv", "breaks.csv")]
