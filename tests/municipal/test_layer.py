"""The municipal layer of a run: raked to the run's Population, its tables and files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kbalance.errors import InvalidValueError, KbalanceInputError
from kbalance.municipal import channels
from kbalance.municipal.backtest import regional_totals
from kbalance.municipal.layer import (channel_variables, member_summary, municipal_population, municipal_results,
                                      summary_table, write_municipal, write_run_municipal)
from kbalance.municipal.projection import age_groups, observed_population
from kbalance.regions import load_regions

AGES = [f"A{a}" for a in range(86)]


def model_population(years: list[int], growth: float = 0.99) -> xr.DataArray:
    """A Population (year, Region, Sex, Age): the observed December 2025 regional groups
    spread evenly over their single ages, shrinking by ``growth`` a year."""
    labels, matrix = age_groups(AGES)
    obs = observed_population(labels)
    codes = sorted(set(obs["region"].values))
    groups = regional_totals(obs.sel(year=[2025]), codes)[0]            # (region, sex, group)
    single = groups @ (matrix / matrix.sum(axis=0)).T                    # (region, sex, age)
    regions = load_regions().loc[codes, "name_en"].tolist()
    values = np.stack([single * growth ** i for i in range(len(years))])
    return xr.DataArray(values, dims=("year", "Region", "Sex", "Age"),
                        coords={"year": years, "Region": regions, "Sex": ["Male", "Female"], "Age": AGES})


@pytest.fixture(scope="module")
def run_population():
    return model_population(list(range(2020, 2036)))


def test_layer_sums_to_the_run(run_population):
    pop = municipal_population(run_population)
    assert pop["year"].values[0] == 2026 and pop["year"].values[-1] == 2035
    labels, matrix = age_groups(AGES)
    target = run_population.sel(year=pop["year"].values).values @ matrix
    sums = pop.groupby("region").sum().transpose("year", "region", "sex", "age_group").values
    assert np.max(np.abs(sums - target) / target) < 1e-9


def test_members_are_projected_together(run_population):
    members = xr.concat([run_population, run_population * 1.1], dim="member").assign_coords(member=[7, 9])
    counts = member_summary(members)
    assert counts["at_risk"].dims == ("member", "year") and list(counts["member"].values) == [7, 9]
    np.testing.assert_allclose(counts["designated_population"].sel(member=9),
                               1.1 * counts["designated_population"].sel(member=7))


def test_run_must_reach_the_jump_off(run_population):
    with pytest.raises(InvalidValueError, match="jump-off"):
        municipal_population(run_population.sel(year=slice(2020, 2024)))


def test_files_of_a_run(run_population, tmp_path):
    results = municipal_results(run_population)
    paths = write_municipal(tmp_path, results)
    table = pd.read_csv(paths[0], dtype={"sgg_code": str})
    assert len(table) == 229 * 10 and table["population"].gt(0).all()
    summary = pd.read_csv(paths[1])
    assert summary["at_risk"].between(0, 229).all() and "designated_index_depopulation_area" in summary
    assert summary_table(results)["year"].tolist() == list(range(2026, 2036))
    assert xr.open_dataset(paths[2])["extinction_index"].shape == (10, 229)


def test_member_summary_keeps_the_index_of_chosen_years(run_population):
    members = run_population.expand_dims(member=[3])
    out = member_summary(members, index_years=(2030, 2099))
    assert out["extinction_index"].dims == ("member", "index_year", "sgg_code")
    assert out["extinction_index"]["index_year"].values.tolist() == [2030]
    single = municipal_results(run_population)["extinction_index"].sel(year=2030)
    np.testing.assert_allclose(out["extinction_index"].sel(member=3, index_year=2030), single)


def test_designations_are_those_of_the_data_file():
    from kbalance.municipal.layer import designations
    from kbalance.observations.keyed import municipal_designations, municipalities
    codes = municipalities().index.to_numpy()
    given = designations(codes)
    table = municipal_designations().set_index("sgg_code")["status"]
    assert {c: s for c, s in zip(codes, given) if s} == table.to_dict()
    assert (given == "depopulation_area").sum() == 89 and (given == "area_of_concern").sum() == 18


def policy_of(population: xr.DataArray, fund: float, staff_per_year: float = 0.0) -> dict:
    """Channel variables of a run: a national fund [trillion KRW/year] held, and relocated
    staff growing by ``staff_per_year`` [person] in every region."""
    years = population["year"].values
    regions = population["Region"].values
    staff = np.outer(np.arange(len(years)) * staff_per_year, np.ones(len(regions)))
    return {"local extinction fund": xr.DataArray(np.full(len(years), fund), dims="year", coords={"year": years}),
            "relocated public staff": xr.DataArray(staff, dims=("year", "Region"),
                                                   coords={"year": years, "Region": regions})}


def with_strengths(monkeypatch, fund: float, relocation: float) -> None:
    spec = {k: dict(v) for k, v in channels.read_channels().items()}
    spec["extinction_fund"]["strength"], spec["relocation"]["strength"] = fund, relocation
    monkeypatch.setattr(channels, "read_channels", lambda path=None: spec)


def test_channels_of_strength_zero_give_the_projection_without_them(run_population, monkeypatch):
    with_strengths(monkeypatch, 0.0, 0.0)
    plain = municipal_population(run_population)
    assert np.array_equal(municipal_population(run_population, policy=policy_of(run_population, 3.0, 500.0)).values,
                          plain.values)


def designated_share(pop: xr.DataArray) -> xr.DataArray:
    """Share of the designated areas in their regions' population, by year."""
    total = pop.sum(["sex", "age_group"])
    designated = total["sgg_code"].isin(channels.municipalities().query("designation != ''").index)
    regions = np.unique(total["region"].values[designated.values])
    in_regions = total.where(xr.DataArray(np.isin(total["region"].values, regions), dims="sgg_code"), 0)
    return total.where(designated, 0).sum("sgg_code") / in_regions.sum("sgg_code")


def test_a_higher_fund_raises_the_designated_areas_share_and_keeps_the_regions(run_population):
    low = municipal_population(run_population, policy=policy_of(run_population, 1.0))
    high = municipal_population(run_population, policy=policy_of(run_population, 3.0))
    gain = designated_share(high) - designated_share(low)
    assert gain.isel(year=0) == 0 and np.all(gain.isel(year=slice(1, None)) > 0)
    labels, matrix = age_groups(AGES)
    target = run_population.sel(year=high["year"].values).values @ matrix
    sums = high.groupby("region").sum().transpose("year", "region", "sex", "age_group").values
    assert np.max(np.abs(sums - target) / target) < 1e-9


def test_relocated_staff_raise_the_hosts(run_population):
    still = municipal_population(run_population, policy=policy_of(run_population, 1.0))
    moving = municipal_population(run_population, policy=policy_of(run_population, 1.0, 2000.0))
    hosts = [code for code, _ in channels.read_channels()["relocation"]["hosts"]]
    gain = (moving - still).sum(["sex", "age_group"]).sel(year=2035)
    assert np.all(gain.sel(sgg_code=hosts) > 0) and abs(float(gain.sum())) < 1e-6


def test_a_run_without_the_channel_variables_is_refused(run_population, tmp_path):
    assert channel_variables() == ("local extinction fund", "relocated public staff")
    with pytest.raises(KbalanceInputError, match="relocated public staff"):
        write_run_municipal(tmp_path, xr.Dataset({"Population": run_population,
                                                  "local extinction fund": policy_of(run_population, 1.0)["local extinction fund"]}))
