"""exp, expm1, log1p, sigmoid and the normal CDF that LLVM can vectorise, for the pointwise kernels.

Without Intel's SVML, Numba compiles ``math.exp`` to a call into libm per element, which keeps
a loop scalar (4-10x slower than NumPy's own SIMD loops). These are the classic range-reduction
+ polynomial forms (Cephes' coefficients for float32, Taylor series long enough for float64),
made of arithmetic, compares and bit casts only, so a ``prange`` loop over them becomes AVX
code. Every helper takes ``T``, the array's scalar type (``arr.dtype.type``): its constants are
``T(...)`` so float32 stays float32, and ``_single(T)`` (a constant after compiling) picks the
float32 or float64 polynomial. Accuracy: within 1-2 ulp of the correctly rounded result, IEEE
inf/NaN/0 at the edges; tests/test_kernels_pointwise.py measures both against float64 NumPy.

Numba's disk cache keys a kernel by its own source file only: the kernels in pointwise.py
inline these helpers, so after editing this file touch pointwise.py (or clear its cache).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import LazyKernel, njit, numba


class _LazyIntrinsic(LazyKernel):
    """A bit cast of an int to the float of its size, made a Numba intrinsic on first compile
    (an intrinsic needs Numba imported, which ``import gpugrad`` must not do)."""

    def __init__(self) -> None:
        self.py_func = None
        self._compiled = None

    def compile(self):
        if self._compiled is None:
            self._compiled = _bitcast_intrinsic()
        return self._compiled

    def __call__(self, *args):
        raise TypeError("bit casts run only inside compiled kernels")


def _bitcast_intrinsic():
    nb = numba()
    from llvmlite import ir

    types = nb.core.types
    floats = {
        types.int32: (types.float32, ir.FloatType()),
        types.int64: (types.float64, ir.DoubleType()),
    }

    @nb.extending.intrinsic
    def bitcast(typingctx, v):
        if v not in floats:
            return None
        out, lt = floats[v]

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], lt)

        return out(v), codegen

    return bitcast


_as_float = _LazyIntrinsic()  # int32 -> float32, int64 -> float64 (same bits)


@njit(inline="always")
def _single(T):
    """Whether ``T`` is float32 (2^24 + 1 rounds away there, not in float64)."""
    return T(16777217.0) == T(16777216.0)


@njit(inline="always")
def _pow2(n, T):
    """``2.0 ** n`` for integral ``n`` (a float of type T) in [-1075, 1024] (float32:
    [-150, 128]), as the product of two normal powers so subnormal results round once."""
    if _single(T):
        i = np.int32(n)
        h = i >> 1
        return _as_float(np.int32((h + 127) << 23)) * _as_float(np.int32((i - h + 127) << 23))
    j = np.int64(n)
    k = j >> 1
    return T(_as_float((k + 1023) << 52) * _as_float((j - k + 1023) << 52))


@njit(inline="always")
def _reduce(x, T):
    """``x = n ln2 + r``, ``|r| <= ln2 / 2``: returns ``(n, r, p)`` with ``exp(r) - 1 =
    r + r^2 p``. ``x`` must be finite and inside exp's range."""
    n = np.floor(x * T(1.4426950408889634) + T(0.5))
    if _single(T):
        r = (x - n * T(0.693359375)) - n * T(-2.12194440e-4)
        p = T(1.9875691500e-4)
        p = p * r + T(1.3981999507e-3)
        p = p * r + T(8.3334519073e-3)
        p = p * r + T(4.1665795894e-2)
        p = p * r + T(1.6666665459e-1)
        p = p * r + T(5.0000001201e-1)
        return n, r, p
    r = (x - n * T(6.93145751953125e-1)) - n * T(1.42860682030941723212e-6)
    # sum r^k / (k + 2)!, k = 0..11: the series' remainder is below 2^-58 on |r| <= ln2 / 2
    p = T(1.0 / 6227020800.0)
    p = p * r + T(1.0 / 479001600.0)
    p = p * r + T(1.0 / 39916800.0)
    p = p * r + T(1.0 / 3628800.0)
    p = p * r + T(1.0 / 362880.0)
    p = p * r + T(1.0 / 40320.0)
    p = p * r + T(1.0 / 5040.0)
    p = p * r + T(1.0 / 720.0)
    p = p * r + T(1.0 / 120.0)
    p = p * r + T(1.0 / 24.0)
    p = p * r + T(1.0 / 6.0)
    p = p * r + T(0.5)
    return n, r, p


@njit(inline="always")
def _limits(T):
    """exp's finite range: above ``hi`` it overflows to inf, below ``lo`` it is 0."""
    if _single(T):
        return T(-103.97208), T(88.72284)
    return T(-745.1332191019412), T(709.782712893384)


@njit(inline="always")
def vexp(x, T):
    """``exp(x)``."""
    lo, hi = _limits(T)
    xc = x if x > lo else lo  # NaN -> lo, patched below
    xc = xc if xc < hi else hi
    n, r, p = _reduce(xc, T)
    y = T((r * r * p + r + T(1)) * _pow2(n, T))
    y = T(math.inf) if x > hi else y
    y = T(0) if x < lo else y
    return x if x != x else y


@njit(inline="always")
def vexpm1(x, T):
    """``exp(x) - 1``, accurate near 0."""
    lo, hi = _limits(T)
    xc = x if x > lo else lo
    xc = xc if xc < hi else hi
    n, r, p = _reduce(xc, T)
    s = _pow2(n, T)
    y = T(s * (r * r * p + r) + (s - T(1)))  # n == 0: exactly the polynomial
    y = T(math.inf) if x > hi else y
    y = T(-1) if x < lo else y
    return x if x != x else y


@njit(inline="always")
def vlog1p(z, T):
    """``log(1 + z)`` for ``0 <= z <= 1`` (NaN passes through): ``2 atanh(s)`` with
    ``s = z / (2 + z)`` in [0, 1/3], an odd series in ``s``; ``1 + z`` is never rounded."""
    s = z / (z + T(2))
    w = s * s
    if _single(T):  # remainder below 2^-25 for w <= 1/9
        q = T(2.0 / 15.0)
        q = q * w + T(2.0 / 13.0)
        q = q * w + T(2.0 / 11.0)
        q = q * w + T(2.0 / 9.0)
        q = q * w + T(2.0 / 7.0)
        q = q * w + T(2.0 / 5.0)
        q = q * w + T(2.0 / 3.0)
        q = q * w + T(2.0)
    else:  # remainder below 2^-56
        q = T(2.0 / 35.0)
        for k in range(16, 0, -1):  # unrolled by LLVM: constant trip count
            q = q * w + T(2.0 / (2 * k + 1))
        q = q * w + T(2.0)
    return T(s * q)


@njit(inline="always")
def _pow2_normal(n, T):
    """``2.0 ** n`` for integral ``n`` in the normal range (float32: [-126, 127])."""
    if _single(T):
        return _as_float(np.int32((np.int32(n) + 127) << 23))
    return T(_as_float((np.int64(n) + 1023) << 52))


@njit(inline="always")
def vexp_neg(x, T):
    """``exp(x)`` for ``x <= 0`` or NaN, flushing results below the smallest normal to 0
    (cheaper: one power of two, no overflow to guard, NaN flows through)."""
    lo = T(-87.33654) if _single(T) else T(-708.3964185322641)
    xc = lo if x < lo else x
    n, r, p = _reduce(xc, T)
    y = T((r * r * p + r + T(1)) * _pow2_normal(n, T))
    return T(0) if x < lo else y


@njit(inline="always")
def vsigmoid(x, T):
    """``1 / (1 + exp(-x))`` through ``exp(-|x|)`` (never overflows; results below the
    smallest normal flush to 0, where PyTorch's float32 exp overflows to give 0 as well)."""
    e = vexp_neg(-abs(x), T)
    r = T(1) / (T(1) + e)
    return r if x >= T(0) else e * r  # NaN: e * r is NaN


@njit(inline="always")
def verfc_scaled(z, T):
    """``erfc(z) * exp(z^2)`` for ``z >= 0`` as ``t P(t)``, ``t = 1 / (1 + z / 2)``: a
    degree-8 fit of ``erfcx`` in ``t`` on [0.17, 1] (relative error 5.5e-8, float32
    evaluation 1.7e-7). float32 only (float64 uses math.erfc); beyond the fit (z > 9.3)
    ``exp(-z^2)`` has flushed to 0, so the product stays right."""
    t = T(1) / (T(1) + T(0.5) * z)
    q = T(-0.058185376636064746)
    q = q * t + T(0.28054336390641732)
    q = q * t + T(-0.47946033366206992)
    q = q * t + T(0.26993762950795536)
    q = q * t + T(-0.021538506428347443)
    q = q * t + T(0.20075337933074111)
    q = q * t + T(0.24353804946447144)
    q = q * t + T(0.28232271334164027)
    q = q * t + T(0.28208904796625489)
    return t * q


@njit(inline="always")
def vphi(x, T):
    """``(Phi(x), exp(-x^2 / 2))``: the normal CDF (as ``erfc(|x| / sqrt 2) / 2`` on the
    side where it is small, without cancellation) and the exponential it shares with the
    normal density. float32 only. Far in the tail rounding ``x^2`` costs ~``x^2`` ulp, as
    PyTorch's own float32 erf."""
    e = vexp_neg(T(-0.5) * x * x, T)
    half = T(0.5) * verfc_scaled(abs(x) * T(0.7071067811865476), T) * e
    return (half if x < T(0) else T(1) - half), e
