"""National totals of the references against the history run (calibration/national_totals.toml)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from kbalance.calibration.fit import free_parameters, read_fitted_unit, to_table
from kbalance.calibration.totals import COLUMNS, national_totals, read_national_totals
from kbalance.errors import InvalidValueError, MissingKeyError
from kbalance.model.parameters import latest_fitted_set
from kbalance.paths import calibration_dir, model_dir

TOTALS = calibration_dir() / "national_totals.toml"


@pytest.fixture(scope="module")
def shipped_table():
    params = free_parameters()
    unit, _ = read_fitted_unit(latest_fitted_set(), params)
    return to_table(params, unit)


@pytest.fixture(scope="module")
def shipped(shipped_table):
    return national_totals(shipped_table)


def test_the_shipped_report_is_the_shipped_fit_and_every_total_is_within_the_goal(shipped):
    """The fiscal sector's goal: national totals within 5 % where the references give them
    (the consumption tax, the general allocation tax of the original budget)."""
    report = pd.read_csv(calibration_dir() / "reports" / latest_fitted_set().stem / "national_totals.csv")
    assert list(report.columns) == COLUMNS and len(report) == len(shipped) >= 6
    np.testing.assert_allclose(report["model"], shipped["model"], rtol=1e-5)
    assert (report[["series", "year", "source"]].to_numpy() == shipped[["series", "year", "source"]].to_numpy()).all()
    _, goal = read_national_totals()
    assert shipped["within_goal"].all() and float(shipped["gap"].abs().max()) <= goal
    assert {"local_consumption_tax", "general_allocation_tax"} <= set(shipped["series"])


def test_current_prices_are_the_model_prices_times_the_deflator(tmp_path, shipped_table, shipped):
    real = TOTALS.read_text("utf-8").replace("nominal = true", "nominal = false")
    path = tmp_path / "totals.toml"
    path.write_text(real, "utf-8")
    ratio = shipped.set_index(["series", "year"])["model"] / national_totals(shipped_table, path).set_index(["series", "year"])["model"]
    deflator = pd.read_csv(model_dir() / "inputs" / "fiscal_price_level.csv", index_col=0)["value"]
    years = ratio.index.get_level_values("year")
    np.testing.assert_allclose(ratio.to_numpy(), deflator.reindex(np.minimum(years, deflator.index.max())).to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("old, new, error, field", [
    ('variable = "local consumption tax"', 'variable = "local consumption taxes"', InvalidValueError,
     "local_consumption_tax.variable"),
    ('source = "R312"', 'source = "R9999"', InvalidValueError, "local_consumption_tax.values[2].source"),
    ('source = "R312"', 'source = ""', InvalidValueError, "local_consumption_tax.values[2].source"),
    ("{ year = 2020,", "{ year = 2019,", InvalidValueError, "local_consumption_tax.values[1].year"),
    ("value = 55.1", "value = -55.1", InvalidValueError, "general_allocation_tax.values[0].value"),
    ("goal = 0.05", "goal = 5", InvalidValueError, "goal"),
    ('unit = "trillion KRW"\nfactor = 1e-6\nnominal = true\nvalues = [\n    { year = 2022',
     'factor = 1e-6\nnominal = true\nvalues = [\n    { year = 2022', MissingKeyError, "general_allocation_tax.unit"),
])
def test_bad_totals_name_the_file_and_the_field(tmp_path, old, new, error, field):
    text = TOTALS.read_text("utf-8")
    assert old in text
    path = tmp_path / "national_totals.toml"
    path.write_text(text.replace(old, new, 1), "utf-8")
    with pytest.raises(error, match=re.escape(field)) as raised:
        read_national_totals(path)
    assert str(path) in str(raised.value)


def test_one_parameter_set_at_a_time(shipped_table):
    with pytest.raises(InvalidValueError, match="one parameter set"):
        national_totals(pd.concat([shipped_table, shipped_table]))
