"""Identities of the keyed files: national mortality, life table, UN WPP 2024 and the
municipal (시군구) population, checked against each other and against the long series.

:func:`keyed_checks` returns ``(name, passed, detail)`` for every check that applies to
the files present; :func:`kbalance.observations.check.check` adds them to its report.
Tolerances are stated in the details.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kbalance.observations.keyed import (
    life_table_lx, municipal_age_structure, municipal_designations, municipal_population, municipalities,
    national_mortality, sgg_boundaries, un_wpp, un_wpp_fertility_pattern, un_wpp_migration_by_age,
)
from kbalance.observations.load import age_structure, boundary_changes, calibration_root, load_series, series_table
from kbalance.observations.schema import BOUNDARY_SERIES
from kbalance.regions import NATIONAL_CODE

Check = tuple[str, bool, str]

#: |Σ HMD deaths − national deaths| allowed per year [persons]: HMD deaths carry decimals.
DEATHS_TOLERANCE = 0.5
#: |Σ UN WPP net migrants by age − net migration| allowed per year [thousand persons]: rounding of the ages.
WPP_MIGRATION_TOLERANCE = 0.05
#: |Σ percentage ASFR − 100| allowed per period [%].
ASFR_TOLERANCE = 1e-9
#: The radix of the life table [persons].
LX_RADIX = 100_000.0


def _gap_text(gap: pd.Series) -> str:
    if gap.empty:
        return "no cells"
    if gap.abs().max() == 0:
        return f"{len(gap)} cells; max |gap| 0"
    at = gap.abs().idxmax()
    where = "/".join(str(k) for k in (at if isinstance(at, tuple) else (at,)))
    return f"{len(gap)} cells; max |gap| {gap.abs().max():g} at {where}"


def _years(index: pd.Index) -> str:
    years = sorted(set(index.get_level_values("year")))
    return f"{years[0]}–{years[-1]}" if years else "none"


def mortality_checks(root: Path) -> list[Check]:
    """HMD deaths by sex and age sum to the national ``deaths`` series (within
    :data:`DEATHS_TOLERANCE`); deaths and exposure cover the same cells and are non-negative."""
    deaths, exposure = national_mortality("deaths", root), national_mortality("exposure", root)
    summed = deaths.sum(["sex", "age"], min_count=1).to_series()
    vital = load_series("deaths", root).query("region_code == @NATIONAL_CODE").set_index("year")["value"]
    gap = (summed - vital).dropna()
    same = bool((deaths.isnull() == exposure.isnull()).all())
    non_negative = bool((deaths.fillna(0) >= 0).all() and (exposure.fillna(0) >= 0).all())
    return [
        ("HMD deaths by sex and age sum to national deaths", bool(len(gap) and (gap.abs() <= DEATHS_TOLERANCE).all()),
         f"{_gap_text(gap)} (years {gap.index.min()}–{gap.index.max()}); tolerance {DEATHS_TOLERANCE:g} persons per year"),
        ("HMD deaths and exposure: same cells, non-negative", same and non_negative,
         f"{int(deaths.notnull().sum())} cells; same cells {same}; non-negative {non_negative}"),
    ]


def life_table_checks(root: Path) -> list[Check]:
    """lx(0) is the radix and lx never rises with age."""
    lx = life_table_lx(root)
    radix = lx.sel(age=0)
    steps = lx.diff("age")  # NaN across ages a table lacks
    rises = int((steps > 0).sum())
    return [
        ("life table: lx(0) = 100000", bool((radix == LX_RADIX).all()), f"{int(radix.count())} tables"),
        ("life table: lx does not rise with age", rises == 0, f"{int(steps.count())} steps; {rises} rises"),
    ]


def wpp_checks(root: Path) -> list[Check]:
    """Projection quantiles in order, the TFR variants around the median, net migrants by age
    summing to net migration, the percentage ASFR summing to 100."""
    table = un_wpp(root)
    wide = table.pivot_table(index=["variable", "year"], columns="quantile", values="value")
    proj = wide.dropna(subset=["median"])
    ordered = ((proj["p2.5"] <= proj["p10"]) & (proj["p10"] <= proj["median"]) & (proj["median"] <= proj["p90"])
               & (proj["p90"] <= proj["p97.5"]))
    variants = proj.dropna(subset=["low_variant"])
    around = (variants["low_variant"] <= variants["median"]) & (variants["median"] <= variants["high_variant"])
    mig = wide.loc["net_international_migration"]
    total = mig["median"].fillna(mig["estimate"])
    by_age = un_wpp_migration_by_age(root).sum(["sex", "age"]).to_series()
    mgap = (by_age - total).dropna()
    asfr = un_wpp_fertility_pattern(root).sum("age_group").to_series() - 100.0
    return [
        ("UN WPP: p2.5 ≤ p10 ≤ median ≤ p90 ≤ p97.5", bool(len(ordered) and ordered.all()),
         f"{len(ordered)} variable-years; {int((~ordered).sum())} out of order"),
        ("UN WPP: TFR low variant ≤ median ≤ high variant", bool(len(around) and around.all()),
         f"{len(around)} years; {int((~around).sum())} out of order"),
        ("UN WPP: net migrants by sex and age sum to net migration", bool(len(mgap) and
                                                                            (mgap.abs() <= WPP_MIGRATION_TOLERANCE).all()),
         f"{_gap_text(mgap)}; the estimate in {mgap.index.min()}, the median after; tolerance "
         f"{WPP_MIGRATION_TOLERANCE:g} thousand per year"),
        ("UN WPP: percentage ASFR sums to 100", bool(len(asfr) and (asfr.abs() <= ASFR_TOLERANCE).all()),
         f"{_gap_text(asfr)}; tolerance {ASFR_TOLERANCE:g} %"),
    ]


def _shifted(changes, region: str, year: int) -> bool:
    """Whether a region-year is before a boundary change involving the region (the municipal
    files are on current boundaries)."""
    return any(year < c.year and region in (c.dest, *c.origins) for c in changes)


def municipal_checks(root: Path) -> list[Check]:
    """Municipal codes, ages against totals, totals and age groups against the regional series."""
    table = municipalities(root)
    designations = municipal_designations(root)
    totals = municipal_population(root)
    ages = municipal_age_structure(root)
    changes = boundary_changes(root)
    out: list[Check] = []

    listed = table["region_code"]
    region_of = {"totals": pd.Series(totals["region"].values, totals["sgg_code"].values),
                 "age groups": pd.Series(ages["region"].values, ages["sgg_code"].values),
                 "designations": designations.set_index("sgg_code")["region_code"]}
    wrong = {what: sorted(set(codes.index) - set(listed.index)) + sorted(
        c for c in codes.index if c in listed.index and codes[c] != listed[c]) for what, codes in region_of.items()}
    out.append(("municipal codes: every file's codes and regions are those of municipalities.csv",
                not any(wrong.values()), "; ".join(f"{k}: {', '.join(v) or 'ok'}" for k, v in wrong.items())
                + f"; {len(table)} municipalities"))

    complete = ages.notnull().all(["sex", "age_group"])
    by_age = ages.sum(["sex", "age_group"]).where(complete).to_series().dropna()
    gap = (by_age - totals.to_series().reindex(by_age.index)).dropna()
    missing = list(totals.to_series().dropna().index.difference(by_age.index))
    out.append(("municipal age groups sum to the municipal totals", bool(len(gap) and (gap == 0).all()),
                f"{_gap_text(gap)}; tolerance 0; no age vector: {_runs(missing)}"))

    pop = load_series("pop_registered", root).set_index(["region_code", "year"])["value"]
    summed = totals.to_series().dropna().groupby([totals["region"].to_series(), "year"]).sum()
    summed.index.names = ["region_code", "year"]
    gap = (summed - pop).dropna()
    moved = pd.Series([_shifted(changes, r, y) for r, y in gap.index], index=gap.index, dtype=bool)
    cancel = gap[moved].groupby(level="year").sum()
    national = (summed.groupby(level="year").sum() - pop.xs(NATIONAL_CODE, level="region_code")).dropna()
    out.append(("municipal totals sum to pop_registered by region", bool(len(gap) and (gap[~moved] == 0).all()
                                                                         and (cancel == 0).all()),
                f"{_gap_text(gap[~moved])} ({_years(gap.index)}), tolerance 0; before a boundary change of breaks.csv "
                f"(municipal files on current boundaries) the gaps of the regions involved cancel: "
                f"{', '.join(sorted(set(gap[moved].index.get_level_values(0)))) or 'none'} in "
                f"{_years(gap[moved].index) if moved.any() else 'no year'}, max |sum| "
                f"{cancel.abs().max() if len(cancel) else 0:g}"))
    out.append(("municipal totals sum to national pop_registered", bool(len(national) and (national == 0).all()),
                f"{_gap_text(national)}; tolerance 0"))

    regional = age_structure("pop_registered", root).sel(sex=["male", "female"]).to_series().dropna()
    regional.index.names = ["region_code", "year", "sex", "age_group"]
    cells = ages.to_series().dropna()
    region = pd.Series(ages["region"].values, ages["sgg_code"].values)
    summed = cells.groupby([region[cells.index.get_level_values("sgg_code")].to_numpy(),
                            cells.index.get_level_values("year"), cells.index.get_level_values("sex"),
                            cells.index.get_level_values("age_group")]).sum()
    summed.index.names = regional.index.names
    whole = complete.groupby("region").all().to_series()  # every municipality of the region has its ages
    whole.index.names = ["region_code", "year"]
    pairs = sorted({(r, int(y)) for r, y in whole.index} & set(regional.index.droplevel(["sex", "age_group"])))
    kept = [(r, y) for r, y in pairs if whole[(r, y)] and not _shifted(changes, r, y)]
    both = pd.concat([summed.rename("municipal"), regional.rename("regional")], axis=1, join="inner")
    both = both[[key in set(kept) for key in zip(both.index.get_level_values(0), both.index.get_level_values(1))]]
    gap = both["municipal"] - both["regional"]
    out.append(("municipal age groups sum to pop_registered by region, sex and age group",
                bool(len(kept) and len(gap) and (gap == 0).all()),
                f"{len(kept)} region-years ({_years(pd.MultiIndex.from_tuples(kept, names=['region_code', 'year']))}); "
                f"{_gap_text(gap)}; tolerance 0; left out (a municipality without an age vector, or before a "
                f"boundary change): {_runs(sorted(set(pairs) - set(kept)))}"))

    if BOUNDARY_SERIES in series_table(root).index:
        shapes = sgg_boundaries(root)
        extra, lacking = sorted(set(shapes["sgg_cd"]) - set(table.index)), sorted(set(table.index) - set(shapes["sgg_cd"]))
        dups = sorted(shapes.loc[shapes["sgg_cd"].duplicated(), "sgg_cd"])
        out.append(("boundary file: one polygon per municipality, same codes", not (extra or lacking or dups),
                    f"{len(shapes)} features; not in municipalities.csv: {', '.join(extra) or 'none'}; without a "
                    f"polygon: {', '.join(lacking) or 'none'}; repeated: {', '.join(dups) or 'none'}"))
    return out


def _runs(pairs: list[tuple[str, int]]) -> str:
    """``22 2015–2022, 23 2015–2017`` from (code, year) pairs."""
    by_region: dict[str, list[int]] = {}
    for region, year in pairs:
        by_region.setdefault(region, []).append(int(year))
    parts = [f"{r} {min(ys)}–{max(ys)}" if len(ys) == max(ys) - min(ys) + 1 else f"{r} {sorted(ys)}"
             for r, ys in sorted(by_region.items())]
    return ", ".join(parts) or "none"


#: The checks, each with the series it needs.
CHECKS = (
    (("hmd_deaths", "hmd_exposure", "deaths"), mortality_checks),
    (("life_table_lx",), life_table_checks),
    (("wpp_tfr", "wpp_net_international_migration", "wpp_net_migrants_by_age", "wpp_percent_asfr"), wpp_checks),
    (("municipalities", "municipal_designations", "sgg_pop_registered", "sgg_pop_registered_by_age",
      "pop_registered"), municipal_checks),
)


def keyed_checks(root: Path | str | None = None) -> list[Check]:
    """Every check of this module whose series are listed in ``sources.csv``."""
    r = calibration_root(root)
    listed = set(series_table(r).index)
    return [result for needs, run in CHECKS if set(needs) <= listed for result in run(r)]
