"""The model's mortality inputs: the Li–Lee fit of the HMD rates and its tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.demography.lifetable import life_table
from kbalance.model.mortality import OPEN_AGE, fit_national_mortality, mortality_tables
from kbalance.paths import model_dir


@pytest.fixture(scope="module")
def fit():
    return fit_national_mortality()


def test_refitting_gives_the_same_tables(fit):
    first, again = mortality_tables(fit), mortality_tables(fit_national_mortality())
    assert first.keys() == again.keys()
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name], check_exact=True)


def test_tables_are_the_committed_inputs(fit):
    for name, table in mortality_tables(fit).items():
        committed = pd.read_csv(model_dir() / "inputs" / name, index_col=0)
        np.testing.assert_allclose(committed.to_numpy(), table.to_numpy(), rtol=1e-9, err_msg=name)


def test_fit_covers_2003_to_2020_with_a_falling_index_and_stationary_sex_indices(fit):
    tables = mortality_tables(fit)
    assert list(tables["mortality_index.csv"].index) == list(range(2003, 2021))
    assert tables["mortality_age.csv"].shape == (5, OPEN_AGE + 1)
    scalars = tables["mortality_scalars.csv"]["value"]
    assert scalars["index_drift"] < -2 * scalars["index_drift_se"] < 0
    assert scalars["index_drift"] == pytest.approx((fit.model.Kt[-1] - fit.model.Kt[0]) / 17)
    phi = tables["mortality_sex.csv"]["ar1_coefficient"]
    assert ((phi > 0) & (phi < 1)).all()
    np.testing.assert_allclose(tables["mortality_age.csv"].loc[["common_loading", "loading_Male", "loading_Female"]].sum(axis=1), 1.0)


def test_fitted_rates_give_life_expectancy_close_to_the_data(fit):
    e0 = life_table(fit.model.rates(), np.array([[False], [True]])).e0
    assert e0.shape == (2, 18)
    assert 73 < e0[0, 0] < 75 and 80 < e0[0, -1] < 81.5   # men 2003, 2020
    assert (e0[1] > e0[0]).all()
