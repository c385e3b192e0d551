"""Calibration targets: observations paired with model times, and their accuracy goals."""

from __future__ import annotations

import numpy as np
import pytest

from kbalance.calibration.targets import (Target, history_constants, last_time, read_targets, target_goals,
                                          target_variables)
from kbalance.errors import InvalidValueError, MissingFileError


def test_targets_pair_observations_with_model_times():
    targets = {t.name: t for t in read_targets(until=2010)}
    population = targets["population"]
    assert population.offset == 1 and population.times[0] == population.years[0] + 1
    assert population.years.max() == 2010 and population.times.max() == 2011  # end of 2010 = 1 January 2011
    assert "fiscal_autonomy" not in targets  # first_year 2014 leaves nothing up to 2010: the target is dropped
    od = targets["migration_od"]
    assert np.isnan(od.observed[:, 0, 0]).all()  # moves within a region are not fitted


def test_last_time_and_variables_of_a_target_list():
    one = Target("a", "s", "births", np.array([2001, 2005]), np.ones((2, 17)), 0, 1.0, 1.0)
    two = Target("b", "s", "deaths", np.array([2001, 2009]), np.ones((2, 17)), 1, 1.0, 1.0)
    three = Target("c", "s", "births", np.array([2003]), np.ones((1, 17)), 0, 1.0, 1.0)
    assert last_time([one, two, three]) == 2010
    assert target_variables([one, two, three]) == ["births", "deaths"]


def test_bad_targets_files(tmp_path):
    with pytest.raises(MissingFileError, match="targets.toml"):
        read_targets(tmp_path / "targets.toml")
    path = tmp_path / "bad.toml"
    path.write_text('[births]\nvariable = "births"\n', encoding="utf-8")
    with pytest.raises(InvalidValueError, match="bad.toml.*'births.series'"):
        read_targets(path)


@pytest.mark.parametrize("text, field, allowed", [
    ("[births]\ngoal_mape = \"five\"\n", "births.goal_mape", "non-negative number"),
    ("[births]\ngoal_mape = -1\n", "births.goal_mape", "non-negative number"),
    ("[births]\ngoal_mape = 5\ngoal_r2 = 0.6\n", "births.goal_r2", "not both"),
])
def test_bad_goals_name_file_field_and_allowed(tmp_path, text, field, allowed):
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidValueError) as info:
        target_goals(path)
    message = str(info.value)
    assert "targets.toml" in message and f"'{field}'" in message and allowed in message


def test_shipped_goals():
    goals = target_goals()
    assert goals["population"] == ("mape", 1.0) and goals["net_migration"] == ("r2", 0.6)


def test_history_runs_never_jump_off():
    class Model:
        names = {"jump off year": "jump_off_year", "births": "births"}

    assert history_constants(Model()) == {"jump off year": 2200.0}
    Model.names = {"births": "births"}
    assert history_constants(Model()) == {}
