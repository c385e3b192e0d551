"""The model as a sensitivity problem: factors and their groups, lever timing, outcomes,
and small designs run on the fast engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kbalance.calibration.ensemble import read_ensemble
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import model_variables, read_indicators
from kbalance.model.inputs import read_levers
from kbalance.model.parameters import parameter_definitions
from kbalance.model.scenarios import Scenario, read_scenario
from kbalance.sensitivity import design as sd
from kbalance.sensitivity import factors as sf


def test_every_factor_is_in_exactly_one_group_and_groups_are_about_twenty(factors):
    names = [f.name for f in factors]
    assert len(names) == len(set(names))
    problem = sf.salib_problem(factors)
    assert problem["groups"] == [f.group for f in factors] and len(problem["groups"]) == problem["num_vars"]
    groups = sd.group_names(problem)
    assert 15 <= len(groups) <= 25
    # groups are contiguous runs of factors: the parameter groups in their order, then the levers
    assert [g for i, g in enumerate(problem["groups"]) if i == 0 or problem["groups"][i - 1] != g] == groups
    # every parameter group with a parameter the ensemble holds has factors, in order; then one group per lever
    held = {c.partition("[")[0] for c in read_ensemble().columns}
    definitions = parameter_definitions()
    filled = [g for g in sf.PARAMETER_GROUPS
              if any(definitions[k]["model"] in held for k, group in sf.parameter_groups(definitions).items() if group == g)]
    assert groups[:len(filled)] == filled and len(filled) >= len(sf.PARAMETER_GROUPS) - 2
    assert set(groups[len(filled):]) == set(sf.settable_levers())


def test_every_calibrated_parameter_names_a_known_group():
    definitions = parameter_definitions()
    groups = sf.parameter_groups(definitions)
    assert set(groups) == {k for k, spec in definitions.items() if spec.get("calibrate") or spec.get("ensemble") == "prior"}
    assert set(groups.values()) >= set(sf.PARAMETER_GROUPS) - {"mortality_level"}
    assert groups["mortality_index_drift"] == "mortality_improvement" and groups["mobility"] == "migration"


@pytest.mark.parametrize("change, problem", [
    ({"group": "mortality"}, "'mortality'"),  # a group that does not exist
    ({"group": None}, "None"),  # a calibrated parameter without a group
])
def test_a_bad_parameter_group_is_refused_naming_file_parameter_and_groups(change, problem):
    definitions = parameter_definitions()
    spec = {k: v for k, v in definitions["destination_size_elasticity"].items() if k != "group"}
    definitions["destination_size_elasticity"] = {**spec, **{k: v for k, v in change.items() if v is not None}}
    with pytest.raises(InvalidValueError) as error:
        sf.define_factors(definitions=definitions)
    message = str(error.value)
    assert error.value.path == "calibration/parameters.toml" and error.value.field == "destination_size_elasticity.group"
    assert problem in message and all(group in message for group in sf.PARAMETER_GROUPS)


def test_a_fixed_parameter_needs_no_group_but_a_named_one_must_exist():
    definitions = parameter_definitions()
    fixed = next(k for k, spec in definitions.items() if not spec.get("calibrate"))
    definitions[fixed] = {k: v for k, v in definitions[fixed].items() if k != "group"}
    assert fixed not in sf.parameter_groups(definitions)
    definitions[fixed]["group"] = "unknown"
    with pytest.raises(InvalidValueError, match=f"'{fixed}.group'"):
        sf.parameter_groups(definitions)


def test_factors_cover_calibrated_parameters_and_levers_within_their_ranges(factors):
    definitions = parameter_definitions()
    ensemble = read_ensemble()
    by_name = {f.name: f for f in factors}
    parameters = [f for f in factors if f.kind == "parameter"]
    calibrated = {s["model"] for s in definitions.values() if s.get("calibrate") or s.get("ensemble") == "prior"}
    columns = {c for c in ensemble.columns if c.partition("[")[0] in calibrated}
    assert {f.name for f in parameters} == columns  # one factor per ensemble column of a calibrated parameter
    for key, spec in definitions.items():
        matching = [f for f in parameters if f.name == spec["model"] or f.name.startswith(spec["model"] + "[")]
        in_ensemble = any(c == spec["model"] or c.startswith(spec["model"] + "[") for c in ensemble.columns)
        sampled = spec.get("calibrate") or spec.get("ensemble") == "prior"
        assert bool(matching) == bool(sampled and in_ensemble), key
        # a calibrated parameter the ensemble does not hold keeps its shipped value
        assert (spec["model"] in sf.held_parameters(factors)) == bool(spec.get("calibrate") and not in_ensemble)
        for f in matching:
            low, high = spec["range"]
            assert low <= f.low < f.high <= high, f.name
            assert f.low == pytest.approx(ensemble[f.name].min()) and f.high == pytest.approx(ensemble[f.name].max())
    for lever, spec in read_levers().items():
        if isinstance(spec, dict) and "target" in spec:
            f = by_name[spec["target"]]
            assert (f.kind, f.group, [f.low, f.high]) == ("lever", lever, list(spec["range"]))


def test_varied_levers_start_in_2027_with_the_model_ramp(factors):
    scenario = Scenario(name="test", description="", constants={"gov rd start year": 2030.0})
    timing = sf.lever_timing(scenario)
    assert timing["noncapital_share_of_government_rd"]["start"] == 2030.0  # the scenario's own timing is kept
    assert timing["local_consumption_tax_rate"] == {"start": 2027.0, "ramp": 5.0, "start_source": "LEVER_START_YEAR",
                                                   "ramp_source": "model default"}
    assert timing["mega_region_integration"]["ramp"] == 10.0
    constants = sf.base_constants(scenario, factors)
    assert constants["consumption tax start year"] == 2027.0 and constants["gov rd start year"] == 2030.0


def test_default_outcomes_are_national_indicators_and_any_national_one_can_be_chosen():
    national = read_indicators(level="national")
    assert set(sf.OUTCOMES) <= set(national)
    assert sf.check_outcomes(None) == sf.OUTCOMES
    assert sf.check_outcomes(["tfr,population", "tfr"]) == ("tfr", "population")
    for bad in ("region_population", "happiness"):  # a regional indicator has no single value per year
        with pytest.raises(InvalidValueError, match=f"'--outputs'.*{bad}"):
            sf.check_outcomes(["population", bad])


def test_outcomes_are_the_indicator_variables_times_their_scale_in_float64():
    variables = model_variables(sf.OUTCOMES)
    ds = xr.Dataset({v: (("member", "year"), np.float32([[(i + 1) * 1.1e5, (i + 1) * 3.7e6]]))
                     for i, v in enumerate(variables)}, coords={"member": [0], "year": [2025, 2026]})
    got = sf.outcome_series(ds, sf.OUTCOMES, (2026,))
    assert got.shape == (1, len(sf.OUTCOMES), 1) and got.dtype == np.float64
    indicators = sf.outcome_indicators(sf.OUTCOMES)
    for k, key in enumerate(sf.OUTCOMES):
        model = float(ds[indicators[key].variable].sel(year=2026).item())
        assert got[0, k, 0] == pytest.approx(model * indicators[key].scale, rel=1e-15), key  # not in float32
    assert got[0, sf.OUTCOMES.index("population"), 0] == pytest.approx(
        float(ds["national population"].sel(year=2026).item()) / 1e6)  # million persons


def test_same_seed_gives_the_same_indices_on_the_model(factors):
    problem = sf.salib_problem(factors)
    constants = sf.base_constants(read_scenario("baseline"), factors)
    evaluate = sf.model_evaluator(factors, constants, 2027, ["population", "capital_share"], workers=1)
    years = sf.projection_years(2027)
    runs = [sd.run_pipeline(problem, sd.sample_design(problem, "sobol", 4, seed=11), evaluate,
                            ["population", "capital_share"], years) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].indices, runs[1].indices)
    np.testing.assert_array_equal(runs[0].Y, runs[1].Y)
    assert np.isfinite(runs[0].Y).all() and runs[0].Y.shape == (4 * (len(sd.group_names(problem)) + 2), 2, 3)
    other = sd.sample_design(problem, "sobol", 4, seed=12)
    assert not np.array_equal(other.X, runs[0].design.X)


def test_float32_runs_give_the_indices_of_float64_runs(factors):
    """The default float32 runs change no index beyond rounding (a larger check, N = 128 to
    2070: at most 5e-7, docs/engine.md)."""
    problem = sf.salib_problem(factors)
    constants = sf.base_constants(read_scenario("baseline"), factors)
    design = sd.sample_design(problem, "sobol", 8, seed=2)
    outcomes, years = ["population", "capital_share", "mean_extinction_index"], sf.projection_years(2030)
    results = {dtype: sd.run_pipeline(problem, design, sf.model_evaluator(factors, constants, 2030, outcomes,
                                                                          workers=1, dtype=dtype), outcomes, years)
               for dtype in ("float32", "float64")}
    np.testing.assert_allclose(results["float32"].Y, results["float64"].Y, rtol=1e-5)
    a, b = (results[d].indices.set_index(["outcome", "year", "factor", "index"]) for d in ("float32", "float64"))
    assert a["value"].isna().equals(b["value"].isna())
    change = (a["value"] - b["value"]).abs().dropna()
    allowed = 5e-5 + 0.01 * b["conf"].reindex(change.index).fillna(0.0)  # rounding at N = 8, or 1 % of a CI half-width
    assert (change <= allowed).all(), (change - allowed).sort_values().tail(3)


@pytest.mark.slow
def test_a_larger_sobol_run_gives_consistent_indices(factors):
    """Reduced form: test_tiny_sobol_run_writes_every_file_of_the_contract."""
    problem = sf.salib_problem(factors)
    constants = sf.base_constants(read_scenario("baseline"), factors)
    evaluate = sf.model_evaluator(factors, constants, 2040, ["population", "fiscal_autonomy_cv"], workers=2)
    # N = 256: at 128 the first-order indices of fiscal_autonomy_cv, spread over the consumption-tax and
    # allocation-tax rates, summed to 1.25 ± 0.24 (95 % half-widths in quadrature), sampling noise above 1.2
    result = sd.run_pipeline(problem, sd.sample_design(problem, "sobol", 256, seed=3), evaluate,
                             ["population", "fiscal_autonomy_cv"], sf.projection_years(2040))
    st = result.indices[(result.indices["index"] == "ST") & (result.indices["year"] == 2040)]
    s1 = result.indices[(result.indices["index"] == "S1") & (result.indices["year"] == 2040)]
    assert (st["value"] > -0.05).all() and s1.groupby("outcome")["value"].sum().between(0.5, 1.2).all()
