"""Tensor.__repr__: which suffixes PyTorch shows (device, dtype, grad_fn, requires_grad)."""

from __future__ import annotations

from . import _dtype as D
from ._tensor_str import format_tensor


def tensor_repr(t, prefix: str = "tensor(") -> str:
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
