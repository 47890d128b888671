"""The pointwise catalogue names on the CPU: one parallel pass per call, no temporaries.

Each kernel body is a ``prange`` loop over flat C-ordered arrays whose math
(``_fastmath``, inlined: editing it needs this file touched, as Numba's cache keys by file)
LLVM vectorises. The callables the builders return take any strides: inputs all
C-contiguous (the usual case) or all transposed (F-contiguous) are read in place; others are
first copied to C order (one extra pass). dropout always draws in C order (its mask is the
reference's). float32 and float64 only; the
predicates send other dtypes, mixed dtypes and arrays below the name's ``MIN_SIZE`` (where a
parallel launch costs more than NumPy's loops) to the reference.
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.pointwise import GOLDEN, MIX1, MIX2
from . import ENGINE
from ._fastmath import vexp, vexp_neg, vexpm1, vlog1p, vphi, vsigmoid
from ._jit import njit, prange

# fused multiply-adds only: no flag that changes NaN/inf handling
_FM = {"contract"}
_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
# The smallest size where the fused kernel beat the reference, float32 and float64 alike
# (engine vs reference interleaved in one process, 2^6..2^22, a loaded 2-core machine): the
# cheap formulas (relu, the backwards through a saved output) only where memory dominates,
# the transcendental ones (NumPy makes several passes, scipy's erf is slow) almost at once.
MIN_SIZE = {
    "relu": 1 << 14,
    "threshold_backward": 1 << 13,
    "sigmoid": 1 << 8,
    "sigmoid_backward": 1 << 14,
    "tanh": 1 << 14,  # float64 only: NumPy's own SIMD tanh wins in float32 at every size
    "tanh_backward": 1 << 14,
    "silu": 1 << 12,
    "silu_backward": 1 << 8,
    "gelu": 1 << 6,
    "gelu_backward": 1 << 6,
    "softplus": 1 << 8,
    "softplus_backward": 1 << 10,
    "dropout": 0,  # the reference hashes in several NumPy passes: slower at every size
    "dropout_backward": 1 << 13,
}

_SQRT1_2 = 1 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2.0 * math.pi)
_GOLDEN, _MIX1, _MIX2 = np.uint64(GOLDEN), np.uint64(MIX1), np.uint64(MIX2)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


# ---- kernel bodies: flat C-ordered inputs, a preallocated flat output ------------------
@njit(parallel=True, fastmath=_FM)
def _relu(x, out):
    T = x.dtype.type
    for i in prange(x.size):
        v = x[i]
        out[i] = T(0) if v < 0 else v  # NaN and -0.0 kept


@njit(parallel=True, fastmath=_FM)
def _threshold_backward(g, x, out):
    T = g.dtype.type
    for i in prange(x.size):
        out[i] = T(0) if x[i] <= 0 else g[i]  # PyTorch's test: a NaN x passes g


@njit(parallel=True, fastmath=_FM)
def _sigmoid(x, out):
    T = x.dtype.type
    for i in prange(x.size):
        out[i] = vsigmoid(x[i], T)


@njit(parallel=True, fastmath=_FM)
def _sigmoid_backward(g, y, out):
    T = g.dtype.type
    for i in prange(y.size):
        v = y[i]
        out[i] = g[i] * (v * (T(1) - v))


@njit(parallel=True, fastmath=_FM)
def _tanh(x, out):
    T = x.dtype.type
    for i in prange(x.size):
        v = x[i]
        e = vexpm1(T(-2) * abs(v), T)  # in [-1, 0]: never overflows
        out[i] = math.copysign(abs(e) / (e + T(2)), v)


@njit(parallel=True, fastmath=_FM)
def _tanh_backward(g, y, out):
    T = g.dtype.type
    for i in prange(y.size):
        v = y[i]
        out[i] = g[i] * (T(1) - v * v)


@njit(parallel=True, fastmath=_FM)
def _silu(x, out):
    T = x.dtype.type
    for i in prange(x.size):
        v = x[i]
        out[i] = v * vsigmoid(v, T)


@njit(parallel=True, fastmath=_FM)
def _silu_backward(g, x, out):
    T = g.dtype.type
    for i in prange(x.size):
        v = x[i]
        s = vsigmoid(v, T)
        out[i] = g[i] * (s * (T(1) + v * (T(1) - s)))


@njit(parallel=True, fastmath=_FM)
def _gelu_f32(x, out):
    T = x.dtype.type
    for i in prange(x.size):
        v = x[i]
        out[i] = v * vphi(v, T)[0]


@njit(parallel=True, fastmath=_FM)
def _gelu_f64(x, out):
    for i in prange(x.size):
        v = x[i]
        out[i] = 0.5 * v * math.erfc(-v * _SQRT1_2)


@njit(parallel=True, fastmath=_FM)
def _gelu_backward_f32(g, x, out):
    T = x.dtype.type
    for i in prange(x.size):
        v = x[i]
        cdf, e = vphi(v, T)
        out[i] = g[i] * (cdf + v * (e * T(_INV_SQRT_2PI)))


@njit(parallel=True, fastmath=_FM)
def _gelu_backward_f64(g, x, out):
    for i in prange(x.size):
        v = x[i]
        cdf = 0.5 * math.erfc(-v * _SQRT1_2)
        pdf = vexp(-0.5 * v * v, np.float64) * _INV_SQRT_2PI
        out[i] = g[i] * (cdf + v * pdf)


@njit(parallel=True, fastmath=_FM)
def _gelu_tanh(x, out):
    # 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation where tanh(u) -> -1
    T = x.dtype.type
    k, c = T(2 * _SQRT_2_OVER_PI), T(0.044715)
    for i in prange(x.size):
        v = x[i]
        out[i] = v * vsigmoid(k * (v + c * v * v * v), T)


@njit(parallel=True, fastmath=_FM)
def _gelu_tanh_backward(g, x, out):
    # with s = sigmoid(2u) = (1 + tanh u) / 2: 1 - tanh(u)^2 = 4 s (1 - s)
    T = x.dtype.type
    k, c = T(_SQRT_2_OVER_PI), T(0.044715)
    for i in prange(x.size):
        v = x[i]
        s = vsigmoid(T(2) * k * (v + c * v * v * v), T)
        d = s + T(2) * v * s * (T(1) - s) * k * (T(1) + T(3) * c * v * v)
        out[i] = g[i] * d


@njit(parallel=True, fastmath=_FM)
def _softplus(x, out, beta, threshold):
    T = x.dtype.type
    b, th = T(beta), T(threshold)
    for i in prange(x.size):
        v = x[i]
        bx = v * b
        # max(bx, 0) + log1p(exp(-|bx|)): exp never overflows, log1p's argument is in [0, 1]
        soft = (max(bx, T(0)) + vlog1p(vexp_neg(-abs(bx), T), T)) / b
        out[i] = v if bx > th else soft


@njit(parallel=True, fastmath=_FM)
def _softplus_backward(g, x, out, beta, threshold):
    T = x.dtype.type
    b, th = T(beta), T(threshold)
    for i in prange(x.size):
        bx = x[i] * b
        z = vexp(bx, T)
        out[i] = g[i] if bx > th else g[i] * z / (z + T(1))


@njit(parallel=True, fastmath=_FM)
def _dropout(x, out, mask, p, seed, scale):
    T = x.dtype.type
    s = T(scale)
    for i in prange(x.size):
        z = np.uint64(i + 1) * _GOLDEN + seed  # splitmix64 of the index, as the reference
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
        z = z ^ (z >> _S31)
        keep = np.float64(z >> _S11) * (1.0 / 9007199254740992.0) >= p
        mask[i] = keep
        out[i] = x[i] * s if keep else T(0)


@njit(parallel=True, fastmath=_FM)
def _dropout_backward(g, mask, out, scale):
    T = g.dtype.type
    s = T(scale)
    for i in prange(g.size):
        out[i] = g[i] * s if mask[i] else T(0)


# ---- layout: flat C-ordered views in, a new array of the input's shape out -------------
def _flat(a, shape):
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return np.ascontiguousarray(a).reshape(-1)  # no copy when already C-contiguous


def _operands(arrays, shape, dtype):
    """Flat views of ``arrays`` (broadcast to ``shape``) in one memory order, the result
    array and its flat view. F order when every input is transposed (F-contiguous), or a
    strided view of such memory (copied in its memory order, which is fast): a copy that
    transposes costs more than the reference's whole pass. Else C order, copying the inputs
    that are not C-contiguous."""
    if not all(a.flags.c_contiguous for a in arrays):
        fs = [_f_order(a, shape) for a in arrays]
        if all(f is not None for f in fs):
            out = np.empty(shape[::-1], dtype).T
            return [f.T.reshape(-1) for f in fs], out, out.T.reshape(-1)
    out = np.empty(shape, dtype)
    return [_flat(a, shape) for a in arrays], out, out.reshape(-1)


def _f_order(a, shape):
    """``a`` as an F-contiguous (not C-contiguous) array, or None."""
    if a.shape != shape or a.ndim < 2:
        return None
    if not a.flags.f_contiguous:
        a = a.copy(order="K")  # memory order kept: F for a view of transposed memory
    return a if a.flags.f_contiguous and not a.flags.c_contiguous else None


def _unary(kern):
    def run(x):
        (flat,), out, o = _operands((x,), x.shape, x.dtype)
        kern(flat, o)
        return out

    return run


def _binary(kern):
    def run(g, x):
        shape = np.broadcast_shapes(g.shape, x.shape) if g.shape != x.shape else x.shape
        (fg, fx), out, o = _operands((g, x), shape, g.dtype)
        kern(fg, fx, o)
        return out

    return run


# ---- when the kernels serve a call ------------------------------------------------------
def _one(name: str, dtypes=_FLOATS):
    def when(x, *_args) -> bool:
        return x.size >= MIN_SIZE[name] and x.dtype in dtypes  # size first: tiny exits at once

    return when


def _two(name: str):
    def when(g, x, *_args) -> bool:
        return x.size >= MIN_SIZE[name] and g.dtype in _FLOATS and x.dtype == g.dtype

    return when


def _examples_one(*extra):
    return lambda: [(np.zeros(8, dt), *extra) for dt in (np.float32, np.float64)]


def _examples_two(*extra):
    return lambda: [(np.zeros(8, dt), np.zeros(8, dt), *extra) for dt in (np.float32, np.float64)]


_F64 = frozenset((np.dtype(np.float64),))
for _name, _kern, _dts in (
    ("relu", _relu, _FLOATS),
    ("sigmoid", _sigmoid, _FLOATS),
    ("tanh", _tanh, _F64),
    ("silu", _silu, _FLOATS),
):
    ENGINE.implements(_name, when=_one(_name, _dts), examples=_examples_one())(
        lambda _kern=_kern: _unary(_kern)
    )
for _name, _kern in (
    ("threshold_backward", _threshold_backward),
    ("sigmoid_backward", _sigmoid_backward),
    ("tanh_backward", _tanh_backward),
    ("silu_backward", _silu_backward),
):
    ENGINE.implements(_name, when=_two(_name), examples=_examples_two())(
        lambda _kern=_kern: _binary(_kern)
    )


_gelu_size, _gelu_backward_size = _one("gelu"), _two("gelu_backward")


def _gelu_ok(x, approximate: str = "none") -> bool:
    return _gelu_size(x) and approximate in ("none", "tanh")


def _gelu_backward_ok(g, x, approximate: str = "none") -> bool:
    return _gelu_backward_size(g, x) and approximate in ("none", "tanh")


@ENGINE.implements(
    "gelu", when=_gelu_ok, examples=lambda: _examples_one("none")() + _examples_one("tanh")()
)
def _build_gelu():
    exact = {np.dtype(np.float32): _unary(_gelu_f32), np.dtype(np.float64): _unary(_gelu_f64)}
    approx = _unary(_gelu_tanh)

    def gelu(x, approximate: str = "none"):
        return approx(x) if approximate == "tanh" else exact[x.dtype](x)

    return gelu


@ENGINE.implements(
    "gelu_backward",
    when=_gelu_backward_ok,
    examples=lambda: _examples_two("none")() + _examples_two("tanh")(),
)
def _build_gelu_backward():
    exact = {
        np.dtype(np.float32): _binary(_gelu_backward_f32),
        np.dtype(np.float64): _binary(_gelu_backward_f64),
    }
    approx = _binary(_gelu_tanh_backward)

    def gelu_backward(g, x, approximate: str = "none"):
        return approx(g, x) if approximate == "tanh" else exact[x.dtype](g, x)

    return gelu_backward


@ENGINE.implements("softplus", when=_one("softplus"), examples=_examples_one(1.0, 20.0))
def _build_softplus():
    def softplus(x, beta: float = 1.0, threshold: float = 20.0):
        (flat,), out, o = _operands((x,), x.shape, x.dtype)
        _softplus(flat, o, beta, threshold)
        return out

    return softplus


@ENGINE.implements(
    "softplus_backward", when=_two("softplus_backward"), examples=_examples_two(1.0, 20.0)
)
def _build_softplus_backward():
    def softplus_backward(g, x, beta: float = 1.0, threshold: float = 20.0):
        shape = np.broadcast_shapes(g.shape, x.shape)
        (fg, fx), out, o = _operands((g, x), shape, g.dtype)
        _softplus_backward(fg, fx, o, beta, threshold)
        return out

    return softplus_backward


@ENGINE.implements("dropout", when=_one("dropout"), examples=_examples_one(0.5, 1))
def _build_dropout():
    def dropout(x, p: float, seed: int):
        out = np.empty(x.shape, x.dtype)
        mask = np.empty(x.shape, np.bool_)
        scale = 0.0 if p >= 1 else 1.0 / (1.0 - p)
        _dropout(
            np.ascontiguousarray(x).reshape(-1),
            out.reshape(-1),
            mask.reshape(-1),
            float(p),
            np.uint64(seed & 0xFFFFFFFFFFFFFFFF),
            scale,
        )
        return out, mask

    return dropout


def _dropout_backward_ok(g, mask, scale) -> bool:
    return g.size >= MIN_SIZE["dropout_backward"] and g.dtype in _FLOATS and mask.dtype == np.bool_


@ENGINE.implements(
    "dropout_backward",
    when=_dropout_backward_ok,
    examples=lambda: [(np.zeros(8, dt), np.ones(8, np.bool_), 2.0) for dt in _FLOATS],
)
def _build_dropout_backward():
    def dropout_backward(g, mask, scale: float):
        shape = np.broadcast_shapes(g.shape, mask.shape)
        (fg, fm), out, o = _operands((g, mask), shape, g.dtype)
        _dropout_backward(fg, fm, o, float(scale))
        return out

    return dropout_backward
