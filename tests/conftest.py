"""Shared fixtures: the committed calibration set and a scratch copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kbalance.observations.schema import OBSERVATION_SET
from kbalance.paths import calibration_dir, project_root

#: ../shared/data beside the checkout; only tests that compare with it need it.
SHARED_DATA = (project_root() / ".." / "shared" / "data").resolve()


def copy_observation_set(dest: Path) -> Path:
    """Copy the committed observation set into ``dest`` and return it."""
    src = calibration_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name in OBSERVATION_SET:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        else:
            shutil.copy2(src / name, dest / name)
    return dest


@pytest.fixture
def calib_copy(tmp_path: Path) -> Path:
    """A writable copy of the committed observation set (calibration/ layout)."""
    return copy_observation_set(tmp_path / "calibration")


needs_shared = pytest.mark.skipif(not (SHARED_DATA / "harmonized").is_dir(),
                                  reason="../shared/data/harmonized not present")
