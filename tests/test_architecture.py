"""The package's layout is a pipeline: imports go one way, modules stay small, tests mirror it.

Read from the source with ``ast``, so every import counts, at module level or inside a
function (an import inside a function can hide a cycle as well as one at the top).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "kbalance"
TESTS = Path(__file__).resolve().parent

#: Pipeline layers, lowest first: a module may import from its own layer or a lower one.
LAYERS = (
    ("errors", "paths", "arguments"),
    ("regions", "fonts", "outputs"),
    ("observations",),
    ("demography",),
    ("model",),
    ("engine",),
    ("runs", "evidence"),
    ("calibration",),
    ("sensitivity", "municipal"),
    ("whitepaper", "explorer"),
    ("cli",),
)

#: The longest a module may grow [lines].
MAX_LINES = 600

#: Modules whose tests live in a file other than tests/<package path>/test_<name>.py.
TESTED_ELSEWHERE = {
    "kbalance": "tests/test_api.py",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    return len(LAYERS)  # kbalance/__init__ (the public API) sits on top


def imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(imported kbalance module, names, inside a function?) for every import of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested.update(id(n) for n in ast.walk(node) if n is not node)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kbalance") and node.level == 0:
            names = [a.name for a in node.names]
            target = node.module
            for name in names:  # "from kbalance.engine import fast" imports a module
                if f"{target}.{name}" in MODULES:
                    out.append((f"{target}.{name}", [], id(node) in nested))
            out.append((target, names, id(node) in nested))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], id(node) in nested) for a in node.names if a.name.startswith("kbalance"))
    return out


def graph() -> dict[str, set[str]]:
    return {name: {target for target, _, _ in imports(path) if target in MODULES and target != name}
            for name, path in MODULES.items()}


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if nxt == "kbalance":  # the package's own __init__ (its version) is imported by everyone
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in edges:
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles}"


def test_imports_go_down_the_pipeline():
    wrong = []
    for name, path in MODULES.items():
        for target, _, _ in imports(path):
            if target in MODULES and target != "kbalance" and layer(target) > layer(name):
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_private_name_is_imported_from_another_module():
    wrong = [f"{name}: from {target} import {n}"
             for name, path in MODULES.items() for target, names, _ in imports(path)
             for n in names if n.startswith("_") and n != "__version__"]
    assert not wrong, wrong


def test_project_modules_are_imported_at_module_level():
    """A function-level import of a project module hides the import order; only the
    command line defers its imports (so that ``kbalance --help`` stays fast)."""
    wrong = [f"{name}: {target}" for name, path in MODULES.items() if name != "kbalance.cli"
             for target, _, nested in imports(path) if nested]
    assert not wrong, wrong


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES})"


def test_every_module_has_its_test_module():
    missing = []
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name not in TESTED_ELSEWHERE:
            continue
        relative = path.relative_to(SRC)
        expected = TESTED_ELSEWHERE.get(name) or str(Path("tests", *relative.parts[:-1], f"test_{relative.stem}.py"))
        if not (TESTS.parent / expected).is_file():
            missing.append(f"{name} → {expected}")
    assert not missing, missing
