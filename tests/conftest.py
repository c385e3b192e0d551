"""Shared fixtures: the committed calibration set and a scratch copy of it, the PySD run of
the baseline (run once per session), :func:`built_once` for such fixtures and the Hypothesis
profiles."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Callable, TypeVar

import pytest
from filelock import FileLock
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


T = TypeVar("T")


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """``build(folder)``, computed once per test session however many pytest-xdist workers ask.

    The first worker to ask builds it into ``folder`` (a new folder every worker sees) and keeps
    the value pickled beside it; the others wait for it and read the pickle. Each worker gets
    its own copy of the value, as it would from a session fixture of its own; ``folder`` is
    shared, so tests must not change what is written there.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above the workers' own
    folder, cached = root / f"{name}-shared", root / f"{name}.pickle"
    with FileLock(root / f"{name}.lock"):
        if cached.is_file():
            return pickle.loads(cached.read_bytes())
        folder.mkdir()
        try:
            value = build(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # the next worker to ask tries again
            raise
        cached.write_bytes(pickle.dumps(value))
        return value


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
def pysd_baseline(tmp_path_factory):
    """PySD's run of the baseline on the default parameter set to 2070, every variable of
    :func:`model_variables` (the longest PySD run of the suite, done once)."""
    return built_once(tmp_path_factory, "pysd-baseline", lambda _: run_pysd(
        Scenario("baseline", ""), read_parameter_set(), BASELINE_UNTIL, model_variables()))
