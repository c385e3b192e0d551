"""Sub-expressions shared between the equations of a step, computed once per step.

Several equations of the model begin with the same terms: ``ageing``, ``boundary transfer
loss`` and ``out migration`` read ``Population / TIME STEP - deaths``; the population's
flow is ``population net flow`` plus the jump-off adjustment, with the net flow's terms
written out again. The compiler (kbalance.engine.compiler) names every leading part of an
arithmetic chain by its generated code with a placeholder ``_cse_<n>(s)``; once the whole
model is compiled, a placeholder used more than once becomes a function memoized in the
step's cache, and one used once is put back as its code. The same code means the same
operations in the same order, so the numbers do not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PLACEHOLDER = re.compile(r"(_cse_\d+)\(s\)")


@dataclass
class SharedExpressions:
    """The placeholders of one compiled model: name (``_cse_<n>``) ↔ generated code."""

    code: dict[str, str] = field(default_factory=dict)  # name → its code
    names: dict[str, str] = field(default_factory=dict)  # code → its name

    def placeholder(self, code: str) -> str:
        """The placeholder of ``code`` (the same one for the same code)."""
        name = self.names.get(code)
        if name is None:
            name = self.names[code] = f"_cse_{len(self.names)}"
            self.code[name] = code
        return f"{name}(s)"

    def resolve(self, source: str) -> str:
        """``source`` with its placeholders resolved (:func:`resolve_shared`)."""
        return resolve_shared(source, self.code)


def resolve_shared(source: str, shared: dict[str, str]) -> str:
    """``source`` with its placeholders ``_cse_<n>(s)`` resolved: one used more than once in
    the program (counted in ``source`` and in the code of every placeholder it reaches)
    becomes a function memoized in the step's cache, appended to the source; one used
    once is replaced by its code (``shared``: name → code)."""
    uses: dict[str, int] = {}
    pending = [source]
    while pending:
        for name in _PLACEHOLDER.findall(pending.pop()):
            uses[name] = uses.get(name, 0) + 1
            if uses[name] == 1:
                pending.append(shared[name])

    def resolve(code: str) -> str:
        return _PLACEHOLDER.sub(lambda m: m.group(0) if uses[m.group(1)] > 1 else resolve(shared[m.group(1)]), code)

    functions = [memoized(name, "cache", resolve(code)) for name, code in shared.items() if uses.get(name, 0) > 1]
    return "\n".join([resolve(source)] + functions)


def memoized(name: str, store: str, code: str) -> str:
    """Source of a function ``name(s)`` that computes ``code`` on its first call and keeps
    the value in ``s.<store>`` (``cache``: for the step; ``static``, ``initials``: for the run)."""
    return (f"def {name}(s):\n    v = s.{store}.get({name!r})\n    if v is None:\n"
            f"        v = s.{store}[{name!r}] = {code}\n    return v\n")


__all__ = ["SharedExpressions", "memoized", "resolve_shared"]
