"""The evidence of the municipal policy channels: the step panel and the fixed-effects fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.municipal.evidence import FUND_START, estimate, host_jackknife, step_panel
from kbalance.municipal.projection import age_groups, observed_population


@pytest.fixture(scope="module")
def panel():
    return step_panel(observed_population(age_groups(range(101))[0], fill=False))


def test_the_panel_has_every_complete_step_and_the_exposures_of_history(panel):
    assert panel["sgg_code"].nunique() == 229 and set(panel["year"]) == set(range(2016, 2026))
    assert len(panel) == 229 * 10 - 8 - 3                                  # 군위군 2016-2023, 미추홀구 2016-2018 lack a side
    assert np.all(np.isfinite(panel["log_change"])) and panel["log_change"].abs().max() < 0.5
    before = panel[panel["year"] < FUND_START]
    assert (before["exposure_fund"] == 0).all() and (panel.loc[panel["designation"] == "", "exposure_fund"] == 0).all()
    assert (panel.loc[panel["year"] >= 2020, "exposure_relocation"] == 0).all()
    assert panel.loc[panel["host"] == 1, "sgg_code"].nunique() == 4


def synthetic(effect: float, seed: int = 1) -> pd.DataFrame:
    """A panel with municipality and region × year effects and a known fund effect."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(60):
        region, designated, host = str(m % 3), m % 4 == 0, m in (1, 2, 5, 7)
        level = rng.normal(0, 0.01)
        for year in range(2016, 2026):
            fund = (0.1 + 0.01 * m) * (year >= FUND_START) * designated
            staff = 0.004 * (1 + m % 3) * (year < 2020) * host
            rows.append({"sgg_code": f"{m:05d}", "region": region, "year": year,
                         "designation": "depopulation_area" if designated else "", "host": int(host),
                         "exposure_fund": fund, "exposure_relocation": staff,
                         "log_change": level + 0.001 * year % 7 * int(region) + effect * fund + 2.0 * staff
                         + rng.normal(0, 0.001)})
    return pd.DataFrame(rows)


def test_the_fixed_effects_fit_recovers_a_known_strength():
    table = estimate(synthetic(0.03)).set_index(["spec", "term"])
    fund = table.loc[("exposure", "exposure_fund")]
    assert abs(fund["estimate"] - 0.03) < 3 * fund["std_error"] and fund["std_error"] < 0.01
    assert fund["clusters"] == 60 and fund["n"] == 600
    assert table.loc[("binary", "depopulation_post"), "estimate"] > 0
    assert abs(estimate(synthetic(0.0)).set_index(["spec", "term"]).loc[("exposure", "exposure_fund"), "estimate"]) < 0.01


def test_the_host_jackknife_leaves_each_host_out():
    jack = host_jackknife(synthetic(0.03))
    assert list(jack["left_out"]) == ["00001", "00002", "00005", "00007", "jackknife_se"]
    assert np.allclose(jack["estimate"].iloc[:4], 2.0, atol=0.3) and 0 < jack["estimate"].iloc[4] < 0.5
