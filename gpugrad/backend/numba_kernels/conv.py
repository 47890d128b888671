"""im2col and col2im on the CPU: one pass each, no padded copies, a parallel task per (n, c).

1-, 2- and 3-d convolutions all run as 3-d (unit dims prepended), on the batch-major layout of
kernels/conv.py: each (n, c) image owns the prod(k) rows ``(c, k...)`` of sample ``n``, so a
task per (n, c) writes only its own rows (im2col) or its own image (col2im) and needs no
atomics. Padding is a loop bound, not memory: im2col writes the padded border's zeros itself,
col2im skips them. A unit stride along the last dim gets its own inner loop, a contiguous
copy or add that LLVM vectorises.

Both run on TBB's pool, whose workers sleep after a kernel and leave the cores to OpenBLAS's
next GEMM (OpenMP's spinning ones did not, which is why earlier versions here were serial).
Numba wraps negative indices, a check that kept LLVM from vectorising the row loops, so the
flat indices are unsigned. Measured at 16x32x32x32, 3x3, padding 1, float32, 2 threads, on a
loaded 2-core VM: im2col 1.3-1.5 ms (NumPy's strided copy 2.2-3.1 ms), col2im 1.7 ms (the
serial kernel this replaced: 7-9 ms; NumPy's slab adds about as slow).
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.conv import conv_out_shape
from . import ENGINE
from ._jit import njit, prange

_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
# Below 64K elements of cols a parallel launch costs about as much as NumPy's copy.
MIN_SIZE = 1 << 16


@njit(inline="always")
def _span(off, step, size, count):
    """The range [e0, e1) of e in [0, count) with 0 <= e * step + off < size."""
    e0 = 0 if off >= 0 else (-off + step - 1) // step
    e1 = 0 if size - 1 - off < 0 else min(count, (size - 1 - off) // step + 1)
    e0 = min(e0, count)
    return e0, max(e0, e1)


_U = np.uint64  # unsigned flat indices: Numba's negative-index wraparound would block SIMD


@njit(parallel=True, error_model="numpy")
def _im2col3(x, cols, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, od, oh, ow):
    # x and cols C-contiguous, indexed flat: no views in the loops (a slice costs more than a
    # short row's copy)
    n_, c_, d_, h_, w_ = x.shape
    xf = x.reshape(x.size)
    cf = cols.reshape(cols.size)
    kk = kd * kh * kw
    npix = od * oh * ow
    for t in prange(n_ * c_):
        ibase = t * d_ * h_ * w_  # image (n, c); t = n * C + c
        for q in range(kk):
            i = q // (kh * kw)
            j = (q // kw) % kh
            off = (q % kw) * dw - pw
            e0, e1 = _span(off, sw, w_, ow)
            rbase = (t * kk + q) * npix  # row (c, q) of sample n
            for a in range(od):
                z = a * sd - pd + i * dd
                for b in range(oh):
                    y = b * sh - ph + j * dh
                    dst = _U(rbase + (a * oh + b) * ow)
                    if z < 0 or z >= d_ or y < 0 or y >= h_:
                        for e in range(_U(ow)):
                            cf[dst + e] = 0
                        continue
                    for e in range(_U(e0)):
                        cf[dst + e] = 0
                    src = ibase + (z * h_ + y) * w_ + off  # >= 0 from e0 on
                    if sw == 1:
                        for e in range(_U(e0), _U(e1)):
                            cf[dst + e] = xf[_U(src) + e]
                    else:
                        for e in range(e0, e1):
                            cf[dst + _U(e)] = xf[_U(src + e * sw)]
                    for e in range(_U(e1), _U(ow)):
                        cf[dst + e] = 0


@njit(parallel=True, error_model="numpy")
def _col2im3(cols, img, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, od, oh, ow):
    n_, c_, d_, h_, w_ = img.shape
    cf = cols.reshape(cols.size)
    imf = img.reshape(img.size)
    kk = kd * kh * kw
    npix = od * oh * ow
    for t in prange(n_ * c_):
        ibase = t * d_ * h_ * w_
        for q in range(kk):
            i = q // (kh * kw)
            j = (q // kw) % kh
            off = (q % kw) * dw - pw
            e0, e1 = _span(off, sw, w_, ow)
            rbase = (t * kk + q) * npix
            for a in range(od):
                z = a * sd - pd + i * dd
                if z < 0 or z >= d_:
                    continue
                for b in range(oh):
                    y = b * sh - ph + j * dh
                    if y < 0 or y >= h_:
                        continue
                    src = _U(rbase + (a * oh + b) * ow)
                    dst = ibase + (z * h_ + y) * w_ + off  # >= 0 from e0 on
                    if sw == 1:
                        for e in range(_U(e0), _U(e1)):
                            imf[_U(dst) + e] += cf[src + e]
                    else:
                        for e in range(e0, e1):
                            imf[_U(dst + e * sw)] += cf[src + _U(e)]


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


def _check_out(out, shape, dtype) -> None:
    if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be a C-contiguous {dtype} array of shape {shape}, got {out.dtype} "
            f"{out.shape}"
        )


def _im2col_when(x, kernel_size, stride, padding, dilation, out=None) -> bool:
    if x.dtype not in _FLOATS:
        return False
    out = conv_out_shape(x.shape[2:], kernel_size, stride, padding, dilation)
    return x.shape[0] * x.shape[1] * math.prod(kernel_size) * math.prod(out) >= MIN_SIZE


def _col2im_when(cols, input_shape, kernel_size, stride, padding, dilation, out=None) -> bool:
    return cols.dtype in _FLOATS and cols.size >= MIN_SIZE


def _examples():
    out = []
    for dt in (np.float32, np.float64):
        for nd in (1, 2, 3):
            x = np.ones((2, 3) + (5,) * nd, dtype=dt)
            k, st, p, d = (3,) * nd, (1,) * nd, ((1, 1),) * nd, (1,) * nd
            out.append((x, k, st, p, d))
    return out


def _col2im_examples():
    out = []
    for x, k, st, p, d in _examples():
        o = conv_out_shape(x.shape[2:], k, st, p, d)
        cols = np.ones((x.shape[0], x.shape[1] * math.prod(k), math.prod(o)), x.dtype)
        out.append((cols, x.shape, k, st, p, d))
    return out


@ENGINE.implements("im2col", when=_im2col_when, examples=_examples)
def _build_im2col():
    def im2col(x, kernel_size, stride, padding, dilation, out=None):
        n, c = x.shape[:2]
        o = conv_out_shape(x.shape[2:], kernel_size, stride, padding, dilation)
        shape = (n, c * math.prod(kernel_size), math.prod(o))
        if out is not None:
            _check_out(out, shape, x.dtype)
        cols = np.empty(shape, dtype=x.dtype) if out is None else out
        if cols.size:
            x3 = np.ascontiguousarray(x).reshape((n, c) + _as3(x.shape[2:], 1))
            _im2col3(x3, cols, *_geometry3(kernel_size, stride, padding, dilation, o))
        return cols

    return im2col


@ENGINE.implements("col2im", when=_col2im_when, examples=_col2im_examples)
def _build_col2im():
    def col2im(cols, input_shape, kernel_size, stride, padding, dilation, out=None):
        n, c = input_shape[:2]
        spatial = tuple(input_shape[2:])
        o = conv_out_shape(spatial, kernel_size, stride, padding, dilation)
        shape3 = (n, c) + _as3(spatial, 1)
        if out is None:
            img = np.zeros(shape3, dtype=cols.dtype)
        else:
            _check_out(out, tuple(input_shape), cols.dtype)
            img = out.reshape(shape3)
            img.fill(0)
        if img.size and cols.size:
            _col2im3(
                np.ascontiguousarray(cols).reshape(cols.size),
                img,
                *_geometry3(kernel_size, stride, padding, dilation, o),
            )
        return img.reshape(tuple(input_shape)) if out is None else out

    return col2im
