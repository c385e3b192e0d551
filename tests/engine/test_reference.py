"""The PySD reference run, and the fast engine against it.

Parity: every variable of the model at every step agrees with PySD's own run within a
relative 1e-9 (absolute 1e-9 near zero), on both execution paths of the fast engine (the
numpy path and the fused one, compared with the same PySD run): for the baseline over the
whole horizon (2001 to 2070), and for random parameter sets and levers to 2035 only (to
2070 these three PySD runs of every variable would take half as long again; the
equations they exercise are the same).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import BASELINE_UNTIL, model_variables
from kbalance.engine import kernels
from kbalance.engine.reference import run_pysd
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import ParameterSet, parameter_definitions, read_parameter_set
from kbalance.model.scenarios import Scenario

RANDOM_UNTIL = 2035
#: the fast engine's execution paths compared with PySD (the fused one needs numba)
PATHS = ["numpy", *(["fused"] if kernels.available() else [])]


def _assert_parity(pysd_result, fast_result, names, engine):
    for name in names:
        expected = pysd_result[name].values
        got = np.broadcast_to(fast_result[name].values, expected.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, err_msg=f"{name} ({engine})")


def _random_parameter_set(seed: int) -> ParameterSet:
    """Every free parameter drawn uniformly within its range (one value per element)."""
    rng = np.random.default_rng(seed)
    base = read_parameter_set()
    values = {}
    for spec in parameter_definitions().values():
        low, high = spec["range"]
        n = len(np.atleast_1d(spec["default"])) if "dims" not in spec else {"Region": 17, "Sex": 2}[spec["dims"][0]]
        draw = rng.uniform(low, high, n)
        values[spec["model"]] = float(draw[0]) if "dims" not in spec else draw.tolist()
    return ParameterSet(f"random-{seed}", values, base.path)


def test_every_variable_matches_pysd_on_the_baseline_at_every_step_to_2070(pysd_baseline):
    names = model_variables()
    assert len(names) > 200
    params = read_parameter_set()
    expected = pysd_baseline
    assert list(expected["year"].values) == list(range(2001, BASELINE_UNTIL + 1))
    for engine in PATHS:
        got = run_fast(None, params.values, BASELINE_UNTIL, names, engine=engine).isel(member=0)
        _assert_parity(expected, got, names, engine)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_variable_matches_pysd_for_random_parameters_and_levers(seed):
    """To 2035 only (see the module docstring)."""
    names = model_variables()
    params = _random_parameter_set(seed)
    levers = {"consumption tax target": 35.0, "consumption tax start year": 2026.0,
              "mega region target": 0.5, "mega region start year": 2027.0,
              "second relocation target": 30000.0, "second relocation start year": 2028.0}
    scenario = Scenario("random levers", "", levers)
    expected = run_pysd(scenario, params, RANDOM_UNTIL, names)
    for engine in PATHS:
        got = run_fast(None, {**params.values, **levers}, RANDOM_UNTIL, names, engine=engine).isel(member=0)
        _assert_parity(expected, got, names, engine)


def test_a_pysd_run_carries_units_and_comments_from_the_model_file():
    result = run_pysd(Scenario("baseline", ""), read_parameter_set(), 2004, ["total population", "national population"])
    assert result["total population"].dims == ("year", "Region")
    assert list(result["year"].values) == [2001, 2002, 2003, 2004]
    assert result["national population"].attrs["units"] == "person"
    assert result["national population"].attrs["comment"].strip()


@pytest.mark.parametrize("until, variables, field", [(2001, ["national population"], "until"),
                                                     (2005, ["no such variable"], "variables")])
def test_a_bad_pysd_run_names_the_field(until, variables, field):
    with pytest.raises(InvalidValueError, match=f"'{field}'"):
        run_pysd(Scenario("baseline", ""), read_parameter_set(), until, variables)
