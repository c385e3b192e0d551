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
    (tmp_path / "fit_statistics.csv").write_text(
        "target,series,region,n,rmse,mape,r2,um,us,uc\n"
        "population,p,all,10,1,0.8,0.99,0,0,1\nbirths,b,all,10,1,6.0,0.9,0,0,1\n"
        "net_migration,m,all,10,1,150,0.5,0,0,1\ngrdp,g,all,10,1,9.0,0.9,0,0,1\n", encoding="utf-8")
    targets = tmp_path / "targets.toml"
    targets.write_text('[population]\ngoal_mape = 1.0\n[births]\ngoal_mape = 5.0\n[net_migration]\ngoal_r2 = 0.6\n'
                       '[grdp]\nweight = 1.0\n', encoding="utf-8")
    fit = sources.fit_summary(tmp_path, targets).set_index("target")
    assert bool(fit.loc["population", "met"]) and not bool(fit.loc["births", "met"])
    assert not bool(fit.loc["net_migration", "met"]) and fit.loc["net_migration", "criterion"] == "R² ≥ 0.6"
    assert pd.isna(fit.loc["grdp", "met"]) and fit.loc["grdp", "criterion"] == ""
    with pytest.raises(MissingFileError, match="fit_statistics.csv"):
        sources.fit_summary(tmp_path / "none")


def test_caveats_list_exclusions_and_known_limits():
    caveats = sources.model_caveats()
    assert any(c.startswith("foreign residents") for c in caveats)
    assert any("age structure" in c for c in caveats)


def test_lever_history_and_its_references_come_from_the_levers_file():
    points = read_levers()["local_consumption_tax_rate"]["history"]
    history = sources.lever_history("local_consumption_tax_rate")
    assert history[points[-1][0]] == points[-1][1] and len(history) == len(points)
    assert sources.lever_history_refs("local_consumption_tax_rate") == [p[2] for p in points]
