"""The evidence regressions, their mapping to model parameters, and the files they write.

:data:`SPECIFICATIONS` lists the regressions; :func:`estimate_all` fits them on the observation
set; :data:`MAPPINGS` says which model parameter (``model/kbalance.mdl``, as named in
``calibration/parameters.toml``) each coefficient informs and how; :func:`estimates_table` and
:func:`fit_table` are the two output tables; :func:`write_evidence` writes them.

How the regressions relate to the model's functional form:

* Destination choice. The model's destination weight is
  ``exp(pull · A_j) · (P_j / P_ref)^size · (d_ij / d_ref)^(−distance)`` with attractiveness
  ``A_j = income weight · ln(y_j/ȳ) + jobs weight · (e_j − ē) + innovation weight · ln(k_j/k̄)
  − congestion weight · ln(ρ_j/ρ_0) + …``; flows are an origin's out-movers times its
  destination shares. Out-movers, the share's denominator and the national means ȳ, ē, k̄ are
  the same for every destination of one origin in one year, so origin–year effects absorb them
  and ``ln E[F_ijt] = α_it − distance · ln d_ij + size · ln P_j + pull · income weight · ln y_j
  + pull · jobs weight · e_j + pull · innovation weight · ln k_j − pull · congestion weight · ln ρ_j``:
  a PPML gravity regression. Only the products ``pull · weight`` are identified, so each weight
  is the coefficient divided by the pull elasticity held at its default.
* Fertility. ``TFR = level_t · factor_r · (ρ/ρ_0)^(−ce) · (y/ȳ_t)^ie · (e/ē_t)^je · …``, so
  ``ln TFR`` is linear in ``ln ρ``, ``ln y``, ``ln e`` with region and year effects.
* Productivity. ``GRDP / employed = base_r · exp(g t) · (k_rt / k_r0)^pe``, so
  ``ln(GRDP / employed)`` is linear in ``ln k`` with region and year effects.

Every transformation is linear in the coefficient, so the delta method (:func:`delta_method`)
is exact here: prior sd = |∂g/∂b| · standard error.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from kbalance.evidence.estimators import Estimate, fe_ols, ppml
from kbalance.evidence.panels import gravity_panel, region_panel
from kbalance.model.parameters import parameter_definitions

#: Columns of estimates.csv and fit.csv.
ESTIMATE_COLUMNS = ("model", "term", "estimate", "std_error", "p_value", "n", "parameter",
                    "prior_mean", "prior_sd", "note")
FIT_COLUMNS = ("model", "statistic", "value", "spec")

GRAVITY_ATTRIBUTES = ("log_population", "log_grdp_per_capita", "employment_rate",
                      "log_innovation_per_worker", "log_density")


@dataclass(frozen=True)
class Specification:
    """One regression: estimator (``"ppml"`` or ``"fe_ols"``), panel (``"gravity"``, ``"region"``
    or ``"region_lagged"``, the region panel with the previous year's innovation), outcome, regressors, fixed effects, cluster variable and a one-line description."""

    model: str
    estimator: str
    panel: str
    outcome: str
    terms: tuple[str, ...]
    fixed_effects: tuple[tuple[str, ...], ...]
    cluster: str
    spec: str


SPECIFICATIONS = (
    Specification("gravity", "ppml", "gravity", "flow", ("log_distance", "same_bloc", *GRAVITY_ATTRIBUTES),
                  (("origin", "year"),), "pair",
                  "PPML: flow_ijt on origin-year effects, ln distance, same geographic bloc and the destination's "
                  "ln population, ln real GRDP per capita, employment rate 15-64, ln graduate students per "
                  "employed and ln density, all of year t-1; SE clustered by origin-destination pair"),
    Specification("gravity_model_form", "ppml", "gravity", "flow", ("log_distance", *GRAVITY_ATTRIBUTES),
                  (("origin", "year"),), "pair",
                  "as gravity without the same-bloc term: the functional form of the model's destination weight"),
    Specification("gravity_within", "ppml", "gravity", "flow",
                  ("log_distance", "same_bloc", *GRAVITY_ATTRIBUTES[:-1]),
                  (("origin", "year"), ("dest",)), "pair",
                  "as gravity plus destination effects (identification from changes within a destination over "
                  "time); ln density dropped, collinear with ln population at fixed areas"),
    Specification("fertility", "fe_ols", "region", "log_tfr",
                  ("log_density", "log_grdp_per_capita", "log_employment_rate"),
                  (("region_code",), ("year",)), "region_code",
                  "OLS: ln TFR on ln density, ln real GRDP per capita, ln employment rate 15-64, region and year "
                  "effects; SE clustered by region"),
    Specification("productivity", "fe_ols", "region_lagged", "log_grdp_per_worker", ("lag_log_innovation_per_worker",),
                  (("region_code",), ("year",)), "region_code",
                  "OLS: ln real GRDP per employed on ln graduate students per employed of year t-1, region and "
                  "year effects; SE clustered by region"),
)


@dataclass(frozen=True)
class Mapping:
    """A coefficient → model parameter map: ``prior = transform(coefficient)``, in words ``formula``."""

    model: str
    term: str
    parameter: str
    transform: Callable[[float], float]
    formula: str


def _pull() -> float:
    """Default of the pull elasticity [1] in calibration/parameters.toml (the normalisation of the weights)."""
    return float(_definitions_by_model()["pull elasticity"]["default"])


def _definitions_by_model() -> dict[str, dict]:
    return {d["model"]: d for d in parameter_definitions().values() if isinstance(d, dict) and "model" in d}


def mappings() -> tuple[Mapping, ...]:
    """The coefficient → parameter maps (the weights divide by the default pull elasticity)."""
    pull = _pull()
    per_pull = f"b / pull elasticity (held at its default {pull:g})"
    return (
        Mapping("gravity_model_form", "log_distance", "distance elasticity", lambda b: -b, "-b"),
        Mapping("gravity_model_form", "log_population", "destination size elasticity", lambda b: b, "b"),
        Mapping("gravity_model_form", "log_grdp_per_capita", "income weight", lambda b: b / pull, per_pull),
        Mapping("gravity_model_form", "employment_rate", "jobs weight", lambda b: b / pull,
                per_pull + "; the employment rate as a fraction, as in the model"),
        Mapping("gravity_model_form", "log_innovation_per_worker", "innovation weight", lambda b: b / pull,
                per_pull + "; assumes ln(innovation base per worker) moves one for one with ln(graduate students "
                           "per employed)"),
        Mapping("gravity_model_form", "log_density", "congestion weight", lambda b: -b / pull, "-" + per_pull),
        Mapping("fertility", "log_density", "congestion elasticity of fertility", lambda b: -b, "-b"),
        Mapping("fertility", "log_grdp_per_capita", "income elasticity of fertility", lambda b: b, "b"),
        Mapping("fertility", "log_employment_rate", "jobs elasticity of fertility", lambda b: b, "b"),
        Mapping("productivity", "lag_log_innovation_per_worker", "productivity elasticity of innovation",
                lambda b: b, "b; assumes the innovation base moves one for one with the proxy"),
    )


#: Parameters of the migration and attractiveness block that these regressions cannot identify.
NOT_IDENTIFIED = {
    "pull elasticity": "only the products pull elasticity x weight are identified by destination choice; "
                       "the weights are reported at its default",
    "push elasticity": "the origins' propensities to move are absorbed by the origin-year effects of destination "
                       "choice; it needs a regression of out-migration rates on the origin's attractiveness",
    "services weight": "no series of local public spending, facilities or service capital in the "
                       "observation set",
    "regulation weight": "the regulation strength is a policy lever (model/levers.toml), not an observed "
                         "series; the observation set gives no destination-by-year measure of it",
}


#: Why a coefficient carries no prior (by term, else by regression).
NO_PRIOR = {
    "same_bloc": "stands in for contiguity (the project has no adjacency table); the model has no such term",
    "gravity": "conditional on same_bloc, which the model lacks; the priors come from gravity_model_form",
    "gravity_within": "identified from changes within a destination over time only; a check, no prior",
}


def delta_method(transform: Callable[[float], float], estimate: float, std_error: float,
                 step: float = 1e-6) -> tuple[float, float]:
    """Mean and standard deviation of ``transform(b)`` for b with ``estimate`` and ``std_error``
    (first-order delta method, central-difference derivative)."""
    h = step * max(1.0, abs(estimate))
    slope = (transform(estimate + h) - transform(estimate - h)) / (2 * h)
    return float(transform(estimate)), float(abs(slope) * std_error)


def add_lagged_innovation(panel: pd.DataFrame) -> pd.DataFrame:
    """The region panel with ``lag_log_innovation_per_worker`` (the previous year's value; rows of a
    region's first year or after a gap are dropped)."""
    panel = panel.sort_values(["region_code", "year"]).copy()
    previous = panel.groupby("region_code")[["year", "log_innovation_per_worker"]].shift(1)
    panel["lag_log_innovation_per_worker"] = previous["log_innovation_per_worker"].where(
        previous["year"] == panel["year"] - 1)
    return panel.dropna(subset=["lag_log_innovation_per_worker"]).reset_index(drop=True)


def fit_specification(spec: Specification, panel: pd.DataFrame) -> Estimate:
    """Fit one regression of :data:`SPECIFICATIONS` on its panel (a pure function of the table)."""
    fitter = {"ppml": ppml, "fe_ols": fe_ols}[spec.estimator]
    return fitter(panel, spec.outcome, spec.terms, spec.fixed_effects, spec.cluster,
                  model=spec.model, spec=spec.spec, what=f"{spec.panel} panel")


def estimate_all(root=None) -> list[Estimate]:
    """Fit every regression of :data:`SPECIFICATIONS` on the observation set in ``root``."""
    regions = region_panel(root)
    panels = {"gravity": gravity_panel(root), "region": regions, "region_lagged": add_lagged_innovation(regions)}
    return [fit_specification(s, panels[s.panel]) for s in SPECIFICATIONS]


def _range_note(definition: dict, prior_mean: float) -> str:
    low, high = definition["range"]
    note = f"model default {definition['default']:g}, range [{low:g}, {high:g}]"
    if not low <= prior_mean <= high:
        note += "; estimate outside the model's range"
    return note


def estimates_table(estimates: list[Estimate]) -> pd.DataFrame:
    """estimates.csv: one row per regressor of every regression, then one per parameter not identified."""
    maps = {(m.model, m.term): m for m in mappings()}
    definitions = _definitions_by_model()
    rows = []
    for est in estimates:
        for term in est.coef.index:
            row = {"model": est.model, "term": term, "estimate": est.coef[term], "std_error": est.std_error[term],
                   "p_value": est.p_value[term], "n": est.n, "parameter": "", "prior_mean": np.nan,
                   "prior_sd": np.nan, "note": ""}
            mapping = maps.get((est.model, term))
            if mapping is not None:
                mean, sd = delta_method(mapping.transform, est.coef[term], est.std_error[term])
                row.update(parameter=mapping.parameter, prior_mean=mean, prior_sd=sd,
                           note=f"prior = {mapping.formula}; {_range_note(definitions[mapping.parameter], mean)}")
            else:
                row["note"] = NO_PRIOR.get(term, NO_PRIOR.get(est.model, ""))
            rows.append(row)
    for parameter, why in NOT_IDENTIFIED.items():
        rows.append({"model": "", "term": "", "estimate": np.nan, "std_error": np.nan, "p_value": np.nan, "n": 0,
                     "parameter": parameter, "prior_mean": np.nan, "prior_sd": np.nan,
                     "note": f"not identified: {why}"})
    return pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))


def fit_table(estimates: list[Estimate]) -> pd.DataFrame:
    """fit.csv: observations and every fit statistic of every regression, long format."""
    rows = []
    for est in estimates:
        rows.append({"model": est.model, "statistic": "n", "value": float(est.n), "spec": est.spec})
        rows += [{"model": est.model, "statistic": k, "value": float(v), "spec": est.spec} for k, v in est.fit.items()]
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS))


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV to a temporary sibling, then move it into place (os.replace)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            frame.to_csv(f, index=False, float_format="%.6g")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_evidence(out: Path, root=None) -> tuple[Path, Path, list[Estimate]]:
    """Fit every regression and write ``out/estimates.csv`` and ``out/fit.csv`` (each atomically).

    out : Path  folder (created if absent); root : Path, optional  calibration folder to read
    Returns the two paths and the estimates.
    """
    estimates = estimate_all(root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "estimates.csv", out / "fit.csv"
    _write_atomic(estimates_table(estimates), paths[0])
    _write_atomic(fit_table(estimates), paths[1])
    return paths[0], paths[1], estimates
