"""Shared white-paper fixtures: a small white paper in memory and the folders written from it
(session-scoped and built once for all workers, :func:`conftest.built_once` of tests/conftest.py; tests take
copies and never change them)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from kbalance import cli
from kbalance.whitepaper.pipeline import Progress, prepare_whitepaper, write_contents

from conftest import built_once

#: Members, last year and Sobol base samples of the factorial cross-check of :func:`whitepaper_folder`
#: (4, the smallest allowed: the cross-check's numbers are not what these tests check).
FOLDER_SETTINGS = {"members": 8, "until": 2040, "sobol_n": 4}


@pytest.fixture(scope="session")
def small_whitepaper(tmp_path_factory):
    """Every scenario with 4 members to 2035, nothing written."""
    return built_once(tmp_path_factory, "small-whitepaper", lambda _: prepare_whitepaper(
        "ko", until=2035, members=4, workers=1, sobol_n=FOLDER_SETTINGS["sobol_n"])[0])


@pytest.fixture(scope="session")
def english_screened(small_whitepaper, tmp_path_factory) -> tuple[Path, object]:
    """The small white paper written in English with its figures and, no analysis being given,
    its small screening: the folder and the written white paper."""
    wp = replace(small_whitepaper, lang="en", sensitivity=None)
    return built_once(tmp_path_factory, "wp-en",
                      lambda folder: (folder, write_contents(wp, folder, Progress(False), screening=True)))


@pytest.fixture(scope="session")
def sensitivity_dir(tmp_path_factory) -> Path:
    """A folder in the `kbalance sensitivity` contract: summary.json, indices.csv, figures/."""
    return built_once(tmp_path_factory, "sensitivity-sobol", _write_sensitivity_folder)


def _write_sensitivity_folder(folder: Path) -> Path:
    import matplotlib.pyplot as plt

    (folder / "summary.json").write_text(json.dumps({"method": "sobol", "n": 64, "outcomes": ["population"]}))
    pd.DataFrame({"method": "sobol", "outcome": "population", "year": 2040, "factor": ["mobility", "fertility"],
                  "index": "ST", "value": [0.7, 0.2], "conf": 0.05}).to_csv(folder / "indices.csv", index=False)
    (folder / "figures").mkdir()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(["mobility", "fertility"], [0.7, 0.2])
    fig.savefig(folder / "figures" / "sobol_population.png", dpi=50)
    plt.close(fig)
    return folder


@pytest.fixture(scope="session")
def folder_settings() -> dict:
    """Members, last year and Sobol base samples of :func:`whitepaper_folder`."""
    return dict(FOLDER_SETTINGS)


@pytest.fixture(scope="session")
def whitepaper_folder(tmp_path_factory, sensitivity_dir) -> Path:
    """`kbalance whitepaper` with 8 members to 2040 (:data:`FOLDER_SETTINGS`), Korean, written once."""
    def write(folder: Path) -> Path:
        out = folder / "wp-final-name"
        code = cli.main(["whitepaper", "--members", str(FOLDER_SETTINGS["members"]), "--until",
                         str(FOLDER_SETTINGS["until"]), "--out", str(out), "--sobol-n", str(FOLDER_SETTINGS["sobol_n"]),
                         "--sensitivity", str(sensitivity_dir)])
        assert code == 0
        return out

    return built_once(tmp_path_factory, "whitepaper", write)
