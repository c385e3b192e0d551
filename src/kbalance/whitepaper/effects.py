"""How each scenario acts, computed from the runs: the levers it moves (model/levers.toml),
the model variables each lever enters directly (the equations of model/kbalance.mdl), the
paired difference from the baseline of the headline indicators (median and 5–95 % band over
the ensemble members) and the regions whose population gains and loses most.

Nothing here is written by hand: a new scenario, lever or equation changes the text."""

from __future__ import annotations

import html

import pandas as pd

from kbalance.model.diagram import dependency_graph
from kbalance.model.indicators import indicator
from kbalance.model.inputs import read_levers
from kbalance.regions import region_name
from kbalance.sensitivity.levers import dependents, model_names
from kbalance.whitepaper.analysis import BASE, Whitepaper, member_quantiles, scenario_label, table_years

#: The headline indicators of the explanation, in order.
HEADLINE = ("capital_share", "population", "local_tax_share", "fiscal_autonomy_mean", "fiscal_autonomy_cv",
            "grdp_pc_cv", "regions_at_risk")
#: Regions named on each side (largest population gain and loss against the baseline).
REGIONS_SHOWN = 2

TEXT = {
    "heading": ("How each scenario acts: levers, model variables and effects against the baseline",
                "시나리오별 작용: 정책수단, 모형 변수, 기준 시나리오 대비 효과"),
    "intro": ("Computed from the runs: the levers each scenario sets, the model variables each lever enters "
              "directly (model/kbalance.mdl), and the paired difference from the baseline in {y} "
              "(median [5–95 %] over {n:,} ensemble members).",
              "실행 결과에서 계산: 각 시나리오가 설정하는 정책수단, 각 수단이 직접 들어가는 모형 변수(model/kbalance.mdl), "
              "{y}년 기준 시나리오 대비 대응 차이(앙상블 {n:,}개의 중앙값 [5–95 %])."),
    "levers": ("Levers", "정책수단"), "through": ("enters", "작용 변수"),
    "effects": ("Effects in {y}", "{y}년 효과"),
    "better": ("better for balance", "균형에 유리"), "worse": ("worse for balance", "균형에 불리"),
    "unclear": ("band includes zero", "구간이 0을 포함"), "none": ("no change", "변화 없음"),
    "regions": ("Population against the baseline in {y}: largest gains {up}; largest losses {down}",
                "{y}년 기준 대비 인구: 증가 폭 상위 {up}; 감소 폭 상위 {down}"),
    "no_levers": ("sets no lever: the baseline's paths", "정책수단 설정 없음: 기준 시나리오 경로"),
}


def tr(key: str, lang: str, **kwargs) -> str:
    """The text ``key`` in ``lang`` ("ko" or "en"), formatted with ``kwargs``."""
    value = TEXT[key][lang == "ko"]
    return value.format(**kwargs) if kwargs else value


def lever_channels() -> dict[str, list[str]]:
    """Lever key (model/levers.toml) → the model variables whose equations use the lever's
    variable directly, sorted."""
    py = model_names()
    real = {v: k for k, v in py.items()}
    users = dependents(dependency_graph())
    return {key: sorted(real.get(n, n) for n in users.get(py.get(spec["model"]), ()))
            for key, spec in read_levers().items()}


def indicator_effects(wp: Whitepaper, scenario: str, year: int) -> pd.DataFrame:
    """Paired differences scenario − baseline of the :data:`HEADLINE` indicators in ``year``:
    indicator, q05 … q95 [the indicator's unit] and ``sign`` (+1 better for balance by the
    indicator's direction, −1 worse, 0 when the 5–95 % band includes zero or the indicator
    has no direction)."""
    rows = []
    for key in HEADLINE:
        if key not in wp.members:
            continue
        diff = wp.members[key].sel(scenario=scenario, year=year) - wp.members[key].sel(scenario=BASE, year=year)
        q = member_quantiles(diff)
        clear = q["q05"] > 0 or q["q95"] < 0
        sign = int(clear) * indicator(key).direction * (1 if q["q50"] > 0 else -1)
        rows.append({"indicator": key, **q, "sign": sign})
    return pd.DataFrame(rows)


def region_effects(wp: Whitepaper, scenario: str, year: int) -> pd.Series:
    """Median over members of the paired population difference from the baseline by region
    in ``year`` [% of the baseline], largest first."""
    pop = wp.members["region_population"].sel(year=year)
    change = (pop.sel(scenario=scenario) / pop.sel(scenario=BASE) - 1) * 100
    return change.median("member").to_pandas().sort_values(ascending=False)


def _effect_text(row, lang: str) -> str:
    ind = indicator(row.indicator)
    d = ind.digits + 1
    if row.q05 == row.q95 == 0:
        word = tr("none", lang)
    else:
        word = {1: tr("better", lang), -1: tr("worse", lang), 0: tr("unclear", lang) if row.q05 <= 0 <= row.q95
                else ""}[row.sign]
    value = f"{row.q50:+.{d}f} [{row.q05:+.{d}f}, {row.q95:+.{d}f}] {ind.difference_unit(lang)}"
    return f"{html.escape(ind.short(lang))} {html.escape(value)}" + (f" ({word})" if word else "")


def scenario_paragraph(wp: Whitepaper, scenario: str, year: int, channels: dict[str, list[str]]) -> str:
    """The explanation of one scenario as HTML: levers and their channels, headline effects,
    regions gaining and losing most."""
    lang, levers = wp.lang, read_levers()
    steps = wp.scenarios[scenario].steps
    moved = list(dict.fromkeys(st.lever for st in steps))
    if not moved:
        lever_text = tr("no_levers", lang)
    else:
        items = []
        for key in moved:
            spec = levers.get(key, {})
            label = spec.get("label_ko" if lang == "ko" else "label_en", key)
            unit = spec.get("unit_ko" if lang == "ko" else "unit", "")
            path = ", ".join(f"{st.target:g} {unit} ({st.start:g}+{st.ramp:g})".replace(" 1 (", " (")
                             for st in steps if st.lever == key)
            through = ", ".join(f"<code>{html.escape(v)}</code>" for v in channels.get(key, []))
            items.append(f"{html.escape(label)} → {html.escape(path)}; {tr('through', lang)}: {through}")
        lever_text = "; ".join(items)
    effects = "; ".join(_effect_text(r, lang) for r in indicator_effects(wp, scenario, year).itertuples())
    regions = region_effects(wp, scenario, year)
    shown = [f"{region_name(c, lang)} {v:+.2f} %" for c, v in regions.items()]
    region_text = tr("regions", lang, y=year, up=", ".join(shown[:REGIONS_SHOWN]),
                     down=", ".join(reversed(shown[-REGIONS_SHOWN:])))
    return (f"<p><b>{html.escape(scenario_label(scenario, lang))}</b></p><ul><li>{tr('levers', lang)}: {lever_text}.</li>"
            f"<li>{tr('effects', lang, y=year)}: {effects}.</li><li>{html.escape(region_text)}.</li></ul>")


def effects_html(wp: Whitepaper) -> str:
    """The section explaining every scenario other than the baseline (last comparison year)."""
    year = table_years(wp.until)[-1]
    channels = lever_channels()
    names = [n for n in wp.scenarios if n != BASE and n in wp.members["scenario"].values]
    parts = [f"<h3>{tr('heading', wp.lang)}</h3>",
             f"<p>{tr('intro', wp.lang, y=year, n=int(wp.members.sizes['member']))}</p>"]
    parts += [scenario_paragraph(wp, name, year, channels) for name in names]
    return "\n".join(parts)


__all__ = ["HEADLINE", "REGIONS_SHOWN", "TEXT", "effects_html", "indicator_effects", "lever_channels", "region_effects",
           "scenario_paragraph", "tr"]
