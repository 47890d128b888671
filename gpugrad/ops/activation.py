"""Activation functions: gelu, silu, softplus, leaky_relu, elu, selu, celu, hardtanh, relu6,
hardsigmoid, hardswish, logsigmoid, mish, softsign, tanhshrink, glu, threshold (relu, sigmoid
and tanh are in unary.py; softmax / log_softmax / softmin in softmax.py).

gelu, silu and softplus are primitives over the backend's fused pointwise kernels (one pass
each way; softplus: the composite through |x| has a wrong derivative at exactly 0); the rest
are composites that inherit their gradients."""

from __future__ import annotations

import math
from types import SimpleNamespace

from .. import _dtype as D
from .._tensor import Tensor
from .._type_info import finfo
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node
from ._checks import float_only, not_implemented_for
from ._util import (
    needs_grad,
    record,
    wrap_dim,
)
from .compare import where
from .inplace import apply_inplace
from .softmax import (  # noqa: F401 - part of this module's API
    LogSoftmaxBackward0,
    SoftmaxBackward0,
    log_softmax,
    softmax,
    softmin,
)
from .unary import _half_in_float32, relu, sigmoid, tanh  # noqa: F401 - part of this module's API
from .unary import exp as _exp

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

# the ops a _Piecewise node's formula uses under create_graph (f.where, f.exp, f.minimum)
_TENSOR_FNS = SimpleNamespace(where=where, exp=_exp, minimum=lambda t, v: t.clamp(max=v))


class GeluBackward0(Node):
    def backward(self, grad):
        if not _grad_state.enabled:  # the backend's fused kernel: nothing to record
            return self._backward_arrays(grad)
        (x,) = self.saved_tensors
        if self.approximate == "tanh":
            inner = (x + x * x * x * 0.044715) * _SQRT_2_OVER_PI
            th = inner.tanh()
            d_inner = (1 + x * x * (3 * 0.044715)) * _SQRT_2_OVER_PI
            return (grad * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * d_inner),)
        cdf = (x * (1 / math.sqrt(2))).erf() * 0.5 + 0.5
        pdf = (x * x * -0.5).exp() * (1 / math.sqrt(2 * math.pi))
        return (grad * (cdf + x * pdf),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (backend.gelu_backward(g, x, self.approximate),)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit (exact erf form, or approximate='tanh')."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    x = float_only(input, "GeluKernelImpl")
    out = Tensor._make(input._device.backend.gelu(x, approximate), input._device)
    if needs_grad(input):
        node = record(GeluBackward0(), (input,), out)
        node.save(input)
        node.approximate = approximate
    return out


class SiluBackward0(Node):
    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        (x,) = self.saved_tensors
        s = x.sigmoid()
        return (grad * (s * (1 + x * (1 - s))),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (backend.silu_backward(g, x),)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x), one fused kernel each way."""
    x = float_only(input, "silu_cpu")
    if inplace:  # the node on the input itself, saving its old values (PyTorch's original self)
        return apply_inplace(input, silu)
    out = Tensor._make(input._device.backend.silu(x), input._device)
    if needs_grad(input):
        record(SiluBackward0(), (input,), out).save(input)
    return out


class SoftplusBackward0(Node):
    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        (x,) = self.saved_tensors
        bx = x * self.beta
        return (grad * bx.sigmoid().where(bx <= self.threshold, 1.0),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (backend.softplus_backward(g, x, self.beta, self.threshold),)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > ``threshold``."""
    x = float_only(input, "softplus_cpu")
    data = input._device.backend.softplus(x, beta, threshold)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(SoftplusBackward0(), (input,), out)
        node.save(input)
        node.beta, node.threshold = beta, threshold
    return out


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    float_only(input, "leaky_relu_cpu")
    out = input.where(input > 0, input * negative_slope)
    return _inplace_result(input, out) if inplace else out


def _inplace_result(input: Tensor, out: Tensor) -> Tensor:
    return input.copy_(out)


class _Piecewise(Node):
    """A pointwise activation's node: ``grad_of(f, g, x)`` over the saved input, written once
    for arrays (``f`` the backend's array module: the fast path) and for Tensors (``f`` this
    module's ops, under create_graph). Half inputs compute in float32, rounded once."""

    @staticmethod
    def grad_of(f, g, x):
        raise NotImplementedError

    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        (x,) = self.saved_tensors
        return (self.grad_of(_TENSOR_FNS, grad, x),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        gw, xw = _widened(g, x)  # half: in float32, rounded once
        out = backend.quiet(self.grad_of, backend.xp, gw, xw)
        return (out if gw is g else D.cast_array(out, g.dtype),)


def _piecewise(input: Tensor, fwd, node: _Piecewise, inplace: bool, kernel: str) -> Tensor:
    """``fwd(xp, x)`` of the input's data (float32 for half, rounded once), recorded with
    ``node`` (its parameters already set); in place, ``node`` goes on the input itself and
    keeps its old values (PyTorch's original self). A float-only kernel, PyTorch's ``kernel``:
    an integer or bool input is refused before anything is written."""
    x = float_only(input, kernel)
    if inplace:
        return apply_inplace(input, _piecewise, fwd, node, False, kernel)
    backend = input._device.backend
    data = _half_in_float32(lambda a: backend.quiet(fwd, backend.xp, a), x)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        record(node, (input,), out).save(input)
    return out


class EluBackward0(_Piecewise):
    # PyTorch's elu_backward: the negative branch where x <= 0, so a NaN takes the positive
    # one; its exp sees min(x, 0), so the branch not taken never overflows (no 0 * inf in a
    # double backward)
    def grad_of(self, f, g, x):
        c = self.scale * self.alpha * self.input_scale
        e = f.exp(f.minimum(x, 0) * self.input_scale)
        return f.where(x <= 0, g * (e * c), g * self.scale)


class CeluBackward0(EluBackward0):
    pass


def _elu(input: Tensor, alpha: float, scale: float, input_scale: float, inplace, node) -> Tensor:
    def fwd(xp, x):
        t = x.dtype.type
        neg = xp.expm1(xp.minimum(x, 0) * t(input_scale)) * t(alpha * scale)
        return xp.where(x <= 0, neg, x * t(scale))

    node.alpha, node.scale, node.input_scale = alpha, scale, input_scale
    return _piecewise(input, fwd, node, inplace, "elu_cpu")


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return _elu(input, alpha, 1.0, 1.0, inplace, EluBackward0())


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return _elu(input, alpha, scale, 1.0, inplace, EluBackward0())


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1))."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _elu(input, alpha, 1.0, 1.0 / alpha, inplace, CeluBackward0())


# where a clipped branch's gradient is 0 it is a real 0 (never g * 0: NaN for an inf or NaN
# upstream gradient, where PyTorch's kernels select 0)
class HardtanhBackward0(_Piecewise):
    # PyTorch's: the gradient passes strictly inside (min, max), and for NaN
    def grad_of(self, f, g, x):
        return f.where((x <= self.min_val) | (x >= self.max_val), 0.0, g)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """x clamped to [min_val, max_val]."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if input._data.dtype.kind == "b":
        raise RuntimeError("Bool inputs not supported for hardtanh")
    if not D.is_floating(input._data.dtype):  # integers stay integers: bounds cast (truncated)
        out = input.clamp(int(min_val), int(max_val))
        return _inplace_result(input, out) if inplace else out

    def fwd(xp, x):
        t = x.dtype.type
        return xp.where(x < min_val, t(min_val), xp.where(x > max_val, t(max_val), x))

    node = HardtanhBackward0()
    node.min_val, node.max_val = min_val, max_val
    return _piecewise(input, fwd, node, inplace, "hardtanh_cpu")


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


class HardsigmoidBackward0(_Piecewise):
    @staticmethod
    def grad_of(f, g, x):
        return f.where((x > -3) & (x < 3), g / 6, 0.0)


def _hardsigmoid(xp, x):
    t = x.dtype.type
    return xp.minimum(xp.maximum(x + t(3), t(0)), t(6)) / t(6)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    return _piecewise(input, _hardsigmoid, HardsigmoidBackward0(), inplace, "hardsigmoid_cpu")


class HardswishBackward0(_Piecewise):
    @staticmethod
    def grad_of(f, g, x):  # PyTorch's: 0 from -3 down, g from 3 up
        return f.where(x <= -3, 0.0, f.where(x < 3, g * (x / 3 + 0.5), g))


def _hardswish(xp, x):
    t = x.dtype.type  # PyTorch's formula as it is: -inf gives NaN, 3e38 overflows to inf
    return x * xp.minimum(xp.maximum(x + t(3), t(0)), t(6)) / t(6)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    return _piecewise(input, _hardswish, HardswishBackward0(), inplace, "hardswish_cpu")


class SoftshrinkBackward0(_Piecewise):
    def grad_of(self, f, g, x):
        return f.where((x >= -self.lambd) & (x <= self.lambd), 0.0, g)


class HardshrinkBackward0(SoftshrinkBackward0):
    pass


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if lambd < 0:
        top = finfo(input.dtype).max
        name = D.scalar_type_name(input.dtype)
        raise RuntimeError(
            f"lambda must be in range [0, {top:g}] for input dtype {name}, but found {lambd:g}"
        )

    def fwd(xp, x):
        t = x.dtype.type
        return xp.where(x > lambd, x - t(lambd), xp.where(x < -lambd, x + t(lambd), x * t(0)))

    node = SoftshrinkBackward0()
    node.lambd = lambd
    return _piecewise(input, fwd, node, False, "softshrink_check")


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0 (a negative lambd keeps every x, as PyTorch's)."""

    def fwd(xp, x):
        return xp.where((x >= -lambd) & (x <= lambd), x.dtype.type(0), x)

    node = HardshrinkBackward0()
    node.lambd = lambd
    return _piecewise(input, fwd, node, False, "hardshrink_cpu")


class LogSigmoidBackward0(Node):
    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        (x,) = self.saved_tensors
        return (grad * (-x).sigmoid(),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (backend.quiet(_log_sigmoid_grad, backend.xp, g, x),)


def _log_sigmoid_grad(xp, g, x):
    # PyTorch's: z = e^-|x| in the input's dtype (its saved buffer), then in float32 for
    # half, rounded once: g (1 - z / (1 + z)) below 0, g z / (1 + z) from 0 up
    z = xp.exp(-xp.abs(x))
    gw, zw = _widened(g, z)
    xw = x if zw.dtype == x.dtype else x.astype(zw.dtype)
    r = zw / (1 + zw)
    return D.cast_array(gw * xp.where(xw < 0, 1 - r, r), g.dtype)


def _widened(g, x):
    """``g`` and ``x`` in the dtype half computes in (float32), else as they are."""
    wide = D.accumulation_np(g.dtype)
    return (g, x) if wide == g.dtype else (g.astype(wide), x.astype(wide))


def _log_sigmoid(xp, x):
    # min(x, 0) - log1p(e^-|x|): no overflow for either sign, as PyTorch's kernel
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), one node (LogSigmoidBackward0)."""
    backend = input._device.backend
    x = float_only(input, "log_sigmoid_cpu")
    data = _half_in_float32(lambda a: backend.quiet(_log_sigmoid, backend.xp, a), x)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        record(LogSigmoidBackward0(), (input,), out).save(input)
    return out


class MishBackward0(Node):
    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        (x,) = self.saved_tensors
        t = softplus(x).tanh()
        return (grad * (t + x * x.sigmoid() * (1 - t * t)),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        gw, xw = _widened(g, x)  # half: in float32, rounded once
        t = backend.tanh(backend.softplus(xw, 1.0, 20.0))
        out = backend.quiet(_mish_grad, gw, xw, t, backend.sigmoid(xw))
        return (D.cast_array(out, g.dtype),)


def _mish_grad(g, x, t, s):
    return g * (t + x * s * (1 - t * t))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)), one node (MishBackward0)."""
    x = float_only(input, "mish_cpu")
    if inplace:
        return apply_inplace(input, mish)
    backend = input._device.backend
    data = _half_in_float32(lambda a: backend.quiet(_mish, backend, a), x)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        record(MishBackward0(), (input,), out).save(input)
    return out


def _mish(backend, x):
    return x * backend.tanh(backend.softplus(x, 1.0, 20.0))


def softsign(input: Tensor) -> Tensor:
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    return input - input.tanh()


def glu(input: Tensor, dim: int = -1) -> Tensor:
    float_only(input, "glu_cpu")
    if input._data.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = wrap_dim(dim, input._data.ndim)
    if input._data.shape[d] % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {d} is size {input._data.shape[d]}"
        )
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    if input._data.dtype.kind == "b":  # integers have a loop, bools none
        raise not_implemented_for("threshold_cpu", input._data.dtype)
    if D.is_floating(input._data.dtype):
        out = where(input > threshold, input, float(value))
    else:  # integers stay integers, both scalars cast (truncated) first, as PyTorch's kernel
        out = where(input > int(threshold), input, int(value))
    return _inplace_result(input, out) if inplace else out
