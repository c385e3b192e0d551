"""The model's input tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kbalance.observations import dataset as data
from kbalance.model.inputs import START_YEAR, build_model_inputs
from kbalance.paths import model_dir


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    dest = tmp_path_factory.mktemp("inputs")
    build_model_inputs(dest=dest)
    return dest


def test_committed_inputs_are_what_the_observation_set_gives(rebuilt):
    committed = sorted(p.name for p in (model_dir() / "inputs").glob("*.csv"))
    assert committed == sorted(p.name for p in rebuilt.glob("*.csv"))
    for name in committed:
        assert (model_dir() / "inputs" / name).read_bytes() == (rebuilt / name).read_bytes(), name


def test_initial_population_sums_to_registered_population_by_sex(rebuilt):
    for sex in ("male", "female"):
        table = pd.read_csv(rebuilt / f"initial_population_{sex}.csv", index_col=0)
        registered = data.load_series(f"pop_registered_{sex}")
        registered = registered[(registered["year"] == START_YEAR - 1) & (registered["region_code"] != "00")]
        assert table.to_numpy().sum() == pytest.approx(registered["value"].sum(), rel=1e-9)
        assert (table.to_numpy() >= 0).all()


@pytest.mark.parametrize("which", ["early", "late"])
def test_fertility_schedules_sum_to_one_and_cover_ages_15_to_49(rebuilt, which):
    schedule = pd.read_csv(rebuilt / f"fertility_schedule_{which}.csv", index_col=0)
    np.testing.assert_allclose(schedule.sum(axis=1), 1.0, rtol=1e-8)
    outside = schedule.drop(columns=[f"A{a}" for a in range(15, 50)])
    assert (outside.to_numpy() == 0).all()


def test_childbearing_moved_to_older_ages(rebuilt):
    ages = np.arange(86)
    early = pd.read_csv(rebuilt / "fertility_schedule_early.csv", index_col=0)
    late = pd.read_csv(rebuilt / "fertility_schedule_late.csv", index_col=0)
    mean_age = lambda table: (table.to_numpy() * ages).sum(axis=1)  # noqa: E731
    assert (mean_age(late) > mean_age(early)).sum() >= 16  # Sejong has no early pattern and takes the late one


def test_boundary_transfers_move_people_between_regions(rebuilt):
    transfers = pd.read_csv(rebuilt / "boundary_transfer.csv", index_col=0)
    np.testing.assert_allclose(transfers.sum(axis=1), 0.0, atol=1e-3)
    assert transfers.loc[2012, "Sejong"] > 0 and transfers.loc[2012, "Chungnam"] < 0
    assert transfers.loc[2023, "Daegu"] > 0 and transfers.loc[2023, "Gyeongbuk"] < 0


def test_bad_levers_files(tmp_path):
    from kbalance.errors import InvalidValueError, MissingFileError
    from kbalance.model.inputs import _relocation_allocation, read_levers

    with pytest.raises(MissingFileError, match="levers.toml"):
        read_levers(tmp_path / "levers.toml")
    with pytest.raises(InvalidValueError, match="'first_relocation_staff.allocation'.*Atlantis.*Seoul"):
        _relocation_allocation({"first_relocation_staff": {"allocation": {"Atlantis": [100, "R31"]}}})
