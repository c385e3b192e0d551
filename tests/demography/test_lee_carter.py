"""Lee–Carter and Li–Lee fits and projections on national rates (HMD Korea 2003–2020)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_shared
from kbalance.demography.leecarter import fit_lee_carter, fit_li_lee, match_deaths
from kbalance.demography.lifetable import life_table
from kbalance.demography.projection import (
    drift_at_quantile, fit_ar1, fit_random_walk, index_path, project_lee_carter, project_li_lee,
    sample_drift)
from kbalance.demography.tables import SEXES

#: Largest allowed gap [years] between fitted and observed e0 (issue #13).
E0_FIT_TOLERANCE = 0.3


def synthetic(n_years: int = 12, n_ages: int = 30, seed: int = 0):
    """Exact Lee–Carter rates with deaths equal to exposure × rate."""
    rng = np.random.default_rng(seed)
    ax = np.linspace(-8, -1, n_ages)
    bx = rng.uniform(0.5, 1.5, n_ages)
    bx /= bx.sum()
    kt = np.linspace(10, -10, n_years) + rng.normal(0, 0.5, n_years)
    kt -= kt.mean()
    mx = np.exp(ax + bx * kt[:, None])
    exposure = rng.uniform(1e3, 1e5, (n_years, n_ages))
    return ax, bx, kt, mx, mx * exposure, exposure


def test_recovers_exact_lee_carter_rates():
    ax, bx, kt, mx, deaths, exposure = synthetic()
    model = fit_lee_carter(mx, deaths, exposure)
    np.testing.assert_allclose(model.bx, bx, rtol=1e-9)
    np.testing.assert_allclose(model.kt, kt, atol=1e-9)
    np.testing.assert_allclose(model.ax, ax, atol=1e-9)


def test_random_walk_of_a_straight_line():
    walk = fit_random_walk(5.0 - 2.0 * np.arange(10))
    assert walk.drift == pytest.approx(-2.0) and walk.drift_se == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(index_path(walk, 3), [-15.0, -17.0, -19.0])
    assert drift_at_quantile(walk, 0.9) == pytest.approx(-2.0)


def test_drift_quantiles_and_samples():
    walk = fit_random_walk(np.array([0.0, -1.0, -3.0, -3.5, -5.0, -6.5, -7.0]))
    assert drift_at_quantile(walk, 0.5) == pytest.approx(walk.drift)
    low, high = drift_at_quantile(walk, [0.025, 0.975])
    assert low == pytest.approx(walk.drift - 1.959964 * walk.drift_se, rel=1e-6) and high > walk.drift
    draws = sample_drift(walk, 20_000, np.random.default_rng(0))
    assert abs(draws.mean() - walk.drift) < 4 * walk.drift_se / np.sqrt(draws.size)
    assert draws.std() == pytest.approx(walk.drift_se, rel=0.03)
    with pytest.raises(ValueError, match="quantile"):
        drift_at_quantile(walk, 1.0)


def test_ar1_must_be_stationary():
    with pytest.raises(ValueError, match="AR"):
        fit_ar1(np.arange(10.0) ** 2)
    process = fit_ar1(np.array([1.0, 0.5, 0.3, 0.1, 0.2, 0.0, 0.05]))
    assert abs(process.phi) < 1


def test_rejects_zero_rates():
    _, _, _, mx, deaths, exposure = synthetic()
    mx[2, 3] = 0.0
    with pytest.raises(ValueError, match="positive"):
        fit_lee_carter(mx, deaths, exposure)


# ---- national data -------------------------------------------------------------------------

def e0_table(rates):
    """e0 [years] of rates shaped (sex, …, age)."""
    from .demography_data import FEMALE

    return life_table(rates, FEMALE.reshape((len(SEXES),) + (1,) * (rates.ndim - 2))).e0


@needs_shared
def test_normalisation_and_second_stage_on_national_rates():
    from .demography_data import lee_carter, li_lee, mortality

    deaths, exposure = mortality()["deaths"].values, mortality()["exposure"].values
    for i, model in enumerate(lee_carter()):
        assert model.bx.sum() == pytest.approx(1.0) and model.kt.sum() == pytest.approx(0.0, abs=1e-9)
        np.testing.assert_allclose((exposure[i] * model.rates()).sum(-1), deaths[i].sum(-1), rtol=1e-9)
    ll = li_lee()
    np.testing.assert_allclose((exposure * ll.rates()).sum(-1), deaths.sum(-1), rtol=1e-9)
    assert ll.Bx.sum() == pytest.approx(1.0) and np.allclose(ll.bx.sum(-1), 1.0)


@needs_shared
def test_fitted_e0_within_tolerance_of_observed():
    from .demography_data import lee_carter, li_lee, rates

    observed = e0_table(rates())
    by_sex = e0_table(np.stack([m.rates() for m in lee_carter()]))
    coherent = e0_table(li_lee().rates())
    assert np.abs(by_sex - observed).max() <= E0_FIT_TOLERANCE
    assert np.abs(coherent - observed).max() <= E0_FIT_TOLERANCE
    assert np.all(by_sex[1] > by_sex[0]) and np.all(coherent[1] > coherent[0])


def projections():
    from .demography_data import HORIZON_YEAR, LAST_YEAR, lee_carter, li_lee

    horizon = HORIZON_YEAR - LAST_YEAR
    by_sex = np.stack([project_lee_carter(m, horizon) for m in lee_carter()])
    return horizon, e0_table(by_sex), e0_table(project_li_lee(li_lee(), horizon))


@needs_shared
def test_projected_e0_female_above_male_and_gains_slow_down():
    _, by_sex, coherent = projections()
    for e0 in (by_sex, coherent):
        assert np.all(e0[1] > e0[0])
        assert np.all(np.diff(e0, axis=-1) > 0)
        decade_gains = np.diff(e0[:, 9::10], axis=-1)        # 2030→2040 … 2060→2070
        assert np.all(np.diff(decade_gains, axis=-1) < 0)


@needs_shared
def test_zero_drift_keeps_jump_off_rates():
    from .demography_data import lee_carter

    for model in lee_carter():
        projected = project_lee_carter(model, 30, drift=0.0)
        np.testing.assert_allclose(projected, np.broadcast_to(model.rates()[-1], projected.shape), rtol=1e-12)


@needs_shared
def test_drift_quantiles_order_the_projection():
    from .demography_data import li_lee

    model = li_lee()
    drifts = drift_at_quantile(fit_random_walk(model.Kt), [0.025, 0.5, 0.975])
    e0_2070 = e0_table(project_li_lee(model, 50, drifts))[..., -1]   # (sex, quantile)
    assert np.all(np.diff(e0_2070, axis=-1) < 0)                  # faster decline, longer life


@needs_shared
def test_projected_e0_2070_inside_un_wpp_95_percent_interval():
    from .demography_data import HORIZON_YEAR, wpp

    _, _, coherent = projections()
    table = wpp()
    for i, sex in enumerate(SEXES):
        rows = table[(table["year"] == HORIZON_YEAR) & (table["variable"] == f"e0_{sex}")]
        low, high = (float(rows.loc[rows["quantile"] == q, "value"].iloc[0]) for q in ("p2.5", "p97.5"))
        assert low <= coherent[i, -1] <= high


def test_li_lee_on_coherent_rates():
    """Rates with a common factor and sex-specific ones: deaths matched, most of the rest explained."""
    rng = np.random.default_rng(4)
    n_years, n_ages = 15, 40
    ax = np.stack([np.linspace(-8, -1, n_ages), np.linspace(-8.5, -1.3, n_ages)])
    Bx = np.full(n_ages, 1 / n_ages)
    Kt = np.linspace(20, -20, n_years)
    bx = rng.uniform(0.5, 1.5, (2, n_ages))
    bx /= bx.sum(-1, keepdims=True)
    kt = rng.normal(0, 5.0, (2, n_years))
    mx = np.exp(ax[:, None] + Bx * Kt[:, None] + bx[:, None] * kt[..., None])
    exposure = rng.uniform(1e3, 1e5, mx.shape)
    model = fit_li_lee(mx, mx * exposure, exposure)
    np.testing.assert_allclose((exposure * model.rates()).sum(-1), (exposure * mx).sum(-1), rtol=1e-9)
    # The sex-specific factor removes most of what the common factor leaves.
    common_only = model.ax[:, None] + model.Bx * model.Kt[:, None]
    left_by_common = np.abs(common_only - np.log(mx)).mean()
    assert np.abs(np.log(model.rates() / mx)).mean() < 0.5 * left_by_common
    assert model.Kt.sum() == pytest.approx(0.0, abs=1e-9) and np.allclose(model.kt.sum(-1), 0.0, atol=1e-9)


def test_second_stage_reports_an_impossible_match():
    base = np.zeros((1, 2))
    with pytest.raises(ValueError, match="reproduces"):
        # exp(k) + exp(−k) ≥ 2 can never equal 1 death per person-year × 1.
        match_deaths(base, np.array([1.0, -1.0]), np.zeros(1), np.array([[0.5, 0.5]]), np.ones((1, 2)))
