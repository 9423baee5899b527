"""The workflow DAG as an inline SVG picture, drawn on the server.

Drawing here rather than in the browser keeps the page free of a graph library, works
without JavaScript, and gives the same picture for the same spec (so it can be cached
and tested byte for byte). The layout is the classic layered one: a step's column is the
longest path to it from a root, and within a column steps are ordered by the mean row of
their parents (one barycentre pass), which removes most edge crossings in real workflows.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

NODE_H = 30
ROW_GAP = 16
COL_GAP = 56
PAD = 12
CHAR_W = 7.0  # rough width of one character at the 12px UI font, to size the boxes
MIN_NODE_W = 96
MAX_NODE_W = 200
MAX_LABEL = int((MAX_NODE_W - 20) / CHAR_W)


@dataclass(frozen=True)
class Placed:
    name: str
    col: int
    row: int
    x: float
    y: float


def dag_layers(steps: Sequence[Mapping]) -> dict[str, int]:
    """Each step's column: 0 for a root, else one more than its deepest dependency."""
    deps = {s["name"]: [d for d in (s.get("depends_on") or [])] for s in steps}
    col: dict[str, int] = {}

    def depth(name: str, trail: frozenset[str]) -> int:
        if name in col:
            return col[name]
        if name in trail:  # a cycle cannot be published, but never loop on bad input
            return 0
        parents = [d for d in deps.get(name, []) if d in deps]
        col[name] = 1 + max((depth(d, trail | {name}) for d in parents), default=-1)
        return col[name]

    for s in steps:
        depth(s["name"], frozenset())
    return col


def dag_layout(steps: Sequence[Mapping]) -> tuple[list[Placed], float, float, float]:
    """Place every step; returns the nodes, the node width and the picture's size."""
    layers = dag_layers(steps)
    declared = {s["name"]: i for i, s in enumerate(steps)}
    deps = {s["name"]: [d for d in (s.get("depends_on") or []) if d in declared] for s in steps}
    n_cols = max(layers.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(n_cols)]
    for s in steps:
        columns[layers[s["name"]]].append(s["name"])

    row_of: dict[str, int] = {}
    for c, names in enumerate(columns):
        if c > 0:
            def barycentre(name: str) -> tuple[float, int]:
                rows = [row_of[d] for d in deps[name]]
                return (sum(rows) / len(rows) if rows else 0.0, declared[name])

            names.sort(key=barycentre)
        for r, name in enumerate(names):
            row_of[name] = r

    longest = max((len(s["name"]) for s in steps), default=0)
    node_w = max(MIN_NODE_W, min(MAX_NODE_W, longest * CHAR_W + 24))
    tallest = max((len(names) for names in columns), default=0)
    height = PAD * 2 + tallest * NODE_H + max(tallest - 1, 0) * ROW_GAP
    width = PAD * 2 + n_cols * node_w + max(n_cols - 1, 0) * COL_GAP

    placed: list[Placed] = []
    for c, names in enumerate(columns):
        # Centre short columns against the tallest one.
        offset = (tallest - len(names)) * (NODE_H + ROW_GAP) / 2
        for r, name in enumerate(names):
            x = PAD + c * (node_w + COL_GAP)
            y = PAD + offset + r * (NODE_H + ROW_GAP)
            placed.append(Placed(name=name, col=c, row=r, x=x, y=y))
    return placed, node_w, width, height


def _num(value: float) -> str:
    # Fixed formatting keeps the output byte-for-byte stable.
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def dag_svg(steps: Sequence[Mapping], *, statuses: Mapping[str, str] | None = None) -> SafeString:
    """An ``<svg>`` of the steps and their dependencies.

    With ``statuses`` (step name to status), each node gets a ``status-<status>`` class so
    a run page can colour it. Every name is escaped before the markup is marked safe.
    """
    if not steps:
        return mark_safe("")
    placed, node_w, width, height = dag_layout(steps)
    by_name = {p.name: p for p in placed}
    statuses = statuses or {}
    uses_of = {s["name"]: s.get("uses") for s in steps}
    resource_classes = {s["name"]: s.get("resources") for s in steps}
    parts: list[str] = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Workflow steps"'
        f' width="{_num(width)}" height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}">',
        '<defs><marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"'
        ' orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="dag-arrowhead"/></marker></defs>',
    ]
    for s in steps:
        dst = by_name[s["name"]]
        for dep in s.get("depends_on") or []:
            src = by_name.get(dep)
            if src is None:
                continue
            x1, y1 = src.x + node_w, src.y + NODE_H / 2
            x2, y2 = dst.x - 2, dst.y + NODE_H / 2  # stop short so the arrowhead shows
            bend = max((x2 - x1) / 2, 16)
            d = (
                f"M{_num(x1)},{_num(y1)} C{_num(x1 + bend)},{_num(y1)} "
                f"{_num(x2 - bend)},{_num(y2)} {_num(x2)},{_num(y2)}"
            )
            parts.append(
                f'<path class="dag-edge" d="{d}" marker-end="url(#dag-arrow)"'
                f' data-from="{escape(dep)}" data-to="{escape(s["name"])}"/>'
            )
    for p in placed:
        status = statuses.get(p.name)
        css = "dag-node" + (f" status-{escape(status)}" if status else "")
        title = escape(p.name) + (f" ({escape(status)})" if status else "")
        if uses_of.get(p.name):  # a sub-workflow step: one node, drawn dashed, naming what it runs
            css += " dag-sub"
            title += f" · sub-workflow {escape(uses_of[p.name])}"
        resources = resource_classes.get(p.name) or "cpu"
        if resources != "cpu":  # the resource class, when the step needs more than a cpu worker
            title += f" · needs a {escape(resources)} worker"
        parts.append(
            f'<g class="{css}" data-step="{escape(p.name)}" data-resources="{escape(resources)}"><title>{title}</title>'
            f'<rect x="{_num(p.x)}" y="{_num(p.y)}" width="{_num(node_w)}" height="{NODE_H}" rx="6" ry="6"/>'
            f'<text x="{_num(p.x + node_w / 2)}" y="{_num(p.y + NODE_H / 2)}" text-anchor="middle"'
            f' dominant-baseline="central">{escape(_label(p.name))}</text></g>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
