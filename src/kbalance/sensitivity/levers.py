"""The lever evidence table: for every lever a scenario can set, the chain of model variables
it acts through, the evidence for its size and the model's response to a standard change.

**Chains.** From PySD's dependency information (:func:`kbalance.model.diagram.dependency_graph`)
a lever's chain is a shortest path of run-time dependencies from the lever's variable to the
variable of its first target (``first_target`` in model/levers.toml, a national indicator of
model/indicators.toml) and to the capital-region share. National totals and averages come only
at the end of a chain (the path that reaches one goes on through national variables only),
so a chain follows the regional variables, as the model diagram does; of several shortest
paths the first in name order is shown.

**Evidence.** ``evidence`` in model/levers.toml names the historical episode or the cited
estimate behind the lever's size; ``evidence_parameter`` the free parameter of
calibration/parameters.toml its effect on migration or fertility scales with, which must be
read by a variable of its chain. The parameter's prior says whether the evidence supports
the mechanism (:func:`support`): a normal prior from an estimate of docs/evidence.md whose mean
lies at least two standard deviations from zero (``estimated``), one that does not
(``not_distinguishable``), or a uniform prior with no estimate behind it (``prior_only``). The
fitted value is shown beside it.

**Responses.** The standard change moves a lever by :data:`STANDARD_SHARE` of its documented
range from its value in :data:`STANDARD_START` (down when up would leave the range), as a step
(ramp :data:`STANDARD_RAMP` year), and holds it. Its response is the paired difference of
two runs that both start the lever in that year, one holding its value and one moved:
changed − held, on the first target and on the capital-region share in :data:`YEARS`,
for the best-fit set and for each member of the constrained ensemble (5–95 % band).
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.calibration.ensemble import latest_ensemble_set, read_ensemble
from kbalance.engine.compiler import compile_model
from kbalance.engine.ensemble import run_ensemble
from kbalance.engine.runtime import run_fast
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.model.diagram import dependency_graph
from kbalance.model.indicators import indicator
from kbalance.model.inputs import read_levers
from kbalance.model.mdl import documentation
from kbalance.model.parameters import parameter_definitions, read_parameter_set
from kbalance.model.scenarios import Scenario
from kbalance.outputs import replace_file, write_new_folder
from kbalance.paths import calibration_dir, project_root

#: Share of a lever's documented range that makes the standard change.
STANDARD_SHARE = 0.10
#: Year the standard change starts [year] and its ramp [year].
STANDARD_START, STANDARD_RAMP = 2026, 1.0
#: Years the responses are read [year].
YEARS = (2040, 2070)
#: Quantiles of the ensemble band.
BAND = (0.05, 0.95)
#: The indicator every lever is also read on.
CAPITAL_KEY = "capital_share"
#: Ensemble members of the band by default (the first of the constrained ensemble).
BAND_MEMBERS = 50
#: A normal prior supports a mechanism when its mean is this many standard deviations from 0.
SUPPORT_Z = 2.0
#: Separator of a chain's variables.
ARROW = " → "


def settable_levers(levers: dict[str, dict] | None = None) -> dict[str, dict]:
    """The levers a scenario can set (those with ``target``), in file order."""
    return {k: v for k, v in (levers or read_levers()).items() if "target" in v}


# ---------------------------------------------------------------------------
# Chains
# ---------------------------------------------------------------------------


def model_names() -> dict[str, str]:
    """Real Name → Py name of every model variable."""
    table = documentation()
    return dict(zip(table["Real Name"], table["Py Name"]))


def dependents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Py name → py names that depend on it (the dependency graph reversed)."""
    out: dict[str, set[str]] = {}
    for name, deps in graph.items():
        for dep in deps:
            out.setdefault(dep, set()).add(name)
    return out


def aggregates(graph: dict[str, set[str]]) -> set[str]:
    """Py names of national totals or averages: model variables with no subscripts that read
    a subscripted one."""
    table = documentation()
    subs = dict(zip(table["Py Name"], table["Subscripts"]))
    return {n for n, deps in graph.items() if n in subs and subs[n] is None and any(subs.get(d) is not None for d in deps)}


def shortest_chain(source: str, target: str, users: dict[str, set[str]], national: set[str] = frozenset()) -> list[str]:
    """A shortest path of py names from ``source`` to ``target`` along ``users`` (B in users[A]
    when B depends on A) on which the ``national`` variables come last: once the path reaches
    one, it goes on through national variables only. The first in name order among equal
    lengths; [] when there is none."""
    start = (source, source in national)
    previous = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        node, entered = state
        if node == target:
            path = []
            while state is not None:
                path.append(state[0])
                state = previous[state]
            return path[::-1]
        for nxt in sorted(users.get(node, ())):
            step = (nxt, entered or nxt in national)
            if step not in previous and not (entered and nxt not in national):
                previous[step] = state
                queue.append(step)
    return []


def lever_chains(levers: dict[str, dict] | None = None) -> pd.DataFrame:
    """Per settable lever: ``chain_target`` and ``chain_capital`` (Real Names from the lever's
    variable to its first target's variable and to the capital-region share; internal
    integration objects left out) and ``reads_parameter`` (whether a variable of the chains
    reads the lever's ``evidence_parameter``). Indexed by lever key."""
    levers = settable_levers(levers)
    graph = dependency_graph()
    users, skip = dependents(graph), aggregates(graph)
    py = model_names()
    real = {v: k for k, v in py.items()}
    capital = py[indicator(CAPITAL_KEY).variable]
    rows = {}
    for key, spec in levers.items():
        source = py[spec["model"]]
        paths = [shortest_chain(source, py[indicator(spec["first_target"]).variable], users, skip),
                 shortest_chain(source, capital, users, skip)]
        constant = py.get(spec["evidence_parameter"])
        reads = any(constant in graph.get(n, ()) for p in paths for n in p)
        rows[key] = {"chain_target": tuple(real[n] for n in paths[0] if n in real),
                     "chain_capital": tuple(real[n] for n in paths[1] if n in real),
                     "reads_parameter": reads}
    return pd.DataFrame.from_dict(rows, orient="index")


# ---------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------


def support(definition: dict) -> str:
    """Whether the evidence supports a mechanism, from its parameter's prior: ``estimated``
    (normal prior with |mean| ≥ :data:`SUPPORT_Z` sd), ``not_distinguishable`` (normal prior
    closer to 0) or ``prior_only`` (uniform prior: no estimate)."""
    if definition.get("prior") != "normal":
        return "prior_only"
    return "estimated" if abs(definition["prior_mean"]) >= SUPPORT_Z * definition["prior_sd"] else "not_distinguishable"


def at_bound(value: float, limits) -> bool:
    """Whether ``value`` lies within 1e-6 of its range's width of either limit (a mechanism the
    fit switched off sits at its lower bound)."""
    low, high = map(float, limits)
    return bool(min(value - low, high - value) <= 1e-6 * (high - low))


def lever_evidence(values: dict, levers: dict[str, dict] | None = None,
                   definitions: dict[str, dict] | None = None) -> pd.DataFrame:
    """Per settable lever: labels, unit, range (``lever_low``/``high``), first target, evidence
    note, the evidence parameter with its prior (``prior``, ``prior_mean``, ``prior_sd``,
    ``parameter_low``/``high``), its ``fitted`` value in ``values`` (model constant → value; the
    mean of a regional one), :func:`support` and ``fitted_at_bound`` (:func:`at_bound`).
    InvalidValueError naming model/levers.toml when an evidence parameter is not a parameter of
    calibration/parameters.toml. Indexed by lever key."""
    levers = settable_levers(levers)
    by_model = {d["model"]: d for d in (definitions or parameter_definitions()).values()}
    rows = {}
    for key, spec in levers.items():
        name = spec["evidence_parameter"]
        if name not in by_model:
            raise InvalidValueError("model/levers.toml", f"{key}.evidence_parameter", name,
                                    "a model constant of calibration/parameters.toml")
        d = by_model[name]
        fitted = values.get(name, d["default"])
        rows[key] = {"label_en": spec["label_en"], "label_ko": spec["label_ko"], "unit": spec["unit"],
                     "unit_ko": spec["unit_ko"],
                     "lever_low": float(spec["range"][0]), "lever_high": float(spec["range"][1]),
                     "first_target": spec["first_target"], "evidence": spec["evidence"],
                     "evidence_parameter": name, "prior": d.get("prior", "uniform"),
                     "prior_mean": float(d.get("prior_mean", np.nan)), "prior_sd": float(d.get("prior_sd", np.nan)),
                     "parameter_low": float(d["range"][0]), "parameter_high": float(d["range"][1]),
                     "fitted": float(np.mean(fitted)), "support": support(d),
                     "fitted_at_bound": at_bound(float(np.mean(fitted)), d["range"])}
    return pd.DataFrame.from_dict(rows, orient="index")


# ---------------------------------------------------------------------------
# Standard changes and paired runs
# ---------------------------------------------------------------------------


def standard_changes(values: dict, levers: dict[str, dict] | None = None) -> pd.DataFrame:
    """Per settable lever: ``start_value`` (its path's value in :data:`STANDARD_START` with no
    lever set [lever unit]) and ``change`` (± :data:`STANDARD_SHARE` of its range, down when
    up would leave it [lever unit])."""
    levers = settable_levers(levers)
    run = run_fast(None, values, STANDARD_START, tuple(v["model"] for v in levers.values())).isel(member=0)
    rows = {}
    for key, spec in levers.items():
        low, high = map(float, spec["range"])
        h = float(run[spec["model"]].sel(year=STANDARD_START))
        step = STANDARD_SHARE * (high - low)
        rows[key] = {"start_value": h, "change": step if h + step <= high else -step}
    return pd.DataFrame.from_dict(rows, orient="index")


def pair_constants(changes: pd.DataFrame, levers: dict[str, dict] | None = None) -> pd.DataFrame:
    """The paired runs as rows of lever constants: for each lever a ``held`` and a ``changed``
    row (index (lever, arm)) that start it in :data:`STANDARD_START` with ramp
    :data:`STANDARD_RAMP`; every other lever holds the model's values (its history)."""
    levers = settable_levers(levers)
    model = compile_model()
    names = [levers[k][role] for k in levers for role in ("target", "start", "ramp")]
    default = {n: float(np.ravel(model.constants[model.names[n]])[0]) for n in names}
    rows, index = [], []
    for key, row in changes.iterrows():
        spec = levers[key]
        for arm, target in (("held", row["start_value"]), ("changed", row["start_value"] + row["change"])):
            rows.append({**default, spec["target"]: target, spec["start"]: float(STANDARD_START),
                         spec["ramp"]: STANDARD_RAMP})
            index.append((key, arm))
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["lever", "arm"]))


def paired_responses(runs: xr.Dataset, pairs: pd.Index, keys: dict[str, str], years=YEARS) -> xr.DataArray:
    """changed − held of each lever on its indicators, from ``runs`` over (run, member, year):
    ``keys`` lever → first-target key. Returns (lever, outcome ∈ {target, capital}, year, member)."""
    position = {p: i for i, p in enumerate(pairs)}
    out = []
    for lever, target in keys.items():
        held, changed = position[(lever, "held")], position[(lever, "changed")]
        per = [(indicator(k).values(runs.isel(run=changed)) - indicator(k).values(runs.isel(run=held)))
               .sel(year=list(years)) for k in (target, CAPITAL_KEY)]
        out.append(xr.concat(per, dim=pd.Index(["target", "capital"], name="outcome")))
    return xr.concat(out, dim=pd.Index(list(keys), name="lever"))


def run_pairs(pairs: pd.DataFrame, members: pd.DataFrame | None, values: dict, keys: dict[str, str],
              years=YEARS, background: dict | None = None) -> xr.DataArray:
    """Every paired run, for the best-fit ``values`` (``members`` None) or for each ensemble
    member (members × parameter columns); ``background`` holds constants every run sets (a
    demographic variant's code). Returns the responses of :func:`paired_responses`."""
    variables = tuple(dict.fromkeys(indicator(k).variable for k in (*keys.values(), CAPITAL_KEY)))
    until = max(years)
    background = background or {}
    if members is None:
        runs = run_fast(pairs.reset_index(drop=True), {**values, **background}, until, variables).rename(member="run")
        return paired_responses(runs.expand_dims(member=[0]), pairs.index, keys, years).isel(member=0, drop=True)
    m = members.drop(columns=[c for c in members.columns if c in pairs.columns]).reset_index(drop=True)
    table = pd.concat([m.iloc[np.tile(np.arange(len(m)), len(pairs))].reset_index(drop=True),
                       pairs.iloc[np.repeat(np.arange(len(pairs)), len(m))].reset_index(drop=True)], axis=1)
    scenario = Scenario(name="lever evidence", description="paired standard changes", constants=dict(background))
    ds = run_ensemble(table, scenario, until, variables, chunk_size=max(1, min(250, len(table))), workers=1)
    ds = xr.concat(ds, dim="member") if isinstance(ds, list) else ds
    runs = ds.assign_coords(member=np.arange(ds.sizes["member"]))
    runs = runs.coarsen(member=len(m)).construct(member=("run", "member_of_run"))
    runs = runs.rename(member_of_run="member").assign_coords(run=np.arange(len(pairs)), member=members.index.to_numpy())
    return paired_responses(runs, pairs.index, keys, years)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def lever_table(values: dict, members: pd.DataFrame | None = None, levers: dict[str, dict] | None = None,
                years=YEARS, background: dict | None = None) -> pd.DataFrame:
    """The lever evidence table, one row per settable lever (index: lever key).

    values : dict  model constant → value: the best-fit set (kbalance.model.parameters)
    members : DataFrame, optional  ensemble members × parameter columns for the band; none: no band
    background : dict, optional  constants every run sets (a demographic variant's code)
    Columns: those of :func:`lever_evidence`, :func:`lever_chains` (chains joined by
    :data:`ARROW`) and :func:`standard_changes`; then for ``outcome`` in (target, capital) and
    each year ``<outcome>_<year>`` (best fit) and ``<outcome>_<year>_q05`` / ``_q95`` (the
    ensemble band; NaN without members) [the indicator's shown unit].
    """
    levers = settable_levers(levers)
    table = lever_evidence(values, levers).join(lever_chains(levers))
    for column in ("chain_target", "chain_capital"):
        table[column] = table[column].map(ARROW.join)
    changes = standard_changes(values, levers)
    table = table.join(changes)
    pairs = pair_constants(changes, levers)
    keys = {k: levers[k]["first_target"] for k in levers}
    best = run_pairs(pairs, None, values, keys, years, background)
    band = (run_pairs(pairs, members, values, keys, years, background).quantile(list(BAND), dim="member")
            if members is not None else None)
    for outcome in ("target", "capital"):
        for year in years:
            name = f"{outcome}_{year}"
            table[name] = best.sel(outcome=outcome, year=year).to_series().reindex(table.index)
            for q, tag in zip(BAND, ("q05", "q95")):
                table[f"{name}_{tag}"] = (np.nan if band is None else
                                          band.sel(outcome=outcome, year=year, quantile=q).to_series().reindex(table.index))
    return table.rename_axis("lever")



# ---------------------------------------------------------------------------
# Markdown and files
# ---------------------------------------------------------------------------

#: How :func:`support` reads, in the tables.
SUPPORT_TEXT = {"estimated": "estimated (docs/evidence.md)",
                "not_distinguishable": "not supported: estimate not distinguishable from 0",
                "prior_only": "not estimated: prior only"}


def prior_text(row: pd.Series) -> str:
    """The evidence parameter's prior as text: normal(mean, sd) or uniform[low, high]."""
    if row["prior"] == "normal":
        return f"normal({row['prior_mean']:.3g}, {row['prior_sd']:.3g})"
    return f"uniform[{row['parameter_low']:g}, {row['parameter_high']:g}]"


def response_text(row: pd.Series, name: str) -> str:
    """Best fit and band of one response column, e.g. ``-0.262 [-0.496, -0.133]``."""
    best = f"{row[name]:+.3g}"
    low, high = row[f"{name}_q05"], row[f"{name}_q95"]
    return best if pd.isna(low) else f"{best} [{low:+.3g}, {high:+.3g}]"


def response_years(table: pd.DataFrame) -> tuple[int, ...]:
    """The years of a lever table's responses (its ``capital_<year>`` columns) [year]."""
    return tuple(int(c.split("_")[1]) for c in table.columns if re.fullmatch(r"capital_\d{4}", c))


def horizon_years(until: int) -> tuple[int, ...]:
    """The :data:`YEARS` before ``until``, then ``until`` [year]: the years a run to ``until`` reads."""
    return (*(y for y in YEARS if y < until), until)


def lever_markdown(table: pd.DataFrame, fitted: str, members: int) -> str:
    """docs/levers.md: the table of :func:`lever_table` as Markdown (English), naming the command,
    the fitted set ``fitted`` and the ensemble ``members`` of the band."""
    years = response_years(table)
    cap = indicator(CAPITAL_KEY)
    head = " | ".join([f"{table.index.name or 'lever'}", "change", "first target (unit)",
                       *(f"target {y}" for y in years), *(f"capital share {y} [pp]" for y in years)])
    out = ["# Lever evidence", "",
           f"Generated by `kbalance levers evidence --docs` from the fitted set `{fitted}` and the first "
           f"{members} members of its constrained ensemble (do not edit by hand; code: "
           "`kbalance.sensitivity.levers`; the facts per lever: `first_target`, `evidence_parameter` and "
           "`evidence` in model/levers.toml).", "",
           f"**Standard change.** Each lever a scenario can set moves by {STANDARD_SHARE:.0%} of its documented range "
           f"(model/levers.toml) from its value in {STANDARD_START}, as a step, and is held there; down where up would "
           "leave the range. Its response is the paired difference of two runs that both start the lever in "
           f"{STANDARD_START}, one holding its value and one moved (changed − held), on its first target and on the "
           f"{cap.label('en').lower()} [{cap.unit('en')}], best fit and in brackets the 5–95 % band over the ensemble.",
           "",
           "**Chain.** A shortest path of run-time dependencies of model/kbalance.mdl (PySD's parse) from the "
           "lever's variable to its first target and to the capital-region share; national totals and averages "
           "only at the end.", "",
           "**Evidence.** The free parameter the lever's effect on migration or fertility scales with, its prior "
           "(calibration/parameters.toml; normal priors are estimates of docs/evidence.md) and its fitted value. "
           f"A normal prior whose mean lies {SUPPORT_Z:g} standard deviations or more from 0 supports the "
           "mechanism; a uniform prior means no estimate exists. A parameter fitted to a bound of its range is "
           "marked *at bound*: the fit switched the mechanism off (lower bound 0) or pushed it to its limit.", "",
           "## Chains", "", "| lever | first target | chain to the first target | chain to the capital-region share |",
           "|---|---|---|---|"]
    for key, row in table.iterrows():
        out.append(f"| `{key}` | `{row['first_target']}` | {row['chain_target']} | {row['chain_capital']} |")
    out += ["", "## Evidence", "", "| lever | evidence parameter | prior | fitted | the evidence |", "|---|---|---|---|---|"]
    for key, row in table.iterrows():
        bound = " (at bound)" if row["fitted_at_bound"] else ""
        out.append(f"| `{key}` | `{row['evidence_parameter']}` | {prior_text(row)} | {row['fitted']:.3g}{bound} | "
                   f"{SUPPORT_TEXT[row['support']]} |")
    out += ["", "## Responses to the standard change", "", f"| {head} |", "|" + "---|" * (3 + 2 * len(years))]
    for key, row in table.iterrows():
        ind = indicator(row["first_target"])
        unit = "" if row["unit"] == "1" else f" {row['unit']}"
        cells = [f"`{key}`", f"{row['start_value']:g} → {row['start_value'] + row['change']:g}{unit}",
                 f"{ind.label('en')} ({ind.unit('en')})",
                 *(response_text(row, f"target_{y}") for y in years),
                 *(response_text(row, f"capital_{y}") for y in years)]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "## Evidence for the size of each lever", ""]
    out += [f"- **{row['label_en']}** (`{key}`): {row['evidence']}" for key, row in table.iterrows()]
    return "\n".join(out) + "\n"


def write_lever_evidence(out: Path, members: int = BAND_MEMBERS, docs: bool = False) -> tuple[Path, Path | None]:
    """The table for the latest fitted set with a constrained ensemble (best fit and its first
    ``members`` members), written as ``levers.csv`` (chains joined by :data:`ARROW`) and
    ``levers.md`` (:func:`lever_markdown`) into the new folder ``out`` and, with ``docs``, as
    docs/levers.md. Returns the folder and docs/levers.md (or None)."""
    fitted = latest_ensemble_set()
    if fitted is None:
        raise MissingFileError(calibration_dir() / "fitted" / "v<N>-ensemble.csv", "constrained ensemble",
                               "run kbalance calibrate, then kbalance ensemble")
    ensemble = read_ensemble(fitted)
    if not 1 <= members <= len(ensemble):
        raise InvalidValueError("kbalance levers evidence", "--members", members, f"1 to {len(ensemble)}")
    table = lever_table(read_parameter_set(fitted).values, ensemble.iloc[:members])
    text = lever_markdown(table, fitted.stem, members)

    def write(folder: Path) -> None:
        table.to_csv(folder / "levers.csv")
        (folder / "levers.md").write_text(text, encoding="utf-8")

    folder = write_new_folder(out, write)
    page = replace_file(project_root() / "docs" / "levers.md",
                        lambda tmp: tmp.write_text(text, encoding="utf-8")) if docs else None
    return folder, page

__all__ = [
    "ARROW", "BAND", "SUPPORT_TEXT", "BAND_MEMBERS", "CAPITAL_KEY", "STANDARD_RAMP", "STANDARD_SHARE", "STANDARD_START", "SUPPORT_Z",
    "YEARS", "aggregates", "at_bound", "horizon_years", "response_years", "lever_markdown", "prior_text", "response_text", "write_lever_evidence", "dependents", "lever_chains", "lever_evidence", "lever_table", "model_names",
    "pair_constants", "paired_responses", "run_pairs", "settable_levers", "shortest_chain", "standard_changes",
    "support",
]
