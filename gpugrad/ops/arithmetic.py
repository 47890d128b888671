"""Binary arithmetic: add, sub, mul, div, pow, maximum, minimum (broadcasting everywhere).

A Python scalar operand stays a scalar (no node input, no gradient); the gradient of each
tensor operand is summed back to its own shape and dtype.
"""

from __future__ import annotations

import math
import operator

from .._tensor import Tensor
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node, _edge, collect_next_functions
from ._checks import require_number
from ._util import (
    binary_arrays,
    broadcast_error,
    grad_for,
    meta,
    needs_grad,
    record,
    sum_to_array,
)


def _out(data, like: Tensor) -> Tensor:
    return Tensor._make(data, like._device)


def _link(node: Node, a: Tensor, b, out: Tensor) -> Node:
    """Record a binary node; remember both operands' (shape, dtype) for reducing grads."""
    # record() and meta() inlined: every arithmetic op runs this
    out._requires_grad, out._grad_fn = True, node
    if isinstance(b, Tensor):
        node.next_functions = collect_next_functions((a, b))
        node.ma, node.mb = (a._data.shape, a._data.dtype), (b._data.shape, b._data.dtype)
    else:
        node.next_functions = (_edge(a),)
        node.ma, node.mb = (a._data.shape, a._data.dtype), None
    return node


def _grad_needed(a: Tensor, b) -> bool:
    return needs_grad(a, b) if isinstance(b, Tensor) else needs_grad(a)


# ---- add / sub -------------------------------------------------------------------
class AddBackward0(Node):
    def backward(self, grad):
        ga = grad_for(grad, self.ma) if self.needs_input_grad(0) else None
        gb = None
        if self.mb is not None and self.needs_input_grad(1):
            gb = grad_for(grad if self.alpha == 1 else grad * self.alpha, self.mb)
        return (ga, gb)

    def _arrays(self, backend, g):
        nf = self.next_functions
        ga = sum_to_array(backend, g, self.ma) if nf[0][0] is not None else None
        gb = None
        if self.mb is not None and nf[1][0] is not None:
            gb = sum_to_array(backend, g if self.alpha == 1 else g * self.alpha, self.mb)
        return (ga, gb)


class SubBackward0(AddBackward0):
    pass


class RsubBackward1(Node):
    def backward(self, grad):
        return (grad_for(grad * -self.alpha, self.ma),)


def add(input: Tensor, other, *, alpha=1) -> Tensor:
    """input + alpha * other."""
    if not isinstance(input, Tensor):
        return add(other, input if alpha == 1 else input * alpha)
    a, b = binary_arrays(input, other, "add")
    be = input._device.backend
    try:
        out = _out(be.add(a, b if alpha == 1 else alpha * b), input)
    except ValueError:
        raise broadcast_error(a, b) from None
    if _grad_needed(input, other):
        _link(AddBackward0(), input, other, out).alpha = alpha
    return out


def _is_bool(x) -> bool:
    return isinstance(x, bool) or isinstance(x, Tensor) and x._data.dtype.kind == "b"


def _sub_check(input: Tensor, other) -> None:
    """PyTorch's sub_check: no subtraction with a bool operand (a bool scalar counts)."""
    if input._data.dtype.kind != "b" and not _is_bool(other):
        return
    if input._data.dtype.kind == "b" and _is_bool(other):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
            "`^` or `logical_xor()` operator instead."
        )
    raise RuntimeError(
        "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying "
        "to invert a mask, use the `~` or `logical_not()` operator instead."
    )


def sub(input: Tensor, other, *, alpha=1) -> Tensor:
    """input - alpha * other."""
    if not isinstance(input, Tensor):
        return rsub(other, input, alpha=alpha)
    _sub_check(input, other)
    a, b = binary_arrays(input, other, "sub")
    be = input._device.backend
    try:
        out = _out(be.sub(a, b if alpha == 1 else alpha * b), input)
    except ValueError:
        raise broadcast_error(a, b) from None
    if _grad_needed(input, other):
        _link(SubBackward0(), input, other, out).alpha = -alpha
    return out


def rsub(input: Tensor, other, *, alpha=1) -> Tensor:
    """other - alpha * input (what ``3 - x`` calls)."""
    if isinstance(other, Tensor):
        return sub(other, input, alpha=alpha)
    _sub_check(input, other)
    a, b = binary_arrays(input, other, "rsub")
    be = input._device.backend
    out = _out(be.sub(b, a if alpha == 1 else alpha * a), input)
    if needs_grad(input):
        _link(RsubBackward1(), input, None, out).alpha = alpha
    return out


# ---- mul / div -------------------------------------------------------------------
class MulBackward0(Node):
    def backward(self, grad):
        if self.mb is None:  # tensor * scalar: same shape and dtype as the input
            if self._saved is None:  # PyTorch saves the scalar: a 2nd backward must fail
                self.check_not_freed()
            return (grad * self.scalar,)
        if not _grad_state.enabled:  # the same formula on arrays: nothing to record
            return self._backward_arrays(grad)
        a, b = self.saved_tensors
        ga = grad_for(grad * b, self.ma) if self.needs_input_grad(0) else None
        gb = grad_for(grad * a, self.mb) if self.needs_input_grad(1) else None
        return (ga, gb)

    def _arrays(self, backend, g):
        if self.mb is None:
            if self._saved is None:
                self.check_not_freed()
            return (_scaled(g, self.scalar, self.ma),)
        a, b = self.saved_arrays()
        ga = sum_to_array(backend, backend.mul(g, b), self.ma) if b is not None else None
        gb = sum_to_array(backend, backend.mul(g, a), self.mb) if a is not None else None
        return (ga, gb)


def _scaled(g, scalar, m: tuple):
    """``g * scalar`` in the input's dtype (NumPy/CuPy keep an array's dtype for a Python
    scalar of the same kind, as PyTorch does; only a bool gradient needs a cast)."""
    out = g * scalar
    return out if out.dtype == m[1] else out.astype(m[1])


def mul(input: Tensor, other) -> Tensor:
    """Elementwise product."""
    if not isinstance(input, Tensor):
        return mul(other, input)
    a, b = binary_arrays(input, other, "mul")
    try:
        out = Tensor._make(input._device.backend.mul(a, b), input._device)
    except ValueError:
        raise broadcast_error(a, b) from None
    if not _grad_state.enabled:
        return out
    if type(other) is not Tensor and not isinstance(other, Tensor):
        if input._requires_grad:
            node = MulBackward0()
            node.next_functions = (_edge(input),)
            node.ma, node.mb, node.scalar, node._saved = meta(input), None, other, (None,)
            out._requires_grad, out._grad_fn = True, node
    elif input._requires_grad or other._requires_grad:
        node = _link(MulBackward0(), input, other, out)
        # each operand is needed only for the other's gradient
        node.save(input if other._requires_grad else None, other if input._requires_grad else None)
    return out


class DivBackward0(Node):
    def backward(self, grad):
        if self.mb is None:  # tensor / scalar: same shape and dtype as the input
            if self._saved is None:  # as PyTorch's saved scalar
                self.check_not_freed()
            return (grad / self.scalar,)
        return grad._device.backend.quiet(self._grads, grad)  # x / 0: inf * 0 silently

    def _grads(self, grad):
        a, b = self.saved_tensors
        ga = grad_for(grad / b, self.ma) if self.needs_input_grad(0) else None
        # -grad * (a / b) / b, in PyTorch's order: (a * grad) / (b * b) under- or overflows
        gb = grad_for(-grad * (a / b) / b, self.mb) if self.needs_input_grad(1) else None
        return (ga, gb)


def div(input: Tensor, other, *, rounding_mode: str | None = None) -> Tensor:
    """True division (integers give the default float dtype), or floor/trunc division."""
    if rounding_mode is not None:
        return _rounded_div(input, other, rounding_mode)
    if not isinstance(input, Tensor):
        return mul(other.reciprocal(), input)  # PyTorch's __rtruediv__: a MulBackward0
    a, b = binary_arrays(input, other, "div", floating=True)
    try:
        backend = input._device.backend
        out = _out(backend.quiet(backend.div, a, b), input)
    except ValueError:
        raise broadcast_error(a, b) from None
    if _grad_needed(input, other):
        node = _link(DivBackward0(), input, other, out)
        if node.mb is None:
            node.scalar, node._saved = other, (None,)
        else:
            node.save(input if other._requires_grad else None, other)
    return out


def _integer_divisor(a, b, xp) -> bool:
    """True for an integer division; then a zero divisor raises PyTorch's error (NumPy would
    warn and give 0, CuPy give 0 silently)."""
    b_kind = b.dtype.kind if hasattr(b, "dtype") else "f" if isinstance(b, float) else "i"
    if a.dtype.kind not in "iub" or b_kind not in "iub":
        return False
    if not (bool(b.all()) if hasattr(b, "dtype") else b != 0):
        raise RuntimeError("ZeroDivisionError")  # PyTorch's text for an integer division by 0
    return True


def _rounded_div(input, other, mode: str) -> Tensor:
    if mode not in ("floor", "trunc"):
        raise RuntimeError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{mode}'"
        )
    if not isinstance(input, Tensor):
        input = _tensor_like(input, other, "floor_divide" if mode == "floor" else "div")
    a, b = binary_arrays(input, other, "div")
    backend = input._device.backend
    xp = backend.xp
    if a.dtype.kind == "b" and (not hasattr(b, "dtype") or b.dtype.kind == "b"):
        raise NotImplementedError(f"\"div_{mode}_cpu\" not implemented for 'Bool'")
    try:
        if _integer_divisor(a, b, xp):  # exact integer division (wrapping as C's)
            q = backend.quiet(_int_rounded_div, xp, a, b, mode)
        elif mode == "floor":  # Python's float floor division, as PyTorch's div_floor
            q = backend.quiet(xp.floor_divide, a, b)
        else:
            q = xp.trunc(backend.quiet(operator.truediv, a, b))
    except ValueError:
        raise broadcast_error(a, b) from None
    return _out(q, input)


def _int_rounded_div(xp, a, b, mode: str):
    return a // b if mode == "floor" else (a - xp.fmod(a, b)) // b


def _tensor_like(value, like: Tensor, op: str) -> Tensor:
    """A Python number as a 0-d tensor on ``like``'s device (``5 // t``, ``5 % t``)."""
    from .. import _dtype as D

    require_number(op, value, value, like)
    dt = D.scalar_dtype(value)
    if D.is_floating(like._data.dtype) and not dt.is_floating_point:
        dt = D._BY_NP[like._data.dtype]
    return Tensor._make(like._device.backend.xp.asarray(value, dtype=dt.np), like._device)


class RemainderBackward0(Node):
    """remainder(Tensor, Scalar): the gradient passes through."""

    def backward(self, grad):
        return (grad,)


class RemainderBackward1(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        ga = grad_for(grad, self.mx) if self.needs_input_grad(0) else None
        gb = None
        if self.needs_input_grad(1):  # d/dy (x - y * floor(x / y)) = -floor(x / y)
            gb = grad_for(-grad * x.div(y, rounding_mode="floor"), self.my)
        return (ga, gb)


def remainder(input: Tensor, other) -> Tensor:
    """Python-style modulus (sign of the divisor), as PyTorch computes it: ``fmod``, then the
    divisor added where the signs differ (so ``-0.0 % 2`` is ``-0.0`` and ``-3 % inf`` inf)."""
    if not isinstance(input, Tensor):
        input = _tensor_like(input, other, "remainder")
    a, b = binary_arrays(input, other, "remainder")
    backend = input._device.backend
    xp = backend.xp
    try:
        if _integer_divisor(a, b, xp):
            data = backend.quiet(xp.remainder, a, b)
        else:
            data = backend.quiet(_float_remainder, xp, a, b)
    except ValueError:
        raise broadcast_error(a, b) from None
    out = Tensor._make(data, input._device)
    if isinstance(other, Tensor):
        if needs_grad(input, other):
            node = record(RemainderBackward1(), (input, other), out)
            node.save(input, other)
            node.mx, node.my = meta(input), meta(other)
    elif needs_grad(input):
        record(RemainderBackward0(), (input,), out)
    return out


def _float_remainder(xp, a, b):
    mod = xp.fmod(a, b)
    shift = (mod != 0) & ((b < 0) != (mod < 0))
    return xp.where(shift, mod + b, mod)


class FmodBackward0(Node):
    def backward(self, grad):
        return (grad, None)


class FmodBackward1(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        # fmod(x, y) = x - y * trunc(x / y): d/dx = 1, d/dy = -trunc(x / y)
        gy = -grad * x.div(y, rounding_mode="trunc")
        return (grad_for(grad, self.mx), grad_for(gy, self.my))


def fmod(input: Tensor, other) -> Tensor:
    """The C remainder of ``input / other``: it takes the sign of ``input``."""
    a, b = binary_arrays(input, other, "fmod")
    backend = input._device.backend
    xp = backend.xp
    try:
        _integer_divisor(a, b, xp)
        data = backend.quiet(xp.fmod, a, b)
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


def floor_divide(input: Tensor, other) -> Tensor:
    return div(input, other, rounding_mode="floor")


# ---- pow ---------------------------------------------------------------------------
class PowBackward0(Node):
    def backward(self, grad):
        (a,) = self.saved_tensors
        e = self.exponent
        if e == 0:
            return (grad * 0,)
        return (grad * (a ** (e - 1) * e),)


class PowBackward1(Node):
    def backward(self, grad):
        # 0 ** -1 = inf meets a zero factor here: NaN/inf silently, as PyTorch's
        return grad._device.backend.quiet(self._grads, grad)

    def _grads(self, grad):
        a, b, result = self.saved_tensors
        ga = gb = None
        if self.needs_input_grad(0):
            # b * a**(b-1), and 0 where b == 0 (so 0**0 has gradient 0, as PyTorch's)
            ga = grad_for(grad * (b * a ** (b - 1)).masked_fill(b == 0, 0), self.ma)
        if self.needs_input_grad(1):
            # d/db a**b = a**b * log(a), taken as 0 where a == 0 and b >= 0 (PyTorch's
            # choice); where b < 0 it is inf * -inf = -inf
            gb = grad_for(grad * (result * a.log()).masked_fill((a == 0) & (b >= 0), 0), self.mb)
        return (ga, gb)


class PowBackward2(Node):
    def backward(self, grad):
        return grad._device.backend.quiet(self._grads, grad)

    def _grads(self, grad):
        (result,) = self.saved_tensors
        base = self.base
        if base > 0:
            return (grad * result * math.log(base),)
        # log(0) = -inf, log(negative) = NaN; a zero base with exponent >= 0 gives 0, as
        # PyTorch's pow_backward_exponent
        (exponent,) = self.saved_exponent
        log_base = -math.inf if base == 0 else math.nan
        dexp = (result * log_base).masked_fill((exponent >= 0) & (base == 0), 0)
        return (grad * dexp,)


def pow(input, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """input ** exponent, for tensor or scalar exponents, and scalar bases."""
    if not isinstance(input, Tensor):
        return _rpow(input, exponent)
    a, b = binary_arrays(input, exponent, "pow")
    if isinstance(b, int) and not isinstance(b, bool) and b < 0 and a.dtype.kind in "iu":
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    backend = input._device.backend
    try:
        if type(b) is float or type(b) is int:
            out = _out(backend.quiet(_scalar_power, backend.xp, a, b), input)
        else:
            out = _out(backend.quiet(backend.pow, a, b), input)
    except ValueError:
        raise broadcast_error(a, b) from None
    if _grad_needed(input, exponent):
        if isinstance(exponent, Tensor):
            node = _link(PowBackward1(), input, exponent, out)
            node.save(input, exponent, out)
        else:
            node = record(PowBackward0(), (input,), out)
            node.save(input)
            node.exponent = exponent
    return out


# Integer exponents up to this size are multiplied out by repeated squaring (at most 8
# multiplications), as PyTorch's integer-power loops do; larger ones take the general power.
_MAX_MULTIPLIED_EXPONENT = 16


def _scalar_power(xp, a, e):
    """``a ** e`` for a Python-number exponent, with PyTorch's fast paths: NumPy's general
    float power is several times slower than a few multiplications, a sqrt or a division
    (the issue measured 180x for ``x ** 3.0``), and CuPy's costs a transcendental per element.
    The results equal the general power to float rounding."""
    if e == 0.5:
        return xp.sqrt(a)
    if e == -0.5:
        return 1 / xp.sqrt(a)  # a Python 1 keeps a's dtype
    if e != int(e) or abs(e) > _MAX_MULTIPLIED_EXPONENT:
        return a**e
    n = int(e)
    if n == 0:
        return xp.ones_like(a)
    power = _multiplied_power(a, abs(n))
    return 1 / power if n < 0 else power


def _multiplied_power(a, n: int):
    """``a ** n`` (n >= 1) by repeated squaring; a fresh array even for n == 1."""
    if n == 1:
        return a.copy()
    if n == 2:
        return a * a
    if n == 3:
        return a * a * a
    result, square = None, a
    while n:
        if n & 1:
            result = square if result is None else result * square
        n >>= 1
        if n:
            square = square * square
    return result


def _rpow(base, exponent: Tensor) -> Tensor:
    a, b = binary_arrays(exponent, base, "pow")
    out = _out(exponent._device.backend.quiet(operator.pow, b, a), exponent)
    if needs_grad(exponent):
        node = record(PowBackward2(), (exponent,), out)
        node.save(out)
        node.base = base
        node.saved_exponent = (exponent.detach(),) if base <= 0 else ()
    return out


# ---- maximum / minimum -------------------------------------------------------------
class MaximumBackward0(Node):
    def backward(self, grad):
        a, b = self.saved_tensors
        # PyTorch's formula: ties split the gradient evenly; the operand that lost gets 0;
        # with a NaN neither lost (no comparison holds), so both get the whole gradient.
        one = (a == b).to(grad.dtype) * -0.5 + 1  # 0.5 at ties, else 1
        ga = gb = None
        if self.needs_input_grad(0):
            lost = (a < b) if self.is_max else (a > b)
            ga = grad_for(grad * one.masked_fill(lost, 0), self.ma)
        if self.needs_input_grad(1):
            lost = (b < a) if self.is_max else (b > a)
            gb = grad_for(grad * one.masked_fill(lost, 0), self.mb)
        return (ga, gb)


class MinimumBackward0(MaximumBackward0):
    pass


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum of two tensors."""
    return _extremum(input, other, True)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum of two tensors."""
    return _extremum(input, other, False)


def _extremum(input: Tensor, other: Tensor, is_max: bool) -> Tensor:
    name = "maximum" if is_max else "minimum"
    if not isinstance(other, Tensor):
        raise TypeError(f"{name}(): argument 'other' must be Tensor, not {type(other).__name__}")
    a, b = binary_arrays(input, other, name)
    be = input._device.backend
    try:
        out = _out(be.maximum(a, b) if is_max else be.minimum(a, b), input)
    except ValueError:
        raise broadcast_error(a, b) from None
    if needs_grad(input, other):
        node = _link(MaximumBackward0() if is_max else MinimumBackward0(), input, other, out)
        node.save(input, other)
        node.is_max = is_max
    return out
