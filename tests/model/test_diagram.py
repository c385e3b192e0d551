"""The model overview and docs/model.md follow model/kbalance.mdl (PySD's own parse of it)."""

from __future__ import annotations

import re
import shutil
import tomllib

import pytest

from kbalance.model import diagram
from kbalance.model.mdl import load_model
from kbalance.paths import model_dir, project_root

SRC = project_root() / "src" / "kbalance"
DOCS = project_root() / "docs"


@pytest.fixture(scope="module")
def model():
    """The translated model (the model layer translates it once)."""
    return load_model()


@pytest.fixture(scope="module")
def graph(model):
    return diagram.model_graph()


@pytest.fixture(scope="module")
def depends(model):
    """Py name -> py names it reads while running, read straight from model.dependencies."""
    out = {}
    for name, deps in model.dependencies.items():
        deps = deps["step"] if isinstance(deps.get("step"), dict) else deps
        out[name] = {d for d in deps if not d.startswith("__")}
    for name, deps in out.items():  # a stock reads its flows through its integrator
        out[name] = set().union(*(out.get(d, set()) if d.startswith("_integ") else {d} for d in deps))
    return out


def _reaches(depends, source, target) -> bool:
    """True if ``target`` depends on ``source`` through any chain of dependencies."""
    seen, stack = set(), [target]
    while stack:
        for dep in depends.get(stack.pop(), ()):
            if dep == source:
                return True
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return False


def test_every_stock_of_the_model_is_drawn(model, graph):
    doc = model.doc
    stocks = set(doc.loc[doc["Subtype"] == "Integ", "Py Name"])
    assert {"population", "innovation_base", "public_service_capital"} <= stocks
    assert stocks <= set(graph["nodes"])
    assert all(graph["nodes"][s]["kind"] == "stock" for s in stocks)


def test_every_lever_is_drawn(graph):
    levers = tomllib.loads((model_dir() / "levers.toml").read_text("utf-8"))
    names = {n["name"]: n for n in graph["nodes"].values()}
    for lever in levers.values():
        assert names[lever["model"]]["kind"] == "lever"


def test_every_edge_is_backed_by_the_dependency_graph(graph, depends):
    assert len(graph["edges"]) > 50
    for edge in graph["edges"]:
        assert _reaches(depends, edge["source"], edge["target"]), edge


@pytest.mark.parametrize("source, target", [
    ("innovation_base", "private_rd"),                  # agglomeration of R&D
    ("attractiveness", "destination_share"),            # movers choose attractive regions
    ("destination_share", "in_migration"),
    ("population_density", "total_fertility_rate"),     # congestion lowers fertility
    ("population", "own_source_revenue"),               # residents are the local tax base
    ("own_source_revenue", "fiscal_shortfall"),         # equalization
    ("local_consumption_tax_rate", "allocation_tax"),   # the consumption tax shrinks the pool
])
def test_main_links_are_drawn_and_real(graph, depends, source, target):
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert (source, target) in edges
    assert _reaches(depends, source, target)
    assert not _reaches(depends, "fiscal_autonomy_ratio", "attractiveness")  # an indicator only


def test_stock_flows_carry_their_sign(graph):
    kinds = {(e["source"], e["target"]): e["kind"] for e in graph["edges"]}
    assert kinds[("births", "population")] == "inflow"
    assert kinds[("deaths", "population")] == "outflow"
    assert kinds[("out_migration", "population")] == "outflow"
    assert kinds[("innovation_investment", "innovation_base")] == "inflow"
    assert kinds[("innovation_depreciation", "innovation_base")] == "outflow"


def test_loop_paths_in_model_md_follow_direct_dependencies(model, depends):
    py = dict(zip(model.doc["Real Name"], model.doc["Py Name"]))
    paths = [re.findall(r"`([^`]+)`", line) for line in
             (DOCS / "model.md").read_text("utf-8").splitlines() if line.lstrip("- ").startswith("Path:")]
    assert len(paths) >= 15
    for path in paths:
        for a, b in zip(path, path[1:]):
            assert a in py and b in py, (a, b)
            assert py[a] in depends[py[b]], f"{b!r} does not read {a!r} directly"


def test_table_lists_every_constant_and_lever(model):
    tables = diagram.parameter_table_markdown()
    doc = model.doc
    for name in doc.loc[doc["Type"] == "Constant", "Real Name"]:
        assert f"| `{name}` |" in tables, name
    for key in tomllib.loads((model_dir() / "levers.toml").read_text("utf-8")):
        assert f"| `{key}` |" in tables, key


def test_docs_generated_block_is_current(tmp_path):
    """docs/model.md holds what `python -m kbalance.model.diagram` writes (run it after editing the model)."""
    copy = tmp_path / "model.md"
    shutil.copyfile(DOCS / "model.md", copy)
    assert not diagram.update_model_doc(copy, diagram.parameter_table_markdown()), (
        "docs/model.md is out of date: run `python -m kbalance.model.diagram`")


def test_update_model_doc_needs_its_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# no markers\n", "utf-8")
    with pytest.raises(ValueError, match="markers"):
        diagram.update_model_doc(page, "x\n")


def test_references_list_every_key_the_model_uses():
    used = set()
    for path in (model_dir() / "levers.toml", model_dir() / "kbalance.mdl", *SRC.rglob("*.py"),
                 project_root() / "calibration" / "parameters.toml", *(model_dir() / "scenarios").glob("*.toml")):
        used |= set(re.findall(r'\b(R\d+)\b', path.read_text("utf-8")))
    listed = set(re.findall(r'<a id="r(\d+)"></a>', (DOCS / "references.md").read_text("utf-8")))
    assert used and {k[1:] for k in used} <= listed


def test_write_diagram(tmp_path, graph):
    svg = tmp_path / "d.svg"
    diagram.write_diagram(svg)
    text = svg.read_text("utf-8")  # labels stay text (svg.fonttype none), split over lines
    for node in graph["nodes"].values():
        assert all(f">{word}" in text or f" {word}" in text for word in node["name"].split()), node
