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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kbalance.demography.leecarter import LiLee, fit_li_lee
from kbalance.demography.oldage import complete_rates
from kbalance.demography.projection import AR1, RandomWalk, fit_ar1, fit_random_walk
from kbalance.observations.keyed import national_mortality

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


def mortality_tables(fit: MortalityFit) -> dict[str, pd.DataFrame]:
    """The model inputs of a fit, by file name.

    - ``mortality_age.csv``: rows ``common_loading`` (B(x) [-]), ``base_Male``,
      ``base_Female`` (a_s(x) [ln(1/year)]), ``loading_Male``, ``loading_Female``
      (b_s(x) [-]); columns A0 … A100;
    - ``mortality_index.csv``: by fitted year, the common index K and the sexes'
      indices k_Male, k_Female [-];
    - ``mortality_sex.csv``: by sex, the AR(1) coefficient [-] and long-run mean [-]
      of its index;
    - ``mortality_scalars.csv``: first and last fitted year [year], the fitted drift of
      K [1/year] and its standard error [1/year].
    """
    m = fit.model
    ages = [f"A{a}" for a in range(OPEN_AGE + 1)]
    rows = {"common_loading": m.Bx}
    rows.update({f"base_{s}": m.ax[i] for i, s in enumerate(MODEL_SEXES)})
    rows.update({f"loading_{s}": m.bx[i] for i, s in enumerate(MODEL_SEXES)})
    by_age = pd.DataFrame.from_dict(rows, orient="index", columns=ages)
    index = pd.DataFrame({"K": m.Kt, **{f"k_{s}": m.kt[i] for i, s in enumerate(MODEL_SEXES)}},
                         index=pd.Index(fit.years, name="year"))
    sex = pd.DataFrame({"ar1_coefficient": [p.phi for p in fit.ar1], "ar1_mean": [p.mean for p in fit.ar1]},
                       index=list(MODEL_SEXES))
    scalars = pd.DataFrame({"value": [float(fit.years[0]), float(fit.years[-1]), fit.walk.drift, fit.walk.drift_se]},
                           index=["first_fitted_year", "last_fitted_year", "index_drift", "index_drift_se"])
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
