"""Counting and searching: count_nonzero, unique, bincount, histc, isin, searchsorted; and
(until they join indexing.py) index_add / index_copy / index_fill / take."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import (
    check_device,
    index_tensor,
    needs_grad,
    record,
    wrap_dim,
)
from .indexing import getitem, index_put_zeros


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Counts in ``bins`` equal bins over [min, max] (the data's range when min == max);
    values outside are ignored. No gradient, as in PyTorch."""
    x = input._data
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:  # PyTorch widens an empty range by one on each side
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    xp = input._device.backend.xp
    counts, _ = xp.histogram(x, bins=bins, range=(lo, hi))
    return Tensor._make(counts.astype(x.dtype), input._device)


def count_nonzero(input: Tensor, dim=None) -> Tensor:
    """Number of non-zero elements (over ``dim``, an int or a tuple)."""
    return (input != 0).sum(dim) if dim is not None else (input != 0).sum()


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """True where an element of ``elements`` is in ``test_elements`` (either may be a number)."""
    like = elements if isinstance(elements, Tensor) else test_elements
    xp = like._device.backend.xp
    e = elements._data if isinstance(elements, Tensor) else xp.asarray(elements)
    s = test_elements._data if isinstance(test_elements, Tensor) else xp.asarray(test_elements)
    return Tensor._make(xp.isin(e, s, invert=invert), like._device)


def unique(
    input: Tensor,
    sorted: bool = True,  # noqa: A002
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
):
    """Distinct values (sorted), with the inverse mapping and counts when asked (no grad)."""
    xp = input._device.backend.xp
    d = input._data
    axis = None if dim is None else wrap_dim(dim, d.ndim)
    res = xp.unique(d, return_inverse=True, return_counts=True, axis=axis)
    vals, inv, cnt = res[0], res[1], res[2]
    inv = inv.reshape(d.shape) if axis is None else inv.reshape(-1)
    out = [Tensor._make(vals, input._device)]
    if return_inverse:
        out.append(index_tensor(inv, input))
    if return_counts:
        out.append(index_tensor(cnt, input))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts of each non-negative integer (summed ``weights`` when given)."""
    d = input._data
    if d.ndim != 1 or d.dtype.kind not in "iub":
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if d.size and int(d.min()) < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    xp = input._device.backend.xp
    if weights is None:
        return index_tensor(xp.bincount(d, minlength=minlength), input)
    check_device(input, weights, "bincount")
    w = weights._data
    rt = w.dtype if w.dtype.kind == "f" else "float64"
    data = xp.bincount(d, weights=w, minlength=minlength).astype(rt)
    return Tensor._make(data, input._device)


def searchsorted(
    sorted_sequence: Tensor,
    input,
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Tensor | None = None,
) -> Tensor:
    """Insertion indices of ``input`` in the innermost dim of ``sorted_sequence``."""
    xp = sorted_sequence._device.backend.xp
    seq = sorted_sequence._data
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter._data, axis=-1)
    s = side or ("right" if right else "left")
    scalar = not isinstance(input, Tensor)
    v = xp.asarray(input, seq.dtype) if scalar else input._data
    if seq.ndim <= 1:
        res = xp.searchsorted(seq, v, side=s)
    else:
        if v.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(
                "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                "dimensions of boundaries tensor and input value tensor must match"
            )
        lead = seq.shape[:-1]
        s2, v2 = seq.reshape(-1, seq.shape[-1]), v.reshape(-1, v.shape[-1])
        res = xp.stack([xp.searchsorted(a, b, side=s) for a, b in zip(s2, v2)])
        res = res.reshape(lead + (v.shape[-1],))
    return Tensor._make(
        xp.asarray(res).astype("int32" if out_int32 else "int64"), sorted_sequence._device
    )


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``input`` with ``alpha * source`` slices added at ``index`` along ``dim`` (repeats add)."""
    check_device(input, index, "index_add")
    nd = input._data.ndim
    d = wrap_dim(dim, nd) if nd else 0
    idx = index._data.reshape(-1)
    n = input._data.shape[d] if nd else 1
    if idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):
        raise IndexError("index out of range in self")
    src = source if alpha == 1 else source * alpha
    if src._data.dtype != input._data.dtype:
        src = src.to(input.dtype)
    key = (slice(None),) * d + (idx,)
    return input + index_put_zeros(src, input._data.shape, key, accumulate=True)


def take(input: Tensor, index: Tensor) -> Tensor:
    """Elements of the flattened ``input`` at ``index`` (result has ``index``'s shape)."""
    check_device(input, index, "take")
    n = input._data.size
    idx = index._data
    if idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):
        bad = int(idx.max()) if int(idx.max()) >= n else int(idx.min())
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    return getitem(input.reshape(-1), (index,))


class IndexCopyBackward0(Node):
    def backward(self, grad):
        d, index = self.dim, self.index
        key = (slice(None),) * d + (index,)
        gi = gs = None
        if self.needs_input_grad(0):
            gi = grad.clone()
            gi[key] = 0  # the copied-over slices got nothing from the input
        if self.needs_input_grad(1):
            gs = grad[key]
        return (gi, gs)


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` with the slices of ``source`` at ``index`` along ``dim``."""
    check_device(input, index, "index_copy")
    check_device(input, source, "index_copy")
    if index._data.dtype.kind not in "iu" or index._data.dtype.itemsize != 8:
        raise RuntimeError(
            "index_copy_(): Expected a long tensor for index, but got "
            f"{D.scalar_type_name(index._data.dtype)}"
        )
    nd = input._data.ndim
    d = wrap_dim(dim, nd) if nd else 0
    idx = index._data.reshape(-1)
    src_n = source._data.shape[d] if source._data.ndim else 1
    if idx.size != src_n:
        raise IndexError(
            f"index_copy_(): Number of indices ({idx.size}) should be equal to "
            f"source.size(dim) ({src_n})"
        )
    n = input._data.shape[d] if nd else 1
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if hi >= n or lo < 0:
            raise IndexError(
                f"index_copy_(): index {hi if hi >= n else lo} is out of bounds for dimension "
                f"{d} with size {n}"
            )
    key = (slice(None),) * d + (idx,)
    data = input._data.copy()
    data[key] = source._data
    out = Tensor._make(data, input._device)
    if needs_grad(input, source):
        node = record(IndexCopyBackward0(), (input, source), out)
        node.dim, node.index = d, Tensor._make(idx, input._device)
    return out


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """A copy of ``input`` with ``value`` (a number or 0-d tensor) at ``index`` along ``dim``;
    no gradient reaches the filled positions."""
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s)."
            )
        value = value.item()
    d = wrap_dim(dim, input._data.ndim)
    out = input.clone()
    out[(slice(None),) * d + (index,)] = value
    return out
