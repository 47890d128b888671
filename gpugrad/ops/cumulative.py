"""Running results along a dim: cumsum, cumprod, cummax / cummin (values and the index of
each running extremum), and diff (the differences of neighbours)."""

from __future__ import annotations

from .. import _dtype as D
from .. import return_types
from .._tensor import Tensor
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node
from ._util import (
    needs_grad,
    record,
    wrap_dim,
)
from .shape import cat, narrow


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """``n``-th forward difference along ``dim`` (logical xor for bool tensors)."""
    if input._data.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
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


def _reverse_cumsum(t: Tensor, d: int) -> Tensor:
    return cumsum(t.flip(d), d).flip(d)


class CumprodBackward0(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        d = self.dim
        if not x._data.ndim or x._data.shape[d] == 1:  # y is x: PyTorch passes grad on
            return (grad,)
        zero = x == 0
        if not zero.any().item():
            # d y_j / d x_i = y_j / x_i for j >= i
            return (_reverse_cumsum(grad * y, d) / x,)
        if _grad_state.enabled:  # create_graph: a formula differentiable at the zeros too
            return (_cumprod_backward_quadratic(grad, x, d),)
        # With zeros (as PyTorch's cumprod_backward): before a slice's first zero the
        # quotient rule holds (every later y_j is 0, as is its true partial); at the first
        # zero z the partial of y_j (j >= z) is y_j with x_z replaced by 1; after z, 0.
        seen = cumsum(zero, d)
        before = seen == 0
        first = zero & (seen == 1)
        safe = x.masked_fill(zero, 1)
        at_before = (_reverse_cumsum(grad * y, d) / safe).masked_fill(~before, 0)
        y_one = cumprod(x.masked_fill(first, 1), d)
        at_first = _reverse_cumsum(grad * y_one, d).masked_fill(~first, 0)
        return (at_before + at_first,)


def _cumprod_backward_quadratic(grad: Tensor, x: Tensor, d: int) -> Tensor:
    """PyTorch's O(n^2) cumprod backward, differentiable everywhere: the gradient of x_k is
    sum_{i>=k} grad_i * prod_{j<=i, j!=k} x_j, built from products that omit x_k."""
    n = x._data.shape[d]
    parts = []
    for k in range(n):
        after = cumprod(narrow(x, d, k + 1, n - k - 1), d) if k + 1 < n else None
        if k == 0:
            first = narrow(x, d, 0, 1)
            omitted = None if after is None else cat([first.new_ones(first.shape), after], d)
        else:
            until = narrow(x, d, 0, k).prod(d, keepdim=True)
            omitted = until if after is None else cat([until, until * after], d)
        g = narrow(grad, d, k, n - k)
        parts.append((g if omitted is None else g * omitted).sum(d, keepdim=True))
    return cat(parts, d)


def _scan(input: Tensor, dim: int, dtype, fn: str) -> tuple:
    """The array module's running ``fn`` (cumsum / cumprod) along ``dim``, in ``dtype`` (integers
    and bools run in int64, as PyTorch's); (output, wrapped dim)."""
    d = wrap_dim(dim, input._data.ndim)
    data = input._data if dtype is None else input._data.astype(dtype.np)
    if dtype is None and data.dtype.kind in "biu":
        data = data.astype("int64")
    xp = input._device.backend.xp
    if not data.ndim:
        res = data.copy()
    elif D.is_reduced_float(data.dtype):
        # float16 accumulates in float32, as PyTorch's (a float16 running sum of ones stalls
        # at 2048); each output is rounded once
        res = getattr(xp, fn)(data, axis=d, dtype=xp.float32)
        res = input._device.backend.quiet(res.astype, data.dtype)
    else:
        res = getattr(xp, fn)(data, axis=d)
    return Tensor._make(res, input._device), d


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
    here = (a == values) | xp.isnan(a) if D.is_floating(a.dtype) else a == values
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
