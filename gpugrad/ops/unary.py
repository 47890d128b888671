"""Elementwise functions of one tensor, each with its derivative beside it: neg, abs,
reciprocal, exp / expm1 / exp2, log / log1p / log2 / log10, sqrt / rsqrt, trigonometric and
hyperbolic functions, tanh / sigmoid / relu, erf, logit, clamp (clamp_min / clamp_max),
sign and rounding, square, frac, nan_to_num."""

from __future__ import annotations

import math
import sys

from .. import _dtype as D
from .._tensor import Tensor
from .._type_info import finfo
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node, refresh_view
from ..backend.kernels.elementwise import DERIVATIVES, backward_name
from ._checks import float_only, not_implemented_for, require_floating, require_number
from ._util import float_data, needs_grad, record


def _quiet(t: Tensor, fn: str):
    """The backend's elementwise kernel ``fn`` of ``t``'s data in a float dtype; where the
    math leaves its domain (log(0), sqrt(-1), exp overflow) the result is inf/NaN without a
    warning, as in PyTorch."""
    backend = t._device.backend
    return backend.quiet(getattr(backend, fn), float_data(t))


def _unary(input: Tensor, data, node_cls, save: str | None):
    out = Tensor._make(data, input._device)
    if input._base is not None and input._vver != input._vc[0]:
        refresh_view(input)
    if input._requires_grad and _grad_state.enabled:
        node = node_cls()  # record() inlined: one input that requires grad
        gf = input._grad_fn
        if gf is None:
            edge = (input._grad_accumulator(), 0)
        else:
            edge = (gf, input._output_nr)
        edge[0]._nin += 1
        node.next_functions = (edge,)
        out._requires_grad, out._grad_fn = True, node
        if save == "input":
            node.save(input)
        elif save == "output":
            node.save(out)
    return out


class NegBackward0(Node):
    def backward(self, grad):
        return (-grad,)


def neg(input: Tensor) -> Tensor:
    if input._data.dtype.kind == "b":
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
            "to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return _unary(input, input._device.backend.neg(input._data), NegBackward0, None)


class _Pointwise(Node):
    """d out / d x over the saved value ``v`` (the input or the output): with arrays when
    nothing is recorded (the fast path), with Tensors and gpugrad's ops under create_graph.
    A class that names its catalogue function ``fn`` takes the catalogue's backward
    (``DERIVATIVES[fn].grad``, PyTorch's formula; on arrays the backend's kernel
    ``<fn>_backward``); the others give ``derivative(v, xp)``, and the gradient is
    ``grad * derivative``."""

    # where the formulas find their functions under create_graph: this module (sqrt, cosh ...)
    _tensor_fns = sys.modules[__name__]
    fn: str | None = None  # the catalogue function whose backward this is
    _kernel: str | None = None
    _grad = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("fn") is not None:
            cls._grad = staticmethod(DERIVATIVES[cls.fn].grad)
            cls._kernel = backward_name(cls.fn)

    @staticmethod
    def derivative(v, xp):
        raise NotImplementedError

    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        (v,) = self.saved_tensors
        if self._grad is not None:
            return (self._grad(grad, v, self._tensor_fns),)
        return (grad * self.derivative(v, self._tensor_fns),)

    def _arrays(self, backend, g):
        (v,) = self.saved_arrays()
        if self._kernel is None:  # a bounded constant factor (deg2rad, rad2deg): no quiet
            return (g * self.derivative(v, backend.xp),)
        # 1 / x at x == 0 is inf, silently (quiet)
        return (backend.quiet(getattr(backend, self._kernel), g, v),)


class AbsBackward0(_Pointwise):
    derivative = staticmethod(lambda x, f: f.sign(x))

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (g * _sign(backend.xp, x),)  # sign(NaN) = 0, as PyTorch's sgn


def _no_bool(input: Tensor, kernel: str) -> None:
    """PyTorch's rounding and abs kernels have no bool loop (NumPy's do)."""
    if input._data.dtype.kind == "b":
        raise not_implemented_for(kernel, input._data.dtype)


def abs(input: Tensor) -> Tensor:  # noqa: A001
    _no_bool(input, "abs_cpu")
    return _unary(input, input._device.backend.abs(input._data), AbsBackward0, "input")


class ReciprocalBackward0(_Pointwise):
    fn = "reciprocal"


def reciprocal(input: Tensor) -> Tensor:
    backend = input._device.backend
    data = backend.quiet(backend.reciprocal, float_data(input))
    return _unary(input, data, ReciprocalBackward0, "output")


class ExpBackward0(_Pointwise):
    fn = "exp"


def exp(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "exp"), ExpBackward0, "output")


class Expm1Backward0(_Pointwise):
    fn = "expm1"


def expm1(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "expm1"), Expm1Backward0, "output")


class LogBackward0(_Pointwise):
    fn = "log"


def log(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "log"), LogBackward0, "input")


class Log1PBackward0(_Pointwise):
    fn = "log1p"


def log1p(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "log1p"), Log1PBackward0, "input")


class Log2Backward0(_Pointwise):
    fn = "log2"


def log2(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "log2"), Log2Backward0, "input")


class SqrtBackward0(_Pointwise):
    fn = "sqrt"


def sqrt(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "sqrt"), SqrtBackward0, "output")


class RsqrtBackward0(_Pointwise):
    fn = "rsqrt"


def rsqrt(input: Tensor) -> Tensor:
    backend = input._device.backend
    data = backend.quiet(backend.rsqrt, float_data(input))
    return _unary(input, data, RsqrtBackward0, "output")


class SinBackward0(_Pointwise):
    fn = "sin"


def sin(input: Tensor) -> Tensor:
    return _unary(input, input._device.backend.sin(float_data(input)), SinBackward0, "input")


class CosBackward0(_Pointwise):
    fn = "cos"


def cos(input: Tensor) -> Tensor:
    return _unary(input, input._device.backend.cos(float_data(input)), CosBackward0, "input")


class TanhBackward0(_Pointwise):
    derivative = staticmethod(lambda r, xp: 1 - r * r)

    def _arrays(self, backend, g):
        (y,) = self.saved_arrays()
        return (backend.tanh_backward(g, y),)


def tanh(input: Tensor) -> Tensor:
    data = input._device.backend.tanh(float_data(input))
    return _unary(input, data, TanhBackward0, "output")


class SigmoidBackward0(_Pointwise):
    derivative = staticmethod(lambda r, xp: r * (1 - r))

    def _arrays(self, backend, g):
        (y,) = self.saved_arrays()
        return (backend.sigmoid_backward(g, y),)


def sigmoid(input: Tensor) -> Tensor:
    data = input._device.backend.sigmoid(float_data(input))
    return _unary(input, data, SigmoidBackward0, "output")


class ReluBackward0(Node):
    # Saves the input, not the result as PyTorch does: the same mask (x > 0 exactly where
    # relu(x) > 0), and unpacking a saved input is cheaper than rebuilding a saved output.
    def backward(self, grad):
        (x,) = self.saved_tensors
        return (threshold_backward(grad, x),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (backend.threshold_backward(g, x),)


class ThresholdBackwardBackward0(Node):
    def backward(self, grad):
        (r,) = self.saved_tensors
        return (threshold_backward(grad, r), None)


def threshold_backward(grad: Tensor, result: Tensor) -> Tensor:
    """``grad`` where ``result > 0``, else 0: ReLU's backward as one op (linear in grad)."""
    data = grad._device.backend.threshold_backward(grad._data, result._data)
    out = Tensor._make(data, grad._device)
    if needs_grad(grad):
        record(ThresholdBackwardBackward0(), (grad, None), out).save(result)
    return out


def relu(input: Tensor) -> Tensor:
    d = input._data
    if d.dtype.kind == "b":  # PyTorch's check, before its kernel (NumPy would pass it)
        raise RuntimeError("Boolean inputs not supported for relu")
    backend = input._device.backend
    if D.is_floating(d.dtype):
        data = backend.relu(d)
    else:  # a Python 0 keeps an integer dtype
        data = backend.xp.maximum(d, 0)
    return _unary(input, data, ReluBackward0, "input")


class ClampBackward1(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        mask = None
        if self.min is not None:
            mask = x >= self.min
        if self.max is not None:
            upper = x <= self.max
            mask = upper if mask is None else mask & upper
        return (grad * mask,)


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002
    """Limit values to [min, max]; either bound may be None (scalar bounds)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = out.maximum(min if isinstance(min, Tensor) else _like(input, min))
        if max is not None:
            out = out.minimum(max if isinstance(max, Tensor) else _like(input, max))
        return out
    xp = input._device.backend.xp
    d = input._data
    if d.dtype.kind in "iub" and (isinstance(min, float) or isinstance(max, float)):
        d = d.astype(D.get_default_dtype().np)
    data = _clip_float(xp, d, min, max) if D.is_floating(d.dtype) else xp.clip(d, min, max)
    out = _unary(input, data, ClampBackward1, "input")
    if out._grad_fn is not None:
        out._grad_fn.min, out._grad_fn.max = min, max
    return out


def _clip_float(xp, d, lo, hi):
    t = d.dtype.type  # keep float32 results float32 for float bounds
    if lo is not None:
        d = xp.maximum(d, t(lo))
    if hi is not None:
        d = xp.minimum(d, t(hi))
    return d


def _like(t: Tensor, v) -> Tensor:
    return Tensor._make(t._device.backend.xp.asarray(v, dtype=t._data.dtype), t._device)


# ---- piecewise-constant functions: zero gradient ---------------------------------------
class _ZeroGrad(Node):
    def backward(self, grad):
        return (grad * 0,)


class SignBackward0(_ZeroGrad):
    pass


class FloorBackward0(_ZeroGrad):
    pass


class CeilBackward0(_ZeroGrad):
    pass


class RoundBackward0(_ZeroGrad):
    pass


class TruncBackward0(_ZeroGrad):
    pass


def _sign(xp, x):
    if x.dtype.kind == "b":  # NumPy has no bool loop; a bool's sign is itself
        return x.copy()
    s = xp.sign(x)
    if D.is_floating(x.dtype):  # NaN's sign is 0, as PyTorch's (x > 0) - (x < 0)
        s = xp.where(x == x, s, s.dtype.type(0))
    return s


def sign(input: Tensor) -> Tensor:
    backend = input._device.backend
    return _unary(input, _sign(backend.xp, input._data), SignBackward0, None)


class SgnBackward0(_ZeroGrad):
    pass


def sgn(input: Tensor) -> Tensor:
    """sign for real tensors (gpugrad has no complex dtypes)."""
    backend = input._device.backend
    return _unary(input, _sign(backend.xp, input._data), SgnBackward0, None)


def floor(input: Tensor) -> Tensor:
    _no_bool(input, "floor_vml_cpu")
    return _unary(input, input._device.backend.floor(input._data), FloorBackward0, None)


def ceil(input: Tensor) -> Tensor:
    _no_bool(input, "ceil_vml_cpu")
    return _unary(input, input._device.backend.ceil(input._data), CeilBackward0, None)


def trunc(input: Tensor) -> Tensor:
    _no_bool(input, "trunc_vml_cpu")
    return _unary(input, input._device.backend.trunc(input._data), TruncBackward0, None)


fix = trunc


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001
    # NumPy/CuPy round half to even, like PyTorch.
    _no_bool(input, "round_vml_cpu")
    if decimals != 0:  # the kernel with decimals is float-only
        float_only(input, "round_cpu")
    xp = input._device.backend.xp
    return _unary(input, xp.round(input._data, decimals), RoundBackward0, None)


# ---- trigonometric, hyperbolic, other exponentials and logs ----------------------------
class TanBackward0(_Pointwise):
    fn = "tan"


class SinhBackward0(_Pointwise):
    fn = "sinh"


class CoshBackward0(_Pointwise):
    fn = "cosh"


class AsinBackward0(_Pointwise):
    fn = "asin"


class AcosBackward0(_Pointwise):
    fn = "acos"


class AtanBackward0(_Pointwise):
    fn = "atan"


class Log10Backward0(_Pointwise):
    fn = "log10"


class Exp2Backward0(_Pointwise):
    fn = "exp2"


def tan(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "tan"), TanBackward0, "output")


def sinh(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "sinh"), SinhBackward0, "input")


def cosh(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "cosh"), CoshBackward0, "input")


def asin(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "asin"), AsinBackward0, "input")


def acos(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "acos"), AcosBackward0, "input")


def atan(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "atan"), AtanBackward0, "input")


def log10(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "log10"), Log10Backward0, "input")


def exp2(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "exp2"), Exp2Backward0, "output")


arcsin, arccos, arctan = asin, acos, atan


class AsinhBackward0(_Pointwise):
    fn = "asinh"


class AcoshBackward0(_Pointwise):
    fn = "acosh"


class AtanhBackward0(_Pointwise):
    fn = "atanh"


def asinh(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "asinh"), AsinhBackward0, "input")


def acosh(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "acosh"), AcoshBackward0, "input")


def atanh(input: Tensor) -> Tensor:
    return _unary(input, _quiet(input, "atanh"), AtanhBackward0, "input")


arcsinh, arccosh, arctanh = asinh, acosh, atanh


class SincBackward0(Node):
    # (pi x cos(pi x) - sin(pi x)) / (pi x^2), and PyTorch's 0 where that is 0 / 0 (at 0 and
    # where pi x^2 underflows)
    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        from .compare import where

        (x,) = self.saved_tensors
        px = x * math.pi
        den = px * x
        return (grad * where(den == 0, 0.0, (px * px.cos() - px.sin()) / den),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (backend.quiet(_sinc_grad, backend.xp, g, x),)


def _sinc_grad(xp, g, x):
    px = x * x.dtype.type(math.pi)
    den = px * x
    return g * xp.where(den == 0, x.dtype.type(0), (px * xp.cos(px) - xp.sin(px)) / den)


def _half_in_float32(fn, x):
    """``fn(x)``; a half ``x`` computed in float32 and rounded once, as PyTorch's kernels."""
    wide = D.accumulation_np(x.dtype)
    return fn(x) if wide == x.dtype else D.cast_array(fn(x.astype(wide)), x.dtype)


def sinc(input: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    backend = input._device.backend
    data = _half_in_float32(lambda a: backend.quiet(backend.xp.sinc, a), float_data(input))
    return _unary(input, data, SincBackward0, "input")


class Deg2RadBackward0(_Pointwise):
    derivative = staticmethod(lambda x, f: math.pi / 180)


class Rad2DegBackward0(_Pointwise):
    derivative = staticmethod(lambda x, f: 180 / math.pi)


def deg2rad(input: Tensor) -> Tensor:
    data = _half_in_float32(lambda a: a * a.dtype.type(math.pi / 180), float_data(input))
    return _unary(input, data, Deg2RadBackward0, "input")


def rad2deg(input: Tensor) -> Tensor:
    data = _half_in_float32(lambda a: a * a.dtype.type(180 / math.pi), float_data(input))
    return _unary(input, data, Rad2DegBackward0, "input")


def square(input: Tensor) -> Tensor:
    """``input ** 2`` (integers stay integers)."""
    if input._data.dtype.kind == "b":
        input = input.long()
    return input.pow(2)


def frac(input: Tensor) -> Tensor:
    """The fractional part, ``input - trunc(input)`` (sign kept); floating point only."""
    require_floating(input._data, "frac_cpu")
    return input - input.trunc()


class NanToNumBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * x.isfinite(),)


def nan_to_num(input: Tensor, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    """NaN -> ``nan``, +inf -> ``posinf`` (default: largest finite), -inf -> ``neginf``."""
    d = input._data
    if not D.is_floating(d.dtype):
        return input.clone()
    xp = input._device.backend.xp
    if d.dtype == D.BFLOAT16_NP:  # NumPy's nan_to_num leaves ml_dtypes' bfloat16 as it is
        big = finfo(D.bfloat16).max
        posinf = big if posinf is None else posinf
        neginf = -big if neginf is None else neginf
        wide = xp.nan_to_num(
            d.astype(D.accumulation_np(d.dtype)), nan=nan, posinf=posinf, neginf=neginf
        )
        data = D.cast_array(wide, d.dtype)
    else:
        data = xp.nan_to_num(d, copy=True, nan=nan, posinf=posinf, neginf=neginf)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        record(NanToNumBackward0(), (input,), out).save(input)
    return out


class ErfBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * (x * x * -1).exp() * (2 / math.sqrt(math.pi)),)


def erf(input: Tensor) -> Tensor:
    # integer and bool inputs compute in the default float dtype (the backend's erf keeps
    # the input's dtype: erf(1) came back as the integer 0)
    out = Tensor._make(input._device.backend.erf(float_data(input)), input._device)
    if needs_grad(input):
        record(ErfBackward0(), (input,), out).save(input)
    return out


class ErfcBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * (x * x * -1).exp() * (-2 / math.sqrt(math.pi)),)


def erfc(input: Tensor) -> Tensor:
    """1 - erf(x), accurate where erf(x) is near 1."""
    x = float_data(input)
    out = Tensor._make(_half_in_float32(input._device.backend.erfc, x), input._device)
    if needs_grad(input):
        record(ErfcBackward0(), (input,), out).save(input)
    return out


class LogitBackward0(Node):
    # PyTorch's logit_backward: 1 / (x (1 - x)), which is inf at 0 and 1; outside [0, 1] NaN
    # without eps, and 0 outside [eps, 1 - eps] with it (the clamp's flat parts)
    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        (x,) = self.saved_tensors
        # PyTorch's grad * inf at exactly 0 and 1: a +0 denominator there (x = -0.0 too)
        d = grad / (x * (1 - x)).where((x != 0) & (x != 1), 0.0)
        if self.eps is None:
            return (d.where((x >= 0) & (x <= 1), math.nan),)
        return (d.where((x >= self.eps) & (x <= 1 - self.eps), 0.0),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (backend.quiet(_logit_backward, backend.xp, g, x, self.eps),)


def _logit_backward(xp, g, x, eps):
    # PyTorch's: grad * inf at exactly 0 and 1 (so -0.0 gives +inf too): a +0 denominator
    d = g / xp.where((x == 0) | (x == 1), x.dtype.type(0), x * (1 - x))
    if eps is None:
        return xp.where((x >= 0) & (x <= 1), d, d.dtype.type(math.nan))
    return xp.where((x >= eps) & (x <= 1 - eps), d, d.dtype.type(0))


def _logit(xp, x, eps):
    z = x if eps is None else xp.clip(x, x.dtype.type(eps), x.dtype.type(1 - eps))
    return xp.log(z / (1 - z))


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when ``eps`` is given."""
    backend = input._device.backend
    x = float_data(input)
    out = Tensor._make(backend.quiet(_logit, backend.xp, x, eps), input._device)
    if needs_grad(input):
        node = record(LogitBackward0(), (input,), out)
        node.save(input)
        node.eps = eps
    return out


def clamp_min(input: Tensor, min) -> Tensor:  # noqa: A002
    if min is None:  # PyTorch's overloads take a Tensor or a Number, not clamp's None
        require_number("clamp_min", min, input, min)
    return clamp(input, min=min)


def clamp_max(input: Tensor, max) -> Tensor:  # noqa: A002
    if max is None:
        require_number("clamp_max", max, input, max)
    return clamp(input, max=max)
