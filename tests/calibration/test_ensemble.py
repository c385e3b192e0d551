"""The constrained ensemble: the autocorrelation correction, sampling, and its files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kbalance.calibration.ensemble import (constrained_ensemble, ensemble_path, lag_one_autocorrelation,
                                           latest_ensemble_set, read_ensemble, write_ensemble)
from kbalance.calibration.targets import Target
from kbalance.errors import MissingFileError
from kbalance.model.parameters import latest_fitted_set


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
    again, _ = constrained_ensemble(fitted, members=60, workers=1, chunk_size=60, progress=False)
    pd.testing.assert_frame_equal(first, again)
    assert info["threshold"] > info["cost_best_fit"] and 0 < info["lag1_autocorrelation"] < 1
    assert (first["cost"] <= info["threshold"]).all()
    assert info["members_sampled"] == 60


def test_the_latest_set_with_an_ensemble_is_used(fitted_folder):
    assert latest_ensemble_set() is None
    with pytest.raises(MissingFileError, match="v<N>-ensemble.csv"):
        read_ensemble()
    for name in ("v2.toml", "v2-ensemble.csv", "v9.toml", "v10.toml", "v10-ensemble.csv", "v11.toml"):
        (fitted_folder / name).write_text("")
    assert ensemble_path(fitted_folder / "v10.toml") == fitted_folder / "v10-ensemble.csv"
    assert latest_ensemble_set() == fitted_folder / "v10.toml"  # v11 has no ensemble yet


def test_written_ensembles_read_back_without_cost(fitted_folder):
    table = pd.DataFrame({"member": [3, 8], "cost": [1.5, 1.25], "gompertz slope": [0.1, 0.2],
                          "regional fertility factor[Seoul]": [1.0, 2.0], "tax base factor[Seoul]": [1.0, 1.1]})
    info = {"members_sampled": 10, "members_accepted": 2}
    path = write_ensemble(table, info, "v4")
    assert path == fitted_folder / "v4-ensemble.csv"
    assert json.loads((fitted_folder / "v4-ensemble.json").read_text()) == info
    (fitted_folder / "v4.toml").write_text("")
    read = read_ensemble()
    # a parameter the model no longer defines (the earlier fiscal sector's) is left out
    assert list(read.index) == [3, 8] and list(read.columns) == ["gompertz slope", "regional fertility factor[Seoul]"]
    write_ensemble(table.iloc[:1], info, "v4")  # a new ensemble of the same set replaces the old
    assert list(read_ensemble(fitted_folder / "v4.toml").index) == [3]
    assert sorted(p.name for p in fitted_folder.iterdir()) == ["v4-ensemble.csv", "v4-ensemble.json", "v4.toml"]
