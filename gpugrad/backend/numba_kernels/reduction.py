"""The reduction catalogue names on the CPU: sum, mean, var, logsumexp and vector_norm over
trailing axes.

A reduction over every axis, or over the last ones, of a C-contiguous array is a reduction of
the rows of an (M, N) view. The work is cut into (row, chunk) tasks of ``CHUNK`` elements, so
a single long row (a reduction over everything) is spread over all threads as well as many
short ones are: each task sums its chunk with vector lanes (``reassoc`` lets LLVM keep several
partial sums; no flag that changes NaN/inf is used), and the chunks' partials are added in
float64. var takes two passes (the mean, then the squared deviations from it); logsumexp too
(the row maximum, then the shifted exponentials, with ``_fastmath.vexp`` so the loop stays
SIMD). Other layouts, dtypes other than float32/float64 and arrays below ``MIN_SIZE`` use the
reference (NumPy's pairwise loops), as do zero-size reductions. vector_norm serves float16
too (Numba has no float16: its bits are decoded to float32 through a table, chunk by chunk).
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.reduction import reduced_count
from . import ENGINE
from ._jit import njit, prange

# _fastmath.vexp (the pointwise kernels' SIMD exp), bound when logsumexp's kernel is built:
# the other reductions do not depend on it
vexp = None

_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
# Measured against NumPy's loops, interleaved in one process (float32, loaded 2-core machine):
# the parallel kernels win from 2^16 elements for sum/mean/logsumexp (0.45x / 0.8x / 0.95x
# NumPy there, 0.25x / 0.9x / 0.8x at 2^18) and from 2^14 for var (0.73x; 0.24x at 2^18).
MIN_SIZE = 1 << 16
MIN_SIZE_VAR = 1 << 14
CHUNK = 1 << 13
_REASSOC = {"reassoc", "contract", "nsz", "arcp"}
_LANES = 16


# ---- kernel bodies: x2 an (M, N) C-contiguous view, part an (M, nch) float64 output -------
# Each takes its chunk as a 1-D view and loops from 0: with a loop from 0 Numba knows the
# index is never negative (no wraparound test per element), so LLVM vectorises the loop.
# float32 chunks accumulate in float64 too: the reads, not the adds, bound these loops.
@njit(fastmath=_REASSOC)
def _chunk_sum(seg):
    s = 0.0
    for i in range(seg.size):
        s += np.float64(seg[i])
    return s


@njit(fastmath=_REASSOC)
def _chunk_sqdev(seg, m):
    s = 0.0
    for i in range(seg.size):
        d = np.float64(seg[i]) - m
        s += d * d
    return s


@njit(fastmath=_REASSOC)
def row_max(seg):
    """The largest element but for NaN, only as a shift (logsumexp, softmax, cross_entropy):
    a NaN in a row makes that row's sum NaN anyway. Lanes of selects (no reduction through
    one register) vectorise where a select-max reduction without 'nnan' would not."""
    lanes = np.full(_LANES, seg[0])
    nb = seg.size // _LANES
    for b in range(nb):
        for j in range(_LANES):
            v = seg[b * _LANES + j]
            lanes[j] = v if v > lanes[j] else lanes[j]
    m = lanes[0]
    for j in range(_LANES):
        m = lanes[j] if lanes[j] > m else m
    for i in range(nb * _LANES, seg.size):
        v = seg[i]
        m = v if v > m else m
    return m


@njit(fastmath=_REASSOC)
def _chunk_sumexp(seg, m):
    # in the input's dtype: every term is in [0, 1], and a float64 accumulator halves the
    # SIMD width of the exp, which bounds this loop
    T = seg.dtype.type
    s = T(0)
    for i in range(seg.size):
        s += vexp(seg[i] - m, T)
    return s


@njit(parallel=True)
def _partial_sums(x2, part):
    m, n = x2.shape
    nch = part.shape[1]
    for t in prange(m * nch):
        r, c = t // nch, t % nch
        lo = c * CHUNK
        part[r, c] = _chunk_sum(x2[r, lo : min(lo + CHUNK, n)])


@njit(parallel=True)
def _partial_sqdevs(x2, means, part):
    m, n = x2.shape
    nch = part.shape[1]
    for t in prange(m * nch):
        r, c = t // nch, t % nch
        lo = c * CHUNK
        part[r, c] = _chunk_sqdev(x2[r, lo : min(lo + CHUNK, n)], means[r])


@njit(parallel=True)
def _partial_lse(x2, shifts, part):
    # one pass: each chunk is shifted by its own maximum while it is in cache; the chunks'
    # sums are rescaled to the row's maximum afterwards (_combine_lse)
    m, n = x2.shape
    nch = part.shape[1]
    T = x2.dtype.type
    for t in prange(m * nch):
        r, c = t // nch, t % nch
        lo = c * CHUNK
        seg = x2[r, lo : min(lo + CHUNK, n)]
        top = row_max(seg)
        shifts[r, c] = top
        # an inf or -inf maximum (or NaN) shifts by 0: the sum is then inf, 0 or NaN
        part[r, c] = _chunk_sumexp(seg, top if math.isfinite(top) else T(0))


@njit
def _combine_lse(shifts, part, out):
    for r in range(part.shape[0]):
        top = -np.inf
        for c in range(part.shape[1]):
            v = np.float64(shifts[r, c])
            top = v if v > top else top
        top = top if math.isfinite(top) else 0.0
        s = 0.0
        for c in range(part.shape[1]):
            v = np.float64(shifts[r, c])
            s += part[r, c] * math.exp((v if math.isfinite(v) else 0.0) - top)
        # log(0) is -inf (all -inf), NaN stays NaN
        out[r] = (math.log(s) if s > 0 else (-np.inf if s == 0 else np.nan)) + top


@njit(parallel=True)
def _fill_rows(values, out):
    # out (M, N) C-ordered: row r is values[r]; (row, chunk) tasks as the reductions'
    m, n = out.shape
    nch = -(-n // CHUNK)
    for t in prange(m * nch):
        r, c = t // nch, t % nch
        seg = out[r, c * CHUNK : min(c * CHUNK + CHUNK, n)]
        v = values[r]
        for i in range(seg.size):
            seg[i] = v


@njit(parallel=True)
def _lse_backward_rows(g, x2, lse, out):
    m, n = x2.shape
    nch = -(-n // CHUNK)
    for t in prange(m * nch):
        r, c = t // nch, t % nch
        lo, hi = c * CHUNK, min(c * CHUNK + CHUNK, n)
        _lse_backward_chunk(g[r], x2[r, lo:hi], lse[r], out[r, lo:hi])


@njit(fastmath=_REASSOC)
def _lse_backward_chunk(g, seg, lse, dst):
    T = seg.dtype.type
    for i in range(seg.size):
        dst[i] = g * vexp(seg[i] - lse, T)


@njit(parallel=True)
def _var_backward_rows(g, x2, mean, scale, out):
    m, n = x2.shape
    nch = -(-n // CHUNK)
    T = x2.dtype.type
    for t in prange(m * nch):
        r, c = t // nch, t % nch
        lo, hi = c * CHUNK, min(c * CHUNK + CHUNK, n)
        _var_backward_chunk(x2[r, lo:hi], mean[r], T(g[r] * scale), out[r, lo:hi])


@njit(fastmath=_REASSOC)
def _var_backward_chunk(seg, m, k, dst):
    for i in range(seg.size):
        dst[i] = (seg[i] - m) * k


@njit
def _row_totals(part, out):
    for r in range(part.shape[0]):
        s = 0.0
        for c in range(part.shape[1]):
            s += part[r, c]
        out[r] = s


# ---- when the compiled kernels serve a call -----------------------------------------------
def _trailing(axis, ndim: int) -> bool:
    """Whether ``axis`` names the last axes (None: all of them)."""
    if axis is None:
        return True
    if isinstance(axis, int):
        return axis == ndim - 1 or axis == -1
    k = len(axis)
    return k > 0 and tuple(axis) == tuple(range(ndim - k, ndim))


def _when(x, axis, *args, **kwargs) -> bool:
    # the size first: most calls are small and stop there (arrays and NumPy scalars have it)
    return (
        getattr(x, "size", 0) >= MIN_SIZE
        and x.dtype in _FLOATS
        and x.flags.c_contiguous
        and _trailing(axis, x.ndim)
    )


def _when_var(x, axis, *args, **kwargs) -> bool:
    return (
        getattr(x, "size", 0) >= MIN_SIZE_VAR
        and x.dtype in _FLOATS
        and x.flags.c_contiguous
        and _trailing(axis, x.ndim)
    )


def _rows(x, axis):
    """(x as (M, N) rows, the output's shape without and with the reduced axes kept)."""
    n = reduced_count(x.shape, axis)
    k = x.ndim if axis is None else (1 if isinstance(axis, int) else len(axis))
    lead = x.shape[: x.ndim - k]
    return x.reshape(-1, n), lead, lead + (1,) * k


def _row_sums(x2):
    part = np.empty((x2.shape[0], -(-x2.shape[1] // CHUNK)), np.float64)
    _partial_sums(x2, part)
    out = np.empty(x2.shape[0], np.float64)
    _row_totals(part, out)
    return out


def _shaped(out, dtype, lead, kept, keepdims: bool):
    return out.astype(dtype).reshape(kept if keepdims else lead)


def _examples():
    return [
        (np.ones(MIN_SIZE, dt), ax, kd)
        for dt in (np.float32, np.float64)
        for ax, kd in ((None, False), (-1, True))
    ]


def _kept_trailing(grad, shape) -> bool:
    """Whether ``grad`` is ``shape`` with its last axes reduced (kept with size 1)."""
    if grad.ndim != len(shape):
        return False
    i = grad.ndim
    while i and grad.shape[i - 1] == 1:
        i -= 1
    return grad.shape[:i] == tuple(shape[:i])


def _when_fill(grad, shape) -> bool:
    return (
        getattr(grad, "dtype", None) in _FLOATS
        and _numel(shape) >= MIN_SIZE
        and _kept_trailing(grad, shape)
    )


def _when_backward(grad, x, kept, *args) -> bool:
    return (
        getattr(x, "dtype", None) in _FLOATS
        and x.size >= MIN_SIZE
        and x.flags.c_contiguous
        and grad.dtype == x.dtype
        and kept.dtype == x.dtype
        and grad.shape == kept.shape
        and _kept_trailing(grad, x.shape)
    )


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# ---- builders -----------------------------------------------------------------------------
@ENGINE.implements("sum", when=_when, examples=_examples)
def _build_sum():
    def sum_(x, axis, keepdims: bool = False):
        x2, lead, kept = _rows(x, axis)
        return _shaped(_row_sums(x2), x.dtype, lead, kept, keepdims)

    return sum_


@ENGINE.implements("mean", when=_when, examples=_examples)
def _build_mean():
    def mean(x, axis, keepdims: bool = False):
        x2, lead, kept = _rows(x, axis)
        return _shaped(_row_sums(x2) / x2.shape[1], x.dtype, lead, kept, keepdims)

    return mean


def _var_examples():
    return [(x, ax, 1, kd) for x, ax, kd in _examples()]


@ENGINE.implements("var", when=_when_var, examples=_var_examples)
def _build_var():
    def var(x, axis, correction: float = 1, keepdims: bool = False):
        x2, lead, kept = _rows(x, axis)
        n = x2.shape[1]
        means = _row_sums(x2) / n
        part = np.empty((x2.shape[0], -(-n // CHUNK)), np.float64)
        _partial_sqdevs(x2, means, part)
        ss = np.empty(x2.shape[0], np.float64)
        _row_totals(part, ss)
        with np.errstate(all="ignore"):  # no degrees of freedom: inf or NaN, silently
            out = ss / max(n - correction, 0)
        return _shaped(out, x.dtype, lead, kept, keepdims)

    return var


@ENGINE.implements("logsumexp", when=_when, examples=_examples)
def _build_logsumexp():
    from . import _fastmath

    globals()["vexp"] = _fastmath.vexp  # before _chunk_sumexp compiles (LazyKernel reads it)

    def logsumexp(x, axis, keepdims: bool = False):
        x2, lead, kept = _rows(x, axis)
        m, nch = x2.shape[0], -(-x2.shape[1] // CHUNK)
        shifts = np.empty((m, nch), x.dtype)
        sums = np.empty((m, nch), x.dtype)
        _partial_lse(x2, shifts, sums)
        out = np.empty(m, np.float64)
        _combine_lse(shifts, sums, out)
        return out.astype(x.dtype).reshape(kept if keepdims else lead)

    return logsumexp


def _fill_examples():
    return [(np.ones((1, 1), dt), (2, MIN_SIZE)) for dt in (np.float32, np.float64)]


@ENGINE.implements("sum_backward", when=_when_fill, examples=_fill_examples)
def _build_sum_backward():
    def sum_backward(grad, shape):
        shape = tuple(shape)
        lead = grad.size
        out = np.empty(shape, grad.dtype)
        _fill_rows(np.ascontiguousarray(grad).reshape(lead), out.reshape(lead, -1))
        return out

    return sum_backward


def _backward_examples():
    out = []
    for dt in (np.float32, np.float64):
        x = np.ones((2, MIN_SIZE), dt)
        out.append((np.ones((2, 1), dt), x, np.ones((2, 1), dt)))
    return out


def _flat_rows(grad, x, kept):
    lead = grad.size
    return grad.reshape(lead), x.reshape(lead, -1), np.ascontiguousarray(kept).reshape(lead)


@ENGINE.implements("logsumexp_backward", when=_when_backward, examples=_backward_examples)
def _build_logsumexp_backward():
    from . import _fastmath

    globals()["vexp"] = _fastmath.vexp

    def logsumexp_backward(grad, x, out):
        g, x2, lse = _flat_rows(np.ascontiguousarray(grad), x, out)
        res = np.empty(x.shape, x.dtype)
        _lse_backward_rows(g, x2, lse, res.reshape(x2.shape))
        return res

    return logsumexp_backward


def _var_backward_examples():
    return [args + (0.5,) for args in _backward_examples()]


@ENGINE.implements("var_backward", when=_when_backward, examples=_var_backward_examples)
def _build_var_backward():
    def var_backward(grad, x, mean, scale):
        g, x2, m = _flat_rows(np.ascontiguousarray(grad), x, mean)
        res = np.empty(x.shape, x.dtype)
        _var_backward_rows(g, x2, m, float(scale), res.reshape(x2.shape))
        return res

    return var_backward


# ---- vector_norm: (row, chunk) tasks as the sums', float64 partials -------------------------
# Measured against the NumPy reference (abs, square, sum: three passes; float16 first cast to
# float32), interleaved in one process (loaded 2-core machine), ord 2 over everything:
# float32 1.08x the reference's time at 2^14, 0.44x at 2^16, 0.10x at 2^20; float16 0.74x
# at 2^13, 0.17x at 2^16. The largest/smallest magnitude wins only for float16 (0.52x at
# 2^16, float32 2x slower: NumPy's SIMD max), and general p loses (a float64 pow per
# element, ~2x): those stay on the reference.
MIN_SIZE_NORM = 1 << 15
MIN_SIZE_NORM_HALF = 1 << 13
# which partial each ord takes: sums of squares / magnitudes / powers, the largest or smallest
# magnitude, the count of non-zeros
_SUMSQ, _SUMABS, _MAXABS, _MINABS, _NONZERO, _POWSUM = range(6)
_HALF_ABS = None  # |x| as float32 for each float16 bit pattern without its sign (32768)


@njit(fastmath=_REASSOC)
def _chunk_sumsq(seg):
    s = 0.0
    for i in range(seg.size):
        v = np.float64(seg[i])
        s += v * v
    return s


@njit(fastmath=_REASSOC)
def _chunk_sumabs(seg):
    s = 0.0
    for i in range(seg.size):
        s += abs(np.float64(seg[i]))
    return s


@njit(fastmath=_REASSOC)
def _chunk_nonzero(seg):
    s = 0.0
    for i in range(seg.size):
        s += 1.0 if seg[i] != 0 else 0.0
    return s


@njit(fastmath=_REASSOC)
def _chunk_powsum(seg, p):
    s = 0.0
    for i in range(seg.size):
        s += abs(np.float64(seg[i])) ** p
    return s


@njit(fastmath=_REASSOC)
def _chunk_absext(seg, largest):
    # the largest (or smallest) magnitude, NaN if there is one (PyTorch's max/min propagate
    # it): a select over |x| per lane, and the NaN seen beside it
    top = 0.0 if largest else np.inf
    nan = False
    for i in range(seg.size):
        v = abs(np.float64(seg[i]))
        nan |= v != v
        if largest:
            top = v if v > top else top
        else:
            top = v if v < top else top
    return np.nan if nan else top


@njit
def _chunk_norm(seg, kind, p):
    if kind == _SUMSQ:
        return _chunk_sumsq(seg)
    if kind == _SUMABS:
        return _chunk_sumabs(seg)
    if kind == _MAXABS:
        return _chunk_absext(seg, True)
    if kind == _MINABS:
        return _chunk_absext(seg, False)
    if kind == _NONZERO:
        return _chunk_nonzero(seg)
    return _chunk_powsum(seg, p)


@njit(parallel=True)
def _partial_norms(x2, kind, p, part):
    m, n = x2.shape
    nch = part.shape[1]
    for t in prange(m * nch):
        r, c = t // nch, t % nch
        lo = c * CHUNK
        part[r, c] = _chunk_norm(x2[r, lo : min(lo + CHUNK, n)], kind, p)


@njit(parallel=True)
def _partial_norms_half(bits2, lut, kind, p, part):
    # float16 as its bits (Numba has no float16): each task decodes its chunk to float32
    m, n = bits2.shape
    nch = part.shape[1]
    for t in prange(m * nch):
        r, c = t // nch, t % nch
        lo = c * CHUNK
        seg = bits2[r, lo : min(lo + CHUNK, n)]
        buf = np.empty(seg.size, np.float32)
        for i in range(seg.size):
            buf[i] = lut[seg[i] & 0x7FFF]
        part[r, c] = _chunk_norm(buf, kind, p)


def _norm_kind(ord: float) -> int:
    if ord == 2.0:
        return _SUMSQ
    if ord == 1.0:
        return _SUMABS
    if ord == math.inf:
        return _MAXABS
    if ord == -math.inf:
        return _MINABS
    if ord == 0.0:
        return _NONZERO
    return _POWSUM


def _when_norm(x, ord, axis, *args, **kwargs) -> bool:
    size = getattr(x, "size", 0)
    if size < MIN_SIZE_NORM_HALF or not isinstance(ord, (int, float)):
        return False
    half = x.dtype == np.float16
    kind = _norm_kind(float(ord))
    return (
        (half or (x.dtype in _FLOATS and size >= MIN_SIZE_NORM))
        and (kind in (_SUMSQ, _SUMABS, _NONZERO) or (half and kind != _POWSUM))
        and x.flags.c_contiguous
        and _trailing(axis, x.ndim)
    )


def _norm_examples():
    return [
        (np.ones(MIN_SIZE_NORM, dt), o, ax, False)
        for dt in (np.float32, np.float64, np.float16)
        for o, ax in ((2, None), (1, -1), (0, None))
    ] + [(np.ones(MIN_SIZE_NORM, np.float16), o, None, False) for o in (math.inf, -math.inf)]


@ENGINE.implements("vector_norm", when=_when_norm, examples=_norm_examples)
def _build_vector_norm():
    def vector_norm(x, ord, axis, keepdims: bool = False):
        global _HALF_ABS
        ord = float(ord)
        kind = _norm_kind(ord)
        x2, lead, kept = _rows(x, axis)
        part = np.empty((x2.shape[0], -(-x2.shape[1] // CHUNK)), np.float64)
        if x.dtype == np.float16:
            if _HALF_ABS is None:
                bits = np.arange(1 << 15, dtype=np.uint16)
                _HALF_ABS = bits.view(np.float16).astype(np.float32)
            _partial_norms_half(x2.view(np.uint16), _HALF_ABS, kind, ord, part)
        else:
            _partial_norms(x2, kind, ord, part)
        with np.errstate(all="ignore"):  # x^p and its root over/underflow as PyTorch's
            if kind == _MAXABS:
                out = part.max(1)
            elif kind == _MINABS:
                out = part.min(1)
            else:
                out = part.sum(1)
                if kind == _SUMSQ:
                    out = np.sqrt(out)
                elif kind == _POWSUM:
                    out = out ** (1.0 / ord)
            return _shaped(out, x.dtype, lead, kept, keepdims)  # float16 may overflow: inf

    return vector_norm
