"""The least-squares fit: free parameters, residuals, fitted sets and their versions."""

from __future__ import annotations

import inspect
import tomllib

import numpy as np
import pandas as pd
import pytest

from kbalance import cli
from kbalance.calibration import fit as fit_module
from kbalance.calibration.fit import (MAX_EVALUATIONS, FitResult, FreeParameter, calibrate, fit, fit_overview,
                                      free_parameters, next_version, parameter_report, prior_residuals, prior_unit,
                                      read_fitted_unit, residuals, to_table, write_fitted_set)
from kbalance.calibration.targets import Target, read_targets
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import read_parameter_set
from kbalance.paths import calibration_dir


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


def test_a_short_fit_lowers_the_posterior_cost_and_reports_the_cap():
    result = fit(until=2004, max_evaluations=3, progress=False)
    assert result.cost < result.initial_cost
    assert 1 <= result.evaluations <= 3
    assert all(0 <= u <= 1 for u in result.unit)
    assert result.data_cost + result.prior_cost == pytest.approx(result.cost)
    assert result.prior_cost > 0 and result.data_scale > 0 and result.data_points > 0
    assert not result.converged  # three evaluations do not reach the tolerance


def _scripted_scales(monkeypatch, scales):
    """fit() with its searches replaced: each converges in 10 evaluations where it starts,
    and the data scale is estimated as ``scales`` gives, one value per estimate."""
    from types import SimpleNamespace

    estimates = iter(scales)
    starts = []

    def search(x0, scale, params, targets, budget, workers, progress):
        starts.append(scale)
        return SimpleNamespace(x=x0, nfev=10, status=2, cost=1.0, message="ftol"), 2.0

    monkeypatch.setattr(fit_module, "_fit_at_scale", search)
    monkeypatch.setattr(fit_module, "data_scale", lambda x, params, targets: (next(estimates), 100, 50.0))
    monkeypatch.setattr(fit_module, "read_targets", lambda until: [])
    return starts


def test_the_fit_searches_again_until_the_data_scale_settles(monkeypatch):
    """A start far from the data (the defaults) gives a large s, under which the priors
    would outweigh the data: the fit re-estimates s where each search ends."""
    starts = _scripted_scales(monkeypatch, [8.0, 0.2, 0.04, 0.0305, 0.0300])
    result = fit(progress=False)
    assert starts == [8.0, 0.2, 0.04, 0.0305]  # the last estimate, 0.0300, is within 5 % of 0.0305
    assert result.scale_rounds == 4 and result.evaluations == 40 and result.converged
    assert result.data_scale == 0.0305 and result.initial_cost == 2.0


def test_a_data_scale_that_does_not_settle_is_not_a_converged_fit(monkeypatch):
    _scripted_scales(monkeypatch, [2.0 ** -k for k in range(fit_module.MAX_SCALE_ROUNDS + 1)])
    result = fit(progress=False)
    assert result.scale_rounds == fit_module.MAX_SCALE_ROUNDS and not result.converged
    assert fit_overview(result, pd.DataFrame({"at_bound": [""]})).set_index("statistic").loc["scale_rounds", "value"] == 10


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


def test_prior_residuals_measure_distance_from_the_evidence_and_shrink_regions_to_their_mean():
    params = [FreeParameter("a", "a", 0.0, 2.0, 1.0, prior_mean=0.5, prior_sd=0.25),
              FreeParameter("u", "u", 0.0, 1.0, 0.5),
              *[FreeParameter("r", f"r[{e}]", -1.0, 1.0, 0.0, spread=0.1) for e in "xyz"]]
    x = np.array([0.5, 0.3, 0.5, 0.6, 0.7])  # a = 1.0, r = (0, 0.2, 0.4)
    r, jac = prior_residuals(x, params)
    np.testing.assert_allclose(r, [2.0, -2.0, 0.0, 2.0])  # (1 - 0.5)/0.25; (r - 0.2)/0.1
    step = 1e-6
    numeric = np.array([(prior_residuals(x + step * np.eye(5)[i], params)[0] - r) / step for i in range(5)]).T
    np.testing.assert_allclose(jac, numeric, atol=1e-6)
    assert not jac[:, 1].any()  # a uniform prior adds nothing within its range


def test_the_shipped_priors_follow_the_evidence():
    table = pd.read_csv(calibration_dir() / "evidence" / "estimates.csv").dropna(subset=["prior_mean"])
    rows = {r["parameter"]: r for _, r in table.iterrows()}
    params = {p.column: p for p in free_parameters()}
    # the migration profile's priors come from the residual method (tests/evidence/test_migration_ages.py)
    entries = tomllib.loads((calibration_dir() / "parameters.toml").read_text("utf-8")).values()
    by_residuals = {e["model"] for e in entries if "kbalance.evidence.migration_ages" in e.get("reason", "")}
    assert len(by_residuals) == 10
    # the regional mortality priors come from the standardised ratios, the sex gap's from the UN WPP
    # 2024 gap (tests/evidence/test_mortality.py)
    by_ratios = {e["model"] for e in entries if "kbalance.evidence.mortality" in e.get("reason", "")}
    assert by_ratios == {"regional mortality ratio", "regional mortality trend", "life expectancy sex gap target"}
    # the new city's newcomer fertility from its TFR as it filled (tests/evidence/test_new_city.py)
    by_new_city = {e["model"] for e in entries if "kbalance.evidence.new_city" in e.get("reason", "")}
    assert by_new_city == {"new city fertility ratio"}
    normal = {c: p for c, p in params.items()
              if p.prior == "normal" and c.partition("[")[0] not in by_residuals | by_new_city | by_ratios}
    assert set(normal) == set(rows) and len(rows) >= 10
    for column, p in normal.items():
        assert p.prior_mean == pytest.approx(float(rows[column]["prior_mean"]), rel=1e-5)
        assert p.prior_sd == pytest.approx(float(rows[column]["prior_sd"]), rel=1e-5)
        # two evidence means lie below ranges that stay at 0 (a negative power of a zero base)
        assert p.low <= p.prior_mean <= p.high or (p.low == 0 and p.prior_mean < 0), column
    assert {p.key for p in params.values() if p.spread} >= {"regional_fertility_factor", "region_attractiveness_constant"}


def test_parameter_report_flags_bounds_and_the_overview_counts_them():
    params = free_parameters()
    unit = prior_unit(params)
    unit[0], unit[1] = 0.0, 1.0
    report = parameter_report(params, unit)
    assert len(report) == len(params) and list(report["column"]) == [p.column for p in params]
    assert list(report["at_bound"][:2]) == ["low", "high"]
    assert np.isfinite(report.loc[report["prior"] == "normal", "z"]).all()
    result = FitResult(values={}, unit=unit, cost=3.0, initial_cost=5.0, evaluations=4, status="test", until=2010,
                       converged=False, data_points=100, data_cost=2.0, prior_cost=1.0)
    overview = fit_overview(result, report).set_index("statistic")["value"]
    assert overview["free_parameters"] == len(params) and overview["data_points"] == 100
    assert overview["parameters_at_bound"] == (report["at_bound"] != "").sum() >= 2
    assert overview["hit_evaluation_cap"] == 1
