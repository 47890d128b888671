"""Tensor.__repr__: which suffixes PyTorch shows (device, dtype, grad_fn, requires_grad)."""

from __future__ import annotations

from . import _dtype as D
from ._tensor_str import format_tensor


def tensor_repr(t, prefix: str = "tensor(") -> str:
    if t._sparse is not None:
        return _sparse_repr(t, prefix)
    data = t._device.backend.to_host(t._data)
    suffixes = []
    if t._device.type != "cpu":
        suffixes.append(f"device='{t._device}'")
    dt = t.dtype
    default_shown = dt in (D.get_default_dtype(), D.int64, D.bool_)
    if data.size == 0:
        default_shown = dt is D.get_default_dtype()  # empty tensors show every other dtype
    if not default_shown:
        suffixes.append(f"dtype={dt!r}")
    gf = t._grad_fn
    if gf is not None:
        suffixes.append(f"grad_fn=<{gf.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    return format_tensor(data, suffixes, prefix)


def _sparse_repr(t, prefix: str) -> str:
    """PyTorch's COO repr: indices and values as nested tensors, then size, nnz, (dtype),
    layout, each suffix after the first wrapped at the line width, the first on a new line."""
    indent = len(prefix)
    p = t._sparse
    host = t._device.backend.to_host
    parts = []
    for name, part in (("indices", p.indices), ("values", p.values)):
        inner = f"{name}=tensor("
        data = host(part._data)
        body = format_tensor(data, (), " " * (indent + len(inner)))[indent + len(inner) : -1]
        if data.size == 0:
            body = f"[], size={tuple(data.shape)}"
        parts.append(inner + body + ")")
    text = prefix + parts[0] + ",\n" + " " * indent + parts[1]
    suffixes = [f"size={tuple(t.shape)}", f"nnz={p.indices._data.shape[1]}"]
    if t.dtype is not D.get_default_dtype():
        suffixes.append(f"dtype={t.dtype!r}")
    suffixes.append(f"layout={D.PRINTED_MODULE}.sparse_coo")
    gf = t._grad_fn
    if gf is not None:
        suffixes.append(f"grad_fn=<{gf.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    return _wrap_suffixes(text, suffixes, indent)


def _wrap_suffixes(text: str, suffixes: list, indent: int) -> str:
    # torch's _add_suffixes with force_newline (sparse tensors): the first suffix starts a
    # line; the rest wrap at the line width, counted as torch counts it
    from ._tensor_str import get_printoptions

    width = get_printoptions()["linewidth"]
    out = [text]
    last = len(text) - text.rfind("\n") + 1
    force = True
    for suffix in suffixes:
        if force or last + len(suffix) + 2 > width:
            out.append(",\n" + " " * indent + suffix)
            last = indent + len(suffix)
            force = False
        else:
            out.append(", " + suffix)
            last += len(suffix) + 2
    out.append(")")
    return "".join(out)
