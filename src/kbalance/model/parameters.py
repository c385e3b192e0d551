"""Parameter sets: the priors of calibration/parameters.toml and the fitted sets of
calibration/fitted/.

Both files are checked when read. Every entry of calibration/parameters.toml has a
``model`` constant of model/kbalance.mdl, ``unit``, ``default``, ``range`` (two finite
numbers, low < high), ``calibrate`` and ``reason``; the default lies in the range and,
for a subscripted parameter (``dims``), is one number or one per element. ``prior`` is
``"uniform"`` over the range (the default) or ``"normal"`` with ``prior_mean`` and a positive
``prior_sd`` [model units]; a subscripted parameter may give a positive ``spread`` [model
units], the standard deviation of its elements about their common mean. ``ensemble =
"prior"`` marks a parameter that is not fitted (``calibrate = false``) but drawn from its
normal prior for every ensemble member. A fitted set has a ``[values]`` table naming every
calibrated parameter (``calibrate = true``), with finite values in range, one per element
for a subscripted parameter; values of parameters the file no longer defines (a set fitted
to an earlier model) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kbalance.errors import InvalidValueError, MissingKeyError, keys_of, number_in, range_of, table_of
from kbalance.model.mdl import subscript_ranges, variable_names
from kbalance.outputs import file_hash
from kbalance.paths import calibration_dir, model_file, read_toml

#: The name of the set of defaults (the priors) in run manifests.
PRIORS_NAME = "parameters (priors)"
#: Keys every entry of calibration/parameters.toml has, and those it may have.
REQUIRED_KEYS = ("model", "unit", "default", "range", "calibrate", "reason")
OPTIONAL_KEYS = ("group", "dims", "prior", "prior_mean", "prior_sd", "ensemble", "spread", "status", "fixed_because")
#: Prior distributions an entry may name.
PRIORS = ("uniform", "normal")


@dataclass(frozen=True)
class ParameterSet:
    """Values of the model's free parameters.

    name : str  the set's name: the fitted set's file stem (``v6``), or :data:`PRIORS_NAME`
    values : dict  model constant → float, or list of floats for a subscripted one
    path : Path  the file read
    """

    name: str
    values: dict[str, float | list[float]]
    path: Path

    def sha256(self) -> str:
        return file_hash([self.path])


def check_definition(path: Path, key: str, spec: object) -> dict:
    """One entry of calibration/parameters.toml, checked (keys, types, range, default in range)."""
    spec = table_of(path, key, spec, f"a table [{key}] with " + ", ".join(REQUIRED_KEYS))
    keys_of(path, key, spec, REQUIRED_KEYS, OPTIONAL_KEYS)
    for name in ("model", "unit", "reason"):
        if not isinstance(spec[name], str) or not spec[name].strip():
            raise InvalidValueError(path, f"{key}.{name}", spec[name], "a non-empty string")
    if not isinstance(spec["calibrate"], bool):
        raise InvalidValueError(path, f"{key}.calibrate", spec["calibrate"], "true or false")
    if spec["calibrate"] and not isinstance(spec.get("group"), str):
        raise MissingKeyError(path, f"{key}.group", "a sensitivity group (a string) for a calibrated parameter")
    dims = spec.get("dims", [])
    if not isinstance(dims, list) or len(dims) > 1 or not all(isinstance(d, str) for d in dims):
        raise InvalidValueError(path, f"{key}.dims", dims, "a list of one subscript range of model/kbalance.mdl")
    low, high = range_of(path, f"{key}.range", spec["range"])
    default = spec["default"]
    for value in (default if isinstance(default, list) and dims else [default]):
        number_in(path, f"{key}.default", value, low, high)
    check_prior(path, key, spec)
    return spec


def check_prior(path: Path, key: str, spec: dict) -> None:
    """The prior of one entry: ``prior`` one of :data:`PRIORS`; a normal prior has a finite
    ``prior_mean`` and a positive ``prior_sd``, a uniform one neither; ``spread`` only on a
    subscripted parameter and positive; ``ensemble = "prior"`` only for an uncalibrated
    scalar parameter with a normal prior."""
    prior = spec.get("prior", "uniform")
    if prior not in PRIORS:
        raise InvalidValueError(path, f"{key}.prior", prior, list(PRIORS))
    if prior == "normal":
        for name in ("prior_mean", "prior_sd"):
            if name not in spec:
                raise MissingKeyError(path, f"{key}.{name}", "a number for a normal prior")
        number_in(path, f"{key}.prior_mean", spec["prior_mean"])
        if number_in(path, f"{key}.prior_sd", spec["prior_sd"]) <= 0:
            raise InvalidValueError(path, f"{key}.prior_sd", spec["prior_sd"], "a positive number")
    else:
        for name in ("prior_mean", "prior_sd"):
            if name in spec:
                raise InvalidValueError(path, f"{key}.{name}", spec[name], 'only with prior = "normal"')
    if "spread" in spec:
        if not spec.get("dims"):
            raise InvalidValueError(path, f"{key}.spread", spec["spread"], "only on a subscripted parameter (dims)")
        if number_in(path, f"{key}.spread", spec["spread"]) <= 0:
            raise InvalidValueError(path, f"{key}.spread", spec["spread"], "a positive number")
    if "ensemble" in spec:
        if spec["ensemble"] != "prior":
            raise InvalidValueError(path, f"{key}.ensemble", spec["ensemble"], ("prior",))
        if spec["calibrate"] or prior != "normal" or spec.get("dims"):
            raise InvalidValueError(path, f"{key}.ensemble", "prior", "a scalar parameter with calibrate = false "
                                    "and a normal prior")


def parameter_definitions(path: Path | None = None) -> dict[str, dict]:
    """The parameter table of calibration/parameters.toml (key → definition), each entry
    checked by :func:`check_definition`; no two entries name the same model constant."""
    path = Path(path or calibration_dir() / "parameters.toml")
    raw = read_toml(path, "parameters", "calibration/parameters.toml")
    if not raw:
        raise InvalidValueError(path, "(file)", "no parameters", "one table per free parameter")
    owner: dict[str, str] = {}
    for key, spec in raw.items():
        model = check_definition(path, key, spec)["model"]
        if model in owner:
            raise InvalidValueError(path, f"{key}.model", model, f"a constant no other entry names ({owner[model]} does)")
        owner[model] = key
    return raw


def fitted_versions() -> dict[int, Path]:
    """The fitted sets calibration/fitted/v<N>.toml by version number N, in increasing N."""
    found = {int(p.stem[1:]): p for p in (calibration_dir() / "fitted").glob("v*.toml") if p.stem[1:].isdigit()}
    return dict(sorted(found.items()))


def latest_fitted_set() -> Path | None:
    """calibration/fitted/v<N>.toml with the highest N, or None before any calibration."""
    versions = fitted_versions()
    return versions[max(versions)] if versions else None


def shipped_parameter_set() -> ParameterSet:
    """The parameter set runs use by default: the latest fitted set, else the priors."""
    return read_parameter_set(latest_fitted_set())


def element_count(path: Path, key: str, spec: dict) -> int | None:
    """Elements of a parameter's subscript range in model/kbalance.mdl (None: a scalar);
    InvalidValueError when the definition names no constant or no range of the model."""
    if spec["model"] not in variable_names():
        raise InvalidValueError(path, f"{key}.model", spec["model"], f"a constant of {model_file()}")
    dims = spec.get("dims")
    if not dims:
        return None
    ranges = subscript_ranges()
    if dims[0] not in ranges:
        raise InvalidValueError(path, f"{key}.dims", dims[0], sorted(ranges))
    return len(ranges[dims[0]])


def checked_value(path: Path, field: str, value: object, spec: dict, size: int | None, broadcast: bool) -> object:
    """A parameter value: a finite number in the range, or for a subscripted parameter a
    list of ``size`` of them (one number too when ``broadcast``, as defaults may)."""
    low, high = spec["range"]
    if size is None or (broadcast and not isinstance(value, list)):
        return number_in(path, field, value, low, high)
    if not isinstance(value, list) or len(value) != size:
        raise InvalidValueError(path, field, value, f"a list of {size} numbers in [{low:g}, {high:g}], "
                                f"one per element of {spec['dims'][0]}")
    return [number_in(path, field, v, low, high) for v in value]


def read_parameter_set(path: Path | None = None) -> ParameterSet:
    """Parameter values: the defaults of calibration/parameters.toml (the priors, named
    :data:`PRIORS_NAME`), or a fitted set.

    A fitted set (calibration/fitted/<version>.toml) has a ``[values]`` table mapping
    parameter keys to values; it names every calibrated parameter, and parameters it does
    not name keep their defaults; values of parameters calibration/parameters.toml no longer
    defines are ignored. KbalanceInputError naming the file and the key otherwise.
    """
    source = calibration_dir() / "parameters.toml"
    definitions = parameter_definitions(source)
    sizes = {key: element_count(source, key, spec) for key, spec in definitions.items()}
    values = {spec["model"]: checked_value(source, f"{key}.default", spec["default"], spec, sizes[key], True)
              for key, spec in definitions.items()}
    if path is None:
        return ParameterSet(PRIORS_NAME, values, source)
    path = Path(path)
    expected = "a [values] table naming every calibrated parameter of calibration/parameters.toml"
    raw = read_toml(path, "parameter set", expected)
    if "values" not in raw:
        raise MissingKeyError(path, "values", expected)
    fitted = table_of(path, "values", raw["values"], expected)
    for key, value in fitted.items():
        if key not in definitions:
            continue  # a parameter of an earlier model
        spec = definitions[key]
        values[spec["model"]] = checked_value(path, f"values.{key}", value, spec, sizes[key], False)
    missing = [key for key, spec in definitions.items() if spec["calibrate"] and key not in fitted]
    if missing:
        raise MissingKeyError(path, f"values.{missing[0]}", f"every calibrated parameter ({len(missing)} "
                              "missing: " + ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "") + ")")
    return ParameterSet(path.stem, values, path)


def defined_columns(columns) -> list[str]:
    """The columns of an ensemble table (``constant`` or ``constant[element]``) whose constant
    model/kbalance.mdl defines; columns of parameters the model no longer has are left out."""
    known = set(variable_names())
    return [c for c in columns if c.partition("[")[0].strip() in known]
