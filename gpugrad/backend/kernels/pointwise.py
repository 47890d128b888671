"""Pointwise kernels: fused activation forwards and the backward formulas of pointwise ops.

Each takes arrays of one shape (any strides) and returns a new array of that shape and dtype;
none writes to its inputs. These references are the specification (formulas as PyTorch's CPU
kernels write them, so NaN/inf come out the same) and the fallback of the compiled kernels.
"""

from __future__ import annotations

import math

from ... import _dtype as D
from .engine import kernel

_SQRT1_2 = 1 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2.0 * math.pi)

# splitmix64 (Steele, Lea & Flood 2014): the counter-based hash that turns (seed, index) into
# dropout's uniform draws, the same on every device and in the compiled kernels
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


class PointwiseKernels:
    @kernel
    def threshold_backward(self, grad, x):
        """0 where ``x <= 0``, else ``grad`` (ReLU's backward; a NaN ``x`` passes ``grad``,
        as PyTorch's)."""
        return self.xp.where(x <= 0, grad.dtype.type(0), grad)

    @kernel
    def relu(self, x):
        """``max(x, 0)``; NaN stays NaN (maximum propagates it)."""
        return self.xp.maximum(x, 0)  # a Python 0 keeps the dtype, cheaper than a scalar

    @kernel
    def sigmoid(self, x):
        """``1 / (1 + exp(-x))``."""
        return _computed(self, x.dtype, _sigmoid, self.xp, x)

    @kernel
    def sigmoid_backward(self, grad, y):
        """``grad * y * (1 - y)`` from the saved output ``y``."""
        return grad * (y * (1 - y))  # half as it is: PyTorch's CPU kernel rounds each step

    @kernel
    def tanh(self, x):
        return self.xp.tanh(x)

    @kernel
    def tanh_backward(self, grad, y):
        """``grad * (1 - y^2)`` from the saved output ``y``."""
        return _computed(self, y.dtype, _tanh_backward, grad, y)

    @kernel
    def gelu(self, x, approximate: str = "none"):
        """``x * Phi(x)`` (``"none"``: the normal CDF through erf) or its ``"tanh"`` form."""
        return _computed(self, x.dtype, _gelu, self, x, approximate)

    @kernel
    def gelu_backward(self, grad, x, approximate: str = "none"):
        return _computed(self, x.dtype, _gelu_backward, self, grad, x, approximate)

    @kernel
    def silu(self, x):
        """``x * sigmoid(x)``, computed as PyTorch's ``x / (1 + exp(-x))``."""
        return _computed(self, x.dtype, _silu, self.xp, x)

    @kernel
    def silu_backward(self, grad, x):
        """``grad * s * (1 + x * (1 - s))``, ``s = 1 / (1 + exp(-x))``."""
        return _computed(self, x.dtype, _silu_backward, self.xp, grad, x)

    @kernel
    def softplus(self, x, beta: float = 1.0, threshold: float = 20.0):
        """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``."""
        return _computed(self, x.dtype, _softplus, self.xp, x, beta, threshold)

    @kernel
    def softplus_backward(self, grad, x, beta: float = 1.0, threshold: float = 20.0):
        """``grad * z / (z + 1)``, ``z = exp(beta x)``, and ``grad`` where ``beta x >
        threshold`` (PyTorch's formula)."""
        return _computed(self, x.dtype, _softplus_backward, self.xp, grad, x, beta, threshold)

    def dropout_seed(self):
        """The seed of the next ``dropout`` call, from this device's generator (an int; the
        CUDA backend answers without a device round trip, and with a device scalar that each
        replay refills while a CUDA graph is captured)."""
        return int(self.randint(0, 1 << 62, (1,), D.int64.np)[0])

    @kernel
    def dropout(self, x, p: float, seed: int):
        """``(out, mask)``: element ``i`` is kept (``mask[i]``) when the ``i``-th uniform draw
        of ``seed`` (C order) is ``>= p``; kept ones are scaled by ``1 / (1 - p)``, dropped
        ones are 0 (NaN and inf included), on every device."""
        xp = self.xp
        mask = dropout_uniforms(xp, seed, x.size).reshape(x.shape) >= p
        scale = x.dtype.type(0.0 if p >= 1 else 1.0 / (1.0 - p))
        return xp.where(mask, x * scale, x.dtype.type(0)), mask

    @kernel
    def dropout_backward(self, grad, mask, scale: float):
        """``grad * scale`` where ``mask``, else 0."""
        return self.xp.where(mask, grad * grad.dtype.type(scale), grad.dtype.type(0))


_FLOAT16 = "float16"


def _computed(backend, dtype, fn, *args):
    """``fn(*args)`` silently (IEEE edge cases give inf/NaN); float16 arrays computed in
    float32 and the result rounded once, as PyTorch's kernels (NumPy would round each step).
    bfloat16 reaches the references already widened (the NumPy backend's adapter)."""
    if D.np_name(dtype) != _FLOAT16:
        return backend.quiet(fn, *args)
    wide = tuple(a.astype("float32") if getattr(a, "dtype", None) == dtype else a for a in args)
    return backend.quiet(fn, *wide).astype(dtype)


def _sigmoid(xp, x):
    # exp(-log(1 + exp(-x))): logaddexp keeps both tails accurate without overflow
    return xp.exp(-xp.logaddexp(x.dtype.type(0), -x))


def _tanh_backward(grad, y):
    return grad * (1 - y * y)


def dropout_uniforms(xp, seed, n: int):
    """The ``n`` uniform draws in [0, 1) (float64, 53 bits) of ``seed``: splitmix64 of the
    element's index, so any element's draw is known without the others'."""
    u64 = xp.uint64
    # a device scalar seed (dropout inside a CUDA graph capture) stays on the device
    s = u64(seed & (2**64 - 1)) if isinstance(seed, int) else seed.astype(u64)
    z = (xp.arange(1, n + 1, dtype=u64) * u64(GOLDEN)) + s
    z = (z ^ (z >> u64(30))) * u64(MIX1)
    z = (z ^ (z >> u64(27))) * u64(MIX2)
    z = z ^ (z >> u64(31))
    return (z >> u64(11)).astype(xp.float64) * (1.0 / 2**53)


def _gelu(backend, x, approximate):
    xp, t = backend.xp, x.dtype.type
    if approximate == "tanh":
        inner = t(_SQRT_2_OVER_PI) * (x + t(0.044715) * x * x * x)
        return t(0.5) * x * (1 + xp.tanh(inner))
    return t(0.5) * x * (1 + backend.erf(x * t(_SQRT1_2)))


def _gelu_backward(backend, grad, x, approximate):
    xp, t = backend.xp, x.dtype.type
    if approximate == "tanh":
        k, c = t(_SQRT_2_OVER_PI), t(0.044715)
        th = xp.tanh(k * (x + c * x * x * x))
        d_inner = k * (1 + t(3) * c * x * x)
        return grad * (t(0.5) * (1 + th) + t(0.5) * x * (1 - th * th) * d_inner)
    cdf = t(0.5) * (1 + backend.erf(x * t(_SQRT1_2)))
    pdf = xp.exp(t(-0.5) * x * x) * t(_INV_SQRT_2PI)
    return grad * (cdf + x * pdf)


def _silu(xp, x):
    return x / (1 + xp.exp(-x))


def _silu_backward(xp, grad, x):
    s = 1 / (1 + xp.exp(-x))  # PyTorch's: 0 where exp(-x) overflows (inf * 0 is NaN there)
    return grad * (s * (1 + x * (1 - s)))


def _softplus(xp, x, beta, threshold):
    t = x.dtype.type
    bx = x * t(beta)
    # log1p(exp(-|bx|)) + max(bx, 0) is log1p(exp(bx)) without overflow
    soft = (xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, t(0))) / t(beta)
    return xp.where(bx > threshold, x, soft).astype(x.dtype, copy=False)


def _softplus_backward(xp, grad, x, beta, threshold):
    bx = x * x.dtype.type(beta)
    z = xp.exp(bx)
    return xp.where(bx > threshold, grad, grad * z / (z + 1))
