"""The row catalogue names on the GPU: softmax / log_softmax, layer_norm and rms_norm over the
last, contiguous dim; other layouts keep the reference kernels."""

from __future__ import annotations

import numpy as np

from ... import _dtype as D
from . import ENGINE, rows_source
from .compile import function
from .launch import BLOCKS_PER_SM, sm_count
from .pointwise import SERVED

_kernels: dict = {}


def _kernel(kernel: str, dtype: str):
    key = (kernel, dtype)
    fn = _kernels.get(key)
    if fn is None:
        fn = _kernels[key] = function(
            rows_source.source(dtype), rows_source.kernel_name(kernel, dtype)
        )
    return fn


def block_for(cols: int) -> int:
    """Threads per row: a power of two, enough for 4+ columns each, 32 to 512."""
    b = 32
    while b < 512 and b * 4 < cols:
        b *= 2
    return b


def _geometry(x) -> tuple[int, int, int, int]:
    cols = x.shape[-1]
    rows = x.size // cols
    grid = max(1, min(rows, sm_count(x.device.id) * BLOCKS_PER_SM))
    return rows, cols, grid, block_for(cols)


def _last_contiguous(x, axis: int) -> bool:
    return (
        x.dtype in SERVED
        and x.ndim >= 1
        and axis in (-1, x.ndim - 1)
        and x.size > 0
        and x.flags.c_contiguous
    )


def _softmax(x, take_log: int):
    import cupy

    out = cupy.empty_like(x)
    rows, cols, grid, block = _geometry(x)
    args = (x, out, np.int64(rows), np.int64(cols), np.int32(take_log))
    _kernel("softmax", D.np_name(x.dtype))((grid,), (block,), args)
    return out


def _softmax_backward(g, y, take_log: int):
    import cupy

    dx = cupy.empty_like(y)
    rows, cols, grid, block = _geometry(y)
    args = (g, y, dx, np.int64(rows), np.int64(cols), np.int32(take_log))
    _kernel("softmax_backward", D.np_name(y.dtype))((grid,), (block,), args)
    return dx


ENGINE.implements("softmax", when=_last_contiguous)(lambda: lambda x, axis: _softmax(x, 0))
ENGINE.implements("log_softmax", when=_last_contiguous)(lambda: lambda x, axis: _softmax(x, 1))


def _backward_when(g, y, axis):
    return _last_contiguous(y, axis) and g.dtype == y.dtype and g.flags.c_contiguous


ENGINE.implements("softmax_backward", when=_backward_when)(
    lambda: lambda g, y, axis: _softmax_backward(g, y, 0)
)
ENGINE.implements("log_softmax_backward", when=_backward_when)(
    lambda: lambda g, y, axis: _softmax_backward(g, y, 1)
)


def _ptr(a):
    """An optional array argument: a null pointer for None."""
    return np.uint64(0) if a is None else a


def _stat_dtype(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def _optional(a, dtype) -> bool:
    return a is None or (a.dtype == dtype and a.flags.c_contiguous)


def _ln_when(x, weight, bias, eps):
    return (
        _last_contiguous(x, -1)
        and x.ndim == 2
        and _optional(weight, x.dtype)
        and _optional(bias, x.dtype)
    )


@ENGINE.implements("layer_norm", when=_ln_when)
def _build_layer_norm():
    import cupy

    def layer_norm(x, weight, bias, eps):
        rows, cols, grid, block = _geometry(x)
        st = _stat_dtype(x.dtype)
        y = cupy.empty_like(x)
        mean = cupy.empty(rows, st)
        rstd = cupy.empty(rows, st)
        args = (x, _ptr(weight), _ptr(bias), y, mean, rstd, np.int64(rows), np.int64(cols), st(eps))
        _kernel("layer_norm", D.np_name(x.dtype))((grid,), (block,), args)
        return y, mean, rstd

    return layer_norm


def _ln_backward_when(grad, x, mean, rstd, weight, weight_grads):
    return (
        _last_contiguous(x, -1)
        and x.ndim == 2
        and grad.dtype == x.dtype
        and grad.flags.c_contiguous
        and mean.dtype == _stat_dtype(x.dtype)
        and _optional(weight, x.dtype)
    )


@ENGINE.implements("layer_norm_backward", when=_ln_backward_when)
def _build_layer_norm_backward():
    import cupy

    def layer_norm_backward(grad, x, mean, rstd, weight, weight_grads):
        rows, cols, grid, block = _geometry(x)
        n = (np.int64(rows), np.int64(cols))
        dx = cupy.empty_like(x)
        _kernel("layer_norm_backward", D.np_name(x.dtype))(
            (grid,), (block,), (grad, x, mean, rstd, _ptr(weight), dx, *n)
        )
        if not weight_grads:
            return dx, None, None
        dw = cupy.empty(cols, x.dtype)
        db = cupy.empty(cols, x.dtype)
        cgrid = max(1, -(-cols // 128))
        _kernel("layer_norm_weight_grads", D.np_name(x.dtype))(
            (cgrid,), (128,), (grad, x, mean, rstd, dw, db, *n)
        )
        return dx, dw, db

    return layer_norm_backward


def _rms_when(x, weight, eps):
    return _last_contiguous(x, -1) and x.ndim == 2 and _optional(weight, x.dtype)


@ENGINE.implements("rms_norm", when=_rms_when)
def _build_rms_norm():
    import cupy

    def rms_norm(x, weight, eps):
        rows, cols, grid, block = _geometry(x)
        st = _stat_dtype(x.dtype)
        y = cupy.empty_like(x)
        rstd = cupy.empty(rows, st)
        args = (x, _ptr(weight), y, rstd, np.int64(rows), np.int64(cols), st(eps))
        _kernel("rms_norm", D.np_name(x.dtype))((grid,), (block,), args)
        return y, rstd

    return rms_norm


def _rms_backward_when(grad, x, rstd, weight, weight_grads):
    return (
        _last_contiguous(x, -1)
        and x.ndim == 2
        and grad.dtype == x.dtype
        and grad.shape == x.shape
        and grad.flags.c_contiguous
        and rstd.dtype == _stat_dtype(x.dtype)
        and rstd.flags.c_contiguous
        and _optional(weight, x.dtype)
    )


@ENGINE.implements("rms_norm_backward", when=_rms_backward_when)
def _build_rms_norm_backward():
    import cupy

    def rms_norm_backward(grad, x, rstd, weight, weight_grads):
        rows, cols, grid, block = _geometry(x)
        n = (np.int64(rows), np.int64(cols))
        dx = cupy.empty_like(x)
        _kernel("rms_norm_backward", D.np_name(x.dtype))(
            (grid,), (block,), (grad, x, rstd, _ptr(weight), dx, *n)
        )
        if not weight_grads:
            return dx, None
        dw = cupy.empty(cols, x.dtype)
        cgrid = max(1, -(-cols // 128))
        _kernel("rms_norm_weight_grads", D.np_name(x.dtype))(
            (cgrid,), (128,), (grad, x, rstd, dw, *n)
        )
        return dx, dw

    return rms_norm_backward


_INT64 = (-(1 << 63), (1 << 63) - 1)


def _ignore_args(ignore_index) -> tuple:
    """The kernels' (ignore, has_ignore): a value no int64 target can take matches nothing."""
    if ignore_index is None or not _INT64[0] <= ignore_index <= _INT64[1]:
        return np.int64(0), np.int32(0)
    return np.int64(ignore_index), np.int32(1)


def _ce_when(logits, target, weight, ignore_index=None, label_smoothing=0.0, reduction="mean"):
    return (
        _last_contiguous(logits, -1)
        and logits.ndim == 2
        and target.dtype == np.int64
        and target.ndim == 1
        and target.flags.c_contiguous
        and _optional(weight, logits.dtype)
        and reduction in ("mean", "sum", "none")
    )


@ENGINE.implements("cross_entropy", when=_ce_when)
def _build_cross_entropy():
    import cupy

    def cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction):
        rows, cols, grid, block = _geometry(logits)
        st = _stat_dtype(logits.dtype)
        lse, row_loss, row_w = (cupy.empty(rows, st) for _ in range(3))
        args = (logits, target, _ptr(weight), lse, row_loss, row_w, np.int64(rows))
        args += (np.int64(cols), *_ignore_args(ignore_index), st(label_smoothing))
        _kernel("cross_entropy", D.np_name(logits.dtype))((grid,), (block,), args)
        if reduction == "none":
            loss = row_loss
        else:
            loss = row_loss.sum() + 0  # + 0: a zero loss is +0.0, as PyTorch's
            if reduction == "mean":  # all rows ignored: 0 / 0, NaN as PyTorch's
                loss = loss / row_w.sum()
        return loss.astype(logits.dtype, copy=False), lse

    return cross_entropy


def _ce_backward_when(
    grad, logits, target, lse, weight, ignore_index=None, label_smoothing=0.0, reduction="mean"
):
    return (
        _ce_when(logits, target, weight, ignore_index, label_smoothing, reduction)
        and lse.dtype == _stat_dtype(logits.dtype)
        and lse.flags.c_contiguous
    )


@ENGINE.implements("cross_entropy_backward", when=_ce_backward_when)
def _build_cross_entropy_backward():
    import cupy

    def cross_entropy_backward(
        grad, logits, target, lse, weight, ignore_index, label_smoothing, reduction
    ):
        rows, cols, grid, block = _geometry(logits)
        st = _stat_dtype(logits.dtype)
        ignore, has_ignore = _ignore_args(ignore_index)
        g = cupy.asarray(grad, dtype=st)
        if reduction == "mean":  # the kept rows' total weight, on the device
            keep = (target != ignore) if has_ignore else None
            if weight is None:
                total = keep.sum(dtype=st) if keep is not None else st(rows)
            else:
                wt = weight.astype(st)[cupy.clip(target, 0, cols - 1)]
                total = (wt * keep).sum() if keep is not None else wt.sum()
            g = g * (st(1) / total)
        scale = cupy.ascontiguousarray(g.reshape(-1))
        dx = cupy.empty_like(logits)
        args = (logits, target, lse, _ptr(weight), scale, np.int64(reduction == "none"), dx)
        args += (np.int64(rows), np.int64(cols), ignore, has_ignore, st(label_smoothing))
        _kernel("cross_entropy_backward", D.np_name(logits.dtype))((grid,), (block,), args)
        return dx

    return cross_entropy_backward
