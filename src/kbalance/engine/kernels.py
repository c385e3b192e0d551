"""Fused kernels of the fast engine: element-wise chains compiled into single loops.

The numpy code the compiler generates makes one full pass over an array for every
operation, so an equation such as ``ageing = MAX(0, Population / TIME STEP - deaths - …) *
ageing share`` reads and writes the (member, Region, Sex, Age) population block seven
times. On the fused path the compiler keeps each element-wise expression (arithmetic,
comparisons and logic, ``MIN``, ``MAX``, ``ZIDZ``, ``XIDZ``, ``EXP``, ``LN``, ``SQRT``, ``ABS``,
``INTEGER``) as scalar code over its *leaves* (the values it reads: variables, lookups,
sums, hoisted expressions) until it is used; the generated code then calls one numba
kernel per expression (``s.k.k12(leaf, leaf, …)``), a loop nest over the result that
broadcasts its leaves like numpy and makes one pass. The scalar code is derived from the same parse as the numpy code;
nothing is written twice.

The kernels are written, for each floating type, to a module in a cache folder outside
the checkout (named by the hash of their source), so numba's on-disk cache
(``cache=True``) finds them compiled in later processes. numba is an optional dependency:
:func:`available` tells whether it imports.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace


@dataclass(eq=False)
class Fused:
    """An element-wise expression held as scalar code until it is used.

    template : str  scalar code; ``{i}`` stands for leaf i (the code has no other braces)
    leaves : list  the values it reads (objects with ``code``, ``dims``, ``literal`` and
        ``boolean``), each passed to the kernel aligned to the subscripts of the result
    dims : tuple  subscripts of the result
    boolean : bool  the result is a truth value (a comparison or logic)
    kernels : KernelSet  where the kernel is registered when the expression is used
    """

    template: str
    leaves: list
    dims: tuple[str, ...]
    boolean: bool
    kernels: KernelSet
    literal: bool = False

    def fills(self, dims) -> bool:
        """Whether the kernel's result, its leaves aligned to ``dims``, is an array of the run's
        floating type with every axis of ``dims`` at its size: a number, not a truth value,
        and some leaf array over each axis."""
        arrays = [x for x in self.leaves if not x.literal]
        return not self.boolean and bool(arrays) and set(dims) <= {d for x in arrays for d in x.dims}

    @property
    def code(self) -> str:
        """numpy-level code of the expression: its kernel called on its leaves."""
        return self.kernels.call(self, self.dims)


@dataclass
class KernelSet:
    """The kernels of one compiled model: scalar templates → numbered kernel functions.

    align : callable  ``align(expr, dims)``, the compiler's alignment of an operand
        to the subscripts of a result (numpy code)
    """

    align: object
    kernels: dict[tuple, str] = field(default_factory=dict)  # (template, leaf types) → name

    def fuse(self, pattern: str, args: list, dims: tuple[str, ...], boolean: bool = False) -> Fused:
        """The element-wise combination ``pattern`` (``{0}``, ``{1}``… for ``args``) as one
        expression: fused arguments are inlined, every other argument becomes a leaf
        (a number becomes a constant of the kernel's floating type ``F``)."""
        leaves: list = []
        keys: dict[tuple, int] = {}

        def leaf(e) -> str:
            key = (e.code, e.dims)
            if key not in keys:
                keys[key] = len(leaves)
                leaves.append(e)
            return f"{{{keys[key]}}}"

        parts = []
        for a in args:
            if isinstance(a, Fused):
                parts.append(a.template.format(*[leaf(x) for x in a.leaves]))
            elif a.literal and _is_number(a.code):
                parts.append(f"F({a.code})")
            else:
                parts.append(leaf(a))
        # format does not read braces inside the values it substitutes: the parts keep
        # their {i} of the combined leaves
        return Fused(pattern.format(*parts), leaves, dims, boolean, self)

    def call(self, e: Fused, dims) -> str:
        """Code calling the kernel of ``e`` with its leaves aligned to ``dims``."""
        kinds = tuple("scalar" if x.literal else
                      ("bool" if x.boolean else "F") + ":" + "".join("1" if d in x.dims else "0" for d in dims)
                      for x in e.leaves)
        key = (e.template, kinds, e.boolean, len(dims) + 1)
        name = self.kernels.get(key)
        if name is None:
            name = self.kernels[key] = f"k{len(self.kernels)}"
        args = [f"s.dtype.type({x.code})" if x.literal else self.align(x, dims) for x in e.leaves]
        return f"s.k.{name}({', '.join(args)})"

    def source(self) -> str:
        """The kernels as Python functions (numba compiles them; ``F`` is the floating type)."""
        return "\n".join(kernel_source(name, *key) for key, name in self.kernels.items())

    def names(self) -> tuple[str, ...]:
        """The names of the kernels, in the order of :meth:`source`."""
        return tuple(self.kernels.values())


def kernel_source(name: str, template: str, kinds: tuple[str, ...], boolean: bool, ndim: int) -> str:
    """One kernel: a loop nest over ``ndim`` axes computing ``template`` element by element.

    kinds : one per argument: "scalar" (a number), or "F:<mask>" / "bool:<mask>", an array
        of ``ndim`` axes whose member axis has the result's size or 1 and whose other axes
        have the result's size where the mask (one digit per axis after the member axis)
        is 1, else size 1. The innermost loop runs along the last axis, reading contiguous
        rows, or one value per row where an argument lacks that axis.
    """
    masks = {i: k.partition(":")[2] for i, k in enumerate(kinds) if k != "scalar"}
    lines = [f"def {name}({', '.join(f'a{i}' for i in range(len(kinds)))}):"]
    lines.append(f"    n0 = max({', '.join(f'a{i}.shape[0]' for i in masks)}{', 1' if len(masks) == 1 else ''})")
    lines += [f"    m{i} = 1 if a{i}.shape[0] > 1 else 0" for i in masks]
    for d in range(1, ndim):
        present = [i for i, mask in masks.items() if mask[d - 1] == "1"]
        lines.append(f"    n{d} = a{present[0]}.shape[{d}]" if present else f"    n{d} = 1")
    lines.append(f"    out = np.empty(({', '.join(f'n{d}' for d in range(ndim))},), {'np.bool_' if boolean else 'F'})")
    for d in range(ndim - 1):
        lines.append("    " * (d + 1) + f"for i{d} in range(n{d}):")
    row, last = "    " * ndim, ndim - 1
    values = {i: f"a{i}" for i, k in enumerate(kinds) if k == "scalar"}
    for i, mask in masks.items():
        lead = [f"i0 * m{i}"] + [f"i{d}" if mask[d - 1] == "1" else "0" for d in range(1, last)]
        if last == 0:  # only the member axis
            values[i] = f"a{i}[j * m{i}]"
        elif mask[last - 1] == "1":
            lines.append(row + f"r{i} = a{i}[{', '.join(lead)}]")
            values[i] = f"r{i}[j]"
        else:
            lines.append(row + f"x{i} = a{i}[{', '.join(lead + ['0'])}]")
            values[i] = f"x{i}"
    if last:
        lines.append(row + f"o = out[{', '.join(f'i{d}' for d in range(last))}]")
    lines.append(row + f"for j in range(n{last}):")
    target = "o[j]" if last else "out[j]"
    lines.append(row + f"    {target} = {template.format(*[values[i] for i in range(len(kinds))])}")
    lines.append("    return out\n")
    return "\n".join(lines)


def _is_number(code: str) -> bool:
    try:
        float(code)
    except ValueError:
        return False
    return True


def available() -> bool:
    """True when numba imports (the fused path can run)."""
    return importlib.util.find_spec("numba") is not None


@dataclass(frozen=True)
class Kernels:
    """The kernels for one floating type (``functions.k<n>``) and how long preparing them took."""

    functions: SimpleNamespace
    seconds: float  # importing their module and wrapping them for numba [s]


def _module(source: str, dtype: str, folder: Path):
    """The kernel source for ``dtype`` written once to ``folder`` and imported from there
    (numba caches compiled functions only for functions defined in a file)."""
    text = f"import numpy as np\n\nF = np.{dtype}\n\n\n{source}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = folder / f"kernels_{digest}.py"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(text)
        partial.replace(path)
    spec = importlib.util.spec_from_file_location(f"kbalance_kernels_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # numba's cache imports it by name when it loads a kernel
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=4)
def load(source: str, names: tuple[str, ...], dtype: str, folder: Path) -> Kernels:
    """The kernels as numba functions of ``dtype`` ("float64" or "float32"), once per
    process. numba compiles each on its first call for the argument types it meets and
    keeps the machine code in ``folder`` (``cache=True``), so later processes load it.
    """
    import numba  # an optional dependency, imported only on the fused path

    start = time.perf_counter()
    module = _module(source, dtype, folder)
    jitted = SimpleNamespace()
    for name in names:
        setattr(jitted, name, numba.njit(cache=True, nogil=True, error_model="numpy")(getattr(module, name)))
    return Kernels(jitted, time.perf_counter() - start)


__all__ = ["Fused", "KernelSet", "Kernels", "available", "load"]
