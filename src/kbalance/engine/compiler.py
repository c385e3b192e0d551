"""The fast engine's compiler: PySD's abstract model of model/kbalance.mdl → numpy code.

The model file is parsed by PySD's own Vensim translator into its abstract model
(kbalance.model.mdl); this module compiles that abstract model into plain numpy code in
which every array carries a leading *member* axis, so N parameter sets run at once. The
equations are never written a second time: the generated code is derived from the parse
of the .mdl at run time. Constants, data and lookups are read through PySD's own loaders
(the translated model), so both engines see the same inputs. The generated code calls
the helpers of kbalance.engine.runtime, which runs it. See docs/engine.md for the design
and its limits.

Array convention: a variable with subscripts ``(d1, …, dk)`` is an array of shape
``(M, n1, …, nk)`` where ``M`` is the number of members or 1 when the value is the
same for all members.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import xarray as xr
from pysd.translators.structures import abstract_expressions as ae

from kbalance.engine.kernels import Fused, KernelSet
from kbalance.engine.subexpressions import SharedExpressions, memoized
from kbalance.model import mdl


class EngineError(RuntimeError):
    """The model uses a construct the fast engine does not compile."""


#: How the generated code reads a variable: constants, data and stocks directly (about
#: 170 Python calls of a step saved), the others through their memoized function.
_READ = {"constant": "s.c[{name!r}]", "data": "s.data_at({name!r})", "stock": "s.state[{name!r}]",
         "aux": "v_{name}(s)", "lookup": "v_{name}(s)"}


def _index_tuple(index: list[list[int]]) -> tuple:
    """Index of a piece of an array (one list of positions per axis): a slice for each
    run of consecutive positions, else the open mesh of ``np.ix_``. Slices give a view,
    so assigning through them copies once instead of gathering element by element."""
    if all(i == list(range(i[0], i[-1] + 1)) for i in index):
        return tuple(slice(i[0], i[-1] + 1) for i in index)
    return np.ix_(*[np.array(i) for i in index])


#: Elements per member above which an IF THEN ELSE with a number as one branch computes
#: its other branch only where taken (the population block has 17 × 2 × 101).
_LAZY_BRANCH_ELEMENTS = 1000


@dataclass
class _Expr:
    code: str
    dims: tuple[str, ...]  # subscripts of the axes after the member axis
    literal: bool = False  # a plain Python number: no member axis
    boolean: bool = False  # a truth value (a comparison or logic)


@dataclass(eq=False)
class CompiledModel:
    """The model compiled for the fast engine.

    source : str  the generated Python code (one function per variable), calling numpy
        and the helpers of kbalance.engine.runtime (``HELPERS``) by name
    dims : dict  variable py-name → its subscripts
    stocks : list  py-names of the stocks
    subscripts : dict  subscript range → elements
    names : dict  model name ("Real Name") → py-name
    units : dict  py-name → units
    constants : dict  py-name → value with a member axis of 1 (and index tables of the code)
    data, lookups : dict  py-name → (times or x values, values), from PySD's loaders
    initial_time, time_step : float  [year]
    fused : bool  element-wise expressions call fused kernels (``s.k.k<n>``)
    kernels : str  their scalar source (kbalance.engine.kernels), empty when not fused
    kernel_names : tuple  the names of the kernels (``k<n>``)
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
    fused: bool = False
    kernels: str = ""
    kernel_names: tuple = ()


class Compiler:
    """Turns PySD's abstract model into Python source, one function per variable.

    Each expression compiles to code and the subscripts of its axes; subscript
    algebra (ranges, subranges, mapped ranges, single elements, bang sums) is resolved
    here, so the generated code is plain numpy indexing and broadcasting. With
    ``fused=True`` element-wise expressions become fused kernels (kbalance.engine.kernels)
    called on the values they read; everything else is the same code.
    """

    def __init__(self, abstract, pysd_model, fused: bool = False):
        self.fusion = KernelSet(self.align) if fused else None
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
        self.shared = SharedExpressions()  # leading parts of arithmetic chains (kbalance.engine.subexpressions)

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
        if isinstance(e, Fused):  # its leaves aligned to dst: the result needs no transpose
            return e.kernels.call(e, tuple(dst))
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
            self.functions.append(memoized(key, "static", inner.code))
        return _Expr(f"{key}(s)", inner.dims, boolean=inner.boolean)

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
        code = _READ[self.kind[name]].format(name=name)
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
            if self.fusion and not arg.literal:
                return self.fusion.fuse("(-{0})", [arg], arg.dims)
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
        operators = [{"^": "**"}.get(op, op) for op in operators]
        for op in operators:
            if op not in ("+", "-", "*", "/", "**"):
                raise EngineError(f"operator {op!r} is not compiled")
        if self.fusion and not literal:
            pattern = "({0})"
            for i, op in enumerate(operators, 1):
                pattern = f"({pattern} {op} {{{i}}})"
            return self.fusion.fuse(pattern, args, dims)
        code = f"({self.align(args[0], dims)})"
        for i, (op, arg) in enumerate(zip(operators, args[1:]), 2):
            code = f"({code} {op} {self.align(arg, dims)})"
            if not self.hoisting and not all(a.literal for a in args[:i]):  # hoisted: once per run anyway
                code = self.shared.placeholder(code)
        return _Expr(code, dims, literal)

    def logic(self, node: ae.LogicStructure) -> _Expr:
        ops = {"=": "==", "<>": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=",
               ":AND:": "&", ":OR:": "|"}
        args = [self.expr(a) for a in node.arguments]
        literal = all(a.literal for a in args)
        if node.operators == [":NOT:"]:
            if self.fusion and not literal:
                return self.fusion.fuse("(not {0})", args, args[0].dims, boolean=True)
            return _Expr(f"(~({args[0].code}))", args[0].dims, args[0].literal, boolean=True)
        dims = self.union(args)
        for op in node.operators:
            if op not in ops:
                raise EngineError(f"logical operator {op!r} is not compiled")
        if self.fusion and not literal:
            scalar = {**ops, ":AND:": "and", ":OR:": "or"}
            pattern = "({0})"
            for i, op in enumerate(node.operators, 1):
                pattern = f"({pattern} {scalar[op]} {{{i}}})"
            return self.fusion.fuse(pattern, args, dims, boolean=True)
        code = f"({self.align(args[0], dims)})"
        for op, arg in zip(node.operators, args[1:]):
            code = f"({code} {ops[op]} {self.align(arg, dims)})"
        return _Expr(code, dims, literal, boolean=True)

    def call(self, node: ae.CallStructure) -> _Expr:
        fn = node.function.reference
        if fn in self.dims and self.kind.get(fn) == "lookup":
            arg = self.expr(node.arguments[0])
            return _Expr(f"lookup({arg.code}, *s.lookups[{fn!r}])", arg.dims, arg.literal)
        args = [self.expr(a) for a in node.arguments]
        if fn == "sum":
            return self.sum(node.arguments[0], args[0])
        unary = {"exp": "np.exp", "ln": "np.log", "sqrt": "np.sqrt", "abs": "np.abs", "integer": "np.trunc", "sin": "np.sin"}
        dims = self.union(args)
        literal = all(a.literal for a in args)
        # EXP and LN stay numpy calls between kernels: numpy vectorises them (float32 with
        # AVX2), numba calls the C library's scalar functions
        fused = {"min": "np.minimum({0}, {1})", "max": "np.maximum({0}, {1})",
                 "zidz": "({0} / {1} if {1} != F(0.0) else F(0.0))",
                 "xidz": "({0} / {1} if {1} != F(0.0) else {2})",
                 **{f: f"{numpy}({{0}})" for f, numpy in unary.items() if f not in ("exp", "ln")}}
        lazy = fn == "if_then_else" and self.branch_only_where_taken(node, args, dims)
        if fn == "if_then_else" and any(a.literal for a in args) and not lazy:  # np.where of both
            fused[fn] = "({1} if {0} else {2})"
        if self.fusion and not literal and fn in fused:
            return self.fusion.fuse(fused[fn], args, dims)
        if fn in unary:
            return _Expr(f"{unary[fn]}({args[0].code})", args[0].dims, args[0].literal)
        aligned = [self.align(a, dims) for a in args]
        if fn in ("min", "max"):
            return _Expr(f"np.{fn}imum({aligned[0]}, {aligned[1]})", dims, literal)
        if fn == "if_then_else":
            if not lazy:
                return _Expr(f"np.where({aligned[0]}, {aligned[1]}, {aligned[2]})", dims, literal)
            branches = [f"s.dtype.type({a.code})" if a.literal else code for a, code in zip(args[1:], aligned[1:])]
            sizes = tuple(self._size(d) for d in dims)
            return _Expr(f"if_then_else({aligned[0]}, lambda: {branches[0]}, lambda: {branches[1]}, {sizes})", dims)
        if fn == "zidz":
            return _Expr(f"zidz({aligned[0]}, {aligned[1]})", dims, literal)
        if fn == "xidz":
            return _Expr(f"xidz({aligned[0]}, {aligned[1]}, {aligned[2]})", dims, literal)
        raise EngineError(f"function {fn!r} is not compiled by the fast engine")

    def branch_only_where_taken(self, node: ae.CallStructure, args: list, dims: tuple[str, ...]) -> bool:
        """Whether an IF THEN ELSE computes only the branch taken where its condition is
        uniform (``if_then_else``) rather than ``np.where`` of both: when all are arrays, or
        when a branch is a number and the other is computed over a large block (boundary
        transfers, taken only in the years of a boundary change)."""
        if not any(a.literal for a in args):
            return True
        if all(a.literal for a in args):
            return False
        computed = any(not a.literal and not self.is_static(n)
                       and isinstance(n, (ae.ArithmeticStructure, ae.LogicStructure, ae.CallStructure))
                       for a, n in zip(args[1:], node.arguments[1:]))
        return computed and np.prod([self._size(d) for d in dims]) >= _LAZY_BRANCH_ELEMENTS

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
                return _Expr(f"sum_product({spec!r}, {', '.join(f.code for f in factors)})", keep)
        axes = tuple(1 + arg.dims.index(d) for d in summed)
        return _Expr(f"np.add.reduce({arg.code}, axis={axes})", keep)

    def initial(self, node) -> _Expr:
        inner = self.expr(node)
        key = f"_initial_{self.initial_count}"
        self.initial_count += 1
        self.functions.append(memoized(key, "initials", inner.code))
        self.initial_keys.append(key)
        return _Expr(f"{key}(s)", inner.dims, inner.literal, inner.boolean)

    # -- variables --------------------------------------------------------------
    def filled(self, e: _Expr, dims: tuple[str, ...]) -> str:
        """Code of ``e`` as a variable's value over ``dims``: through ``full`` (the run's type,
        every axis at its size) unless it is one already (a kernel that fills ``dims``)."""
        if isinstance(e, Fused) and e.fills(dims):
            return self.align(e, dims)
        return f"full({self.align(e, dims)}, {tuple(self._size(d) for d in dims)}, s.dtype)"

    def assign(self, py: str, components) -> str:
        """Code computing a variable: one line for a single full definition, else a block
        filling an array element by element (``entries[.., A0]``, ``entries[.., Older]``)."""
        dims = self.dims[py]
        sizes = tuple(self._size(d) for d in dims)
        if len(components) == 1 and list(components[0][0]) == list(dims):
            return self.filled(self.expr(components[0][1]), dims)
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
                stocks.append(py)
                defs.append(
                    f"def v_{py}(s):\n    return s.state[{py!r}]\n\n"
                    f"def flow_{py}(s):\n    return {self.filled(flow, dims)}\n\n"
                    f"def init_{py}(s):\n    return {self.filled(init, dims)}\n")
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
        source = self.shared.resolve("\n".join(defs + self.functions))
        source += "\nINITIALS = " + repr(self.initial_keys) + "\n"
        constants = dict(self.positions)
        for py in self.elements:
            if self.kind[py] == "constant":
                constants[py] = _constant_value(self.model, py, self.dims[py])
        data, lookups = _externals(self.model, self.kind)
        units = {py: str(self.doc.loc[py, "Units"]) for py in self.elements}
        kernels = self.fusion or KernelSet(self.align)
        return CompiledModel(source=source, dims=dict(self.dims), stocks=stocks, subscripts=self.subscripts,
                             names=self.names, units=units, constants=constants, data=data, lookups=lookups,
                             initial_time=float(self.model.time.initial_time()),
                             time_step=float(self.model.time.time_step()), fused=self.fusion is not None,
                             kernels=kernels.source(), kernel_names=kernels.names())


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
def _compiled(key: tuple, fused: bool) -> CompiledModel:
    pysd_model = mdl.load_model()
    with mdl.quiet_pysd():
        pysd_model.reload()  # the constants as the model file sets them
        return Compiler(mdl.abstract_model(), pysd_model, fused).compile()


def compile_model(fused: bool = False) -> CompiledModel:
    """The model file compiled for the fast engine (once per process, again when the model
    file or its inputs change).

    fused : bool  element-wise expressions as fused kernels (kbalance.engine.kernels; the
        fused path) instead of numpy operations (the numpy path, the reference)
    """
    return _compiled(mdl.model_key(), fused)


def source_hash() -> str:
    """SHA-256 of the engine's source: every module of kbalance.engine and the code
    generated from the model file (changes whenever the engine or the equations do)."""
    digest = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    digest.update(compile_model().source.encode())
    return digest.hexdigest()


__all__ = ["CompiledModel", "Compiler", "EngineError", "compile_model", "source_hash"]
