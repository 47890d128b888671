"""Elementwise math of two tensors beyond arithmetic: xlogy."""

from __future__ import annotations

from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import (
    binary_arrays,
    grad_for,
    needs_grad,
    record,
)


class XlogyBackward0(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        gx = grad * xlogy((x != 0).to(grad.dtype), y) if self.needs_input_grad(0) else None
        gy = grad * x / y if self.needs_input_grad(1) else None
        return (
            None if gx is None else grad_for(gx, self.ma),
            None if gy is None else grad_for(gy, self.mb),
        )


def xlogy(input: Tensor, other) -> Tensor:
    """x * log(y), and 0 where x == 0 (unless y is NaN)."""
    if not isinstance(input, Tensor):
        input = other.new_tensor(input) if isinstance(other, Tensor) else Tensor(input)
    a, b = binary_arrays(input, other, "xlogy", floating=True)
    xp = input._device.backend.xp
    if not hasattr(b, "dtype"):  # a Python number: keep the tensor's dtype
        b = xp.asarray(b, dtype=a.dtype)
    with_log = a * xp.log(b)
    data = xp.where((a == 0) & ~xp.isnan(b), xp.zeros((), with_log.dtype), with_log)
    out = Tensor._make(data.astype(with_log.dtype, copy=False), input._device)
    y = other if isinstance(other, Tensor) else None
    if needs_grad(input, y):
        node = record(XlogyBackward0(), (input, y), out)
        y_saved = y if y is not None else Tensor._make(b, input._device)
        node.save(input, y_saved)
        node.ma = (input._data.shape, input._data.dtype)
        node.mb = None if y is None else (y._data.shape, y._data.dtype)
    return out
