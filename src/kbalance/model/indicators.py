"""The reported indicators (model/indicators.toml): which model variable each one is
and how to show it.

Every indicator is a variable of model/kbalance.mdl, so both engines compute it; the
file adds only the display: scale and unit, labels in English and Korean, the better
direction, the decimals of tables, and whether it is national, regional or per 5+3
bloc. Consumers (white paper, sensitivity analysis) read it through
:func:`read_indicators` and hold no indicator formula or label of their own::

    ind = read_indicators()["population"]
    ind.values(results)          # results["national population"] * 1e-6 [million persons]
    ind.label("ko"), ind.unit("ko")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import xarray as xr

from kbalance.errors import InvalidValueError, KbalanceInputError
from kbalance.paths import model_dir, read_toml

LEVELS = ("national", "regional", "bloc")
DIRECTIONS = (-1, 0, 1)
REQUIRED = ("variable", "level", "scale", "unit_en", "unit_ko", "direction", "digits", "label_en", "label_ko")
OPTIONAL = ("short_en", "short_ko")
#: Optional classes of the shown value (bounds, one label more than bounds in each language, a reference key).
CLASS_FIELDS = ("classes", "class_labels_en", "class_labels_ko", "class_ref")
MAX_DIGITS = 8


@dataclass(frozen=True)
class Indicator:
    """One reported indicator.

    key : str  name in results and tables, e.g. ``"capital_share"``
    variable : str  the model variable, e.g. ``"capital region share"``
    level : str  "national" (no subscript), "regional" (per Region) or "bloc" (per
        Region, every region holding its 5+3 bloc's value)
    scale : float  shown value = model value × scale
    unit_en, unit_ko : str  unit of the shown value
    direction : int  +1 when higher is better for regional balance, -1 when lower is, 0 neither
    digits : int  decimals in tables
    label_en, label_ko : str  labels
    short_en, short_ko : str  short labels for figures (the labels when not given)
    classes : tuple of float  increasing class bounds of the shown value (empty: no classes)
    class_labels_en, class_labels_ko : tuple of str  one label per class (len(classes) + 1)
    class_ref : str  reference key of the classification (docs/references.md)
    """

    key: str
    variable: str
    level: str
    scale: float
    unit_en: str
    unit_ko: str
    direction: int
    digits: int
    label_en: str
    label_ko: str
    short_en: str
    short_ko: str
    classes: tuple[float, ...] = ()
    class_labels_en: tuple[str, ...] = ()
    class_labels_ko: tuple[str, ...] = ()
    class_ref: str = ""

    def label(self, lang: str) -> str:
        """The label in ``lang`` ("ko" or "en")."""
        return self.label_ko if lang == "ko" else self.label_en

    def short(self, lang: str) -> str:
        """The short label in ``lang`` ("ko" or "en")."""
        return self.short_ko if lang == "ko" else self.short_en

    def unit(self, lang: str) -> str:
        """The unit of the shown value in ``lang`` ("ko" or "en")."""
        return self.unit_ko if lang == "ko" else self.unit_en

    def difference_unit(self, lang: str) -> str:
        """The unit of a difference of two shown values in ``lang``: percentage points
        ("%p") for a percentage, else the unit itself."""
        unit = self.unit(lang)
        return "%p" + unit[1:] if unit.startswith("%") else unit

    def class_labels(self, lang: str) -> tuple[str, ...]:
        """The class labels in ``lang`` ("ko" or "en"), lowest class first."""
        return self.class_labels_ko if lang == "ko" else self.class_labels_en

    def values(self, results: xr.Dataset) -> xr.DataArray:
        """The shown values [``unit_en``]: the model variable of ``results`` times ``scale``."""
        array = results[self.variable]
        return array if self.scale == 1 else array * self.scale


def indicators_file() -> Path:
    """model/indicators.toml."""
    return model_dir() / "indicators.toml"


def _text(path: Path, key: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValueError(path, f"{key}.{field}", value, "a non-empty string")
    return value


def _integer(path: Path, key: str, field: str, value: object, allowed: tuple[int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise InvalidValueError(path, f"{key}.{field}", value, allowed)
    return value


def _classes(path: Path, key: str, spec: dict) -> dict:
    """The optional class fields of an entry, checked: all or none, increasing finite
    bounds, one label per class in each language."""
    given = [f for f in CLASS_FIELDS if f in spec]
    if not given:
        return {}
    if len(given) < len(CLASS_FIELDS):
        missing = next(f for f in CLASS_FIELDS if f not in spec)
        raise KbalanceInputError(path, f"{key}.{missing}", "missing", "all of " + ", ".join(CLASS_FIELDS) + " or none")
    bounds = spec["classes"]
    if (not isinstance(bounds, list) or not bounds
            or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) for b in bounds)
            or any(a >= b for a, b in zip(bounds, bounds[1:]))):
        raise InvalidValueError(path, f"{key}.classes", bounds, "a list of increasing finite numbers")
    out = {"classes": tuple(float(b) for b in bounds), "class_ref": _text(path, key, "class_ref", spec["class_ref"])}
    for field in ("class_labels_en", "class_labels_ko"):
        labels = spec[field]
        if not isinstance(labels, list) or len(labels) != len(bounds) + 1:
            raise InvalidValueError(path, f"{key}.{field}", labels, f"a list of {len(bounds) + 1} labels (one per class)")
        out[field] = tuple(_text(path, key, field, label) for label in labels)
    return out


def _indicator(path: Path, key: str, spec: object) -> Indicator:
    if not isinstance(spec, dict):
        raise InvalidValueError(path, key, spec, "a table [" + key + "] with fields " + ", ".join(REQUIRED))
    unknown = sorted(set(spec) - set(REQUIRED) - set(OPTIONAL) - set(CLASS_FIELDS))
    if unknown:
        raise InvalidValueError(path, f"{key}.{unknown[0]}", spec[unknown[0]],
                                "fields " + ", ".join(REQUIRED + OPTIONAL + CLASS_FIELDS))
    missing = [f for f in REQUIRED if f not in spec]
    if missing:
        raise KbalanceInputError(path, f"{key}.{missing[0]}", "missing", "fields " + ", ".join(REQUIRED))
    level = spec["level"]
    if level not in LEVELS:
        raise InvalidValueError(path, f"{key}.level", level, LEVELS)
    scale = spec["scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise InvalidValueError(path, f"{key}.scale", scale, "a finite positive number")
    texts = {f: _text(path, key, f, spec[f]) for f in ("variable", "unit_en", "unit_ko", "label_en", "label_ko")}
    shorts = {f: _text(path, key, f, spec[f]) if f in spec else texts[f.replace("short", "label")] for f in OPTIONAL}
    return Indicator(key=key, level=level, scale=float(scale),
                     direction=_integer(path, key, "direction", spec["direction"], DIRECTIONS),
                     digits=_integer(path, key, "digits", spec["digits"], tuple(range(MAX_DIGITS + 1))),
                     **texts, **shorts, **_classes(path, key, spec))


@lru_cache(maxsize=4)
def _read(path: Path) -> tuple[Indicator, ...]:
    table = read_toml(path, "indicators", "[<key>] tables with fields " + ", ".join(REQUIRED))
    if not table:
        raise KbalanceInputError(path, "(file)", "no indicators", "at least one [<key>] table")
    return tuple(_indicator(path, key, spec) for key, spec in table.items())


def read_indicators(path: Path | None = None, level: str | None = None) -> dict[str, Indicator]:
    """The indicators by key, in file order.

    path : Path, optional  an indicators file (default model/indicators.toml)
    level : str, optional  only the indicators of this level (one of :data:`LEVELS`)
    Raises :class:`kbalance.errors.KbalanceInputError` naming the file and field of a bad entry.
    """
    path = Path(path) if path else indicators_file()
    if level is not None and level not in LEVELS:
        raise InvalidValueError("read_indicators", "level", level, LEVELS)
    return {i.key: i for i in _read(path.resolve()) if level is None or i.level == level}


def indicator(key: str, path: Path | None = None) -> Indicator:
    """One indicator by key; :class:`kbalance.errors.InvalidValueError` for an unknown key."""
    found = read_indicators(path)
    if key not in found:
        raise InvalidValueError(Path(path) if path else indicators_file(), "(key)", key, tuple(found))
    return found[key]


def model_variables(keys: list[str] | tuple[str, ...] | None = None, path: Path | None = None) -> tuple[str, ...]:
    """The model variables of the indicators ``keys`` (default all), each once, in order."""
    keys = list(read_indicators(path)) if keys is None else keys
    return tuple(dict.fromkeys(indicator(k, path).variable for k in keys))


__all__ = ["DIRECTIONS", "LEVELS", "Indicator", "indicator", "indicators_file", "model_variables", "read_indicators"]
