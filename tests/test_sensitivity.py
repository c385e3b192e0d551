"""Global sensitivity analysis: the SALib pipeline on a known function, the factors of the
model, outcomes, the output folder of ``kbalance sensitivity``, bad input and reproducibility."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from SALib.test_functions import Ishigami

from kbalance import cli
from kbalance.sensitivity import analysis as sa
from kbalance.calibration.ensemble import read_ensemble
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.model.inputs import read_levers
from kbalance.paths import model_dir
from kbalance.outputs import write_new_folder
from kbalance.model.parameters import parameter_definitions

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


# --- (a) the pipeline on the Ishigami function ---------------------------------------------


def test_ishigami_indices_are_recovered_at_every_year():
    design = sa.sample_design(ISHIGAMI, "sobol", 1024, seed=7)
    assert design.runs == 1024 * (3 + 2)
    result = sa.run_pipeline(ISHIGAMI, design, ishigami_outputs, ["ishigami"], [2050, 2070])
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
    assert max(check["max_abs_change"].values()) < sa.CONVERGENCE_TOLERANCE


def test_a_tiny_sample_is_reported_as_not_converged():
    design = sa.sample_design(ISHIGAMI, "sobol", 8, seed=7)
    result = sa.run_pipeline(ISHIGAMI, design, ishigami_outputs, ["ishigami"], [2050, 2070])
    assert not result.convergence["ishigami"]["converged"]


def test_sobol_samples_are_nested_with_and_without_second_order_and_groups():
    grouped = {"num_vars": 5, "names": list("abcde"), "bounds": [[0, 1]] * 4 + [[-2, 3]],
               "groups": ["g1", "g1", "g2", "g3", "g3"]}
    for problem in (ISHIGAMI, grouped):
        for second in (False, True):
            full = sa.sample_design(problem, "sobol", 64, seed=3, second_order=second)
            half = sa.sample_design(problem, "sobol", 32, seed=3, second_order=second)
            d = len(sa.group_names(problem))
            rows = 32 * (2 * d + 2 if second else d + 2)
            assert full.runs == 2 * rows
            np.testing.assert_array_equal(full.X[:rows], half.X)
            np.testing.assert_array_equal(sa.half_design(problem, full).X, half.X)


def test_second_order_indices_at_the_report_years_and_the_same_first_order_indices_elsewhere():
    # the same estimator on the same rows; SALib centres the outputs on the rows it is given, hence 1e-3
    design = sa.sample_design(ISHIGAMI, "sobol", 256, seed=5, second_order=True)
    Y = ishigami_outputs(design.X)[:, :, [0, 0, 1, 1]]  # b = 0.1 in 2040 and 2050, 0.05 in 2060 and 2070
    years = [2040, 2050, 2060, 2070]
    fast = sa.analyze(ISHIGAMI, design, Y, ["ishigami"], years)
    every = sa.analyze(ISHIGAMI, design, Y, ["ishigami"], years, second_order_years=years)
    pd.testing.assert_frame_equal(sa.analyze(ISHIGAMI, design, Y, ["ishigami"], years, workers=2), fast)
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
    design = sa.sample_design(ISHIGAMI, "morris", 40, seed=7)
    assert design.runs == 40 * 4
    result = sa.run_pipeline(ISHIGAMI, design, ishigami_outputs, ["ishigami"], [2050, 2070])
    assert set(result.indices["index"]) == {"mu_star", "sigma", "mu"}
    mu_star = wide(result.indices, "mu_star", 2050)
    assert mu_star.min() > 0 and np.isfinite(mu_star).all()
    assert wide(result.indices, "sigma", 2050)[0] > 0  # x1 interacts with x3
    assert "mu_star" in result.convergence["ishigami"]["index"]


def test_an_output_that_does_not_vary_has_no_indices_and_no_crash():
    design = sa.sample_design(ISHIGAMI, "sobol", 16, seed=1)
    result = sa.run_pipeline(ISHIGAMI, design, lambda X: np.ones((len(X), 1, 1)), ["flat"], [2050])
    assert result.indices["value"].isna().all()
    assert result.convergence["flat"]["converged"] and result.convergence["flat"]["note"]


def test_a_saturated_count_has_no_indices_but_a_varying_output_has():
    design = sa.sample_design(ISHIGAMI, "sobol", 64, seed=1)

    def evaluate(X):
        count = np.where(X[:, 0] > 3.0, 16.0, 17.0)  # 17 in about 98 % of runs
        return np.stack([count, Ishigami.evaluate(X)], axis=1)[:, :, None]

    result = sa.run_pipeline(ISHIGAMI, design, evaluate, ["count", "ishigami"], [2050])
    values = result.indices.set_index("outcome")["value"]
    assert values.loc["count"].isna().all() and values.loc["ishigami"].notna().all()


# --- (b) factors and outcomes of the model -------------------------------------------------


@pytest.fixture(scope="module")
def factors() -> list[sa.Factor]:
    return sa.define_factors()


def test_every_factor_is_in_exactly_one_group_and_groups_are_about_twenty(factors):
    names = [f.name for f in factors]
    assert len(names) == len(set(names))
    problem = sa.salib_problem(factors)
    assert problem["groups"] == [f.group for f in factors] and len(problem["groups"]) == problem["num_vars"]
    groups = sa.group_names(problem)
    assert 15 <= len(groups) <= 25
    # groups are contiguous runs of factors (ordered by group) and no parameter key is in two groups
    assert [g for i, g in enumerate(problem["groups"]) if i == 0 or problem["groups"][i - 1] != g] == groups
    keys = [k for keys in sa.PARAMETER_GROUPS.values() for k in keys]
    assert len(keys) == len(set(keys))
    assert set(keys) <= set(parameter_definitions())  # no group names a parameter that is gone
    assert sa.OTHER_GROUP not in groups  # every calibrated parameter has a named group


def test_factors_cover_calibrated_parameters_and_levers_within_their_ranges(factors):
    definitions = parameter_definitions()
    ensemble = read_ensemble()
    by_name = {f.name: f for f in factors}
    parameters = [f for f in factors if f.kind == "parameter"]
    calibrated = {s["model"] for s in definitions.values() if s.get("calibrate")}
    columns = {c for c in ensemble.columns if c.partition("[")[0] in calibrated}
    assert {f.name for f in parameters} == columns  # one factor per ensemble column of a calibrated parameter
    for key, spec in definitions.items():
        matching = [f for f in parameters if f.name == spec["model"] or f.name.startswith(spec["model"] + "[")]
        in_ensemble = any(c == spec["model"] or c.startswith(spec["model"] + "[") for c in ensemble.columns)
        assert bool(matching) == bool(spec.get("calibrate") and in_ensemble), key
        # a calibrated parameter the ensemble does not hold keeps its shipped value
        assert (spec["model"] in sa.held_parameters(factors)) == bool(spec.get("calibrate") and not in_ensemble)
        for f in matching:
            low, high = spec["range"]
            assert low <= f.low < f.high <= high, f.name
            assert f.low == pytest.approx(ensemble[f.name].min()) and f.high == pytest.approx(ensemble[f.name].max())
    for lever, spec in read_levers().items():
        if isinstance(spec, dict) and "target" in spec:
            f = by_name[spec["target"]]
            assert (f.kind, f.group, [f.low, f.high]) == ("lever", lever, list(spec["range"]))


def test_varied_levers_start_in_2027_with_the_model_ramp(factors):
    from kbalance.model.scenarios import Scenario

    scenario = Scenario(name="test", description="", constants={"gov rd start year": 2030.0})
    timing = sa.lever_timing(scenario)
    assert timing["noncapital_share_of_government_rd"]["start"] == 2030.0  # the scenario's own timing is kept
    assert timing["local_share_of_total_tax"] == {"start": 2027.0, "ramp": 5.0, "start_source": "LEVER_START_YEAR",
                                                   "ramp_source": "model default"}
    assert timing["mega_region_integration"]["ramp"] == 10.0
    constants = sa.base_constants(scenario, factors)
    assert constants["local share start year"] == 2027.0 and constants["gov rd start year"] == 2030.0


def test_extinction_threshold_matches_the_model_comment():
    text = (model_dir() / "kbalance.mdl").read_text(encoding="utf-8")
    comment = re.search(r"extinction risk index\[Region\]=.*?\(below ([0-9.]+): at risk", text, re.DOTALL)
    assert comment and float(comment.group(1)) == sa.EXTINCTION_RISK_THRESHOLD


def test_outcomes_from_model_variables():
    regions = ["A", "B", "C"]
    ds = xr.Dataset(
        {"national population": (("member", "year"), [[50e6, 49e6]]),
         "capital region share": (("member", "year"), [[50.0, 51.0]]),
         "cv fiscal autonomy": (("member", "year"), [[0.3, 0.4]]),
         "cv grdp per capita": (("member", "year"), [[0.2, 0.25]]),
         "extinction risk index": (("member", "year", "Region"), [[[0.4, 0.6, 0.49], [0.3, 0.2, 1.0]]]),
         "innovation per worker": (("member", "year", "Region"), [[[10.0, 10.0, 10.0], [10.0, 20.0, 30.0]]]),
         "employed": (("member", "year", "Region"), [[[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]]])},
        coords={"member": [0], "year": [2025, 2026], "Region": regions})
    values = sa.outcome_series(ds, tuple(sa.OUTCOMES), (2025, 2026))
    got = dict(zip(sa.OUTCOMES, values[0]))
    assert got["population"] == pytest.approx([50.0, 49.0])
    assert got["extinction_regions"] == pytest.approx([2, 2])
    assert got["extinction_index"] == pytest.approx([1.49 / 3, 0.5])
    sd = np.sqrt((1 * 100 + 2 * 0 + 1 * 100) / 4)  # employment-weighted around 20
    assert got["innovation_disparity"] == pytest.approx([0.0, sd / 20])
    assert got["fiscal_disparity"] == pytest.approx([0.3, 0.4])
    assert sa.engine_variables(["innovation_disparity", "population"]) == ("innovation per worker", "employed",
                                                                           "national population")


# --- (c) a tiny real run writes the whole folder ------------------------------------------


def test_tiny_sobol_run_writes_every_file_of_the_contract(tmp_path, capsys):
    out = tmp_path / "sa"
    code = cli.main(["sensitivity", "--method", "sobol", "--n", "8", "--until", "2030", "--outputs",
                     "population", "fiscal_disparity", "--workers", "1", "--fan-members", "8", "--seed", "5",
                     "--out", str(out)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "not converged" in stdout and "population" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["fan.csv", "figures", "indices.csv", "indices.nc",
                                                     "manifest.json", "summary.json"]
    figures = sorted(p.name for p in (out / "figures").iterdir())
    for outcome in ("population", "fiscal_disparity"):
        for kind in ("indices", "over_time", "fan"):
            assert f"{kind}_{outcome}.png" in figures and f"{kind}_{outcome}.svg" in figures
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 5 and manifest["n"] == 8 and manifest["method"] == "sobol"
    assert manifest["dtype"] == sa.DEFAULT_DTYPE == "float32"
    assert manifest["runs"] == 8 * (len(manifest["groups"]) + 2)
    assert manifest["scenario"]["name"] == "baseline" and len(manifest["model_sha256"]) == 64
    assert "SALib" in manifest["versions"] and manifest["timings_seconds"]["runs"] > 0
    assert all({"name", "group", "low", "high", "source"} <= set(f) for f in manifest["factors"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["runs"] == manifest["runs"] and set(summary["convergence"]) == {"population", "fiscal_disparity"}
    assert summary["dtype"] == "float32" and "(float32)" in stdout
    assert set(summary["top_factors"]["population"]) == {"2030"}
    indices = pd.read_csv(out / "indices.csv")
    assert list(indices.columns) == ["method", "outcome", "year", "factor", "index", "value", "conf"]
    assert set(indices["year"]) == set(range(2025, 2031)) and set(indices["index"]) == {"S1", "ST"}
    with xr.open_dataset(out / "indices.nc") as ds:
        assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(ds.data_vars)
        assert ds["ST"].sizes == {"outcome": 2, "year": 6, "factor": len(manifest["groups"])}
    fan = pd.read_csv(out / "fan.csv")
    assert (fan["q05"] <= fan["q50"]).all() and (fan["q50"] <= fan["q95"]).all()
    assert not list(tmp_path.glob(".sa.tmp-*"))


def test_tiny_morris_screening_of_the_model(factors):
    from kbalance.model.scenarios import read_scenario

    problem = sa.salib_problem(factors)
    constants = sa.base_constants(read_scenario("baseline"), factors)
    evaluate = sa.model_evaluator(factors, constants, 2028, ["capital_share"], workers=1)
    design = sa.sample_design(problem, "morris", 2, seed=4)
    assert design.runs == 2 * (len(sa.group_names(problem)) + 1)
    result = sa.run_pipeline(problem, design, evaluate, ["capital_share"], sa.projection_years(2028))
    assert set(result.indices["index"]) == {"mu_star", "sigma", "mu"}
    mu_star = result.indices[(result.indices["index"] == "mu_star") & (result.indices["year"] == 2028)]
    assert (mu_star["value"] >= 0).all() and mu_star["value"].max() > 0
    assert not result.convergence["capital_share"]["converged"]  # 1 trajectory is no convergence check
    summary = sa.build_summary(result, ["capital_share"], sa.projection_years(2028), 1.0)
    assert summary["top_factors"]["capital_share"]["2028"][0]["mu_star"] == mu_star["value"].max()


# --- (d) bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("args, field, allowed", [
    (["--outputs", "population", "happiness"], "--outputs", "population"),
    (["--method", "fast99"], "--method", "sobol, morris"),
    (["--n", "100"], "--n", "power of two"),
    (["--until", "2024"], "--until", "[2026, 2100]"),
    (["--dtype", "float16"], "--dtype", "float64, float32"),
])
def test_bad_arguments_exit_2_naming_the_field(tmp_path, capsys, args, field, allowed):
    assert cli.main(["sensitivity", *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kbalance: error: ") and f"'{field}'" in err and allowed in err
    assert not (tmp_path / "x").exists()


def test_unknown_scenario_and_existing_folder_are_refused(tmp_path):
    with pytest.raises(MissingFileError, match="nowhere.toml.*baseline"):
        sa.sensitivity_to_folder(tmp_path / "a", n=4, scenario="nowhere", until=2027, workers=1)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InvalidValueError, match="'--out'.*does not exist yet or is empty"):
        sa.sensitivity_to_folder(busy, n=4, until=2027, workers=1)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]


def test_a_failure_while_writing_leaves_nothing(tmp_path):
    def files(tmp):
        (tmp / "indices.csv").write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_new_folder(tmp_path / "out", files)
    assert list(tmp_path.iterdir()) == []


# --- (e) same seed, same numbers -------------------------------------------------------------


def test_same_seed_gives_the_same_indices_on_the_model(factors):
    from kbalance.model.scenarios import read_scenario

    problem = sa.salib_problem(factors)
    constants = sa.base_constants(read_scenario("baseline"), factors)
    evaluate = sa.model_evaluator(factors, constants, 2027, ["population", "capital_share"], workers=1)
    years = sa.projection_years(2027)
    runs = [sa.run_pipeline(problem, sa.sample_design(problem, "sobol", 4, seed=11), evaluate,
                            ["population", "capital_share"], years) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].indices, runs[1].indices)
    np.testing.assert_array_equal(runs[0].Y, runs[1].Y)
    assert np.isfinite(runs[0].Y).all() and runs[0].Y.shape == (4 * 23, 2, 3)
    other = sa.sample_design(problem, "sobol", 4, seed=12)
    assert not np.array_equal(other.X, runs[0].design.X)


def test_float32_runs_give_the_indices_of_float64_runs(factors):
    """The default float32 runs change no index beyond rounding (a larger check, N = 128 to
    2070: at most 5e-7, docs/engine.md)."""
    from kbalance.model.scenarios import read_scenario

    problem = sa.salib_problem(factors)
    constants = sa.base_constants(read_scenario("baseline"), factors)
    design = sa.sample_design(problem, "sobol", 8, seed=2)
    outcomes, years = ["population", "capital_share", "extinction_index"], sa.projection_years(2030)
    results = {dtype: sa.run_pipeline(problem, design, sa.model_evaluator(factors, constants, 2030, outcomes,
                                                                          workers=1, dtype=dtype), outcomes, years)
               for dtype in ("float32", "float64")}
    np.testing.assert_allclose(results["float32"].Y, results["float64"].Y, rtol=1e-5)
    a, b = (results[d].indices.set_index(["outcome", "year", "factor", "index"]) for d in ("float32", "float64"))
    assert a["value"].isna().equals(b["value"].isna())
    change = (a["value"] - b["value"]).abs().dropna()
    assert (change <= 1e-5 + 0.01 * b["conf"].reindex(change.index).fillna(0.0)).all()  # 1 % of a CI half-width


@pytest.mark.slow
def test_a_larger_sobol_run_gives_consistent_indices(factors):
    """Reduced form: test_tiny_sobol_run_writes_every_file_of_the_contract."""
    from kbalance.model.scenarios import read_scenario

    problem = sa.salib_problem(factors)
    constants = sa.base_constants(read_scenario("baseline"), factors)
    evaluate = sa.model_evaluator(factors, constants, 2040, ["population", "fiscal_disparity"], workers=2)
    result = sa.run_pipeline(problem, sa.sample_design(problem, "sobol", 128, seed=3), evaluate,
                             ["population", "fiscal_disparity"], sa.projection_years(2040))
    st = result.indices[(result.indices["index"] == "ST") & (result.indices["year"] == 2040)]
    s1 = result.indices[(result.indices["index"] == "S1") & (result.indices["year"] == 2040)]
    assert (st["value"] > -0.05).all() and s1.groupby("outcome")["value"].sum().between(0.5, 1.2).all()
