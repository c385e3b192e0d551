"""Sector overview of model/kbalance.mdl and the parameter tables of docs/model.md.

Everything here comes from PySD's own parse of the model file: the abstract model
(the signs of a stock's flows, the constants' values) and the translated model's
``dependencies`` and ``doc``. The picture shows the stocks, their flows, the
auxiliaries that close the main feedback loops and the policy levers of
model/levers.toml. An arrow A → B means B depends on A at run time, directly or
through variables that are not shown; paths that pass only through a national
total or average (a sum over regions) are left out, and so are values used only
at the start (INITIAL).

``python -m kbalance.model.diagram`` writes docs/model_diagram.svg and .png and rewrites
the generated tables of docs/model.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from pysd.translators.structures import abstract_expressions as ae  # noqa: E402

from kbalance.model.inputs import read_levers  # noqa: E402
from kbalance.model.mdl import abstract_model, documentation, load_model  # noqa: E402
from kbalance.paths import project_root  # noqa: E402

BEGIN, END = "<!-- BEGIN GENERATED TABLES -->", "<!-- END GENERATED TABLES -->"
SECTORS = {"lever": ("Policy levers", "#f2a541"), "fiscal": ("Fiscal", "#4a9c5d"),
           "economy": ("Economy and innovation", "#3b73b9"), "population": ("Population", "#8e5ea2")}
#: Shown variables (Real Name) → (sector, x, y). Stocks missing here are added at the bottom.
LAYOUT = {
    "own source revenue": ("fiscal", 36, 57), "fiscal shortfall": ("fiscal", 24, 51),
    "allocation tax": ("fiscal", 24, 44), "local budget": ("fiscal", 42, 37),
    "fiscal autonomy ratio": ("fiscal", 44, 51), "fiscal room": ("fiscal", 28, 35),
    "local innovation spending": ("fiscal", 33, 15), "service investment": ("fiscal", 22, 3),
    "Public Service Capital": ("fiscal", 33, 3), "service depreciation": ("fiscal", 44, 3),
    "grdp": ("economy", 62, 57), "grdp per capita": ("economy", 73, 57),
    "labour productivity": ("economy", 55, 47), "employed": ("economy", 67, 48),
    "employment rate": ("economy", 66, 39), "private rd": ("economy", 57, 31),
    "government rd": ("economy", 45, 25), "innovation investment": ("economy", 52, 18),
    "Innovation Base": ("economy", 63, 18), "innovation depreciation": ("economy", 63, 9),
    "Productivity Jump Off Ratio": ("economy", 52, 39), "Employment Jump Off Ratio": ("economy", 72, 30),
    "attractiveness": ("population", 91, 50), "population density": ("population", 86, 58),
    "capital region regulation": ("lever", 97, 57), "fertility support": ("lever", 58, 5),
    "destination share": ("population", 96, 42), "total fertility rate": ("population", 70, 5),
    "working age population": ("population", 79, 37), "Population": ("population", 88, 17),
    "births": ("population", 80, 6), "other change": ("population", 79, 13),
    "international migration": ("population", 84, 12), "jump off adjustment": ("population", 90, 4),
    "Fertility Alignment": ("population", 70, 13), "fertility alignment change": ("population", 64, 13),
    "boundary transfer": ("population", 82, 27), "in migration": ("population", 92, 31),
    "out migration": ("population", 98, 25), "deaths": ("population", 97, 8),
    "Cumulative Births": ("population", 80, -1), "Cumulative Deaths": ("population", 96, -1),
}


def dependency_graph() -> dict[str, set[str]]:
    """Py name → py names it depends on while running (initial-only dependencies dropped)."""
    graph = {}
    for name, deps in load_model().dependencies.items():
        deps = deps.get("step", {}) if isinstance(deps.get("step"), dict) else deps
        graph[name] = {d for d in deps if not d.startswith("__")}
    return graph


def _signed_refs(ast, sign=1) -> dict[str, int]:
    """References of a flow expression with their sign (+1 / -1) in a sum; a MAX or MIN
    (a flow bounded, e.g. by the stock per step) keeps the signs of its arguments' terms."""
    if isinstance(ast, ae.ReferenceStructure):
        return {ast.reference: sign}
    if isinstance(ast, ae.ArithmeticStructure) and set(ast.operators) <= {"+", "-"}:
        out = {}
        for op, arg in zip(["+", *ast.operators], ast.arguments):
            out.update(_signed_refs(arg, sign if op == "+" else -sign))
        return out
    if isinstance(ast, ae.CallStructure) and ast.function.reference == "sum":
        return _signed_refs(ast.arguments[0], sign)
    if isinstance(ast, ae.CallStructure) and ast.function.reference in ("max", "min"):
        out = {}
        for arg in ast.arguments:
            out.update(_signed_refs(arg, sign))
        return out
    return {}


def model_graph(levers_path=None) -> dict:
    """Nodes and edges of the overview: {'nodes': {py: {...}}, 'edges': [...], 'stocks': [...]}.

    Each edge {'source', 'target', 'kind'} means target depends on source; kind is 'inflow' or
    'outflow' (a flow of a stock, drawn as a pipe) or 'link' (information).
    """
    table = documentation()
    doc = table.set_index("Real Name")
    levers = read_levers(levers_path)
    stocks = [n for n in doc.index if doc.at[n, "Subtype"] == "Integ"]
    place = dict(LAYOUT)
    stacked = [v["model"] for v in levers.values() if v["model"] not in place]
    place.update((lever, ("lever", 9, None)) for lever in stacked)  # y set below
    for i, stock in enumerate(s for s in stocks if s not in place):
        place[stock] = ("population", 20 + 12 * i, 0)
    nodes = {doc.at[n, "Py Name"]: {"name": n, "sector": s, "x": x, "y": y, "units": doc.at[n, "Units"],
                                    "kind": "stock" if n in stocks else "lever" if s == "lever" else "aux"}
             for n, (s, x, y) in place.items()}
    graph = dependency_graph()
    subs = dict(zip(table["Py Name"], table["Subscripts"]))
    aggregate = {n for n, deps in graph.items()
                 if subs.get(n) is None and any(subs.get(d) is not None for d in deps)}
    flow_sign = {}
    for el in abstract_model().sections[0].elements:
        for comp in el.components:
            if isinstance(comp.ast, ae.IntegStructure):
                flow_sign[doc.at[el.name, "Py Name"]] = _signed_refs(comp.ast.flow)
    edges = {}
    for target in nodes:
        signs = flow_sign.get(target, {})
        first = set().union(*(graph[d] if d.startswith("_integ") else {d} for d in graph[target]))
        stack = [(d, signs.get(d)) for d in first]
        seen = set()
        while stack:
            dep, sign = stack.pop()
            if dep in seen or dep == target:
                continue
            seen.add(dep)
            sign = signs.get(dep, sign)  # a direct term of the stock's flow keeps its own sign
            if dep in nodes:  # a stock read by another stock's flow is information, not material
                kind = "link" if sign is None or nodes[dep]["kind"] == "stock" else "inflow" if sign > 0 else "outflow"
                if edges.get((dep, target), "link") == "link":
                    edges[(dep, target)] = kind
            elif sign is not None or dep not in aggregate:
                stack.extend((d, sign) for d in graph.get(dep, ()))
    for (source, target), kind in edges.items():
        if kind != "link" and nodes[source]["kind"] != "lever":  # a lever stays a lever
            nodes[source]["kind"] = "flow"
    # the lever column is ordered by the mean height of what each lever acts on
    height = {py: sum(nodes[t]["y"] for s, t in edges if s == py) / max(1, sum(s == py for s, _ in edges))
              for py, n in nodes.items() if n["y"] is None}
    for i, py in enumerate(sorted(height, key=lambda p: -height[p])):
        nodes[py]["y"] = 57 - i * 54 / max(1, len(height) - 1)
    return {"nodes": nodes, "stocks": [doc.at[s, "Py Name"] for s in stocks],
            "edges": [{"source": s, "target": t, "kind": k} for (s, t), k in sorted(edges.items())]}


def _label(name: str, width: int = 14) -> str:
    lines, line = [], ""
    for word in name.split():
        if line and len(line) + len(word) >= width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def _bend(edge, nodes, extents, ax) -> float:
    """Curvature of a link that passes through the fewest other nodes (arc3 geometry)."""
    (x1, y1), (x2, y2) = (ax.transData.transform((nodes[edge[k]]["x"], nodes[edge[k]]["y"]))
                          for k in ("source", "target"))
    ends = np.array([extents[edge["source"]], extents[edge["target"]]])
    others = np.array([b for py, b in extents.items() if py not in (edge["source"], edge["target"])])
    t = np.linspace(0, 1, 61)[:, None]

    def inside(points, boxes):  # points (n, 2), boxes (m, 4) -> (n, m)
        x, y = points[:, :1], points[:, 1:]
        return (x > boxes[:, 0]) & (x < boxes[:, 2]) & (y > boxes[:, 1]) & (y < boxes[:, 3])

    def hits(rad):
        control = np.array([(x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)])
        points = (1 - t) ** 2 * [x1, y1] + 2 * t * (1 - t) * control + t * t * [x2, y2]
        points = points[~inside(points, ends).any(axis=1)]
        return inside(points, others).any(axis=0).sum()

    return min((0.12, -0.12, 0.25, -0.25, 0.05, -0.05, 0.4, -0.4, 0.6, -0.6), key=hits)


def write_diagram(out_svg=None, out_png=None, levers_path=None) -> dict:
    """Draw the overview to ``out_svg`` (and ``out_png`` at 200 dpi); return the graph."""
    g = model_graph(levers_path)
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kbalance"}):
        _draw(g, out_svg, out_png)
    return g


def _draw(g, out_svg, out_png) -> None:
    nodes = g["nodes"]
    fig, ax = plt.subplots(figsize=(14.5, 9))
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.01, top=0.99)
    ax.set(xlim=(0, 104), ylim=(-7, 64))
    ax.axis("off")
    for key, x in (("lever", 9), ("fiscal", 33), ("economy", 62), ("population", 88)):
        title, colour = SECTORS[key]
        ax.text(x, 62.5, title, ha="center", fontsize=14, weight="bold", color=colour)
    boxes = {"stock": dict(boxstyle="square,pad=0.6", lw=2.2, fc="#ffffff"),
             "flow": dict(boxstyle="round,pad=0.35", lw=1.0, fc="#f4f4f4", ls="--"),
             "aux": dict(boxstyle="ellipse,pad=0.25", lw=0.8, fc="#ffffff"),
             "lever": dict(boxstyle="rarrow,pad=0.25", lw=1.0)}
    patches = {}
    for py, n in nodes.items():
        colour = SECTORS[n["sector"]][1]
        style = dict(boxes[n["kind"]], ec=colour)
        if n["kind"] == "lever":
            style["fc"] = "#fde9c8"
        patches[py] = ax.text(n["x"], n["y"], _label(n["name"], 40 if n["kind"] == "lever" else 16),
                              ha="center", va="center", zorder=3, bbox=style,
                              fontsize={"stock": 11, "lever": 8.5}.get(n["kind"], 9),
                              weight="bold" if n["kind"] == "stock" else "normal")
    refresh = Artist()  # keeps the boxes that clip the arrows current at any dpi
    refresh.draw = lambda renderer: [t.update_bbox_position_size(renderer) for t in patches.values()]
    refresh.set_zorder(1)
    ax.add_artist(refresh)
    fig.canvas.draw()
    extents = {py: t.get_bbox_patch().get_window_extent().padded(3).extents for py, t in patches.items()}
    for e in g["edges"]:
        src, dst = patches[e["source"]], patches[e["target"]]
        a, b = nodes[e["source"]], nodes[e["target"]]
        if e["kind"] == "link":
            props = dict(arrowstyle="-|>", lw=0.9, alpha=0.75, color=SECTORS[a["sector"]][1],
                         mutation_scale=11, connectionstyle=f"arc3,rad={_bend(e, nodes, extents, ax):g}")
        else:
            props = dict(arrowstyle="simple,head_width=0.9,head_length=0.9,tail_width=0.35",
                         color="#555555", mutation_scale=12, lw=0)
            if e["kind"] == "outflow":  # a pipe leaves the stock
                src, dst, a, b = dst, src, b, a
        ax.annotate("", xy=(b["x"], b["y"]), xytext=(a["x"], a["y"]), zorder=2,
                    arrowprops=dict(props, patchA=src.get_bbox_patch(), patchB=dst.get_bbox_patch(),
                                    shrinkA=2, shrinkB=2))
    legend = [("stock", "stock (1 January value)"), ("flow", "flow (per year)"),
              ("aux", "auxiliary"), ("lever", "policy lever")]
    for i, (kind, text) in enumerate(legend):
        ax.text(20 + 15 * i, -6, text, ha="center", va="center", fontsize=9, zorder=3,
                bbox=dict(boxes[kind], ec="#444444", fc="#fde9c8" if kind == "lever" else "#ffffff"))
    ax.text(80, -6, "thick arrow: material flow into or out of a stock\n"
            "thin arrow: B depends on A (colour of A's sector)", fontsize=9, va="center")
    for out, kwargs in ((out_svg, {"metadata": {"Date": None}}), (out_png, {"dpi": 200})):
        if out:
            out = Path(out)
            tmp = out.with_name(f".{out.name}.tmp")
            fig.savefig(tmp, format=out.suffix[1:], **kwargs)
            os.replace(tmp, out)
    plt.close(fig)


def _cell(value) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def _number(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def _value(element, dims) -> str:
    """A constant's value as written in the model file (or the input table it is read from)."""
    parts = []
    for comp in element.components:
        ast, subs = comp.ast, comp.subscripts[0]
        if isinstance(ast, ae.GetConstantsStructure):
            text = f"`{ast.file}` {ast.cell}"
        elif hasattr(ast, "tolist"):
            text = ", ".join(_number(v) for v in ast.tolist())
        elif isinstance(ast, ae.ReferenceStructure):
            text = ast.reference
        else:
            text = _number(ast)
        own = [s for s, d in zip(subs, dims or subs) if s != d]
        parts.append(f"{', '.join(own)}: {text}" if own else text)
    return "; ".join(dict.fromkeys(parts))


def parameter_table_markdown(levers_path=None) -> str:
    """Markdown tables of the levers (model/levers.toml) and of every constant of the model."""
    doc = documentation().set_index("Real Name")
    levers = read_levers(levers_path)
    out = ["### Policy levers", "",
           "Each lever follows its history until a scenario's start year, then moves linearly to the "
           "scenario's target over the ramp. References are keys of [references.md](references.md); "
           "`obs:` names a series of the observation set.", "",
           "| Lever | Description | Model variable | Unit | Range | Target, start, ramp | History |",
           "|---|---|---|---|---|---|---|"]
    for key, lever in levers.items():
        if lever["model"] not in doc.index:
            raise KeyError(f"model/levers.toml: [{key}] model = {lever['model']!r} is not in the model")
        history = lever.get("history", [])
        refs = [p[2] for p in history] + [v[1] for v in lever.get("allocation", {}).values()]
        if "from_observations" in lever:
            refs.append(f"earlier years obs:{lever['from_observations']}")
        years = sorted({p[0] for p in history})
        span = (f"{years[0]}" + (f"–{years[-1]}" if len(years) > 1 else "") + ": " if years
                else "none: constant until the start year")
        scenario = ", ".join(f"`{lever[k]}`" for k in ("target", "start", "ramp") if k in lever)
        out.append("| " + " | ".join(_cell(c) for c in (
            f"`{key}`", lever["description"], f"`{lever['model']}`", lever["unit"],
            "[{}, {}]".format(*map(_number, lever["range"])), scenario or "history only",
            span + ", ".join(f"[{r}](references.md#{r.lower()})" if r[1:].isdigit() else r
                             for r in dict.fromkeys(refs)))) + " |")
    elements = {el.name: el for el in abstract_model().sections[0].elements}
    constants = [n for n in elements if n in doc.index and doc.at[n, "Type"] == "Constant"]
    for title, subtype in (("Constants set in the model file", "Normal"),
                           ("Constants read from the input tables (model/inputs/)", "External")):
        out += ["", f"### {title}", "", "| Constant | Value | Unit | Range | Comment |",
                "|---|---|---|---|---|"]
        for name in (n for n in constants if doc.at[n, "Subtype"] == subtype):
            lo, hi = doc.at[name, "Limits"]
            limits = "" if lo != lo and hi != hi else "[{}, {}]".format(
                *("?" if v != v else _number(v) for v in (lo, hi)))
            out.append("| " + " | ".join(_cell(c) for c in (
                f"`{name}`", _value(elements[name], doc.at[name, "Subscripts"]), doc.at[name, "Units"],
                limits, doc.at[name, "Comment"])) + " |")
    return "\n".join(out) + "\n"


def update_model_doc(md_path, tables: str) -> bool:
    """Replace the generated block of ``md_path`` with ``tables``; True if the file changed."""
    md_path = Path(md_path)
    text = md_path.read_text("utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{md_path}: markers {BEGIN} and {END} not found")
    head, rest = text.split(BEGIN, 1)
    new = f"{head}{BEGIN}\n{tables}{END}{rest.split(END, 1)[1]}"
    if new != text:
        tmp = md_path.with_name(f".{md_path.name}.tmp")
        tmp.write_text(new, "utf-8")
        os.replace(tmp, md_path)
    return new != text


def main() -> None:
    """Write docs/model_diagram.svg and .png and rewrite the tables of docs/model.md."""
    docs = project_root() / "docs"
    write_diagram(docs / "model_diagram.svg", docs / "model_diagram.png")
    changed = update_model_doc(docs / "model.md", parameter_table_markdown())
    print(f"wrote {docs / 'model_diagram.svg'}, {docs / 'model_diagram.png'}; "
          f"{docs / 'model.md'} {'updated' if changed else 'unchanged'}")


if __name__ == "__main__":
    main()
