"""Fit statistics (RMSE, MAPE, R², Theil's decomposition), the per-region report and its figures."""

from __future__ import annotations

import numpy as np
import pytest

from kbalance.calibration.report import (HEADLINE_COLUMNS, effective_residuals, fit_figure, fit_report, fit_statistics,
                                         headline_statistics, lag_one_autocorrelation, plot_fit, target_label)
from kbalance.calibration.targets import Target
from kbalance.errors import InvalidValueError
from kbalance.model.indicators import indicator
from kbalance.regions import region_codes, region_name


def test_statistics_of_a_perfect_model():
    observed = np.array([3.0, 5.0, 4.0, 8.0])
    stats = fit_statistics(observed, observed)
    assert stats["rmse"] == 0 and stats["mape"] == 0 and stats["r2"] == 1


def test_a_pure_bias_is_all_um():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    stats = fit_statistics(observed + 1, observed)
    assert stats["rmse"] == pytest.approx(1.0)
    assert stats["mape"] == pytest.approx(100 * np.mean(1 / observed))
    assert stats["um"] == pytest.approx(1.0) and stats["us"] == pytest.approx(0.0, abs=1e-12)


def test_a_stretched_model_with_the_right_mean_is_all_us():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    stats = fit_statistics(2 * observed - observed.mean(), observed)
    assert stats["um"] == pytest.approx(0.0, abs=1e-12)
    assert stats["us"] == pytest.approx(1.0)
    assert stats["uc"] == pytest.approx(0.0, abs=1e-12)


def test_theil_components_sum_to_one_and_nan_cells_are_ignored():
    rng = np.random.default_rng(0)
    observed = rng.normal(10, 2, 50)
    model = observed + rng.normal(0.5, 1, 50)
    observed[3] = np.nan
    stats = fit_statistics(model, observed)
    assert stats["n"] == 49
    assert stats["um"] + stats["us"] + stats["uc"] == pytest.approx(1.0)


def test_no_observation_gives_nan_statistics():
    stats = fit_statistics(np.ones(3), np.full(3, np.nan))
    assert stats["n"] == 0 and np.isnan(stats["rmse"]) and np.isnan(stats["r2"])


def _targets():
    years = np.arange(2001, 2006)
    regional = Target("births", "births", "births", years, np.arange(1.0, 86.0).reshape(5, 17), 0, 1.0, 1.0)
    od = Target("migration_od", "od", "moves", years, np.ones((5, 17, 17)), 0, 1.0, 1.0)
    return [regional, od]


def test_report_has_a_row_per_target_and_region_and_one_over_all():
    targets = _targets()
    model = {t.name: t.observed * 1.1 for t in targets}
    report = fit_report(model, targets)
    assert len(report) == 2 * (17 + 1)
    births = report[report["target"] == "births"].set_index("region")
    assert list(births.index) == [*region_codes(), "all"]
    assert births.loc["all", "n"] == 85 and births.loc["all", "mape"] == pytest.approx(10.0)
    od = report[report["target"] == "migration_od"].set_index("region")
    assert od.loc[region_codes()[0], "n"] == 5 * 17  # by origin region: every year and destination


def test_the_headline_is_per_region_with_the_pooled_figures_beside():
    targets = _targets()
    births = next(t for t in targets if t.name == "births")
    codes = region_codes()
    # every region's level right, but one region's series flat at its mean
    model = births.observed * np.linspace(1.0, 1.2, len(codes))[None, :]
    model[:, 3] = births.observed[:, 3].mean()
    headline = headline_statistics(fit_report({"births": model, "migration_od": targets[1].observed}, targets))
    assert tuple(headline.columns) == HEADLINE_COLUMNS and list(headline["target"]) == ["births", "migration_od"]
    row = headline.set_index("target").loc["births"]
    flat = fit_statistics(model[:, 3], births.observed[:, 3])
    assert row["worst_region"] == codes[3] and row["mape_worst_region"] == pytest.approx(flat["mape"])
    assert flat["r2"] == pytest.approx(0.0) and row["mape_median_region"] == pytest.approx(11.25)  # the 9th of 17
    assert row["regions"] == 17 and row["regions_r2_positive"] < 17  # region 3 explains nothing over time
    assert row["r2_pooled"] > row["r2_worst_region"]


def test_effective_residuals_shrink_with_autocorrelated_errors():
    targets = _targets()
    births = next(t for t in targets if t.name == "births")
    years = births.observed.shape[0]
    smooth = {"births": births.observed * (1 + 0.01 * np.arange(years))[:, None]}
    noisy = {"births": births.observed * (1 + 0.01 * (-1.0) ** np.arange(years))[:, None]}
    only = [births]
    assert lag_one_autocorrelation(smooth, only) > 0.3
    assert lag_one_autocorrelation(noisy, only) == 0.0
    assert effective_residuals(smooth, only, 100) < effective_residuals(noisy, only, 100) == 100


def test_figures_only_for_regional_targets(tmp_path):
    targets = _targets()
    written = plot_fit({t.name: t.observed for t in targets}, targets, tmp_path)
    assert written == [tmp_path / "fit_births.png"]
    assert written[0].stat().st_size > 1000


def test_a_target_is_labelled_by_its_regional_indicator_or_by_its_own_fields(tmp_path):
    years = np.arange(2001, 2003)
    population = Target("population", "pop_registered", "total population", years, np.ones((2, 17)), 1, 1.0, 1.0)
    shown = indicator("region_population")
    assert target_label(population) == (target_label(population).__class__)(
        shown.label_en, shown.label_ko, shown.unit_en, shown.unit_ko, shown.scale)
    grdp = Target("grdp", "grdp_real_chained_2020", "grdp", years, np.ones((2, 17)), 0, 1.0, 1.0)
    label = target_label(grdp)
    assert label.unit_en == "trillion KRW/year" and label.scale == 1e-6 and label.label_ko
    path = tmp_path / "targets.toml"
    path.write_text('[grdp]\nseries = "x"\nvariable = "grdp"\nlabel_en = "GRDP"\n', encoding="utf-8")
    with pytest.raises(InvalidValueError, match="grdp.label_ko"):
        target_label(grdp, path)


def test_fit_figures_are_bilingual_with_axis_labels_and_shown_units():
    import matplotlib.pyplot as plt

    years = np.arange(2001, 2006)
    target = Target("population", "pop_registered", "total population", years, np.full((5, 17), 2.5e6), 1, 1.0, 1.0)
    fig = fit_figure(target.observed * 1.01, target)
    texts = [t.get_text() for t in fig.findobj(plt.Text) if t.get_text()]
    plt.close(fig)
    title = fig.get_suptitle()
    assert "보정 적합" in title and "Calibration fit" in title and "인구" in title and "Population" in title
    assert f"{region_name('11', 'ko')} {region_name('11', 'en')}" in texts
    assert "천 명\n[thousand persons]" in texts and "연도 Year" in texts
    assert any("DT_1B040A3" in t for t in texts)
    line = fig.axes[0].get_lines()[1]
    assert line.get_ydata()[0] == pytest.approx(2500.0)  # shown in thousand persons: no 1e6 offset
