"""Parameter sets: the priors of calibration/parameters.toml, fitted sets and their versions."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.model import parameters
from kbalance.model.parameters import (fitted_versions, latest_fitted_set, parameter_definitions,
                                       read_parameter_set, shipped_parameter_set)
from kbalance.paths import calibration_dir


@pytest.fixture
def calib(tmp_path, monkeypatch):
    """A calibration/ folder holding the committed parameters.toml and an empty fitted/."""
    shutil.copy2(calibration_dir() / "parameters.toml", tmp_path / "parameters.toml")
    (tmp_path / "fitted").mkdir()
    monkeypatch.setattr(parameters, "calibration_dir", lambda: tmp_path)
    return tmp_path


def write_set(path, values: str):
    path.write_text(f"[meta]\nuntil = 2024\n\n[values]\n{values}\n", encoding="utf-8")
    return path


def test_every_definition_has_a_model_constant_a_unit_and_a_default_in_its_range():
    definitions = parameter_definitions()
    assert definitions, "calibration/parameters.toml holds no parameter"
    models = [d["model"] for d in definitions.values()]
    assert len(set(models)) == len(models), "two keys for one model constant"
    for key, d in definitions.items():
        assert isinstance(d["unit"], str) and d["unit"], key
        low, high = d["range"]
        assert low < high, key
        assert all(low <= v <= high for v in np.atleast_1d(d["default"])), key


def test_priors_are_the_defaults_by_model_constant():
    priors = read_parameter_set()
    definitions = parameter_definitions()
    assert priors.name == "parameters" and priors.path == calibration_dir() / "parameters.toml"
    assert priors.values == {d["model"]: d["default"] for d in definitions.values()}


def test_a_fitted_set_replaces_the_values_it_names(calib):
    path = write_set(calib / "fitted" / "v3.toml", "gompertz_slope = 0.1\nsex_mortality_factor = [1.4, 1.0]")
    fitted = read_parameter_set(path)
    priors = read_parameter_set()
    assert fitted.name == "v3" and fitted.path == path
    assert fitted.values["gompertz slope"] == 0.1
    assert fitted.values["sex mortality factor"] == [1.4, 1.0]
    changed = {k for k in priors.values if fitted.values[k] != priors.values[k]}
    assert changed == {"gompertz slope", "sex mortality factor"}
    assert fitted.sha256() != priors.sha256() and len(fitted.sha256()) == 64


@pytest.mark.parametrize("value", ["5.0", "0.01", '"fast"', "[0.1, 0.2]"])
def test_a_value_outside_the_range_names_the_file_and_key(calib, value):
    low, high = parameter_definitions()["gompertz_slope"]["range"]
    path = write_set(calib / "fitted" / "v4.toml", f"gompertz_slope = {value}")
    with pytest.raises(InvalidValueError) as info:
        read_parameter_set(path)
    assert info.value.path == str(path) and info.value.field == "values.gompertz_slope"
    assert str(path) in str(info.value) and f"[{low}, {high}]" in str(info.value)


def test_one_element_of_a_subscripted_value_out_of_range_is_refused(calib):
    path = write_set(calib / "fitted" / "v4.toml", "sex_mortality_factor = [1.4, 3.0]")
    with pytest.raises(InvalidValueError, match=r"v4\.toml.*'values\.sex_mortality_factor'.*\[0\.8, 2\.5\]"):
        read_parameter_set(path)


def test_an_unknown_key_is_refused(calib):
    path = write_set(calib / "fitted" / "v5.toml", "gompertz_slope = 0.1\nmigration_magic = 1.0")
    with pytest.raises(InvalidValueError) as info:
        read_parameter_set(path)
    assert info.value.field == "values.migration_magic" and "gompertz_slope" in info.value.expected


def test_a_missing_set_is_a_missing_file(calib):
    with pytest.raises(MissingFileError, match="v99.toml"):
        read_parameter_set(calib / "fitted" / "v99.toml")


def test_latest_fitted_set_picks_the_highest_version_number(calib):
    fitted = calib / "fitted"
    assert fitted_versions() == {} and latest_fitted_set() is None
    for name in ("v2.toml", "v10.toml", "v9.toml", "vx.toml", "v11-ensemble.csv", "v12-draft.toml"):
        (fitted / name).write_text("")
    assert fitted_versions() == {2: fitted / "v2.toml", 9: fitted / "v9.toml", 10: fitted / "v10.toml"}
    assert list(fitted_versions()) == [2, 9, 10]
    assert latest_fitted_set() == fitted / "v10.toml"   # 10 > 9, though "v9" sorts after "v10"


def test_runs_use_the_latest_fitted_set_else_the_priors(calib):
    assert shipped_parameter_set().name == "parameters"
    write_set(calib / "fitted" / "v1.toml", "gompertz_slope = 0.08")
    write_set(calib / "fitted" / "v2.toml", "gompertz_slope = 0.11")
    shipped = shipped_parameter_set()
    assert shipped.name == "v2" and shipped.values["gompertz slope"] == 0.11
