"""The population sector's assumptions beside published ones: the baseline's national total
fertility rate and life expectancy at birth by sex (ensemble median and 5–95 % band) with the
UN WPP 2024 probabilistic projection for Korea (median, 80 % and 95 % intervals) and the
observed history (the TFR of vital.csv; e0 from the life table of the HMD deaths and exposure
of mortality.csv). These are published assumptions; no published population outcome is used.

:data:`FIGURES` lists the figures of this module (the pipeline draws them after those of
:mod:`~kbalance.whitepaper.figures`); :func:`assumptions_table` is the small table beside them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kbalance.demography.lifetable import life_expectancy
from kbalance.demography.oldage import complete_rates
from kbalance.model.indicators import indicator
from kbalance.observations.keyed import national_mortality, un_wpp
from kbalance.observations.load import series_table
from kbalance.whitepaper.analysis import BASE, Whitepaper, table_years
from kbalance.whitepaper.figures import finish, new_figure, source_line
from kbalance.whitepaper.sources import observed_history

#: Indicator key of model/indicators.toml → variable of the UN WPP table (un_wpp.csv).
WPP_VARIABLES = {"tfr": "tfr", "life_expectancy_men": "e0_male", "life_expectancy_women": "e0_female"}
#: The open age of the observed life tables [years] (the model's open group).
OPEN_AGE = 100
#: The UN WPP 2024 intervals drawn: (lower, upper quantile, legend key).
WPP_INTERVALS = (("p2.5", "p97.5", "wpp95"), ("p10", "p90", "wpp80"))
MODEL_COLOUR, WPP_COLOUR = "#4d4d4d", "#1f6fb4"

TEXT = {
    "title": ("Baseline fertility and life expectancy beside the UN WPP 2024 assumptions",
              "기준 시나리오의 출산율·기대수명과 UN 세계인구전망 2024 가정"),
    "model": ("baseline: ensemble median and 5–95 %", "기준 시나리오: 앙상블 중앙값과 5–95 %"),
    "wpp_median": ("UN WPP 2024 median", "UN WPP 2024 중위"),
    "wpp80": ("UN WPP 2024 80 % interval", "UN WPP 2024 80 % 구간"),
    "wpp95": ("UN WPP 2024 95 % interval", "UN WPP 2024 95 % 구간"),
    "observed": ("observed", "관측"),
    "year": ("Year", "연도"),
    "sources": ("baseline under the variant {variant}; observed TFR: {tfr}; observed e0: life table of {hmd} "
                "(open group {open}+); UN WPP 2024: {wpp} (published assumptions)",
                "기준 시나리오, 인구 변이 {variant}; 관측 합계출산율: {tfr}; 관측 기대수명: {hmd}의 생명표 "
                "({open}세 이상 개방 구간); UN WPP 2024: {wpp} (공표된 가정)"),
}
COLUMNS = {
    "indicator": ("indicator", "지표"), "year": ("year", "연도"),
    "model": ("baseline median [5–95 %]", "기준 시나리오 중앙값 [5–95 %]"),
    "wpp_median": ("UN WPP 2024 median", "UN WPP 2024 중위"),
    "wpp80": ("UN WPP 2024 80 %", "UN WPP 2024 80 %"),
    "wpp95": ("UN WPP 2024 95 %", "UN WPP 2024 95 %"),
    "inside95": ("median inside the 95 % interval", "중앙값이 95 % 구간 안"),
}


def text(key: str, lang: str, **kwargs) -> str:
    """The text ``key`` of this module in ``lang``, formatted with ``kwargs``."""
    value = TEXT[key][lang == "ko"]
    return value.format(**kwargs) if kwargs else value


def wpp_quantiles(variable: str) -> pd.DataFrame:
    """The UN WPP 2024 projection of ``variable`` (``tfr``, ``e0_male``, ``e0_female``):
    year × quantile (median, p2.5, p10, p90, p97.5) [the variable's unit]."""
    table = un_wpp()
    rows = table[(table["variable"] == variable) & table["quantile"].isin(["median", "p2.5", "p10", "p90", "p97.5"])]
    return rows.pivot(index="year", columns="quantile", values="value")


def observed_life_expectancy() -> pd.DataFrame:
    """Period life expectancy at birth [years] by year (rows) and sex (columns ``male``,
    ``female``) from the life table of the HMD deaths and exposure (mortality.csv): rates
    observed below 95, Kannisto above, closed at :data:`OPEN_AGE` (the model's national fit)."""
    deaths, exposure = national_mortality("deaths"), national_mortality("exposure")
    out = {}
    for sex in ("male", "female"):
        rates = complete_rates(deaths.sel(sex=sex).values, exposure.sel(sex=sex).values, open_age=OPEN_AGE)
        out[sex] = life_expectancy(rates, np.full(rates.shape[0], sex == "female"))
    return pd.DataFrame(out, index=pd.Index(deaths["year"].values.astype(int), name="year"))


def observed_series(key: str) -> pd.Series:
    """The observed history of ``key`` (a key of :data:`WPP_VARIABLES`) by year."""
    if key == "tfr":
        return observed_history()["tfr"].dropna()
    return observed_life_expectancy()["male" if key.endswith("_men") else "female"]


def model_band(wp: Whitepaper, key: str, after: int) -> pd.DataFrame:
    """The baseline's quantiles q05, q50, q95 of ``key`` by year, from the year after ``after``
    (the last observed year: the model's history is not shown as data)."""
    q = wp.summary[key].sel(scenario=BASE).to_pandas().T
    return q.loc[q.index > after, ["q05", "q50", "q95"]]


def source_names() -> dict[str, str]:
    """The tables the figure and the table rest on (file and original table, calibration/sources.csv)."""
    table = series_table()

    def name(series: str) -> str:
        row = table.loc[series]
        return f"{row['file']} ({row['table_id']})"

    return {"tfr": name("tfr"), "hmd": name("hmd_deaths"), "wpp": name("wpp_tfr") + ", " + name("wpp_e0_male")}


def fig_demography(wp: Whitepaper) -> Figure | None:
    """National TFR and life expectancy at birth of men and women: observed history, the
    baseline (ensemble median, 5–95 %) from the year after the last observation, and the UN
    WPP 2024 median with its 80 % and 95 % intervals."""
    if any(k not in wp.summary for k in WPP_VARIABLES):
        return None
    fig, axes = new_figure(1, 3, (12, 4.4))
    for ax, (key, variable) in zip(axes.flat, WPP_VARIABLES.items()):
        wpp = wpp_quantiles(variable).loc[:wp.until]
        for (low, high, label), alpha in zip(WPP_INTERVALS, (0.12, 0.22)):
            ax.fill_between(wpp.index, wpp[low], wpp[high], color=WPP_COLOUR, alpha=alpha, lw=0,
                            label=text(label, wp.lang))
        ax.plot(wpp.index, wpp["median"], color=WPP_COLOUR, lw=1.3, ls="--", label=text("wpp_median", wp.lang))
        observed = observed_series(key)
        model = model_band(wp, key, int(observed.index.max()))
        ax.fill_between(model.index, model["q05"], model["q95"], color=MODEL_COLOUR, alpha=0.2, lw=0)
        ax.plot(model.index, model["q50"], color=MODEL_COLOUR, lw=1.6, label=text("model", wp.lang))
        ax.plot(observed.index, observed.values, "o", ms=2.2, color="black", label=text("observed", wp.lang))
        ind = indicator(key)
        ax.set_title(ind.label(wp.lang))
        ax.set_ylabel(f"{ind.short(wp.lang)} [{ind.unit(wp.lang)}]")
        ax.set_xlabel(text("year", wp.lang))
        ax.set_xlim(2000, wp.until)
    axes[0, 0].legend(frameon=False, fontsize=7, loc="upper right")
    names = source_names()
    extra = text("sources", wp.lang, variant=wp.variant, tfr=names["tfr"], hmd=names["hmd"], open=OPEN_AGE,
                 wpp=names["wpp"])
    return finish(fig, text("title", wp.lang), source_line(wp, extra, note_key=None))


def assumptions_table(wp: Whitepaper) -> pd.DataFrame:
    """The baseline's national TFR and life expectancy by sex in the comparison years
    (median [5–95 %] over the members) beside the UN WPP 2024 median and its 80 % and 95 %
    intervals, and whether the baseline median lies inside the 95 % interval; columns
    labelled in the white paper's language."""
    rows = []
    for key, variable in WPP_VARIABLES.items():
        if key not in wp.summary:
            continue
        ind, wpp = indicator(key), wpp_quantiles(variable)
        digits = ind.digits + 1
        for year in table_years(wp.until):
            q = wp.summary[key].sel(scenario=BASE, year=year)
            median = float(q.sel(quantile="q50"))
            w = wpp.loc[year]
            rows.append({
                "indicator": ind.label(wp.lang), "year": year,
                "model": f"{median:.{digits}f} [{float(q.sel(quantile='q05')):.{digits}f}, "
                         f"{float(q.sel(quantile='q95')):.{digits}f}]",
                "wpp_median": f"{w['median']:.{digits}f}",
                "wpp80": f"[{w['p10']:.{digits}f}, {w['p90']:.{digits}f}]",
                "wpp95": f"[{w['p2.5']:.{digits}f}, {w['p97.5']:.{digits}f}]",
                "inside95": bool(w["p2.5"] <= median <= w["p97.5"]),
            })
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.rename(columns={k: v[wp.lang == "ko"] for k, v in COLUMNS.items()})


#: Figure name → function, in report order (drawn after :data:`kbalance.whitepaper.figures.FIGURES`).
FIGURES: dict[str, Callable[[Whitepaper], Figure | None]] = {"demography_assumptions": fig_demography}


__all__ = ["FIGURES", "WPP_VARIABLES", "assumptions_table", "fig_demography", "model_band", "observed_life_expectancy",
           "observed_series", "source_names", "text", "wpp_quantiles"]
