"""im2col / col2im on the CPU: one parallel gather and one parallel scatter, no temporaries.

The reference pads ``x`` (a copy), builds a strided window view and lets NumPy copy it into
the GEMM layout (a slow many-axis gather), and its col2im makes one strided add per kernel
offset over a zero-padded image plus a final copy. Here 1-, 2- and 3-d convolutions all run
as 3-d (unit dims prepended): im2col writes each row of ``cols`` (a channel and kernel offset)
in one task, reading ``x`` with bounds tests instead of padding; col2im gives each (n, c)
image to one task, which sums every kernel offset's patch values into it (no two tasks write
one element, so no atomics).
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.conv import conv_out_shape
from . import ENGINE
from ._jit import njit, prange

_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
# Measured on a loaded 2-core machine (float32, 3x3 kernels): below ~64K elements of cols the
# reference's NumPy copies cost no more than a thread-pool wake-up.
MIN_SIZE = 1 << 16


@njit(inline="always")
def _span(off, step, size, count):
    """The range [e0, e1) of e in [0, count) with 0 <= e * step + off < size."""
    e0 = 0 if off >= 0 else (-off + step - 1) // step
    e1 = 0 if size - 1 - off < 0 else min(count, (size - 1 - off) // step + 1)
    return e0, max(e0, e1)


@njit(parallel=True)
def _im2col3(x, out, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, od, oh, ow):
    n_, c_, d_, h_, w_ = x.shape
    kk = kd * kh * kw
    zero = x.dtype.type(0)
    for r in prange(c_ * kk):
        c = r // kk
        q = r - c * kk
        i = q // (kh * kw)
        j = (q // kw) % kh
        off = (q % kw) * dw - pw
        e0, e1 = _span(off, sw, w_, ow)
        for n in range(n_):
            for a in range(od):
                z = a * sd - pd + i * dd
                zin = 0 <= z < d_
                for b in range(oh):
                    y = b * sh - ph + j * dh
                    base = ((n * od + a) * oh + b) * ow
                    if zin and 0 <= y < h_:
                        for e in range(e0):
                            out[r, base + e] = zero
                        # the patch row: a plain strided copy, no tests (vectorises for sw 1)
                        if e1 > e0:
                            out[r, base + e0 : base + e1] = x[
                                n, c, z, y, e0 * sw + off : (e1 - 1) * sw + off + 1 : sw
                            ]
                        for e in range(e1, ow):
                            out[r, base + e] = zero
                    else:
                        for e in range(ow):
                            out[r, base + e] = zero


@njit(parallel=True)
def _col2im3(cols, img, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, od, oh, ow):
    n_, c_, d_, h_, w_ = img.shape
    kk = kd * kh * kw
    for t in prange(n_ * c_):
        n = t // c_
        c = t - n * c_
        for q in range(kk):
            crow = cols[c * kk + q]
            i = q // (kh * kw)
            j = (q // kw) % kh
            off = (q % kw) * dw - pw
            e0, e1 = _span(off, sw, w_, ow)
            for a in range(od):
                z = a * sd - pd + i * dd
                if z < 0 or z >= d_:
                    continue
                for b in range(oh):
                    y = b * sh - ph + j * dh
                    if y < 0 or y >= h_:
                        continue
                    base = ((n * od + a) * oh + b) * ow
                    irow = img[n, c, z, y]
                    for e in range(e0, e1):
                        irow[e * sw + off] += crow[base + e]


def _as3(t, fill):
    """A d-tuple as a 3-tuple, ``fill`` in front (1-d and 2-d run as 3-d)."""
    return (fill,) * (3 - len(t)) + tuple(t)


def _geometry3(kernel_size, stride, padding, dilation, out):
    k = _as3(kernel_size, 1)
    s = _as3(stride, 1)
    p = _as3(tuple(lo for lo, _ in padding), 0)
    d = _as3(dilation, 1)
    o = _as3(out, 1)
    return (*k, *s, *p, *d, *o)


def _big(x, kernel_size) -> bool:
    return x.dtype in _FLOATS and x.size * math.prod(kernel_size) >= MIN_SIZE


def _im2col_when(x, kernel_size, stride, padding, dilation) -> bool:
    return _big(x, kernel_size)


def _col2im_when(cols, input_shape, kernel_size, stride, padding, dilation) -> bool:
    return cols.dtype in _FLOATS and cols.size >= MIN_SIZE


def _examples():
    out = []
    for dt in (np.float32, np.float64):
        for nd in (1, 2, 3):
            x = np.ones((2, 3) + (5,) * nd, dtype=dt)
            k, st, p, d = (3,) * nd, (1,) * nd, ((1, 1),) * nd, (1,) * nd
            out.append((x, k, st, p, d))
    return out


@ENGINE.implements("im2col", when=_im2col_when, examples=_examples)
def _build_im2col():
    def im2col(x, kernel_size, stride, padding, dilation):
        n, c = x.shape[:2]
        spatial = tuple(x.shape[2:])
        o = conv_out_shape(spatial, kernel_size, stride, padding, dilation)
        cols = np.empty((c * math.prod(kernel_size), n * math.prod(o)), dtype=x.dtype)
        if cols.size:
            x3 = x.reshape((n, c) + _as3(spatial, 1))
            _im2col3(x3, cols, *_geometry3(kernel_size, stride, padding, dilation, o))
        return cols

    return im2col


def _col2im_examples():
    out = []
    for x, k, st, p, d in _examples():
        o = conv_out_shape(x.shape[2:], k, st, p, d)
        cols = np.ones((x.shape[1] * math.prod(k), x.shape[0] * math.prod(o)), x.dtype)
        out.append((cols, x.shape, k, st, p, d))
    return out


@ENGINE.implements("col2im", when=_col2im_when, examples=_col2im_examples)
def _build_col2im():
    def col2im(cols, input_shape, kernel_size, stride, padding, dilation):
        n, c = input_shape[:2]
        spatial = tuple(input_shape[2:])
        o = conv_out_shape(spatial, kernel_size, stride, padding, dilation)
        img = np.zeros((n, c) + _as3(spatial, 1), dtype=cols.dtype)
        if img.size and cols.size:
            _col2im3(
                np.ascontiguousarray(cols),
                img,
                *_geometry3(kernel_size, stride, padding, dilation, o),
            )
        return img.reshape(tuple(input_shape))

    return col2im
