"""``build``: the committed set is what the harmonized files give; a failed build changes nothing."""

from __future__ import annotations

import filecmp
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED_DATA, copy_observation_set, needs_shared
from kbalance.errors import InvalidValueError, MissingFileError, UnknownRegionError
from kbalance.observations import load
from kbalance.observations.build import build, harmonized_dir
from kbalance.observations.schema import BOUNDARY_FILE, CENSUS_YEARS, OBSERVATION_SET, REFERENCE_TOTALS, describe
from kbalance.paths import calibration_dir

HARMONIZED = SHARED_DATA / "harmonized"


def _harmonized(name: str) -> pd.DataFrame:
    return pd.read_csv(HARMONIZED / name, dtype={"region_code": str, "origin_code": str, "dest_code": str})


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _harmonized_without(tmp_path: Path, name: str) -> Path:
    """A harmonized folder linking every shared file but ``name``, beside links to shared raw/ and geo/."""
    src = tmp_path / "harmonized"
    src.mkdir()
    for p in HARMONIZED.glob("*.csv"):
        if p.name != name:
            os.symlink(p, src / p.name)
    for folder in ("raw", "geo"):
        os.symlink(SHARED_DATA / folder, tmp_path / folder)
    return src


# --- the committed set is reproduced (skipped without ../shared) ----------------------


@needs_shared
def test_build_reproduces_committed_set_byte_for_byte(tmp_path):
    dest = tmp_path / "calibration"
    written = build(SHARED_DATA, dest)
    committed = calibration_dir()
    rel = sorted(p.relative_to(dest).as_posix() for p in written)
    expected = sorted(["sources.csv", "breaks.csv",
                       *(f"observations/{p.name}" for p in (committed / "observations").iterdir())])
    assert rel == expected
    for name in ("mortality.csv", "un_wpp_migration_age.csv", "municipal_population_age.csv", "municipalities.csv",
                 "international_migration.csv", BOUNDARY_FILE):
        assert f"observations/{name}" in rel
    for r in rel:
        assert filecmp.cmp(dest / r, committed / r, shallow=False), r
    assert (dest / "observations" / BOUNDARY_FILE).read_bytes() == (SHARED_DATA / "geo" / BOUNDARY_FILE).read_bytes()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "calibration"]
    assert leftovers == []  # the temporary build folder is gone
    total = sum(p.stat().st_size for p in (committed / "observations").iterdir())
    assert 0 < total < 7_000_000


@needs_shared
def test_build_in_place_keeps_the_other_calibration_files(tmp_path):
    dest = copy_observation_set(tmp_path / "calibration")
    (dest / "parameters.toml").write_text("kept", encoding="utf-8")
    (dest / "observations" / "stale.csv").write_text("gone", encoding="utf-8")
    build(SHARED_DATA, dest)
    assert (dest / "parameters.toml").read_text(encoding="utf-8") == "kept"
    assert not (dest / "observations" / "stale.csv").exists()  # the observations folder is replaced whole
    assert sorted(p.name for p in dest.iterdir()) == sorted([*OBSERVATION_SET, REFERENCE_TOTALS, "parameters.toml"])


@needs_shared
def test_loader_reproduces_harmonized_values():
    h = _harmonized("population.csv")
    h = h[h["variable"] == "pop_registered"].set_index(["region_code", "year"])["value"]
    ours = load.load_series("pop_registered").set_index(["region_code", "year"])["value"]
    assert ours.sort_index().equals(h.sort_index().astype(float))
    nat24 = h.loc[("00", 2024)]
    assert nat24 == h.xs(2024, level="year").drop("00").sum()
    assert ours.loc[("00", 2024)] == nat24

    v = _harmonized("vital.csv")
    tfr = v[(v["variable"] == "tfr") & (v["region_code"] == "00") & (v["year"] == 2023)]["value"].item()
    assert load.load_series("tfr").query("region_code == '00' and year == 2023")["value"].item() == tfr

    m = _harmonized("migration.csv")
    gg = m[(m["variable"] == "migrants_net_interprovincial") & (m["region_code"] == "31") & (m["year"] == 2024)]
    od = load.load_od()
    off = od.where(od["origin"] != od["dest"], 0)
    net = float(off.sel(year=2024, dest="31").sum() - off.sel(year=2024, origin="31").sum())
    assert net == gg["value"].item()

    e = _harmonized("economy_nominal.csv")
    g = e[(e["variable"] == "grdp_nominal") & (e["year"] >= 1995)]
    ours_g = load.load_series("grdp_nominal")
    assert len(ours_g) == len(g) and ours_g["value"].sum() == g["value"].sum()


@needs_shared
def test_every_harmonized_series_selected_is_complete():
    """Each compiled series holds every harmonized row in its year window."""
    sources = load.series_table()
    pop = _harmonized("population_age.csv")
    cen = pop[pop["variable"].str.startswith("pop_census") & pop["year"].isin(CENSUS_YEARS)]
    ours = load.read_observation_file(calibration_dir() / "observations" / "census_age.csv")
    assert len(ours) == len(cen)
    assert set(ours["series"]) == set(cen["variable"])
    assert sources.loc["pop_census_total_00_04", "file"] == "observations/census_age.csv"


# --- a failed build leaves the old set ------------------------------------------------


@needs_shared
def test_build_missing_harmonized_file_leaves_dest_untouched(tmp_path):
    src = _harmonized_without(tmp_path, "vital.csv")
    dest = copy_observation_set(tmp_path / "calibration")
    before = _snapshot(dest)
    with pytest.raises(MissingFileError) as info:
        build(src, dest)
    assert "vital.csv" in str(info.value) and "harmonized file" in str(info.value)
    assert _snapshot(dest) == before


def test_build_missing_source_folder_raises(tmp_path):
    dest = copy_observation_set(tmp_path / "calibration")
    before = _snapshot(dest)
    with pytest.raises(MissingFileError, match=re.escape("births_by_mother_age.csv")):
        build(tmp_path / "nothing", dest)
    assert _snapshot(dest) == before


@needs_shared
def test_build_failing_validation_leaves_dest_untouched(tmp_path):
    """A bad harmonized row fails validation of the temporary set; dest keeps the old files."""
    src = _harmonized_without(tmp_path, "national.csv")
    text = (HARMONIZED / "national.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    text[1] = re.sub(r"^00,", "98,", text[1])
    (src / "national.csv").write_text("".join(text), encoding="utf-8")
    dest = copy_observation_set(tmp_path / "calibration")
    before = _snapshot(dest)
    with pytest.raises(UnknownRegionError, match="national.csv"):
        build(src, dest)
    assert _snapshot(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration", "geo", "harmonized", "raw"]


# --- helpers --------------------------------------------------------------------------


def test_harmonized_dir_accepts_both_forms(tmp_path):
    (tmp_path / "harmonized").mkdir()
    assert harmonized_dir(tmp_path) == tmp_path / "harmonized"
    assert harmonized_dir(tmp_path / "harmonized") == tmp_path / "harmonized"
    assert harmonized_dir(tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_descriptions_cover_age_groups_and_refuse_unknown_series():
    assert describe("pop_census_female_85p").endswith("female, aged 85+")
    assert describe("births_mother_age_15_19") == "Live births, mother aged 15–19"
    with pytest.raises(InvalidValueError, match="'description'.*'made_up'"):
        describe("made_up")


# --- the keyed files: verbatim values of the harmonized and raw files -----------------


@needs_shared
def test_keyed_files_hold_the_harmonized_values_verbatim():
    from kbalance.observations import keyed

    h = pd.read_csv(HARMONIZED / "mortality_national.csv", dtype=str)
    ours = pd.read_csv(calibration_dir() / "observations" / "mortality.csv", dtype=str)
    deaths = ours[ours["series"] == "hmd_deaths"]
    assert len(deaths) == len(h) and set(deaths["value"]) == set(h["deaths"])  # text, not re-formatted
    assert set(deaths.loc[deaths["age"].str.endswith("p"), "age"]) == {"110p"}
    assert h.loc[h["open_interval"] == "True", "age"].eq("110").all()
    arr = keyed.national_mortality("exposure")
    row = h[(h["year"] == "2019") & (h["sex"] == "female") & (h["age"] == "110")]
    assert float(arr.sel(sex="female", year=2019, age=110)) == float(row["exposure"].item())

    age = pd.read_csv(HARMONIZED / "municipal_population_age.csv", dtype=str)
    arr = keyed.municipal_age_structure()
    assert int(arr.notnull().sum()) == len(age)
    one = age[(age["sgg_code"] == "46910") & (age["year"] == "2025") & (age["sex"] == "female")]
    got = arr.sel(sgg_code="46910", year=2025, sex="female").to_series()
    assert (got[one["age_group"]].to_numpy() == one["value"].astype(float).to_numpy()).all()

    lx = pd.read_csv(HARMONIZED / "life_table_lx_national.csv", dtype=str, keep_default_na=False)
    assert int(keyed.life_table_lx().notnull().sum()) == int((lx["lx"] != "").sum())


@needs_shared
def test_un_wpp_rows_name_their_raw_datasets_and_match_them():
    from kbalance.observations import keyed

    sources = load.series_table()
    assert sources.loc["wpp_tfr", "origin"] == ("1950–2023: raw/un_wpp2024/tfr1dt_KOR.csv; "
                                                "2024–2100: raw/un_wpp2024/tfrproj1dt_KOR.csv")
    assert "CC BY 3.0 IGO" in sources.loc["wpp_e0_male", "table_name"]
    raw = pd.read_csv(SHARED_DATA / "raw" / "un_wpp2024" / "tfrproj1dt_KOR.csv")
    wpp = keyed.un_wpp().query("variable == 'tfr'").pivot(index="year", columns="quantile", values="value")
    assert (wpp.loc[raw["year"], "p2.5"].to_numpy() == raw["tfr_95l"].to_numpy()).all()
    assert (wpp.loc[raw["year"], "high_variant"].to_numpy() == raw["tfr_high"].to_numpy()).all()
    mig = pd.read_csv(SHARED_DATA / "raw" / "un_wpp2024" / "migprojAge1dt_KOR.csv")
    arr = keyed.un_wpp_migration_by_age()
    assert arr.sizes == {"sex": 2, "year": mig["year"].nunique(), "age": mig["age"].nunique()}
    first = mig[mig["year"] == 2050].set_index("age")["migF"]
    assert (arr.sel(sex="female", year=2050).to_series()[first.index].to_numpy() == first.to_numpy()).all()


@needs_shared
def test_press_migration_keeps_only_reported_numbers():
    raw = pd.read_csv(SHARED_DATA / "raw" / "kostat_intl_migration_press" /
                      "kostat_intl_migration_national_from_press.csv", dtype=str, keep_default_na=False)
    net = load.load_series("intl_net_korean").set_index("year")["value"]
    expected = raw[(raw["group"] == "korean") & (raw["net_k"] != "")].set_index("year")["net_k"].astype(float)
    assert net.to_dict() == {int(y): v for y, v in expected.items()}
    origin = load.series_table().loc["intl_net_korean", "origin"]
    assert origin.startswith("2012: derived: arrivals − departures")


@needs_shared
def test_build_missing_raw_file_raises_and_leaves_dest_untouched(tmp_path):
    src = _harmonized_without(tmp_path, "")
    (tmp_path / "geo").unlink()
    dest = copy_observation_set(tmp_path / "calibration")
    before = _snapshot(dest)
    with pytest.raises(MissingFileError, match=re.escape(BOUNDARY_FILE)):
        build(src, dest)
    assert _snapshot(dest) == before
