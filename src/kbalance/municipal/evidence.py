"""Evidence for the municipal policy channels: difference-in-differences of the 시군구
cohort-change ratios, December 2015–2025 (docs/municipal.md, "Policy channels").

The outcome of a municipality and year *t* is the log of its cohort-change ratio of the
step from December *t* − 1 to December *t* over every group from 5–9 up, both sexes:
log(Σ P[t, g≥1] / Σ reachable(P[t−1])[g≥1]), survival and net migration of the people who
could be there. Every specification has municipality and region × year fixed effects, and
standard errors clustered by municipality (statsmodels OLS through
:func:`kbalance.evidence.estimators.fe_ols`):

- ``exposure``: the channels' exposures per head of the year
  (:func:`kbalance.municipal.channels.historical_amounts`), the fund [million
  KRW/(person·year)] and the relocated staff gained [person/(person·year)]; their
  coefficients are the strengths of ``model/municipal.toml``;
- ``binary``: depopulation area × (t ≥ 2022), area of concern × (t ≥ 2022), host × (t ≥ 2020);
- ``event``: depopulation area × each year (2021 the reference), the pre-trends.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

from kbalance.evidence.estimators import fe_ols
from kbalance.municipal.channels import exposures, historical_amounts, read_channels
from kbalance.municipal.projection import observed_population, reachable
from kbalance.observations.keyed import municipalities

#: First December year of the fund's designated areas' treatment (the fund from 2022).
FUND_START = 2022
#: First December year after the last relocation (December 2019) [R29].
RELOCATION_END = 2020
#: The event study's reference year (the last before the fund).
EVENT_REFERENCE = 2021


def step_panel(observed: xr.DataArray) -> pd.DataFrame:
    """One row per municipality and step with an age vector at both ends: sgg_code,
    region, designation, host (0/1), year (December of the step's end), log_change [1],
    exposure_fund [million KRW/(person·year)], exposure_relocation [person/(person·year)].

    observed : (sgg_code, year, sex, age_group) [persons], missing years NaN (not filled)
    """
    data = observed.transpose("sgg_code", "year", "sex", "age_group")
    values = data.values
    now, nxt = values[:, :-1], values[:, 1:]
    ok = np.isfinite(now).all(axis=(2, 3)) & np.isfinite(nxt).all(axis=(2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.log(nxt[..., 1:].sum(axis=(2, 3)) / reachable(np.nan_to_num(now))[..., 1:].sum(axis=(2, 3)))
    codes, region = data["sgg_code"].values, data["region"].values.astype(str)
    years = data["year"].values[1:]
    amounts = historical_amounts(codes, region, years)
    start = np.nansum(now, axis=(2, 3)).T
    hosts = {str(c) for c, _ in read_channels()["relocation"].get("hosts", [])}
    frame = pd.DataFrame({
        "sgg_code": np.repeat(codes, len(years)), "region": np.repeat(region, len(years)),
        "year": np.tile(years, len(codes)), "log_change": change.ravel(), "ok": ok.ravel(),
        "exposure_fund": exposures(amounts["extinction_fund"], start).T.ravel(),
        "exposure_relocation": exposures(amounts["relocation"], start).T.ravel(),
    })
    frame["designation"] = frame["sgg_code"].map(municipalities()["designation"]).fillna("")
    frame["host"] = frame["sgg_code"].isin(hosts).astype(int)
    return frame[frame.pop("ok") & np.isfinite(frame["log_change"])].reset_index(drop=True)


def regressors(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel with the binary and event-study terms of the module's specifications."""
    out = panel.copy()
    depopulation = out["designation"] == "depopulation_area"
    out["depopulation_post"] = (depopulation & (out["year"] >= FUND_START)).astype(int)
    out["concern_post"] = ((out["designation"] == "area_of_concern") & (out["year"] >= FUND_START)).astype(int)
    out["host_post"] = ((out["host"] == 1) & (out["year"] >= RELOCATION_END)).astype(int)
    for year in sorted(set(out["year"]) - {EVENT_REFERENCE}):
        out[f"event_{year}"] = (depopulation & (out["year"] == year)).astype(int)
    return out


def specifications(panel: pd.DataFrame) -> dict[str, list[str]]:
    """The terms of each specification (beside the fixed effects)."""
    events = sorted(c for c in panel.columns if c.startswith("event_"))
    return {"exposure": ["exposure_fund", "exposure_relocation"],
            "binary": ["depopulation_post", "concern_post", "host_post"],
            "event": [*events, "concern_post", "host_post"]}


def estimate(panel: pd.DataFrame) -> pd.DataFrame:
    """Every specification's terms: spec, term, estimate, std_error, p_value, n,
    clusters (fixed effects: municipality and region × year; SE clustered by municipality)."""
    data = regressors(panel)
    rows = []
    for spec, terms in specifications(data).items():
        fit = fixed_effects_fit(data, terms)
        rows += [{"spec": spec, "term": t, **fit.loc[t], "clusters": data["sgg_code"].nunique()} for t in terms]
    return pd.DataFrame(rows)


def fixed_effects_fit(data: pd.DataFrame, terms: list[str]) -> pd.DataFrame:
    """:func:`kbalance.evidence.estimators.fe_ols` of ``log_change`` on ``terms`` with
    municipality and region × year fixed effects, SE clustered by municipality
    (small-sample corrected): estimate, std_error, p_value, n per term. The two sets of
    dummies overlap (a municipality lies in one region), so the design is rank-deficient
    in the fixed effects only; the pseudo-inverse leaves the terms identified, and the
    warnings about the dummies are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularMatrixWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # the square root of the dummies' zero variances
        fit = fe_ols(data, "log_change", terms, [("sgg_code",), ("region", "year")], "sgg_code",
                     model="municipal_channels", what="municipal step panel")
    return pd.DataFrame({"estimate": fit.coef, "std_error": fit.std_error, "p_value": fit.p_value, "n": fit.n})


def host_jackknife(panel: pd.DataFrame) -> pd.DataFrame:
    """The relocation strength with each host left out in turn (few treated clusters make
    the clustered SE unreliable): left_out, estimate; and the jackknife standard error
    sqrt((G − 1)/G · Σ (θ_i − θ̄)²) as the row ``jackknife_se``."""
    data = regressors(panel)
    hosts = sorted(data.loc[data["host"] == 1, "sgg_code"].unique())
    terms = specifications(data)["exposure"]
    rows = [{"left_out": h, "estimate": fixed_effects_fit(data[data["sgg_code"] != h], terms).loc["exposure_relocation", "estimate"]}
            for h in hosts]
    theta = np.array([r["estimate"] for r in rows])
    se = float(np.sqrt((len(theta) - 1) / len(theta) * ((theta - theta.mean()) ** 2).sum())) if len(theta) > 1 else np.nan
    return pd.DataFrame([*rows, {"left_out": "jackknife_se", "estimate": se}])


def channel_evidence(labels: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`estimate`, :func:`host_jackknife`) on the observed municipal population in
    the groups ``labels`` (years without an age vector left out); the numbers of
    docs/municipal.md and ``model/municipal.toml``."""
    panel = step_panel(observed_population(labels, fill=False))
    return estimate(panel), host_jackknife(panel)
