"""Compiled stock updates of the fused path: a stock's flow and its Euler step in one loop.

On the fused path the flow of a stock whose equation is element-wise is one numba kernel
(``flow_population`` is ``s.k.k0(Population, TIME STEP, entries, ageing, deaths, …)``), and
the integrator then makes two more full passes over the stock, ``TIME STEP × flow`` and
``stock + …``, with a temporary of the stock's size. This module generates, from the fused
kernels the compiler derived from PySD's parse, an *update kernel* per such stock: the
flow kernel's loop nest with its innermost statement ``o[j] = <flow>`` turned into
``o[j] = stock[j] + dt * (<flow>)``. The result is the stock's next value in one pass. The
operations and their order are those of the integrator (the flow rounded to the floating
type, times the time step in that type, plus the stock), so the numbers are identical.

Nothing here restates an equation: the update kernels are rewritten from the kernel
source and the flow code of :class:`~kbalance.engine.compiler.CompiledModel`. They live in
a module of their own in the kernel cache folder (so the model's other kernels keep their
numba cache) and are compiled once per machine and model version (``cache=True``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from kbalance.engine import kernels
from kbalance.model import mdl

#: Whether the fused path uses the compiled stock updates (a switch for tests and benchmarks).
ENABLED = True

_FLOW = re.compile(r"^def flow_(\w+)\(s\):\n    return s\.k\.(k\d+)\((.*)\)\n", re.M)
_KERNEL = re.compile(r"^def (k\d+)\(", re.M)


def _blocks(source: str) -> dict[str, str]:
    """Kernel name → its source (as written by :meth:`KernelSet.source`)."""
    starts = [(m.group(1), m.start()) for m in _KERNEL.finditer(source)]
    ends = [start for _, start in starts[1:]] + [len(source)]
    return {name: source[start:end] for (name, start), end in zip(starts, ends)}


def update_kernel(name: str, block: str) -> str | None:
    """The update kernel ``<name>_update(st, dt, a0, …)`` of flow kernel ``block``, or None
    when the kernel loops over the member axis only (a stock without subscripts)."""
    lines = block.rstrip("\n").split("\n")
    header = lines[0]
    if not header.startswith(f"def {name}(") or not any(line.lstrip().startswith("o = out[") for line in lines):
        return None
    out = [header.replace(f"def {name}(", f"def {name}_update(st, dt, ", 1)]
    for line in lines[1:]:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("n0 = max("):
            line = line.replace("n0 = max(", "n0 = max(st.shape[0], ", 1).replace(", 1)", ")")
            out += [line, "    ms = 1 if st.shape[0] > 1 else 0"]
            continue
        if stripped.startswith("o = out["):
            lead = stripped[len("o = out["):-1]
            out += [f"{indent}rs = st[i0 * ms, {lead.partition(', ')[2]}]" if ", " in lead
                    else f"{indent}rs = st[i0 * ms]", line]
            continue
        if stripped.startswith("o[j] = "):
            line = f"{indent}o[j] = rs[j] + dt * ({stripped[len('o[j] = '):]})"
        out.append(line)
    return "\n".join(out) + "\n"


@lru_cache(maxsize=4)
def _plan(model) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """Source of the update kernels, their names, and stock → code of its update call."""
    blocks = _blocks(model.kernels)
    sources, names, calls = [], [], {}
    for stock, kernel, args in _FLOW.findall(model.source):
        if stock not in model.stocks or kernel not in blocks:
            continue
        text = update_kernel(kernel, blocks[kernel])
        if text is None:
            continue
        if f"{kernel}_update" not in names:
            sources.append(text)
            names.append(f"{kernel}_update")
        calls[stock] = f"lambda s, dt: s.u.{kernel}_update(s.state['{stock}'], dt, {args})"
    return "\n".join(sources), tuple(names), calls


def stock_updates(model, dtype, namespace: dict) -> tuple[object, dict]:
    """The update kernels of ``model`` for ``dtype`` (``s.u``) and stock → ``update(s, dt)``
    returning the stock's next value; nothing when disabled, numba is missing or the path
    is not fused. ``namespace`` holds the generated functions the calls read."""
    if not (ENABLED and model.fused and kernels.available()):
        return None, {}
    source, names, calls = _plan(model)
    if not names:
        return None, {}
    loaded = kernels.load(source, names, dtype.name, mdl.cache_dir() / "kernels")
    return loaded.functions, {k: eval(code, namespace) for k, code in calls.items()}  # noqa: S307 (generated)


__all__ = ["ENABLED", "stock_updates", "update_kernel"]
