"""The calibrated, constrained ensemble: parameter sets sampled around a fitted set,
kept when they fit history as well as the fit does (within its confidence region).

Parameters marked ``ensemble = "prior"`` in calibration/parameters.toml (projection
assumptions history does not constrain, such as the mortality index drift) are not
fitted: every member draws them from their normal prior, clipped to the range
(:func:`prior_draws`), independently of the fitted parameters' draws."""

from __future__ import annotations

import csv
import io
import json
import os
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import f as f_dist

from kbalance.calibration.fit import (free_parameters, read_fitted_unit, residuals, residuals_and_jacobian,
                                      simulate_targets, to_table)
from kbalance.calibration.report import lag_one_autocorrelation
from kbalance.calibration.targets import Target, last_time, read_targets, target_variables
from kbalance.engine.ensemble import run_ensemble
from kbalance.engine.runtime import check_dtype, check_engine
from kbalance.errors import (InvalidValueError, KbalanceInputError, MissingColumnError, MissingFileError,
                             MissingValueError)
from kbalance.model.mdl import variable_names
from kbalance.model.parameters import fitted_versions, parameter_definitions
from kbalance.outputs import replace_file
from kbalance.paths import calibration_dir

#: Confidence level of the constraint on the objective.
CONFIDENCE = 0.95
#: Standard deviations of the proposal relative to the linearised posterior: below 1 the
#: samples stay nearer the fit, so more of them pass the same constraint.
PROPOSAL_SCALE = 0.5
#: Accepted members written (the first in sampling order, itself random).
STORED_MEMBERS = 1000
#: Members whose screened objective is within this fraction of the threshold are decided
#: by their float64 objective [-]: 60 times the largest relative difference between the
#: float32 and float64 objectives seen (1.7e-6; docs/engine.md, Ensembles).
SCREENING_MARGIN = 1e-4


def chunk_costs(result, targets: Sequence[Target]) -> np.ndarray:
    """Objective (half the sum of squared weighted residuals) [-] of each member of one
    chunk's engine ``result``."""
    model = {t.name: result[t.variable].sel(year=t.times).values for t in targets}
    r = residuals(model, targets)
    return 0.5 * np.einsum("ij,ij->i", r, r)


def recheck_members(screened: np.ndarray, threshold: float, margin: float = SCREENING_MARGIN,
                    stored: int = STORED_MEMBERS) -> np.ndarray:
    """Indices of the members whose objective is recomputed in float64 after a screening
    of objectives ``screened`` [-]: those within ``margin`` × ``threshold`` of the threshold
    (where the screening's rounding could decide), and the first ``stored`` + that many
    that pass (those written, whichever way the near ones fall). Sorted."""
    near = np.flatnonzero(np.abs(screened - threshold) <= margin * threshold)
    passing = np.flatnonzero(screened <= threshold)[:stored + near.size]
    return np.union1d(near, passing)


def prior_draws(members: int, rng: np.random.Generator, definitions: dict | None = None) -> pd.DataFrame:
    """Draws of the parameters with ``ensemble = "prior"``: members × model constants
    [model units], each N(prior_mean, prior_sd²) clipped to the parameter's range."""
    definitions = definitions if definitions is not None else parameter_definitions()
    columns = {}
    for spec in definitions.values():
        if spec.get("ensemble") == "prior":
            low, high = spec["range"]
            columns[spec["model"]] = np.clip(rng.normal(spec["prior_mean"], spec["prior_sd"], members), low, high)
    return pd.DataFrame(columns, index=pd.RangeIndex(members))


def constrained_ensemble(fitted: Path, members: int = 100_000, keep: int = 200, seed: int = 20261129,
                         workers: int | None = None, chunk_size: int = 1000,
                         progress: bool = True, scheduler: str | None = None,
                         dtype: str = "float32", engine: str = "auto") -> tuple[pd.DataFrame, dict]:
    """Sample around a fitted set and keep the members whose fit passes the constraint.

    Members are drawn from the linearised posterior of the least-squares fit,
    N(x*, c² (JᵀJ/s² + 12 I)⁻¹) in unit-cube coordinates, with s² = 2 S*/(n_eff − p),
    the precision of the uniform prior (variance 1/12 over each range) and the proposal
    scale c (:data:`PROPOSAL_SCALE`), clipped to the parameter ranges. A member is kept when its objective S satisfies Beale's
    (1960) confidence-region bound S ≤ S* (1 + p/(n − p) F(p, n − p; 0.95)).

    Parameters with ``ensemble = "prior"`` are drawn by :func:`prior_draws` (seeded from
    ``seed`` on a stream of their own) and run with the fitted ones.

    Screening: every member's objective is computed in ``dtype`` on the execution path
    ``engine`` (default float32 on the fused path where numba imports; see
    :func:`kbalance.engine.ensemble.run_ensemble`). The members :func:`recheck_members`
    names (near the threshold, and those written) are then recomputed in float64 on the
    numpy path, which decides them, so the accepted set and the written costs are those of
    a float64 run. Should the screening differ from float64 on them by more than a tenth
    of :data:`SCREENING_MARGIN` × the threshold, every member is recomputed.
    ``dtype="float64", engine="numpy"`` screens on the reference path itself.

    Returns the accepted members (at most :data:`STORED_MEMBERS`; one row each: member,
    cost, parameter columns) and a description of the threshold and counts.
    """
    params = free_parameters()
    x_star, until = read_fitted_unit(Path(fitted), params)
    targets = read_targets(until=until)
    r0, jac = residuals_and_jacobian(x_star, params, targets)
    best = {k: v[0] for k, v in simulate_targets(to_table(params, x_star), targets).items()}
    rho = lag_one_autocorrelation(best, targets)
    n, p = r0.size, len(x_star)
    n_eff = max(p + 1.0, n * (1 - rho) / (1 + rho))
    cost_star = 0.5 * float(r0 @ r0)
    s2 = 2 * cost_star / (n_eff - p)
    # posterior precision: the data's J'J / s² plus the precision of the uniform prior
    # over each range (variance 1/12 in unit coordinates), which bounds unidentified directions
    cov = np.linalg.inv(jac.T @ jac / s2 + 12.0 * np.eye(p))
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    rng = np.random.default_rng(seed)
    unit = np.clip(x_star + PROPOSAL_SCALE * rng.standard_normal((members, p)) @ root.T, 0.0, 1.0)
    threshold = cost_star * (1 + p / (n_eff - p) * float(f_dist.ppf(CONFIDENCE, p, n_eff - p)))
    drawn = prior_draws(members, np.random.default_rng([seed, 1]))
    sampled = pd.concat([to_table(params, unit), drawn], axis=1)
    dtype = check_dtype(dtype, "constrained_ensemble").name
    engine = "fused" if check_engine(engine, "constrained_ensemble") else "numpy"
    processes = workers or os.cpu_count() or 1

    def objectives(rows: pd.DataFrame, dtype: str, engine: str, progress: bool) -> np.ndarray:
        if rows.empty:  # nothing near the threshold and nothing passing
            return np.empty(0)
        size = min(chunk_size, -(-len(rows) // processes))  # a few rows still go to every process
        return np.concatenate(run_ensemble(rows, None, last_time(targets), target_variables(targets),
                                           chunk_size=size, workers=workers, progress=progress,
                                           scheduler=scheduler, reduce=partial(chunk_costs, targets=targets),
                                           dtype=dtype, engine=engine))

    costs = objectives(sampled, dtype, engine, progress)
    rechecked, largest = np.arange(members), 0.0
    if (dtype, engine) != ("float64", "numpy"):
        rechecked = recheck_members(costs, threshold)
        exact = objectives(sampled.iloc[rechecked], "float64", "numpy", False)
        largest = float(np.max(np.abs(costs[rechecked] - exact), initial=0.0) / threshold)
        if largest > SCREENING_MARGIN / 10:  # the screening is less accurate than the margin assumes
            rechecked = np.arange(members)
            exact = objectives(sampled, "float64", "numpy", progress)
        costs[rechecked] = exact
    passed = np.flatnonzero(costs <= threshold)
    accepted = passed[:STORED_MEMBERS]
    table = sampled.iloc[accepted].reset_index(drop=True)
    table.insert(0, "cost", costs[accepted])
    table.insert(0, "member", accepted)
    info = {
        "fitted_set": Path(fitted).name, "until": until, "seed": seed, "members_sampled": members,
        "members_accepted": int(passed.size), "acceptance_rate": float(passed.size / members),
        "members_stored": int(accepted.size), "proposal_scale": PROPOSAL_SCALE,
        "cost_best_fit": cost_star, "threshold": threshold, "residuals": n, "parameters": p,
        "lag1_autocorrelation": rho, "effective_residuals": n_eff,
        "confidence": CONFIDENCE, "prior_parameters": list(drawn.columns),
        "screening": {"dtype": dtype, "engine": engine, "margin": SCREENING_MARGIN,
                      "members_rechecked_float64": int(rechecked.size),
                      "largest_difference_over_threshold": largest},
        "method": ("members drawn from N(x*, c^2 (J'J/s^2 + 12 I)^-1), c = proposal_scale, in unit-cube coordinates around the fitted set "
                   "(linearised posterior with the uniform priors' precision, s^2 = 2 S*/(n_eff - p)), clipped to "
                   "the parameter ranges; kept when the objective S <= S* (1 + p/(n_eff-p) F(p, n_eff-p; 0.95)), "
                   "Beale's (1960) confidence region for nonlinear least squares with the effective number of "
                   "residuals n_eff = n (1 - rho)/(1 + rho) for lag-one autocorrelation rho"),
        "justification": ("The bound is the objective level reached by the 95 % confidence region of the "
                          "least-squares fit. Residuals of annual series are strongly autocorrelated, so the number "
                          "of independent residuals is far below their count; n_eff corrects for that (Bretherton "
                          "et al. 1999). Members within the bound fit history as well as the best fit does, within "
                          "sampling error."),
    }
    if passed.size < keep:
        info["warning"] = f"fewer than {keep} members passed the constraint"
    return table, info


def ensemble_path(fitted: Path) -> Path:
    """calibration/fitted/<version>-ensemble.csv for a fitted set <version>.toml."""
    fitted = Path(fitted)
    return fitted.with_name(f"{fitted.stem}-ensemble.csv")


def latest_ensemble_set() -> Path | None:
    """The fitted set calibration/fitted/v<N>.toml with the highest N that has a constrained
    ensemble beside it (a newer set without one is not used), or None."""
    with_ensemble = [p for p in fitted_versions().values() if ensemble_path(p).is_file()]
    return with_ensemble[-1] if with_ensemble else None


#: What a constrained-ensemble file holds.
ENSEMBLE_FILE = ("a CSV written by kbalance ensemble: columns member, cost and one per parameter, "
                 "a finite number in every cell")


def ensemble_table(path: Path) -> pd.DataFrame:
    """The rows of a constrained-ensemble file as written (member, cost, parameter columns),
    checked: UTF-8 text, as many cells in each line as in the header, the columns
    member and cost, at least one member and a finite number in every cell;
    KbalanceInputError naming the file and the column otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KbalanceInputError(path, "(file)", "not UTF-8 text", ENSEMBLE_FILE) from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise KbalanceInputError(path, "(file)", "empty file", ENSEMBLE_FILE)
    ragged = next((i for i, row in enumerate(rows) if len(row) != len(rows[0])), None)
    if ragged is not None:
        raise KbalanceInputError(path, "(file)", f"line {ragged + 1} has {len(rows[ragged])} cells, the header "
                                 f"{len(rows[0])}", ENSEMBLE_FILE)
    raw = pd.read_csv(io.StringIO(text))
    for column in ("member", "cost"):
        if column not in raw.columns:
            raise MissingColumnError(path, column, ENSEMBLE_FILE)
    if raw.empty:
        raise KbalanceInputError(path, "member", "no members", "at least one member row")
    for column in raw.columns:
        values = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            if pd.isna(raw[column].iloc[row]):
                raise MissingValueError(path, column, f"member row {row + 1}")
            raise InvalidValueError(path, column, raw[column].iloc[row], "a finite number in every row")
    return raw


def read_ensemble(fitted: Path | None = None) -> pd.DataFrame:
    """The constrained ensemble of a fitted set (default: :func:`latest_ensemble_set`):
    members × engine parameter columns [model units], indexed by ``member``, without ``cost``
    and without columns of constants model/kbalance.mdl no longer has (an ensemble of an
    earlier model)."""
    fitted = Path(fitted) if fitted is not None else latest_ensemble_set()
    path = ensemble_path(fitted) if fitted is not None else calibration_dir() / "fitted" / "v<N>-ensemble.csv"
    if not path.is_file():
        raise MissingFileError(path, "constrained ensemble", "run kbalance calibrate, then kbalance ensemble")
    table = ensemble_table(path).set_index("member").drop(columns=["cost"])
    known = variable_names()
    return table[[c for c in table.columns if c.partition("[")[0] in known]]


def write_ensemble(table: pd.DataFrame, info: dict, version: str) -> Path:
    """calibration/fitted/<version>-ensemble.csv and its description <version>-ensemble.json,
    each written atomically (an earlier ensemble of the version is replaced)."""
    folder = calibration_dir() / "fitted"
    path = replace_file(folder / f"{version}-ensemble.csv",
                        lambda tmp: table.to_csv(tmp, index=False, float_format="%.10g"))
    text = json.dumps(info, indent=2) + "\n"
    replace_file(folder / f"{version}-ensemble.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path
