"""Bounds of model/kbalance.mdl under any parameter and lever values within their limits.

Members are drawn inside the ranges of calibration/parameters.toml and model/levers.toml
(targets, start years and ramps of both steps of every lever) and run on the fast
engine. Every run must give finite values; every variable whose limits the model file
documents (``~ Dmnl [0,1]``, ``~ person [0,?]``, ...) must stay within them (populations
exactly, others to rounding); every lever
within its range; and each region's population must change by exactly its births minus
deaths plus net migration, international migration, other change, boundary transfers
and the jump-off adjustment.

Hypothesis draws the seed of each batch of members and the share of values set at a
bound; a failure names the seed, so it can be re-run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.model.inputs import read_levers
from kbalance.model.mdl import documentation, scalar_constants
from kbalance.model.parameters import parameter_definitions, shipped_parameter_set

MEMBERS = 32  # members per example
CHUNK = 16  # members per engine call (bounds memory: age-resolved variables for every member)
ROUNDING = 1e-12  # allowed excursion beyond a limit, relative to the variable's largest value
#: Held without rounding: the stock's net flow is bounded below by the stock per step.
EXACTLY_NON_NEGATIVE = ("Population", "total population")
BALANCE = 1e-9  # allowed error of the balancing equation, relative to the region's population and flows
BALANCE_TERMS = {"births": 1, "total deaths": -1, "net migration": 1, "net international migration": 1,
                 "net other change": 1, "net boundary transfer": 1, "jump off adjustment total": 1}


def documented_limits() -> dict[str, tuple[float, float]]:
    """Variables (not constants) whose limits the model file documents: name → (low, high),
    an open limit as -inf or inf."""
    doc = documentation()
    doc = doc[doc["Type"].isin(["Stateful", "Auxiliary"]) & (doc["Real Name"] != "SAVEPER")]
    out = {}
    for name, (low, high) in zip(doc["Real Name"], doc["Limits"]):
        low = -math.inf if low is None or low != low else float(low)
        high = math.inf if high is None or high != high else float(high)
        if math.isfinite(low) or math.isfinite(high):
            out[name] = (low, high)
    return out


def recorded_variables() -> list[str]:
    """Every variable the engine computes over time (no constants, lookups or data)."""
    doc = documentation()
    doc = doc[doc["Type"].isin(["Stateful", "Auxiliary"]) & (doc["Real Name"] != "SAVEPER")]
    return sorted(doc["Real Name"])


def lever_ranges() -> dict[str, tuple[float, float]]:
    """Lever variable → its range in model/levers.toml."""
    return {spec["model"]: tuple(spec["range"]) for spec in read_levers().values()}


def parameter_columns() -> dict[str, tuple[float, float]]:
    """Engine columns of the free parameters ("name" or "name[element]") → their range."""
    model = compile_model()
    columns = {}
    for spec in parameter_definitions().values():
        low, high = spec["range"]
        if "dims" in spec:
            for element in model.subscripts[spec["dims"][0]]:
                columns[f"{spec['model']}[{element}]"] = (low, high)
        else:
            columns[spec["model"]] = (low, high)
    return columns


def lever_constants() -> list[dict[str, object]]:
    """The settable levers: their constants (both steps) and limits."""
    limits = scalar_constants()
    out = []
    for spec in read_levers().values():
        if "target" not in spec:
            continue
        out.append({"target": spec["target"], "start": spec["start"], "ramp": spec["ramp"],
                    "range": tuple(spec["range"]), "start_limits": limits[spec["start"]][1:],
                    "ramp_limits": limits[spec["ramp"]][1:], "ramp2_limits": limits[spec["ramp"] + " 2"][1:]})
    return out


def _pick(rng: np.random.Generator, low: float, high: float, n: int, at_bound: float) -> np.ndarray:
    """``n`` values in [low, high]: uniform, a share ``at_bound`` of them at one of the bounds."""
    values = rng.uniform(low, high, n)
    corner = rng.random(n) < at_bound
    values[corner] = np.where(rng.random(int(corner.sum())) < 0.5, low, high)
    return values


def draw_members(seed: int, at_bound: float, n: int = MEMBERS) -> pd.DataFrame:
    """``n`` members: every free parameter and every lever's target, start year and ramp
    of both steps inside their limits; the second step starts when the first has ended
    (as scenario files require), start years are whole years."""
    rng = np.random.default_rng(seed)
    columns = {name: _pick(rng, low, high, n, at_bound) for name, (low, high) in parameter_columns().items()}
    for lever in lever_constants():
        first, last = lever["start_limits"]
        start = np.round(_pick(rng, first, last, n, at_bound))
        ramp = _pick(rng, *lever["ramp_limits"], n, at_bound)
        earliest = np.minimum(last, np.ceil(start + ramp))
        columns[lever["target"]] = _pick(rng, *lever["range"], n, at_bound)
        columns[lever["start"]] = start
        columns[lever["ramp"]] = ramp
        columns[lever["target"] + " 2"] = _pick(rng, *lever["range"], n, at_bound)
        columns[lever["start"] + " 2"] = np.round(earliest + rng.random(n) * (last - earliest))
        columns[lever["ramp"] + " 2"] = _pick(rng, *lever["ramp2_limits"], n, at_bound)
    return pd.DataFrame(columns)


def extreme_members() -> pd.DataFrame:
    """Every parameter at a bound, low and high alternating (and the reverse), crossed with
    every lever at its extremes: targets at one end of the range then the other, starting at
    the earliest year with the shortest and with the longest ramps."""
    params = parameter_columns()
    rows = []
    for flip in (0, 1):
        base = {name: (low, high)[(i + flip) % 2] for i, (name, (low, high)) in enumerate(params.items())}
        for ends in ((0, 1), (1, 0)):
            for ramps in (0, 1):
                row = dict(base)
                for lever in lever_constants():
                    first = lever["start_limits"][0]
                    ramp = lever["ramp_limits"][ramps]
                    row[lever["target"]] = lever["range"][ends[0]]
                    row[lever["start"]] = first
                    row[lever["ramp"]] = ramp
                    row[lever["target"] + " 2"] = lever["range"][ends[1]]
                    row[lever["start"] + " 2"] = math.ceil(first + max(1.0, ramp))
                    row[lever["ramp"] + " 2"] = lever["ramp2_limits"][ramps]
                rows.append(row)
    return pd.DataFrame(rows)


def violations(ds: xr.Dataset) -> list[str]:
    """What breaks a bound in a run: non-finite values, values beyond documented limits or
    lever ranges, errors of the balancing equation. One message per variable."""
    found = []
    limits = documented_limits() | lever_ranges()
    for name in ds.data_vars:
        x = ds[name].values
        if not np.isfinite(x).all():
            found.append(f"{name}: not finite in members {sorted(set(np.nonzero(~np.isfinite(x))[0]))[:5]}")
            continue
        if name in EXACTLY_NON_NEGATIVE and x.min() < 0:
            found.append(f"{name}: {x.min():.6g} below 0")
            continue
        if name in limits:
            low, high = limits[name]
            tol = ROUNDING * max(1.0, float(np.abs(x).max()))
            if x.min() < low - tol or x.max() > high + tol:
                found.append(f"{name}: [{x.min():.6g}, {x.max():.6g}] outside [{low}, {high}]")
    pop = ds["total population"]
    change = pop.diff("year", label="lower")
    years = change["year"]
    flows = sum(sign * ds[name].sel(year=years) for name, sign in BALANCE_TERMS.items())
    moves = ds["migration flow"].sel(year=years)
    gross = (abs(ds["births"]) + abs(ds["total deaths"]) + abs(ds["net other change"])
             + abs(ds["net international migration"]) + abs(ds["jump off adjustment total"])
             + abs(ds["net boundary transfer"])).sel(year=years) \
        + moves.sum("To Region") + moves.sum("Region").rename({"To Region": "Region"})
    scale = np.maximum(np.maximum(pop.sel(year=years), pop.shift(year=-1).sel(year=years)), gross)
    error = float((abs(change - flows) / np.maximum(scale, 1.0)).max())
    if error > BALANCE:
        found.append(f"balancing equation: relative error {error:.3g}")
    return found


def run_members(members: pd.DataFrame, until: int) -> list[str]:
    """Run ``members`` on the fast engine to ``until`` [year]; the violations found."""
    chunks = run_ensemble(members, until=until, variables=recorded_variables(), chunk_size=CHUNK,
                          workers=1, reduce=violations)
    return sorted({message for chunk in chunks for message in chunk})


# --- what the checks read from the model file ---------------------------------------------


def test_the_model_documents_the_limits_of_its_rates_shares_and_counts():
    limits = documented_limits()
    for name in ("employment rate", "national employment rate", "death probability", "elderly share",
                 "destination share", "consumption share", "boundary transfer shortfall"):
        assert limits[name] == (0.0, 1.0), name
    for name in ("fiscal autonomy ratio", "fiscal independence ratio", "capital region share",
                 "local share of total tax", "locally programmed share"):
        assert limits[name] == (0.0, 100.0), name
    assert limits["out migration rate"] == (0.0, 0.5)
    for name in ("Population", "Innovation Base", "Public Service Capital", "New City Capacity",
                 "births", "deaths", "out migration", "in migration", "total population"):
        assert limits[name] == (0.0, math.inf), name
    assert set(BALANCE_TERMS) <= set(recorded_variables())


def test_draws_stay_inside_the_documented_ranges():
    members = pd.concat([draw_members(seed, 0.3, 32) for seed in range(3)] + [extreme_members()])
    for name, (low, high) in parameter_columns().items():
        assert members[name].between(low, high).all(), name
    for lever in lever_constants():
        assert members[lever["target"]].between(*lever["range"]).all()
        assert members[lever["target"] + " 2"].between(*lever["range"]).all()
        assert members[lever["start"]].between(*lever["start_limits"]).all()
        assert members[lever["start"] + " 2"].between(*lever["start_limits"]).all()
        assert members[lever["ramp"]].between(*lever["ramp_limits"]).all()
        # the second step starts once the first has ended, or not before the last start year
        ends = np.minimum(members[lever["start"]] + members[lever["ramp"]], lever["start_limits"][1])
        assert (members[lever["start"] + " 2"] >= np.floor(ends)).all()


def test_the_checks_catch_a_broken_bound():
    ds = run_ensemble(draw_members(0, 0.0, 2), until=2005, variables=recorded_variables(), workers=1)
    broken = ds.copy()
    broken["employment rate"] = ds["employment rate"] + 0.5
    broken["Population"] = ds["Population"].where(ds["Population"]["Age"] != "A100", -1.0)
    tiny = ds.copy()
    tiny["Population"] = ds["Population"].where(ds["Population"]["Age"] != "A100", -1e-13)  # rounding size
    broken["births"] = ds["births"] * 1.001
    messages = " | ".join(violations(broken))
    assert "employment rate" in messages and "Population" in messages and "balancing" in messages
    assert violations(ds) == []
    assert violations(tiny) == ["Population: -1e-13 below 0"]


# --- the properties ---------------------------------------------------------------------------


#: Each example is a batch of members from one seed: shrinking a seed finds nothing simpler.
NO_SHRINK = dict(deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
#: Batches of the thorough property: a fifth of the Hypothesis profile's examples (tests/conftest.py:
#: 5 in CI, 40 with KBALANCE_HYPOTHESIS=thorough), each a new random seed.
THOROUGH_EXAMPLES = max(5, settings.default.max_examples // 5)


@settings(max_examples=5, derandomize=True, **NO_SHRINK)
@given(seed=st.integers(0, 2**32 - 1), at_bound=st.sampled_from([0.0, 0.2, 0.5]))
def test_random_parameters_and_levers_keep_every_bound(seed, at_bound):
    assert run_members(draw_members(seed, at_bound), 2070) == [], f"seed {seed}, at_bound {at_bound}"


@pytest.mark.slow
@settings(max_examples=THOROUGH_EXAMPLES, **NO_SHRINK)
@given(seed=st.integers(0, 2**32 - 1), at_bound=st.floats(0.0, 0.6))
def test_random_parameters_and_levers_keep_every_bound_thoroughly(seed, at_bound):
    assert run_members(draw_members(seed, at_bound), 2070) == [], f"seed {seed}, at_bound {at_bound}"


def test_parameters_and_levers_at_their_extremes_keep_every_bound_to_2100():
    assert run_members(extreme_members(), 2100) == []


def test_baseline_and_the_largest_relocation_keep_the_employment_rate_below_its_cap_to_2100():
    values = shipped_parameter_set().values
    model = compile_model()
    row = {}
    for name, value in values.items():
        if isinstance(value, list):
            row.update({f"{name}[{e}]": v for e, v in zip(model.subscripts[model.dims[model.names[name]][0]], value)})
        else:
            row[name] = value
    relocation = {"second relocation target": 0.0, "second relocation start year": 2100.0}
    members = pd.DataFrame([row | relocation,
                            row | {"second relocation target": 100000.0, "second relocation start year": 2027.0}])
    ds = run_ensemble(members, until=2100, variables=["employment rate"], workers=1)
    cap = scalar_constants()["maximum employment rate"][0]
    assert float(ds["employment rate"].max()) <= cap
    assert float(ds["employment rate"].isel(member=1).max()) >= float(ds["employment rate"].isel(member=0).max())
