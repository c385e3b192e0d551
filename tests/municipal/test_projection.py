"""Cohort-change ratios, damping and raking of the municipal projection."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kbalance.errors import InvalidValueError, KbalanceInputError
from kbalance.municipal.projection import (age_groups, damped, estimate_ratios, observed_population, project, rake,
                                           reachable, regroup_observed, region_matrix)


def test_age_groups_follow_the_model_open_age():
    labels, matrix = age_groups([f"A{a}" for a in range(86)])
    assert labels[0] == "00_04" and labels[-2] == "80_84" and labels[-1] == "85p"
    assert matrix.shape == (86, 18) and np.all(matrix.sum(axis=1) == 1)
    labels, matrix = age_groups(range(101))
    assert labels[-1] == "100p" and len(labels) == 21 and matrix[100, 20] == 1 and matrix[99, 19] == 1


def test_age_groups_refuse_an_open_age_off_the_grid():
    with pytest.raises(InvalidValueError, match="Age"):
        age_groups(range(84))


def test_observed_groups_collapse_into_the_open_group():
    obs = observed_population(age_groups(range(86))[0])
    full = observed_population(age_groups(range(101))[0])
    assert obs.sizes["age_group"] == 18 and full.sizes["age_group"] == 21
    assert not np.isnan(obs.values).any()
    np.testing.assert_allclose(obs.sel(age_group="85p"), full.sel(age_group=["85_89", "90_94", "95_99", "100p"]).sum("age_group"))


def test_regroup_refuses_groups_that_do_not_cover_the_model():
    structure = xr.DataArray(np.ones((1, 2)), dims=("sgg_code", "age_group"), coords={"age_group": ["00_04", "05_09"]})
    with pytest.raises(KbalanceInputError, match="age_group"):
        regroup_observed(structure, ("00_04", "05_09", "10p"))


def test_reachable_keeps_people():
    pop = np.arange(1.0, 7.0)
    moved = reachable(pop)
    assert moved[1:].sum() == pytest.approx(pop.sum() - 0.8 * pop[0])  # all but those staying in 0–4
    assert moved[-1] == pytest.approx(pop[-1] + pop[-2] / 5)


def test_damping_halves_the_log_departure_after_one_half_life():
    assert damped(np.array([2.0]), np.array([1.0]), 10.0, 10.0)[0] == pytest.approx(2 ** 0.5)
    assert damped(np.array([2.0]), np.array([1.0]), 0.0, 10.0)[0] == pytest.approx(2.0)


def test_rake_sums_exactly_and_fills_empty_cells():
    members = region_matrix(np.array(["a", "a", "b"]), ["a", "b"])
    est = np.array([[[[1.0, 0.0]], [[3.0, 0.0]], [[5.0, 2.0]]]])  # (member, sgg, sex, group)
    target = np.array([[[[8.0, 2.0]], [[10.0, 4.0]]]])
    out = rake(est, target, members)
    np.testing.assert_allclose(np.einsum("rs,msxg->mrxg", members, out), target)
    np.testing.assert_allclose(out[0, :2, 0, 0], [2.0, 6.0])
    np.testing.assert_allclose(out[0, :2, 0, 1], [0.5, 1.5])  # empty group shared by size


def test_region_matrix_refuses_an_unknown_region():
    with pytest.raises(KbalanceInputError, match="region_code"):
        region_matrix(np.array(["99"]), ["11"])


def test_projection_sums_to_the_targets_every_year():
    labels = age_groups(range(86))[0]
    obs = observed_population(labels)
    ratios = estimate_ratios(obs)
    codes = sorted(set(ratios.region))
    members = region_matrix(ratios.region, codes)
    base = obs.sel(year=2025).values
    start = np.einsum("rs,sxg->rxg", members, base)
    rng = np.random.default_rng(1)
    targets = start[None, None] * rng.uniform(0.8, 1.1, size=(3, 6, 1, 1, 1))
    out = project(ratios, base, targets, codes)
    sums = np.einsum("rs,mysxg->myrxg", members, out)
    assert out.shape == (3, 6, 229, 2, 18) and (out >= 0).all()
    assert np.max(np.abs(sums - targets) / targets) < 1e-12


def test_estimate_refuses_a_window_outside_the_data():
    obs = observed_population(age_groups(range(86))[0])
    with pytest.raises(InvalidValueError, match="year"):
        estimate_ratios(obs, (2010, 2025))


def test_ratios_fall_back_to_the_region_without_data():
    obs = observed_population(age_groups(range(86))[0]).copy()
    obs.loc[{"sgg_code": "11110"}] = np.nan
    ratios = estimate_ratios(obs)
    i = list(ratios.codes).index("11110")
    np.testing.assert_allclose(ratios.change[i], ratios.regional_change[i])


def test_filled_years_stay_out_of_the_ratios():
    labels = age_groups(range(86))[0]
    unfilled = observed_population(labels, fill=False)
    assert bool(unfilled.sel(sgg_code="27720", year=2018).isnull().all())  # 군위군 before it joined Daegu
    ratios = estimate_ratios(unfilled)
    assert ratios.window == (2015, 2025) and np.isfinite(ratios.change[..., 1:]).all()
