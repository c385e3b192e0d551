"""The model's input tables (model/inputs/*.csv) compiled from the observation set."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from kbalance.errors import InvalidValueError, KbalanceInputError, MissingFileError
from kbalance.model import inputs
from kbalance.model.inputs import START_YEAR, build_model_inputs
from kbalance.demography.ages import FIVE_YEAR_GROUPS
from kbalance.model.mortality import old_age_shares
from kbalance.observations.load import BoundaryChange, age_structure, load_series
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
        registered = load_series(f"pop_registered_{sex}")
        registered = registered[(registered["year"] == START_YEAR - 1) & (registered["region_code"] != "00")]
        assert table.to_numpy().sum() == pytest.approx(registered["value"].sum(), rel=1e-9)
        assert (table.to_numpy() >= 0).all()


@pytest.mark.parametrize("sex", ["male", "female"])
def test_initial_population_by_single_age_sums_to_the_census_groups(rebuilt, sex):
    """The single ages of each 5-year group (and the open 100+) add up to the group's
    share of the registered total: the census group, 85+ split by the HMD old-age shares."""
    table = pd.read_csv(rebuilt / f"initial_population_{sex}.csv", index_col=0)
    assert list(table.columns) == [f"A{a}" for a in range(101)]
    groups = inputs.census_groups(age_structure("pop_census"), START_YEAR - 1, sex)
    groups.index = table.index
    present = groups.notna().all(axis=1)
    expected = groups[present].div(groups[present].sum(axis=1), axis=0).mul(table[present].sum(axis=1), axis=0)
    for i, g in enumerate(FIVE_YEAR_GROUPS):
        ages = [f"A{a}" for a in (range(5 * i, 5 * i + 5) if i < 20 else [100])]
        np.testing.assert_allclose(table.loc[present, ages].sum(axis=1), expected[g], rtol=1e-9, err_msg=g)
    assert (table.to_numpy() >= 0).all() and (table.loc[present, "A100"] > 0).all()
    assert (table[~present].to_numpy() == 0).all()  # Sejong did not exist in 2000


def test_old_age_shares_split_85_plus_by_the_hmd_exposure():
    shares = old_age_shares()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert list(shares.columns) == ["85_89", "90_94", "95_99", "100p"]
    assert (shares.diff(axis=1).iloc[:, 1:] < 0).all().all()  # fewer people at each older group
    assert shares.loc["female", "100p"] > shares.loc["male", "100p"] > 0


@pytest.mark.parametrize("which", ["early", "late"])
def test_fertility_schedules_sum_to_one_and_cover_ages_15_to_49(rebuilt, which):
    schedule = pd.read_csv(rebuilt / f"fertility_schedule_{which}.csv", index_col=0)
    np.testing.assert_allclose(schedule.sum(axis=1), 1.0, rtol=1e-8)
    outside = schedule.drop(columns=[f"A{a}" for a in range(15, 50)])
    assert (outside.to_numpy() == 0).all()


def test_childbearing_moved_to_older_ages(rebuilt):
    ages = np.arange(101)
    early = pd.read_csv(rebuilt / "fertility_schedule_early.csv", index_col=0)
    late = pd.read_csv(rebuilt / "fertility_schedule_late.csv", index_col=0)
    mean_age = lambda table: (table.to_numpy() * ages).sum(axis=1)  # noqa: E731
    assert (mean_age(late) > mean_age(early)).sum() >= 16  # Sejong has no early pattern and takes the late one


def test_boundary_transfers_move_people_between_regions(rebuilt):
    transfers = pd.read_csv(rebuilt / "boundary_transfer.csv", index_col=0)
    np.testing.assert_allclose(transfers.sum(axis=1), 0.0, atol=1e-3)
    assert transfers.loc[2012, "Sejong"] > 0 and transfers.loc[2012, "Chungnam"] < 0
    assert transfers.loc[2023, "Daegu"] > 0 and transfers.loc[2023, "Gyeongbuk"] < 0
    moved = transfers.drop(index=[2012, 2023])
    assert (moved.to_numpy() == 0).all()
    donors = pd.read_csv(rebuilt / "donor_share.csv", index_col=0)
    assert donors.loc["Daegu", "Gyeongbuk"] == 1.0
    assert donors.loc["Sejong", ["Chungnam", "Chungbuk"]].sum() == pytest.approx(1.0)


def _with_changes(obs: inputs.Observations, changes) -> inputs.Observations:
    return inputs.Observations(obs.population, obs.births, obs.deaths, obs.net_migration, tuple(changes))


def test_boundary_transfers_come_from_the_breaks_table():
    obs = inputs.observations()
    assert BoundaryChange(2023, ("37",), "22") in obs.boundary_changes
    full, _ = inputs.boundary_transfers(obs)
    without_gunwi, donors = inputs.boundary_transfers(_with_changes(obs, [c for c in obs.boundary_changes if c.year != 2023]))
    assert (without_gunwi.loc[2023] == 0).all() and donors.loc["22", "37"] == 0
    pd.testing.assert_series_equal(without_gunwi.loc[2012], full.loc[2012])
    # the residual keeps what is no longer a transfer
    assert inputs.other_change(_with_changes(obs, []))["29"].loc[2012] > inputs.other_change(obs)["29"].loc[2012]


def test_a_move_with_two_origins_is_refused():
    obs = _with_changes(inputs.observations(), [BoundaryChange(2023, ("37", "38"), "22")])
    with pytest.raises(InvalidValueError, match="breaks.csv.*'origin_codes'.*'37;38'"):
        inputs.boundary_transfers(obs)


def test_relocation_allocation_is_a_percentage_by_region():
    table = inputs.relocation_allocation(inputs.read_levers())
    assert list(table.columns) == ["first", "second"] and len(table) == 17
    assert table["first"].sum() == pytest.approx(100.0)


def test_bad_levers_files(tmp_path):
    with pytest.raises(MissingFileError, match="levers.toml"):
        inputs.read_levers(tmp_path / "levers.toml")
    with pytest.raises(InvalidValueError, match="'first_relocation_staff.allocation'.*Atlantis.*Seoul"):
        inputs.relocation_allocation({"first_relocation_staff": {"allocation": {"Atlantis": [100, "R31"]}}})


def test_a_failed_build_leaves_the_old_inputs(calib_copy, tmp_path):
    dest = tmp_path / "model" / "inputs"
    dest.mkdir(parents=True)
    (dest / "old.csv").write_text("old", encoding="utf-8")
    (calib_copy / "observations" / "vital.csv").unlink()
    with pytest.raises(MissingFileError, match="vital.csv"):
        build_model_inputs(root=calib_copy, dest=dest)
    assert [p.name for p in dest.parent.iterdir()] == ["inputs"]
    assert [p.name for p in dest.iterdir()] == ["old.csv"]


def _edited_levers(tmp_path, entry: str, old: str, new: str):
    """A copy of model/levers.toml with ``old`` replaced by ``new`` in the table [entry] (entry None: the file)."""
    text = (model_dir() / "levers.toml").read_text(encoding="utf-8")
    start = text.index(f"[{entry}]\n") if entry else 0
    end = text.find("\n[", start + 1) if entry else len(text)
    assert old in text[start:end], (entry, old)
    path = tmp_path / "levers.toml"
    path.write_text(text[:start] + text[start:end].replace(old, new, 1) + text[end:], encoding="utf-8")
    return path


def test_the_shipped_levers_are_valid_and_cite_listed_references():
    levers = inputs.read_levers()
    keys = inputs.reference_keys()
    assert {"R4", "R31", "R192"} <= keys and len(keys) > 30
    assert "local_consumption_tax_rate" in levers
    assert levers["local_consumption_tax_rate"]["label_ko"] == "지방소비세율"
    assert all(spec["label_ko"] and spec["label_en"] and spec["unit_ko"] for spec in levers.values() if "target" in spec)
    cited = {key for spec in levers.values() for *_, ref in spec.get("history", [])
             for key in inputs.REFERENCE_KEY.findall(ref)}
    assert cited and cited <= keys


LOCAL = "local_consumption_tax_rate"


@pytest.mark.parametrize("entry, old, new, field, allowed", [
    # NaN was written as an empty cell and the run held the lever at the point before
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2023, nan, "R4"]', f"{LOCAL}.history[10].value", "a finite number in [0, 100]"),
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2023, inf, "R4"]', f"{LOCAL}.history[10].value", "a finite number"),
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2023, 199.0, "R4"]', f"{LOCAL}.history[10].value", "[0, 100]"),
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2023.5, 25.3, "R4"]', f"{LOCAL}.history[10].year", "an integer"),
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2022, 25.3, "R4"]', f"{LOCAL}.history[10].year", "a year after 2022"),
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2023, 25.3]', f"{LOCAL}.history[10]", "[year, value, reference]"),
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2023, 25.3, "R999"]', f"{LOCAL}.history[10].reference", "listed in docs/references.md"),
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2023, 25.3, 4]', f"{LOCAL}.history[10].reference", "reference keys"),
    (LOCAL, '[2023, 25.3, "R300 R309"]', '[2023, 25.3, "a newspaper"]', f"{LOCAL}.history[10].reference", "obs:<series>"),
    ("local_allocation_tax_rate", 'history = [[2006, 19.24, "R6 R304"]]', 'history = "none"',
     "local_allocation_tax_rate.history", "a list of [year, value, reference] points"),
    (LOCAL, "range = [0.0, 100.0]", 'range = "wide"', f"{LOCAL}.range", "two finite numbers with low < high"),
    (LOCAL, "range = [0.0, 100.0]", "range = [0.0, nan]", f"{LOCAL}.range", "finite"),
    (LOCAL, "range = [0.0, 100.0]\n", "", f"{LOCAL}.range", "keys description, unit, model, range"),
    (LOCAL, 'model = "local consumption tax rate"\n', "", f"{LOCAL}.model", "keys description, unit, model, range"),
    (LOCAL, 'unit = "%"\n', "", f"{LOCAL}.unit", "keys description"),
    (LOCAL, 'unit = "%"\n', 'unit = "%"\nrnage = 1\n', f"{LOCAL}.rnage", "history"),
    (LOCAL, 'target = "consumption tax target"\n', "", f"{LOCAL}.target", "target, start and ramp"),
    (LOCAL, 'label_ko = "지방소비세율"\n', "", f"{LOCAL}.label_ko", "label_ko, label_en"),
    ("fertility_support", 'label_en = "Family and fertility support"\n', "", "fertility_support.label_en",
     "label_ko, label_en"),
    ("national_subsidy_programme", 'unit_ko = "조 원/년"\n', "", "national_subsidy_programme.unit_ko",
     "unit_ko (the unit in Korean)"),
    (LOCAL, 'label_ko = "지방소비세율"', 'label_ko = ""', f"{LOCAL}.label_ko", "a non-empty string"),
    (LOCAL, 'label_en = "Local consumption tax rate"', "label_en = 1", f"{LOCAL}.label_en", "a non-empty string"),
    ("noncapital_share_of_government_rd", 'model = "noncapital share of government rd"',
     'model = "noncapital share of government rd"\nfrom_observations = 5',
     "noncapital_share_of_government_rd.from_observations", "a non-empty string"),
    ("first_relocation_staff.allocation", 'Jeju = [775, "R31"]', 'Jeju = [-775, "R31"]',
     "first_relocation_staff.allocation.Jeju", "[0, inf]"),
    ("first_relocation_staff.allocation", 'Jeju = [775, "R31"]', 'Jeju = ["775", "R31"]',
     "first_relocation_staff.allocation.Jeju", "a finite number"),
    (None, "[local_consumption_tax_rate]", "stray = 1\n[local_consumption_tax_rate]", "stray", "a table [stray]"),
    # what a settable lever says about its effect (docs/levers.md)
    (LOCAL, 'first_target = "local_tax_share"\n', "", f"{LOCAL}.first_target", "first_target, evidence_parameter and evidence"),
    (LOCAL, 'first_target = "local_tax_share"', 'first_target = "region_fiscal_autonomy"', f"{LOCAL}.first_target",
     "a national indicator of model/indicators.toml"),
    (LOCAL, 'first_target = "local_tax_share"', 'first_target = "tax"', f"{LOCAL}.first_target", "local_tax_share"),
    (LOCAL, 'evidence_parameter = "services weight"', 'evidence_parameter = ""', f"{LOCAL}.evidence_parameter",
     "a non-empty string"),
    (LOCAL, "(2023) [R310 R311 R309]", "(2023) [R999]", f"{LOCAL}.evidence", "listed in docs/references.md"),
    ("fertility_support", "a hypothetical scenario device", "a scenario device", "fertility_support.evidence",
     "obs:<series>"),
])
def test_a_broken_lever_entry_is_refused_naming_levers_toml(tmp_path, entry, old, new, field, allowed):
    path = _edited_levers(tmp_path, entry, old, new)
    with pytest.raises(KbalanceInputError) as info:
        inputs.read_levers(path)
    message = str(info.value)
    assert message.startswith(str(path)) and f"'{field}'" in message and allowed in message, message


def test_an_empty_or_non_utf8_levers_file_is_refused(tmp_path):
    path = tmp_path / "levers.toml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(KbalanceInputError, match=r"levers.toml: field '\(file\)'.*one table per lever"):
        inputs.read_levers(path)
    path.write_bytes((model_dir() / "levers.toml").read_bytes() + b"\n# \xff\n")
    with pytest.raises(KbalanceInputError, match=r"levers.toml: field '\(file\)'.*UTF-8"):
        inputs.read_levers(path)


@pytest.mark.parametrize("ref, keys", [
    ("R4", ["R4"]), ("[R4][R5]", ["R4", "R5"]), ("R38 R29; size and pace hypothetical", ["R38", "R29"]),
    ("hypothetical", []), ("obs:local_tax_share_of_total_tax_pct", []),
])
def test_cited_keys(ref, keys):
    assert inputs.cited_keys("f.toml", "ref", ref, inputs.reference_keys()) == keys


@pytest.mark.parametrize("ref", ["", "see above", "R4 R999", "r4", 4, None, ["R4"]])
def test_a_reference_that_cites_no_listed_source_is_refused(ref):
    with pytest.raises(InvalidValueError, match=re.escape("f.toml: field 'ref'")):
        inputs.cited_keys("f.toml", "ref", ref, inputs.reference_keys())
