"""The least-squares fit: free parameters, residuals, fitted sets and their versions."""

from __future__ import annotations

import inspect
import tomllib

import numpy as np
import pytest

from kbalance import cli
from kbalance.calibration import fit as fit_module
from kbalance.calibration.fit import (MAX_EVALUATIONS, FitResult, calibrate, fit, free_parameters, next_version,
                                      prior_unit, read_fitted_unit, residuals, to_table, write_fitted_set)
from kbalance.calibration.targets import Target, read_targets
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import read_parameter_set


def test_residuals_vanish_when_the_model_equals_the_data():
    targets = read_targets(until=2006)
    model = {t.name: np.nan_to_num(t.observed)[None, ...] for t in targets}
    assert np.abs(residuals(model, targets)).max() == 0


def test_residuals_are_weighted_normalised_and_skip_missing_cells():
    observed = np.array([[1.0, np.nan], [3.0, 4.0]])
    target = Target("t", "s", "v", np.array([2001, 2002]), observed, 0, 4.0, 2.0)
    r = residuals({"t": np.array([[[2.0, 9.0], [3.0, 6.0]]])}, [target])
    np.testing.assert_allclose(r, [[1.0, 0.0, 2.0]])  # (model - observed) * sqrt(4) / 2


def test_unit_cube_round_trip_of_the_priors():
    params = free_parameters()
    table = to_table(params, prior_unit(params))
    assert list(table.columns) == [p.column for p in params]
    np.testing.assert_allclose(table.iloc[0].to_numpy(), [p.default for p in params], rtol=1e-12)


def _prior_result(until: int = 2010) -> FitResult:
    params = free_parameters()
    unit = prior_unit(params)
    table = to_table(params, unit)
    return FitResult(values={c: float(v) for c, v in table.iloc[0].items()}, unit=unit, cost=1.0,
                     initial_cost=2.0, evaluations=7, status="test", until=until)


def test_fitted_sets_round_trip(tmp_path):
    path = write_fitted_set(_prior_result(), tmp_path / "v9.toml")
    assert [p.name for p in tmp_path.iterdir()] == ["v9.toml"]  # no temporary file left
    meta = tomllib.loads(path.read_text())["meta"]
    assert meta["evaluations"] == 7 and meta["until"] == 2010
    fitted, prior = read_parameter_set(path).values, read_parameter_set().values
    assert fitted.keys() == prior.keys()
    for key in prior:
        np.testing.assert_allclose(fitted[key], prior[key], rtol=1e-12, err_msg=key)
    unit, until = read_fitted_unit(path, free_parameters())
    np.testing.assert_allclose(unit, prior_unit(free_parameters()), atol=1e-12)
    assert until == 2010


def test_a_short_fit_lowers_the_cost():
    result = fit(until=2004, max_evaluations=3, progress=False)
    assert result.cost < result.initial_cost
    assert 1 <= result.evaluations <= 3
    assert all(0 <= u <= 1 for u in result.unit)


def test_one_evaluation_cap_for_the_fit_calibrate_and_the_command():
    assert inspect.signature(fit).parameters["max_evaluations"].default == MAX_EVALUATIONS
    assert inspect.signature(calibrate).parameters["max_evaluations"].default == MAX_EVALUATIONS
    args = cli.build_parser().parse_args(["calibrate"])
    assert args.max_evaluations == MAX_EVALUATIONS


def test_next_version_follows_the_highest_fitted_set(fitted_folder):
    assert next_version() == "v1"
    for name in ("v2.toml", "v10.toml", "v9.toml", "vx.toml", "v12-draft.toml"):
        (fitted_folder / name).write_text("")
    assert next_version() == "v11"


def test_calibrate_refuses_an_existing_version_or_report_before_fitting(fitted_folder, monkeypatch):
    def no_fit(**kwargs):
        raise AssertionError("fit started")

    monkeypatch.setattr(fit_module, "fit", no_fit)
    (fitted_folder / "v1.toml").write_text("")
    with pytest.raises(InvalidValueError, match="v1.toml.*'--version'"):
        calibrate(version="v1")
    report = fitted_folder.parent / "report"
    report.mkdir()
    (report / "fit_statistics.csv").write_text("")
    with pytest.raises(InvalidValueError, match="report.*'--out'"):
        calibrate(out=report)
