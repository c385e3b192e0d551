"""model/indicators.toml and its loader: every indicator is a model variable of the right
shape, both extinction indices keep their definitions, and bad entries are refused
naming the file, the field and what is allowed."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kbalance.engine.compiler import compile_model

from kbalance.engine.runtime import run_fast
from kbalance.errors import KbalanceInputError
from kbalance.model.indicators import LEVELS, indicator, indicators_file, model_variables, read_indicators
from kbalance.model.parameters import read_parameter_set

SHAPES = {"national": (), "regional": ("Region",), "bloc": ("Region",)}


def test_every_indicator_is_a_model_variable_of_its_level():
    model = compile_model()
    found = read_indicators()
    assert {"national", "regional", "bloc"} == {i.level for i in found.values()}
    for key, ind in found.items():
        assert ind.variable in model.names, key
        assert model.dims[model.names[ind.variable]] == SHAPES[ind.level], key


def test_levels_select_and_labels_fall_back():
    national = read_indicators(level="national")
    assert "population" in national and "region_population" not in national
    assert set(read_indicators(level="bloc")) == {"bloc_population"}
    births = indicator("births")
    assert births.short("en") == births.label("en") == "Births" and births.unit("ko") == "천 명/년"
    assert indicator("fiscal_autonomy_cv").short("ko") == "재정자립도 격차"
    assert model_variables(["population", "region_population", "population"]) == ("national population",
                                                                                 "total population")


@pytest.fixture(scope="module")
def run() -> xr.Dataset:
    names = ["young women", "elderly population", "extinction risk index", "employed", "innovation per worker",
             "fiscal autonomy ratio", "total population", "Innovation Base", *model_variables()]
    return run_fast(None, read_parameter_set().values, 2040, names).isel(member=0).sel(year=[2024, 2040])


def test_a_difference_of_percentages_is_in_percentage_points():
    share = indicator("capital_share")
    assert share.unit("en") == "%" and share.difference_unit("en") == share.difference_unit("ko") == "%p"
    assert indicator("local_tax_share").difference_unit("en") == "%p of total tax"
    births = indicator("births")
    assert births.difference_unit("ko") == births.unit("ko") and "%" not in births.unit("en")


def test_two_national_extinction_indices_keep_their_definitions(run):
    ratio = run["young women"].sum("Region") / run["elderly population"].sum("Region")
    np.testing.assert_allclose(indicator("extinction_index").values(run), ratio, rtol=1e-12)
    mean = run["extinction risk index"].mean("Region")
    np.testing.assert_allclose(indicator("mean_extinction_index").values(run), mean, rtol=1e-12)
    assert not np.allclose(ratio, mean, rtol=1e-3)  # they are different indicators
    at_risk = (run["extinction risk index"] < 0.5).sum("Region")
    np.testing.assert_array_equal(indicator("regions_at_risk").values(run), at_risk)


def test_disparity_and_aggregate_indicators_match_their_definitions(run):
    w, v = run["employed"], run["innovation per worker"]
    mean = (w * v).sum("Region") / w.sum("Region")
    cv = np.sqrt((w * (v - mean) ** 2).sum("Region") / w.sum("Region")) / mean
    np.testing.assert_allclose(indicator("innovation_pw_cv").values(run), cv, rtol=1e-12)
    np.testing.assert_allclose(indicator("fiscal_autonomy_mean").values(run),
                               run["fiscal autonomy ratio"].mean("Region"), rtol=1e-12)
    np.testing.assert_allclose(indicator("innovation_base").values(run), run["Innovation Base"].sum("Region") / 1e6,
                               rtol=1e-12)
    bloc = indicator("bloc_population").values(run).sel(year=2040)
    pop = run["total population"].sel(year=2040)
    assert float(bloc.sel(Region="Seoul")) == pytest.approx(float(pop.sel(Region=["Seoul", "Incheon", "Gyeonggi"])
                                                                  .sum()) / 1e3, rel=1e-12)
    assert float(bloc.sel(Region="Incheon")) == float(bloc.sel(Region="Seoul"))


GOOD = {"variable": "national population", "level": "national", "scale": 1e-6, "unit_en": "million persons",
        "unit_ko": "백만 명", "direction": 1, "digits": 2, "label_en": "Population", "label_ko": "인구"}


def _write(path, spec) -> None:
    lines = ["[population]"]
    for field, value in spec.items():
        lines.append(f"{field} = {value!r}".replace("'", '"') if isinstance(value, str) else
                     f"{field} = {str(value).lower() if isinstance(value, bool) else value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("field, value, allowed", [
    ("level", "county", "national, regional, bloc"),
    ("direction", 2, "-1, 0, 1"),
    ("direction", True, "-1, 0, 1"),
    ("digits", -1, "0, 1, 2"),
    ("scale", 0, "a finite positive number"),
    ("label_ko", "", "a non-empty string"),
    ("colour", "red", "fields variable, level"),
    ("label_en", None, "fields variable, level"),  # None: the field is left out
])
def test_a_bad_entry_names_file_field_and_allowed_values(tmp_path, field, value, allowed):
    assert_refused(tmp_path, _write, GOOD, field, value, allowed)


def assert_refused(tmp_path, write, good: dict, field: str, value, allowed: str) -> None:
    """``good`` with ``field`` set to ``value`` (left out when None), written by ``write``,
    is refused with a message naming the file, the field and ``allowed``."""
    spec = {**good, field: value}
    if value is None:
        del spec[field]
    path = tmp_path / f"indicators-{field}.toml"
    write(path, spec)
    with pytest.raises(KbalanceInputError) as err:
        read_indicators(path)
    message = str(err.value)
    assert str(path) in message and f"population.{field}" in message and allowed in message


def test_a_good_file_loads_and_a_broken_or_missing_one_is_refused(tmp_path):
    path = tmp_path / "indicators.toml"
    _write(path, GOOD)
    assert read_indicators(path)["population"].scale == 1e-6
    broken = tmp_path / "broken.toml"
    broken.write_text("[population\n", encoding="utf-8")
    with pytest.raises(KbalanceInputError, match="valid TOML"):
        read_indicators(broken)
    with pytest.raises(KbalanceInputError, match="file not found"):
        read_indicators(tmp_path / "none.toml")
    with pytest.raises(KbalanceInputError, match=r"\(key\).*population"):
        indicator("populaton", path)
    with pytest.raises(KbalanceInputError, match="level"):
        read_indicators(level="province")
    assert indicators_file().name == "indicators.toml" and LEVELS == ("national", "regional", "bloc")


CLASSES = {"classes": "[0.2, 0.5]", "class_labels_en": '["low", "mid", "high"]',
           "class_labels_ko": '["낮음", "중간", "높음"]', "class_ref": '"R96"'}


def _write_classes(path, classes) -> None:
    _write(path, GOOD)
    with path.open("a", encoding="utf-8") as f:
        f.writelines(f"{field} = {value}\n" for field, value in classes.items())


def test_classes_load_with_their_labels_and_the_shipped_risk_classes_are_ordered(tmp_path):
    path = tmp_path / "indicators.toml"
    _write_classes(path, CLASSES)
    loaded = read_indicators(path)["population"]
    assert loaded.classes == (0.2, 0.5) and loaded.class_labels("ko") == ("낮음", "중간", "높음")
    assert loaded.class_ref == "R96"
    risk = indicator("region_extinction_index")
    assert list(risk.classes) == sorted(risk.classes) and len(risk.class_labels("en")) == len(risk.classes) + 1
    assert indicator("population").classes == ()


@pytest.mark.parametrize("field, value, allowed", [
    ("classes", "[0.5, 0.2]", "increasing finite numbers"),
    ("classes", '["a"]', "increasing finite numbers"),
    ("class_labels_en", '["low", "high"]', "a list of 3 labels"),
    ("class_ref", None, "all of classes"),  # None: the field is left out
])
def test_bad_classes_name_file_field_and_allowed_values(tmp_path, field, value, allowed):
    assert_refused(tmp_path, _write_classes, CLASSES, field, value, allowed)
