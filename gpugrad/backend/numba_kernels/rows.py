"""softmax, log_softmax, cross_entropy and their backwards on the CPU: one parallel task per row.

The fast case is a C-contiguous array reduced along its last axis, viewed as (M, N) rows;
each row is read while it is in cache: its maximum, then the shifted exponentials (written
out) and their sum, then the scaling. Other axes, layouts, dtypes other than float32/float64
and arrays below ``MIN_SIZE`` use the reference. The exponentials are ``_fastmath.vexp`` so
the loops stay SIMD; ``reassoc`` lets LLVM keep several partial sums (no flag that changes
NaN/inf is used). A NaN in a row makes the row NaN; a row of -inf gives NaN, as PyTorch.
"""

from __future__ import annotations

import numpy as np

from ..kernels.rows import NO_CLASS
from . import ENGINE
from ._jit import njit, prange

# the row maximum (NaN ignored: only the shift) is reduction.py's; Numba's disk cache keys a
# kernel by its own file, so after editing that helper touch this file too
from .reduction import row_max as _row_max

# _fastmath.vexp, bound when a kernel here is built (LazyKernel reads the global then)
vexp = None

_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
# Measured against the NumPy reference, interleaved in one process (loaded 2-core machine):
# the compiled kernels take 0.5-0.6x the reference's time from 4x1024 to 4096x1024 (float32).
MIN_SIZE = 1 << 12
# cross_entropy's forward: see _ce_rows (measured as MIN_SIZE's note)
MIN_SIZE_CE = 1 << 12
_REASSOC = {"reassoc", "contract", "nsz", "arcp"}
_LANES = 16


@njit(fastmath=_REASSOC)
def _exp_shifted(row, m, dst):
    T = row.dtype.type
    s = T(0)
    for i in range(row.size):
        e = vexp(row[i] - m, T)
        dst[i] = e
        s += e
    return s


@njit(fastmath=_REASSOC)
def _scale(dst, f):
    for i in range(dst.size):
        dst[i] *= f


@njit(fastmath=_REASSOC)
def _shift(row, c, dst):
    for i in range(row.size):
        dst[i] = row[i] - c


@njit(parallel=True)
def _softmax_rows(x2, out):
    T = x2.dtype.type
    for r in prange(x2.shape[0]):
        m = _row_max(x2[r])
        s = _exp_shifted(x2[r], m, out[r])
        _scale(out[r], T(1) / s)


@njit(parallel=True)
def _log_softmax_rows(x2, out):
    for r in prange(x2.shape[0]):
        m = _row_max(x2[r])
        s = _exp_shifted(x2[r], m, out[r])
        _shift(x2[r], m + np.log(s), out[r])


@njit(fastmath=_REASSOC)
def _dot(a, b):
    T = a.dtype.type
    s = T(0)
    for i in range(a.size):
        s += a[i] * b[i]
    return s


@njit(fastmath=_REASSOC)
def _total(a):
    T = a.dtype.type
    s = T(0)
    for i in range(a.size):
        s += a[i]
    return s


@njit(inline="always")
def _flushed(v, T):
    """0 for a subnormal ``v`` (NaN kept). Softmax's far tails times a small upstream
    gradient are subnormal, and a gradient full of them makes the next BLAS product (the
    weight gradient) ~50-100x slower (measured: (128, 1024) @ (1024, 96), 12 ms vs 0.2)."""
    tiny = (
        T(1.1754943508222875e-38)
        if T(1e-39) != T(0) and T(1e-300) == T(0)
        else T(2.2250738585072014e-308)
    )
    return T(0) if abs(v) < tiny else v


@njit(fastmath=_REASSOC)
def _softmax_grad_row(g, y, d, dst):
    T = y.dtype.type
    for i in range(y.size):
        dst[i] = _flushed(y[i] * (g[i] - d), T)


@njit(fastmath=_REASSOC)
def _log_softmax_grad_row(g, y, s, dst):
    T = y.dtype.type
    for i in range(y.size):
        dst[i] = _flushed(g[i] - vexp(y[i], T) * s, T)


@njit(parallel=True)
def _softmax_backward_rows(g2, y2, out):
    for r in prange(y2.shape[0]):
        _softmax_grad_row(g2[r], y2[r], _dot(g2[r], y2[r]), out[r])


@njit(parallel=True)
def _log_softmax_backward_rows(g2, y2, out):
    for r in prange(y2.shape[0]):
        _log_softmax_grad_row(g2[r], y2[r], _total(g2[r]), out[r])


def _last_axis(x, axis) -> bool:
    return axis == x.ndim - 1 or axis == -1


def _when(x, axis) -> bool:
    return (
        getattr(x, "dtype", None) in _FLOATS
        and x.size >= MIN_SIZE
        and _last_axis(x, axis)
        and x.flags.c_contiguous
    )


def _when_backward(grad, y, axis) -> bool:
    return (
        getattr(y, "dtype", None) in _FLOATS
        and y.size >= MIN_SIZE
        and _last_axis(y, axis)
        and y.flags.c_contiguous
        and getattr(grad, "dtype", None) == y.dtype
        and grad.shape == y.shape
    )


def _examples():
    return [(np.ones((2, MIN_SIZE // 2), dt), 1) for dt in (np.float32, np.float64)]


def _backward_examples():
    return [(x, x, 1) for x, _ in _examples()]


def _bind_exp():
    from . import _fastmath

    globals()["vexp"] = _fastmath.vexp  # before the kernels compile (LazyKernel reads it)


def _rows_of(x):
    return x.reshape(-1, x.shape[-1])


def _forward(body):
    def run(x, axis):
        out = np.empty(x.shape, x.dtype)
        body(_rows_of(x), _rows_of(out))
        return out

    return run


def _backward(body):
    def run(grad, y, axis):
        out = np.empty(y.shape, y.dtype)
        grad = np.ascontiguousarray(grad)  # a broadcast grad (of a sum) is read once here
        body(_rows_of(grad), _rows_of(y), _rows_of(out))
        return out

    return run


@ENGINE.implements("softmax", when=_when, examples=_examples)
def _build_softmax():
    _bind_exp()
    return _forward(_softmax_rows)


@ENGINE.implements("log_softmax", when=_when, examples=_examples)
def _build_log_softmax():
    _bind_exp()
    return _forward(_log_softmax_rows)


@ENGINE.implements("softmax_backward", when=_when_backward, examples=_backward_examples)
def _build_softmax_backward():
    return _backward(_softmax_backward_rows)


@ENGINE.implements("log_softmax_backward", when=_when_backward, examples=_backward_examples)
def _build_log_softmax_backward():
    _bind_exp()
    return _backward(_log_softmax_backward_rows)


# ---- cross_entropy: per row its maximum, then one pass for the sum of exponentials (and the
# label-smoothing sum), the loss from those scalars: no (N, C) array is written ----------------
@njit(fastmath=_REASSOC)
def _sumexp(row, m):
    # in the row's dtype: every term is in [0, 1] (as reduction.py's _chunk_sumexp)
    T = row.dtype.type
    s = T(0)
    for i in range(row.size):
        s += vexp(row[i] - m, T)
    return s


@njit(fastmath=_REASSOC)
def _sumexp_dev(row, m, w):
    # and sum_c w_c (m - x_c) >= 0: label smoothing's sum_c w_c (lse - x_c) is then
    # sum(w) log(s) + this, a sum of non-negative terms (no cancellation at large logits)
    T = row.dtype.type
    s = T(0)
    d = T(0)
    for i in range(row.size):
        v = row[i] - m
        s += vexp(v, T)
        d -= w[i] * v
    return s, d


@njit(parallel=True)
def _ce_rows(x2, target, w, weighted, ignore_index, eps, wsum, lse, rowloss, rowweight):
    # rowloss[r]: row r's (1-e) w[t] (lse - x[t]) + e/C sum_c w_c (lse - x_c) (float64),
    # rowweight[r]: w[t] (0 for an ignored row). Returns how many targets are out of range.
    n, c = x2.shape
    bad = 0
    for r in prange(n):
        row = x2[r]
        m = _row_max(row)
        if eps != 0.0:
            s, d = _sumexp_dev(row, m, w)
        else:
            s, d = _sumexp(row, m), row.dtype.type(0)
        logs = np.log(s)
        top = m + logs
        lse[r] = top
        t = target[r]
        if t == ignore_index:
            rowloss[r] = 0.0
            rowweight[r] = 0.0
        elif t < 0 or t >= c:
            bad += 1
            rowloss[r] = np.nan
            rowweight[r] = 0.0
        else:
            wt = np.float64(w[t]) if weighted else 1.0
            loss = wt * (np.float64(top) - np.float64(row[t]))
            if eps != 0.0:
                smooth = wsum * np.float64(logs) + np.float64(d)
                loss = (1.0 - eps) * loss + eps / c * smooth
            rowloss[r] = loss
            rowweight[r] = wt
    return bad


# ---- the training loop's case on a small batch (no weight, no smoothing, a 0-d loss): one
# serial pass. A parallel kernel's start alone costs more than these rows; the reference's
# ten NumPy calls cost ~10 us on 16 x 10 logits, this call ~1.5 ---------------------------
@njit(fastmath=_REASSOC)
def _ce_plain(x2, target, ignore_index, lse):
    # (sum over kept rows of lse - x[t], kept rows, out-of-range targets)
    n, c = x2.shape
    total = 0.0
    kept = 0
    bad = 0
    for r in range(n):
        row = x2[r]
        m = _row_max(row)
        top = m + np.log(_sumexp(row, m))
        lse[r] = top
        t = target[r]
        if t == ignore_index:
            continue
        if t < 0 or t >= c:
            bad += 1
        else:
            total += np.float64(top) - np.float64(row[t])
            kept += 1
    return total, kept, bad


@njit(fastmath=_REASSOC)
def _ce_plain_backward(x2, target, lse, ignore_index, g, mean, out):
    # per kept row exp(x - lse) * s, minus s at the target; s = g (sum) or g / kept (mean)
    n, c = x2.shape
    T = x2.dtype.type
    kept = 0
    for r in range(n):
        if target[r] != ignore_index:
            kept += 1
    # all ignored: every row is zeros and s unused (Python's float division would raise)
    s = T(g) * (T(1) / T(kept)) if mean and kept else T(g)
    bad = 0
    for r in range(n):
        t = target[r]
        dst = out[r]
        if t == ignore_index:
            for i in range(c):
                dst[i] = T(0)
            continue
        row = x2[r]
        for i in range(c):
            dst[i] = _flushed(vexp(row[i] - lse[r], T) * s, T)
        if t < 0 or t >= c:
            bad += 1
        else:
            dst[t] -= s
    return bad


def _plain_small(logits, weight, label_smoothing, reduction) -> bool:
    return (
        weight is None and not label_smoothing and reduction != "none" and logits.size < MIN_SIZE_CE
    )


def _bad_target(target, ignore_index: int, c: int) -> IndexError:
    """PyTorch's error for the first out-of-range target (after the kernel counted some)."""
    t = target[(target != ignore_index) & ((target < 0) | (target >= c))]
    return IndexError(f"Target {int(t[0])} is out of bounds.")


def _when_ce(logits, target, weight, ignore_index=None, label_smoothing=0.0, reduction="mean"):
    return (
        getattr(logits, "dtype", None) in _FLOATS
        and (logits.size >= MIN_SIZE_CE or _plain_small(logits, weight, label_smoothing, reduction))
        and logits.ndim == 2
        and logits.flags.c_contiguous
        and getattr(target, "ndim", 0) == 1
        and target.dtype.kind in "iu"
        and target.shape[0] == logits.shape[0]
        and (weight is None or weight.shape == (logits.shape[1],))
    )


def _ce_forward_examples():
    out = []
    for x, _ in _examples():
        t = np.zeros(x.shape[0], np.int64)
        out.append((x, t, None, -100, 0.0, "mean"))
        out.append((x, t, x[0], 0, 0.1, "none"))
    return out


def _class_weights(weight, c: int, dt):
    return np.ones(c, dt) if weight is None else np.ascontiguousarray(weight, dtype=dt)


@ENGINE.implements("cross_entropy", when=_when_ce, examples=_ce_forward_examples)
def _build_cross_entropy():
    _bind_exp()

    def cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction):
        ignore_index = NO_CLASS if ignore_index is None else int(ignore_index)
        n, c = logits.shape
        dt = logits.dtype
        if _plain_small(logits, weight, label_smoothing, reduction):
            lse = np.empty(n, dt)
            total, kept, bad = _ce_plain(logits, target, ignore_index, lse)
            if bad:
                raise _bad_target(target, ignore_index, c)
            if reduction == "mean":  # all ignored: 0 / 0, NaN as PyTorch
                total = total / kept if kept else float("nan")
            return np.asarray(total + 0.0, dt), lse
        w = _class_weights(weight, c, dt)
        eps = float(label_smoothing)
        lse = np.empty(n, dt)
        rowloss = np.empty(n, np.float64)
        rowweight = np.empty(n, np.float64)
        tgt = target.astype(np.int64, copy=False)
        wsum = float(w.sum(dtype=np.float64)) if eps else 0.0
        args = (logits, tgt, w, weight is not None, ignore_index, eps, wsum)
        if _ce_rows(*args, lse, rowloss, rowweight):
            raise _bad_target(tgt, ignore_index, c)
        if reduction == "none":
            return rowloss.astype(dt), lse
        total = rowloss.sum()
        if reduction == "mean":
            with np.errstate(all="ignore"):  # all ignored: 0 / 0, NaN as PyTorch
                total = total / rowweight.sum()
        return np.asarray(total + 0.0, dt), lse  # + 0.0: a zero loss is +0.0, as PyTorch

    return cross_entropy


# ---- cross_entropy_backward: one pass per row, p = exp(logits - lse) never stored ----------
@njit(fastmath=_REASSOC)
def _ce_grad_row(x, lse, a, sm, w, use_smooth, dst):
    T = x.dtype.type
    for i in range(x.size):
        v = vexp(x[i] - lse, T) * a
        if use_smooth:
            v -= sm * w[i]
        dst[i] = _flushed(v, T)


@njit(parallel=True)
def _ce_backward_rows(x2, lse, a, sm, w, use_smooth, safe, sub, out):
    c = x2.shape[1]
    bad = 0
    for r in prange(x2.shape[0]):
        _ce_grad_row(x2[r], lse[r], a[r], sm[r], w, use_smooth, out[r])
        t = safe[r]
        if t < 0 or t >= c:
            bad += 1
        else:
            out[r, t] -= sub[r]
    return bad


def _when_ce_backward(
    grad, logits, target, lse, weight, ignore_index=None, label_smoothing=0.0, reduction="mean"
) -> bool:
    return (
        getattr(logits, "dtype", None) in _FLOATS
        and (
            logits.size >= MIN_SIZE
            or (
                _plain_small(logits, weight, label_smoothing, reduction)
                and getattr(grad, "ndim", 1) == 0
            )
        )
        and logits.ndim == 2
        and logits.flags.c_contiguous
        and getattr(lse, "dtype", None) == logits.dtype
        and (weight is None or weight.dtype == logits.dtype)
    )


def _ce_examples():
    out = []
    for x, _ in _examples():
        t = np.zeros(x.shape[0], np.int64)
        lse = np.zeros(x.shape[0], x.dtype)
        out.append((np.ones((), x.dtype), x, t, lse, None, -100, 0.0, "mean"))
        out.append((np.ones(x.shape[0], x.dtype), x, t, lse, x[0], 0, 0.1, "none"))
    return out


@ENGINE.implements("cross_entropy_backward", when=_when_ce_backward, examples=_ce_examples)
def _build_cross_entropy_backward():
    _bind_exp()

    def cross_entropy_backward(
        grad, logits, target, lse, weight, ignore_index, label_smoothing, reduction
    ):
        # the per-row scalars of the reference's formula (O(N) in NumPy), then one pass
        ignore_index = NO_CLASS if ignore_index is None else int(ignore_index)
        n, c = logits.shape
        dt = logits.dtype
        if _plain_small(logits, weight, label_smoothing, reduction) and grad.ndim == 0:
            out = np.empty((n, c), dt)
            mean = reduction == "mean"
            if _ce_plain_backward(logits, target, lse, ignore_index, grad[()], mean, out):
                raise _bad_target(target, ignore_index, c)
            return out
        keep = target != ignore_index
        safe = np.where(keep, target, 0).astype(np.int64)
        w = _class_weights(weight, c, dt)
        wt = (w[safe] * keep).astype(dt) if weight is not None else keep.astype(dt)
        g = np.asarray(grad, dtype=dt)
        with np.errstate(all="ignore"):
            if reduction == "mean":
                g = g * (dt.type(1) / wt.sum())  # the reference's (and nll_loss's) scale
            s = np.where(keep, g, 0).astype(dt, copy=False)  # ignored rows: 0, even if NaN
            eps = float(label_smoothing)
            a = (s * ((1 - eps) * wt + eps / c * w.sum())).astype(dt)
            sub = (s * ((1 - eps) * wt)).astype(dt)
            sm = (s * (eps / c)).astype(dt)
        out = np.empty((n, c), dt)
        if _ce_backward_rows(logits, lse, a, sm, w, bool(eps), safe, sub, out):
            raise _bad_target(target, ignore_index, c)
        return out

    return cross_entropy_backward
