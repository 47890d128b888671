"""Running results along a dim: cumsum, cumprod, cummax / cummin (values and the index of
each running extremum), and diff (the differences of neighbours)."""

from __future__ import annotations

from .. import return_types
from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import (
    needs_grad,
    record,
    wrap_dim,
)
from .shape import cat, narrow


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """``n``-th forward difference along ``dim`` (logical xor for bool tensors)."""
    d = wrap_dim(dim, input._data.ndim)
    x = input
    if prepend is not None or append is not None:
        parts = [p for p in (prepend, input, append) if p is not None]
        x = cat(parts, d)
    for _ in range(n):
        m = x._data.shape[d]
        if m == 0:
            break
        hi, lo = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = hi.logical_xor(lo) if x._data.dtype.kind == "b" else hi - lo
    return x


class CumprodBackward0(Node):
    def backward(self, grad):
        # d y_j / d x_i = y_j / x_i for j >= i: exact when the input has no zeros (a zero
        # gives inf/nan here; PyTorch's slower formula handles that case).
        x, y = self.saved_tensors
        d = self.dim
        rev = cumsum((grad * y).flip(d), d).flip(d)
        return (rev / x,)


def _scan(input: Tensor, dim: int, dtype, fn: str) -> tuple:
    """The array module's running ``fn`` (cumsum / cumprod) along ``dim``, in ``dtype`` (integers
    and bools run in int64, as PyTorch's); (output, wrapped dim)."""
    d = wrap_dim(dim, input._data.ndim)
    data = input._data if dtype is None else input._data.astype(dtype.np)
    if dtype is None and data.dtype.kind in "biu":
        data = data.astype("int64")
    xp = input._device.backend.xp
    out = Tensor._make(getattr(xp, fn)(data, axis=d) if data.ndim else data.copy(), input._device)
    return out, d


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative product along ``dim`` (gradient exact for inputs without zeros)."""
    out, d = _scan(input, dim, dtype, "cumprod")
    if needs_grad(input):
        node = record(CumprodBackward0(), (input,), out)
        node.save(input, out)
        node.dim = d
    return out


class CumsumBackward0(Node):
    def backward(self, grad):
        # the reverse cumulative sum: flip, cumsum, flip
        return (cumsum(grad.flip(self.dim), self.dim).flip(self.dim),)


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative sum along ``dim``."""
    out, d = _scan(input, dim, dtype, "cumsum")
    if needs_grad(input):
        record(CumsumBackward0(), (input,), out).dim = d
    return out


class CummaxBackward0(Node):
    def backward(self, grad, grad_indices=None):
        (indices,) = self.saved_tensors
        if not self.shape:  # a 0-d input is its own running extreme
            return (grad,)
        # each output took its value from one input: the gradients add up there
        return (grad.new_zeros(self.shape).scatter_add(self.dim, indices, grad),)


class CumminBackward0(CummaxBackward0):
    pass


def _cumulative(input: Tensor, dim: int, largest: bool):
    x = input if input._data.ndim else input.reshape(1)
    d = wrap_dim(dim, x._data.ndim)
    backend = input._device.backend
    xp = backend.xp
    a = x._data
    values = backend.cum_extreme(a, d, largest)
    # a position takes the running extreme's index when it is (one of) the extreme(s) so far,
    # the latest one on ties, as PyTorch; a NaN stays the extreme from where it appears
    here = (a == values) | xp.isnan(a) if a.dtype.kind == "f" else a == values
    pos = xp.arange(a.shape[d]).reshape((-1,) + (1,) * (a.ndim - d - 1))
    indices = backend.cum_extreme(xp.where(here, pos, 0), d, True).astype("int64")
    if not input._data.ndim:
        values, indices = values.reshape(()), indices.reshape(())
    out = Tensor._make(values, input._device)
    idx = Tensor._make(indices, input._device)
    if needs_grad(input):
        node = record((CummaxBackward0 if largest else CumminBackward0)(), (input,), out)
        node.save(idx)
        node.dim, node.shape = (d if input._data.ndim else 0), input._data.shape
    result = return_types.cummax if largest else return_types.cummin
    return result(out, idx)


def cummax(input: Tensor, dim: int):
    """Running maximum along ``dim`` and the index it came from."""
    return _cumulative(input, dim, largest=True)


def cummin(input: Tensor, dim: int):
    """Running minimum along ``dim`` and the index it came from."""
    return _cumulative(input, dim, largest=False)
