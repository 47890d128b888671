"""Sorting and order statistics: sort, argsort, msort, topk, median, kthvalue, quantile,
mode.

Primitives carry a Node with PyTorch's name and a backward written in Tensor ops;
composites inherit their gradients (kthvalue and quantile through sort)."""

from __future__ import annotations

import math

from .. import _dtype as D
from .. import return_types
from .._tensor import Tensor
from ..autograd.graph import Node
from ._checks import not_implemented_for
from ._util import (
    index_tensor,
    needs_grad,
    record,
    wrap_dim,
)
from .indexing import scatter_into_zeros
from .shape import stack

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _check_reduced_size(name: str, shape: tuple, d: int) -> None:
    """PyTorch's IndexError for an order statistic of a zero-size dim."""
    if shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The k-th smallest element (1-based) along ``dim``, and its index."""
    if input._data.dtype.kind == "b":
        raise not_implemented_for("kthvalue_cpu", input._data.dtype)
    x = input if input.ndim else input.reshape(1)
    d = wrap_dim(dim, x.ndim)
    _check_reduced_size("kthvalue", x.shape, d)
    if not 1 <= k <= x.shape[d]:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    s = x.sort(d, stable=True)
    values, indices = s.values.narrow(d, k - 1, 1), s.indices.narrow(d, k - 1, 1)
    if not keepdim or not input.ndim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return return_types.kthvalue(values, indices)


def quantile(
    input: Tensor, q, dim: int | None = None, keepdim: bool = False, *, interpolation="linear"
) -> Tensor:
    """The ``q``-th quantiles (a number, or a 1-D tensor of them: a leading dim) along
    ``dim`` (of all elements by default); NaN in a slice gives NaN, as in PyTorch."""
    if not D.is_floating(input._data.dtype) or D.is_reduced_float(input._data.dtype):
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            "quantile() interpolation must be one of linear, lower, higher, midpoint or "
            f"nearest, but got {interpolation}"
        )
    if isinstance(q, Tensor):
        if q._data.ndim > 1:
            raise RuntimeError("quantile() q must be a scalar or 1D tensor")
        if q._data.dtype != input._data.dtype:
            raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
    qs = q.tolist() if isinstance(q, Tensor) else q
    many = isinstance(qs, list)
    for v in qs if many else [qs]:
        if not 0 <= v <= 1:
            raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {v}")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, x.ndim)
    n = x.shape[d]
    if n == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    s = x.sort(d).values
    nan = s.isnan().any(d, keepdim=True)  # NaN sorts last: any NaN makes the answer NaN
    outs = [
        _pick(s, d, v * (n - 1), interpolation).masked_fill(nan, math.nan)
        for v in (qs if many else [qs])
    ]
    if keepdim:
        shape = [1] * input.ndim if dim is None else list(outs[0].shape)
        outs = [o.reshape(shape) for o in outs]
    else:
        outs = [o.squeeze(d) for o in outs]
    return stack(outs) if many else outs[0]


def _pick(s: Tensor, d: int, pos: float, how: str) -> Tensor:
    lo, hi = math.floor(pos), math.ceil(pos)
    if how == "nearest":
        lo = hi = round(pos)  # half to even, as PyTorch's round
    elif how == "lower":
        hi = lo
    elif how == "higher":
        lo = hi
    a = s.narrow(d, lo, 1)
    if hi == lo:
        return a
    b = s.narrow(d, hi, 1)
    return (a + b) / 2 if how == "midpoint" else a + (b - a) * (pos - lo)


class ModeBackward0(Node):
    def backward(self, grad, grad_indices=None):
        (indices,) = self.saved_tensors
        if not self.shape:
            return (grad,)
        d = self.dim
        g, idx = (grad, indices) if self.keepdim else (grad.unsqueeze(d), indices.unsqueeze(d))
        return (grad.new_zeros(self.shape).scatter(d, idx, g),)


def mode(input: Tensor, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the
    index of its last occurrence, as PyTorch."""
    a = input._data
    d = wrap_dim(dim, a.ndim) if a.ndim else 0
    backend = input._device.backend
    xp = backend.xp
    x = xp.moveaxis(a.reshape(1) if not a.ndim else a, d, -1)
    n = x.shape[-1]
    if n == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    order = backend.argsort_stable(x, -1)
    s = xp.take_along_axis(x, order, axis=-1)
    pos = xp.arange(n)
    new = xp.ones(s.shape, dtype=bool)
    new[..., 1:] = s[..., 1:] != s[..., :-1]  # a run of equal values starts here
    last = xp.ones(s.shape, dtype=bool)
    last[..., :-1] = new[..., 1:]  # ... and ends here
    start = backend.cum_extreme(xp.where(new, pos, 0), -1, True)
    length = xp.where(last, pos - start + 1, 0)  # counted at each run's last element
    best = xp.argmax(length, axis=-1)[..., None]  # ties: the first, i.e. smallest value
    values = xp.take_along_axis(s, best, axis=-1)[..., 0]
    indices = xp.take_along_axis(order, best, axis=-1)[..., 0].astype("int64")
    if keepdim and a.ndim:
        values, indices = xp.expand_dims(values, d), xp.expand_dims(indices, d)
    if not a.ndim:
        values, indices = values.reshape(()), indices.reshape(())
    out = Tensor._make(values, input._device)
    idx = Tensor._make(indices, input._device)
    if needs_grad(input):
        node = record(ModeBackward0(), (input,), out)
        node.save(idx)
        node.dim, node.keepdim, node.shape = d, keepdim, a.shape
    return return_types.mode(out, idx)


# ---- sorting -----------------------------------------------------------------------------
class _TakenAlongDim(Node):
    """Backward of ops whose values are input gathered at saved indices along ``dim``."""

    def backward(self, grad):
        (index,) = self.saved_tensors
        if self.keepdim_missing:  # values lost the dim: put it back for the scatter
            grad, index = grad.unsqueeze(self.dim), index.unsqueeze(self.dim)
        return (scatter_into_zeros(self.shape, self.dim, index, grad),)


class SortBackward0(_TakenAlongDim):
    pass


class TopkBackward0(_TakenAlongDim):
    pass


class MedianBackward1(_TakenAlongDim):
    pass


def _argsort(backend, d, axis: int, descending: bool):
    """Stable indices that sort ``d`` along ``axis`` (ties keep their order either way)."""
    xp = backend.xp
    if not descending:
        return backend.argsort_stable(d, axis)
    # Reverse, sort ascending stably, reverse back: descending with ties in original order
    # (negating would break unsigned and bool data).
    n = d.shape[axis]
    rev = xp.flip(d, axis)
    idx = xp.flip(backend.argsort_stable(rev, axis), axis)
    return (n - 1) - idx


def _sorted_pair(input: Tensor, dim: int, descending: bool, k, node_cls):
    xp = input._device.backend.xp
    d = input._data
    if d.ndim == 0:
        idx = xp.zeros((), "int64")
        if k is not None and k > 1:
            raise RuntimeError("selected index k out of range")
        vals = d.copy()
        dd = 0
    else:
        dd = wrap_dim(dim, d.ndim)
        if k is not None and not 0 <= k <= d.shape[dd]:
            raise RuntimeError("selected index k out of range")
        idx = _argsort(input._device.backend, d, dd, descending)
        if k is not None:
            idx = idx[(slice(None),) * dd + (slice(0, k),)]
        vals = xp.take_along_axis(d, idx, axis=dd)
    values = Tensor._make(vals, input._device)
    indices = index_tensor(idx, input)
    if needs_grad(input) and d.ndim:
        node = record(node_cls(), (input,), values)
        node.save(indices)
        node.dim, node.shape, node.keepdim_missing = dd, d.shape, False
    elif needs_grad(input):
        values = input.clone()
    return values, indices


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """Sorted values and their indices along ``dim`` (always stable here)."""
    return return_types.sort(*_sorted_pair(input, dim, descending, None, SortBackward0))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """Indices that sort ``input`` along ``dim``."""
    return sort(input, dim, descending, stable).indices


def msort(input: Tensor) -> Tensor:
    """Sort along the first dimension."""
    return sort(input, 0).values


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (or smallest) values along ``dim`` and their indices (sorted)."""
    if input._data.dtype.kind == "b" and input.device.type == "cpu":  # (CUDA's has a loop)
        raise RuntimeError("topk does not support bool dtypes on CPU")
    return return_types.topk(*_sorted_pair(input, dim, largest, k, TopkBackward0))


class MedianBackward0(Node):
    def backward(self, grad):
        # PyTorch spreads the gradient evenly over the elements equal to the median
        x, result = self.saved_tensors
        mask = (x == result) | (x.isnan() & result.isnan())
        return (grad * mask / mask.sum(),)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """Lower median; with ``dim``, a (values, indices) pair. NaN propagates, as in PyTorch."""
    if input._data.dtype.kind == "b":
        raise not_implemented_for("median_cpu", input._data.dtype)
    xp = input._device.backend.xp
    d = input._data
    if dim is None:
        flat = d.reshape(-1)
        if flat.size == 0:
            return Tensor._make(xp.asarray(float("nan"), d.dtype), input._device)
        s = xp.sort(flat)  # NaN sorts last
        v = s[-1] if D.is_floating(d.dtype) and xp.isnan(s[-1]) else s[(flat.size - 1) // 2]
        out = Tensor._make(xp.asarray(v), input._device)
        if needs_grad(input):
            record(MedianBackward0(), (input,), out).save(input, out)
        return out
    dd = wrap_dim(dim, d.ndim) if d.ndim else 0
    dv = d if d.ndim else d.reshape(1)
    n = dv.shape[dd]
    _check_reduced_size("median", dv.shape, dd)
    idx = input._device.backend.argsort_stable(dv, dd)
    pick = idx[(slice(None),) * dd + (slice((n - 1) // 2, (n - 1) // 2 + 1),)]
    if D.is_floating(d.dtype):  # any NaN: the first NaN is the answer
        nan = xp.isnan(dv)
        has = nan.any(axis=dd, keepdims=True)
        pick = xp.where(has, xp.argmax(nan, axis=dd, keepdims=True), pick)
    vals = xp.take_along_axis(dv, pick, axis=dd)
    if not keepdim or not d.ndim:
        vals, pick = vals.squeeze(dd), pick.squeeze(dd)
    values, indices = Tensor._make(vals, input._device), index_tensor(pick, input)
    if needs_grad(input):
        if d.ndim:
            node = record(MedianBackward1(), (input,), values)
            node.save(indices)
            node.dim, node.shape, node.keepdim_missing = dd, d.shape, not keepdim
        else:
            values = input.clone()
    return return_types.median(values, indices)
