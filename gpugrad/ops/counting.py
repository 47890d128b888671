"""Counting and searching: count_nonzero, unique, bincount, histc, isin, searchsorted."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ._checks import not_implemented_for, require_floating
from ._util import (
    check_device,
    index_tensor,
    wrap_dim,
)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Counts in ``bins`` equal bins over [min, max] (the data's range when min == max);
    values outside are ignored. No gradient, as in PyTorch."""
    x = input._data
    require_floating(x, "linspace_cpu" if x.dtype.kind == "b" else "histogram_cpu")
    if bins <= 0:  # NumPy raises a ValueError of its own
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
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
    nz = Tensor._make(input._data != 0, input._device)  # (no gradient to keep)
    return nz.sum(dim) if dim is not None else nz.sum()


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """True where an element of ``elements`` is in ``test_elements`` (either may be a number)."""
    if (
        elements is None
        or test_elements is None
        or not isinstance(elements, Tensor)
        and not (isinstance(test_elements, Tensor))
    ):
        got = ", ".join(type(a).__name__ for a in (elements, test_elements))
        raise TypeError(
            f"isin() received an invalid combination of arguments - got ({got}), but expected "
            "a Tensor and a Tensor or Number"
        )
    like = elements if isinstance(elements, Tensor) else test_elements
    for a in (elements, test_elements):
        if isinstance(a, bool) or isinstance(a, Tensor) and a._data.dtype.kind == "b":
            raise RuntimeError("Unsupported input type encountered for isin(): Bool")
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
    if d.dtype.kind in "fc":  # PyTorch's kernel is integral-only
        raise not_implemented_for("bincount_cpu", d.dtype)
    if d.ndim != 1 or d.dtype.kind not in "iub":
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if d.size and int(d.min()) < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if d.dtype.kind == "b":
        raise not_implemented_for("bincount_cpu", d.dtype)
    xp = input._device.backend.xp
    if weights is None:
        return index_tensor(xp.bincount(d, minlength=minlength), input)
    check_device(input, weights, "bincount")
    w = weights._data
    # PyTorch's: float32 weights count in float32, every other dtype (float16 and bfloat16
    # included) in float64
    rt = w.dtype if w.dtype == D.float32.np else "float64"
    data = xp.bincount(d, weights=w.astype("float64", copy=False), minlength=minlength)
    data = data.astype(rt)
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
    if input is None:
        raise TypeError(
            "searchsorted() received an invalid combination of arguments - got (Tensor, "
            "NoneType), but expected a Tensor or Number input"
        )
    if seq.ndim == 0:
        if isinstance(input, Tensor):
            raise RuntimeError(
                "torch.searchsorted(): boundaries tensor should have positive dimension, but "
                "got 0 dimension"
            )
        raise RuntimeError(
            "torch.searchsorted(): input value can be a scalar only when boundaries tensor "
            "dimension is 1, but we got boundaries tensor dim(0) and input value's dim(0) "
            "numel(1)"
        )
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
