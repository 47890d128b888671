"""Elementwise math of two (or three) tensors beyond arithmetic: atan2, hypot, logaddexp /
logaddexp2, xlogy, copysign, fmax / fmin, and the composites lerp, addcmul, addcdiv."""

from __future__ import annotations

import math

from .._tensor import Tensor
from ..autograd.graph import Node
from ._checks import cpp_type_name, float_only
from ._util import (
    binary_arrays,
    broadcast_error,
    grad_for,
    meta,
    needs_grad,
    record,
)


class XlogyBackward0(Node):
    def backward(self, grad):
        return grad._device.backend.quiet(self._grads, grad)  # log(0), x / 0 silently

    def _grads(self, grad):
        x, y = self.saved_tensors
        gx = None
        if self.needs_input_grad(0):  # log(y), and 0 where x == 0 and y <= 0 (PyTorch's)
            gx = xlogy(grad, y).masked_fill((x == 0) & (y <= 0), 0)
        gy = grad * x / y if self.needs_input_grad(1) else None
        return (
            None if gx is None else grad_for(gx, self.ma),
            None if gy is None else grad_for(gy, self.mb),
        )


def xlogy(input: Tensor, other) -> Tensor:
    """x * log(y), and 0 where x == 0 (unless y is NaN)."""
    if not isinstance(input, Tensor):
        input = other.new_tensor(input) if isinstance(other, Tensor) else Tensor(input)
    a, b = binary_arrays(input, other, "xlogy", floating=True)
    xp = input._device.backend.xp
    if not hasattr(b, "dtype"):  # a Python number: keep the tensor's dtype
        b = xp.asarray(b, dtype=a.dtype)
    try:
        with_log = input._device.backend.quiet(_times_log, xp, a, b)
    except ValueError:
        raise broadcast_error(a, b) from None
    data = xp.where((a == 0) & ~xp.isnan(b), xp.zeros((), with_log.dtype), with_log)
    out = Tensor._make(data.astype(with_log.dtype, copy=False), input._device)
    y = other if isinstance(other, Tensor) else None
    if needs_grad(input, y):
        node = record(XlogyBackward0(), (input, y), out)
        y_saved = y if y is not None else Tensor._make(b, input._device)
        node.save(input, y_saved)
        node.ma = (input._data.shape, input._data.dtype)
        node.mb = None if y is None else (y._data.shape, y._data.dtype)
    return out


def _times_log(xp, a, b):
    return a * xp.log(b)


class _Binary(Node):
    def backward(self, grad):
        # edge values (the origin, infinities) give inf/NaN silently, as in PyTorch
        return grad._device.backend.quiet(self._grads, grad)

    def _grads(self, grad):
        x, y = self.saved_tensors
        gx, gy = self.partials(x, y)
        return (grad_for(grad * gx, self.mx), grad_for(grad * gy, self.my))


class Atan2Backward0(_Binary):
    @staticmethod
    def partials(x, y):
        # 1 / (x^2 + y^2), taken as 0 at the origin (PyTorch's gradient there is 0, not NaN)
        r2 = x * x + y * y
        recip = r2.reciprocal().masked_fill(r2 == 0, 0)
        return y * recip, -x * recip


class HypotBackward0(_Binary):
    @staticmethod
    def partials(x, y):
        r = hypot(x, y)
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


def _binary_float(
    input: Tensor, other: Tensor, fn: str, node_cls, op: str, floating: bool = True
) -> Tensor:
    """The backend's elementwise kernel ``fn`` of (input, other), recorded with ``node_cls``
    (which saves both); ``floating``: PyTorch's float-only ops (integers refused, except
    atan2's promotion)."""
    if not isinstance(other, Tensor):
        raise TypeError(
            f"{op}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}"
        )
    ints = input._data.dtype.kind in "biu" and other._data.dtype.kind in "biu"
    if floating and ints and op != "atan2":
        from .. import _dtype as D

        name = D.scalar_type_name(D.result_type(input, other))
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for '{name}'")
    a, b = binary_arrays(input, other, op, floating=floating)
    try:
        backend = input._device.backend
        data = backend.quiet(getattr(backend, fn), a, b)  # logaddexp(inf, inf) silently
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
    return _binary_float(input, other, "atan2", Atan2Backward0, "atan2")


arctan2 = atan2


def hypot(input: Tensor, other: Tensor) -> Tensor:
    """``sqrt(input**2 + other**2)`` without overflow."""
    return _binary_float(input, other, "hypot", HypotBackward0, "hypot")


def logaddexp(input: Tensor, other: Tensor) -> Tensor:
    """``log(exp(input) + exp(other))``, computed stably."""
    return _binary_float(input, other, "logaddexp", LogaddexpBackward0, "logaddexp")


def logaddexp2(input: Tensor, other: Tensor) -> Tensor:
    """``log2(2**input + 2**other)``, computed stably."""
    return _binary_float(input, other, "logaddexp2", Logaddexp2Backward0, "logaddexp2")


class CopysignBackward0(Node):
    def backward(self, grad):
        (x, out) = self.saved_tensors
        ratio = (out / x).masked_fill(x == 0, 0)  # PyTorch's: +-1, and 0 where x is 0
        gx = grad_for(grad * ratio, self.mx) if self.needs_input_grad(0) else None
        gy = grad_for(grad * 0, self.my) if self.my is not None else None
        return (gx, gy)


def copysign(input: Tensor, other) -> Tensor:
    """|input| with the sign of ``other`` (a tensor or a number); float results."""
    a, b = binary_arrays(input, other, "copysign", floating=True)
    backend = input._device.backend
    try:
        data = backend.copysign(a, b)
    except ValueError:
        raise broadcast_error(input, other) from None
    out = Tensor._make(data, input._device)
    y = other if isinstance(other, Tensor) else None
    if needs_grad(input, y):
        node = record(CopysignBackward0(), (input, y), out)
        node.save(input, out)
        node.mx, node.my = meta(input), None if y is None else meta(y)
    return out


class _NanIgnoring(Node):
    """fmax / fmin's node: the gradient goes to the operand picked (``input`` on ties and
    where ``other`` is NaN, as PyTorch's)."""

    def backward(self, grad):
        x, y = self.saved_tensors
        picked = self.picks_input(x, y) | y.isnan()
        gx = grad_for(grad.masked_fill(~picked, 0), self.mx) if self.needs_input_grad(0) else None
        gy = grad_for(grad.masked_fill(picked, 0), self.my) if self.needs_input_grad(1) else None
        return (gx, gy)


class FmaxBackward0(_NanIgnoring):
    @staticmethod
    def picks_input(x, y):
        return x >= y


class FminBackward0(_NanIgnoring):
    @staticmethod
    def picks_input(x, y):
        return x <= y


def fmax(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    return _binary_float(input, other, "fmax", FmaxBackward0, "fmax", floating=False)


def fmin(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    return _binary_float(input, other, "fmin", FminBackward0, "fmin", floating=False)


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """``input + weight * (end - input)`` (weight a number or a tensor); the three of one
    floating dtype, as PyTorch's (a 0-d weight counts as a number), where NumPy promotes."""
    for t, name in ((end, "end"), (weight, "weight")):
        if isinstance(t, Tensor) and (name == "end" or t.ndim) and t.dtype != input.dtype:
            want, got = (cpp_type_name(x.dtype) for x in (input, t))
            raise RuntimeError(f"expected dtype {want} for `{name}` but got dtype {got}")
    float_only(input, "lerp_kernel_tensor" if isinstance(weight, Tensor) else "lerp_kernel_scalar")
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
