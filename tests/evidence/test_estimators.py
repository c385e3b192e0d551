"""The estimators on synthetic data with known coefficients, and their input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from kbalance.errors import InvalidValueError, MissingColumnError, MissingValueError
from kbalance.evidence.estimators import design_matrix, fe_ols, ppml
from kbalance.evidence.priors import delta_method
from kbalance.regions import distance_km, region_codes

GRAVITY_TRUTH = {"log_distance": -1.1, "attr_a": 0.6, "attr_b": -0.4}


def synthetic_flows(seed: int = 7, years: range = range(2005, 2017), overdispersion: float = 0.3) -> pd.DataFrame:
    """Off-diagonal flows among the 17 regions from a gravity law with origin-year effects,
    two destination attributes and multiplicative gamma noise (mean 1, sd ``overdispersion``)."""
    rng = np.random.default_rng(seed)
    codes = region_codes()
    dist = distance_km()
    rows = []
    for year in years:
        attr_a = rng.normal(0, 1, len(codes))
        attr_b = rng.normal(0, 1, len(codes))
        for i, o in enumerate(codes):
            alpha = rng.normal(9.0, 0.7)
            for j, d in enumerate(codes):
                if i != j:
                    rows.append((year, o, d, np.log(dist[i, j]), attr_a[j], attr_b[j], alpha))
    frame = pd.DataFrame(rows, columns=["year", "origin", "dest", "log_distance", "attr_a", "attr_b", "alpha"])
    eta = frame["alpha"] + sum(b * frame[t] for t, b in GRAVITY_TRUTH.items())
    shape = 1.0 / overdispersion ** 2
    noise = rng.gamma(shape, 1.0 / shape, len(frame))
    frame["flow"] = rng.poisson(np.exp(eta) * noise).astype(float)
    frame["pair"] = frame["origin"] + "-" + frame["dest"]
    return frame


def test_ppml_recovers_known_coefficients_within_their_standard_errors():
    flows = synthetic_flows()
    est = ppml(flows, "flow", list(GRAVITY_TRUTH), [("origin", "year")], "pair")
    for term, truth in GRAVITY_TRUTH.items():
        assert abs(est.coef[term] - truth) < 3 * est.std_error[term], term
        assert 0 < est.std_error[term] < 0.1, term
    assert 0.5 < est.fit["pseudo_r2"] < 1 and 0.5 < est.fit["r2_fitted"] < 1
    assert est.n == len(flows) and est.fit["clusters"] == 272 and est.fit["converged"] == 1


def test_ppml_standard_errors_cover_the_truth_over_replications():
    # A standard error that is too small would fail this more often than chance allows.
    inside = 0
    for seed in range(20):
        est = ppml(synthetic_flows(seed, years=range(2010, 2014)), "flow", list(GRAVITY_TRUTH),
                   [("origin", "year")], "pair")
        inside += abs(est.coef["log_distance"] - GRAVITY_TRUTH["log_distance"]) < 1.96 * est.std_error["log_distance"]
    assert inside >= 15  # 95 % coverage: P(fewer than 15 of 20) < 0.3 %


def test_absorbed_fixed_effects_equal_the_full_dummy_regression():
    flows = synthetic_flows(3, years=range(2010, 2013))
    terms = list(GRAVITY_TRUTH)
    est = ppml(flows, "flow", terms, [("origin", "year"), ("dest",)], "pair")
    x, _ = design_matrix(flows, terms, [("origin", "year"), ("dest",)])
    full = sm.GLM(flows["flow"].to_numpy(), x, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(flows["pair"])[0]})
    np.testing.assert_allclose(est.coef.to_numpy(), full.params[:3], rtol=1e-6)
    np.testing.assert_allclose(est.std_error.to_numpy(), full.bse[:3], rtol=1e-5)
    np.testing.assert_allclose(est.p_value.to_numpy(), full.pvalues[:3], rtol=1e-4, atol=1e-12)


def synthetic_region_panel(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    regions, years = region_codes(), np.arange(2000, 2024)
    frame = pd.DataFrame([(r, y) for r in regions for y in years], columns=["region_code", "year"])
    region_effect = dict(zip(regions, rng.normal(0, 0.3, len(regions))))
    year_effect = dict(zip(years, rng.normal(0, 0.2, len(years))))
    frame["x1"] = rng.normal(0, 1, len(frame)) + frame["region_code"].map(region_effect)
    frame["x2"] = rng.normal(0, 0.5, len(frame))
    frame["y"] = (frame["region_code"].map(region_effect) + frame["year"].map(year_effect)
                  + 0.3 * frame["x1"] - 0.8 * frame["x2"] + rng.normal(0, 0.1, len(frame)))
    return frame


def test_fixed_effects_ols_recovers_known_coefficients():
    panel = synthetic_region_panel()
    est = fe_ols(panel, "y", ["x1", "x2"], [("region_code",), ("year",)], "region_code")
    for term, truth in {"x1": 0.3, "x2": -0.8}.items():
        assert abs(est.coef[term] - truth) < 3 * est.std_error[term], term
        assert est.std_error[term] < 0.05
    assert est.n == 17 * 24 and est.fit["clusters"] == 17 and est.fit["fixed_effects"] == 17 + 23
    assert 0.9 < est.fit["within_r2"] <= 1 and est.fit["r2"] >= est.fit["within_r2"]


def test_missing_column_is_a_typed_error_naming_table_and_column():
    panel = synthetic_region_panel().drop(columns="x2")
    with pytest.raises(MissingColumnError, match="region panel.*'x2'"):
        fe_ols(panel, "y", ["x1", "x2"], [("region_code",), ("year",)], "region_code")


def test_missing_value_is_a_typed_error():
    flows = synthetic_flows(1, years=range(2010, 2012))
    flows.loc[5, "attr_a"] = np.nan
    with pytest.raises(MissingValueError, match="gravity panel.*'attr_a'.*row 5"):
        ppml(flows, "flow", list(GRAVITY_TRUTH), [("origin", "year")], "pair")


def test_negative_counts_are_rejected():
    flows = synthetic_flows(1, years=range(2010, 2012))
    flows.loc[0, "flow"] = -1.0
    with pytest.raises(InvalidValueError, match="'flow'.*counts >= 0"):
        ppml(flows, "flow", list(GRAVITY_TRUTH), [("origin", "year")], "pair")


def test_delta_method_linear_and_nonlinear():
    assert delta_method(lambda b: -b / 2, 0.8, 0.1) == pytest.approx((-0.4, 0.05))
    mean, sd = delta_method(np.exp, 0.5, 0.2)
    assert mean == pytest.approx(np.exp(0.5)) and sd == pytest.approx(np.exp(0.5) * 0.2, rel=1e-6)
