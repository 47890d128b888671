"""More elementwise math: tan, sinh, atan2, hypot, lerp, addcmul, nan_to_num ...

Primitives carry a Node with PyTorch's name and a backward written in Tensor ops;
composites inherit their gradients.
"""

from __future__ import annotations

import math

from .. import _dtype as D
from .. import ops as _ops
from .._tensor import Tensor
from ..autograd.graph import Node
from . import unary as _unary_ops
from ._util import (
    binary_arrays,
    broadcast_error,
    grad_for,
    meta,
    needs_grad,
    record,
)


def _float_data(t: Tensor):
    d = t._data
    return d if d.dtype.kind == "f" else d.astype(D.get_default_dtype().np)


# ---- elementwise -------------------------------------------------------------------------
class _Fns:
    """Function namespace for derivatives under create_graph: this module, then gpugrad.ops."""

    def __getattr__(self, name):
        return globals().get(name) or getattr(_ops, name)


_FNS = _Fns()


class _Pointwise(_unary_ops._Pointwise):
    """d out / d x = ``derivative(v, fns)`` of a saved value (input or output); under
    create_graph ``fns`` also finds this module's functions (tan, sinh ...)."""

    _tensor_fns = _FNS


def _unary(input: Tensor, fn: str, node_cls, save_output: bool) -> Tensor:
    xp = input._device.backend.xp
    out = Tensor._make(getattr(xp, fn)(_float_data(input)), input._device)
    if needs_grad(input):
        record(node_cls(), (input,), out).save(out if save_output else input)
    return out


class TanBackward0(_Pointwise):
    derivative = staticmethod(lambda r, f: r * r + 1)


class SinhBackward0(_Pointwise):
    derivative = staticmethod(lambda x, f: f.cosh(x))


class CoshBackward0(_Pointwise):
    derivative = staticmethod(lambda x, f: f.sinh(x))


class AsinBackward0(_Pointwise):
    derivative = staticmethod(lambda x, f: 1 / f.sqrt(1 - x * x))


class AcosBackward0(_Pointwise):
    derivative = staticmethod(lambda x, f: -1 / f.sqrt(1 - x * x))


class AtanBackward0(_Pointwise):
    derivative = staticmethod(lambda x, f: 1 / (x * x + 1))


class Log10Backward0(_Pointwise):
    derivative = staticmethod(lambda x, f: 1 / (x * math.log(10.0)))


class Exp2Backward0(_Pointwise):
    derivative = staticmethod(lambda r, f: r * math.log(2.0))


def tan(input: Tensor) -> Tensor:
    return _unary(input, "tan", TanBackward0, True)


def sinh(input: Tensor) -> Tensor:
    return _unary(input, "sinh", SinhBackward0, False)


def cosh(input: Tensor) -> Tensor:
    return _unary(input, "cosh", CoshBackward0, False)


def asin(input: Tensor) -> Tensor:
    return _unary(input, "arcsin", AsinBackward0, False)


def acos(input: Tensor) -> Tensor:
    return _unary(input, "arccos", AcosBackward0, False)


def atan(input: Tensor) -> Tensor:
    return _unary(input, "arctan", AtanBackward0, False)


def log10(input: Tensor) -> Tensor:
    return _unary(input, "log10", Log10Backward0, False)


def exp2(input: Tensor) -> Tensor:
    return _unary(input, "exp2", Exp2Backward0, True)


arcsin, arccos, arctan = asin, acos, atan


def square(input: Tensor) -> Tensor:
    """``input ** 2`` (integers stay integers)."""
    if input._data.dtype.kind == "b":
        input = input.long()
    return _ops.pow(input, 2)


def frac(input: Tensor) -> Tensor:
    """The fractional part, ``input - trunc(input)`` (sign kept); floating point only."""
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"\"frac_cpu\" not implemented for '{D.scalar_type_name(input.dtype)}'")
    return input - input.trunc()


class _Binary(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        gx, gy = self.partials(x, y)
        return (grad_for(grad * gx, self.mx), grad_for(grad * gy, self.my))


class Atan2Backward0(_Binary):
    @staticmethod
    def partials(x, y):
        r2 = x * x + y * y
        return y / r2, -x / r2


class HypotBackward0(_Binary):
    @staticmethod
    def partials(x, y):
        r = _FNS.hypot(x, y)
        return x / r, y / r


class LogaddexpBackward0(_Binary):
    @staticmethod
    def partials(x, y):
        p = (x - y).sigmoid()  # exp(x) / (exp(x) + exp(y))
        return p, 1 - p


class Logaddexp2Backward0(_Binary):
    @staticmethod
    def partials(x, y):
        p = ((x - y) * math.log(2)).sigmoid()
        return p, 1 - p


def _binary_float(input: Tensor, other: Tensor, fn: str, node_cls, op: str) -> Tensor:
    if not isinstance(other, Tensor):
        raise TypeError(
            f"{op}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}"
        )
    a, b = binary_arrays(input, other, op, floating=True)
    try:
        data = getattr(input._device.backend.xp, fn)(a, b)
    except ValueError:
        raise broadcast_error(input, other) from None
    out = Tensor._make(data, input._device)
    if needs_grad(input, other):
        node = record(node_cls(), (input, other), out)
        node.save(input, other)
        node.mx, node.my = meta(input), meta(other)
    return out


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """Angle of (other, input): ``atan(input / other)`` in the right quadrant."""
    return _binary_float(input, other, "arctan2", Atan2Backward0, "atan2")


arctan2 = atan2


def hypot(input: Tensor, other: Tensor) -> Tensor:
    """``sqrt(input**2 + other**2)`` without overflow."""
    return _binary_float(input, other, "hypot", HypotBackward0, "hypot")


class FmodBackward0(Node):
    def backward(self, grad):
        return (grad, None)


class FmodBackward1(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        # fmod(x, y) = x - y * trunc(x / y): d/dx = 1, d/dy = -trunc(x / y)
        gy = -grad * _ops.div(x, y, rounding_mode="trunc")
        return (grad_for(grad, self.mx), grad_for(gy, self.my))


def fmod(input: Tensor, other) -> Tensor:
    """The C remainder of ``input / other``: it takes the sign of ``input``."""
    a, b = binary_arrays(input, other, "fmod")
    xp = input._device.backend.xp
    if a.dtype.kind in "iub" and not bool(xp.all(xp.asarray(b) != 0)):
        raise RuntimeError("ZeroDivisionError")  # PyTorch's text for an integer remainder
    try:
        data = xp.fmod(a, b)
    except ValueError:
        raise broadcast_error(input, other) from None
    out = Tensor._make(data, input._device)
    if isinstance(other, Tensor):
        if needs_grad(input, other):
            node = record(FmodBackward1(), (input, other), out)
            node.save(input, other)
            node.mx, node.my = meta(input), meta(other)
    elif needs_grad(input):
        record(FmodBackward0(), (input,), out)
    return out


def logaddexp(input: Tensor, other: Tensor) -> Tensor:
    """``log(exp(input) + exp(other))``, computed stably."""
    return _binary_float(input, other, "logaddexp", LogaddexpBackward0, "logaddexp")


def logaddexp2(input: Tensor, other: Tensor) -> Tensor:
    """``log2(2**input + 2**other)``, computed stably."""
    return _binary_float(input, other, "logaddexp2", Logaddexp2Backward0, "logaddexp2")


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """``input + weight * (end - input)`` (weight a number or a tensor)."""
    return input + weight * (end - input)


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """``input + value * tensor1 * tensor2``."""
    prod = tensor1 * tensor2
    return input + (prod if value == 1 else prod * value)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """``input + value * tensor1 / tensor2`` (integer tensor1 and tensor2 are refused)."""
    if tensor1._data.dtype.kind in "biu" and tensor2._data.dtype.kind in "biu":
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future  release "
            "addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv "
            "behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2))"
            ".to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) "
            "for float inputs. The future addcdiv behavior is just the latter implementation: "
            "(input + value * tensor1 / tensor2), for all dtypes."
        )
    q = tensor1 / tensor2
    return input + (q if value == 1 else q * value)


class NanToNumBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * x.isfinite(),)


def nan_to_num(input: Tensor, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    """NaN -> ``nan``, +inf -> ``posinf`` (default: largest finite), -inf -> ``neginf``."""
    d = input._data
    if d.dtype.kind != "f":
        return input.clone()
    xp = input._device.backend.xp
    data = xp.nan_to_num(d, copy=True, nan=nan, posinf=posinf, neginf=neginf)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        record(NanToNumBackward0(), (input,), out).save(input)
    return out


__all__ = [
    "acos",
    "addcdiv",
    "addcmul",
    "arccos",
    "arcsin",
    "arctan",
    "arctan2",
    "asin",
    "atan",
    "atan2",
    "cosh",
    "exp2",
    "fmod",
    "frac",
    "hypot",
    "lerp",
    "logaddexp",
    "logaddexp2",
    "log10",
    "nan_to_num",
    "sinh",
    "square",
    "tan",
]
