"""The project's folders (KBALANCE_HOME, the checkout), read_toml and model_file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbalance.errors import InvalidValueError, MissingFileError
from kbalance.paths import (calibration_dir, model_dir, model_file, outputs_dir, project_root,
                            read_toml)

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_root():
    """project_root is cached: clear it for the test and again after, so that later tests
    see the checkout and not the folder this test pointed at."""
    project_root.cache_clear()
    yield
    project_root.cache_clear()


def test_checkout_is_the_project_root(monkeypatch, fresh_root):
    monkeypatch.delenv("KBALANCE_HOME", raising=False)
    monkeypatch.chdir(CHECKOUT / "tests")
    assert project_root() == CHECKOUT
    assert model_file() == CHECKOUT / "model" / "kbalance.mdl" and model_file().is_file()
    assert calibration_dir() == CHECKOUT / "calibration" and calibration_dir().is_dir()


def test_kbalance_home_overrides_the_working_directory(tmp_path, monkeypatch, fresh_root):
    monkeypatch.setenv("KBALANCE_HOME", str(tmp_path))
    assert project_root() == tmp_path.resolve()
    assert model_dir() == tmp_path.resolve() / "model"
    assert model_file() == tmp_path.resolve() / "model" / "kbalance.mdl"
    assert calibration_dir() == tmp_path.resolve() / "calibration"
    assert outputs_dir() == tmp_path.resolve() / "outputs"


def test_nearest_folder_with_the_regions_table_is_the_root(tmp_path, monkeypatch, fresh_root):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "regions.csv").write_text("code\n", encoding="utf-8")
    below = tmp_path / "outputs" / "run"
    below.mkdir(parents=True)
    monkeypatch.delenv("KBALANCE_HOME", raising=False)
    monkeypatch.chdir(below)
    assert project_root() == tmp_path


def test_read_toml_reads_a_table(tmp_path):
    path = tmp_path / "levers.toml"
    path.write_text('[tax]\nunit = "1"\nrange = [0.0, 0.5]\n', encoding="utf-8")
    assert read_toml(path, "levers", "a lever table") == {"tax": {"unit": "1", "range": [0.0, 0.5]}}


def test_read_toml_missing_file_names_it(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(MissingFileError) as info:
        read_toml(path, "scenario file", "a scenario written as TOML")
    assert str(path) in str(info.value) and "scenario file" in str(info.value)
    assert info.value.expected == "a scenario written as TOML"


def test_read_toml_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[tax\nunit = 1\n", encoding="utf-8")
    with pytest.raises(InvalidValueError) as info:
        read_toml(path, "levers", "a lever table")
    assert info.value.path == str(path) and str(path) in str(info.value)
    assert info.value.expected == "valid TOML"
