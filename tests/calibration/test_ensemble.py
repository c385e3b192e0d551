"""The constrained ensemble: the autocorrelation correction, sampling, and its files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kbalance.calibration.ensemble import (SCREENING_MARGIN, constrained_ensemble, ensemble_path,
                                           lag_one_autocorrelation, latest_ensemble_set, prior_draws, read_ensemble,
                                           recheck_members, write_ensemble)
from kbalance.calibration.targets import Target
from kbalance.errors import KbalanceInputError, MissingFileError
from kbalance.model.parameters import latest_fitted_set, parameter_definitions


def test_lag_one_autocorrelation_of_smooth_and_alternating_residuals():
    years = np.arange(2001, 2021)
    observed = np.ones((20, 17))
    target = Target("t", "s", "v", years, observed, 0, 1.0, 1.0)
    smooth = observed + np.linspace(0, 1, 20)[:, None] * np.linspace(0.5, 1.5, 17)[None, :]
    alternating = observed + np.where(np.arange(20) % 2 == 0, 1.0, -1.0)[:, None] * np.ones((1, 17))
    assert lag_one_autocorrelation({"t": smooth}, [target]) > 0.8
    assert lag_one_autocorrelation({"t": alternating}, [target]) == 0.0  # negative correlation is floored


def test_a_small_constrained_ensemble_is_reproducible_and_within_its_threshold():
    fitted = latest_fitted_set()
    if fitted is None:
        pytest.skip("no fitted set shipped")
    first, info = constrained_ensemble(fitted, members=60, workers=1, chunk_size=60, progress=False)
    # the reference path (every objective in float64 on the numpy path) accepts the same members
    again, reference = constrained_ensemble(fitted, members=60, workers=1, chunk_size=60, progress=False,
                                            dtype="float64", engine="numpy")
    pd.testing.assert_frame_equal(first, again, check_exact=False, rtol=1e-12)
    assert info["members_accepted"] == reference["members_accepted"]
    assert info["screening"]["dtype"] == "float32" and reference["screening"]["members_rechecked_float64"] == 60
    assert 0 <= info["screening"]["largest_difference_over_threshold"] < SCREENING_MARGIN / 10
    assert info["threshold"] > info["cost_best_fit"] and 0 < info["lag1_autocorrelation"] < 1
    assert (first["cost"] <= info["threshold"]).all()
    assert info["members_sampled"] == 60
    # the prior-sampled drift is a column of its own, drawn for every member within its range
    assert info["prior_parameters"] == ["tfr path deviation", "mortality index drift"]
    drift = first["mortality index drift"]
    assert drift.between(-5.324, -2.078).all() and (drift.nunique() == len(first) or len(first) < 2)


def test_the_members_rechecked_are_those_near_the_threshold_and_those_written():
    screened = np.array([0.5, 1.0 + 5e-5, 2.0, 1.0 - 5e-5, 0.7, 0.9, 3.0, 0.99])
    # near the threshold 1: members 1 and 3; passing: 0, 3, 4, 5, 7, of which the first 2 + 2 are written or may be
    np.testing.assert_array_equal(recheck_members(screened, 1.0, margin=1e-4, stored=2), [0, 1, 3, 4, 5])
    np.testing.assert_array_equal(recheck_members(screened, 1.0, margin=1e-6, stored=2), [0, 3])
    # whichever way the near members fall in float64, the first members written are among those rechecked
    rechecked = recheck_members(screened, 1.0, margin=1e-4, stored=2)
    for exact_near in ([1.1, 1.1], [0.9, 0.9], [1.1, 0.9], [0.9, 1.1]):
        exact = screened.copy()
        exact[[1, 3]] = exact_near
        assert set(np.flatnonzero(exact <= 1.0)[:2]) <= set(rechecked)


def test_prior_draws_follow_the_normal_prior_clipped_to_the_range():
    definitions = parameter_definitions()
    spec = definitions["mortality_index_drift"]
    draws = prior_draws(20_000, np.random.default_rng(1), definitions)
    assert list(draws.columns) == ["tfr path deviation", "mortality index drift"]  # only ensemble = "prior" parameters
    values = draws["mortality index drift"]
    assert values.mean() == pytest.approx(spec["prior_mean"], abs=0.02)
    assert values.std() == pytest.approx(spec["prior_sd"], rel=0.03)
    narrow = {"x": {**spec, "model": "x", "range": [spec["prior_mean"] - 0.1, spec["prior_mean"] + 0.1]}}
    clipped = prior_draws(1000, np.random.default_rng(1), narrow)["x"]
    assert clipped.min() == spec["prior_mean"] - 0.1 and clipped.max() == spec["prior_mean"] + 0.1
    pd.testing.assert_frame_equal(prior_draws(50, np.random.default_rng(7)), prior_draws(50, np.random.default_rng(7)))


def test_the_latest_set_with_an_ensemble_is_used(fitted_folder):
    assert latest_ensemble_set() is None
    with pytest.raises(MissingFileError, match="v<N>-ensemble.csv"):
        read_ensemble()
    for name in ("v2.toml", "v2-ensemble.csv", "v9.toml", "v10.toml", "v10-ensemble.csv", "v11.toml"):
        (fitted_folder / name).write_text("")
    assert ensemble_path(fitted_folder / "v10.toml") == fitted_folder / "v10-ensemble.csv"
    assert latest_ensemble_set() == fitted_folder / "v10.toml"  # v11 has no ensemble yet


def test_written_ensembles_read_back_without_cost(fitted_folder):
    table = pd.DataFrame({"member": [3, 8], "cost": [1.5, 1.25], "mobility": [0.1, 0.2],
                          "regional fertility factor[Seoul]": [1.0, 2.0], "gompertz slope": [0.1, 0.1]})
    info = {"members_sampled": 10, "members_accepted": 2}
    path = write_ensemble(table, info, "v4")
    assert path == fitted_folder / "v4-ensemble.csv"
    assert json.loads((fitted_folder / "v4-ensemble.json").read_text()) == info
    (fitted_folder / "v4.toml").write_text("")
    read = read_ensemble()
    # the column of a constant the model no longer has (an older ensemble) is dropped
    assert list(read.index) == [3, 8] and list(read.columns) == ["mobility", "regional fertility factor[Seoul]"]
    write_ensemble(table.iloc[:1], info, "v4")  # a new ensemble of the same set replaces the old
    assert list(read_ensemble(fitted_folder / "v4.toml").index) == [3]
    assert sorted(p.name for p in fitted_folder.iterdir()) == ["v4-ensemble.csv", "v4-ensemble.json", "v4.toml"]


GOOD = "member,cost,mobility,gompertz slope\n3,1.5,0.1,0.1\n8,1.25,0.2,0.1\n"


@pytest.mark.parametrize("content, field, problem", [
    (b"", "(file)", "empty file"),
    (b"\xff\xfe" + GOOD.encode(), "(file)", "not UTF-8 text"),
    (b"member,cost,mobility,gompertz slope\n", "member", "no members"),
    (GOOD.replace("member,cost,", "member,price,").encode(), "cost", "column missing"),
    (GOOD.replace("3,1.5,0.1,0.1", "3,1.5,abc,0.1").encode(), "mobility", "invalid value 'abc'"),
    (GOOD.replace("8,1.25,0.2,0.1", "8,1.25,,0.1").encode(), "mobility", "missing value (NaN or empty) at member row 2"),
    (GOOD.replace("3,1.5,0.1,0.1", "3,1.5,0.1,0.1,7").encode(), "(file)", "line 2 has 5 cells, the header 4"),
    (GOOD.replace("8,1.25,0.2,0.1", "8,1.25,0.2").encode(), "(file)", "line 3 has 3 cells, the header 4"),
])
def test_a_broken_ensemble_file_is_refused_naming_the_file_and_the_column(fitted_folder, content, field, problem):
    (fitted_folder / "v4.toml").write_text("")
    (fitted_folder / "v4-ensemble.csv").write_bytes(content)  # was a traceback or a silent NaN
    with pytest.raises(KbalanceInputError) as info:
        read_ensemble(fitted_folder / "v4.toml")
    message = str(info.value)
    assert message.startswith(f"{fitted_folder / 'v4-ensemble.csv'}: field '{field}': ") and problem in message
