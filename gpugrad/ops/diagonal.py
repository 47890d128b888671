"""Diagonals and triangles of matrices: diagonal, diag, trace, tril, triu."""

from __future__ import annotations

from .._tensor import Tensor
from ..autograd.graph import Node
from ._checks import not_implemented_for
from ._util import (
    index_tensor,
    needs_grad,
    record,
    wrap_dim,
)
from .indexing import getitem, index_put_zeros
from .shape import movedim


# ---- shape helpers -----------------------------------------------------------------------
def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes, as the last dim (a copy, not a view)."""
    nd = input._data.ndim
    d1, d2 = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    x = movedim(input, (d1, d2), (-2, -1))
    rows, cols = x._data.shape[-2:]
    xp = input._device.backend.xp
    r0, c0 = (0, offset) if offset >= 0 else (-offset, 0)
    n = max(0, min(rows - r0, cols - c0))
    r = xp.arange(r0, r0 + n)
    c = xp.arange(c0, c0 + n)
    return getitem(x, (Ellipsis, index_tensor(r, input), index_tensor(c, input)))


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D -> a square matrix with ``input`` on a diagonal; 2-D -> that diagonal."""
    nd = input._data.ndim
    if nd == 2:
        return globals()["diagonal"](input, diagonal)
    if nd != 1:
        raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{nd}D")
    n = input._data.shape[0]
    m = n + abs(diagonal)
    xp = input._device.backend.xp
    r = xp.arange(n) + max(0, -diagonal)
    c = xp.arange(n) + max(0, diagonal)
    return index_put_zeros(input, (m, m), (r, c), accumulate=False)


def trace(input: Tensor) -> Tensor:
    """Sum of the main diagonal of a matrix."""
    if input._data.ndim != 2:
        raise RuntimeError(
            "trace: expected a matrix, but got tensor with dim " + f"{input._data.ndim}"
        )
    if input._data.dtype.kind == "b":  # NumPy would sum the booleans
        raise not_implemented_for("trace", input._data.dtype)
    return globals()["diagonal"](input).sum()


class TrilBackward0(Node):
    def backward(self, grad):
        return (tril(grad, self.diagonal) if self.lower else triu(grad, self.diagonal),)


class TriuBackward0(TrilBackward0):
    pass


def _tri(input: Tensor, diagonal: int, lower: bool) -> Tensor:
    if input._data.ndim < 2:  # NumPy's tril takes a 1-D row as a matrix of repeats
        raise RuntimeError(
            f"{'tril' if lower else 'triu'}: input tensor must have at least 2 dimensions"
        )
    xp = input._device.backend.xp
    data = xp.tril(input._data, diagonal) if lower else xp.triu(input._data, diagonal)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record((TrilBackward0 if lower else TriuBackward0)(), (input,), out)
        node.diagonal, node.lower = diagonal, lower
    return out


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle (last two dims); the rest zero."""
    return _tri(input, diagonal, True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle (last two dims); the rest zero."""
    return _tri(input, diagonal, False)
