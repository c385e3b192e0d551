"""Compile the model's input tables (model/inputs/*.csv) from the observation set.

The model file reads these tables with GET DIRECT CONSTANTS / DATA / LOOKUPS, so
it runs in PySD (and opens in Vensim) without Python. Every number here is
computed from calibration/observations, model/regions.csv or model/levers.toml;
nothing is typed in. Time convention (see model/kbalance.mdl): Time is the
calendar year, stocks are 1 January values, so the registered population at the
end of year ``y`` is the model stock at Time ``y + 1``. model/levers.toml is read and
checked here (:func:`read_levers`), its references against docs/references.md
(:func:`reference_keys`, :func:`cited_keys`).

Estimation choices, each documented where it is made:

- single years of age 0–99 and the open group 100+ are obtained from 5-year census
  groups by the monotone (PCHIP) spline of the cumulative count
  (:func:`kbalance.demography.ages.split_five_year`: group totals kept, no negative
  count); a census whose open group is 85+ (2000) has it split into 85–89 … 100+ by the
  old-age structure of the HMD exposure (:func:`kbalance.model.mortality.old_age_shares`);
- national mortality is a Li–Lee fit of the HMD rates, extended by the observed national deaths
  (:mod:`kbalance.model.mortality`), regional mortality at the jump-off the level observed
  on the registered population (:mod:`kbalance.model.regional_mortality`);
- the balancing residual ("other change") of year ``y`` is
  ``P[y] - P[y-1] - births[y] + deaths[y] - net internal migration[y] - transfers[y]``;
- boundary transfers (the ``boundary`` rows of calibration/breaks.csv) are the
  residual of the year of the change where a new region is created (Sejong 2012), or,
  where part of a region moves and deaths of that year are not yet observed (Gunwi
  2023), the change of ``P - P_prev - births - net migration`` against the year before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.demography.ages import FIVE_YEAR_GROUPS, split_five_year
from kbalance.errors import InvalidValueError, MissingFileError, MissingKeyError, keys_of, number_in, range_of, table_of
from kbalance.model.economy_inputs import economy_tables, national_labour_productivity
from kbalance.model.fiscal_inputs import fiscal_tables
from kbalance.model.indicators import read_indicators
from kbalance.model.mortality import OPEN_AGE, fit_national_mortality, mortality_tables, observed_index, old_age_shares
from kbalance.model.regional_mortality import jump_off_mortality_ratio
from kbalance.model.population import international_migration_profile, jump_off_population, latest_age_year, residual_intensity
from kbalance.model.variants import last_national_tfr_year, regional_tfr_ratio, variant_tables
from kbalance.observations.load import (BoundaryChange, age_structure, births_by_mother_age, boundary_changes,
                                        load_series, wide_series)
from kbalance.outputs import replace_entries
from kbalance.paths import model_dir, project_root, read_toml
from kbalance.regions import NATIONAL_CODE, distance_km, load_regions, names, region_codes

#: Single ages of the model, 0..99 and the open group 100+ (:data:`OPEN_AGE`).
AGES = [f"A{a}" for a in range(OPEN_AGE + 1)]
#: Model start: 1 January 2001, the registered population at the end of 2000.
START_YEAR = 2001
#: Years whose balancing residual sets the regional key of international migration (and the
#: usual residual of a boundary change's origins): after the 2010 registration change and the
#: 2012 Sejong transfer, before 2020.
OTHER_CHANGE_RATE_YEARS = range(2013, 2020)
#: Years whose age-specific fertility shapes the late fertility schedule (women by age
#: from resident registration) ...
FERTILITY_SCHEDULE_YEARS = range(2019, 2024)
#: ... and the early one (births around the 2005 census, women by age from that census).
EARLY_FERTILITY_YEARS = range(2004, 2007)
EARLY_FERTILITY_CENSUS = 2005


@dataclass(frozen=True)
class Observations:
    """Region × year tables used to build inputs (rows: years, columns: region codes) and
    the boundary changes of calibration/breaks.csv."""

    population: pd.DataFrame
    births: pd.DataFrame
    deaths: pd.DataFrame
    net_migration: pd.DataFrame
    boundary_changes: tuple[BoundaryChange, ...]


def observations(root: Path | None = None) -> Observations:
    """Registered population, births, deaths and net migration by year × region, and the
    boundary changes."""
    return Observations(
        population=wide_series("pop_registered", root),
        births=wide_series("births", root),
        deaths=wide_series("deaths", root),
        net_migration=wide_series("migrants_net_interprovincial", root),
        boundary_changes=tuple(boundary_changes(root)),
    )


# ---------------------------------------------------------------------------
# Population
# ---------------------------------------------------------------------------


def census_groups(census: xr.DataArray, year: int, sex: str, root: Path | None = None) -> pd.DataFrame:
    """A census's population by region × 5-year group 00_04 … 95_99, 100p [persons].

    census : DataArray  census population by (region, year, sex, age_group) [persons]
    A census whose open group is 85+ has it split by :func:`old_age_shares`; any other
    open group raises InvalidValueError. Regions absent from the census get NaN.
    """
    cut = census.sel(year=year, sex=sex)
    codes = region_codes()
    present = [g for g in cut.age_group.values if not np.isnan(cut.sel(age_group=g).values).all()]
    table = pd.DataFrame({g: cut.sel(age_group=g).to_series().reindex(codes) for g in present})
    opened = [g for g in present if g.endswith("p")]
    if opened == ["85p"]:
        shares = old_age_shares(root).loc[sex]
        for g, share in shares.items():
            table[g] = table["85p"] * share
        table = table.drop(columns="85p")
    elif opened != ["100p"]:
        raise InvalidValueError("calibration/observations/census_age.csv", "age_group", ";".join(opened),
                                f"one open group, 85p or 100p, in {year}")
    return table.reindex(columns=list(FIVE_YEAR_GROUPS))


def census_single_age_shares(census: xr.DataArray, year: int, sex: str, root: Path | None = None) -> pd.DataFrame:
    """Share of each single age in a region's population at a census.

    census : DataArray  census population by (region, year, sex, age_group) [persons]
    Returns a region × age table (ages A0..A100, A100 the open group) of shares summing
    to 1 per region: the groups of :func:`census_groups` split to single ages by
    :func:`kbalance.demography.ages.split_five_year`. Regions absent from the census get NaN.
    """
    groups = census_groups(census, year, sex, root)
    present = groups.notna().all(axis=1)
    single = pd.DataFrame(np.nan, index=groups.index, columns=AGES)
    single.loc[present] = split_five_year(groups.loc[present].to_numpy())
    total = single.sum(axis=1)
    return single.div(total.where(total > 0), axis=0)


def initial_population(root: Path | None = None) -> dict[str, pd.DataFrame]:
    """Population by region × single age on 1 January of :data:`START_YEAR` [persons].

    Registered population by sex at the end of ``START_YEAR - 1`` (DT_1B040A3) times the
    single-age shares of that year's census (DT_1IN0001). Regions that did not exist
    yet (Sejong) are 0.
    """
    census = age_structure("pop_census", root)
    year = START_YEAR - 1
    out = {}
    for sex in ("male", "female"):
        registered = wide_series(f"pop_registered_{sex}", root).loc[year]
        shares = census_single_age_shares(census, year, sex, root)
        table = shares.mul(registered, axis=0).fillna(0.0)
        table.index = list(names().values())
        out[sex] = table
    return out


def _age_group_population(root: Path | None, code: str, year: int, low: int, high: int) -> float:
    """Registered residents aged low..high at the end of ``year`` [persons].

    Uses the registered 5-year groups where the year is covered (2011-2023), else
    the census age shares of ``START_YEAR - 1`` applied to the registered total.
    """
    reg = age_structure("pop_registered", root)
    if year in reg.year.values and code in reg.region.values:
        groups = [f"{a:02d}_{a + 4:02d}" for a in range(low, high + 1, 5)]
        return float(reg.sel(region=code, year=year, sex="total", age_group=groups).sum())
    shares = census_single_age_shares(age_structure("pop_census", root), START_YEAR - 1, "total", root)
    pop = wide_series("pop_registered", root).loc[year, code]
    return float(shares.loc[code, [f"A{a}" for a in range(low, high + 1)]].sum() * pop)


# ---------------------------------------------------------------------------
# Residuals and boundary transfers
# ---------------------------------------------------------------------------


def balancing_residual(obs: Observations) -> pd.DataFrame:
    """ΔP − births + deaths − net internal migration by year and region [persons/year].

    Years are those with every term observed. A region that did not exist the year
    before has a previous population of 0.
    """
    previous = obs.population.shift(1).fillna(0.0)
    residual = obs.population - previous - obs.births + obs.deaths - obs.net_migration.fillna(0.0)
    years = obs.deaths.dropna(how="all").index.intersection(obs.births.dropna(how="all").index)
    years = years[years > obs.population.index.min()]
    residual = residual.loc[years]
    # regions not existing yet: no population in either year
    return residual.where(obs.population.loc[years].notna(), 0.0).fillna(0.0)


def mean_rate(change: pd.DataFrame, obs: Observations, years) -> pd.Series:
    """Mean over ``years`` of a change per resident of 1 January, by region [1/year]."""
    years = list(years)
    return (change.loc[years] / obs.population.shift(1).loc[years]).mean()


def other_change(obs: Observations) -> pd.DataFrame:
    """The balancing residual less boundary transfers: international migration of nationals
    and statistical adjustments, by year and region [persons/year]."""
    residual = balancing_residual(obs)
    transfers, _ = boundary_transfers(obs)
    return residual - transfers.reindex(index=residual.index).fillna(0.0)


def boundary_transfers(obs: Observations) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Boundary transfers by year and region [persons/year] and the donor-share matrix.

    One transfer for each boundary change of ``obs`` from :data:`START_YEAR` to the last
    observed year. A new region (no registered population the year before, Sejong
    2012): the transfer is its balancing residual in its first year, taken from the
    origins in proportion to their residuals that year beyond their usual rate (mean of
    :data:`OTHER_CHANGE_RATE_YEARS`). Part of a region moving to another (Gunwi,
    Gyeongbuk → Daegu 2023, deaths of that year not observed): the transfer is the change
    in ``P − P_prev − births − net migration`` from the year before, averaged over the
    receiving and the giving region.
    """
    codes = region_codes()
    residual = balancing_residual(obs)
    rate = mean_rate(residual, obs, OTHER_CHANGE_RATE_YEARS)
    transfers = pd.DataFrame(0.0, index=range(START_YEAR, int(obs.population.index.max()) + 1), columns=codes)
    donors = pd.DataFrame(0.0, index=codes, columns=codes)
    for change in obs.boundary_changes:
        year, dest, origins = change.year, change.dest, list(change.origins)
        if year < START_YEAR or year not in obs.population.index:
            continue  # before the model starts or after the data
        if pd.isna(obs.population[dest].get(year - 1)):  # a new region
            amount = residual.loc[year, dest]
            excess = pd.Series({p: -(residual.loc[year, p] - rate[p] * obs.population.loc[year - 1, p]) for p in origins})
            share = excess.clip(lower=0.0) / excess.clip(lower=0.0).sum()
        elif len(origins) == 1:
            partial = obs.population - obs.population.shift(1) - obs.births - obs.net_migration
            step = partial.loc[year] - partial.loc[year - 1]
            amount = float((step[dest] - step[origins[0]]) / 2)
            share = pd.Series({origins[0]: 1.0})
        else:
            raise InvalidValueError("calibration/breaks.csv", "origin_codes", ";".join(origins),
                                    f"one origin when part of a region moves to an existing one ({dest}, {year})")
        transfers.loc[year, dest] += amount
        for p in origins:
            transfers.loc[year, p] -= amount * share[p]
            donors.loc[dest, p] = share[p]
    return transfers, donors


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _by_name(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with region codes replaced by the model's Region names in index and columns."""
    return frame.rename(index=names(), columns=names())


def _schedule(births: pd.DataFrame, women: pd.DataFrame) -> pd.DataFrame:
    """Single-age fertility schedule (rows sum to 1) from births and women by 5-year group.

    births, women : region × group tables (groups "15_19" … "45_49"), each group's rate
    spread evenly over its five ages [1/year].
    """
    schedule = pd.DataFrame(0.0, index=births.index, columns=AGES)
    for g in births.columns:
        low = int(g.split("_")[0])
        for a in range(low, low + 5):
            schedule[f"A{a}"] = (births[g] / women[g]) / 5
    return schedule.div(schedule.sum(axis=1), axis=0)


def fertility_schedules(root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Early and late fertility schedules by region × single age.

    Late: births by mother's age (DT_1B81A12) over registered women by age, summed over
    :data:`FERTILITY_SCHEDULE_YEARS`. Early: births over :data:`EARLY_FERTILITY_YEARS`
    over three times the women of the :data:`EARLY_FERTILITY_CENSUS` census. A region
    without early data (Sejong) takes its late schedule.
    """
    births = births_by_mother_age(root)
    codes = region_codes()
    groups = [f"{a}_{a + 4}" for a in range(15, 50, 5)]

    def table(array, years, key=lambda g: g) -> pd.DataFrame:
        cut = array.sel(year=[y for y in years if y in array.year.values]).sum("year")
        return pd.DataFrame({g: cut.sel(age_group=key(g)).to_series().reindex(codes) for g in groups})

    def padded(g: str) -> str:
        low, high = g.split("_")
        return f"{int(low):02d}_{int(high):02d}"

    registered = age_structure("pop_registered", root).sel(sex="female")
    late = _schedule(table(births, FERTILITY_SCHEDULE_YEARS), table(registered, FERTILITY_SCHEDULE_YEARS, padded))
    census = age_structure("pop_census", root).sel(sex="female", year=[EARLY_FERTILITY_CENSUS])
    women = table(census, [EARLY_FERTILITY_CENSUS], padded) * len(EARLY_FERTILITY_YEARS)
    early = _schedule(table(births, EARLY_FERTILITY_YEARS), women)
    early = early.where(early.notna(), late)
    return _by_name(early), _by_name(late)


def _first_year(code: str) -> int:
    return max(START_YEAR, int(load_regions().loc[code, "began"]) + 1)


def _region_constants(root: Path | None, obs: Observations) -> pd.DataFrame:
    regions = load_regions()
    codes = list(regions.index)
    out_mig = wide_series("migrants_out_interprovincial", root)
    employed = wide_series("employed", root) * 1000.0  # thousand persons -> persons
    grdp, national = wide_series("grdp_real_chained_2020", root), national_labour_productivity(root)
    gva_total = wide_series("gva_nominal_total_basic_prices", root)
    gva_tech = wide_series("gva_nominal_electrical_electronic_precision_mfg", root) + wide_series("gva_nominal_information_communication", root)
    grad = wide_series("gradschool_students_enrolled", root)
    intensity = residual_intensity(other_change(obs), obs.population, OTHER_CHANGE_RATE_YEARS)
    rows = {}
    for code in codes:
        y = _first_year(code)  # first year of flows; the stock is the end of y - 1

        def first(table: pd.DataFrame, *more: pd.DataFrame) -> int:
            # first year from y on with every table observed for this region
            ok = table[code].notna()
            for other_table in more:
                ok &= other_table[code].reindex(table.index).notna()
            return int(ok[(ok.index >= y) & ok].index.min())

        ey = first(employed)
        gy = first(grdp, employed)
        ty = first(gva_tech, gva_total)
        sy = first(grad)
        tech_share = (gva_tech.loc[ty, code] / gva_total.loc[ty, code]) / (
            gva_tech.loc[ty].sum() / gva_total.loc[ty].sum())
        rows[code] = {
            "base_out_migration_rate": out_mig.loc[y, code] / obs.population.loc[y - 1, code],
            "region_start_year": int(regions.loc[code, "began"]),
            "capital_flag": int(bool(regions.loc[code, "capital_region"])),
            "international_migration_intensity": intensity[names()[code]],
            "area_km2": float(regions.loc[code, "area_km2"]),
            "base_employment_rate": employed.loc[ey, code] / (obs.population.loc[ey - 1, code] - _age_group_population(root, code, ey - 1, 0, 14)),
            "relative_labour_productivity": grdp.loc[gy, code] / employed.loc[gy, code] / national.loc[gy],
            "initial_innovation_concentration": tech_share,
            "graduate_enrolment_rate": grad.loc[sy, code] / _age_group_population(root, code, sy - 1, 20, 39),
            "new_city_flag": int(int(regions.loc[code, "began"]) >= START_YEAR),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    if table.isna().any().any():
        bad = table.isna().stack()
        region, field = bad[bad].index[0]
        raise InvalidValueError("calibration/observations", field, f"NaN for region {region}",
                                "observations covering every region's first year")
    table.index = list(names().values())
    return table


def _lever_histories(root: Path | None, levers_path: Path) -> dict[str, pd.DataFrame]:
    levers = read_levers(levers_path)
    out = {}
    for name, spec in levers.items():
        points = {int(y): float(v) for y, v, _ in spec.get("history", [])}
        series = spec.get("from_observations")
        if series:
            rows = load_series(series, root)
            national = rows[rows["region_code"] == NATIONAL_CODE]
            first_sourced = min(points, default=10_000)  # observations fill in before the sourced points
            for y, v in zip(national["year"], national["value"]):
                if START_YEAR - 1 <= int(y) < first_sourced:
                    points[int(y)] = float(v)
        if len(points) == 1:  # a lookup needs two points: hold the single value one more year
            (year, value), = points.items()
            points[year + 1] = value
        if points:
            out[name] = pd.DataFrame(sorted(points.items()), columns=["year", "value"])
    return out


#: Keys of a lever entry of model/levers.toml: required, optional, the constants a
#: scenario sets (all three or none) and the short labels a lever with them must have.
LEVER_KEYS = ("description", "unit", "model", "range")
LEVER_LABELS = ("label_ko", "label_en", "unit_ko")
#: What a lever a scenario can set says about its effect: its first target (a national
#: indicator of model/indicators.toml), the free parameter of calibration/parameters.toml its
#: effect on migration or fertility scales with, and the evidence for its size (cited).
LEVER_EVIDENCE = ("first_target", "evidence_parameter", "evidence")
LEVER_OPTIONAL_KEYS = ("target", "start", "ramp", *LEVER_LABELS, "history", "from_observations", "allocation",
                       *LEVER_EVIDENCE)
SCENARIO_CONSTANTS = ("target", "start", "ramp")
#: A reference key of docs/references.md as cited in model files (R4, [R4]).
REFERENCE_KEY = re.compile(r"\bR\d+\b")
#: Words that stand for a source outside docs/references.md: a series of the observation
#: set (obs:<series>) or an assumption made for a scenario.
OBSERVATION_REF = re.compile(r"\bobs:\w+")
HYPOTHETICAL = "hypothetical"


def reference_keys(path: Path | None = None) -> frozenset[str]:
    """The reference keys listed in docs/references.md (``R4`` …), from its anchors
    ``<a id="r4"></a>``."""
    path = Path(path or project_root() / "docs" / "references.md")
    if not path.is_file():
        raise MissingFileError(path, "references", "docs/references.md listing the reference keys")
    return frozenset(f"R{n}" for n in re.findall(r'<a id="r(\d+)"></a>', path.read_text("utf-8", "replace")))


def cited_keys(path: str | Path, field: str, ref: object, keys: frozenset[str]) -> list[str]:
    """The reference keys that ``ref`` cites; InvalidValueError unless it is a string
    citing at least one source (a key of docs/references.md, obs:<series> or the word
    "hypothetical") and every key it cites is listed."""
    allowed = 'reference keys of docs/references.md (R4 …), obs:<series> or "hypothetical"'
    if not isinstance(ref, str):
        raise InvalidValueError(path, field, ref, allowed)
    cited = REFERENCE_KEY.findall(ref)
    unknown = [k for k in cited if k not in keys]
    if unknown:
        raise InvalidValueError(path, field, unknown[0], "a key listed in docs/references.md: "
                                + ", ".join(sorted(keys, key=lambda k: int(k[1:]))))
    if not cited and HYPOTHETICAL not in ref and not OBSERVATION_REF.search(ref):
        raise InvalidValueError(path, field, ref, allowed)
    return cited


def check_history(path: Path, field: str, history: object, limits: tuple[float, float],
                  keys: frozenset[str]) -> None:
    """A lever's history: points [year (an integer), value (finite, in the lever's range),
    reference], years increasing."""
    if not isinstance(history, list):
        raise InvalidValueError(path, field, history, "a list of [year, value, reference] points")
    last = None
    for i, point in enumerate(history):
        where = f"{field}[{i + 1}]"
        if not isinstance(point, list) or len(point) != 3:
            raise InvalidValueError(path, where, point, "a point [year, value, reference]")
        year = number_in(path, f"{where}.year", point[0], integer=True)
        if last is not None and year <= last:
            raise InvalidValueError(path, f"{where}.year", point[0], f"a year after {last:g} (points in time order)")
        last = year
        number_in(path, f"{where}.value", point[1], *limits)
        cited_keys(path, f"{where}.reference", point[2], keys)


def check_lever(path: Path, key: str, spec: object, keys: frozenset[str]) -> dict:
    """One entry of model/levers.toml, checked: keys, types, the labels of a lever a scenario
    can set, range, history, allocation."""
    spec = table_of(path, key, spec, f"a table [{key}] with " + ", ".join(LEVER_KEYS))
    keys_of(path, key, spec, LEVER_KEYS, LEVER_OPTIONAL_KEYS)
    named = [k for k in SCENARIO_CONSTANTS if k in spec]
    if named and len(named) < len(SCENARIO_CONSTANTS):
        missing = next(k for k in SCENARIO_CONSTANTS if k not in spec)
        raise MissingKeyError(path, f"{key}.{missing}", "target, start and ramp (the constants a scenario sets) "
                              "all three, or none for a lever that only follows its history")
    for name in LEVER_LABELS if named else ():
        if name not in spec:
            raise MissingKeyError(path, f"{key}.{name}", "label_ko, label_en (short labels) and unit_ko (the unit in Korean) for a lever a scenario can set")
    for name in LEVER_EVIDENCE if named else ():
        if name not in spec:
            raise MissingKeyError(path, f"{key}.{name}", "first_target, evidence_parameter and evidence for a lever "
                                  "a scenario can set")
    for name in (*LEVER_KEYS[:3], *named, *LEVER_LABELS, *LEVER_EVIDENCE, "from_observations"):
        if name in spec and (not isinstance(spec[name], str) or not spec[name].strip()):
            raise InvalidValueError(path, f"{key}.{name}", spec[name], "a non-empty string")
    if "first_target" in spec:
        national = read_indicators(level="national")
        if spec["first_target"] not in national:
            raise InvalidValueError(path, f"{key}.first_target", spec["first_target"],
                                    "a national indicator of model/indicators.toml: " + ", ".join(national))
    if "evidence" in spec:
        cited_keys(path, f"{key}.evidence", spec["evidence"], keys)
    limits = range_of(path, f"{key}.range", spec["range"])
    check_history(path, f"{key}.history", spec.get("history", []), limits, keys)
    allocation = table_of(path, f"{key}.allocation", spec.get("allocation", {}), "a table region = [count, reference]")
    for region, entry in allocation.items():
        where = f"{key}.allocation.{region}"
        if not isinstance(entry, list) or len(entry) != 2:
            raise InvalidValueError(path, where, entry, "[count, reference]")
        number_in(path, where, entry[0], 0.0)
        cited_keys(path, where, entry[1], keys)
    return spec


def read_levers(path: Path | None = None) -> dict[str, dict]:
    """The lever definitions of model/levers.toml (name → table), each checked by
    :func:`check_lever`: ``description``, ``unit``, ``model`` and ``range`` (two finite
    numbers, low < high); the constants ``target``, ``start`` and ``ramp`` a scenario sets
    and, with them, the short labels ``label_ko`` and ``label_en`` and the Korean unit ``unit_ko`` (non-empty strings), the
    ``first_target`` (a national indicator key), ``evidence_parameter`` and ``evidence`` (citing
    its sources);
    history points [year, value in range, reference key]. KbalanceInputError naming
    model/levers.toml, the lever and the key otherwise."""
    path = Path(path or model_dir() / "levers.toml")
    levers = read_toml(path, "levers", "model/levers.toml")
    if not levers:
        raise InvalidValueError(path, "(file)", "no levers", "one table per lever")
    keys = reference_keys()
    for key, spec in levers.items():
        check_lever(path, key, spec, keys)
    return levers


def relocation_allocation(levers: dict[str, dict]) -> pd.DataFrame:
    """Share of the relocated public staff going to each region [%], by Region name, for
    the first and second relocation (the first one's allocation in model/levers.toml)."""
    staff = levers["first_relocation_staff"]["allocation"]
    regions = list(names().values())
    unknown = sorted(set(staff) - set(regions))
    if unknown:
        raise InvalidValueError("model/levers.toml", "first_relocation_staff.allocation", unknown[0], regions)
    counts = pd.Series({n: float(staff.get(n, [0.0])[0]) for n in regions})
    percent = 100.0 * counts / counts.sum()
    return pd.DataFrame({"first": percent, "second": percent}, index=regions)


def input_tables(root: Path | None = None) -> dict[str, pd.DataFrame]:
    """Every table of model/inputs, by file name, computed from the observation set.

    root : Path, optional  calibration folder (default calibration/)
    """
    obs = observations(root)
    regions = load_regions()
    region_names = list(names().values())
    levers_path = model_dir() / "levers.toml"
    tables: dict[str, pd.DataFrame] = {}

    init = initial_population(root)
    tables["initial_population_male.csv"] = init["male"]
    tables["initial_population_female.csv"] = init["female"]

    years = np.arange(OPEN_AGE + 1, dtype=float)
    tables["ages.csv"] = pd.DataFrame([years], index=["age_in_years"], columns=AGES)
    tables["age_below.csv"] = pd.DataFrame((years[None, :] < years[:, None]).astype(float), index=AGES, columns=AGES)
    fit = fit_national_mortality(root)
    tables.update(mortality_tables(fit, observed_index(fit, root)))
    tables["jump_off_mortality_ratio.csv"] = jump_off_mortality_ratio(root=root)

    reg_age = age_structure("pop_registered", root)
    boys = float(reg_age.sel(region=NATIONAL_CODE, sex="male", age_group="00_04").sum())
    girls = float(reg_age.sel(region=NATIONAL_CODE, sex="female", age_group="00_04").sum())
    last_deaths_year = int(obs.deaths.dropna(how="all").index.max())
    tfr = load_series("tfr", root)
    tfr = tfr[tfr["region_code"] == NATIONAL_CODE][["year", "value"]]
    tables["scalars.csv"] = pd.DataFrame(
        {"value": [boys / (boys + girls), float(last_deaths_year + 1), float(last_national_tfr_year(root)),
                   float(np.mean(EARLY_FERTILITY_YEARS)), float(np.mean(FERTILITY_SCHEDULE_YEARS)),
                   float(latest_age_year(root) + 1)]},
        index=["male_share_of_births", "history_end_year", "last_observed_fertility_year",
               "early_fertility_schedule_year", "late_fertility_schedule_year", "jump_off_year"])
    tables["national_tfr.csv"] = tfr.set_index("year")
    tables["regional_tfr_ratio.csv"] = regional_tfr_ratio(START_YEAR, root)
    tables.update(variant_tables(root))
    jump_off = jump_off_population(latest_age_year(root), OPEN_AGE, root)
    tables["jump_off_population_male.csv"] = jump_off["male"]
    tables["jump_off_population_female.csv"] = jump_off["female"]
    tables["international_migration_profile.csv"] = international_migration_profile(OPEN_AGE, root)

    early, late = fertility_schedules(root)
    tables["fertility_schedule_early.csv"] = early
    tables["fertility_schedule_late.csv"] = late
    tables["region_constants.csv"] = _region_constants(root, obs)

    transfers, donors = boundary_transfers(obs)
    tables["other_change.csv"] = _by_name(other_change(obs).loc[START_YEAR:])
    transfers = transfers.loc[START_YEAR:]
    transfers.loc[transfers.index.max() + 1] = 0.0  # held after the data: no further transfers
    tables["boundary_transfer.csv"] = _by_name(transfers)
    tables["donor_share.csv"] = _by_name(donors)

    km = distance_km()
    np.fill_diagonal(km, 1.0)  # the diagonal carries no flow; 1 km keeps the gravity term finite
    tables["distance.csv"] = pd.DataFrame(km, index=region_names, columns=region_names)
    bloc = regions["bloc"].to_numpy()
    tables["same_bloc.csv"] = pd.DataFrame((bloc[:, None] == bloc[None, :]).astype(float), index=region_names, columns=region_names)

    levers = read_levers(levers_path)
    tables["relocation_allocation.csv"] = relocation_allocation(levers)
    for name, frame in _lever_histories(root, levers_path).items():
        tables[f"lever_{name}.csv"] = frame.set_index("year")
    tables.update(fiscal_tables(root, levers))
    tables.update(economy_tables(latest_age_year(root) + 1, root))
    return tables


def build_model_inputs(root: Path | None = None, dest: Path | None = None) -> list[Path]:
    """Write model/inputs/*.csv from the observation set; returns the files written.

    root : Path, optional  calibration folder (default calibration/)
    dest : Path, optional  inputs folder (default model/inputs)

    Every table is computed first, then the folder is regenerated as a whole with
    :func:`kbalance.outputs.replace_entries`: a failure leaves the old inputs untouched,
    and tables the model no longer reads disappear.
    """
    dest = Path(dest) if dest else model_dir() / "inputs"
    tables = input_tables(root)

    def write(tmp: Path) -> None:
        (tmp / dest.name).mkdir()
        for file, frame in tables.items():
            frame.to_csv(tmp / dest.name / file, float_format="%.10g", index_label="key")

    replace_entries(dest.parent, [dest.name], write)
    return [dest / file for file in tables]
