"""The municipal (시군구) population projected by cohort-change ratios and raked to the
regional model.

Method (docs/municipal.md):

- **Age groups** are the 5-year groups of the registered population (``00_04`` …), cut at
  the model's open age: the ages of the model (``model.subscripts["Age"]``, last one open)
  decide the groups, so an open group 85+ or 100+ works alike (:func:`age_groups`).
- **Cohort-change ratios** (Hamilton–Perry) on annual steps: a 5-year group at December
  *t* + 1 is a ratio times the people who can be in it, four fifths of the same group and one
  fifth of the group below at December *t* (people spread evenly within a group); the open
  group keeps all of itself. Ratios are pooled over the estimation window (sum of the
  numerators over sum of the denominators of every year-to-year step), so small
  municipalities are not dominated by one noisy year (:func:`estimate_ratios`); the window
  is every observed year (2015–2025), years without an age vector left out.
- **Child–woman ratios** give the 0–4 group: children of each sex per woman aged 15–49.
- **Damping**: a municipality's ratio moves toward its region's ratio, log-linearly with
  half-life :data:`HALF_LIFE` years from the jump-off (:func:`damped`).
- **Raking**: every year the projected counts are scaled within region × sex × age group so
  that they sum to the regional target (the regional model's population), exactly
  (:func:`rake`).

Arrays are numpy with a leading ``member`` axis, so a whole ensemble chunk is projected at
once: municipal arrays are (member, sgg, sex, group), regional targets (member, year,
region, sex, group).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from kbalance.errors import InvalidValueError, KbalanceInputError
from kbalance.observations.keyed import municipal_age_structure, municipal_population

#: Width of the age groups [years].
WIDTH = 5
#: Half-life of a municipality's departure from its region's ratios [years].
HALF_LIFE = 10.0
#: Ages of the women of the child–woman ratio [years].
MOTHER_AGES = (15, 49)
#: Model year of a December observation: the 1 January stock of the next year.
MODEL_YEAR_OFFSET = 1


def group_label(lower: int, open_age: int) -> str:
    """The label of the group starting at ``lower`` [years]: ``"20_24"``, or ``"85p"`` for the open group."""
    return f"{lower}p" if lower >= open_age else f"{lower:02d}_{lower + WIDTH - 1:02d}"


def group_lower(label: str) -> int:
    """The lower bound [years] of a group label (``"20_24"`` → 20, ``"100p"`` → 100)."""
    return int(label.rstrip("p").split("_")[0])


def age_groups(ages) -> tuple[tuple[str, ...], np.ndarray]:
    """The 5-year groups of the model's ages and the matrix that sums ages into them.

    ages : sequence of int or str  the model's ages [years] (``A0`` … or 0 …), the last one
        the open group; the open age must be a multiple of 5
    Returns (labels, matrix) with matrix [age, group] of 0/1.
    """
    years = [int(str(a).lstrip("A")) for a in ages]
    open_age = years[-1]
    if years != list(range(open_age + 1)) or open_age % WIDTH:
        raise InvalidValueError("model/kbalance.mdl", "Age", f"{years[0]}…{open_age}",
                                "single ages from 0 with an open age that is a multiple of 5")
    lowers = list(range(0, open_age + 1, WIDTH))
    labels = tuple(group_label(low, open_age) for low in lowers)
    matrix = np.zeros((len(years), len(lowers)))
    for i, age in enumerate(years):
        matrix[i, min(age // WIDTH, len(lowers) - 1)] = 1.0
    return labels, matrix


def regroup_observed(structure: xr.DataArray, labels: tuple[str, ...]) -> xr.DataArray:
    """Observed counts by 5-year group (``age_group``) summed into ``labels``: every
    observed group at or above the open age goes into the open group [persons]."""
    open_age = group_lower(labels[-1])
    observed = [str(g) for g in structure["age_group"].values]
    target = [group_label(min(group_lower(g), open_age), open_age) for g in observed]
    missing = sorted(set(labels) - set(target))
    if missing:
        raise KbalanceInputError("calibration/observations/municipal_population_age.csv", "age_group",
                                 f"no group for {missing}", f"5-year groups covering the model's ages {labels[0]}…{labels[-1]}")
    grouped = structure.assign_coords(age_group=target).groupby("age_group").sum(skipna=False)
    return grouped.sel(age_group=list(labels))


def fill_missing_ages(structure: xr.DataArray, totals: xr.DataArray) -> xr.DataArray:
    """Years where a municipality has no age vector filled from its total of that year,
    spread by its age–sex distribution of the nearest year that has one [persons].

    structure : (sgg_code, year, sex, age_group) with NaN rows; totals : (sgg_code, year)
    """
    complete = structure.notnull().all(["sex", "age_group"])
    out = structure.copy()
    for code in structure["sgg_code"].values[~complete.all("year").values]:
        years = structure["year"].values[complete.sel(sgg_code=code).values]
        if not len(years):
            raise KbalanceInputError("calibration/observations/municipal_population_age.csv", f"sgg_code {code}",
                                     "no year with an age vector", "at least one complete year")
        for year in structure["year"].values[~complete.sel(sgg_code=code).values]:
            near = years[np.argmin(np.abs(years - year))]
            shares = structure.sel(sgg_code=code, year=near)
            shares = shares / shares.sum()
            out.loc[{"sgg_code": code, "year": year}] = shares.values * float(totals.sel(sgg_code=code, year=year))
    return out


def reachable(pop: np.ndarray) -> np.ndarray:
    """Who can be in each group one year later [persons] (group axis last, 0–4 left as is):
    four fifths of the group and one fifth of the group below; the open group keeps all
    of itself and receives one fifth of the group below."""
    out = pop * (1.0 - 1.0 / WIDTH)
    out[..., 1:] += pop[..., :-1] / WIDTH
    out[..., -1] += pop[..., -1] / WIDTH
    return out


def mothers(pop: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """Women aged 15–49 [persons] of ``pop`` (..., sex, group): sex axis dropped."""
    chosen = [i for i, g in enumerate(labels) if MOTHER_AGES[0] <= group_lower(g) <= MOTHER_AGES[1] - WIDTH + 1]
    return pop[..., 1, chosen[0]:chosen[-1] + 1].sum(axis=-1)


@dataclass(frozen=True)
class Ratios:
    """Cohort-change and child–woman ratios of the municipalities and of their regions.

    codes : (sgg,) 시군구 codes; region : (sgg,) their KOSIS region codes
    labels : the age groups
    change : (sgg, sex, group) cohort-change ratio [1] (group 0 unused)
    child : (sgg, sex) children 0–4 per woman 15–49 [1]
    regional_change, regional_child : the same for each municipality's region
    window : December years of the estimation window
    """

    codes: np.ndarray
    region: np.ndarray
    labels: tuple[str, ...]
    change: np.ndarray
    child: np.ndarray
    regional_change: np.ndarray
    regional_child: np.ndarray
    window: tuple[int, int]


def pooled_sums(population: np.ndarray, labels: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Numerators and denominators of the pooled ratios of ``population`` (unit, year, sex,
    group) [persons]: (cohort-change numerator, denominator, children 0–4, women 15–49),
    summed over the year-to-year steps (years) without a missing value."""
    now, nxt = population[:, :-1], population[:, 1:]
    ok = (np.isfinite(now).all(axis=(2, 3)) & np.isfinite(nxt).all(axis=(2, 3)))[..., None, None]
    num = np.where(ok, nxt, 0.0).sum(axis=1)
    den = np.where(ok, reachable(np.nan_to_num(now)), 0.0).sum(axis=1)
    okw = np.isfinite(population).all(axis=(2, 3))[..., None]
    kids = np.where(okw, np.nan_to_num(population[..., 0]), 0.0).sum(axis=1)
    women = np.where(okw[..., 0], mothers(np.nan_to_num(population), labels), 0.0).sum(axis=1)[:, None]
    return num, den, kids, women


def ratios_of(num: np.ndarray, den: np.ndarray, kids: np.ndarray, women: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cohort-change, child–woman) ratios from :func:`pooled_sums` [1]; NaN without a denominator."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan), np.where(women > 0, kids / women, np.nan)


def estimate_ratios(observed: xr.DataArray, window: tuple[int, int] | None = None) -> Ratios:
    """The ratios of every municipality and region over the December years ``window``
    (default every year of ``observed``: 2015–2025).

    observed : (sgg_code, year, sex, age_group) [persons] with coordinate ``region``, groups
        as :func:`regroup_observed` gives them; NaN rows are left out of the pooling
    A region's ratios pool the steps of all its municipalities; a municipality without a
    usable step (or a zero denominator) takes its region's ratio.
    """
    first, last = window or (int(observed["year"].min()), int(observed["year"].max()))
    years = [y for y in observed["year"].values if first <= y <= last]
    if len(years) < 2 or years != list(range(first, last + 1)):
        raise InvalidValueError("calibration/observations/municipal_population_age.csv", "year", f"{years}",
                                f"every December year {first}–{last}")
    data = observed.sel(year=years).transpose("sgg_code", "year", "sex", "age_group")
    labels = tuple(str(g) for g in data["age_group"].values)
    region = data["region"].values.astype(str)
    sums = pooled_sums(data.values, labels)
    change, child = ratios_of(*sums)
    members = region_matrix(region, sorted(set(region)))
    reg_change, reg_child = ratios_of(*(members.T @ (members @ part.reshape(len(part), -1)) for part in sums))
    reg_change, reg_child = reg_change.reshape(change.shape), reg_child.reshape(child.shape)
    return Ratios(codes=data["sgg_code"].values, region=region, labels=labels,
                  change=np.where(np.isfinite(change), change, reg_change),
                  child=np.where(np.isfinite(child), child, reg_child),
                  regional_change=reg_change, regional_child=reg_child, window=(first, last))


def damping_weight(years: float, half_life: float = HALF_LIFE) -> float:
    """The weight 0.5^(years / half_life) [1] of a municipality's departure from its
    region ``years`` after the jump-off."""
    return 0.5 ** (years / half_life)


def damped(own: np.ndarray, regional: np.ndarray, years: float, half_life: float = HALF_LIFE) -> np.ndarray:
    """A municipality's ratio ``years`` after the jump-off: the regional ratio times the
    municipality's relative ratio raised to :func:`damping_weight` [1]."""
    weight = damping_weight(years, half_life)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where((own > 0) & (regional > 0), own / regional, 1.0)
    return np.where(regional > 0, regional * relative ** weight, own)


def region_matrix(region: np.ndarray, codes: list[str]) -> np.ndarray:
    """(region, sgg) 0/1 matrix: which municipalities make up each region (``codes`` order)."""
    missing = sorted(set(region) - set(codes))
    if missing:
        raise KbalanceInputError("calibration/observations/municipalities.csv", "region_code", f"{missing}",
                                 f"one of the model's regions {codes}")
    return (np.asarray(codes)[:, None] == np.asarray(region)[None, :]).astype(float)


def regional_sums(members: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(member, region, …) sums of the municipalities of ``values`` (member, sgg, …) [persons]."""
    flat = values.reshape(values.shape[0], values.shape[1], -1)
    return np.matmul(members, flat).reshape(values.shape[0], members.shape[0], *values.shape[2:])


def rake(estimate: np.ndarray, target: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Scale municipal counts within region × sex × group to the regional ``target`` [persons].

    estimate : (member, sgg, sex, group); target : (member, region, sex, group)
    members : (region, sgg) from :func:`region_matrix`
    Where a region's estimate of a cell is zero and its target is not, the target is
    shared by the municipalities' populations of that sex (all ages).
    """
    region = members.argmax(axis=0)
    sums = regional_sums(members, estimate)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(sums > 0, target / sums, 0.0)
    out = estimate * factor[:, region]
    empty = (sums <= 0) & (target > 0)
    if empty.any():
        size = estimate.sum(axis=-1, keepdims=True) + 1e-300
        share = size / regional_sums(members, size)[:, region]
        out = out + share * np.where(empty, target, 0.0)[:, region]
    return out


def project_years(ratios: Ratios, base: np.ndarray, targets: np.ndarray, region_codes: list[str],
                  half_life: float = HALF_LIFE, channels=()):
    """The municipal population of each year of ``targets`` in turn (see :func:`project`):
    yields (member, sgg, sex, group) arrays [persons], one per year, so that a caller can
    reduce them without holding every year.

    channels : policy channels (:class:`kbalance.municipal.channels.Channel`): each step's
        cohort-change ratios are multiplied by every channel's ``factor(step, pop, weight)``
        (member, sgg) before the raking
    """
    if base.shape != ratios.change.shape or targets.shape[-1] != base.shape[-1]:
        raise InvalidValueError("municipal projection", "shape", f"{base.shape} / {targets.shape}",
                                f"base {ratios.change.shape} and targets (member, year, region, sex, {base.shape[-1]})")
    members = region_matrix(ratios.region, region_codes)
    pop = rake(np.broadcast_to(base, (targets.shape[0], *base.shape)).copy(), targets[:, 0], members)
    yield pop
    for step in range(1, targets.shape[1]):
        change = damped(ratios.change, ratios.regional_change, step, half_life)
        child = damped(ratios.child, ratios.regional_child, step, half_life)
        nxt = reachable(pop) * change
        for channel in channels:
            nxt *= channel.factor(step, pop, damping_weight(step, half_life))[..., None, None]
        nxt[..., 0] = child * mothers(nxt, ratios.labels)[..., None]
        pop = rake(nxt, targets[:, step], members)
        yield pop


def project(ratios: Ratios, base: np.ndarray, targets: np.ndarray, region_codes: list[str],
            half_life: float = HALF_LIFE, channels=()) -> np.ndarray:
    """Project the municipal population over the years of ``targets``.

    base : (sgg, sex, group) the population at the first target year [persons]
    targets : (member, year, region, sex, group) the regional population of consecutive
        years [persons], ``region_codes`` its region order; the first year is the jump-off
    Returns (member, year, sgg, sex, group) [persons], raked every year, so that it sums to
    ``targets`` within region × sex × group; ``channels`` as in :func:`project_years`.
    """
    return np.stack(list(project_years(ratios, base, targets, region_codes, half_life, channels)), axis=1)


def observed_population(labels: tuple[str, ...], root=None, fill: bool = True) -> xr.DataArray:
    """The registered population by 시군구, December year, sex and the groups ``labels``
    [persons]: (sgg_code, year, sex, age_group) with coordinate ``region``; years without
    an age vector filled by :func:`fill_missing_ages` from the municipality's total, or
    left NaN with ``fill=False`` (for estimating ratios, which must not see filled years)."""
    structure = municipal_age_structure(root)
    if fill:
        structure = fill_missing_ages(structure, municipal_population(root))
    return regroup_observed(structure, labels).transpose("sgg_code", "year", "sex", "age_group")
