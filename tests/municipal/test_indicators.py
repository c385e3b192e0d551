"""Extinction index, counts at risk and designated groups of the municipal layer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kbalance.model.indicators import indicator
from kbalance.municipal.indicators import (DESIGNATED_GROUPS, crossings, designation_matrix, extinction_index,
                                           risk_bounds, summary)
from kbalance.municipal.projection import age_groups
from kbalance.observations.keyed import municipal_designations

LABELS = age_groups(range(86))[0]


def population(women_20_39: float, old: float) -> np.ndarray:
    pop = np.zeros((2, len(LABELS)))
    pop[1, LABELS.index("25_29")] = women_20_39
    pop[0, LABELS.index("70_74")] = old / 2
    pop[1, LABELS.index("85p")] = old / 2
    pop[0, LABELS.index("40_44")] = 1000.0  # neither numerator nor denominator
    return pop


def test_bounds_come_from_the_indicator_file():
    assert risk_bounds() == tuple(indicator("region_extinction_index").classes[:2]) == (0.2, 0.5)


def test_index_is_women_20_39_per_elderly():
    pop = np.stack([population(40, 100), population(10, 100), population(5, 0)])
    np.testing.assert_allclose(extinction_index(pop, LABELS), [0.4, 0.1, 0.0])


def test_summary_counts_and_groups():
    pop = np.stack([population(40, 100), population(10, 100), population(80, 100)])
    designation = np.array(["depopulation_area", "area_of_concern", ""])
    out = summary(pop, LABELS, designation)
    assert out["at_risk"] == 2 and out["high_risk"] == 1
    assert out["below_10000"] == 3
    np.testing.assert_allclose(out["designated_index"], [0.4, 0.1, 0.25])
    np.testing.assert_allclose(out["designated_population"], [1140, 1110, 2250])


def test_designated_groups_match_the_data_file():
    table = municipal_designations()
    groups = designation_matrix(table["status"].to_numpy())
    assert groups.sum(axis=1).tolist() == [89, 18, 107] and DESIGNATED_GROUPS[-1] == "designated"


def test_crossings_name_the_class_change():
    index = pd.DataFrame({"scenario": "baseline", "sgg_code": ["1", "1", "2", "2", "3", "3"], "sgg_name": "x",
                          "region": "11", "year": [2025, 2050] * 3,
                          "extinction_index": [0.6, 0.4, 0.3, 0.1, 0.45, 0.55]})
    out = crossings(index, 2025, 2050).set_index("sgg_code")["crossing"]
    assert out.to_dict() == {"1": "into risk", "2": "into high risk", "3": "out of risk"}
