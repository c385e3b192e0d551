"""The output convention: names, coordinates, units from the model's documentation."""

from __future__ import annotations

from kbalance.model import conventions
from kbalance.model.indicators import indicator
from kbalance.model.mdl import documentation
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import read_scenario
from kbalance.runs import run_model


def test_dimensionless_units_state_percent_or_one():
    assert conventions.output_unit("Dmnl", (0.0, 100.0)) == "%"
    assert conventions.output_unit("Dmnl", (0.0, 1.0)) == "1"
    assert conventions.output_unit("person/year", (0.0, float("nan"))) == "person/year"


def test_model_units_follow_the_documentation():
    doc = documentation().set_index("Real Name")
    assert doc.loc["capital region share", "Limits"] == (0.0, 100.0)
    assert conventions.model_unit("capital region share") == "%"
    assert conventions.model_unit("elderly share") == "1"
    assert conventions.model_unit("total births") == doc.loc["total births", "Units"]


def test_model_results_get_output_names_coordinates_and_attributes():
    run = run_model(read_scenario("baseline"), shipped_parameter_set(), 2005,
                    ["Population", "capital region share", "total fertility rate"])
    out = conventions.model_results(run)
    assert set(out.data_vars) == {"Population", "capital_region_share", "total_fertility_rate"}
    assert list(out["Population"].dims) == ["year", "region", "sex", "age"]
    assert out["region"].values[0] == "11" and out["region_name_ko"].values[0] == "서울특별시"
    assert list(out["sex"].values) == ["male", "female"] and out["age"].values[0] == 0
    assert out["capital_region_share"].attrs["units"] == "%"
    assert out["capital_region_share"].attrs["long_name_ko"] == indicator("capital_share").label_ko
    assert out["Population"].attrs["units"] == "person"
    assert (out["capital_region_share"].values == run["capital region share"].values).all()  # numbers unchanged


def test_global_attributes_name_versions_and_history():
    attrs = conventions.global_attributes("a title", "v6", "kbalance run")
    assert attrs["title"] == "a title" and attrs["fitted_set"] == "v6" and len(attrs["model_sha256"]) == 64
    assert attrs["Conventions"].startswith("CF-") and attrs["history"].endswith("kbalance run")
