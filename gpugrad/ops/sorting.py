"""Sorting and order statistics: sort, argsort, topk, median.

Primitives carry a Node with PyTorch's name and a backward written in Tensor ops;
composites inherit their gradients.
"""

from __future__ import annotations

from .. import _dtype as D
from .. import return_types
from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import (
    needs_grad,
    record,
    wrap_dim,
)
from .indexing import scatter_into_zeros


def _float_data(t: Tensor):
    d = t._data
    return d if d.dtype.kind == "f" else d.astype(D.get_default_dtype().np)


def _index_tensor(data, like: Tensor) -> Tensor:
    return Tensor._make(data.astype("int64", copy=False), like._device)


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
    indices = _index_tensor(idx, input)
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
    return return_types.topk(*_sorted_pair(input, dim, largest, k, TopkBackward0))


class MedianBackward0(Node):
    def backward(self, grad):
        # PyTorch spreads the gradient evenly over the elements equal to the median
        x, result = self.saved_tensors
        mask = (x == result) | (x.isnan() & result.isnan())
        return (grad * mask / mask.sum(),)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """Lower median; with ``dim``, a (values, indices) pair. NaN propagates, as in PyTorch."""
    xp = input._device.backend.xp
    d = input._data
    if dim is None:
        flat = d.reshape(-1)
        if flat.size == 0:
            return Tensor._make(xp.asarray(float("nan"), d.dtype), input._device)
        s = xp.sort(flat)  # NaN sorts last
        v = s[-1] if d.dtype.kind == "f" and xp.isnan(s[-1]) else s[(flat.size - 1) // 2]
        out = Tensor._make(xp.asarray(v), input._device)
        if needs_grad(input):
            record(MedianBackward0(), (input,), out).save(input, out)
        return out
    dd = wrap_dim(dim, d.ndim) if d.ndim else 0
    dv = d if d.ndim else d.reshape(1)
    n = dv.shape[dd]
    idx = input._device.backend.argsort_stable(dv, dd)
    pick = idx[(slice(None),) * dd + (slice((n - 1) // 2, (n - 1) // 2 + 1),)]
    if d.dtype.kind == "f":  # any NaN: the first NaN is the answer
        nan = xp.isnan(dv)
        has = nan.any(axis=dd, keepdims=True)
        pick = xp.where(has, xp.argmax(nan, axis=dd, keepdims=True), pick)
    vals = xp.take_along_axis(dv, pick, axis=dd)
    if not keepdim or not d.ndim:
        vals, pick = vals.squeeze(dd), pick.squeeze(dd)
    values, indices = Tensor._make(vals, input._device), _index_tensor(pick, input)
    if needs_grad(input):
        if d.ndim:
            node = record(MedianBackward1(), (input,), values)
            node.save(indices)
            node.dim, node.shape, node.keepdim_missing = dd, d.shape, not keepdim
        else:
            values = input.clone()
    return return_types.median(values, indices)


__all__ = ["argsort", "median", "msort", "sort", "topk"]
