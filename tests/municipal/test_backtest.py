"""The municipal backtest against the constant-share forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.errors import InvalidValueError
from kbalance.municipal.backtest import backtests, constant_share, mape, regional_totals, run_backtest, write_backtest
from kbalance.municipal.projection import age_groups, observed_population


@pytest.fixture(scope="module")
def observed():
    return observed_population(age_groups(range(86))[0])


def test_method_beats_constant_shares_and_counts_the_risk(observed):
    table = backtests(observed, unfilled=observed_population(age_groups(range(86))[0], fill=False))
    assert list(table["base"]) == [2015, 2019]
    assert (table["mape_method"] < table["mape_naive"]).all()
    row = table.set_index("base").loc[2019]
    assert not row["in_sample"] and abs(row["at_risk_method"] - row["at_risk_observed"]) <= 6


def test_constant_share_keeps_base_shares(observed):
    codes = sorted(set(observed["region"].values))
    targets = regional_totals(observed.sel(year=[2025]), codes)
    naive = constant_share(observed, 2019, targets, codes)[0]
    base = observed.sel(year=2019).values
    i = list(observed["sgg_code"].values).index("11110")
    seoul = observed["region"].values == "11"
    share = base[i] / base[seoul].sum(axis=0)
    np.testing.assert_allclose(naive[i] / naive[seoul].sum(axis=0), share)


def test_mape_is_in_percent():
    assert mape(np.array([[110.0], [90.0]]), np.array([[100.0], [100.0]])) == pytest.approx(10.0)


def test_bad_base_year_is_refused(observed):
    with pytest.raises(InvalidValueError, match="base"):
        run_backtest(observed, 2030, (2015, 2019))


def test_write_backtest(tmp_path):
    path = write_backtest(pd.DataFrame({"base": [2019]}), tmp_path / "m.csv")
    assert pd.read_csv(path)["base"].tolist() == [2019]
