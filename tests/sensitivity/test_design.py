"""Sampling and analysis of a SALib problem on the Ishigami function, whose indices are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from SALib.test_functions import Ishigami

from kbalance.sensitivity import design as sd

ISHIGAMI = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}


def ishigami_indices(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Analytic first-order and total indices of the Ishigami function sin x1 + a sin² x2 + b x3⁴ sin x1."""
    v1 = 0.5 * (1 + b * np.pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = 8 * b ** 2 * np.pi ** 8 / 225
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def ishigami_outputs(X: np.ndarray) -> np.ndarray:
    """Two "years" of one outcome: the classic Ishigami function (a = 7, b = 0.1), then b = 0.05."""
    return np.stack([Ishigami.evaluate(X, A=7.0, B=0.1), Ishigami.evaluate(X, A=7.0, B=0.05)], axis=1)[:, None, :]


def wide(indices: pd.DataFrame, index: str, year: int) -> np.ndarray:
    part = indices[(indices["index"] == index) & (indices["year"] == year)]
    return part.set_index("factor").loc[["x1", "x2", "x3"], "value"].to_numpy()


def test_ishigami_indices_are_recovered_at_every_year():
    design = sd.sample_design(ISHIGAMI, "sobol", 1024, seed=7)
    assert design.runs == 1024 * (3 + 2)
    result = sd.run_pipeline(ISHIGAMI, design, ishigami_outputs, ["ishigami"], [2050, 2070])
    assert set(result.indices.columns) == {"method", "outcome", "year", "factor", "index", "value", "conf"}
    for year, b in ((2050, 0.1), (2070, 0.05)):
        s1, st = ishigami_indices(7.0, b)
        assert wide(result.indices, "S1", year) == pytest.approx(s1, abs=0.04)
        assert wide(result.indices, "ST", year) == pytest.approx(st, abs=0.04)
    assert ishigami_indices(7.0, 0.1)[0] == pytest.approx([0.314, 0.442, 0.0], abs=1e-3)  # the published values
    conf = result.indices[result.indices["index"] == "ST"]["conf"]
    assert (conf > 0).all() and (conf < 0.15).all()
    check = result.convergence["ishigami"]
    assert check["converged"] and check["half_n"] == 512 and check["check_years"] == [2050, 2070]
    assert max(check["max_abs_change"].values()) < sd.CONVERGENCE_TOLERANCE


def test_a_tiny_sample_is_reported_as_not_converged():
    design = sd.sample_design(ISHIGAMI, "sobol", 8, seed=7)
    result = sd.run_pipeline(ISHIGAMI, design, ishigami_outputs, ["ishigami"], [2050, 2070])
    assert not result.convergence["ishigami"]["converged"]


def test_sobol_samples_are_nested_with_and_without_second_order_and_groups():
    grouped = {"num_vars": 5, "names": list("abcde"), "bounds": [[0, 1]] * 4 + [[-2, 3]],
               "groups": ["g1", "g1", "g2", "g3", "g3"]}
    for problem in (ISHIGAMI, grouped):
        for second in (False, True):
            full = sd.sample_design(problem, "sobol", 64, seed=3, second_order=second)
            half = sd.sample_design(problem, "sobol", 32, seed=3, second_order=second)
            d = len(sd.group_names(problem))
            rows = 32 * (2 * d + 2 if second else d + 2)
            assert full.runs == 2 * rows
            np.testing.assert_array_equal(full.X[:rows], half.X)
            np.testing.assert_array_equal(sd.half_design(problem, full).X, half.X)


def test_second_order_indices_at_the_report_years_and_the_same_first_order_indices_elsewhere():
    # the same estimator on the same rows; SALib centres the outputs on the rows it is given, hence 1e-3
    design = sd.sample_design(ISHIGAMI, "sobol", 256, seed=5, second_order=True)
    Y = ishigami_outputs(design.X)[:, :, [0, 0, 1, 1]]  # b = 0.1 in 2040 and 2050, 0.05 in 2060 and 2070
    years = [2040, 2050, 2060, 2070]
    fast = sd.analyze(ISHIGAMI, design, Y, ["ishigami"], years)
    every = sd.analyze(ISHIGAMI, design, Y, ["ishigami"], years, second_order_years=years)
    pd.testing.assert_frame_equal(sd.analyze(ISHIGAMI, design, Y, ["ishigami"], years, workers=2), fast)
    assert sorted(fast.loc[fast["index"] == "S2", "year"].unique()) == [2050, 2070]
    assert sorted(every.loc[every["index"] == "S2", "year"].unique()) == years
    first = ["S1", "ST"]
    np.testing.assert_allclose(fast[fast["index"].isin(first)][["value", "conf"]].to_numpy(),
                               every[every["index"].isin(first)][["value", "conf"]].to_numpy(), atol=1e-3)
    s2 = fast[(fast["index"] == "S2") & (fast["year"] == 2050)].set_index("factor")["value"]
    v13 = 8 * 0.1 ** 2 * np.pi ** 8 / 225 / (0.5 * (1 + 0.1 * np.pi ** 4 / 5) ** 2 + 49 / 8 + 8 * 0.1 ** 2 * np.pi ** 8 / 225)
    assert s2["x1 & x3"] == pytest.approx(v13, abs=0.1)  # the only interaction of the Ishigami function
    assert abs(s2["x1 & x2"]) < 0.1 and abs(s2["x2 & x3"]) < 0.1


def test_morris_pipeline_ranks_the_ishigami_factors():
    design = sd.sample_design(ISHIGAMI, "morris", 40, seed=7)
    assert design.runs == 40 * 4
    result = sd.run_pipeline(ISHIGAMI, design, ishigami_outputs, ["ishigami"], [2050, 2070])
    assert set(result.indices["index"]) == {"mu_star", "sigma", "mu"}
    mu_star = wide(result.indices, "mu_star", 2050)
    assert mu_star.min() > 0 and np.isfinite(mu_star).all()
    assert wide(result.indices, "sigma", 2050)[0] > 0  # x1 interacts with x3
    assert "mu_star" in result.convergence["ishigami"]["index"]


def test_an_output_that_does_not_vary_has_no_indices_and_no_crash():
    design = sd.sample_design(ISHIGAMI, "sobol", 16, seed=1)
    result = sd.run_pipeline(ISHIGAMI, design, lambda X: np.ones((len(X), 1, 1)), ["flat"], [2050])
    assert result.indices["value"].isna().all()
    assert result.convergence["flat"]["converged"] and result.convergence["flat"]["note"]


def test_a_saturated_count_has_no_indices_but_a_varying_output_has():
    design = sd.sample_design(ISHIGAMI, "sobol", 64, seed=1)

    def evaluate(X):
        count = np.where(X[:, 0] > 3.0, 16.0, 17.0)  # 17 in about 98 % of runs
        return np.stack([count, Ishigami.evaluate(X)], axis=1)[:, :, None]

    result = sd.run_pipeline(ISHIGAMI, design, evaluate, ["count", "ishigami"], [2050])
    values = result.indices.set_index("outcome")["value"]
    assert values.loc["count"].isna().all() and values.loc["ishigami"].notna().all()
