"""Input tables of the economy (model/inputs/national_labour_productivity.csv,
economy_jump_off.csv, economy_scalars.csv).

The economy of model/kbalance.mdl starts from observed ratios held fixed, never fitted:

- national labour productivity by year: real GDP (the sum of the regions' GRDP, DT_1C81,
  chained 2020 prices) per employed person (DT_1DA7004S); the model follows it through the
  observed history and projects it at its growth over the last five observed years;
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

from kbalance.errors import InvalidValueError
from kbalance.model.population import observed_age_groups
from kbalance.observations.load import wide_series
from kbalance.regions import NATIONAL_CODE, names

#: The 5-year age groups below 15 [years] (residents not counted in the employment rate).
CHILD_GROUPS = ("00_04", "05_09", "10_14")


def grdp_and_employed(root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real GRDP [million KRW/year, chained 2020] and employed persons [persons], years ×
    regions."""
    return wide_series("grdp_real_chained_2020", root), wide_series("employed", root) * 1000.0


def national_labour_productivity(root: Path | None = None) -> pd.Series:
    """National real GDP per employed person [million KRW/(person*year)] by year: the
    national GRDP over the national employed (the observation set's national rows), in every
    year both are observed."""
    def national(series: str) -> pd.Series:
        return wide_series(series, root, national=True)[NATIONAL_CODE]

    ratio = (national("grdp_real_chained_2020") / (national("employed") * 1000.0)).dropna()
    ratio.index = ratio.index.astype(int)
    return ratio.rename("national_labour_productivity")


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
    :func:`economy_data_year` by region and that year."""
    year = economy_data_year(jump_off_year, root)
    if year is None:
        raise InvalidValueError("calibration/observations/economy.csv", "year", jump_off_year,
                                "a jump-off year after a year with GRDP, employment and ages observed")
    national = national_labour_productivity(root)
    return {"national_labour_productivity.csv": national.to_frame("value"),
            "economy_jump_off.csv": economy_jump_off(year, root),
            "economy_scalars.csv": pd.DataFrame({"value": [float(year)]}, index=["jump_off_economy_year"])}
