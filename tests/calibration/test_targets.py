"""Calibration targets: observations paired with model times, and their accuracy goals."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kbalance.calibration.targets import (Target, created_regions, history_constants, last_time, read_targets,
                                          target_goals, target_variables, without_creation_years)
from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.regions import region_codes


def test_targets_pair_observations_with_model_times():
    targets = {t.name: t for t in read_targets(until=2010)}
    population = targets["population"]
    assert population.offset == 1 and population.times[0] == population.years[0] + 1
    assert population.years.max() == 2010 and population.times.max() == 2011  # end of 2010 = 1 January 2011
    assert "fiscal_autonomy" not in targets  # first_year 2014 leaves nothing up to 2010: the target is dropped
    od = targets["migration_od"]
    assert np.isnan(od.observed[:, 0, 0]).all()  # moves within a region are not fitted


def test_flows_are_not_compared_in_the_year_a_region_was_created():
    assert created_regions() == {"29": 2012}                         # Sejong; every other region is older than the run
    targets = {t.name: t for t in read_targets(until=2014)}
    sejong = region_codes().index("29")
    for name in ("births", "deaths", "tfr"):
        t = targets[name]
        assert t.offset == 0
        assert np.isnan(t.observed[t.years == 2012, sejong]).all() and np.isfinite(t.observed[t.years == 2013, sejong]).all()
        assert np.isfinite(np.delete(t.observed[t.years == 2012], sejong, axis=1)).all()   # other regions keep 2012
    population = targets["population"]                               # a stock: year-end 2012 is 1 January 2013
    assert np.isfinite(population.observed[population.years == 2012, sejong]).all()
    od = targets["migration_od"]
    assert np.isnan(od.observed[od.years == 2012][:, sejong, :]).all() and np.isnan(od.observed[od.years == 2012][:, :, sejong]).all()
    assert np.isfinite(od.observed[od.years == 2013][:, sejong, 0]).all()
    values = np.ones((2, 17, 17))
    out = without_creation_years(values, np.array([2011, 2012]), region_codes(), od=True)
    assert np.isnan(out[1, sejong]).all() and np.isnan(out[1, :, sejong]).all() and np.isfinite(out[0]).all()
    assert np.isfinite(values).all()                                 # the input is not changed


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


def test_region_normalisation_gives_each_region_its_own_scale(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text('[pooled]\nseries = "pop_registered"\nvariable = "total population"\noffset = 1\n'
                    '[own]\nseries = "pop_registered"\nvariable = "total population"\noffset = 1\nnormalise = "region"\n',
                    encoding="utf-8")
    pooled, own = read_targets(path, until=2020)
    n = np.isfinite(own.observed).sum()
    assert np.ndim(pooled.scale) == 0 and own.scale.shape == (17,)
    # a region's residual of 1 % of its own level weighs the same in every region
    expected = np.nanmean(own.observed, axis=0) * np.sqrt(n)
    assert np.allclose(own.scale, expected)
    assert np.isclose(pooled.scale, np.nanmean(own.observed) * np.sqrt(n))
    sejong, seoul = region_codes().index("29"), region_codes().index("11")
    assert own.scale[seoul] / own.scale[sejong] > 20          # Seoul's residents no longer outweigh Sejong's
    path.write_text(path.read_text(encoding="utf-8").replace('"region"', '"region-pooled"'), encoding="utf-8")
    between = read_targets(path, until=2020)[1]
    assert np.allclose(between.scale, np.sqrt(own.scale * pooled.scale))   # the geometric mean of the two


@pytest.mark.parametrize("text, allowed", [('normalise = "median"', '"mean" or "rms" or "region" or "region-pooled"'),
                                           ('normalise = "region"\nseries = "migration_od"', "(year, region)")])
def test_bad_normalisation_names_file_field_and_allowed(tmp_path, text, allowed):
    path = tmp_path / "bad.toml"
    series = "" if "series" in text else 'series = "pop_registered"\n'
    path.write_text(f'[x]\n{series}variable = "total population"\n{text}\n', encoding="utf-8")
    with pytest.raises(InvalidValueError, match=r"bad\.toml.*'x\.normalise'.*" + re.escape(allowed)):
        read_targets(path, until=2020)
