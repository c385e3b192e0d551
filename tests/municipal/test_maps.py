"""The municipal choropleth: every municipality drawn, classes from the indicator file."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from kbalance.errors import KbalanceInputError  # noqa: E402
from kbalance.municipal.maps import (NO_VALUE, RISK_COLOURS, boundary_file, draw_index, index_maps,  # noqa: E402
                                     legend_handles, outlines, risk_colours)
from kbalance.observations.keyed import municipalities  # noqa: E402


def test_every_municipality_is_drawn():
    codes = municipalities().index
    fig, ax = plt.subplots()
    drawn = draw_index(ax, pd.Series(0.3, index=codes))
    collection = ax.collections[0]
    assert drawn == 229 and set(outlines(str(boundary_file()))[0]) == set(codes)
    assert len(collection.get_paths()) >= 229
    plt.close(fig)


def test_colours_follow_the_classes():
    colours = risk_colours(np.array([0.1, 0.3, np.nan, 2.0]))
    assert colours[2] == NO_VALUE
    assert matplotlib.colors.to_hex(colours[0]) == RISK_COLOURS[0]
    assert matplotlib.colors.to_hex(colours[3]) == RISK_COLOURS[4]
    assert [h.get_label() for h in legend_handles("ko")][0].startswith("소멸고위험")


def test_grid_of_maps():
    index = pd.Series(0.6, index=municipalities().index)
    fig = index_maps({("baseline", "2040"): index, ("baseline", "2050"): index, ("other", "2040"): index}, "en", "t")
    assert len(fig.axes) == 4 and sum(len(ax.collections) for ax in fig.axes) == 3
    plt.close(fig)


def test_bad_boundary_file_is_refused(tmp_path):
    path = tmp_path / "b.geojson"
    path.write_text(json.dumps({"features": [{"geometry": {"type": "Point"}, "properties": {"sgg_cd": "1"}}]}))
    with pytest.raises(KbalanceInputError, match="features"):
        outlines(str(path))
