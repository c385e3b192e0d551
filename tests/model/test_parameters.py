"""Parameter sets: the priors of calibration/parameters.toml and the fitted sets, checked when read."""

from __future__ import annotations

import re
import shutil
import tomllib

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


def test_the_fitted_set_keeps_the_defaults_of_uncalibrated_parameters_it_does_not_name(calibration):
    definitions = parameter_definitions()
    path = calibration / "fitted" / "v6.toml"
    named = tomllib.loads(path.read_text())["values"]
    fitted = read_parameter_set(path).values
    checked = 0
    for key, spec in definitions.items():
        if not spec["calibrate"]:
            # a parameter fixed after the set was fitted keeps the set's value until the refit
            expected = named.get(key, spec["default"])
            assert fitted[spec["model"]] == expected
            checked += key not in named
    assert checked >= 10


FITTED_SET_PROBLEMS = [
    # an empty set or one without [values] ran on the priors while the manifest said v6
    (None, r"(?s).*", "", "'values'", "every calibrated parameter"),
    (None, r"^\[values\]", "[vals]", "'values'", "[values] table"),
    (None, r"^\[values\]", "values = 5\n[other]", "'values'", "[values] table"),
    # a deleted parameter took its default
    (None, r"^destination_size_elasticity = .*\n", "", "'values.destination_size_elasticity'", "every calibrated parameter"),
    # a scalar for a per-region list was broadcast; a short list failed inside the engine
    (None, r"^regional_fertility_factor = .*$", "regional_fertility_factor = 1.0",
     "'values.regional_fertility_factor'", "a list of 17 numbers in [0.5, 2], one per element of Region"),
    (None, r"^(regional_fertility_factor = \[)[^,]*, ", r"\1", "'values.regional_fertility_factor'", "a list of 17"),
    (None, r"^destination_size_elasticity = .*$", "destination_size_elasticity = [0.5, 0.5]", "'values.destination_size_elasticity'", "[0.3, 1.2]"),
    (None, r"^destination_size_elasticity = .*$", "destination_size_elasticity = nan", "'values.destination_size_elasticity'", "a finite number in [0.3, 1.2]"),
    (None, r"^mobility = .*$", "mobility = inf", "'values.mobility'", "a finite number"),
    (None, r"^mobility = .*$", "mobility = true", "'values.mobility'", "a finite number"),
    (None, r"^destination_size_elasticity = .*$", "destination_size_elasticity = 5.0", "'values.destination_size_elasticity'", "[0.3, 1.2]"),
]


@pytest.mark.parametrize("entry, pattern, new, field, allowed", FITTED_SET_PROBLEMS)
def test_a_broken_fitted_set_is_refused_naming_the_file_and_the_key(calibration, entry, pattern, new, field, allowed):
    path = calibration / "fitted" / "v6.toml"
    edit(path, entry, pattern, new)
    with pytest.raises(KbalanceInputError) as info:
        read_parameter_set(path)
    message = str(info.value)
    assert message.startswith(str(path)) and field in message and allowed in message, message


def test_values_of_parameters_no_longer_defined_are_ignored(calibration):
    path = calibration / "fitted" / "v6.toml"
    before = read_parameter_set(path).values
    edit(path, None, r"^\[values\]$", "[values]\nfoo_bar = 1.0")
    assert read_parameter_set(path).values == before and "foo_bar" not in before
    assert "tax base factor" not in before  # v6 names parameters of the earlier fiscal sector


PRIOR_PROBLEMS = [
    ("mortality_index_drift", r"^prior = .*$", 'prior = "beta"', "'mortality_index_drift.prior'", "normal"),
    ("mortality_index_drift", r"^prior_sd = .*\n", "", "'mortality_index_drift.prior_sd'", "normal prior"),
    ("mortality_index_drift", r"^prior_sd = .*$", "prior_sd = 0.0", "'mortality_index_drift.prior_sd'", "positive"),
    ("mortality_index_drift", r"^ensemble = .*$", 'ensemble = "fit"', "'mortality_index_drift.ensemble'", "prior"),
    ("mortality_index_drift", r"^calibrate = .*$", "calibrate = true", "'mortality_index_drift.ensemble'",
     "calibrate = false"),
]


@pytest.mark.parametrize("entry, pattern, new, field, allowed", PRIOR_PROBLEMS)
def test_a_broken_prior_is_refused(calibration, entry, pattern, new, field, allowed):
    edit(calibration / "parameters.toml", entry, pattern, new)
    with pytest.raises(KbalanceInputError) as info:
        parameter_definitions()
    message = str(info.value)
    assert "parameters.toml" in message and field in message and allowed in message, message


def test_a_non_utf8_fitted_set_is_refused(calibration):
    path = calibration / "fitted" / "v6.toml"
    path.write_bytes(path.read_bytes() + b"\n# \xff\n")
    with pytest.raises(KbalanceInputError, match=r"v6.toml: field '\(file\)'.*UTF-8"):
        read_parameter_set(path)


DEFINITION_PROBLEMS = [
    # a default outside its documented range was used
    ("tfr_path_deviation", r"^default = 0.0", "default = 99.0", "'tfr_path_deviation.default'", "[-3, 3]"),
    ("tfr_path_deviation", r"^default = 0.0", "default = nan", "'tfr_path_deviation.default'", "finite"),
    ("tfr_path_deviation", r"^range = .*$", 'range = "wide"', "'tfr_path_deviation.range'",
     "two finite numbers with low < high"),
    ("tfr_path_deviation", r"^range = .*$", "range = [0.5, nan]", "'tfr_path_deviation.range'", "finite"),
    ("tfr_path_deviation", r"^range = .*$", "range = [0.5, 1, 2]", "'tfr_path_deviation.range'", "[low, high]"),
    ("tfr_path_deviation", r"^range = .*\n", "", "'tfr_path_deviation.range'", "keys model, unit, default"),
    ("tfr_path_deviation", r"^model = .*\n", "", "'tfr_path_deviation.model'", "keys model"),
    ("tfr_path_deviation", r"^unit = .*\n", "", "'tfr_path_deviation.unit'", "keys model"),
    ("tfr_path_deviation", r"^reason = .*\n", "", "'tfr_path_deviation.reason'", "keys model"),
    ("tfr_path_deviation", r"^calibrate = .*\n", "", "'tfr_path_deviation.calibrate'", "keys model"),
    ("tfr_path_deviation", r"^calibrate = .*$", 'calibrate = "no"', "'tfr_path_deviation.calibrate'",
     "true or false"),
    ("tfr_path_deviation", r"^prior = ", "prior_ = ", "'tfr_path_deviation.prior_'", "fixed_because"),
    ("tfr_path_deviation", r"^model = .*$", 'model = "family support elasticity"',
     "'tfr_path_deviation.model'", "no other entry names (family_support_elasticity"),
    ("destination_size_elasticity", r"^group = .*\n", "", "'destination_size_elasticity.group'", "calibrated parameter"),
    # priors of the MAP fit
    ("family_support_elasticity", r"^prior = .*$", 'prior = "beta"', "'family_support_elasticity.prior'", "normal"),
    ("family_support_elasticity", r"^prior = .*$", 'prior = "normal"\nprior_mean = 1.0',
     "'family_support_elasticity.prior_sd'", "normal prior"),
    ("family_support_elasticity", r"^prior = .*$", 'prior = "normal"\nprior_mean = 1.0\nprior_sd = 0',
     "'family_support_elasticity.prior_sd'", "positive"),
    ("family_support_elasticity", r"^prior = .*$", 'prior = "uniform"\nprior_sd = 0.1',
     "'family_support_elasticity.prior_sd'", "only with prior"),
    ("family_support_elasticity", r"^prior = .*$", 'prior = "uniform"\nspread = 0.1',
     "'family_support_elasticity.spread'", "subscripted"),
    ("regional_fertility_factor", r"^spread = .*$", "spread = -0.1", "'regional_fertility_factor.spread'", "positive"),
    # an inverted range was blamed on the fitted set
    ("destination_size_elasticity", r"^range = \[(.*), (.*)\]$", r"range = [\2, \1]", "'destination_size_elasticity.range'", "low < high"),
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
    ("tfr_path_deviation", r"^model = .*$", 'model = "tfr path deviatio"',
     "'tfr_path_deviation.model'", "a constant of"),
    ("regional_mortality_ratio", r"^dims = .*$", 'dims = ["Gender"]', "'regional_mortality_ratio.dims'", "Region"),
    ("regional_mortality_ratio", r"^default = .*$", "default = [1.0, 1.1]", "'regional_mortality_ratio.default'",
     "a list of 17"),
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
