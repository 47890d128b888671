"""layer_norm, rms_norm, group_norm and their backwards on the CPU: one parallel task per
row (per block of rows for the (M, N) backwards, whose weight and bias gradients are sums over
rows; per (sample, group) for group_norm, a contiguous row of C/G channels).

The fast case is a C-contiguous float32/float64 array of at least ``MIN_SIZE`` (layer_norm),
``MIN_SIZE_RMS`` or ``MIN_SIZE_GROUP`` elements with contiguous weight/bias of its dtype;
other calls use the reference. Statistics accumulate in
float64 (two passes: the mean, then the squared deviations), so float32 rows keep their
precision; ``reassoc`` lets LLVM keep several partial sums (no flag that changes NaN/inf).
"""

from __future__ import annotations

import math

import numpy as np

from . import ENGINE
from ._jit import njit, prange

_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
# Measured against the reference, interleaved in one process (loaded 2-core machine).
MIN_SIZE = 1 << 12
# rms_norm / group_norm: the compiled kernels won at every size measured, down to 8 elements
# (float32 rms_norm (1, 8): 8 vs 39 us forward, 15 vs 49 backward; group_norm (1, 4, 2): 6 vs
# 35 and 12 vs 42; 2^16: 28 vs 137 and 70 vs 288 / 80 vs 250 and 270 vs 350), so any
# non-empty array takes them.
MIN_SIZE_RMS = 1
MIN_SIZE_GROUP = 1
_REASSOC = {"reassoc", "contract", "nsz", "arcp"}
_BLOCKS = 32  # row blocks of the backward: each owns a row of dweight/dbias partials


@njit(fastmath=_REASSOC)
def _row_stats(row, eps):
    s = 0.0
    for i in range(row.size):
        s += np.float64(row[i])
    mu = s / row.size
    q = 0.0
    for i in range(row.size):
        d = np.float64(row[i]) - mu
        q += d * d
    return mu, 1.0 / math.sqrt(q / row.size + eps)


@njit(fastmath=_REASSOC)
def _row_out(row, mu, r, w, b, dst, affine, shift):
    T = row.dtype.type
    tm, tr = T(mu), T(r)
    for i in range(row.size):
        v = (row[i] - tm) * tr
        if affine:
            v = v * w[i]
        if shift:
            v = v + b[i]
        dst[i] = v


@njit(parallel=True)
def _layer_norm_rows(x2, w, b, eps, affine, shift, out, mean, rstd):
    for r in prange(x2.shape[0]):
        mu, rs = _row_stats(x2[r], eps)
        mean[r] = mu
        rstd[r] = rs
        _row_out(x2[r], mean[r], rstd[r], w, b, out[r], affine, shift)


@njit(fastmath=_REASSOC)
def _row_grad(g, x, mu, rs, w, affine, dx):
    T = x.dtype.type
    n = x.size
    sa = T(0)
    sb = T(0)
    for i in range(n):
        gw = g[i] * w[i] if affine else g[i]
        sa += gw
        sb += gw * (x[i] - mu) * rs
    a = sa / T(n)
    b = sb / T(n)
    for i in range(n):
        gw = g[i] * w[i] if affine else g[i]
        dx[i] = (gw - a - (x[i] - mu) * rs * b) * rs


@njit(fastmath=_REASSOC)
def _row_wgrad(g, x, mu, rs, pw, pb):
    for i in range(x.size):
        pw[i] += g[i] * (x[i] - mu) * rs
        pb[i] += g[i]


@njit(parallel=True)
def _layer_norm_backward_rows(g2, x2, mean, rstd, w, affine, wgrads, dx, pw, pb):
    m = x2.shape[0]
    nb = pw.shape[0]
    for blk in prange(nb):
        lo = blk * m // nb
        hi = (blk + 1) * m // nb
        for r in range(lo, hi):
            _row_grad(g2[r], x2[r], mean[r], rstd[r], w, affine, dx[r])
            if wgrads:
                _row_wgrad(g2[r], x2[r], mean[r], rstd[r], pw[blk], pb[blk])


def _param_ok(p, x, shape: tuple) -> bool:
    """A weight or bias the kernels read: None, or ``shape`` of x's dtype, C-contiguous."""
    return p is None or (
        getattr(p, "dtype", None) == x.dtype and p.shape == shape and p.flags.c_contiguous
    )


def _input_ok(x, ndim: int, min_size: int) -> bool:
    # a non-empty float32/float64 C-ordered array (min_size >= 1, so every dim is > 0)
    return (
        getattr(x, "dtype", None) in _FLOATS
        and x.size >= min_size
        and x.ndim == ndim
        and x.flags.c_contiguous
    )


def _grad_ok(grad, x, *stats) -> bool:
    # the upstream gradient like x, and the saved statistics in x's dtype
    return (
        getattr(grad, "dtype", None) == x.dtype
        and grad.shape == x.shape
        and all(s.dtype == x.dtype for s in stats)
    )


def _when(x, weight, bias, eps) -> bool:
    return (
        _input_ok(x, 2, MIN_SIZE)
        and _param_ok(weight, x, x.shape[1:])
        and _param_ok(bias, x, x.shape[1:])
    )


def _when_backward(grad, x, mean, rstd, weight, weight_grads) -> bool:
    return (
        _input_ok(x, 2, MIN_SIZE)
        and _grad_ok(grad, x, mean, rstd)
        and _param_ok(weight, x, x.shape[1:])
    )


def _examples():
    out = []
    for dt in (np.float32, np.float64):
        x = np.ones((4, MIN_SIZE // 4), dt)
        w = np.ones(MIN_SIZE // 4, dt)
        out += [(x, w, w, 1e-5), (x, None, None, 1e-5)]
    return out


def _backward_examples():
    out = []
    for x, w, _, _ in _examples():
        s = np.ones(x.shape[0], x.dtype)
        out += [(x, x, s, s, w, True), (x, x, s, s, None, False)]
    return out


@ENGINE.implements("layer_norm", when=_when, examples=_examples)
def _build_layer_norm():
    def layer_norm(x, weight, bias, eps):
        m, n = x.shape
        out = np.empty_like(x)
        mean = np.empty(m, x.dtype)
        rstd = np.empty(m, x.dtype)
        dummy = np.empty(0, x.dtype)
        w = dummy if weight is None else weight
        b = dummy if bias is None else bias
        _layer_norm_rows(x, w, b, float(eps), weight is not None, bias is not None, out, mean, rstd)
        return out, mean, rstd

    return layer_norm


@ENGINE.implements("layer_norm_backward", when=_when_backward, examples=_backward_examples)
def _build_layer_norm_backward():
    def layer_norm_backward(grad, x, mean, rstd, weight, weight_grads):
        m, n = x.shape
        grad = np.ascontiguousarray(grad)  # a broadcast grad (of a sum) is read once here
        dx = np.empty_like(x)
        nb = max(1, min(_BLOCKS, m))
        shape = (nb, n) if weight_grads else (1, 0)
        pw = np.zeros(shape, x.dtype)
        pb = np.zeros(shape, x.dtype)
        w = np.empty(0, x.dtype) if weight is None else weight
        _layer_norm_backward_rows(
            grad, x, mean, rstd, w, weight is not None, bool(weight_grads), dx, pw, pb
        )
        if not weight_grads:
            return dx, None, None
        return dx, pw.sum(axis=0), pb.sum(axis=0)

    return layer_norm_backward


# ---- rms_norm: (M, N) rows, like layer_norm's without the mean ---------------------------


@njit(fastmath=_REASSOC)
def _row_rstd(row, eps):
    q = 0.0
    for i in range(row.size):
        v = np.float64(row[i])
        q += v * v
    return 1.0 / math.sqrt(q / row.size + eps)


@njit(fastmath=_REASSOC)
def _row_scale(row, r, w, dst, affine):
    tr = row.dtype.type(r)
    for i in range(row.size):
        v = row[i] * tr
        if affine:
            v = v * w[i]
        dst[i] = v


@njit(parallel=True)
def _rms_norm_rows(x2, w, eps, affine, out, rstd):
    for r in prange(x2.shape[0]):
        rstd[r] = _row_rstd(x2[r], eps)
        _row_scale(x2[r], rstd[r], w, out[r], affine)


@njit(fastmath=_REASSOC)
def _rms_row_grad(g, x, rs, w, affine, dx):
    # dx = rs * (gw - xhat * mean(gw * xhat)), xhat = x * rs: one sum, then one pass
    T = x.dtype.type
    s = T(0)
    for i in range(x.size):
        gw = g[i] * w[i] if affine else g[i]
        s += gw * x[i]
    c = rs * rs * rs * s / T(x.size)
    for i in range(x.size):
        gw = g[i] * w[i] if affine else g[i]
        dx[i] = gw * rs - x[i] * c


@njit(fastmath=_REASSOC)
def _rms_row_wgrad(g, x, rs, pw):
    for i in range(x.size):
        pw[i] += g[i] * x[i] * rs


@njit(parallel=True)
def _rms_norm_backward_rows(g2, x2, rstd, w, affine, wgrads, dx, pw):
    m = x2.shape[0]
    nb = pw.shape[0]
    for blk in prange(nb):
        lo = blk * m // nb
        hi = (blk + 1) * m // nb
        for r in range(lo, hi):
            _rms_row_grad(g2[r], x2[r], rstd[r], w, affine, dx[r])
            if wgrads:
                _rms_row_wgrad(g2[r], x2[r], rstd[r], pw[blk])


def _when_rms(x, weight, eps) -> bool:
    return _input_ok(x, 2, MIN_SIZE_RMS) and _param_ok(weight, x, x.shape[1:])


def _when_rms_backward(grad, x, rstd, weight, weight_grads) -> bool:
    return (
        _input_ok(x, 2, MIN_SIZE_RMS)
        and _grad_ok(grad, x, rstd)
        and _param_ok(weight, x, x.shape[1:])
    )


def _rms_examples():
    out = []
    for dt in (np.float32, np.float64):
        x = np.ones((4, 256), dt)
        out += [(x, np.ones(x.shape[1], dt), 1e-6), (x, None, 1e-6)]
    return out


def _rms_backward_examples():
    out = []
    for x, w, _ in _rms_examples():
        s = np.ones(x.shape[0], x.dtype)
        out += [(x, x, s, w, w is not None)]
    return out


@ENGINE.implements("rms_norm", when=_when_rms, examples=_rms_examples)
def _build_rms_norm():
    def rms_norm(x, weight, eps):
        out = np.empty_like(x)
        rstd = np.empty(x.shape[0], x.dtype)
        w = np.empty(0, x.dtype) if weight is None else weight
        _rms_norm_rows(x, w, float(eps), weight is not None, out, rstd)
        return out, rstd

    return rms_norm


@ENGINE.implements("rms_norm_backward", when=_when_rms_backward, examples=_rms_backward_examples)
def _build_rms_norm_backward():
    def rms_norm_backward(grad, x, rstd, weight, weight_grads):
        m, n = x.shape
        grad = np.ascontiguousarray(grad)
        dx = np.empty_like(x)
        nb = max(1, min(_BLOCKS, m))
        pw = np.zeros((nb, n) if weight_grads else (1, 0), x.dtype)
        w = np.empty(0, x.dtype) if weight is None else weight
        _rms_norm_backward_rows(grad, x, rstd, w, weight is not None, bool(weight_grads), dx, pw)
        return dx, (pw.sum(axis=0) if weight_grads else None)

    return rms_norm_backward


# ---- group_norm: (N, C, S), one task per (sample, group): a contiguous row of C/G * S ------


# Each channel's span goes to its own loop over a slice: an index range j*s .. (j+1)*s with a
# runtime s kept LLVM from vectorising (measured: the (16, 64, 32, 32) forward 0.54 -> 0.15 ms)
@njit(fastmath=_REASSOC)
def _scale_shift(src, dst, tm, a, sh):
    for i in range(src.size):
        dst[i] = (src[i] - tm) * a + sh


@njit(fastmath=_REASSOC)
def _group_out(row, mu, rs, w, b, c0, s, dst, affine, shift):
    # channel j of the group holds row[j*s:(j+1)*s]; y = (x - mu) * (rs * w) + b
    T = row.dtype.type
    tm = T(mu)
    for j in range(row.size // s):
        a = T(rs) * w[c0 + j] if affine else T(rs)
        sh = b[c0 + j] if shift else T(0)
        _scale_shift(row[j * s : (j + 1) * s], dst[j * s : (j + 1) * s], tm, a, sh)


@njit(parallel=True)
def _group_norm_rows(x2, groups, s, w, b, eps, affine, shift, out, mean, rstd):
    d = x2.shape[1] // s
    for r in prange(x2.shape[0]):
        mu, rs = _row_stats(x2[r], eps)
        mean[r] = mu
        rstd[r] = rs
        _group_out(x2[r], mean[r], rstd[r], w, b, (r % groups) * d, s, out[r], affine, shift)


@njit(fastmath=_REASSOC)
def _group_grad(g, x, mu, rs, w, c0, s, affine, dx, ga, gb):
    # per channel j: ga[j] = sum g, gb[j] = sum g * xhat (the weight/bias gradients' terms);
    # then dx = rs * (w g - mean(w g) - xhat * mean(w g xhat)) over the group
    T = x.dtype.type
    d = x.size // s
    tm = T(mu)
    sa = 0.0
    sb = 0.0
    for j in range(d):
        pa, pb = _sum_and_dot(g[j * s : (j + 1) * s], x[j * s : (j + 1) * s], tm)
        ga[j] = pa
        gb[j] = pb * rs
        wj = np.float64(w[c0 + j]) if affine else 1.0
        sa += wj * ga[j]
        sb += wj * gb[j]
    c1 = T(rs * sa / x.size)
    c2 = T(rs * rs * sb / x.size)
    for j in range(d):
        a = T(rs) * w[c0 + j] if affine else T(rs)
        _grad_span(g[j * s : (j + 1) * s], x[j * s : (j + 1) * s], tm, a, c1, c2,
                   dx[j * s : (j + 1) * s])  # fmt: skip


@njit(fastmath=_REASSOC)
def _sum_and_dot(g, x, tm):
    # sum g and sum g * (x - mu) over one channel's span
    T = x.dtype.type
    pa = T(0)
    pb = T(0)
    for i in range(g.size):
        pa += g[i]
        pb += g[i] * (x[i] - tm)
    return pa, pb


@njit(fastmath=_REASSOC)
def _grad_span(g, x, tm, a, c1, c2, dx):
    for i in range(g.size):
        dx[i] = g[i] * a - c1 - (x[i] - tm) * c2


@njit(parallel=True)
def _group_norm_backward_rows(g2, x2, mean, rstd, groups, s, w, affine, dx, ga, gb):
    d = x2.shape[1] // s
    for r in prange(x2.shape[0]):
        _group_grad(
            g2[r], x2[r], mean[r], rstd[r], w, (r % groups) * d, s, affine, dx[r], ga[r], gb[r]
        )


def _when_group(x, weight, bias, groups, eps) -> bool:
    return (
        _input_ok(x, 3, MIN_SIZE_GROUP)
        and _param_ok(weight, x, x.shape[1:2])
        and _param_ok(bias, x, x.shape[1:2])
    )


def _when_group_backward(grad, x, mean, rstd, weight, groups, weight_grads) -> bool:
    return (
        _input_ok(x, 3, MIN_SIZE_GROUP)
        and _grad_ok(grad, x, mean, rstd)
        and _param_ok(weight, x, x.shape[1:2])
    )


def _group_examples():
    out = []
    for dt in (np.float32, np.float64):
        x = np.ones((2, 8, 64), dt)
        w = np.ones(8, dt)
        out += [(x, w, w, 4, 1e-5), (x, None, None, 4, 1e-5)]
    return out


def _group_backward_examples():
    out = []
    for x, w, _, groups, _ in _group_examples():
        s = np.ones((x.shape[0], groups), x.dtype)
        out += [(x, x, s, s, w, groups, True), (x, x, s, s, None, groups, False)]
    return out


@ENGINE.implements("group_norm", when=_when_group, examples=_group_examples)
def _build_group_norm():
    def group_norm(x, weight, bias, groups, eps):
        n, c, s = x.shape
        out = np.empty_like(x)
        mean = np.empty((n, groups), x.dtype)
        rstd = np.empty((n, groups), x.dtype)
        dummy = np.empty(0, x.dtype)
        _group_norm_rows(
            x.reshape(n * groups, -1),
            groups,
            s,
            dummy if weight is None else weight,
            dummy if bias is None else bias,
            float(eps),
            weight is not None,
            bias is not None,
            out.reshape(n * groups, -1),
            mean.reshape(-1),
            rstd.reshape(-1),
        )
        return out, mean, rstd

    return group_norm


@ENGINE.implements(
    "group_norm_backward", when=_when_group_backward, examples=_group_backward_examples
)
def _build_group_norm_backward():
    def group_norm_backward(grad, x, mean, rstd, weight, groups, weight_grads):
        n, c, s = x.shape
        grad = np.ascontiguousarray(grad)
        dx = np.empty_like(x)
        ga = np.empty((n, c), np.float64)  # per (sample, channel): sum g, sum g * xhat
        gb = np.empty((n, c), np.float64)
        _group_norm_backward_rows(
            grad.reshape(n * groups, -1),
            x.reshape(n * groups, -1),
            np.ascontiguousarray(mean).reshape(-1),
            np.ascontiguousarray(rstd).reshape(-1),
            groups,
            s,
            np.empty(0, x.dtype) if weight is None else weight,
            weight is not None,
            dx.reshape(n * groups, -1),
            ga.reshape(n * groups, -1),
            gb.reshape(n * groups, -1),
        )
        if not weight_grads:
            return dx, None, None
        return dx, gb.sum(axis=0).astype(x.dtype), ga.sum(axis=0).astype(x.dtype)

    return group_norm_backward
