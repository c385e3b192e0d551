"""`kbalance evidence estimate` on the observation set: files, mapping to parameters, committed copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kbalance.cli import main
from kbalance.evidence.priors import (ESTIMATE_COLUMNS, FIT_COLUMNS, NOT_IDENTIFIED, SPECIFICATIONS,
                                      add_lagged_innovation, mappings)
from kbalance.model.parameters import parameter_definitions
from kbalance.paths import calibration_dir


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("evidence") / "evidence"
    assert main(["evidence", "estimate", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def estimates(written) -> pd.DataFrame:
    return pd.read_csv(written / "estimates.csv", dtype={"parameter": str}, keep_default_na=False,
                       na_values={"estimate": [""], "std_error": [""], "p_value": [""], "prior_mean": [""],
                                  "prior_sd": [""]})


def test_files_and_columns(written, estimates):
    fit = pd.read_csv(written / "fit.csv")
    assert tuple(estimates.columns) == ESTIMATE_COLUMNS and tuple(fit.columns) == FIT_COLUMNS
    assert set(fit["model"]) == {s.model for s in SPECIFICATIONS}
    assert not any(p.name.startswith(".") for p in written.iterdir())  # no temporary file left


def test_every_regressor_is_estimated_without_nan(estimates):
    fitted = estimates[estimates["model"] != ""]
    expected = [(s.model, t) for s in SPECIFICATIONS for t in s.terms]
    assert list(zip(fitted["model"], fitted["term"])) == expected
    assert fitted[["estimate", "std_error", "p_value"]].notna().all().all()
    assert (fitted["std_error"] > 0).all() and fitted["p_value"].between(0, 1).all()


def test_mapped_parameters_exist_and_carry_priors(estimates):
    known = {d["model"] for d in parameter_definitions().values() if isinstance(d, dict) and "model" in d}
    mapped = estimates[estimates["prior_mean"].notna()]
    assert set(mapped["parameter"]) == {m.parameter for m in mappings()}
    assert set(mapped["parameter"]) | set(NOT_IDENTIFIED) <= known
    assert (mapped["prior_sd"] > 0).all()
    # each parameter gets one prior
    assert not mapped["parameter"].duplicated().any()
    unidentified = estimates[estimates["model"] == ""]
    assert set(unidentified["parameter"]) == set(NOT_IDENTIFIED)
    assert unidentified["note"].str.startswith("not identified").all()


def test_signs_that_are_not_the_question(estimates, written):
    # Distance deters and destination size attracts in any gravity fit of migration;
    # the attribute weights are the question and are not constrained here.
    row = estimates.set_index(["model", "term"])
    for model in ("gravity", "gravity_model_form"):
        assert row.loc[(model, "log_distance"), "estimate"] < 0
        assert row.loc[(model, "log_population"), "estimate"] > 0
    assert row.loc[("gravity_model_form", "log_distance"), "prior_mean"] > 0  # the model's exponent is -b
    fit = pd.read_csv(written / "fit.csv").set_index(["model", "statistic"])["value"]
    for model in ("gravity", "gravity_model_form", "gravity_within"):
        assert 0 < fit[(model, "pseudo_r2")] < 1 and 0 < fit[(model, "r2_fitted")] < 1
        assert fit[(model, "converged")] == 1
        assert fit[(model, "n")] == 6080 and fit[(model, "clusters")] == 272
    assert fit[("fertility", "n")] == 391 and fit[("fertility", "clusters")] == 17


def test_committed_estimates_are_reproduced(estimates):
    committed = pd.read_csv(calibration_dir() / "evidence" / "estimates.csv", keep_default_na=False,
                            na_values={"estimate": [""], "std_error": [""], "prior_mean": [""], "prior_sd": [""]})
    assert list(committed["model"]) == list(estimates["model"])
    assert list(committed["term"]) == list(estimates["term"])
    for column in ("estimate", "std_error", "prior_mean", "prior_sd"):
        np.testing.assert_allclose(committed[column].to_numpy(float), estimates[column].to_numpy(float),
                                   rtol=1e-4, equal_nan=True)


def test_lagged_innovation_skips_gaps():
    panel = pd.DataFrame({"region_code": ["11"] * 4, "year": [2000, 2001, 2003, 2004],
                          "log_innovation_per_worker": [1.0, 2.0, 3.0, 4.0]})
    lagged = add_lagged_innovation(panel)
    assert list(lagged["year"]) == [2001, 2004]
    assert list(lagged["lag_log_innovation_per_worker"]) == [1.0, 3.0]
