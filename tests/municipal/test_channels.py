"""The policy channels of the municipal layer: the file, the shares, the factor."""

from __future__ import annotations

import numpy as np
import pytest

from kbalance.errors import InvalidValueError, KbalanceInputError
from kbalance.model.fiscal_inputs import DEPOPULATION_SHARE
from kbalance.municipal.channels import (Channel, fund_amounts, fund_weights, historical_amounts, host_weights,
                                         read_channels, staff_inflows, window_exposures)
from kbalance.observations.keyed import municipalities
from kbalance.paths import model_dir

NAJU, WONJU = "46170", "51130"


def test_the_shipped_channels_are_priors_with_their_evidence():
    spec = read_channels()
    for key in ("extinction_fund", "relocation"):
        assert spec[key]["calibrate"] is False and spec[key]["status"] == "prior"
        assert spec[key]["strength"] == spec[key]["prior_mean"] and spec[key]["prior_sd"] > 0
    assert {code for code, _ in spec["relocation"]["hosts"]} == {"51130", "48170", "47150", "46170"}


def rewritten(tmp_path, old: str, new: str) -> str:
    text = (model_dir() / "municipal.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "municipal.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return str(path)


def test_a_channel_file_that_would_be_calibrated_or_names_an_unknown_host_is_refused(tmp_path):
    with pytest.raises(InvalidValueError, match="strength"):
        read_channels(rewritten(tmp_path, "calibrate = false", "calibrate = true"))
    with pytest.raises(InvalidValueError, match="hosts"):
        read_channels(rewritten(tmp_path, '["51130", "R640"]', '["99999", "R640"]'))
    with pytest.raises(KbalanceInputError, match="prior_sd"):
        read_channels(rewritten(tmp_path, "prior_sd = 0.0074", ""))


def test_the_fund_goes_to_the_designated_areas_by_the_rule():
    table = municipalities()
    weights = fund_weights(table.index.to_numpy())
    designation = table["designation"].to_numpy()
    assert weights.sum() == pytest.approx(1.0)
    assert np.allclose(weights[designation == "depopulation_area"], DEPOPULATION_SHARE / 89)
    assert np.allclose(weights[designation == "area_of_concern"], (1 - DEPOPULATION_SHARE) / 18)
    assert np.all(weights[designation == ""] == 0)
    amounts = fund_amounts(np.array([[1.0, 2.0]]), weights)                # 1 and 2 trillion KRW
    assert amounts.shape == (1, 2, len(table)) and amounts[0, :, designation != ""].sum(axis=0) == pytest.approx([0.75e6, 1.5e6])


def test_relocated_staff_go_to_the_host_of_their_region():
    table = municipalities()
    codes, region = table.index.to_numpy(), table["region_code"].to_numpy()
    weights = host_weights(codes, region, [[NAJU, "R640"], [WONJU, "R640"]])
    assert weights[codes == NAJU] == 1 and weights[codes == WONJU] == 1 and weights.sum() == 2
    staff = np.array([[[0.0, 0.0], [100.0, 10.0], [300.0, 10.0]]])          # (member, year, sgg) cumulative
    assert staff_inflows(staff, np.array([1.0, 0.5])).tolist() == [[[100.0, 5.0], [200.0, 0.0], [0.0, 0.0]]]


def test_history_gives_the_fund_from_2022_and_the_moves_until_2019():
    table = municipalities()
    codes, region = table.index.to_numpy(), table["region_code"].to_numpy()
    amounts = historical_amounts(codes, region, [2016, 2021, 2022, 2023])
    fund, staff = amounts["extinction_fund"], amounts["relocation"]
    depopulation = table["designation"].to_numpy() == "depopulation_area"
    assert np.all(fund[:2] == 0)
    assert np.allclose(fund[2:, depopulation], np.array([[0.75], [1.0]]) * 0.75e6 * DEPOPULATION_SHARE / 89)
    naju = codes == NAJU
    assert staff[0, naju] > 500 and np.all(staff[1:] == 0) and np.count_nonzero(staff[0]) == 4
    totals = np.full((len(codes), 11), 1e5)
    window = window_exposures(codes, region, totals, (2015, 2025))
    assert window["relocation"].shape == (10, len(codes))
    assert window["relocation"].mean(axis=0)[naju] == pytest.approx(staff[0, naju][0] * 4 / 10 / 1e5)
    assert window["extinction_fund"].mean(axis=0)[depopulation] == pytest.approx(fund[3, depopulation] * 3.75 / 10 / 1e5)


def test_the_factor_is_one_without_strength_and_follows_the_exposure():
    amounts = np.array([[[0.0, 0.0], [10.0, 0.0]]])                          # (member, year, sgg)
    pop = np.full((1, 2, 2, 3), 25.0)                                       # 150 people in each
    window = np.array([0.01, 0.02])
    assert np.all(Channel(amounts, window, 0.0).factor(2, pop, 0.5) == 1.0)
    factor = Channel(amounts, window, 2.0).factor(2, pop, 0.5)
    assert factor[0] == pytest.approx(np.exp(2.0 * (np.array([10 / 150, 0.0]) - 0.5 * window)))
    capped = Channel(amounts, window, 2.0, ceiling=0.03).factor(2, pop, 0.5)
    assert capped[0] == pytest.approx(np.exp(2.0 * (np.array([0.03, 0.0]) - 0.5 * window)))


def test_the_hosts_cite_listed_references():
    listed = (model_dir().parent / "docs" / "references.md").read_text(encoding="utf-8")
    for _, ref in read_channels()["relocation"]["hosts"]:
        assert f'<a id="{ref.lower()}"></a>**{ref}**' in listed
