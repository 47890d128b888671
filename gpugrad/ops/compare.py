"""Comparisons and logical ops (bool results, no gradient), and ``where``."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._checks import not_implemented_for, require_number
from ._util import binary_arrays, broadcast_error, check_device, grad_for, meta, needs_grad, record


def _cmp(name: str, fn_name: str):
    def op(input: Tensor, other) -> Tensor:
        a, b = binary_arrays(input, other, name)
        try:
            data = getattr(input._device.backend.xp, fn_name)(a, b)
        except ValueError:
            raise broadcast_error(a, b) from None
        return Tensor._make(data, input._device)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (a bool tensor; no gradient)."
    return op


eq = _cmp("eq", "equal")
ne = _cmp("ne", "not_equal")
lt = _cmp("lt", "less")
le = _cmp("le", "less_equal")
gt = _cmp("gt", "greater")
ge = _cmp("ge", "greater_equal")
logical_and = _cmp("logical_and", "logical_and")
logical_or = _cmp("logical_or", "logical_or")
logical_xor = _cmp("logical_xor", "logical_xor")
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne


def _bitwise(name: str, fn_name: str, kernel: str | None = None):
    def op(input: Tensor, other) -> Tensor:
        a, b = binary_arrays(input, other, name)
        if (
            D.is_floating(a.dtype)
            or isinstance(b, float)
            or getattr(b, "dtype", None) is not None
            and D.is_floating(b.dtype)
        ):
            raise NotImplementedError(f"\"{kernel or fn_name}_cpu\" not implemented for 'Float'")
        try:
            data = getattr(input._device.backend.xp, fn_name)(a, b)
        except ValueError:
            raise broadcast_error(a, b) from None
        return Tensor._make(data, input._device)

    op.__name__ = name
    return op


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")
bitwise_left_shift = _bitwise("bitwise_left_shift", "left_shift", "lshift")
bitwise_right_shift = _bitwise("bitwise_right_shift", "right_shift", "rshift")


def _unary_bool(fn_name: str):
    def op(input: Tensor) -> Tensor:
        return Tensor._make(getattr(input._device.backend.xp, fn_name)(input._data), input._device)

    op.__name__ = fn_name
    return op


logical_not = _unary_bool("logical_not")
isnan = _unary_bool("isnan")
isinf = _unary_bool("isinf")
isfinite = _unary_bool("isfinite")


def bitwise_not(input: Tensor) -> Tensor:
    xp = input._device.backend.xp
    d = input._data
    if d.dtype.kind not in "biu":
        raise not_implemented_for("bitwise_not_cpu", d.dtype)
    return Tensor._make(xp.logical_not(d) if d.dtype.kind == "b" else xp.invert(d), input._device)


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both have the same shape and elements."""
    check_device(input, other, "equal")
    return input._data.shape == other._data.shape and bool((input._data == other._data).all())


def allclose(
    input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> bool:
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def isclose(
    input: Tensor, other, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> Tensor:
    if isinstance(other, Tensor) and input._data.dtype != other._data.dtype:
        raise RuntimeError(  # PyTorch compares like with like: no promotion
            f"{D.scalar_type_name(input._data.dtype)} did not match "
            f"{D.scalar_type_name(other._data.dtype)}"
        )
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    a, b = binary_arrays(input, other, "isclose")
    xp = input._device.backend.xp
    try:
        data = xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    except ValueError:
        raise broadcast_error(a, b) from None
    return Tensor._make(data, input._device)


class WhereBackward0(Node):
    def backward(self, grad):
        (cond,) = self.saved_tensors
        zero = grad * 0
        ga = grad_for(grad.where(cond, zero), self.ma) if self.needs_input_grad(1) else None
        gb = grad_for(zero.where(cond, grad), self.mb) if self.needs_input_grad(2) else None
        return (None, ga, gb)


def where(condition: Tensor, input=None, other=None) -> Tensor:
    """Pick ``input`` where ``condition`` holds, else ``other`` (broadcasting)."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    if not isinstance(input, Tensor):
        require_number("where", input, condition, input, other)
        if not isinstance(other, Tensor):  # two scalars: PyTorch's dtype for the pair
            input, other = _scalar_pair(condition, input, other)
        else:
            input = _scalar_as(other, input)
    if not isinstance(other, Tensor):
        require_number("where", other, condition, input, other)
        other = _scalar_as(input, other)
    check_device(condition, input, "where")
    if condition._data.dtype.kind != "b":
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{D.scalar_type_name(condition.dtype)}"
        )
    a, b = binary_arrays(input, other, "where")
    xp = input._device.backend.xp
    try:
        data = xp.where(condition._data, a, b)
    except ValueError:
        raise _where_broadcast_error(condition._data, a, b) from None
    out = Tensor._make(data, input._device)
    if needs_grad(input, other):
        node = record(WhereBackward0(), (None, input, other), out)
        node.save(condition)
        node.ma, node.mb = meta(input), meta(other)
    return out


def _where_broadcast_error(c, a, b) -> RuntimeError:
    """PyTorch's text for the first pair of where's three operands that does not broadcast."""
    for x, y in ((c, a), (c, b), (a, b)):
        err = broadcast_error(x, y)
        if "must match" in str(err):
            return err
    return broadcast_error(a, b)


def _scalar_as(like: Tensor, value) -> Tensor:
    # A Python scalar takes the tensor's dtype (it does not widen it), as in PyTorch.
    from .. import _dtype as D

    dt = like._data.dtype
    if dt.kind in "iub" and isinstance(value, float):
        dt = D.get_default_dtype().np
    return Tensor._make(like._device.backend.xp.asarray(value, dtype=dt), like._device)


def _scalar_pair(like: Tensor, a, b) -> tuple:
    """Two Python scalars as tensors of the dtype they promote to together, on ``like``'s
    device."""
    from .. import _dtype as D

    if not all(isinstance(v, (bool, int, float)) for v in (a, b)):
        raise TypeError("where(): expected at least one tensor among input and other")
    dt = D.promote_types(D.scalar_dtype(a), D.scalar_dtype(b)).np
    xp = like._device.backend.xp
    return tuple(Tensor._make(xp.asarray(v, dtype=dt), like._device) for v in (a, b))
