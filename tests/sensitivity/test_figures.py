"""Figures of a sensitivity analysis: every kind is written as PNG and SVG for each outcome."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from kbalance.sensitivity import design as sd
from kbalance.sensitivity import figures as sfig

PROBLEM = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
YEARS = [2025, 2050, 2070]


def linear(X: np.ndarray) -> np.ndarray:
    """Two outcomes over three years, linear in the factors."""
    base = X @ np.array([3.0, 1.0, 0.2])
    return np.stack([np.stack([base * k for k in (1, 2, 3)], axis=1), np.stack([X[:, 0] + k for k in (1, 2, 3)], 1)],
                    axis=1)


@pytest.fixture(scope="module", params=["sobol", "morris"])
def indices(request) -> pd.DataFrame:
    design = sd.sample_design(PROBLEM, request.param, 16 if request.param == "sobol" else 4, seed=3)
    return sd.run_pipeline(PROBLEM, design, linear, ["population", "capital_share"], YEARS).indices


def fan() -> pd.DataFrame:
    rows = [(o, y, 1.0, 2.0, 3.0, 4.0, 5.0) for o in ("population", "capital_share") for y in YEARS]
    return pd.DataFrame(rows, columns=["outcome", "year", "q05", "q25", "q50", "q75", "q95"])


def test_every_figure_of_every_outcome_as_png_and_svg(tmp_path, indices):
    written = sfig.write_figures(tmp_path / "figures", indices, fan(), ["population", "capital_share"], YEARS,
                                 members=20, scenario="baseline")
    stems = {f"{kind}_{o}" for kind in ("indices", "over_time", "fan") for o in ("population", "capital_share")}
    assert sorted(p.name for p in written) == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "svg"))
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(p.name for p in written)
    for path in written:
        if path.suffix == ".svg":
            assert path.read_text(encoding="utf-8").lstrip().startswith("<?xml")
        else:
            assert imread(path).shape[1] > 1500  # 300 dpi: a figure several inches wide


def test_bars_have_one_panel_per_report_year(tmp_path, indices):
    (tmp_path / "one").mkdir()
    one = sfig.plot_bars(indices, "population", [2070], tmp_path / "one")
    two = sfig.plot_bars(indices, "population", [2050, 2070], tmp_path)
    assert imread(two[0]).shape[1] > 1.5 * imread(one[0]).shape[1]  # 5.2 inches per year


def test_without_a_fan_only_the_index_figures(tmp_path, indices):
    written = sfig.write_figures(tmp_path, indices, None, ["population"], YEARS, members=0, scenario="baseline")
    assert sorted(p.stem for p in written) == ["indices_population"] * 2 + ["over_time_population"] * 2
