"""Input tables of the economy (model/inputs/national_labour_productivity.csv,
projected_productivity_growth.csv, economy_jump_off.csv, economy_scalars.csv).

The economy of model/kbalance.mdl starts from observed ratios held fixed, never fitted:

- national labour productivity by year: real GDP (the sum of the regions' GRDP, DT_1C81,
  chained 2020 prices) per employed person (DT_1DA7004S); the model follows it through the
  observed history and projects it at :func:`projected_productivity_growth`: the latest
  published estimate of potential GDP growth (model/economy.toml) less the observed growth of
  employment, since GDP is productivity times employment;
- each region's labour productivity relative to the nation in its first year (the region
  constants of :mod:`kbalance.model.inputs`);
- the employment rate: employed per registered resident aged 15 and over on 1 January (the
  employment-to-population ratio), which changed far less over 2001–2024 (0.59 to 0.63
  nationally) than employed per resident aged 15–64 (0.67 to 0.78 over 2012–2023), since
  more and more of the employed are 65 and over;
- the jump-off: the labour productivity and the employment rate observed by region in the
  last year before the jump-off year with both observed (:func:`economy_data_year`), from
  which a projection starts, as the population starts from the registered population.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kbalance.errors import InvalidValueError, keys_of, number_in, table_of
from kbalance.model.population import observed_age_groups
from kbalance.observations.load import national_by_year, wide_series
from kbalance.paths import model_dir, read_toml
from kbalance.regions import names

#: The 5-year age groups below 15 [years] (residents not counted in the employment rate).
CHILD_GROUPS = ("00_04", "05_09", "10_14")
#: Years [year] over which the observed growth of employment (or, before the first published
#: estimate, of productivity) is measured, as the naive forecasts of the backtests.
GROWTH_YEARS = 5
ESTIMATE_KEYS = ("published", "period", "low", "high", "reference")


def grdp_and_employed(root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real GRDP [million KRW/year, chained 2020] and employed persons [persons], years ×
    regions."""
    return wide_series("grdp_real_chained_2020", root), wide_series("employed", root) * 1000.0


def national_labour_productivity(root: Path | None = None) -> pd.Series:
    """National real GDP per employed person [million KRW/(person*year)] by year: the
    national GRDP over the national employed (the observation set's national rows), in every
    year both are observed."""
    ratio = (national_by_year("grdp_real_chained_2020", root) / (national_by_year("employed", root) * 1000.0)).dropna()
    ratio.index = ratio.index.astype(int)
    return ratio.rename("national_labour_productivity")


def national_employed(root: Path | None = None) -> pd.Series:
    """Employed persons nationally by year [persons] (DT_1DA7004S, the national rows)."""
    employed = national_by_year("employed", root).dropna() * 1000.0
    employed.index = employed.index.astype(int)
    return employed


def potential_growth_estimates(path: Path | None = None) -> pd.DataFrame:
    """The published estimates of potential GDP growth of model/economy.toml: one row per
    estimate, by year of publication, with ``growth`` the midpoint of its range [1/year] and
    its ``reference``; InvalidValueError or MissingKeyError naming the file and the field
    of a broken entry."""
    path = Path(path or model_dir() / "economy.toml")
    raw = read_toml(path, "economy assumptions", "[[potential_growth]] entries")
    entries = raw.get("potential_growth")
    if not isinstance(entries, list) or not entries:
        raise InvalidValueError(path, "potential_growth", entries, "a list of [[potential_growth]] entries")
    rows = []
    for i, entry in enumerate(entries):
        where = f"potential_growth[{i}]"
        keys_of(path, where, table_of(path, where, entry, "a table"), ESTIMATE_KEYS)
        published = int(number_in(path, f"{where}.published", entry["published"], 2000, 2100, integer=True))
        period = entry["period"]
        if (not isinstance(period, list) or len(period) != 2
                or not all(isinstance(y, int) and not isinstance(y, bool) for y in period) or period[0] > period[1]):
            raise InvalidValueError(path, f"{where}.period", period, "[first, last]: two years, first <= last")
        low = number_in(path, f"{where}.low", entry["low"], -5.0, 10.0)
        high = number_in(path, f"{where}.high", entry["high"], low, 10.0)
        if not isinstance(entry["reference"], str) or not entry["reference"]:
            raise InvalidValueError(path, f"{where}.reference", entry["reference"], "a docs/references.md key")
        rows.append({"published": published, "growth": (low + high) / 200.0, "reference": entry["reference"]})
    table = pd.DataFrame(rows)
    if table["published"].duplicated().any():
        raise InvalidValueError(path, "potential_growth.published", table["published"].tolist(),
                                "one estimate per year of publication")
    return table.sort_values("published").set_index("published")


def observed_growth(series: pd.Series, year: int, years: int = GROWTH_YEARS) -> float:
    """Mean continuous growth [1/year] of ``series`` over the ``years`` to ``year``."""
    return float(np.log(series.loc[year] / series.loc[year - years]) / years)


def projected_productivity_growth(base_year: int, root: Path | None = None,
                                  estimates: pd.DataFrame | None = None) -> float:
    """Growth of national labour productivity after a history that ends in ``base_year``
    [1/year]: the potential GDP growth last published in or before ``base_year``
    (:func:`potential_growth_estimates`) less the observed growth of national employment
    over the :data:`GROWTH_YEARS` to it; before the first estimate, the observed growth of
    productivity itself over those years."""
    estimates = potential_growth_estimates() if estimates is None else estimates
    known = estimates[estimates.index <= base_year]
    if known.empty:
        return observed_growth(national_labour_productivity(root), base_year)
    return float(known["growth"].iloc[-1]) - observed_growth(national_employed(root), base_year)


def productivity_growth_table(root: Path | None = None, estimates: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`projected_productivity_growth` [1/year] for every base year with the national
    productivity observed in it and :data:`GROWTH_YEARS` before it (column ``value``)."""
    estimates = potential_growth_estimates() if estimates is None else estimates  # read once for every base year
    years = national_labour_productivity(root).index
    bases = [int(y) for y in years if y - GROWTH_YEARS in years]
    return pd.DataFrame({"value": [projected_productivity_growth(y, root, estimates) for y in bases]},
                        index=pd.Index(bases, name="year"))


def adult_residents(year: int, root: Path | None = None) -> pd.Series:
    """Registered residents aged 15 and over in December of ``year`` by region code
    [persons] (:func:`kbalance.model.population.observed_age_groups`)."""
    groups = observed_age_groups(year, root)
    adults = groups.drop_sel(age_group=list(CHILD_GROUPS)).sum(["sex", "age_group"])
    return pd.Series(adults.values, index=[str(c) for c in groups.region.values])


def economy_data_year(jump_off_year: int, root: Path | None = None) -> int | None:
    """The last year before ``jump_off_year`` with the national GRDP and employment observed
    and the registered population by age of the December before it; None when no year
    qualifies."""
    years = national_labour_productivity(root).index
    for year in sorted((int(y) for y in years if y < jump_off_year), reverse=True):
        try:
            observed_age_groups(year - 1, root)
        except InvalidValueError:
            continue
        return year
    return None


def economy_jump_off(year: int, root: Path | None = None) -> pd.DataFrame:
    """The observed economy of ``year`` by region name: ``labour_productivity`` (real GRDP per
    employed person [million KRW/(person*year)]) and ``employment_rate`` (employed per
    registered resident aged 15 and over on 1 January [1]); 0 (not observed: the model keeps
    its own values) for a region without both GRDP and employment that year (Sejong before
    2017, whose employed the labour force survey counted in Chungnam)."""
    grdp, employed = grdp_and_employed(root)
    table = pd.DataFrame({"labour_productivity": grdp.loc[year] / employed.loc[year],
                          "employment_rate": employed.loc[year] / adult_residents(year - 1, root)})
    table = table.where(np.isfinite(table) & (table > 0).all(axis=1).to_numpy()[:, None], 0.0)
    table.index = [names()[c] for c in table.index]
    return table


def economy_tables(jump_off_year: int, root: Path | None = None) -> dict[str, pd.DataFrame]:
    """The economy's input tables for a projection that jumps off on 1 January of
    ``jump_off_year``: the national labour productivity by year, the observed economy of
    :func:`economy_data_year` by region and that year, the projected productivity growth
    by the last year of the history."""
    year = economy_data_year(jump_off_year, root)
    if year is None:
        raise InvalidValueError("calibration/observations/economy.csv", "year", jump_off_year,
                                "a jump-off year after a year with GRDP, employment and ages observed")
    national = national_labour_productivity(root)
    return {"national_labour_productivity.csv": national.to_frame("value"),
            "projected_productivity_growth.csv": productivity_growth_table(root),
            "economy_jump_off.csv": economy_jump_off(year, root),
            "economy_scalars.csv": pd.DataFrame({"value": [float(year)]}, index=["jump_off_economy_year"])}
