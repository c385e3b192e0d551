"""The factors of the model, shared by the sensitivity tests."""

from __future__ import annotations

import pytest

from kbalance.sensitivity import factors as sf


@pytest.fixture(scope="package")
def factors() -> list[sf.Factor]:
    """The factors of the committed parameter file, levers and constrained ensemble."""
    return sf.define_factors()
