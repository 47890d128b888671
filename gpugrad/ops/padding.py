"""pad: constant (a primitive whose backward is a slice), reflect/replicate/circular (gathers)."""

from __future__ import annotations

from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import (
    needs_grad,
    record,
)


class ConstantPadNdBackward0(Node):
    def backward(self, grad):
        return (grad[self.key],)


def _constant(input: Tensor, pads: list[tuple[int, int]], value: float) -> Tensor:
    """Pad the last len(pads) dims; negative amounts crop."""
    nd = input.ndim
    lead = nd - len(pads)
    if any(input.shape[lead + i] + min(lo, 0) + min(hi, 0) < 0 for i, (lo, hi) in enumerate(pads)):
        # PyTorch crops with narrow() before it pads; a slice would give an empty dim
        raise RuntimeError("narrow(): length must be non-negative.")
    crop = [slice(None)] * lead + [
        slice(max(-lo, 0), input.shape[lead + i] - max(-hi, 0)) for i, (lo, hi) in enumerate(pads)
    ]
    x = input[tuple(crop)] if any(lo < 0 or hi < 0 for lo, hi in pads) else input
    widths = [(0, 0)] * lead + [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    xp = x._device.backend.xp
    data = xp.pad(x._data, widths, mode="constant", constant_values=value)
    out = Tensor._make(data, x._device)
    if needs_grad(x):
        node = record(ConstantPadNdBackward0(), (x,), out)
        node.key = tuple(slice(lo, lo + s) for (lo, _), s in zip(widths, x.shape))
    return out


def _index_for(mode: str, size: int, lo: int, hi: int, xp):
    i = xp.arange(-lo, size + hi)
    if mode == "reflect":
        if lo >= size or hi >= size:
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension of input {size}"
            )
        period = 2 * (size - 1)
        i = xp.abs(i) % period if period else i * 0
        return xp.where(i >= size, period - i, i)
    if mode == "replicate":
        return xp.clip(i, 0, size - 1)
    if lo > size or hi > size:
        raise RuntimeError("Padding value causes wrapping around more than once.")
    return i % size  # circular


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dims: ``pad`` = (left, right, top, bottom, ...) from the last dim back."""
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the "
            "input dimension but got padding length "
            f"{len(pad)} and input of dimension {input.ndim}"
        )
    pairs = [(int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)][::-1]
    if mode == "constant":
        return _constant(input, pairs, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    xp = input._device.backend.xp
    out = input
    lead = input.ndim - len(pairs)
    for i, (lo, hi) in enumerate(pairs):
        if lo == 0 and hi == 0:
            continue
        d = lead + i
        idx = Tensor._make(_index_for(mode, input.shape[d], lo, hi, xp), input._device)
        out = out.index_select(d, idx)
    return out
