"""The fast engine against PySD, and its ensemble machinery.

Parity: every variable of the model at every step agrees with PySD's own run within a
relative 1e-9 (absolute 1e-9 near zero), for the baseline and for random parameter sets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.engine.fast import EngineError, compile_model, run_ensemble, run_fast
from kbalance.errors import InvalidValueError
from kbalance.model.parameters import ParameterSet, parameter_definitions, read_parameter_set
from kbalance.engine.reference import load_model, run_pysd
from kbalance.model.scenarios import Scenario

PARITY_UNTIL = 2035


def _all_variables() -> list[str]:
    doc = load_model().doc
    model = compile_model()
    keep = doc[doc["Type"].notna() & ~doc["Type"].isin(["Lookup"]) & (doc["Real Name"] != "FINAL TIME")]
    return [n for n in keep["Real Name"] if n in model.names]


def _assert_parity(pysd_result, fast_result, names):
    for name in names:
        expected = pysd_result[name].values
        got = np.broadcast_to(fast_result[name].values, expected.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, err_msg=name)


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


def test_every_variable_matches_pysd_on_the_baseline():
    names = _all_variables()
    assert len(names) > 200
    params = read_parameter_set()
    expected = run_pysd(Scenario("baseline", ""), params, PARITY_UNTIL, names)
    got = run_fast(None, params.values, PARITY_UNTIL, names).isel(member=0)
    _assert_parity(expected, got, names)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_variable_matches_pysd_for_random_parameters_and_levers(seed):
    names = _all_variables()
    params = _random_parameter_set(seed)
    levers = {"local share target": 35.0, "local share start year": 2026.0,
              "mega region target": 0.5, "mega region start year": 2027.0,
              "second relocation target": 30000.0, "second relocation start year": 2028.0}
    scenario = Scenario("random levers", "", levers)
    expected = run_pysd(scenario, params, PARITY_UNTIL, names)
    got = run_fast(None, {**params.values, **levers}, PARITY_UNTIL, names).isel(member=0)
    _assert_parity(expected, got, names)


def test_members_of_an_ensemble_equal_their_single_runs():
    table = pd.DataFrame({"gompertz slope": [0.08, 0.1, 0.11], "regional fertility factor[Seoul]": [0.7, 1.0, 1.3]})
    ensemble = run_fast(table, None, 2030, ["total population", "births"])
    for i, row in table.iterrows():
        single = run_fast(pd.DataFrame([row]), None, 2030, ["total population"]).isel(member=0)
        np.testing.assert_allclose(ensemble["total population"].isel(member=i), single["total population"], rtol=1e-12)
    first_births = ensemble["births"].sel(year=2001)
    seoul, busan = first_births.sel(Region="Seoul").values, first_births.sel(Region="Busan").values
    assert seoul[0] < seoul[1] < seoul[2]  # the element column set Seoul's factor ...
    np.testing.assert_allclose(busan, busan[0], rtol=1e-12)  # ... and no other region's (to rounding)


def test_chunks_on_processes_equal_chunks_in_process():
    rng = np.random.default_rng(7)
    table = pd.DataFrame({"push elasticity": rng.uniform(0, 2, 6), "productivity trend": rng.uniform(0, 0.05, 6)})
    local = run_ensemble(table, "baseline", 2012, ["national population", "grdp"], chunk_size=2, workers=1)
    pooled = run_ensemble(table, "baseline", 2012, ["national population", "grdp"], chunk_size=2, workers=2)
    assert local.sizes["member"] == 6
    for name in ("national population", "grdp"):
        np.testing.assert_array_equal(local[name].values, pooled[name].values)


#: float32 against float64 on outputs summed over cohorts: float32 carries 7 digits
#: (machine epsilon 1.2e-7) and 69 yearly steps of about 30 operations each compound
#: its rounding; the differences seen to 2070 are near 1e-6 (1.1e-6 by region, 1.5e-6
#: for grdp, 4e-7 nationally), so 1e-5 leaves a sixfold margin or more.
FLOAT32_RTOL = 1e-5


def test_float32_runs_match_float64_on_key_outputs():
    rng = np.random.default_rng(11)
    table = pd.DataFrame({"gompertz slope": rng.uniform(0.07, 0.12, 6), "push elasticity": rng.uniform(0, 2, 6),
                          "regional fertility factor": rng.uniform(0.8, 1.2, 6),
                          "productivity trend": rng.uniform(0, 0.05, 6)})
    names = ["total population", "national population", "capital region share", "extinction risk index", "grdp"]
    exact = run_fast(table, None, 2070, names)
    fast = run_fast(table, None, 2070, names, dtype="float32")
    for name in names:
        assert fast[name].dtype == np.float64  # results come back as float64 either way
        np.testing.assert_allclose(fast[name].values, exact[name].values, rtol=FLOAT32_RTOL, err_msg=name)
    by_region = fast["total population"].sel(year=2070) / exact["total population"].sel(year=2070) - 1
    assert float(abs(by_region).max()) > 0  # the run really was in float32
    pooled = run_ensemble(table, None, 2030, ["national population"], chunk_size=3, workers=2, dtype=np.float32)
    single = run_fast(table.iloc[3:], None, 2030, ["national population"], dtype="float32")
    np.testing.assert_array_equal(pooled["national population"].values[3:], single["national population"].values)


@pytest.mark.parametrize("dtype", ["float16", "int64", "double precision", None])
def test_an_invalid_dtype_is_refused_naming_the_argument_and_the_allowed_values(dtype):
    with pytest.raises(InvalidValueError, match="run_fast: field 'dtype'.*expected one of float64, float32"):
        run_fast(None, None, 2005, ["national population"], dtype=dtype)
    with pytest.raises(InvalidValueError, match="run_ensemble: field 'dtype'.*float64, float32"):
        run_ensemble(None, None, 2005, ["national population"], dtype=dtype)


def test_if_then_else_computes_only_the_branch_taken_where_the_condition_is_uniform():
    from kbalance.engine.fast import _if

    def fail():
        raise AssertionError("branch computed")

    then = np.arange(6.0).reshape(1, 2, 3)
    assert np.array_equal(_if(np.ones((4, 2, 1), bool), lambda: then, fail, (2, 3)), then)
    assert _if(np.zeros((4, 1, 1), bool), fail, lambda: then[:, :1], (2, 3)).shape == (1, 2, 3)
    condition = np.array([True, False]).reshape(1, 2, 1)
    np.testing.assert_array_equal(_if(condition, lambda: then, lambda: -then, (2, 3)), np.where(condition, then, -then))


def test_chunks_on_a_dask_cluster_equal_local_chunks():
    distributed = pytest.importorskip("dask.distributed")
    table = pd.DataFrame({"push elasticity": [0.1, 0.9, 1.7, 0.4]})
    local = run_ensemble(table, None, 2008, ["national population"], chunk_size=2, workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = run_ensemble(table, None, 2008, ["national population"], chunk_size=2,
                              scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(local["national population"].values, remote["national population"].values)


def test_bad_parameter_tables_name_the_column_and_what_is_allowed():
    with pytest.raises(InvalidValueError, match="'no such constant'.*constants of model/kbalance.mdl"):
        run_fast(pd.DataFrame({"no such constant": [1.0]}), None, 2005, ["national population"])
    with pytest.raises(InvalidValueError, match=r"'regional fertility factor\[Atlantis\]'.*Region"):
        run_fast(pd.DataFrame({"regional fertility factor[Atlantis]": [1.0]}), None, 2005, ["national population"])
    with pytest.raises(InvalidValueError, match="'gompertz slope'.*finite"):
        run_fast(pd.DataFrame({"gompertz slope": [np.nan]}), None, 2005, ["national population"])
    with pytest.raises(InvalidValueError, match="'variables'.*no such variable"):
        run_fast(None, None, 2005, ["no such variable"])


def test_the_engine_refuses_constructs_it_does_not_compile(tmp_path):
    from pysd.translators.structures import abstract_expressions as ae

    from kbalance.engine.fast import _Compiler

    compiler = _Compiler.__new__(_Compiler)
    with pytest.raises(EngineError, match="SmoothStructure"):
        compiler.expr(ae.SmoothStructure(1.0, 1.0, 1.0, 1))


@pytest.mark.parametrize("spec, shapes", [
    ("...abc,...ad->...dbc", [(3, 17, 2, 86), (3, 17, 17)]),  # arrivals: out-movers by destination share
    ("...ab,...bcd->...acd", [(1, 17, 17), (3, 17, 2, 86)]),  # boundary transfer: member axis broadcast
    ("...abc,...ad->...bcd", [(3, 4, 2, 5), (3, 4, 6)]),  # a result that needs a transpose
    ("...ab,...ab->...a", [(3, 17, 86), (3, 17, 86)]),  # a weighted sum: numpy's C loop
    ("...a,...a->...", [(3, 17), (1, 17)]),
])
def test_contractions_equal_numpy_einsum(spec, shapes):
    from kbalance.engine.fast import _esum

    rng = np.random.default_rng(5)
    operands = [rng.uniform(0.5, 1.5, shape) for shape in shapes]
    got = _esum(spec, *operands)
    np.testing.assert_allclose(got, np.einsum(spec, *operands), rtol=1e-13)
    assert got.flags.c_contiguous


def test_static_expressions_are_computed_once_per_run():
    source = compile_model().source
    # the age profile of mortality reads constants only: one function, kept for the run
    assert "def _static_" in source and "s.static[" in source
    mortality = next(line for line in source.splitlines() if "s.cache['mortality_rate'] =" in line)
    assert "_static_" in mortality and "np.transpose" not in mortality
