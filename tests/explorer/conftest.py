"""Shared fixtures of the explorer tests: the best-fit baseline projection, computed once."""

from __future__ import annotations

import pytest

from kbalance.explorer.compute import project
from kbalance.explorer.state import UNTIL, baseline_state, scenario_of
from kbalance.model.parameters import shipped_parameter_set


@pytest.fixture(scope="session")
def baseline():
    """The explorer's projection of its baseline state on the shipped fitted set."""
    return project(scenario_of(baseline_state()), shipped_parameter_set(), UNTIL)
