"""Draw the computational graph of a scalar :class:`~course_lib.numpy_nn.autograd.Value`.

Pure matplotlib, no graphviz: nodes are laid out left to right in layers by
their *depth* (the length of the longest path from a leaf), so every edge
points rightwards, from inputs to the operation that consumes them (a small
circle with the op's name) and on to its result (a box with data and grad).
Like the helpers in :mod:`course_lib.viz` it builds a
:class:`matplotlib.figure.Figure` without ``pyplot`` and returns it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from course_lib.numpy_nn.autograd import Value, topological_order

_BOX_W, _BOX_H, _OP_R = 1.5, 0.62, 0.22  # node sizes in data units
_COL = 2.3  # horizontal distance between a value column and the next


def graph_layers(root: Value) -> dict[int, int]:
    """Column of every node, keyed by ``id``: one right of its deepest input.

    A leaf sits just left of its first consumer, so constants such as the 2
    in ``2 * a`` stay next to where they are used.
    """
    order = topological_order(root)
    depth: dict[int, int] = {}
    for node in order:  # inputs come first, so their depth is known
        depth[id(node)] = 1 + max((depth[id(p)] for p in node._prev), default=-1)
    leaf_col: dict[int, int] = {}
    for node in order:
        for p in node._prev:
            if not p._prev:
                leaf_col[id(p)] = min(leaf_col.get(id(p), depth[id(node)] - 1), depth[id(node)] - 1)
    depth.update(leaf_col)
    return depth


def _layout(root: Value, nodes: list[Value]) -> dict[int, tuple[float, float]]:
    """(x, y) of every node: x from :func:`graph_layers`.

    Columns are filled from the output back; inside one, nodes are sorted by
    the mean height of their consumers, which keeps edges short and untangled.
    """
    depth = graph_layers(root)
    columns: dict[int, list[Value]] = {}
    for node in nodes:
        columns.setdefault(depth[id(node)], []).append(node)
    consumers: dict[int, list[Value]] = {}
    for node in nodes:
        for p in node._prev:
            consumers.setdefault(id(p), []).append(node)
    pos: dict[int, tuple[float, float]] = {}
    for d in sorted(columns, reverse=True):  # consumers are always in a later column
        members = columns[d]
        heights = {
            id(n): np.mean([pos[id(c)][1] for c in consumers.get(id(n), [])] or [0.0])
            for n in members
        }
        members.sort(key=lambda n: -heights[id(n)])  # stable: ties keep topological order
        for i, node in enumerate(members):  # centre each column vertically
            pos[id(node)] = (d * _COL, (len(members) - 1) / 2 - i)
    return pos


def draw_graph(root: Value, *, max_nodes: int = 80, title: str | None = None) -> Figure:
    """The expression graph that ends in ``root``, as a Figure.

    Each value is a box showing its label (if any), ``data`` and ``grad``; each
    operation is a circle between its inputs and its result. A value used
    twice has two outgoing edges. Call ``root.backward()`` first to see the
    gradients.

    Raises ``ValueError`` when the graph has more than ``max_nodes`` values: a
    picture of a bigger graph is no longer readable.
    """
    nodes = topological_order(root)
    if len(nodes) > max_nodes:
        raise ValueError(
            f"the graph has {len(nodes)} values, more than max_nodes={max_nodes}; "
            "draw a smaller expression or raise max_nodes"
        )
    pos = _layout(root, nodes)
    n_cols = 1 + round(max(x for x, _ in pos.values()) / _COL)
    n_rows = 1 + round(2 * max(abs(y) for _, y in pos.values()))

    fig = Figure(figsize=(1.2 + 2.2 * n_cols, 0.6 + 0.9 * n_rows), layout="constrained")
    ax = fig.add_subplot()
    for node in nodes:
        x, y = pos[id(node)]
        text = (f"{node.label}\n" if node.label else "") + (
            f"data {node.data:.4g}\ngrad {node.grad:.4g}"
        )
        ax.add_patch(
            FancyBboxPatch(
                (x - _BOX_W / 2, y - _BOX_H / 2),
                _BOX_W,
                _BOX_H,
                boxstyle="round,pad=0.02",
                facecolor="#e8f0fe" if node._prev else "#fff4d6",
                edgecolor="0.3",
            )
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=8, family="monospace")
        if not node._prev:
            continue
        # the op circle sits half-way between this box and the previous column
        ox = x - _COL / 2
        ax.add_patch(Circle((ox, y), _OP_R, facecolor="white", edgecolor="0.3"))
        ax.text(ox, y, node._op, ha="center", va="center", fontsize=8)
        ax.annotate("", (x - _BOX_W / 2, y), (ox + _OP_R, y), arrowprops={"arrowstyle": "->"})
        for child in node._prev:
            cx, cy = pos[id(child)]
            ax.annotate(
                "",
                (ox - _OP_R, y),
                (cx + _BOX_W / 2, cy),
                arrowprops={"arrowstyle": "->", "color": "0.4", "shrinkA": 0, "shrinkB": 1},
            )
    ax.set_xlim(-_BOX_W / 2 - 0.3, (n_cols - 1) * _COL + _BOX_W / 2 + 0.3)
    ax.set_ylim(-(n_rows - 1) / 2 - 0.6, (n_rows - 1) / 2 + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
