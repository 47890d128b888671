"""layer_norm and its backward on the CPU: one parallel task per row (per block of rows for
the backward, whose weight and bias gradients are sums over rows).

The fast case is a C-contiguous float32/float64 (M, N) array of at least ``MIN_SIZE``
elements with contiguous weight/bias; other calls use the reference. Statistics accumulate in
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


def _param_ok(p, x) -> bool:
    return p is None or (
        getattr(p, "dtype", None) == x.dtype and p.shape == x.shape[1:] and p.flags.c_contiguous
    )


def _when(x, weight, bias, eps) -> bool:
    return (
        getattr(x, "dtype", None) in _FLOATS
        and x.size >= MIN_SIZE
        and x.ndim == 2
        and x.shape[1] > 0
        and x.flags.c_contiguous
        and _param_ok(weight, x)
        and _param_ok(bias, x)
    )


def _when_backward(grad, x, mean, rstd, weight, weight_grads) -> bool:
    return (
        getattr(x, "dtype", None) in _FLOATS
        and x.size >= MIN_SIZE
        and x.ndim == 2
        and x.shape[1] > 0
        and x.flags.c_contiguous
        and getattr(grad, "dtype", None) == x.dtype
        and grad.shape == x.shape
        and mean.dtype == x.dtype
        and rstd.dtype == x.dtype
        and _param_ok(weight, x)
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
