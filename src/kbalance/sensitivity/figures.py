"""Figures of a sensitivity analysis: index bars at the report years, indices over time and
fan charts of the constrained ensemble, each as PNG (300 dpi) and SVG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from kbalance.fonts import use_korean_font
from kbalance.model.indicators import Indicator
from kbalance.sensitivity.design import report_years
from kbalance.sensitivity.factors import outcome_indicators

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after the backend is chosen


def _korean_font() -> str | None:
    """Family name of a font that renders Hangul (:func:`kbalance.fonts.use_korean_font`), or
    None when there is none: titles are then English only."""
    try:
        return use_korean_font()
    except RuntimeError:
        return None


def _indicator(outcome: str) -> Indicator:
    return outcome_indicators([outcome])[outcome]


def _title(outcome: str, text: str, korean: str | None) -> tuple[str, dict]:
    indicator = _indicator(outcome)
    if korean:
        return f"{indicator.short_en} · {indicator.short_ko} — {text}", {"fontfamily": [korean, "DejaVu Sans"]}
    return f"{indicator.short_en} — {text}", {}


def _save(fig, folder: Path, stem: str) -> list[Path]:
    paths = [folder / f"{stem}.png", folder / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=300, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _pretty(factor: str) -> str:
    return factor.replace("_", " ")


def plot_bars(indices: pd.DataFrame, outcome: str, years: Sequence[int], folder: Path,
              korean: str | None = None) -> list[Path]:
    """Horizontal bars of the indices by factor at the report years, with confidence whiskers."""
    method = indices["method"].iloc[0]
    shown = ("S1", "ST") if method == "sobol" else ("mu_star", "sigma")
    labels = {"S1": "first order S1", "ST": "total ST", "mu_star": "μ*", "sigma": "σ"}
    part = indices[(indices["outcome"] == outcome) & indices["index"].isin(shown)]
    factors = list(dict.fromkeys(part["factor"]))
    fig, axes = plt.subplots(1, len(years), figsize=(5.2 * len(years), 0.28 * len(factors) + 1.8), sharey=True,
                             squeeze=False)
    y = np.arange(len(factors))
    for ax, year in zip(axes[0], years):
        at = part[part["year"] == year].set_index(["index", "factor"])
        for k, index in enumerate(shown):
            values = at.loc[index].reindex(factors) if index in at.index.get_level_values(0) else None
            if values is None:
                continue
            conf = values["conf"].to_numpy(float)
            ax.barh(y + (k - 0.5) * 0.4, values["value"].to_numpy(float), height=0.4, label=labels[index],
                    xerr=np.where(np.isfinite(conf), conf, 0.0), error_kw={"elinewidth": 0.8, "capsize": 1.5})
        ax.set_title(str(year))
        ax.axvline(0, color="0.3", lw=0.6)
        ax.set_xlabel("index" if method == "sobol" else f"elementary effect [{_indicator(outcome).unit_en}]")
        ax.grid(axis="x", lw=0.3, alpha=0.5)
    axes[0][0].set_yticks(y, [_pretty(f) for f in factors], fontsize=7)
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(fontsize=7, loc="lower right")
    title, font = _title(outcome, "Sobol indices" if method == "sobol" else "Morris screening", korean)
    fig.suptitle(title, **font)
    fig.tight_layout()
    return _save(fig, folder, f"indices_{outcome}")


def plot_over_time(indices: pd.DataFrame, outcome: str, folder: Path, korean: str | None = None,
                   top: int = 8) -> list[Path]:
    """Sobol: stacked areas of S1 per factor over the years (the largest ``top`` factors, the rest
    as "other factors") and the sum of ST; Morris: mu* per factor over the years."""
    method = indices["method"].iloc[0]
    index = "S1" if method == "sobol" else "mu_star"
    part = indices[(indices["outcome"] == outcome) & (indices["index"] == index)]
    wide = part.pivot_table(index="year", columns="factor", values="value", dropna=False)
    wide = wide.fillna(0.0).clip(lower=0.0)
    order = wide.max().sort_values(ascending=False).index
    keep = list(order[:top])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.get_cmap("tab10").colors
    if method == "sobol":
        stacks = [wide[f].to_numpy() for f in keep]
        labels = [_pretty(f) for f in keep]
        rest = wide.drop(columns=keep).sum(axis=1).to_numpy()
        if len(order) > top:
            stacks.append(rest)
            labels.append("other factors")
        ax.stackplot(wide.index, *stacks, labels=labels, colors=[*colors[:len(keep)], "0.75"][:len(stacks)],
                     alpha=0.9)
        ax.set_ylabel("first-order index S1 (stacked)")
        ax.set_ylim(0, max(1.0, float(np.nansum(stacks, axis=0).max()) * 1.05))
        ax.axhline(1.0, color="0.3", lw=0.6, ls=":")
    else:
        for f, color in zip(keep, colors):
            ax.plot(wide.index, wide[f], label=_pretty(f), color=color)
        ax.set_ylabel(f"μ* [{_indicator(outcome).unit_en}]")
    ax.set_xlabel("year")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    title, font = _title(outcome, "first-order indices over time" if method == "sobol" else "μ* over time", korean)
    ax.set_title(title, fontsize=10, **font)
    fig.tight_layout()
    return _save(fig, folder, f"over_time_{outcome}")


def plot_fan(fan: pd.DataFrame, outcome: str, folder: Path, members: int, scenario: str,
             korean: str | None = None) -> list[Path]:
    """Fan chart of one outcome over the constrained ensemble: 5-95 % and 25-75 % bands and the median."""
    part = fan[fan["outcome"] == outcome].sort_values("year")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(part["year"], part["q05"], part["q95"], color="tab:blue", alpha=0.18, lw=0, label="5–95 %")
    ax.fill_between(part["year"], part["q25"], part["q75"], color="tab:blue", alpha=0.38, lw=0, label="25–75 %")
    ax.plot(part["year"], part["q50"], color="tab:blue", lw=1.6, label="median")
    ax.set_xlabel("year")
    ax.set_ylabel(f"{_indicator(outcome).short_en} [{_indicator(outcome).unit_en}]")
    ax.grid(lw=0.3, alpha=0.5)
    ax.legend(fontsize=8)
    title, font = _title(outcome, f"{members:,} constrained-ensemble members, scenario {scenario}", korean)
    ax.set_title(title, fontsize=10, **font)
    fig.tight_layout()
    return _save(fig, folder, f"fan_{outcome}")


def write_figures(folder: Path, indices: pd.DataFrame, fan: pd.DataFrame | None, outcomes: Sequence[str],
                  years: Sequence[int], members: int, scenario: str) -> list[Path]:
    """Every figure into ``folder`` (PNG at 300 dpi and SVG)."""
    folder.mkdir(parents=True, exist_ok=True)
    korean = _korean_font()
    report = report_years(years)
    written: list[Path] = []
    for outcome in outcomes:
        written += plot_bars(indices, outcome, report, folder, korean)
        written += plot_over_time(indices, outcome, folder, korean)
        if fan is not None:
            written += plot_fan(fan, outcome, folder, members, scenario, korean)
    return written
