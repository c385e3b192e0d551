"""Choropleth maps of the municipal extinction risk index on the 229 시군구 boundaries.

The boundaries are the simplified 2023 GeoJSON of the observation set
(:data:`~kbalance.observations.schema.BOUNDARY_SERIES`); every municipality is drawn,
coloured by its class of the index (the classes and labels of ``region_extinction_index``
in model/indicators.toml), grey where it has no value. Holes of polygons are not drawn
(none of the simplified outlines needs them at map scale).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from kbalance.errors import KbalanceInputError
from kbalance.municipal.indicators import index_indicator
from kbalance.observations.load import calibration_root, series_table
from kbalance.observations.schema import BOUNDARY_SERIES

#: Colours of the extinction-risk classes (model/indicators.toml), lowest class first.
RISK_COLOURS = ("#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#4393c3")
#: Colour of a municipality without a value.
NO_VALUE = "#bdbdbd"


def boundary_file(root: Path | str | None = None) -> Path:
    """The 시군구 GeoJSON of the observation set."""
    r = calibration_root(root)
    return r / series_table(r).loc[BOUNDARY_SERIES, "file"]


@lru_cache(maxsize=2)
def outlines(path: str) -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    """(sgg_code of every ring, rings as (n, 2) lon/lat arrays) of the outer rings of ``path``."""
    features = json.loads(Path(path).read_text(encoding="utf-8")).get("features", [])
    codes, rings = [], []
    for i, feature in enumerate(features):
        geometry, code = feature.get("geometry") or {}, (feature.get("properties") or {}).get("sgg_cd")
        kind = geometry.get("type")
        if code is None or kind not in ("Polygon", "MultiPolygon"):
            raise KbalanceInputError(path, f"features[{i}]", f"{kind!r} with sgg_cd {code!r}",
                                     "a Polygon or MultiPolygon with property sgg_cd")
        polygons = geometry["coordinates"] if kind == "MultiPolygon" else [geometry["coordinates"]]
        for polygon in polygons:
            codes.append(str(code))
            rings.append(np.asarray(polygon[0], dtype=float))
    return tuple(codes), tuple(rings)


def risk_colours(values: np.ndarray) -> list:
    """The class colour of every value (:data:`NO_VALUE` for NaN)."""
    classes = index_indicator().classes
    cmap = ListedColormap(RISK_COLOURS[:len(classes) + 1])
    norm = BoundaryNorm([-np.inf, *classes, np.inf], cmap.N)
    return [NO_VALUE if not np.isfinite(v) else cmap(norm(v)) for v in values]


def draw_index(ax, index: pd.Series, title: str = "", root: Path | str | None = None) -> int:
    """Draw every municipality of the boundary file on ``ax`` coloured by ``index``
    (indexed by sgg_code) [1]; returns the number of municipalities drawn."""
    codes, rings = outlines(str(boundary_file(root)))
    values = index.reindex(list(codes)).to_numpy(dtype=float)
    ax.add_collection(PolyCollection(list(rings), facecolors=risk_colours(values), edgecolors="white",
                                     linewidths=0.15))
    ax.autoscale_view()
    ax.set_aspect(1 / np.cos(np.radians(36.0)))
    ax.axis("off")
    ax.set_title(title, fontsize=8)
    return len(set(codes))


def legend_handles(lang: str) -> list[Patch]:
    """One patch per class of the index, labels in ``lang`` ("ko" or "en")."""
    labels = index_indicator().class_labels(lang)
    return [Patch(color=c, label=label) for c, label in zip(RISK_COLOURS, labels)]


def index_maps(panels: dict[tuple[str, str], pd.Series], lang: str, title: str) -> Figure:
    """A grid of maps: rows and columns are the two parts of the keys of ``panels``
    ((row label, column label) → index by sgg_code), with one legend."""
    rows = list(dict.fromkeys(r for r, _ in panels))
    cols = list(dict.fromkeys(c for _, c in panels))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.1 * len(cols), 2.5 * len(rows) + 0.6), squeeze=False)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            if (row, col) in panels:
                draw_index(ax, panels[(row, col)], f"{row}\n{col}")
            else:
                ax.axis("off")
    fig.legend(handles=legend_handles(lang), loc="lower center", ncol=len(RISK_COLOURS), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return fig
