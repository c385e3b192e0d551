"""The fast engine's runtime: runs the code kbalance.engine.compiler generates.

The helpers of the first part are what the generated code calls (IF THEN ELSE, ZIDZ,
XIDZ, lookups, SUM of products); :func:`generated_functions` executes the generated
source with them. The second part integrates: constants with a member axis from a
members × parameters table (:func:`parameter_arrays`), Euler steps (:func:`simulate`)
and one chunk of members as a Dataset (:func:`run_fast`), in float64 or float32.

Array convention: a variable with subscripts ``(d1, …, dk)`` is an array of shape
``(M, n1, …, nk)`` where ``M`` is the number of members or 1 when the value is the
same for all members.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.engine import kernels, loops
from kbalance.engine.compiler import CompiledModel, EngineError, compile_model
from kbalance.errors import InvalidValueError
from kbalance.model import mdl

# ---------------------------------------------------------------------------
# Runtime helpers used by the generated code
# ---------------------------------------------------------------------------


def _float_type(*values) -> np.dtype:
    """The floating type numpy gives an operation on ``values`` (a Python number takes
    the type of the arrays it meets), float64 when none of them is floating."""
    dtype = np.result_type(*values)
    return dtype if dtype.kind == "f" else np.dtype(float)


def _same_floats(a, b) -> bool:
    """True when ``a`` and ``b`` are arrays of one floating type (the usual case: no
    conversion is needed)."""
    return type(a) is np.ndarray and type(b) is np.ndarray and a.dtype is b.dtype and a.dtype.kind == "f"


def zidz(a, b):
    """ZIDZ: a / b, 0 where b is 0."""
    if not _same_floats(a, b):
        dtype = _float_type(a, b)
        a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    out = np.zeros(np.broadcast(a, b).shape, a.dtype)
    return np.divide(a, b, out=out, where=b != 0)


def xidz(a, b, x):
    """XIDZ: a / b, x where b is 0."""
    dtype = _float_type(a, b, x)
    a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    out = np.empty(np.broadcast(a, b, x).shape, dtype)
    out[...] = x
    return np.divide(a, b, out=out, where=b != 0)


def if_then_else(condition: np.ndarray, then: Callable, otherwise: Callable, sizes: tuple[int, ...]):
    """IF THEN ELSE of arrays aligned to subscripts of ``sizes``: ``np.where`` of both
    branches where the condition varies, else only the branch taken (same values; the
    other is not computed). That branch keeps its own member axis (1 or all members); a
    branch may be a number, and the condition a truth value."""
    array = type(condition) is np.ndarray
    if condition.all() if array else np.all(condition):
        value = then()
    elif not (condition.any() if array else np.any(condition)):
        value = otherwise()
    else:
        return np.where(condition, then(), otherwise())
    value = np.asarray(value)
    return np.broadcast_to(value, (value.shape[0] if value.ndim else 1, *sizes))


_FLOAT64 = np.dtype(float)


def full(x, sizes: tuple[int, ...], dtype: np.dtype = _FLOAT64):
    """``x`` as a variable's value: of the run's floating type, with a member axis."""
    if type(x) is np.ndarray and x.dtype is dtype and x.shape[1:] == sizes and x.ndim == len(sizes) + 1:
        return x  # already one (most values): no conversion
    x = np.asarray(x, dtype=dtype)
    if x.ndim == 0:
        x = x.reshape(1)
    shape = (x.shape[0], *sizes)
    return x if x.shape == shape else np.broadcast_to(x, shape)


def _data(times: np.ndarray, values: np.ndarray, t: float):
    """Linear interpolation in time, holding the end values (PySD's data default)."""
    if t <= times[0]:
        return values[0]
    if t >= times[-1]:
        return values[-1]
    i = int(np.searchsorted(times, t, side="right")) - 1
    w = (t - times[i]) / (times[i + 1] - times[i])
    return values[i] * (1 - w) + values[i + 1] * w


def lookup(x, xs: np.ndarray, ys: np.ndarray):
    """A lookup table at ``x``: ``np.interp`` (which computes in float64), returned in the
    type of the table's values."""
    y = np.interp(x, xs, ys)
    return y if y.dtype == ys.dtype else np.asarray(y, ys.dtype)


@dataclass(frozen=True)
class _MatrixProduct:
    """A two-operand contraction done as one batched ``np.matmul`` (BLAS).

    ``SUM(out migration[Region!,Sex,Age] * destination share[Region!,To Region])`` is, for
    each member, the (To Region × Region) matrix times the (Region × Sex·Age) matrix. The
    operands are only transposed and reshaped (views where their layout allows), the
    member axis is matmul's batch axis (broadcast when one operand has a member axis of
    1), and the operand order is chosen so that the result comes out in the order of the
    output subscripts, C-contiguous. numpy's own einsum path for the same product copies
    its operands and, with a broadcast member axis, is up to ten times slower.
    """

    left: int  # which operand is the left matrix (0 or 1)
    left_axes: tuple[int, ...]  # its axes after the member axis: kept, then summed
    right_axes: tuple[int, ...]  # the right one's: summed, then kept
    rows: int  # size of the left operand's kept axes [elements]
    inner: int  # size of the summed axes [elements]
    cols: int  # size of the right operand's kept axes [elements]
    shape: tuple[int, ...]  # the result's subscript sizes, in (left kept, right kept) order
    order: tuple[int, ...] | None  # axes of the result to reach the output order, if not already

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        left, right = (a, b) if self.left == 0 else (b, a)
        left = np.transpose(left, (0, *(1 + i for i in self.left_axes))).reshape(-1, self.rows, self.inner)
        right = np.transpose(right, (0, *(1 + i for i in self.right_axes))).reshape(-1, self.inner, self.cols)
        out = np.matmul(left, right)
        out = out.reshape(out.shape[0], *self.shape)
        return out if self.order is None else np.ascontiguousarray(np.transpose(out, self.order))


def _matrix_product(spec: str, operands: Sequence[np.ndarray]) -> _MatrixProduct | None:
    """The matmul plan of a two-operand ``spec`` ("...abc,...ad->...dbc"), or None when it
    is not a plain matrix product: each operand keeps subscripts of its own, they share
    only summed ones, and nothing is summed within a single operand."""
    inputs, output = spec.replace("...", "").split("->")
    terms = inputs.split(",")
    if len(terms) != 2 or any(o.ndim != len(t) + 1 for o, t in zip(operands, terms)):
        return None
    x, y = terms
    summed = [c for c in x if c in y]
    if any(c in output for c in summed) or not summed:
        return None
    kept = ([c for c in x if c not in summed], [c for c in y if c not in summed])
    if not kept[0] or not kept[1] or sorted(kept[0] + kept[1]) != sorted(output):
        return None
    left = 1 if "".join(kept[1] + kept[0]) == output else 0  # the order that needs no transpose
    (lt, lk), (rt, rk) = ((x, kept[0]), (y, kept[1])) if left == 0 else ((y, kept[1]), (x, kept[0]))
    sizes = {c: n for t, o in zip(terms, operands) for c, n in zip(t, o.shape[1:])}
    result = lk + rk
    order = None if "".join(result) == output else (0, *(1 + result.index(c) for c in output))
    return _MatrixProduct(left=left, left_axes=tuple(lt.index(c) for c in lk + summed),
                          right_axes=tuple(rt.index(c) for c in summed + rk),
                          rows=int(np.prod([sizes[c] for c in lk])), inner=int(np.prod([sizes[c] for c in summed])),
                          cols=int(np.prod([sizes[c] for c in rk])), shape=tuple(sizes[c] for c in result), order=order)


def _contraction_plan(spec: str, operands: Sequence[np.ndarray]) -> _MatrixProduct | list | bool:
    """How :func:`sum_product` contracts ``spec``: a batched matmul for a plain matrix product
    (:class:`_MatrixProduct`); numpy's greedy einsum path for three or more operands;
    otherwise ``False``, numpy's single C loop, which for a product summed over a shared
    axis (a weighted sum) is several times cheaper than the path machinery. The choice
    depends only on the spec and the shapes, so a chunk's numbers do not depend on where
    it runs."""
    if spec.count(",") >= 2:
        return np.einsum_path(spec, *operands, optimize="greedy")[0]
    return _matrix_product(spec, operands) or False


_PLANS: dict[tuple, _MatrixProduct | list | bool] = {}


def sum_product(spec: str, *operands):
    """``SUM`` of a product: einsum with its contraction plan chosen once per spec and
    operand shapes (see :func:`_contraction_plan`)."""
    key = (spec, *(o.shape for o in operands))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _contraction_plan(spec, operands)
    if isinstance(plan, _MatrixProduct):
        return plan(*operands)
    return np.einsum(spec, *operands, optimize=plan)


#: The names the generated code calls, besides the functions it defines itself.
HELPERS = {"np": np, "zidz": zidz, "xidz": xidz, "full": full, "lookup": lookup,
           "sum_product": sum_product, "if_then_else": if_then_else}


@lru_cache(maxsize=2)
def generated_functions(model: CompiledModel) -> dict[str, Callable]:
    """The generated source of ``model`` executed with :data:`HELPERS`: name → function
    (``v_<py>``, ``flow_<py>``, ``init_<py>``) and ``INITIALS``; once per process."""
    namespace = dict(HELPERS)
    exec(compile(model.source, "<kbalance engine>", "exec"), namespace)  # noqa: S102 (generated)
    return namespace


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


#: Floating types the engine computes in: float64 (the default; PySD's, for parity) or
#: float32 (half the memory traffic and vectorised ``exp``; see docs/engine.md).
DTYPES = ("float64", "float32")


def check_dtype(dtype: object, where: str = "run_fast", field: str = "dtype") -> np.dtype:
    """``dtype`` as a numpy type if it is one of :data:`DTYPES`, else InvalidValueError
    naming ``where``, the argument ``field`` and the allowed values."""
    try:
        name = None if dtype is None else np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise InvalidValueError(where, field, dtype, DTYPES)
    return np.dtype(name)


def _as_type(value, dtype: np.dtype):
    """A floating array in ``dtype``; index arrays and tuples unchanged."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype != dtype:
        return value.astype(dtype)
    return value


#: Execution paths: "fused" (element-wise chains as numba kernels, kbalance.engine.kernels),
#: "numpy" (one numpy operation at a time; the reference) or "auto" (fused when numba
#: imports, else numpy).
ENGINES = ("auto", "fused", "numpy")


def check_engine(engine: object, where: str = "run_fast") -> bool:
    """Whether ``engine`` (one of :data:`ENGINES`) runs the fused path; InvalidValueError
    naming ``where`` and the allowed values otherwise, or when "fused" is asked for and
    numba does not import."""
    if engine not in ENGINES:
        raise InvalidValueError(where, "engine", engine, ENGINES)
    if engine == "fused" and not kernels.available():
        raise InvalidValueError(where, "engine", engine, ("auto", "numpy (numba is not installed)"))
    return engine == "fused" or (engine == "auto" and kernels.available())


def model_kernels(model: CompiledModel, dtype: str | np.dtype = "float64") -> kernels.Kernels:
    """The fused kernels of ``model`` compiled for ``dtype`` (once per process; numba's
    cache in ``kernels/`` of the model cache folder, outside the checkout); their
    ``seconds`` is the time compiling or loading them took."""
    return kernels.load(model.kernels, model.kernel_names, np.dtype(dtype).name, mdl.cache_dir() / "kernels")


class _State:
    def __init__(self, model: CompiledModel, constants: dict[str, np.ndarray], members: int,
                 dtype: np.dtype = _FLOAT64):
        self.dtype = dtype
        self.k = model_kernels(model, dtype).functions if model.fused else None  # the fused kernels
        self.c = {k: _as_type(v, dtype) for k, v in constants.items()}
        self.m = members
        self.model = model
        self.time = model.initial_time
        self.cache: dict[str, np.ndarray] = {}  # values of the current step
        self.static: dict[str, np.ndarray] = {}  # values that do not change during the run
        self.initials: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.lookups = {k: (x, _as_type(y, dtype)) for k, (x, y) in model.lookups.items()}
        self.data = {k: (t, _as_type(v, dtype)) for k, (t, v) in model.data.items()}

    def data_at(self, py: str):
        """A data series at this step's time, interpolated once per step."""
        key = ("data", py)
        value = self.cache.get(key)
        if value is None:
            times, values = self.data[py]
            value = self.cache[key] = _data(times, values, self.time)
        return value


class _LazyStocks(dict):
    """Stock values during initialization: computed on first use from their initial value."""

    def __init__(self, model: CompiledModel, s: _State):
        super().__init__()
        self.f, self.s, self.busy = generated_functions(model), s, set()

    def __missing__(self, key):
        if key in self.busy:
            raise EngineError(f"circular initialization through stock {key!r}")
        self.busy.add(key)
        value = np.array(self.f[f"init_{key}"](self.s), dtype=self.s.dtype)
        self[key] = value
        return value


def parameter_arrays(model: CompiledModel, parameters: pd.DataFrame | None,
                     constants: dict[str, float] | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Constants with a member axis from a members × parameters table.

    parameters : DataFrame, optional  one row per member; columns are model constant
        names ("regional fertility factor") setting every element, or "name[element]"
        setting one element
    constants : dict, optional  constant name → value for every member (scenario levers)
    Returns the constants and the number of members.
    """
    values = dict(model.constants)
    members = 1 if parameters is None else len(parameters)
    for name, value in (constants or {}).items():
        py = _py_name(model, name)
        values[py] = np.broadcast_to(np.asarray(value, float), values[py].shape).copy()
    if parameters is not None:
        for column in parameters.columns:
            name, _, element = column.partition("[")
            py = _py_name(model, name.strip())
            column_values = parameters[column].to_numpy(float)
            if not np.isfinite(column_values).all():
                raise InvalidValueError("parameters", column, "NaN or infinite", "finite numbers")
            base = values[py]
            full = np.array(np.broadcast_to(base, (members, *base.shape[1:])), dtype=float)
            if element:
                element = element.rstrip("]")
                dims = model.dims[py]
                hits = [(i, model.subscripts[d].index(element)) for i, d in enumerate(dims)
                        if element in model.subscripts[d]]
                if not hits:
                    raise InvalidValueError("parameters", column, element, "an element of " + ", ".join(dims))
                axis, index = hits[0]
                full[(slice(None),) * (axis + 1) + (index,)] = column_values.reshape((members,) + (1,) * (len(dims) - 1))
            else:
                full[...] = column_values.reshape((members,) + (1,) * (full.ndim - 1))
            values[py] = full
    return values, members


def _py_name(model: CompiledModel, name: str) -> str:
    if name in model.names:
        py = model.names[name]
        if py in model.constants:
            return py
    raise InvalidValueError("parameters", name, "not a constant of the model", "constants of model/kbalance.mdl")


def simulate(model: CompiledModel, constants: dict[str, np.ndarray], members: int, until: float,
             variables: Sequence[str], dtype: str | np.dtype = "float64") -> dict[str, np.ndarray]:
    """Run the compiled model; returns py-name → float64 array (time, member, *dims).

    dtype : "float64" or "float32"  the type every value is computed in (see
        :data:`DTYPES`); the results are returned as float64 either way

    BLAS runs on one thread here: the contractions are small matrix products, for which
    OpenBLAS's extra threads cost more CPU time than they save (about half as much again
    on the 2-core benchmark machine), and an ensemble already keeps every core busy
    with one process per core.
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        return _integrate(model, constants, members, until, variables, check_dtype(dtype, "simulate"))


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _integrate(model: CompiledModel, constants: dict[str, np.ndarray], members: int, until: float,
               variables: Sequence[str], dtype: np.dtype) -> dict[str, np.ndarray]:
    """Euler integration from the model's initial time to ``until`` [year] (see :func:`simulate`)."""
    s = _State(model, constants, members, dtype)
    f = generated_functions(model)
    s.state = _LazyStocks(model, s)
    for stock in model.stocks:
        _ = s.state[stock]
    for key in f["INITIALS"]:
        f[key](s)
    s.state = dict(s.state)
    s.u, updates = loops.stock_updates(model, dtype, f)
    step = dtype.type(model.time_step)
    times = np.arange(model.initial_time, until + model.time_step / 2, model.time_step)
    records = {v: np.empty((len(times), members, *_sizes(model, v))) for v in variables}
    for i, t in enumerate(times):
        s.time = float(t)
        for v in variables:
            records[v][i] = f[f"v_{v}"](s)
        if i == len(times) - 1:
            break
        nxt = {k: update(s, step) for k, update in updates.items()}  # flow and Euler step in one loop
        flows = {k: f[f"flow_{k}"](s) for k in model.stocks if k not in nxt}
        s.state = {k: nxt[k] if k in nxt else s.state[k] + model.time_step * flows[k] for k in model.stocks}
        s.cache = {}
    return records


def _sizes(model: CompiledModel, py: str) -> tuple[int, ...]:
    return tuple(len(model.subscripts[d]) for d in model.dims[py])


def run_fast(parameters: pd.DataFrame | None, constants: dict[str, float] | None, until: int,
             variables: Sequence[str], dtype: str | np.dtype = "float64", engine: str = "numpy") -> xr.Dataset:
    """Run members of the model with the fast engine (one chunk, in this process).

    parameters : DataFrame, optional  members × parameter values (see :func:`parameter_arrays`)
    constants : dict, optional  model constant → value for all members (scenario levers)
    until : int  last year [year]
    variables : model variable names ("Real Name")
    dtype : "float64" (default, PySD's arithmetic) or "float32" (faster, for large
        ensembles; see docs/engine.md for its accuracy)
    engine : "numpy" (default: the reference path), "fused" or "auto" (fused when numba imports; see :data:`ENGINES`)
    Returns a Dataset over (member, year, subscripts…), float64 whatever ``dtype``.
    """
    dtype = check_dtype(dtype, "run_fast")
    model = compile_model(check_engine(engine, "run_fast"))
    pys = []
    for name in variables:
        if name not in model.names:
            raise InvalidValueError("kbalance run", "variables", name, "variables of model/kbalance.mdl")
        pys.append(model.names[name])
    values, members = parameter_arrays(model, parameters, constants)
    values["final_time"] = np.array([float(until)])
    raw = simulate(model, values, members, until, pys, dtype)
    years = np.arange(model.initial_time, until + model.time_step / 2, model.time_step).astype(int)
    out = {}
    for name, py in zip(variables, pys):
        dims = model.dims[py]
        array = np.moveaxis(raw[py], 1, 0)  # member, time, dims
        out[name] = xr.DataArray(array, dims=("member", "year", *dims),
                                 coords={"member": np.arange(members), "year": years,
                                         **{d: model.subscripts[d] for d in dims}},
                                 attrs={"units": model.units[py]})
    return xr.Dataset(out)


__all__ = [
    "DTYPES", "ENGINES", "HELPERS", "check_dtype", "check_engine", "model_kernels", "full", "generated_functions", "if_then_else", "lookup",
    "parameter_arrays", "run_fast", "simulate", "sum_product", "xidz", "zidz",
]
