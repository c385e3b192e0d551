"""What the explorer computes: projections, bands, views' values, the latest-only runner."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from kbalance.errors import InvalidValueError
from kbalance.explorer.compute import (MUNICIPAL, LatestOnly, band, blocs, change_table, classes, ensemble_subset,
                                       municipal_counts, municipal_index, municipal_year, project, pyramid, regional,
                                       series)
from kbalance.explorer.state import UNTIL, baseline_state, scenario_of
from kbalance.model.indicators import indicator
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import read_scenario
from kbalance.municipal.layer import channel_variables, municipal_results
from kbalance.regions import BLOCS, region_codes
from kbalance.runs import run_model


@pytest.fixture(scope="module")
def relaxed():
    state = baseline_state().with_lever("capital_region_regulation", 0.0, 2026, 4)
    return project(scenario_of(state), shipped_parameter_set(), UNTIL)


def test_the_projection_is_kbalance_runs_own_run(baseline):
    run = run_model(read_scenario("baseline"), shipped_parameter_set(), UNTIL)
    for name in ("capital region share", "total population", "Population"):
        np.testing.assert_array_equal(baseline[name].values, run[name].values)


def test_the_projection_holds_the_municipal_layer_of_its_own_population(baseline, relaxed):
    policy = {name: relaxed[name] for name in channel_variables()}
    layer = municipal_results(relaxed["Population"], policy=policy)
    first = int(layer["year"][0])
    for name, source in MUNICIPAL.items():
        np.testing.assert_array_equal(relaxed[name].sel(year=layer["year"]).values, layer[source].values)
        assert relaxed[name].sel(year=slice(None, first - 1)).isnull().all()
    assert municipal_year(relaxed, 2000) == first and municipal_year(relaxed, 2050) == 2050
    index = municipal_index(relaxed, 2050)
    assert len(index) == 229 and not index.equals(municipal_index(baseline, 2050))
    assert municipal_counts(relaxed).loc[2050] == int(layer["at_risk"].sel(year=2050))


def test_a_lever_moves_the_projection(baseline, relaxed):
    now, base = series(relaxed, "capital_share"), series(baseline, "capital_share")
    assert now.loc[UNTIL] > base.loc[UNTIL] + 0.1  # weaker capital-region regulation concentrates
    assert (now.loc[:2025] == base.loc[:2025]).all()  # nothing changes before the lever starts


def test_regional_values_are_shown_values_by_code(baseline):
    values = regional(baseline, "region_population", 2050)
    assert list(values.index) == region_codes()
    expected = float(baseline["total population"].sel(year=2050, Region="Seoul")) * indicator("region_population").scale
    assert values["11"] == pytest.approx(expected)


def test_bloc_populations_add_up_to_the_regions(baseline):
    by_bloc = blocs(baseline, 2050)
    assert list(by_bloc.index) == list(BLOCS)
    bloc_scale, region_scale = indicator("bloc_population").scale, indicator("region_population").scale
    total = regional(baseline, "region_population", 2050).sum() / region_scale
    assert by_bloc.sum() / bloc_scale == pytest.approx(total, rel=1e-9)


def test_the_pyramid_adds_up_to_the_regions_population(baseline):
    table = pyramid(baseline, "39", 2040)
    assert list(table.columns) == ["Male", "Female"] and list(table.index) == list(range(101))
    assert table.to_numpy().sum() == pytest.approx(float(baseline["total population"].sel(year=2040, Region="Jeju")))


def test_the_change_table_is_zero_against_itself_and_signed_otherwise(baseline, relaxed):
    same = change_table(baseline, baseline, 2050)
    assert (same.filter(like="_change") == 0).all().all()
    table = change_table(relaxed, baseline, 2060)
    seoul = 100 * (regional(relaxed, "region_population", 2060)["31"] / regional(baseline, "region_population", 2060)["31"] - 1)
    assert table.loc["31", "region_population_change"] == pytest.approx(seoul)
    assert table["region_population_change"].abs().max() > 0


def test_classes_follow_the_indicator_bounds():
    bounds = indicator("region_extinction_index").classes
    values = pd.Series([bounds[0] - 0.01, bounds[0], bounds[-1] + 1], index=["a", "b", "c"])
    assert classes(values).tolist() == [0, 1, len(bounds)]


def test_the_band_holds_ordered_quantiles():
    scenario = read_scenario("baseline")
    result = band(scenario, ensemble_subset(5), 2035)
    for key in ("capital_share", "births", "tfr"):
        q = result[key].sel(year=2035).values
        assert q[0] <= q[1] <= q[2] and q[2] > q[0]


def test_an_ensemble_subset_of_a_wrong_size_is_refused():
    with pytest.raises(InvalidValueError, match="members"):
        ensemble_subset(0)


def test_only_the_latest_request_is_run_and_reported():
    gate = threading.Event()
    seen = []

    def work(request):
        seen.append(request)
        gate.wait(5)
        return request * 10

    runner = LatestOnly(work)
    runner.submit(1)
    while not seen:
        time.sleep(0.01)
    for request in (2, 3, 4):  # while 1 runs: 2 and 3 are replaced by 4
        runner.submit(request)
    gate.set()
    deadline = time.time() + 5
    found = None
    while found is None and time.time() < deadline:
        found = runner.take()
        time.sleep(0.01)
    assert found == (4, 40, None)
    assert seen == [1, 4] and runner.take() is None
    runner.close()


def test_errors_are_reported_and_cancelled_results_dropped():
    def work(request):
        if request == "bad":
            raise ValueError("bad request")
        time.sleep(0.2)
        return request

    runner = LatestOnly(work)
    runner.submit("bad")
    while runner.busy():
        time.sleep(0.01)
    ticket, result, error = runner.take()
    assert ticket == 1 and result is None and isinstance(error, ValueError)
    runner.submit("slow")
    while not runner.running:
        time.sleep(0.01)
    runner.cancel()
    while runner.busy():
        time.sleep(0.01)
    assert runner.take() is None and runner.runs == 2
    runner.close()
