"""The package's top level: what ``import kbalance`` gives."""

from __future__ import annotations

import re
from importlib.metadata import version

import numpy as np
import pytest

import kbalance
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import read_indicators
from kbalance.model.parameters import shipped_parameter_set
from kbalance.model.scenarios import read_scenario
from kbalance.paths import project_root
from kbalance.runs import run_model

UNTIL = 2032


def test_version_is_the_installed_distribution_version():
    assert kbalance.__version__ == version("kbalance")
    assert kbalance.__version__.count(".") >= 1


@pytest.fixture(scope="module")
def pair():
    base = kbalance.project("baseline", until=UNTIL, members=3)
    plan = kbalance.project(kbalance.load_scenario(project_root() / "model" / "scenarios" / "balance.toml"),
                            until=UNTIL, members=3)
    return base, plan


def test_project_holds_every_indicator_in_its_shown_unit(pair):
    base, _ = pair
    for key, ind in read_indicators().items():
        assert base[key].attrs["units"] == ind.unit_en and base[key].attrs["long_name_ko"] == ind.label_ko, key
        assert base[f"{key}_ensemble"].sizes["quantile"] == 3 and base[f"{key}_members"].sizes["member"] == 3
    assert int(base["year"].max()) == UNTIL
    assert base["region_name_ko"].sel(region="11") == "서울특별시"
    assert base.attrs["fitted_set"] == shipped_parameter_set().name and base.attrs["ensemble_members"] == 3
    band = base["capital_share_ensemble"].sel(year=UNTIL)
    assert float(band.sel(quantile=0.05)) <= float(band.sel(quantile=0.5)) <= float(band.sel(quantile=0.95))


def test_best_fit_is_the_shipped_fitted_run(pair):
    run = run_model(read_scenario("baseline"), shipped_parameter_set(), UNTIL, ["capital region share"])
    assert np.array_equal(pair[0]["capital_share"].values, run["capital region share"].values)


def test_compare_pairs_the_members(pair):
    base, plan = pair
    change = kbalance.compare(base, plan)
    expected = (plan["births_members"] - base["births_members"]).quantile(0.5, dim="member")
    assert float(change["births_ensemble"].sel(quantile=0.5, year=UNTIL)) == pytest.approx(float(expected.sel(year=UNTIL)))
    assert float(change["births"].sel(year=UNTIL)) == pytest.approx(float((plan["births"] - base["births"]).sel(year=UNTIL)))
    assert change["births"].attrs["units"] == base["births"].attrs["units"]


def test_unknown_variant_and_engine_are_refused():
    with pytest.raises(InvalidValueError, match="variant"):
        kbalance.project("baseline", until=UNTIL, variant="no-such-variant")
    with pytest.raises(InvalidValueError, match="engine"):
        kbalance.project("baseline", until=UNTIL, engine="excel")
    with pytest.raises(InvalidValueError, match="members"):
        kbalance.project("baseline", until=UNTIL, members=-1)


def test_the_readme_example_runs(capsys):
    text = (project_root() / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python interface (notebooks)")[1].split("\n## ")[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace("until=2050", f"until={UNTIL}").replace("year=2050", f"year={UNTIL}")
    code = code.replace("members=8", "members=2").replace("[2030, 2050]", f"[2030, {UNTIL}]")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "capital-region share" in out and "%" in out and "Seoul" in out
