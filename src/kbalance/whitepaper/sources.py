"""What the white paper shows beside its projections: observed history and the observed
facts of the key findings, lever history, the calibration fit and its goals, the
sensitivity folder, the model's sectors and stated limits, and the reference list."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.calibration.report import headline_statistics
from kbalance.calibration.targets import target_goals
from kbalance.errors import MissingFileError
from kbalance.model.inputs import REFERENCE_KEY, read_levers
from kbalance.model.parameters import latest_fitted_set
from kbalance.model.population import latest_age_year, observed_age_groups
from kbalance.observations.keyed import municipal_population
from kbalance.observations.load import age_structure, load_series, series_table
from kbalance.paths import calibration_dir, model_dir, outputs_dir, project_root
from kbalance.regions import NATIONAL_CODE, load_regions


def history_end_year() -> int:
    """First model year whose flows are projected, not observed (model/inputs/scalars.csv) [year]."""
    scalars = pd.read_csv(model_dir() / "inputs" / "scalars.csv", index_col="key")["value"]
    return int(scalars["history_end_year"])


def jump_off_year() -> int:
    """First year of the projection proper (model/inputs/scalars.csv): the model's population
    on 1 January of it is the registered population of the December before [year]."""
    scalars = pd.read_csv(model_dir() / "inputs" / "scalars.csv", index_col="key")["value"]
    return int(scalars["jump_off_year"])


def latest_backtest() -> Path | None:
    """The summary of the newest backtests, or None: the rolling-origin
    ``backtests_summary.csv`` of the latest fitted set's report when there is one, else
    the newest calibration/reports/backtest-*/summary.csv (a single-origin backtest)."""
    latest = latest_fitted_set()
    rolling = calibration_dir() / "reports" / latest.stem / "backtests_summary.csv" if latest else None
    if rolling is not None and rolling.is_file():
        return rolling
    found = sorted((calibration_dir() / "reports").glob("backtest-*/summary.csv"))
    return found[-1] if found else None


def observed_history() -> dict[str, pd.Series]:
    """Observed national series for the charts, on the model's time axis (stocks of
    year-end y at 1 January y + 1): capital_share [%] (to the December of the jump-off,
    :func:`municipal_totals`), births [thousand], tfr,
    fiscal_autonomy by region [%] (a DataFrame year × code)."""
    obs = calibration_dir() / "observations"
    pop = pd.read_csv(obs / "population.csv", dtype={"region_code": str})
    pop = pop[pop["series"] == "pop_registered"]
    regions = load_regions()
    by_region = pop[pop["region_code"].isin(regions.index)].pivot_table(index="year", columns="region_code",
                                                                       values="value")
    by_region = by_region.combine_first(municipal_totals(by_region.index.max()))
    capital = [c for c in regions.index[regions["capital_region"]] if c in by_region]
    share = (by_region[capital].sum(axis=1) / by_region.sum(axis=1) * 100).dropna()
    share.index = share.index + 1
    vital = pd.read_csv(obs / "vital.csv", dtype={"region_code": str})
    national = vital[vital["region_code"] == "00"]
    births = national[national["series"] == "births"].set_index("year")["value"] / 1e3
    tfr = national[national["series"] == "tfr"].set_index("year")["value"]
    fiscal = pd.read_csv(obs / "fiscal.csv", dtype={"region_code": str})
    fa = fiscal[fiscal["series"] == "fiscal_autonomy_ratio"].pivot_table(index="year", columns="region_code",
                                                                         values="value")
    return {"capital_share": share, "births": births, "tfr": tfr, "fiscal_autonomy": fa}


def municipal_totals(after: int) -> pd.DataFrame:
    """The registered population by region (year-end, year × KOSIS code) summed from the 시군구
    (municipal population of the observation set) for the years after ``after``: the
    December the projection jumps off from, when the regional series ends before it [persons]."""
    pop = municipal_population()
    totals = pop.groupby("region").sum("sgg_code").to_pandas().T
    totals.index = totals.index.astype(int)
    return totals.loc[totals.index > after]


def lever_history(lever: str) -> pd.Series:
    """History points of a lever of model/levers.toml: year → value."""
    points = read_levers()[lever].get("history", [])
    return pd.Series({int(p[0]): float(p[1]) for p in points}, dtype=float)


def lever_history_refs(lever: str) -> list[str]:
    """The references of a lever's history points in model/levers.toml, in order."""
    return [str(p[2]) for p in read_levers()[lever].get("history", []) if len(p) > 2]


def fit_summary(report: Path, targets: Path | None = None) -> pd.DataFrame:
    """The per-region headline of each calibration target (median-region and worst-region
    MAPE [%], median within-region R² [-], regions with R² > 0, the pooled MAPE and R²
    beside them), with its goal (``goal_mape`` [%] on the median region's MAPE or
    ``goal_r2`` on the median region's R², calibration/targets.toml) and whether it is met;
    ``met`` is NA for a target without a goal. A report written per region and target
    only (before the headline file) is summarised the same way."""
    path = report / "fit_statistics.csv"
    if not path.is_file():
        raise MissingFileError(path, "fit statistics", "run kbalance calibrate first")
    goals = target_goals(targets)
    stats = pd.read_csv(path, dtype={"region": str, "worst_region": str})
    if "region" in stats.columns:
        stats = headline_statistics(stats)
    rows = stats[["target", "series", "regions", "n", "mape_median_region", "mape_worst_region", "worst_region",
                  "r2_median_region", "regions_r2_positive", "mape_pooled", "r2_pooled", "rmse_pooled",
                  "um", "us", "uc"]].reset_index(drop=True)
    criteria, met = [], []
    for row in rows.itertuples():
        kind, goal = goals.get(row.target, (None, None))
        if kind == "r2":
            criteria.append(f"R² ≥ {goal:g}")
            met.append(bool(row.r2_median_region >= goal))
        elif kind == "mape":
            criteria.append(f"MAPE ≤ {goal:g} %")
            met.append(bool(row.mape_median_region <= goal))
        else:
            criteria.append("")
            met.append(pd.NA)
    rows["criterion"] = criteria
    rows["met"] = pd.array(met, dtype="boolean")
    return rows


def find_sensitivity(explicit: Path | None) -> Path | None:
    """The sensitivity folder to include: ``explicit`` (must hold summary.json), else the
    newest outputs/sensitivity*/ that holds one, else None."""
    if explicit is not None:
        if not (Path(explicit) / "summary.json").is_file():
            raise MissingFileError(Path(explicit) / "summary.json", "sensitivity summary",
                                   "a kbalance sensitivity folder with summary.json, indices.csv, figures/")
        return Path(explicit)
    found = [p for p in outputs_dir().glob("sensitivity*") if (p / "summary.json").is_file()]
    return max(found, key=lambda p: (p / "summary.json").stat().st_mtime) if found else None


def top_factors(indices: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` largest factors per method and outcome in the latest year, ranked by the
    main index (Sobol total ST, Morris mu_star, else S1, else the first index listed)."""
    rows = []
    for (method, outcome), group in indices.groupby(["method", "outcome"], sort=False):
        group = group[group["year"] == group["year"].max()]
        names = list(dict.fromkeys(group["index"]))
        main = next((i for i in ("ST", "mu_star", "S1") if i in names), names[0])
        best = group[group["index"] == main].sort_values("value", ascending=False).head(n)
        for rank, row in enumerate(best.itertuples(), start=1):
            rows.append({"method": method, "outcome": outcome, "year": int(row.year), "index": main,
                         "rank": rank, "factor": row.factor, "value": float(row.value),
                         "conf": float(row.conf) if pd.notna(row.conf) else np.nan})
    return pd.DataFrame(rows, columns=["method", "outcome", "year", "index", "rank", "factor", "value", "conf"])


def model_caveats() -> list[str]:
    """The model's exclusions (each as a sentence "Not in the model: …") and known limits, from the **Excluded** list and the
    "Known limits" section of docs/model.md (one item per bullet), and the links switched
    off at the shipped values."""
    path = project_root() / "docs" / "model.md"
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    excluded = text.split("**Excluded**:", 1)[-1].split("\n## ", 1)[0].strip().split("\n\n")[0]
    items = re.split(r"\n- ", "\n" + excluded)
    # the items complete "Excluded:"; each stands alone as a sentence
    caveats = ["Not in the model: " + " ".join(i.split()).rstrip(";,. ") + "." for i in items if i.strip()]
    limits = text.split("## Known limits", 1)[-1].split("\n## ", 1)[0] if "## Known limits" in text else ""
    caveats += [" ".join(i.split()) for i in re.split(r"\n- ", "\n" + limits.strip()) if i.strip()]
    switched = re.search(r"Links that are switched off[^\n]*(?:\n[^\n]+)*", text)
    if switched:
        caveats.append(" ".join(switched.group(0).split()))
    return caveats


#: The extinction risk index: women aged 20–39 per resident aged 65 and over [R96].
YOUNG_WOMEN_GROUPS = ("20_24", "25_29", "30_34", "35_39")
ELDERLY_FROM = 65


def group_start(label: str) -> int:
    """The first age [years] of a 5-year group label (``"65_69"``) or open group (``"100p"``)."""
    return int(re.match(r"\d+", label).group(0))


def observed_extinction_index() -> tuple[int, pd.Series, str]:
    """The extinction risk index of every region and the nation at the latest December
    whose registered population by age covers every region (the region-level table, or the
    시군구 table summed to regions where it is later): women aged 20–39 per resident aged
    65+ [-]. Returns (year, index by KOSIS code with the nation ``00``, the observed series
    it rests on, for its source line)."""
    year = latest_age_year()
    groups = observed_age_groups(year)  # region × sex (male, female) × age group
    groups = xr.concat([groups, groups.sum("region").expand_dims(region=[NATIONAL_CODE])], dim="region")
    young = groups.sel(sex="female", age_group=list(YOUNG_WOMEN_GROUPS)).sum("age_group")
    old = [g for g in groups["age_group"].values if group_start(str(g)) >= ELDERLY_FROM]
    elderly = groups.sel(age_group=old).sum(["sex", "age_group"])
    series = "pop_registered_female_20_24" if year in age_structure("pop_registered")["year"].values \
        else "sgg_pop_registered_by_age"
    return year, (young / elderly).to_pandas().rename("extinction_index"), series


def observed_population() -> tuple[int, float]:
    """The latest observed national registered population (year-end): (year, persons)."""
    pop = load_series("pop_registered")
    national = pop[pop["region_code"] == "00"].sort_values("year")
    last = national.iloc[-1]
    return int(last["year"]), float(last["value"])


def source_table(series: str) -> str:
    """The original statistical table of an observed series (its id and name in
    calibration/sources.csv), for a source line."""
    row = series_table().loc[series]
    name = re.split(r";\s(?![^()]*\))", str(row["table_name"]))[-1]  # the last of several names
    ids = list(dict.fromkeys(re.findall(r"DT_\w+", str(row["table_id"]))))
    return name + (f", KOSIS {', '.join(ids)}" if ids and not any(i in name for i in ids) else "")


def model_sectors() -> list[tuple[str, list[str]]]:
    """The model's sectors as docs/model.md describes them ("Sectors, stocks and flows"):
    (heading, paragraphs and bullets as text with `code` marks) for each sector."""
    return docs_blocks("Sectors, stocks and flows")


#: The sections of docs/model.md that describe the population sector beyond its stocks and flows.
POPULATION_SECTIONS = ("Mortality and life expectancy", "Demographic variants, international migration and the jump-off")


def docs_blocks(section: str) -> list[tuple[str, list[str]]]:
    """The bold-headed blocks of the section ``## <section>`` of docs/model.md: (heading,
    paragraphs and bullets as text with `code` marks) for each block; [] without the section."""
    path = project_root() / "docs" / "model.md"
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if f"## {section}\n" not in text:
        return []
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    sectors = []
    for block in re.split(r"\n(?=\*\*[^*]+\.\*\*)", body):
        head = re.match(r"\*\*([^*]+)\.\*\*", block.strip())
        if not head:
            continue
        rest = block.strip()[head.end():]
        items = [" ".join(i.split()) for i in re.split(r"\n- |\n\n", "\n" + rest) if i.strip()]
        sectors.append((head.group(1), items))
    return sectors


def reference_entries(path: Path | None = None) -> dict[str, str]:
    """The entries of docs/references.md by key (``R4`` → its text after the key)."""
    path = Path(path or project_root() / "docs" / "references.md")
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        found = re.match(r'- <a id="r(\d+)"></a>\*\*R\d+\*\*\s*(.*)', line)
        if found:
            out[f"R{found.group(1)}"] = found.group(2).strip()
    return out


def cited_references(text: str) -> list[str]:
    """The reference keys (``R4`` …) cited in ``text``, each once, in numeric order."""
    return sorted(set(REFERENCE_KEY.findall(text)), key=lambda k: int(k[1:]))


__all__ = ["ELDERLY_FROM", "YOUNG_WOMEN_GROUPS", "POPULATION_SECTIONS", "cited_references", "docs_blocks", "group_start", "model_sectors",
           "observed_extinction_index", "observed_population", "reference_entries", "source_table",
           "find_sensitivity", "fit_summary", "history_end_year", "jump_off_year", "latest_backtest", "lever_history", "lever_history_refs",
           "model_caveats", "municipal_totals", "observed_history", "top_factors"]
