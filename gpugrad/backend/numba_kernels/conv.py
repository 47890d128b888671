"""col2im on the CPU: one scatter pass, no temporaries.

The reference's col2im zero-fills a padded image, makes one strided add of a whole image slab
per kernel offset, and copies the unpadded part out. Here 1-, 2- and 3-d convolutions all run
as 3-d (unit dims prepended); each (n, c) image in turn receives every kernel offset's patch
values while it is in cache, and padding is a loop bound, not memory.

Measured on a loaded 2-core machine inside conv2d's fwd+bwd (3x3, padding 1, float32): 0.17 vs
0.18-0.20 ms at 4x16x16x16 and 4.0-4.3 vs 4.5-4.6 ms at 16x32x32x32. It is serial: a parallel
version (and a parallel im2col) was 2x faster alone but made the whole step slower (0.7 -> 9-12
ms at the small size): Numba's OpenMP threads keep spinning after the kernel and take the cores
from OpenBLAS's threads in the GEMM that follows. im2col stays NumPy's strided copy, which a
serial Numba gather did not beat (3.6-3.8 vs 2.0-2.1 ms at 16x32x32x32).
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.conv import conv_out_shape
from . import ENGINE
from ._jit import njit

_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
# The sizes measured (module docstring) have 147K and 4.7M elements of cols; below 64K the
# serial kernel was not measured, so the reference keeps them.
MIN_SIZE = 1 << 16


@njit(inline="always")
def _span(off, step, size, count):
    """The range [e0, e1) of e in [0, count) with 0 <= e * step + off < size."""
    e0 = 0 if off >= 0 else (-off + step - 1) // step
    e1 = 0 if size - 1 - off < 0 else min(count, (size - 1 - off) // step + 1)
    return e0, max(e0, e1)


@njit(error_model="numpy")
def _col2im3(cols, img, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, od, oh, ow):
    # cols and img C-contiguous, indexed flat: no views made in the loops (a slice costs more
    # than a short row's copy)
    n_, c_, d_, h_, w_ = img.shape
    cf = cols.reshape(cols.size)
    imf = img.reshape(img.size)
    kk = kd * kh * kw
    npix = n_ * od * oh * ow
    for t in range(n_ * c_):
        n = t // c_
        c = t - n * c_
        for q in range(kk):
            i = q // (kh * kw)
            j = (q // kw) % kh
            off = (q % kw) * dw - pw
            e0, e1 = _span(off, sw, w_, ow)
            rbase = (c * kk + q) * npix + n * od * oh * ow
            for a in range(od):
                z = a * sd - pd + i * dd
                if z < 0 or z >= d_:
                    continue
                for b in range(oh):
                    y = b * sh - ph + j * dh
                    if y < 0 or y >= h_:
                        continue
                    src = rbase + (a * oh + b) * ow
                    dst = (((n * c_ + c) * d_ + z) * h_ + y) * w_ + off
                    for e in range(e0, e1):
                        imf[dst + e * sw] += cf[src + e]


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
