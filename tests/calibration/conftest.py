"""Shared fixtures of the calibration tests."""

from __future__ import annotations

import pytest

from kbalance.calibration import ensemble, fit
from kbalance.model import parameters


@pytest.fixture
def fitted_folder(tmp_path, monkeypatch):
    """An empty calibration/fitted/ in place of the shipped one, for every module that
    looks for fitted sets (the parameter sets, the fit's next version, the ensembles)."""
    for module in (parameters, fit, ensemble):
        monkeypatch.setattr(module, "calibration_dir", lambda: tmp_path)
    (tmp_path / "fitted").mkdir()
    return tmp_path / "fitted"
