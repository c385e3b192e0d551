"""Fast ensemble engine generated from model/kbalance.mdl.

The model file is parsed by PySD's own Vensim translator into its abstract model
(PySD's translator → abstract model step); this module compiles that abstract model
into plain numpy code in which every array carries a leading *member* axis, so N
parameter sets run at once. The equations are never written a second time: the
generated code is derived from the parse of the .mdl at run time. Constants, data
and lookups are read through PySD's own loaders (the translated model), so both
engines see the same inputs. See docs/engine.md for the design and its limits.

Array convention: a variable with subscripts ``(d1, …, dk)`` is an array of shape
``(M, n1, …, nk)`` where ``M`` is the number of members or 1 when the value is the
same for all members.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.vensim.vensim_file import VensimFile

from kbalance.errors import InvalidValueError


class EngineError(RuntimeError):
    """The model uses a construct the fast engine does not compile."""


# ---------------------------------------------------------------------------
# Runtime helpers used by the generated code
# ---------------------------------------------------------------------------


def _float_type(*values) -> np.dtype:
    """The floating type numpy gives an operation on ``values`` (a Python number takes
    the type of the arrays it meets), float64 when none of them is floating."""
    dtype = np.result_type(*values)
    return dtype if dtype.kind == "f" else np.dtype(float)


def _zidz(a, b):
    dtype = _float_type(a, b)
    a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    out = np.zeros(np.broadcast(a, b).shape, dtype)
    return np.divide(a, b, out=out, where=b != 0)


def _xidz(a, b, x):
    dtype = _float_type(a, b, x)
    a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    out = np.empty(np.broadcast(a, b, x).shape, dtype)
    out[...] = x
    return np.divide(a, b, out=out, where=b != 0)


def _if(condition: np.ndarray, then: Callable, otherwise: Callable, sizes: tuple[int, ...]):
    """IF THEN ELSE of arrays aligned to subscripts of ``sizes``: ``np.where`` of both
    branches where the condition varies, else only the branch taken (same values; the
    other is not computed). That branch keeps its own member axis (1 or all members)."""
    if condition.all():
        value = then()
    elif not condition.any():
        value = otherwise()
    else:
        return np.where(condition, then(), otherwise())
    return np.broadcast_to(value, (value.shape[0], *sizes))


_FLOAT64 = np.dtype(float)


def _full(x, sizes: tuple[int, ...], dtype: np.dtype = _FLOAT64):
    """``x`` as a variable's value: of the run's floating type, with a member axis."""
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


def _lookup(x, xs: np.ndarray, ys: np.ndarray):
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
    """How :func:`_esum` contracts ``spec``: a batched matmul for a plain matrix product
    (:class:`_MatrixProduct`); numpy's greedy einsum path for three or more operands;
    otherwise ``False``, numpy's single C loop, which for a product summed over a shared
    axis (a weighted sum) is several times cheaper than the path machinery. The choice
    depends only on the spec and the shapes, so a chunk's numbers do not depend on where
    it runs."""
    if spec.count(",") >= 2:
        return np.einsum_path(spec, *operands, optimize="greedy")[0]
    return _matrix_product(spec, operands) or False


_PLANS: dict[tuple, _MatrixProduct | list | bool] = {}


def _esum(spec: str, *operands):
    """``SUM`` of a product: einsum with its contraction plan chosen once per spec and
    operand shapes (see :func:`_contraction_plan`)."""
    key = (spec, *(o.shape for o in operands))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _contraction_plan(spec, operands)
    if isinstance(plan, _MatrixProduct):
        return plan(*operands)
    return np.einsum(spec, *operands, optimize=plan)


_RUNTIME = {"np": np, "_zidz": _zidz, "_xidz": _xidz, "_full": _full, "_data": _data, "_lookup": _lookup,
            "_esum": _esum, "_if": _if}


# ---------------------------------------------------------------------------
# Compiler
# ---------------------------------------------------------------------------


def _index_tuple(index: list[list[int]]) -> tuple:
    """Index of a piece of an array (one list of positions per axis): a slice for each
    run of consecutive positions, else the open mesh of ``np.ix_``. Slices give a view,
    so assigning through them copies once instead of gathering element by element."""
    if all(i == list(range(i[0], i[-1] + 1)) for i in index):
        return tuple(slice(i[0], i[-1] + 1) for i in index)
    return np.ix_(*[np.array(i) for i in index])


@dataclass
class _Expr:
    code: str
    dims: tuple[str, ...]  # subscripts of the axes after the member axis
    literal: bool = False  # a plain Python number: no member axis


@dataclass
class CompiledModel:
    """The model compiled for the fast engine.

    source : str  the generated Python code (one function per variable)
    dims : dict  variable py-name → its subscripts
    stocks : list  py-names of the stocks
    subscripts : dict  subscript range → elements
    names : dict  model name ("Real Name") → py-name
    units : dict  py-name → units
    constants : dict  py-name → value with a member axis of 1 (and index tables of the code)
    data, lookups : dict  py-name → (times or x values, values), from PySD's loaders
    initial_time, time_step : float  [year]
    functions : dict  the namespace of the executed source
    """

    source: str
    dims: dict[str, tuple[str, ...]]
    stocks: list[str]
    subscripts: dict[str, list[str]]
    names: dict[str, str]
    units: dict[str, str]
    constants: dict[str, np.ndarray]
    data: dict[str, tuple[np.ndarray, np.ndarray]]
    lookups: dict[str, tuple[np.ndarray, np.ndarray]]
    initial_time: float
    time_step: float
    functions: dict[str, Callable] = field(default_factory=dict)


class _Compiler:
    """Turns PySD's abstract model into Python source, one function per variable.

    Each expression compiles to code and the subscripts of its axes; subscript
    algebra (ranges, subranges, mapped ranges, single elements, bang sums) is resolved
    here, so the generated code is plain numpy indexing and broadcasting.
    """

    def __init__(self, abstract, pysd_model):
        section = abstract.sections[0]
        self.model = pysd_model
        self.subscripts: dict[str, list[str]] = {}
        self.family: dict[str, str] = {}  # range → root dimension
        self.mapping: dict[str, list[str]] = {}
        for rng in section.subscripts:
            if isinstance(rng.subscripts, str):  # a copy: To Region <-> Region
                self.subscripts[rng.name] = list(self.subscripts[rng.subscripts])
                self.family[rng.name] = rng.name
            else:
                self.subscripts[rng.name] = list(rng.subscripts)
            self.mapping[rng.name] = list(rng.mapping or [])
        for name, elements in self.subscripts.items():
            if name in self.family:
                continue
            roots = [r for r, e in self.subscripts.items()
                     if r != name and set(elements) < set(e) and len(e) > len(elements)]
            self.family[name] = max(roots, key=lambda r: len(self.subscripts[r])) if roots else name
        self.element_dim = {}
        for name, elements in self.subscripts.items():
            if self.family[name] == name:
                for e in elements:
                    self.element_dim.setdefault(e, name)
        self.range_py = {n.lower().replace(" ", "_"): n for n in self.subscripts}
        doc = pysd_model.doc
        self.doc = doc.set_index("Py Name")
        self.names = dict(zip(doc["Real Name"], doc["Py Name"]))
        self.elements = {}
        for el in section.elements:
            py = self.names.get(el.name)
            if py is not None:
                self.elements[py] = el
        self.dims: dict[str, tuple[str, ...]] = {}
        for py, el in self.elements.items():
            first = el.components[0].subscripts[0]
            self.dims[py] = tuple(self._root_of(s) for s in first)
        self.kind: dict[str, str] = {}
        for py, el in self.elements.items():
            row_type = self.doc.loc[py, "Type"]
            if isinstance(el.components[0].ast, ae.IntegStructure):
                self.kind[py] = "stock"
            else:
                self.kind[py] = {"Constant": "constant", "Lookup": "lookup", "Data": "data"}.get(row_type, "aux")
        self.initial_count = 0
        self.functions: list[str] = []
        self.static: dict[str, bool] = {}  # py-name → same value at every step of a run
        self.hoisting = False  # compiling inside a hoisted expression (hoist no deeper)
        self.hoisted_keys: dict[tuple, str] = {}  # (code, dims) → its _static_ function

    # -- subscripts -------------------------------------------------------------
    def _root_of(self, sub: str) -> str:
        sub = sub.rstrip("!")
        if sub in self.subscripts:
            return self.family[sub]
        if sub in self.element_dim:
            return self.element_dim[sub]
        raise EngineError(f"unknown subscript {sub!r}")

    def _size(self, dim: str) -> int:
        return len(self.subscripts[dim.rstrip("!")])

    # -- alignment --------------------------------------------------------------
    def align(self, e: _Expr, dst: Sequence[str]) -> str:
        if e.literal or tuple(e.dims) == tuple(dst):
            return e.code
        missing = [d for d in e.dims if d not in dst]
        if missing:
            raise EngineError(f"cannot align dims {e.dims} to {tuple(dst)}")
        order = sorted(range(len(e.dims)), key=lambda i: list(dst).index(e.dims[i]))
        code = e.code
        if order != list(range(len(e.dims))):
            code = f"np.transpose({code}, (0, {', '.join(str(i + 1) for i in order)}))"
        present = [e.dims[i] for i in order]
        if len(present) == len(dst):
            return code
        index = ", ".join(":" if d in present else "None" for d in dst)
        return f"({code})[:, {index}]"

    def union(self, exprs: Iterable[_Expr]) -> tuple[str, ...]:
        """The subscripts of an elementwise combination of ``exprs``.

        Ordered like the variable being compiled (``self.preferred``), then in order of
        appearance: the result then needs no transpose when it is stored, so every stored
        array is C-contiguous in its own subscript order (numpy's elementwise loops run
        several times faster on contiguous operands than on transposed ones).
        """
        dims: list[str] = []
        for e in exprs:
            for d in e.dims:
                if d not in dims:
                    dims.append(d)
        preferred = getattr(self, "preferred", ())
        rank = {d: i for i, d in enumerate(preferred)}
        return tuple(sorted(dims, key=lambda d: (rank.get(d, len(rank)), dims.index(d))))

    # -- expressions ------------------------------------------------------------
    # -- hoisting: what does not change during a run is computed once ----------
    def is_static(self, node) -> bool:
        """True when ``node`` has the same value at every step of a run: it reads only
        constants, lookups, ``INITIAL`` values and other such expressions, never ``Time``,
        data series or stocks."""
        if isinstance(node, (bool, int, float)):
            return True
        if isinstance(node, ae.ReferenceStructure):
            if node.reference == "time":
                return False
            return node.reference not in self.dims or self.static_variable(node.reference)
        if isinstance(node, (ae.ArithmeticStructure, ae.LogicStructure)):
            return all(self.is_static(a) for a in node.arguments)
        if isinstance(node, ae.CallStructure):
            return all(self.is_static(a) for a in node.arguments)
        return isinstance(node, ae.InitialStructure)

    def static_variable(self, py: str) -> bool:
        """True for a constant, a lookup, or an auxiliary built only from static expressions."""
        if py not in self.static:
            kind = self.kind[py]
            self.static[py] = kind in ("constant", "lookup")
            if kind == "aux":
                self.static[py] = all(self.is_static(c.ast) for c in self.elements[py].components)
        return self.static[py]

    def hoisted(self, node) -> _Expr:
        """A static compound expression inside a step's equation, as a function computed on
        its first use in a run and kept in ``s.static`` (identical code shares one)."""
        self.hoisting = True
        try:
            inner = self.compound(node)
        finally:
            self.hoisting = False
        if inner.literal:
            return inner
        key = self.hoisted_keys.get((inner.code, inner.dims))
        if key is None:
            key = self.hoisted_keys[(inner.code, inner.dims)] = f"_static_{len(self.hoisted_keys)}"
            self.functions.append(
                f"def {key}(s):\n"
                f"    v = s.static.get({key!r})\n"
                f"    if v is None:\n"
                f"        v = s.static[{key!r}] = {inner.code}\n"
                f"    return v\n")
        return _Expr(f"{key}(s)", inner.dims)

    def expr(self, node) -> _Expr:
        """Code and subscripts of an expression; static compound parts are hoisted."""
        compound = isinstance(node, (ae.ArithmeticStructure, ae.LogicStructure, ae.CallStructure))
        if compound and not self.hoisting and self.is_static(node):
            return self.hoisted(node)
        return self.compound(node)

    def compound(self, node) -> _Expr:
        if isinstance(node, bool):
            return _Expr(repr(float(node)), (), literal=True)
        if isinstance(node, (int, float)):
            return _Expr(repr(float(node)), (), literal=True)
        if isinstance(node, ae.ReferenceStructure):
            return self.reference(node)
        if isinstance(node, ae.ArithmeticStructure):
            return self.arithmetic(node)
        if isinstance(node, ae.LogicStructure):
            return self.logic(node)
        if isinstance(node, ae.CallStructure):
            return self.call(node)
        if isinstance(node, ae.InitialStructure):
            return self.initial(node.initial)
        raise EngineError(f"construct {type(node).__name__} is not compiled by the fast engine")

    def reference(self, node: ae.ReferenceStructure) -> _Expr:
        name = node.reference
        if name == "time":
            return _Expr("s.time", (), literal=True)
        if name in self.range_py and name not in self.dims:
            rng = self.range_py[name]
            const = f"_pos_{name}"
            self.positions[const] = np.arange(1, len(self.subscripts[rng]) + 1, dtype=float)[None, :]
            return _Expr(f"s.c[{const!r}]", (rng,))
        if name not in self.dims:
            raise EngineError(f"unknown variable {name!r}")
        dims = list(self.dims[name])
        code = f"v_{name}(s)"
        subs = node.subscripts.subscripts if node.subscripts else []
        if subs and len(subs) != len(dims):
            raise EngineError(f"{name}: {len(subs)} subscripts for {len(dims)} dimensions")
        out_dims: list[str] = []
        axis = 1
        for dim, sub in zip(dims, subs or dims):
            base = sub.rstrip("!")
            if base in self.subscripts:
                own, wanted = self.subscripts[dim], self.subscripts[base]
                if wanted != own:
                    index = [own.index(e) for e in wanted]
                    if index == list(range(index[0], index[-1] + 1)):  # a contiguous range: a view
                        code = f"({code})[{', '.join([':'] * axis + [f'{index[0]}:{index[-1] + 1}'])}]"
                    else:
                        const = f"_idx_{len(self.positions)}"
                        self.positions[const] = np.array(index)
                        code = f"np.take({code}, s.c[{const!r}], axis={axis})"
                out_dims.append(sub)
                axis += 1
            else:  # a single element: select it and drop the axis
                index = self.subscripts[dim].index(sub)
                code = f"({code})[{', '.join([':'] * axis + [str(index)])}]"
        return _Expr(code, tuple(out_dims))

    def arithmetic(self, node: ae.ArithmeticStructure) -> _Expr:
        operators, nodes = list(node.operators), list(node.arguments)
        if operators == ["negative"]:
            arg = self.expr(nodes[0])
            return _Expr(f"(-{arg.code})", arg.dims, arg.literal)
        # a chain a * b * c * d is evaluated left to right: when its first terms are
        # static (a * b * c), they form one hoisted term, with the same rounding
        prefix = 0
        while not self.hoisting and prefix < len(nodes) and self.is_static(nodes[prefix]):
            prefix += 1
        if 2 <= prefix < len(nodes):
            first = self.hoisted(ae.ArithmeticStructure(operators[:prefix - 1], nodes[:prefix]))
            args = [first] + [self.expr(a) for a in nodes[prefix:]]
            operators = operators[prefix - 1:]
        else:
            args = [self.expr(a) for a in nodes]
        dims = self.union(args)
        literal = all(a.literal for a in args)
        code = f"({self.align(args[0], dims)})"
        for op, arg in zip(operators, args[1:]):
            op = {"^": "**"}.get(op, op)
            if op not in ("+", "-", "*", "/", "**"):
                raise EngineError(f"operator {op!r} is not compiled")
            code = f"({code} {op} {self.align(arg, dims)})"
        return _Expr(code, dims, literal)

    def logic(self, node: ae.LogicStructure) -> _Expr:
        ops = {"=": "==", "<>": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=",
               ":AND:": "&", ":OR:": "|"}
        args = [self.expr(a) for a in node.arguments]
        if node.operators == [":NOT:"]:
            return _Expr(f"(~({args[0].code}))", args[0].dims, args[0].literal)
        dims = self.union(args)
        code = f"({self.align(args[0], dims)})"
        for op, arg in zip(node.operators, args[1:]):
            if op not in ops:
                raise EngineError(f"logical operator {op!r} is not compiled")
            code = f"({code} {ops[op]} {self.align(arg, dims)})"
        return _Expr(code, dims, all(a.literal for a in args))

    def call(self, node: ae.CallStructure) -> _Expr:
        fn = node.function.reference
        if fn in self.dims and self.kind.get(fn) == "lookup":
            arg = self.expr(node.arguments[0])
            return _Expr(f"_lookup({arg.code}, *s.lookups[{fn!r}])", arg.dims, arg.literal)
        args = [self.expr(a) for a in node.arguments]
        if fn == "sum":
            return self.sum(node.arguments[0], args[0])
        unary = {"exp": "np.exp", "ln": "np.log", "sqrt": "np.sqrt", "abs": "np.abs", "integer": "np.trunc"}
        if fn in unary:
            return _Expr(f"{unary[fn]}({args[0].code})", args[0].dims, args[0].literal)
        dims = self.union(args)
        aligned = [self.align(a, dims) for a in args]
        literal = all(a.literal for a in args)
        if fn in ("min", "max"):
            return _Expr(f"np.{fn}imum({aligned[0]}, {aligned[1]})", dims, literal)
        if fn == "if_then_else":
            if any(a.literal for a in args):
                return _Expr(f"np.where({aligned[0]}, {aligned[1]}, {aligned[2]})", dims, literal)
            sizes = tuple(self._size(d) for d in dims)
            return _Expr(f"_if({aligned[0]}, lambda: {aligned[1]}, lambda: {aligned[2]}, {sizes})", dims)
        if fn == "zidz":
            return _Expr(f"_zidz({aligned[0]}, {aligned[1]})", dims, literal)
        if fn == "xidz":
            return _Expr(f"_xidz({aligned[0]}, {aligned[1]}, {aligned[2]})", dims, literal)
        raise EngineError(f"function {fn!r} is not compiled by the fast engine")

    def sum(self, node, arg: _Expr) -> _Expr:
        keep = tuple(d for d in arg.dims if not d.endswith("!"))
        summed = [d for d in arg.dims if d.endswith("!")]
        if not summed:
            return arg
        if (isinstance(node, ae.ArithmeticStructure) and set(node.operators) == {"*"}
                and len(node.arguments) <= 4):
            # SUM of a product: contract with einsum instead of building the product
            factors = [self.expr(a) for a in node.arguments]
            if not any(f.literal for f in factors):
                letters = dict(zip(self.union(factors), "abcdefghijklmnopqrstuvwxyz"))
                spec = ",".join("..." + "".join(letters[d] for d in f.dims) for f in factors)
                spec += "->..." + "".join(letters[d] for d in keep)
                return _Expr(f"_esum({spec!r}, {', '.join(f.code for f in factors)})", keep)
        axes = tuple(1 + arg.dims.index(d) for d in summed)
        return _Expr(f"np.sum({arg.code}, axis={axes})", keep)

    def initial(self, node) -> _Expr:
        inner = self.expr(node)
        key = f"_initial_{self.initial_count}"
        self.initial_count += 1
        self.functions.append(
            f"def {key}(s):\n"
            f"    v = s.initials.get({key!r})\n"
            f"    if v is None:\n"
            f"        v = s.initials[{key!r}] = {inner.code}\n"
            f"    return v\n")
        self.initial_keys.append(key)
        return _Expr(f"{key}(s)", inner.dims, inner.literal)

    # -- variables --------------------------------------------------------------
    def assign(self, py: str, components) -> str:
        """Code computing a variable: one line for a single full definition, else a block
        filling an array element by element (``entries[.., A0]``, ``entries[.., Older]``)."""
        dims = self.dims[py]
        sizes = tuple(self._size(d) for d in dims)
        if len(components) == 1 and list(components[0][0]) == list(dims):
            return f"_full({self.align(self.expr(components[0][1]), dims)}, {sizes}, s.dtype)"
        lines = [f"out = np.zeros((s.m, {', '.join(map(str, sizes))}), s.dtype)"]
        for subs, ast in components:
            e = self.expr(ast)
            target = [sub if sub in self.subscripts else None for sub in subs]
            index = [[self.subscripts[d].index(x) for x in self.subscripts[t]] if t else [self.subscripts[d].index(sub)]
                     for d, t, sub in zip(dims, target, subs)]
            free = [t for t in target if t is not None and t not in e.dims]
            renamed = []
            for d in e.dims:  # a source range maps onto the target range of the same name, or a mapped one
                if d in target:
                    renamed.append(d)
                    continue
                match = next((t for t in free if len(self.subscripts[t]) == self._size(d)
                              and (t in self.mapping.get(d, []) or self.family.get(t) == self.family.get(d))), None)
                if match is None:
                    raise EngineError(f"{py}: cannot map subscript {d} onto {subs}")
                free.remove(match)
                renamed.append(match)
            placed = [t if t is not None else f"_one{i}" for i, t in enumerate(target)]
            code = self.align(_Expr(e.code, tuple(renamed), e.literal), placed)
            const = f"_ix_{len(self.positions)}"
            self.positions[const] = _index_tuple(index)
            lines.append(f"out[(slice(None),) + s.c[{const!r}]] = {code}")
        return "\n".join(lines + ["return out"])

    def compile(self) -> CompiledModel:
        self.positions: dict[str, object] = {}
        self.initial_keys: list[str] = []
        stocks, defs = [], []
        for py, el in self.elements.items():
            kind = self.kind[py]
            self.preferred = self.dims[py]
            if kind == "constant":
                defs.append(f"def v_{py}(s):\n    return s.c[{py!r}]\n")
                continue
            if kind == "data":
                defs.append(f"def v_{py}(s):\n    return s.data_at({py!r})\n")
                continue
            if kind == "lookup":
                continue
            comps = [(c.subscripts[0], c.ast) for c in el.components]
            if kind == "stock":
                integ = comps[0][1]
                flow = self.expr(integ.flow)
                init = self.expr(integ.initial)
                dims = self.dims[py]
                sizes = tuple(self._size(d) for d in dims)
                stocks.append(py)
                defs.append(
                    f"def v_{py}(s):\n    return s.state[{py!r}]\n\n"
                    f"def flow_{py}(s):\n    return _full({self.align(flow, dims)}, {sizes}, s.dtype)\n\n"
                    f"def init_{py}(s):\n    return _full({self.align(init, dims)}, {sizes}, s.dtype)\n")
                continue
            static = self.static_variable(py)
            cache = "s.static" if static else "s.cache"  # static: computed once per run
            self.hoisting = static
            body = self.assign(py, comps)
            self.hoisting = False
            if "\n" in body:
                inner = "\n".join("        " + line for line in body.splitlines()).replace("return out", "c = out")
                defs.append(f"def v_{py}(s):\n    c = {cache}.get({py!r})\n    if c is None:\n{inner}\n"
                            f"        {cache}[{py!r}] = c\n    return c\n")
            else:
                defs.append(f"def v_{py}(s):\n    c = {cache}.get({py!r})\n    if c is None:\n"
                            f"        c = {cache}[{py!r}] = {body}\n    return c\n")
        source = "\n".join(defs + self.functions)
        source += "\nINITIALS = " + repr(self.initial_keys) + "\n"
        constants = dict(self.positions)
        for py in self.elements:
            if self.kind[py] == "constant":
                constants[py] = _constant_value(self.model, py, self.dims[py])
        data, lookups = _externals(self.model, self.kind)
        units = {py: str(self.doc.loc[py, "Units"]) for py in self.elements}
        return CompiledModel(source=source, dims=dict(self.dims), stocks=stocks, subscripts=self.subscripts,
                             names=self.names, units=units, constants=constants, data=data, lookups=lookups,
                             initial_time=float(self.model.time.initial_time()),
                             time_step=float(self.model.time.time_step()))


def _constant_value(model, py: str, dims: tuple[str, ...]) -> np.ndarray:
    value = getattr(model.components, py)()
    if isinstance(value, xr.DataArray):
        value = value.transpose(*dims).values.astype(float)
    return np.asarray(value, float)[None, ...]


def _externals(model, kind: dict[str, str]):
    data, lookups = {}, {}
    for py, k in kind.items():
        if k not in ("data", "lookup"):
            continue
        ext = getattr(model.components, f"_ext_{'data' if k == 'data' else 'lookup'}_{py}")
        array = ext.data
        if k == "data":
            other = [d for d in array.dims if d != "time"]
            values = array.transpose("time", *other).values.astype(float)
            data[py] = (array["time"].values.astype(float), values[:, None, ...])
        else:
            lookups[py] = (array["lookup_dim"].values.astype(float), array.values.astype(float))
    return data, lookups


@lru_cache(maxsize=2)
def _compiled(mdl: str, stamp: float) -> CompiledModel:
    from kbalance.engine.reference import load_model, quiet_pysd

    with quiet_pysd():
        vensim = VensimFile(mdl)
        vensim.parse()
        abstract = vensim.get_abstract_model()
        pysd_model = load_model()
        pysd_model.reload()
        compiled = _Compiler(abstract, pysd_model).compile()
    namespace = dict(_RUNTIME)
    exec(compile(compiled.source, f"<kbalance engine {Path(mdl).name}>", "exec"), namespace)  # noqa: S102 (generated)
    compiled.functions = namespace
    return compiled


def compile_model() -> CompiledModel:
    """The model file compiled for the fast engine (cached per process)."""
    from kbalance.paths import model_dir
    from kbalance.paths import model_file

    path = model_file()
    newest = max(p.stat().st_mtime for p in [path, *(model_dir() / "inputs").glob("*.csv")])
    return _compiled(str(path), newest)


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


class _State:
    def __init__(self, model: CompiledModel, constants: dict[str, np.ndarray], members: int,
                 dtype: np.dtype = _FLOAT64):
        self.dtype = dtype
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
        times, values = self.data[py]
        return _data(times, values, self.time)


class _LazyStocks(dict):
    """Stock values during initialization: computed on first use from their initial value."""

    def __init__(self, model: CompiledModel, s: _State):
        super().__init__()
        self.f, self.s, self.busy = model.functions, s, set()

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
    f = model.functions
    s.state = _LazyStocks(model, s)
    for stock in model.stocks:
        _ = s.state[stock]
    for key in f["INITIALS"]:
        f[key](s)
    s.state = dict(s.state)
    times = np.arange(model.initial_time, until + model.time_step / 2, model.time_step)
    records = {v: np.empty((len(times), members, *_sizes(model, v))) for v in variables}
    for i, t in enumerate(times):
        s.time = float(t)
        for v in variables:
            records[v][i] = f[f"v_{v}"](s)
        if i == len(times) - 1:
            break
        flows = {k: f[f"flow_{k}"](s) for k in model.stocks}
        s.state = {k: s.state[k] + model.time_step * flows[k] for k in model.stocks}
        s.cache = {}
    return records


def _sizes(model: CompiledModel, py: str) -> tuple[int, ...]:
    return tuple(len(model.subscripts[d]) for d in model.dims[py])


def run_fast(parameters: pd.DataFrame | None, constants: dict[str, float] | None, until: int,
             variables: Sequence[str], dtype: str | np.dtype = "float64") -> xr.Dataset:
    """Run members of the model with the fast engine (one chunk, in this process).

    parameters : DataFrame, optional  members × parameter values (see :func:`parameter_arrays`)
    constants : dict, optional  model constant → value for all members (scenario levers)
    until : int  last year [year]
    variables : model variable names ("Real Name")
    dtype : "float64" (default, PySD's arithmetic) or "float32" (faster, for large
        ensembles; see docs/engine.md for its accuracy)
    Returns a Dataset over (member, year, subscripts…), float64 whatever ``dtype``.
    """
    dtype = check_dtype(dtype, "run_fast")
    model = compile_model()
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


def source_hash() -> str:
    """SHA-256 of the generated engine code (changes whenever the model's equations do)."""
    return hashlib.sha256(compile_model().source.encode()).hexdigest()


__all__ = [
    "DTYPES",
    "CompiledModel",
    "EngineError",
    "check_dtype",
    "compile_model",
    "parameter_arrays",
    "run_ensemble",
    "run_fast",
    "simulate",
    "source_hash",
]


# ---------------------------------------------------------------------------
# Ensembles: chunks on local processes or a Dask cluster
# ---------------------------------------------------------------------------


#: glibc's malloc settings (mallopt): serve allocations below this size from the heap
#: [bytes] (32 MiB, glibc's largest), and give the heap's free top back to the system only
#: beyond this size [bytes].
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 * 2**20, 2**30


def _keep_freed_memory() -> None:
    """Let this process reuse the memory numpy frees instead of returning it to the system
    (glibc; elsewhere nothing changes).

    A step allocates and frees dozens of arrays of a few MB each. By default glibc gives
    such arrays fresh pages, or returns the heap's free top to the system, so the next
    step faults every page in and zeroes it again, 10-20 % of a worker's time. Set in the
    ensemble's worker processes only, which run nothing else; their resident memory then
    stays at the peak of a chunk.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    # set both: setting either one stops glibc adjusting the other to the sizes in use
    mallopt(m_mmap_threshold, _MMAP_THRESHOLD)
    mallopt(m_trim_threshold, _TRIM_THRESHOLD)


def _start_worker() -> None:
    """Initializer of a local worker process: malloc settings, then the compiled model."""
    _keep_freed_memory()
    compile_model()


def _run_chunk(job: tuple):
    parameters, constants, until, variables, reduce, dtype = job
    result = run_fast(parameters, constants, until, variables, dtype)
    return result if reduce is None else reduce(result)


def _chunks(parameters: pd.DataFrame | None, chunk_size: int) -> list[pd.DataFrame | None]:
    if parameters is None:
        return [None]
    return [parameters.iloc[i:i + chunk_size] for i in range(0, len(parameters), chunk_size)]


def run_ensemble(parameters: pd.DataFrame | None, scenario=None, until: int = 2070,
                 variables: Sequence[str] = ("national population",), chunk_size: int = 250,
                 workers: int | None = None, scheduler: str | None = None,
                 progress: bool = False, reduce: Callable | None = None, dtype: str | np.dtype = "float64"):
    """Run an ensemble with the fast engine.

    parameters : DataFrame, optional  members × parameter values; columns are model
        constant names ("gompertz slope") or "name[element]"; None runs one member
        with the model's values
    scenario : Scenario or str, optional  lever settings (a shipped name or a file)
    until : int  last year [year]
    variables : model variable names to return
    chunk_size : int  members per chunk; bounds memory
    workers : int, optional  local processes (default: the number of cores; 1 runs in
        this process)
    scheduler : str, optional  address of a Dask scheduler ("tcp://host:8786"); chunks
        then run on that cluster
    progress : bool  print progress to standard error
    reduce : callable, optional  applied to each chunk's Dataset where the chunk ran
        (a picklable top-level function); keeps memory small for large ensembles
    dtype : "float64" (default) or "float32": the type the members are computed in
        (see :func:`run_fast`)

    Returns a Dataset over (member, year, subscripts…), or with ``reduce`` the list of
    reduced chunks in member order. Members are independent, so the numbers do not
    depend on where a chunk runs.
    """
    import os
    import sys

    from kbalance.model.scenarios import Scenario, read_scenario

    if scenario is None:
        constants: dict[str, float] = {}
    elif isinstance(scenario, Scenario):
        constants = dict(scenario.constants)
    else:
        constants = dict(read_scenario(scenario).constants)
    if parameters is not None:
        parameters = parameters.reset_index(drop=True)
    if chunk_size < 1:
        raise InvalidValueError("run_ensemble", "chunk_size", chunk_size, "a positive integer")
    dtype = check_dtype(dtype, "run_ensemble").name
    jobs = [(chunk, constants, until, tuple(variables), reduce, dtype) for chunk in _chunks(parameters, chunk_size)]
    total = 1 if parameters is None else len(parameters)
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            print(f"\rfast engine: {done:,}/{total:,} members", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    def size(job) -> int:
        return 1 if job[0] is None else len(job[0])

    if scheduler:
        from dask.distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = client.map(_run_chunk, jobs, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            results: list = [None] * len(jobs)
            for future in as_completed(futures):
                results[index[future.key]] = future.result()
                report(size(jobs[index[future.key]]))
    else:
        workers = workers or os.cpu_count() or 1
        if workers == 1 or len(jobs) == 1:
            results = []
            for job in jobs:
                results.append(_run_chunk(job))
                report(size(job))
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=_start_worker) as pool:
                results = []
                for job, result in zip(jobs, pool.map(_run_chunk, jobs)):
                    results.append(result)
                    report(size(job))
    if reduce is not None:
        return results
    merged = xr.concat(results, dim="member") if len(results) > 1 else results[0]
    return merged.assign_coords(member=np.arange(merged.sizes["member"]))
