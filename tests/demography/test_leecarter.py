"""Lee–Carter and Li–Lee fits, on exact synthetic rates and national rates (HMD Korea 2003–2020)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_shared
from kbalance.demography.leecarter import (LiLee, common_index_to_deaths, fit_lee_carter, fit_li_lee, match_deaths,
                                          ultimate_loading)

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


def test_rejects_zero_rates():
    _, _, _, mx, deaths, exposure = synthetic()
    mx[2, 3] = 0.0
    with pytest.raises(ValueError, match="positive"):
        fit_lee_carter(mx, deaths, exposure)


def test_ultimate_loading_is_flat_to_64_continuous_and_sums_to_one():
    rng = np.random.default_rng(3)
    bx = rng.uniform(0.5, 2.0, 101)
    bx /= bx.sum()
    bu = ultimate_loading(bx)
    assert bu.sum() == pytest.approx(1.0)
    assert np.ptp(bu[:65]) == 0.0 and bu[64] == pytest.approx(bu[65])
    # the mean of 15-64 sets the flat level; above 64 the shape of B(x) is kept
    scale = bu[0] / bx[15:65].mean()
    np.testing.assert_allclose(bu[65:], bx[65:] * bx[15:65].mean() / bx[65] * scale)
    with pytest.raises(ValueError, match="above 64"):
        ultimate_loading(bx[:60])
    with pytest.raises(ValueError, match="positive"):
        ultimate_loading(np.where(np.arange(101) == 90, 0.0, bx))


# ---- national data -------------------------------------------------------------------------

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
    from .demography_data import e0_table, lee_carter, li_lee, rates

    observed = e0_table(rates())
    by_sex = e0_table(np.stack([m.rates() for m in lee_carter()]))
    coherent = e0_table(li_lee().rates())
    assert np.abs(by_sex - observed).max() <= E0_FIT_TOLERANCE
    assert np.abs(coherent - observed).max() <= E0_FIT_TOLERANCE
    assert np.all(by_sex[1] > by_sex[0]) and np.all(coherent[1] > coherent[0])


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


def coherent_model(n_ages: int = 40, seed: int = 5) -> LiLee:
    rng = np.random.default_rng(seed)
    bx = rng.uniform(-0.2, 1.5, (2, n_ages))            # some negative loadings, as fitted ones have
    return LiLee(ax=np.stack([np.linspace(-8, -1, n_ages), np.linspace(-8.5, -1.3, n_ages)]),
                 Bx=rng.uniform(0.5, 1.5, n_ages) / n_ages, Kt=np.zeros(3),
                 bx=bx / bx.sum(-1, keepdims=True), kt=np.zeros((2, 3)))


def deaths_in_year(model, K, kt, population):
    """Deaths of the residents at the start of each year at their cohort's rates over the
    year (the mean of their age's and the next age's rate; the open group its own) [persons]."""
    m = model.rates(K, kt)
    cohort = np.concatenate([(m[..., :-1] + m[..., 1:]) / 2, m[..., -1:]], axis=-1)
    return (population * -np.expm1(-cohort)).sum(axis=(0, 2))


def test_common_index_reproduces_total_deaths_of_both_sexes():
    """Second stage for K alone: the schedule at the estimated K, applied to the residents by
    sex and age, gives each year's total deaths; with deaths made at a known K it recovers it."""
    model, rng = coherent_model(), np.random.default_rng(6)
    K, kt = np.array([15.0, -3.0, -40.0]), rng.normal(0, 4, (2, 3))
    population = rng.uniform(1e3, 1e5, (2, 3, 40))
    deaths = deaths_in_year(model, K, kt, population)
    np.testing.assert_allclose(common_index_to_deaths(model, kt, population, deaths), K, rtol=1e-9)
    shocked = deaths * np.array([1.0, 1.05, 1.25])      # excess deaths: a higher index
    again = common_index_to_deaths(model, kt, population, shocked)
    np.testing.assert_allclose(deaths_in_year(model, again, kt, population), shocked, rtol=1e-6)
    assert again[0] == pytest.approx(K[0]) and (again[1:] > K[1:]).all()


def test_common_index_refuses_mismatched_shapes_and_impossible_deaths():
    model = coherent_model()
    with pytest.raises(ValueError, match="population"):
        common_index_to_deaths(model, np.zeros((2, 2)), np.ones((2, 3, 40)), np.ones(3))
    with pytest.raises(ValueError, match="below the residents"):
        common_index_to_deaths(model, np.zeros((2, 1)), np.ones((2, 1, 40)), np.array([80.0]))
