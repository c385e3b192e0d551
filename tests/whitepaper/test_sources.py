"""What the white paper reads beside its runs: fit goals, the sensitivity folder, its top
factors, the model's stated limits, lever history."""

from __future__ import annotations

import pandas as pd
import pytest

from kbalance.errors import MissingFileError
from kbalance.model.inputs import read_levers
from kbalance.whitepaper import sources


def test_top_factors_ranks_main_index_in_last_year():
    indices = pd.DataFrame({
        "method": "sobol", "outcome": "population", "year": [2050, 2070, 2070, 2070, 2070],
        "factor": ["a", "a", "b", "a", "b"], "index": ["ST", "ST", "ST", "S1", "S1"],
        "value": [0.9, 0.2, 0.6, 0.1, 0.5], "conf": 0.01})
    top = sources.top_factors(indices)
    assert list(top["factor"]) == ["b", "a"] and set(top["index"]) == {"ST"} and set(top["year"]) == {2070}


def test_find_sensitivity_newest_with_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "outputs_dir", lambda: tmp_path)
    assert sources.find_sensitivity(None) is None
    for name in ("sensitivity-a", "sensitivity-b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text("{}")
    (tmp_path / "sensitivity-c").mkdir()  # no summary.json: ignored
    assert sources.find_sensitivity(None).name == "sensitivity-b"
    with pytest.raises(MissingFileError, match="summary.json"):
        sources.find_sensitivity(tmp_path / "sensitivity-c")


def test_fit_goals_come_from_the_targets_file(tmp_path):
    rows = [("population", "p", 0.8, 0.99), ("births", "b", 6.0, 0.9), ("net_migration", "m", 150, 0.5),
            ("grdp", "g", 9.0, 0.9)]
    (tmp_path / "fit_statistics.csv").write_text(
        "target,series,region,n,rmse,mape,r2,um,us,uc\n" + "".join(
            f"{t},{s},{region},10,1,{mape},{r2},0,0,1\n" for t, s, mape, r2 in rows for region in ("11", "21", "all")),
        encoding="utf-8")
    targets = tmp_path / "targets.toml"
    targets.write_text('[population]\ngoal_mape = 1.0\n[births]\ngoal_mape = 5.0\n[net_migration]\ngoal_r2 = 0.6\n'
                       '[grdp]\nweight = 1.0\n', encoding="utf-8")
    fit = sources.fit_summary(tmp_path, targets).set_index("target")  # a report per region only: summarised
    assert bool(fit.loc["population", "met"]) and not bool(fit.loc["births", "met"])
    assert not bool(fit.loc["net_migration", "met"]) and fit.loc["net_migration", "criterion"] == "R² ≥ 0.6"
    assert pd.isna(fit.loc["grdp", "met"]) and fit.loc["grdp", "criterion"] == ""
    with pytest.raises(MissingFileError, match="fit_statistics.csv"):
        sources.fit_summary(tmp_path / "none")


def test_fit_goals_are_judged_on_the_median_region(tmp_path):
    header = ("target,series,regions,n,mape_median_region,mape_worst_region,worst_region,r2_median_region,"
              "r2_worst_region,regions_r2_positive,mape_pooled,r2_pooled,rmse_pooled,um,us,uc\n")
    (tmp_path / "fit_statistics.csv").write_text(
        header + "births,b,17,100,4.0,12.0,11,0.7,-0.5,15,6.0,0.99,1,0,0,1\n"
        "net_migration,m,17,100,150,900,11,0.4,-2,10,190,0.7,1,0,0,1\n", encoding="utf-8")
    targets = tmp_path / "targets.toml"
    targets.write_text("[births]\ngoal_mape = 5.0\n[net_migration]\ngoal_r2 = 0.6\n", encoding="utf-8")
    fit = sources.fit_summary(tmp_path, targets).set_index("target")
    assert bool(fit.loc["births", "met"])  # the median region (4 %) meets 5 %, the pooled 6 % would not
    assert not bool(fit.loc["net_migration", "met"])  # pooled R² 0.7, median region 0.4
    assert fit.loc["births", "worst_region"] == "11" and fit.loc["births", "mape_pooled"] == 6.0


def test_caveats_list_exclusions_and_known_limits():
    caveats = sources.model_caveats()
    assert any(c.startswith("Not in the model: foreign residents") for c in caveats)
    assert any("age structure" in c for c in caveats)
    assert all(c[0].isupper() and c.rstrip().endswith((".", ")")) for c in caveats)  # whole sentences


def test_lever_history_and_its_references_come_from_the_levers_file():
    points = read_levers()["local_consumption_tax_rate"]["history"]
    history = sources.lever_history("local_consumption_tax_rate")
    assert history[points[-1][0]] == points[-1][1] and len(history) == len(points)
    assert sources.lever_history_refs("local_consumption_tax_rate") == [p[2] for p in points]


def test_observed_facts_come_from_the_observation_set():
    year, index, _ = sources.observed_extinction_index()
    assert set(index.index) >= {"00", "11", "39"} and (index > 0).all() and year >= 2020
    pop_year, pop = sources.observed_population()
    assert pop_year >= year - 1 and 4e7 < pop < 6e7  # the age table may reach one December further
    assert "DT_1B040A3" in sources.source_table("pop_registered")
    assert [h for h, _ in sources.model_sectors()] == ["Population", "Economy and innovation", "Fiscal"]
    assert sources.cited_references("R4 and [R45], R4") == ["R4", "R45"]
