"""How well a run fits the calibration targets: statistics per target and region, and
figures of model against observations."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kbalance.calibration.targets import Target
from kbalance.regions import region_codes, region_name


def fit_statistics(model: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """RMSE [units of the series], MAPE [%], R² [-] and Theil's decomposition of the
    mean squared error.

    U^M (bias), U^S (unequal variation) and U^C (unequal covariation) sum to 1
    (Sterman 1984); NaN observations are ignored.
    """
    mask = np.isfinite(observed) & np.isfinite(model)
    m, o = np.asarray(model, float)[mask], np.asarray(observed, float)[mask]
    n = m.size
    if n == 0:
        return {"n": 0, "rmse": np.nan, "mape": np.nan, "r2": np.nan, "um": np.nan, "us": np.nan, "uc": np.nan}
    mse = float(np.mean((m - o) ** 2))
    nonzero = o != 0
    mape = float(np.mean(np.abs((m[nonzero] - o[nonzero]) / o[nonzero])) * 100) if nonzero.any() else np.nan
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    r2 = 1 - float(np.sum((m - o) ** 2)) / ss_tot if ss_tot > 0 else np.nan
    sm, so = m.std(), o.std()
    r = float(np.corrcoef(m, o)[0, 1]) if sm > 0 and so > 0 else 0.0
    if mse > 0:
        um, us, uc = (m.mean() - o.mean()) ** 2 / mse, (sm - so) ** 2 / mse, 2 * (1 - r) * sm * so / mse
    else:
        um = us = uc = 0.0
    return {"n": int(n), "rmse": float(np.sqrt(mse)), "mape": mape, "r2": r2,
            "um": float(um), "us": float(us), "uc": float(uc)}


def fit_report(model: dict[str, np.ndarray], targets: Sequence[Target]) -> pd.DataFrame:
    """Statistics per target and region (an origin × destination target by origin
    region) and over all its cells (region ``all``): one row each.

    model : target name → model values shaped like the target's observations
    """
    codes = region_codes()
    rows = []
    for t in targets:
        m = model[t.name]
        for i, code in enumerate(codes):
            rows.append({"target": t.name, "series": t.series, "region": code,
                         **fit_statistics(m[:, i], t.observed[:, i])})
        rows.append({"target": t.name, "series": t.series, "region": "all", **fit_statistics(m, t.observed)})
    return pd.DataFrame(rows)


def plot_fit(model: dict[str, np.ndarray], targets: Sequence[Target], folder: Path) -> list[Path]:
    """One figure per regional target, fit_<target>.png in ``folder``: model (line)
    against observations (dots) for each region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codes = region_codes()
    written = []
    for t in targets:
        if t.observed.ndim != 2:
            continue
        fig, axes = plt.subplots(3, 6, figsize=(16, 8), sharex=True)
        for i, ax in enumerate(axes.flat):
            if i >= len(codes):
                ax.axis("off")
                continue
            ax.plot(t.years, model[t.name][:, i], color="#1f5fa8", lw=1.5, label="model")
            ax.plot(t.years, t.observed[:, i], "o", ms=2.5, color="#d1495b", label="observed")
            ax.set_title(region_name(codes[i]), fontsize=9)
            ax.tick_params(labelsize=7)
        axes.flat[0].legend(fontsize=7, frameon=False)
        fig.suptitle(f"{t.variable} against {t.series} (calibration fit)", fontsize=11)
        fig.tight_layout()
        path = Path(folder) / f"fit_{t.name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
