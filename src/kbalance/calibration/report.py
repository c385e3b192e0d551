"""How well a run fits the calibration targets: statistics per target and region, the
per-region headline of each target, and figures of model against observations.

The headline of a target is per region, since pooling all region-years lets the
differences between regions dominate: the median-region and worst-region MAPE and the
within-region R² (a region's series about its own mean over time), with the pooled
figures beside them."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kbalance.calibration.targets import Target
from kbalance.errors import InvalidValueError
from kbalance.fonts import use_korean_font
from kbalance.model.indicators import read_indicators
from kbalance.observations.load import series_table
from kbalance.paths import calibration_dir, read_toml
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


#: Columns of fit_statistics.csv, the headline per target.
HEADLINE_COLUMNS = ("target", "series", "regions", "n", "mape_median_region", "mape_worst_region", "worst_region",
                    "r2_median_region", "r2_worst_region", "regions_r2_positive", "mape_pooled", "r2_pooled",
                    "rmse_pooled", "um", "us", "uc")


def headline_statistics(regions: pd.DataFrame) -> pd.DataFrame:
    """The per-region headline of each target from the per-region table of :func:`fit_report`:
    median-region and worst-region MAPE [%] (and which region), median and worst
    within-region R² [-], how many regions have R² > 0, and the pooled MAPE [%], R² [-],
    RMSE [units of the series] and Theil's U^M, U^S, U^C of the row ``all`` beside them.
    Regions without observations are left out of the median and the worst."""
    rows = []
    for target, group in regions.groupby("target", sort=False):
        per = group[(group["region"].astype(str) != "all") & (group["n"] > 0)]
        pooled = group[group["region"].astype(str) == "all"].iloc[0]
        mape, r2 = per["mape"].dropna(), per["r2"].dropna()
        rows.append({"target": target, "series": pooled["series"], "regions": len(per), "n": int(pooled["n"]),
                     "mape_median_region": float(mape.median()) if len(mape) else np.nan,
                     "mape_worst_region": float(mape.max()) if len(mape) else np.nan,
                     "worst_region": str(per.loc[mape.idxmax(), "region"]) if len(mape) else "",
                     "r2_median_region": float(r2.median()) if len(r2) else np.nan,
                     "r2_worst_region": float(r2.min()) if len(r2) else np.nan,
                     "regions_r2_positive": int((r2 > 0).sum()),
                     "mape_pooled": pooled["mape"], "r2_pooled": pooled["r2"], "rmse_pooled": pooled["rmse"],
                     "um": pooled["um"], "us": pooled["us"], "uc": pooled["uc"]})
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))


def lag_one_autocorrelation(model: dict[str, np.ndarray], targets: Sequence[Target]) -> float:
    """Pooled lag-one autocorrelation over time of the residuals (model − observed) [-],
    each series normalised like the objective; floored at 0 and capped at 0.99.

    model : target name → model values shaped like the target's observations"""
    pairs = []
    for t in targets:
        diff = (model[t.name] - t.observed) / t.scale
        a, b = diff[:-1].ravel(), diff[1:].ravel()
        ok = np.isfinite(a) & np.isfinite(b)
        pairs.append((a[ok] - np.nanmean(diff), b[ok] - np.nanmean(diff)))
    a = np.concatenate([x for x, _ in pairs])
    b = np.concatenate([y for _, y in pairs])
    return float(np.clip(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)), 0.0, 0.99))


def effective_residuals(model: dict[str, np.ndarray], targets: Sequence[Target], n: int) -> float:
    """The effective number of ``n`` residuals, n (1 − ρ)/(1 + ρ) with ρ their pooled
    lag-one autocorrelation (:func:`lag_one_autocorrelation`) [-]."""
    rho = lag_one_autocorrelation(model, targets)
    return n * (1 - rho) / (1 + rho)


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


#: Fields a target without a regional indicator gives in calibration/targets.toml for its figure.
LABEL_FIELDS = ("label_en", "label_ko", "unit_en", "unit_ko", "shown_scale")


@dataclass(frozen=True)
class TargetLabel:
    """How a fit figure shows a target: labels and unit of the shown value in both
    languages, and shown value = model value × ``scale``."""

    label_en: str
    label_ko: str
    unit_en: str
    unit_ko: str
    scale: float


def target_label(target: Target, path: Path | None = None) -> TargetLabel:
    """The labels of ``target``: those of the regional indicator of model/indicators.toml
    showing the same model variable, else the target's own :data:`LABEL_FIELDS` in
    calibration/targets.toml (``path``). Raises :class:`~kbalance.errors.InvalidValueError`
    naming the field when a target has neither."""
    for ind in read_indicators(level="regional").values():
        if ind.variable == target.variable:
            return TargetLabel(ind.label_en, ind.label_ko, ind.unit_en, ind.unit_ko, ind.scale)
    path = Path(path) if path else calibration_dir() / "targets.toml"
    spec = read_toml(path, "targets", "calibration/targets.toml").get(target.name, {})
    missing = [f for f in LABEL_FIELDS if f not in spec]
    if missing:
        raise InvalidValueError(path, f"{target.name}.{missing[0]}", "missing",
                                "a regional indicator of model/indicators.toml for its variable, or " + ", ".join(LABEL_FIELDS))
    return TargetLabel(*(str(spec[f]) for f in LABEL_FIELDS[:4]), float(spec["shown_scale"]))


def fit_titles(label: TargetLabel) -> tuple[str, str]:
    """The Korean and English titles of a fit figure."""
    return (f"보정 적합: {label.label_ko} — 모형(선)과 관측(점), 시도별",
            f"Calibration fit: {label.label_en} — model (line) against observations (dots), by region")


def fit_figure(model: np.ndarray, target: Target):
    """The fit figure of a regional target: model (line, ``model`` shaped like the target's
    observations [model units]) against observations (dots) for each region, with titles,
    region names and axis labels in Korean and English (labels and units from
    :func:`target_label`) and the observed table named (calibration/sources.csv).
    Returns the matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    use_korean_font()
    codes, t = region_codes(), target
    label = target_label(t)
    fig, axes = plt.subplots(3, 6, figsize=(16, 9.2), sharex=True)
    for i, ax in enumerate(axes.flat):
        if i >= len(codes):
            ax.axis("off")
            continue
        ax.plot(t.years, model[:, i] * label.scale, color="#1f5fa8", lw=1.5, label="모형 model")
        ax.plot(t.years, t.observed[:, i] * label.scale, "o", ms=2.5, color="#d1495b", label="관측 observed")
        ax.set_title(f"{region_name(codes[i], 'ko')} {region_name(codes[i], 'en')}", fontsize=10)
        ax.tick_params(labelsize=7.5)
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))  # whole years, room between labels
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"))
        ax.grid(color="#e5e5e5", lw=0.6)
        if i % 6 == 0:
            ax.set_ylabel(f"{label.unit_ko}\n[{label.unit_en}]", fontsize=8.5)
        if i >= len(codes) - 6:
            ax.set_xlabel("연도 Year", fontsize=8.5)
            ax.xaxis.set_tick_params(labelbottom=True)
    note = axes.flat[-1]
    handles, names = axes.flat[0].get_legend_handles_labels()
    note.legend(handles, names, loc="upper left", frameon=False, fontsize=9)
    tables = series_table()
    table = str(tables.loc[t.series, "table_id"]) if t.series in tables.index else t.series
    lines = [f"관측 계열 series: {t.series}", f"통계표 table: {table}", f"모형 변수 model variable: {t.variable}"]
    note.text(0.02, 0.5, "\n".join(textwrap.fill(line, 44) for line in lines), transform=note.transAxes,
              fontsize=7.5, va="top")
    fig.suptitle("\n".join(fit_titles(label)), fontsize=12, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def plot_fit(model: dict[str, np.ndarray], targets: Sequence[Target], folder: Path) -> list[Path]:
    """One figure per regional target (:func:`fit_figure`), fit_<target>.png in ``folder``."""
    import matplotlib.pyplot as plt

    written = []
    for t in targets:
        if t.observed.ndim != 2:
            continue
        fig = fit_figure(model[t.name], t)
        path = Path(folder) / f"fit_{t.name}.png"
        fig.savefig(path, dpi=110, facecolor="white")
        plt.close(fig)
        written.append(path)
    return written
