"""Shared fixtures: the committed calibration set and a scratch copy of it, the PySD run of
the baseline (run once per session) and the Hypothesis profiles."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from kbalance.engine.compiler import compile_model
from kbalance.engine.reference import run_pysd
from kbalance.model.mdl import documentation
from kbalance.model.parameters import read_parameter_set
from kbalance.model.scenarios import Scenario
from kbalance.observations.schema import OBSERVATION_SET, REFERENCE_TOTALS
from kbalance.paths import calibration_dir, project_root

#: Hypothesis examples per property: few in CI, many with KBALANCE_HYPOTHESIS=thorough.
settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("KBALANCE_HYPOTHESIS", "ci"))

#: ../shared/data beside the checkout; only tests that compare with it need it.
SHARED_DATA = (project_root() / ".." / "shared" / "data").resolve()


def copy_observation_set(dest: Path) -> Path:
    """Copy the committed observation set and the reference totals beside it into ``dest``
    and return it."""
    src = calibration_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*OBSERVATION_SET, REFERENCE_TOTALS):
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


#: The horizon of every shipped run [year].
BASELINE_UNTIL = 2070


def model_variables() -> list[str]:
    """Every variable of the model both engines compute (no lookups, no FINAL TIME)."""
    doc = documentation()
    model = compile_model()
    keep = doc[doc["Type"].notna() & ~doc["Type"].isin(["Lookup"]) & (doc["Real Name"] != "FINAL TIME")]
    return [n for n in keep["Real Name"] if n in model.names]


@pytest.fixture(scope="session")
def pysd_baseline():
    """PySD's run of the baseline on the default parameter set to 2070, every variable of
    :func:`model_variables` (the longest PySD run of the suite, done once)."""
    return run_pysd(Scenario("baseline", ""), read_parameter_set(), BASELINE_UNTIL, model_variables())
