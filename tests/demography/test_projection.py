"""Random-walk and AR(1) index models and Lee–Carter / Li–Lee projections (HMD Korea 2003–2020)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_shared
from kbalance.demography.projection import (
    drift_at_quantile, fit_ar1, fit_random_walk, index_path, project_lee_carter, project_li_lee,
    sample_drift)
from kbalance.demography.tables import SEXES


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


# ---- national data -------------------------------------------------------------------------

def projections():
    from .demography_data import HORIZON_YEAR, LAST_YEAR, e0_table, lee_carter, li_lee

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
    from .demography_data import e0_table, li_lee

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
