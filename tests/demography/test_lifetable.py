"""Period life tables: a0 rule, identities, closing the open group, KOSIS comparison."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_shared
from kbalance.demography.lifetable import a0_andreev_kingkade, close_at, cohort_rates, life_table
from kbalance.demography.tables import SEXES


def gompertz_rates(n_ages: int = 101) -> np.ndarray:
    """A plain age pattern for identities: infant 0.003, a minimum near 10, Gompertz above."""
    x = np.arange(n_ages, dtype=float)
    return 0.003 * np.exp(-x) + 2e-4 + 3e-5 * np.exp(0.1 * x)


def test_a0_segments():
    assert a0_andreev_kingkade(0.01, female=False) == pytest.approx(0.14929 - 1.99545 * 0.01)
    assert a0_andreev_kingkade(0.05, female=True) == pytest.approx(0.04667 + 3.88089 * 0.05)
    assert a0_andreev_kingkade(0.2, female=[False, True]).tolist() == [0.29915, 0.31411]
    # The segments meet (to 1e-3) at their breaks: a check on the transcribed coefficients.
    for female, breaks in ((False, (0.0230, 0.08307)), (True, (0.01724, 0.06891))):
        for b in breaks:
            below, above = a0_andreev_kingkade([b - 1e-9, b], female)
            assert abs(above - below) < 1e-3


def test_identities():
    mx = np.stack([gompertz_rates(), 1.3 * gompertz_rates()])
    table = life_table(mx, female=np.array([True, False]))
    assert np.all(np.diff(table.lx, axis=-1) < 0)
    np.testing.assert_allclose(table.dx.sum(-1), 100_000.0, rtol=1e-12)
    np.testing.assert_allclose(table.e0, table.Tx[..., 0] / table.lx[..., 0], rtol=1e-12)
    np.testing.assert_allclose(table.lx[..., 1:], table.lx[..., :-1] - table.dx[..., :-1], rtol=1e-12)
    assert np.all(table.Lx[..., :-1] <= table.lx[..., :-1]) and np.all(table.Lx[..., :-1] >= table.lx[..., 1:])
    assert table.e0[0] > table.e0[1]          # lower rates, longer life


def test_constant_rate_after_infancy():
    # With m constant and ax = 0.5, e_x at closed ages tends to the open group's 1/m.
    mx = np.full(200, 0.05)
    table = life_table(mx, female=True)
    assert table.ex[-1] == pytest.approx(20.0)
    assert table.ex[100] == pytest.approx(1 / 0.05, rel=1e-3)


def test_close_at_keeps_the_table():
    mx = gompertz_rates(131)
    closed = close_at(mx, 100)
    long, short = life_table(mx, True), life_table(closed, True)
    assert closed.shape == (101,)
    np.testing.assert_allclose(short.ex, long.ex[:101], rtol=1e-12)
    np.testing.assert_allclose(short.lx, long.lx[:101], rtol=1e-12)


def test_cohort_rates_average_an_age_and_the_next_and_keep_the_open_group():
    rates = np.array([[0.01, 0.03, 0.05, 0.2], [0.0, 0.0, 0.1, 0.4]])
    expected = np.array([[0.02, 0.04, 0.125, 0.2], [0.0, 0.05, 0.25, 0.4]])
    np.testing.assert_allclose(cohort_rates(rates), expected)
    # where rates rise with age (old age), the cohort's rate exceeds its age's rate
    gompertz = 1e-4 * np.exp(0.1 * np.arange(101))
    assert (cohort_rates(gompertz)[:-1] > gompertz[:-1]).all()
    np.testing.assert_allclose(cohort_rates(gompertz)[:-1] / gompertz[:-1], (1 + np.exp(0.1)) / 2)


def test_rejects_bad_rates():
    with pytest.raises(ValueError, match="open age"):
        life_table(np.array([0.01, 0.0]), female=True)
    with pytest.raises(ValueError, match="non-negative"):
        life_table(np.array([-0.01, 0.5]), female=True)


@needs_shared
def test_observed_tables_satisfy_identities():
    from .demography_data import FEMALE, rates

    table = life_table(rates(), FEMALE)
    assert np.all(np.diff(table.lx, axis=-1) < 0)
    np.testing.assert_allclose(table.dx.sum(-1), 100_000.0, rtol=1e-12)
    np.testing.assert_allclose(table.e0, table.Tx[..., 0] / 100_000.0, rtol=1e-12)
    assert np.all(table.e0[1] > table.e0[0])


def trapezoid_e0(ages, lx, e_open) -> float:
    """Life expectancy [years] from lx at abridged ages by the trapezoid rule, open group × e_open."""
    return (float((np.diff(ages) * (lx[:-1] + lx[1:]) / 2).sum()) + lx[-1] * e_open) / lx[0]


@needs_shared
@pytest.mark.parametrize("year", [2003, 2013])
@pytest.mark.parametrize("sex", SEXES)
def test_against_kosis_abridged_table(year, sex):
    """HMD-based lx against KOSIS's abridged lx (ages 0, 1, 5, …, 100+).

    Tolerances (docs/demography.md): the two tables use different population
    denominators and old-age methods; they agree within 0.5 % of the radix up
    to age 65, within 2.5 % at any age, and by 0.5 years in e0 on the same
    trapezoid rule.
    """
    from .demography_data import FEMALE, LAST_YEAR, kosis_lx, mortality, rates

    kosis = kosis_lx()
    kosis = kosis[(kosis["year"] == year) & (kosis["sex"] == sex)].sort_values("age")
    ages, theirs = kosis["age"].to_numpy(), kosis["lx"].to_numpy()
    assert ages.tolist() == [0, 1] + list(range(5, 101, 5))
    years = mortality()["year"].values
    assert years[-1] == LAST_YEAR
    i, t = SEXES.index(sex), int(np.flatnonzero(years == year)[0])
    table = life_table(rates()[i, t], FEMALE[i])
    ours = table.lx[ages]
    assert np.abs(ours - theirs)[ages <= 65].max() <= 500
    assert np.abs(ours - theirs).max() <= 2_500
    e_open = table.ex[100]
    assert abs(trapezoid_e0(ages, ours, e_open) - trapezoid_e0(ages, theirs, e_open)) <= 0.5
