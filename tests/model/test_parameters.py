"""Parameter sets: the priors of calibration/parameters.toml and the fitted sets, checked when read."""

from __future__ import annotations

import re
import shutil

import pytest

from kbalance.errors import KbalanceInputError, MissingFileError
from kbalance.model import parameters
from kbalance.model.parameters import (PRIORS_NAME, fitted_versions, latest_fitted_set, parameter_definitions, read_parameter_set,
                                       shipped_parameter_set)
from kbalance.paths import calibration_dir


@pytest.fixture
def calibration(tmp_path, monkeypatch):
    """A copy of calibration/parameters.toml and the latest fitted set, read in place of the shipped ones."""
    (tmp_path / "fitted").mkdir()
    shutil.copyfile(calibration_dir() / "parameters.toml", tmp_path / "parameters.toml")
    shutil.copyfile(latest_fitted_set(), tmp_path / "fitted" / "v6.toml")
    monkeypatch.setattr(parameters, "calibration_dir", lambda: tmp_path)
    return tmp_path


def edit(path, entry: str | None, pattern: str, new: str) -> None:
    """Replace ``pattern`` (a regular expression) once in ``path``, within the table [entry] if given."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"[{entry}]\n") if entry else 0
    end = text.find("\n[", start + 1) if entry else len(text)
    end = len(text) if end < 0 else end
    body, count = re.subn(pattern, new, text[start:end], count=1, flags=re.M)
    assert count == 1, (entry, pattern)
    path.write_text(text[:start] + body + text[end:], encoding="utf-8")


def test_the_priors_are_named_as_priors_and_runs_use_the_latest_fitted_set():
    priors = read_parameter_set()
    assert priors.name == PRIORS_NAME == "parameters (priors)"
    assert priors.path == calibration_dir() / "parameters.toml"
    shipped = shipped_parameter_set()
    assert shipped.path == latest_fitted_set() and shipped.name == latest_fitted_set().stem
    assert shipped.values.keys() == priors.values.keys()
    assert len(shipped.values["regional fertility factor"]) == 17


def test_the_fitted_set_keeps_the_defaults_of_uncalibrated_parameters(calibration):
    definitions = parameter_definitions()
    fitted = read_parameter_set(calibration / "fitted" / "v6.toml").values
    for spec in definitions.values():
        if not spec["calibrate"]:
            assert fitted[spec["model"]] == spec["default"]


FITTED_SET_PROBLEMS = [
    # an empty set or one without [values] ran on the priors while the manifest said v6
    (None, r"(?s).*", "", "'values'", "every calibrated parameter"),
    (None, r"^\[values\]", "[vals]", "'values'", "[values] table"),
    (None, r"^\[values\]", "values = 5\n[other]", "'values'", "[values] table"),
    # a deleted parameter took its default
    (None, r"^gompertz_slope = .*\n", "", "'values.gompertz_slope'", "every calibrated parameter"),
    # a scalar for a per-region list was broadcast; a short list failed inside the engine
    (None, r"^regional_fertility_factor = .*$", "regional_fertility_factor = 1.0",
     "'values.regional_fertility_factor'", "a list of 17 numbers in [0.5, 2], one per element of Region"),
    (None, r"^(regional_fertility_factor = \[)[^,]*, ", r"\1", "'values.regional_fertility_factor'", "a list of 17"),
    (None, r"^sex_mortality_factor = .*$", "sex_mortality_factor = [1.0, 1.2, 1.3]",
     "'values.sex_mortality_factor'", "a list of 2 numbers"),
    (None, r"^gompertz_slope = .*$", "gompertz_slope = [0.1, 0.1]", "'values.gompertz_slope'", "[0.07, 0.12]"),
    (None, r"^gompertz_slope = .*$", "gompertz_slope = nan", "'values.gompertz_slope'", "a finite number in [0.07, 0.12]"),
    (None, r"^mobility = .*$", "mobility = inf", "'values.mobility'", "a finite number"),
    (None, r"^mobility = .*$", "mobility = true", "'values.mobility'", "a finite number"),
    (None, r"^gompertz_slope = .*$", "gompertz_slope = 5.0", "'values.gompertz_slope'", "[0.07, 0.12]"),
]


def test_values_of_parameters_no_longer_defined_are_ignored(calibration):
    """A fitted set may name parameters calibration/parameters.toml has since dropped (the
    shipped v6 names the fiscal parameters of the earlier fiscal sector)."""
    path = calibration / "fitted" / "v6.toml"
    edit(path, None, r"^\[values\]$", "[values]\nfoo_bar = 1.0")
    values = read_parameter_set(path).values
    assert "foo_bar" not in values and "tax base factor" not in values
    assert values["gompertz slope"] == read_parameter_set(calibration / "fitted" / "v6.toml").values["gompertz slope"]


@pytest.mark.parametrize("entry, pattern, new, field, allowed", FITTED_SET_PROBLEMS)
def test_a_broken_fitted_set_is_refused_naming_the_file_and_the_key(calibration, entry, pattern, new, field, allowed):
    path = calibration / "fitted" / "v6.toml"
    edit(path, entry, pattern, new)
    with pytest.raises(KbalanceInputError) as info:
        read_parameter_set(path)
    message = str(info.value)
    assert message.startswith(str(path)) and field in message and allowed in message, message


def test_a_non_utf8_fitted_set_is_refused(calibration):
    path = calibration / "fitted" / "v6.toml"
    path.write_bytes(path.read_bytes() + b"\n# \xff\n")
    with pytest.raises(KbalanceInputError, match=r"v6.toml: field '\(file\)'.*UTF-8"):
        read_parameter_set(path)


DEFINITION_PROBLEMS = [
    # a default outside its documented range was used
    ("fertility_trend_assumption", r"^default = 1.0", "default = 99.0", "'fertility_trend_assumption.default'", "[0.5, 2]"),
    ("fertility_trend_assumption", r"^default = 1.0", "default = nan", "'fertility_trend_assumption.default'", "finite"),
    ("fertility_trend_assumption", r"^range = .*$", 'range = "wide"', "'fertility_trend_assumption.range'",
     "two finite numbers with low < high"),
    ("fertility_trend_assumption", r"^range = .*$", "range = [0.5, nan]", "'fertility_trend_assumption.range'", "finite"),
    ("fertility_trend_assumption", r"^range = .*$", "range = [0.5, 1, 2]", "'fertility_trend_assumption.range'", "[low, high]"),
    ("fertility_trend_assumption", r"^range = .*\n", "", "'fertility_trend_assumption.range'", "keys model, unit, default"),
    ("fertility_trend_assumption", r"^model = .*\n", "", "'fertility_trend_assumption.model'", "keys model"),
    ("fertility_trend_assumption", r"^unit = .*\n", "", "'fertility_trend_assumption.unit'", "keys model"),
    ("fertility_trend_assumption", r"^reason = .*\n", "", "'fertility_trend_assumption.reason'", "keys model"),
    ("fertility_trend_assumption", r"^calibrate = .*\n", "", "'fertility_trend_assumption.calibrate'", "keys model"),
    ("fertility_trend_assumption", r"^calibrate = .*$", 'calibrate = "no"', "'fertility_trend_assumption.calibrate'",
     "true or false"),
    ("fertility_trend_assumption", r"^prior = ", "prior_ = ", "'fertility_trend_assumption.prior_'", "fixed_because"),
    ("fertility_trend_assumption", r"^model = .*$", 'model = "family support elasticity"',
     "'fertility_trend_assumption.model'", "no other entry names (family_support_elasticity"),
    ("gompertz_slope", r"^group = .*\n", "", "'gompertz_slope.group'", "calibrated parameter"),
    # an inverted range was blamed on the fitted set
    ("gompertz_slope", r"^range = \[(.*), (.*)\]$", r"range = [\2, \1]", "'gompertz_slope.range'", "low < high"),
]


@pytest.mark.parametrize("entry, pattern, new, field, allowed", DEFINITION_PROBLEMS)
def test_a_broken_parameter_definition_is_blamed_on_parameters_toml(calibration, entry, pattern, new, field, allowed):
    edit(calibration / "parameters.toml", entry, pattern, new)
    for read in (parameter_definitions, read_parameter_set, lambda: read_parameter_set(calibration / "fitted" / "v6.toml")):
        with pytest.raises(KbalanceInputError) as info:
            read()
        message = str(info.value)
        assert message.startswith(str(calibration / "parameters.toml")), message
        assert field in message and allowed in message, message


@pytest.mark.parametrize("entry, pattern, new, field, allowed", [
    ("fertility_trend_assumption", r"^model = .*$", 'model = "fertility trend assumptio"',
     "'fertility_trend_assumption.model'", "a constant of"),
    ("sex_mortality_factor", r"^dims = .*$", 'dims = ["Gender"]', "'sex_mortality_factor.dims'", "Region"),
    ("sex_mortality_factor", r"^default = .*$", "default = [1.5]", "'sex_mortality_factor.default'", "a list of 2"),
])
def test_a_definition_must_match_the_model_file(calibration, entry, pattern, new, field, allowed):
    edit(calibration / "parameters.toml", entry, pattern, new)
    parameter_definitions()  # the file alone is well formed
    with pytest.raises(KbalanceInputError) as info:
        read_parameter_set()
    message = str(info.value)
    assert "parameters.toml" in message and field in message and allowed in message, message


def test_an_empty_parameters_file_is_refused(calibration):
    (calibration / "parameters.toml").write_text("", encoding="utf-8")
    with pytest.raises(KbalanceInputError, match=r"parameters.toml: field '\(file\)'"):
        read_parameter_set()


def test_a_missing_set_is_a_missing_file(calibration):
    with pytest.raises(MissingFileError, match="v99.toml"):
        read_parameter_set(calibration / "fitted" / "v99.toml")


def test_latest_fitted_set_picks_the_highest_version_number(calibration):
    fitted = calibration / "fitted"
    (fitted / "v6.toml").unlink()
    assert fitted_versions() == {} and latest_fitted_set() is None
    for name in ("v2.toml", "v10.toml", "v9.toml", "vx.toml", "v11-ensemble.csv", "v12-draft.toml"):
        (fitted / name).write_text("")
    assert fitted_versions() == {2: fitted / "v2.toml", 9: fitted / "v9.toml", 10: fitted / "v10.toml"}
    assert latest_fitted_set() == fitted / "v10.toml"   # 10 > 9, though "v9" sorts after "v10"
