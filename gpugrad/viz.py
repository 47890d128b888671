"""Pictures of the backward graph: Graphviz DOT text, rendered to SVG/PNG when ``dot`` exists.

    dot_text = gpugrad.viz.draw(loss, params={"w": w, "b": b}, path="graph.svg")

The picture follows the usual autograd diagrams: output tensors (green) point at their
``grad_fn``; each node (grey) points at the nodes that made its inputs; a leaf's
``AccumulateGrad`` points at the leaf tensor (blue) with its name and shape. A detached
tensor has no ``grad_fn``, so the graph simply stops there. ``show_saved`` adds the tensors
each node keeps for backward (orange).

The walk is iterative (an explicit stack), so graphs thousands of nodes deep draw fine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable

from ._tensor import Tensor
from .autograd.graph import AccumulateGrad, Node

_FORMATS = ("svg", "png", "pdf", "dot")

_MISSING_DOT = (
    "Rendering to {fmt} needs the Graphviz 'dot' program, which is not installed (or not on "
    "PATH). Install Graphviz (e.g. `apt-get install graphviz`, `brew install graphviz` or "
    "`conda install graphviz`), or pass format='dot' / call draw() without a path to get the "
    "DOT text only."
)

_STYLE = {
    "output": 'shape=box style=filled fillcolor="#c9e4a6"',
    "tensor": 'shape=box style=filled fillcolor="#d6e6f5"',
    "node": 'shape=box style="rounded,filled" fillcolor="#e4e4e4"',
    "saved": 'shape=box style=filled fillcolor="#f7c99a"',
}


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _saved_entries(node: Node) -> list[tuple[int, tuple]]:
    """(index, shape) of each tensor the node still holds, read without unpacking it."""
    saved = node._saved
    if not saved:
        return []
    out = []
    for i, s in enumerate(saved):
        if s is None:
            continue
        if type(s) is tuple:  # an input, saved as (tensor, version)
            out.append((i, tuple(s[0]._data.shape)))
            continue
        arr = s.tensor._data if s.tensor is not None else s.data
        if arr is None:  # packed by a saved-tensor hook: shape unknown without unpacking
            out.append((i, None))
        else:
            out.append((i, tuple(arr.shape)))
    return out


def to_dot(
    roots: Tensor | Iterable[Tensor],
    params: dict[str, Tensor] | None = None,
    show_saved: bool = False,
) -> str:
    """DOT text of the backward graph reachable from ``roots``."""
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    names = {id(t): n for n, t in (params or {}).items()}
    lines = [
        "digraph autograd {",
        '  graph [rankdir=TB ordering=in fontname="Helvetica"];',
        '  node [fontname="Helvetica" fontsize=11 height=0.25];',
        "  edge [arrowsize=0.7];",
    ]
    seen: set[int] = set()
    stack: list[Node] = []

    def tensor_box(t: Tensor, kind: str) -> str:
        tid = f"t{id(t)}"
        if tid not in seen:
            seen.add(tid)
            label = _shape(t.shape)
            if id(t) in names:
                label = f"{names[id(t)]}\n{label}"
            lines.append(f"  {tid} [label={_quote(label)} {_STYLE[kind]}];")
        return tid

    # Named non-leaf tensors are drawn beside their grad_fn, like the outputs.
    named_by_fn: dict[int, list[Tensor]] = {}
    for t in (params or {}).values():
        if isinstance(t, Tensor) and t._grad_fn is not None:
            named_by_fn.setdefault(id(t._grad_fn), []).append(t)

    for r in roots:
        tid = tensor_box(r, "output")
        if r._grad_fn is not None:
            lines.append(f"  {tid} -> n{id(r._grad_fn)};")
            stack.append(r._grad_fn)
        elif r._requires_grad:
            # A leaf as root: its gradient goes straight into .grad.
            node = r._grad_accumulator()
            lines.append(f"  {tid} -> n{id(node)};")
            stack.append(node)

    root_ids = {id(r) for r in roots}
    visited: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        nid = f"n{id(node)}"
        lines.append(f"  {nid} [label={_quote(node.name())} {_STYLE['node']}];")
        for t in named_by_fn.get(id(node), ()):
            if id(t) not in root_ids:
                lines.append(f"  {tensor_box(t, 'output')} -> {nid} [style=dashed];")
        if isinstance(node, AccumulateGrad):
            leaf = tensor_box(node.variable, "tensor")
            lines.append(f"  {nid} -> {leaf};")
        if show_saved:
            for i, shape in _saved_entries(node):
                sid = f"s{id(node)}_{i}"
                label = f"saved[{i}]\n" + ("(packed)" if shape is None else _shape(shape))
                lines.append(f"  {sid} [label={_quote(label)} {_STYLE['saved']}];")
                lines.append(f"  {sid} -> {nid} [style=dotted dir=none];")
        for nxt, _ in node.next_functions:
            if nxt is None:  # input did not require grad (or was detached): graph ends here
                continue
            lines.append(f"  {nid} -> n{id(nxt)};")
            if id(nxt) not in visited:
                stack.append(nxt)
    lines.append("}")
    return "\n".join(lines) + "\n"


def have_dot() -> bool:
    """True when the Graphviz ``dot`` program can be run."""
    return shutil.which("dot") is not None


def render(dot_text: str, path: str, format: str | None = None) -> str:
    """Write ``dot_text`` to ``path`` as DOT, or as SVG/PNG/PDF through Graphviz ``dot``."""
    fmt = (format or os.path.splitext(path)[1].lstrip(".") or "dot").lower()
    if fmt not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS}, got {fmt!r}")
    if fmt == "dot":
        with open(path, "w", encoding="utf-8") as f:
            f.write(dot_text)
        return path
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(_MISSING_DOT.format(fmt=fmt.upper()))
    proc = subprocess.run(
        [exe, f"-T{fmt}", "-o", path], input=dot_text.encode(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed ({proc.returncode}): {proc.stderr.decode().strip()}")
    return path


def draw(
    tensor_or_tensors: Tensor | Iterable[Tensor],
    params: dict[str, Tensor] | None = None,
    show_saved: bool = False,
    format: str | None = None,
    path: str | None = None,
) -> str:
    """Draw the backward graph of ``tensor_or_tensors``; returns the DOT text.

    ``params`` names tensors (leaves, or intermediate results) in the picture. With ``path``
    the picture is written there, as ``format`` or as the path's suffix says ('dot', 'svg',
    'png', 'pdf'); SVG/PNG/PDF need Graphviz's ``dot`` (a RuntimeError says how to get it).
    """
    text = to_dot(tensor_or_tensors, params, show_saved)
    if path is not None:
        render(text, path, format)
    elif format is not None and format not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS}, got {format!r}")
    return text


__all__ = ["draw", "have_dot", "render", "to_dot"]
