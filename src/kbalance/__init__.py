"""kbalance: a calibrated system-dynamics model of Korea's 17 regions to 2070.

The Python interface for notebooks::

    import kbalance
    base = kbalance.project("baseline", until=2050, members=20)
    plan = kbalance.project(kbalance.load_scenario("model/scenarios/balance.toml"), until=2050, members=20)
    change = kbalance.compare(base, plan)
    change["capital_share_ensemble"].sel(year=2050)   # [%] 5, 50 and 95 % of the paired differences

Every indicator of model/indicators.toml is a variable of the result, named by its key and
in its shown unit (``attrs["units"]``: ``million persons``, ``%`` …), on the output
convention of :mod:`kbalance.model.conventions` (coordinates ``year``, ``region`` as KOSIS
codes with ``region_name_en``/``region_name_ko``, ``bloc``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kbalance")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

# The public interface sits on top of the pipeline: it is imported after __version__, which
# every stage reads from here.
from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

import xarray as xr  # noqa: E402

from kbalance.calibration.ensemble import latest_ensemble_set  # noqa: E402
from kbalance.errors import InvalidValueError, MissingFileError  # noqa: E402
from kbalance.model.conventions import global_attributes, indicator_results  # noqa: E402
from kbalance.model.indicators import model_variables, read_indicators  # noqa: E402
from kbalance.model.parameters import latest_fitted_set, read_parameter_set  # noqa: E402
from kbalance.model.scenarios import Scenario, read_scenario  # noqa: E402
from kbalance.model.scenarios import with_variant as scenario_variant  # noqa: E402
from kbalance.model.variants import Variant, read_variants  # noqa: E402
from kbalance.paths import calibration_dir  # noqa: E402
from kbalance.runs import ENGINES, run_model  # noqa: E402
from kbalance.whitepaper.analysis import ensemble_members, member_indicators, run_scenario_members  # noqa: E402

#: The ensemble quantiles :func:`project` reports.
QUANTILES = (0.05, 0.5, 0.95)
def load_scenario(path: str | Path) -> Scenario:
    """A scenario file (or the name of a shipped one, e.g. ``"balance"``), validated.

    Raises :class:`kbalance.errors.KbalanceInputError` naming the file, the key and what is
    allowed (an unknown lever, a value outside the documented range, …).
    """
    return read_scenario(path)


def demography_variants() -> dict[str, Variant]:
    """The demographic variants of model/demography.toml by key
    (:func:`kbalance.model.variants.read_variants`)."""
    return read_variants()


def with_variant(scenario: Scenario, variant: str | None) -> Scenario:
    """``scenario`` under the demographic variant ``variant`` (a key of model/demography.toml;
    :func:`kbalance.model.scenarios.with_variant`); unchanged for None."""
    return scenario if variant is None else scenario_variant(scenario, variant, "kbalance.project", "variant")


def as_scenario(scenario: str | Path | Scenario) -> Scenario:
    """A Scenario from itself, a shipped name or a file path."""
    return scenario if isinstance(scenario, Scenario) else read_scenario(scenario)


def project(scenario: str | Path | Scenario = "baseline", until: int = 2070, members: int = 0,
            variant: str | None = None, engine: str = "fast", fitted: str | Path | None = None,
            indicators: Sequence[str] | None = None, workers: int | None = 1) -> xr.Dataset:
    """Project a scenario: the best fit, and ensemble quantiles when ``members`` > 0.

    scenario : a shipped scenario's name, a scenario file [TOML] or a :class:`Scenario`
    until : int  last projected year [year]
    members : int  first N members of the fitted set's constrained ensemble (0: best fit only)
    variant : str, optional  demographic variant, a key of model/demography.toml
    engine : "fast" or "pysd"  engine of the best-fit run (members always run on the fast engine)
    fitted : path, optional  a fitted set calibration/fitted/v<N>.toml (default: the latest
        with a constrained ensemble when ``members`` > 0, else the latest)
    indicators : keys of model/indicators.toml (default: all of them)
    workers : int, optional  local processes for the members (None: as many as cores)

    Returns a Dataset: for each indicator ``key`` its best-fit values over (year[, region |
    bloc]) in the shown unit of model/indicators.toml (``attrs["units"]``, e.g. ``million
    persons``); with members, ``key_members`` (member, year, …) and ``key_ensemble``
    (quantile 0.05/0.5/0.95, year, …). Global attributes name the scenario, fitted set,
    members and versions.
    """
    if engine not in ENGINES:
        raise InvalidValueError("kbalance.project", "engine", engine, ENGINES)
    if isinstance(members, bool) or not isinstance(members, int) or members < 0:
        raise InvalidValueError("kbalance.project", "members", members, "a whole number ≥ 0")
    chosen = with_variant(as_scenario(scenario), variant)
    keys = tuple(indicators) if indicators is not None else tuple(read_indicators())
    fitted_path = Path(fitted) if fitted else (latest_ensemble_set() if members else None) or latest_fitted_set()
    if fitted_path is None:
        raise MissingFileError(calibration_dir() / "fitted" / "v<N>.toml", "fitted set", "run kbalance calibrate")
    params = read_parameter_set(fitted_path)
    run = run_model(chosen, params, until, model_variables(keys), engine=engine)
    out = member_indicators(run, keys)
    if members:
        table = ensemble_members(fitted_path, members)
        spread = run_scenario_members(chosen, table, until, workers, keys)
        q = spread.quantile(list(QUANTILES), dim="member", skipna=False)
        out = out.merge(spread.rename({k: f"{k}_members" for k in keys}))
        out = out.merge(q.rename({k: f"{k}_ensemble" for k in keys}))
    out = indicator_results(out)
    for key in keys:
        for suffix in ("_members", "_ensemble"):
            if key + suffix in out:
                out[key + suffix].attrs = dict(out[key].attrs)
    out.attrs = {**global_attributes(f"kbalance projection: {chosen.name}", params.name),
                 "scenario": chosen.name, "until": until, "engine": engine, "ensemble_members": members,
                 "variant": variant or "the model's default"}
    return out


def compare(a: xr.Dataset, b: xr.Dataset) -> xr.Dataset:
    """The change from projection ``a`` to projection ``b`` (both from :func:`project`).

    Returns for every indicator both hold its best-fit difference ``b − a`` [the indicator's
    unit] and, when both hold the same ensemble members, ``key_ensemble``: the 5, 50 and
    95 % quantiles of the paired member differences (differences of quantiles are not
    quantiles of differences). Variables named ``key_members`` hold the paired differences.
    """
    common = [k for k in a.data_vars if k in b.data_vars and not str(k).endswith(("_ensemble", "_members"))]
    out = xr.Dataset()
    paired = "member" in a.dims and "member" in b.dims and a["member"].equals(b["member"])
    for k in common:
        attrs = {**a[k].attrs, "long_name": f"change in {a[k].attrs.get('long_name', k)}"}
        if "long_name_ko" in attrs:
            attrs["long_name_ko"] = f"{attrs['long_name_ko']} 변화"
        out[k] = (b[k] - a[k]).assign_attrs(attrs)
        m = f"{k}_members"
        if paired and m in a and m in b:
            out[m] = (b[m] - a[m]).assign_attrs(attrs)
            out[f"{k}_ensemble"] = out[m].quantile(list(QUANTILES), dim="member", skipna=False).assign_attrs(attrs)
    out.attrs = {"title": f"kbalance comparison: {b.attrs.get('scenario', 'b')} minus {a.attrs.get('scenario', 'a')}",
                 "a": a.attrs.get("scenario", ""), "b": b.attrs.get("scenario", "")}
    return out


__all__ = ["QUANTILES", "__version__", "as_scenario", "compare", "demography_variants",
           "load_scenario", "project", "with_variant"]
