"""The model's mortality inputs: a Li–Lee fit of national death rates by sex.

``kbalance model inputs`` writes these tables with the others (model/inputs); the
.mdl computes ``national mortality rate[Sex,Age] = EXP(a + B K + b k)`` from them.
The fit is deterministic (a singular value decomposition and Newton steps on fixed
data), so rebuilding gives the same files.

Data: Human Mortality Database deaths and exposure of Korea by sex and single age,
2003–2020 (calibration/observations/mortality.csv, series ``hmd_deaths`` and
``hmd_exposure``). Method (docs/demography.md §2, docs/model.md):

- rates observed below 95, Kannisto (fitted to ages 80–94) from 95, closed at the
  model's open group 100+ (:func:`kbalance.demography.oldage.complete_rates`);
- Li–Lee fit of both sexes, each index re-estimated to the observed deaths
  (:func:`kbalance.demography.leecarter.fit_li_lee`);
- the common index K as a random walk with drift (its drift and standard error),
  each sex's index k as an AR(1) (:mod:`kbalance.demography.projection`).

After the HMD years the observation set has national deaths only (both sexes, all ages:
``deaths`` in vital.csv). For each such year, K is re-estimated as in Lee and Carter's
second stage (:func:`observed_index`): the schedule, each sex's index on its AR(1) path,
applied as the model applies it (deaths = residents on 1 January × (1 − e^(−m̄)), m̄ the mean
rate of their age and the next, :func:`kbalance.demography.lifetable.cohort_rates`) to the
registered population by sex and single age of the December before (5-year groups split
by the project's spline) gives the observed deaths. The registered population is not the
HMD's exposure and the model's step is not the HMD's central rate; the mean difference
over the years both cover (HMD-fitted K minus K estimated this way) puts the estimates on
the HMD fit's scale, so the model's deaths keep the relation to the observed ones they have
in the fitted years. Projections start from an observed level, not from the trend through
the fitted years (the jump-off of Lee and Miller, :func:`jump_off_index`): the lowest level
of the observed years after the fit, rolled forward by the drift (2021; 2022, the COVID-19
excess, is a shock on the walk's path), on the registered basis, because from the jump-off
the model applies the schedule to the registered population.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kbalance.demography.ages import FIVE_YEAR_GROUPS, split_five_year
from kbalance.demography.leecarter import LiLee, common_index_to_deaths, fit_li_lee, ultimate_loading
from kbalance.demography.lifetable import life_table
from kbalance.demography.oldage import complete_rates
from kbalance.demography.projection import AR1, RandomWalk, ar1_path, fit_ar1, fit_random_walk
from kbalance.errors import InvalidValueError
from kbalance.model.population import observed_age_groups, to_model_ages
from kbalance.observations.keyed import national_mortality
from kbalance.observations.load import age_structure, national_by_year
from kbalance.regions import NATIONAL_CODE

#: The model's open age group [years] and sexes (the model's Sex order).
OPEN_AGE = 100
SEXES = ("male", "female")
MODEL_SEXES = ("Male", "Female")


@dataclass(frozen=True)
class MortalityFit:
    """Li–Lee fit of national rates with its index processes.

    years [year] the fitted years; model the Li–Lee fit (ages 0 … 99, 100+); walk the
    random walk of the common index K; ar1 the AR(1) of each sex's index (SEXES order).
    """

    years: np.ndarray
    model: LiLee
    walk: RandomWalk
    ar1: tuple[AR1, ...]


def fit_national_mortality(root: Path | None = None) -> MortalityFit:
    """Fit Li–Lee to the HMD deaths and exposure of every year of the observation set.

    root : Path, optional  calibration folder (default calibration/)
    """
    deaths = national_mortality("deaths", root).sel(sex=list(SEXES))
    exposure = national_mortality("exposure", root).sel(sex=list(SEXES))
    d, e = deaths.values, exposure.values
    rates = complete_rates(d, e, open_age=OPEN_AGE)
    grouped = [np.concatenate([x[..., :OPEN_AGE], x[..., OPEN_AGE:].sum(-1, keepdims=True)], -1) for x in (d, e)]
    model = fit_li_lee(rates, *grouped)
    return MortalityFit(years=deaths["year"].values.astype(int), model=model,
                        walk=fit_random_walk(model.Kt), ar1=tuple(fit_ar1(k) for k in model.kt))


def registered_population(years, root: Path | None = None) -> np.ndarray:
    """Registered population of the country on 1 January of each of ``years`` (the December
    before) [persons], shape (sex, year, age) in SEXES order, ages 0 … 99 and the open group
    100+: the country's row of population_age.csv, else the regions of
    :func:`kbalance.model.population.observed_age_groups` summed, split to single ages by
    :func:`kbalance.demography.ages.split_five_year`."""
    registered = age_structure("pop_registered", root)

    def single(december: int) -> np.ndarray:
        if december in registered.year.values:
            groups = registered.sel(region=NATIONAL_CODE, year=december, sex=list(SEXES), age_group=list(FIVE_YEAR_GROUPS))
        else:
            groups = observed_age_groups(december, root).sum("region")
        return to_model_ages(split_five_year(groups.transpose("sex", "age_group").values, axis=-1), OPEN_AGE)
    return np.stack([single(int(y) - 1) for y in years], axis=1)


def sex_index_path(fit: MortalityFit, years) -> np.ndarray:
    """Each sex's index k_s [-] in ``years`` after the last fitted year: the mean path of its
    AR(1) (:func:`kbalance.demography.projection.ar1_path`), shape (sex, year)."""
    horizon = np.asarray(years, int) - fit.years[-1]
    if np.any(horizon < 1):
        raise ValueError(f"years after the last fitted year {fit.years[-1]} only")
    return np.stack([ar1_path(p, int(horizon.max()))[horizon - 1] for p in fit.ar1])


def national_deaths(root: Path | None = None) -> pd.Series:
    """Observed national deaths [persons/year] by year (``deaths`` of vital.csv, the country's row)."""
    return national_by_year("deaths", root).dropna().astype(float).sort_index()


@dataclass(frozen=True)
class ObservedIndex:
    """The common index K [-] of the observed years after the HMD fit.

    years [year] those years; K [-] on the HMD fit's scale; registered [-] the estimate on
    the registered population before the basis offset; sex_index [-] (sex, year) each
    sex's AR(1) path used; offset [-] the mean of HMD-fitted K minus the registered-basis
    estimate over overlap_years [year], the fitted years the registered population covers.
    """

    years: np.ndarray
    K: np.ndarray
    registered: np.ndarray
    sex_index: np.ndarray
    offset: float
    overlap_years: np.ndarray


def registered_basis_index(fit: MortalityFit, years, kt, root: Path | None = None) -> np.ndarray:
    """K [-] for which the fit's schedule (sex indices ``kt``, shape (sex, year)) applied to the
    registered population on 1 January (:func:`registered_population`) gives the observed
    national deaths of each of ``years`` (:func:`kbalance.demography.leecarter.common_index_to_deaths`)."""
    deaths = national_deaths(root)
    return common_index_to_deaths(fit.model, kt, registered_population(years, root), deaths.loc[list(years)].values)


def observed_index(fit: MortalityFit, root: Path | None = None) -> ObservedIndex:
    """K of every year after the fit with observed national deaths (module docstring).

    The basis offset is the mean, over the fitted years whose December before the registered
    population by age covers, of the fitted K minus the K that reproduces the observed deaths
    on the registered population with the fitted sex indices. No observed year after the
    fit gives empty arrays.
    """
    registered_years = {int(y) for y in age_structure("pop_registered", root).year.values}
    deaths = national_deaths(root)
    overlap = np.array([y for y in fit.years if y - 1 in registered_years and y in deaths.index])
    if overlap.size == 0:
        raise InvalidValueError("calibration/observations/population_age.csv", "year", sorted(registered_years),
                                f"the December before one of the fitted years {fit.years[0]}-{fit.years[-1]}")
    rows = overlap - fit.years[0]
    offset = float(np.mean(fit.model.Kt[rows] - registered_basis_index(fit, overlap, fit.model.kt[:, rows], root)))
    years = np.array([int(y) for y in deaths.index if y > fit.years[-1]])
    if years.size == 0:
        empty = np.zeros(0)
        return ObservedIndex(years, empty, empty, np.zeros((len(SEXES), 0)), offset, overlap)
    kt = sex_index_path(fit, years)
    registered = registered_basis_index(fit, years, kt, root)
    return ObservedIndex(years, registered + offset, registered, kt, offset, overlap)


def jump_off_index(fit: MortalityFit, observed: ObservedIndex) -> tuple[float, int]:
    """The start of the projected common index: K [-] on the registered basis and its year [year].

    Of the observed years after the fit, the one whose registered-basis K, rolled forward
    by the fitted drift to a common year, is lowest: a year of excess deaths (2022) does
    not set the level of every later year, an ordinary one does (Lee and Miller's jump-off
    from observed rates). Without observed years after the fit, the fitted K of the last
    fitted year less the basis offset.
    """
    if observed.years.size == 0:
        return float(fit.walk.last - observed.offset), int(fit.years[-1])
    first = int(np.argmin(observed.registered - fit.walk.drift * observed.years))
    return float(observed.registered[first]), int(observed.years[first])


def origin_index(fit: MortalityFit, observed: ObservedIndex, origin: int, registered: bool,
                 root: Path | None = None) -> tuple[float, float]:
    """The start and drift of the common index K for a forecast from ``origin`` [year] that
    knows nothing observed after it: K [-] of the origin year, on the registered basis when
    the forecast starts from the registered population (``registered``; re-estimated to the
    origin's deaths on the population of the December before, as :func:`observed_index`
    does for the years after the fit; the fitted K less the basis offset where that December
    has no registered ages) or on the HMD fit's scale when it continues the
    simulated history; and the drift [1/year] of a random walk fitted to the fitted K of the
    years to the origin (of every fitted year for an origin after the fit). The age pattern
    (a, B, b) stays the one fitted to every HMD year. ``origin`` must have an index value (a fitted
    year or an observed year after the fit)."""
    first, last = int(fit.years[0]), int(fit.years[-1])
    if first <= origin <= last:
        row = origin - first
        level = fit.model.Kt[row]
        if registered:
            try:
                level = registered_basis_index(fit, [origin], fit.model.kt[:, [row]], root)[0]
            except InvalidValueError:  # no registered ages in the December before: the mean basis offset
                level = level - observed.offset
        return float(level), fit_random_walk(fit.model.Kt[: row + 1]).drift
    if origin in observed.years:
        i = list(observed.years).index(origin)
        return float((observed.registered if registered else observed.K)[i]), float(fit.walk.drift)
    raise InvalidValueError("kbalance backtest", "--origins", origin,
                            f"a year of the mortality index ({first}-{last} fitted, "
                            f"{', '.join(map(str, observed.years))} observed)")


def male_life_expectancy_response(fit: MortalityFit, observed: ObservedIndex, step: float = 0.5) -> float:
    """Years of men's life expectancy at birth lost per unit rise of the common index at the
    jump-off [year]: −∂e0/∂K of the male schedule at the jump-off level (:func:`jump_off_index`)
    with the sex index of that year, by a central difference of ±``step`` in K (life table of
    :func:`kbalance.demography.lifetable.life_table`). It converts a gap of life expectancy into
    the index units of the model's sex-gap rule (docs/model.md)."""
    level, year = jump_off_index(fit, observed)
    if year in observed.years:
        kt = observed.sex_index[:, list(observed.years).index(year)]
    else:
        kt = fit.model.kt[:, -1]
    rates = fit.model.rates(np.array([level - step, level + step]), np.repeat(kt[:, None], 2, axis=1))
    e0 = life_table(rates[0], False).e0                               # men (SEXES order)
    return float((e0[0] - e0[1]) / (2 * step))


def sex_gap_adjustment_time(fit: MortalityFit) -> float:
    """Time over which the model's gap of life expectancy between the sexes closes on its
    target [year]: 1 / (1 − φ) of the women's index AR(1), the fit's own estimate of how slowly
    the sexes' relative mortality returns to its long-run level."""
    return float(1.0 / (1.0 - fit.ar1[SEXES.index("female")].phi))


def mortality_tables(fit: MortalityFit, observed: ObservedIndex) -> dict[str, pd.DataFrame]:
    """The model inputs of a fit and the index of the observed years after it, by file name.

    - ``mortality_age.csv``: rows ``common_loading`` (B(x) [-]), ``base_Male``,
      ``base_Female`` (a_s(x) [ln(1/year)]), ``loading_Male``, ``loading_Female``
      (b_s(x) [-]), ``ultimate_loading`` (B_u(x) [-], the pattern B(x) rotates towards,
      :func:`kbalance.demography.leecarter.ultimate_loading`); columns A0 … A100;
    - ``mortality_index.csv``: by year, the common index K and the sexes' indices
      k_Male, k_Female [-]: fitted, then the observed years (K re-estimated, k on its
      AR(1) path; :func:`observed_index`);
    - ``mortality_sex.csv``: by sex, the AR(1) coefficient [-] and long-run mean [-]
      of its index;
    - ``mortality_scalars.csv``: first and last fitted year [year], the fitted drift of
      K [1/year] and its standard error [1/year], the last year of the index [year], the
      jump-off of the projection (:func:`jump_off_index`, registered basis) [-], the basis
      offset of the observed years [-], the year of the jump-off level [year], the men's
      life expectancy lost per unit of K at the jump-off [year]
      (:func:`male_life_expectancy_response`) and the adjustment time of the sex gap [year]
      (:func:`sex_gap_adjustment_time`).
    """
    m = fit.model
    ages = [f"A{a}" for a in range(OPEN_AGE + 1)]
    rows = {"common_loading": m.Bx}
    rows.update({f"base_{s}": m.ax[i] for i, s in enumerate(MODEL_SEXES)})
    rows.update({f"loading_{s}": m.bx[i] for i, s in enumerate(MODEL_SEXES)})
    rows["ultimate_loading"] = ultimate_loading(m.Bx)
    by_age = pd.DataFrame.from_dict(rows, orient="index", columns=ages)
    index = pd.DataFrame({"K": np.concatenate([m.Kt, observed.K]),
                          **{f"k_{s}": np.concatenate([m.kt[i], observed.sex_index[i]]) for i, s in enumerate(MODEL_SEXES)}},
                         index=pd.Index(np.concatenate([fit.years, observed.years]).astype(int), name="year"))
    sex = pd.DataFrame({"ar1_coefficient": [p.phi for p in fit.ar1], "ar1_mean": [p.mean for p in fit.ar1]},
                       index=list(MODEL_SEXES))
    jump_off, jump_off_year = jump_off_index(fit, observed)
    scalars = pd.DataFrame({"value": [float(fit.years[0]), float(fit.years[-1]), fit.walk.drift, fit.walk.drift_se,
                                      float(index.index[-1]), jump_off, observed.offset, float(jump_off_year),
                                      male_life_expectancy_response(fit, observed), sex_gap_adjustment_time(fit)]},
                           index=["first_fitted_year", "last_fitted_year", "index_drift", "index_drift_se",
                                  "last_index_year", "index_jump_off", "index_basis_offset", "index_jump_off_year",
                                  "male_e0_response", "sex_gap_adjustment_time"])
    return {"mortality_age.csv": by_age, "mortality_index.csv": index, "mortality_sex.csv": sex,
            "mortality_scalars.csv": scalars}


def old_age_shares(root: Path | None = None) -> pd.DataFrame:
    """Shares of the groups 85–89, 90–94, 95–99 and 100+ in the population aged 85+ [-],
    by sex (rows male, female, total), from the HMD exposure of its first year.

    Used to split a census open group 85+ (the 2000 census) into the registered
    population's groups; the exposure of a year is the HMD estimate of its mean
    population by single age.
    """
    exposure = national_mortality("exposure", root)
    first = exposure.sel(year=int(exposure["year"].min()))
    groups = {"85_89": range(85, 90), "90_94": range(90, 95), "95_99": range(95, 100)}
    out = {}
    for sex in (*SEXES, "total"):
        cut = first.sum("sex") if sex == "total" else first.sel(sex=sex)
        values = {g: float(cut.sel(age=list(r)).sum()) for g, r in groups.items()}
        values["100p"] = float(cut.sel(age=cut["age"] >= OPEN_AGE).sum())
        total = sum(values.values())
        out[sex] = {g: v / total for g, v in values.items()}
    return pd.DataFrame.from_dict(out, orient="index")
