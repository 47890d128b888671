"""In-place ops (``add_``, ``mul_``, ``zero_``, ``t[idx] = v`` ...) with PyTorch's autograd rules.

- Every in-place write bumps the version counter shared by a tensor and its views, so a
  saved tensor modified later fails loudly at backward.
- A leaf that requires grad (or a view of one) may not be modified in place while grad mode
  is on; under no_grad that is how optimizers update parameters.
- On a non-leaf, the op's history is rebased: the tensor's grad_fn becomes the op's node.
"""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node, SavedTensor
from ._checks import check_key_ranges, require_number
from ._util import binary_arrays, grad_for, meta, record, shapes_error
from .arithmetic import _sub_check, add, div, mul, pow, sub
from .indexing import _index_error, convert_key, getitem_arrays, put
from .view_inplace import rebase_view, region_of

_LEAF_MSG = "a leaf Variable that requires grad is being used in an in-place operation."
_VIEW_LEAF_MSG = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)


def check_inplace(self: Tensor, *others) -> bool:
    """Raise PyTorch's errors for forbidden in-place writes; True if the write is recorded."""
    if self._inference and _grad_state.enabled and not _grad_state.inference:
        raise RuntimeError(
            "Inplace update to inference tensor outside InferenceMode is not allowed."
        )
    if not _grad_state.enabled:
        return False
    base = self._base
    if self._requires_grad and self._grad_fn is None:
        if base is not None and base._requires_grad and base._grad_fn is None:
            raise RuntimeError(_VIEW_LEAF_MSG)
        raise RuntimeError(_LEAF_MSG)
    recorded = self._requires_grad or any(
        isinstance(o, Tensor) and o._requires_grad for o in others
    )
    if recorded and base is not None and base._requires_grad and base._grad_fn is None:
        raise RuntimeError(_VIEW_LEAF_MSG)
    if recorded and base is not None:
        region_of(self, base)  # fails early (base not contiguous, overlapping view)
    return recorded


def _check_broadcast_into(shape: tuple, data) -> None:
    """PyTorch's errors for a source that does not broadcast to an in-place op's ``shape``
    (NumPy's broadcast_to raises a ValueError of its own)."""
    n = max(len(shape), data.ndim)
    pa, pb = (1,) * (n - len(shape)) + tuple(shape), (1,) * (n - data.ndim) + data.shape
    if any(x != y and x != 1 and y != 1 for x, y in zip(pa, pb)):
        raise shapes_error(tuple(shape), data.shape)
    full = tuple(max(x, y) if x != 1 else y for x, y in zip(pa, pb))
    if full != tuple(shape):
        raise RuntimeError(
            f"output with shape [{', '.join(map(str, shape))}] doesn't match the "
            f"broadcast shape [{', '.join(map(str, full))}]"
        )


def _write(self: Tensor, data) -> None:
    """Copy ``data`` into self's memory (PyTorch's casting and shape rules), bump version."""
    if data.shape != self._data.shape:
        raise RuntimeError(
            f"output with shape [{', '.join(map(str, self._data.shape))}] doesn't match the "
            f"broadcast shape [{', '.join(map(str, data.shape))}]"
        )
    src, dst = D._BY_NP[data.dtype], self.dtype
    if src._category > dst._category:
        raise RuntimeError(
            f"result type {D.scalar_type_name(src)} can't be cast to the desired output type "
            f"{D.scalar_type_name(dst)}"
        )
    self._data[...] = data
    self._vc[0] += 1


def apply_inplace(self: Tensor, fn, *args, **kwargs) -> Tensor:
    """Run the out-of-place op ``fn(self, *args)`` and store its result in self's memory."""
    if not check_inplace(self, *args):
        from ..autograd.grad_mode import no_grad

        with no_grad():
            result = fn(self, *args, **kwargs)
        _write(self, result._data)
        return self
    # Record: the op sees a snapshot of the old value, so what it saves for backward is
    # the value before the write (PyTorch clones "original self" for the same reason).
    old = Tensor._make(self._data.copy(), self._device)
    old._requires_grad, old._grad_fn, old._output_nr = (
        self._requires_grad,
        self._grad_fn,
        self._output_nr,
    )
    result = fn(old, *args, **kwargs)
    _write(self, result._data.astype(self._data.dtype, copy=False))
    node = result._grad_fn
    if node is not None:
        _retarget_saved_output(node, result, self)
        self._grad_fn, self._output_nr, self._requires_grad = node, result._output_nr, True
        if self._base is not None:
            rebase_view(self)
    return self


def _retarget_saved_output(node: Node, result: Tensor, self: Tensor) -> None:
    """A node that saved its output must now watch self's memory and version counter."""
    for s in node._saved or ():
        if isinstance(s, SavedTensor) and s.tensor is None and s.data is result._data:
            s.data, s.vc, s.version = self._data, self._vc, self._vc[0]


# ---- arithmetic: a direct ufunc into self's memory when nothing is recorded ------------
def _fast(self: Tensor, other, ufunc: str, alpha=1) -> bool:
    if _grad_state.enabled and (
        self._requires_grad or (isinstance(other, Tensor) and other._requires_grad)
    ):
        return False
    if self._inference and not _grad_state.inference:
        return False
    a, b = binary_arrays(self, other, ufunc)
    if a is not self._data or (hasattr(b, "dtype") and b.dtype != a.dtype):
        return False  # a dtype change: the general path reports PyTorch's casting errors
    if alpha != 1:
        b = b * alpha
    xp = self._device.backend.xp
    try:
        getattr(xp, ufunc)(a, b, out=a)
    except ValueError:
        return False  # broadcast to a larger shape: the general path raises the error
    self._vc[0] += 1
    return True


def add_(self: Tensor, other, *, alpha=1) -> Tensor:
    if _fast(self, other, "add", alpha):
        return self
    return apply_inplace(self, add, other, alpha=alpha)


def sub_(self: Tensor, other, *, alpha=1) -> Tensor:
    _sub_check(self, other)  # before the fast path: NumPy subtracts some bools itself
    if _fast(self, other, "subtract", alpha):
        return self
    return apply_inplace(self, sub, other, alpha=alpha)


def mul_(self: Tensor, other) -> Tensor:
    if _fast(self, other, "multiply"):
        return self
    return apply_inplace(self, mul, other)


def div_(self: Tensor, other, *, rounding_mode=None) -> Tensor:
    if rounding_mode is None and D.is_floating(self._data.dtype) and _fast(self, other, "divide"):
        return self
    return apply_inplace(self, div, other, rounding_mode=rounding_mode)


def pow_(self: Tensor, exponent) -> Tensor:
    return apply_inplace(self, pow, exponent)


def _unary_inplace(name: str):
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        from .. import ops

        return apply_inplace(self, getattr(ops, name), *args, **kwargs)

    method.__name__ = name + "_"
    method.__doc__ = f"In-place {name}."
    return method


clamp_ = _unary_inplace("clamp")
relu_ = _unary_inplace("relu")
sigmoid_ = _unary_inplace("sigmoid")
exp_ = _unary_inplace("exp")
log_ = _unary_inplace("log")
neg_ = _unary_inplace("neg")
abs_ = _unary_inplace("abs")
sqrt_ = _unary_inplace("sqrt")
tanh_ = _unary_inplace("tanh")
masked_fill_ = _unary_inplace("masked_fill")
scatter_ = _unary_inplace("scatter")
scatter_add_ = _unary_inplace("scatter_add")
index_add_ = _unary_inplace("index_add")
index_fill_ = _unary_inplace("index_fill")
index_copy_ = _unary_inplace("index_copy")
floor_divide_ = _unary_inplace("floor_divide")
remainder_ = _unary_inplace("remainder")
fmod_ = _unary_inplace("fmod")


def put_(self: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """In-place ``put``: ``source`` written (or added) at ``index`` of the flattened self."""
    return apply_inplace(self, put, index, source, accumulate=accumulate)


tril_ = _unary_inplace("tril")
triu_ = _unary_inplace("triu")
clamp_min_ = _unary_inplace("clamp_min")
clamp_max_ = _unary_inplace("clamp_max")
clip_ = clamp_


class FillBackward2(Node):
    def backward(self, grad):
        return (grad * 0,)


class ZeroBackward0(FillBackward2):
    pass


def fill_(self: Tensor, value, _node=FillBackward2) -> Tensor:
    """Set every element to ``value`` (a number or 0-d tensor)."""
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions."
            )
        value = value.item()
    else:
        require_number("fill_", value, value)
    recorded = check_inplace(self)
    self._data.fill(value)
    self._vc[0] += 1
    if recorded:
        # the old value no longer matters: gradient to it is zero
        node = record(_node(), (_snapshot(self),), self)
        node._saved = ()
        if self._base is not None:
            rebase_view(self)
    return self


def zero_(self: Tensor) -> Tensor:
    return fill_(self, 0, ZeroBackward0)


def _snapshot(self: Tensor) -> Tensor:
    old = Tensor._make(self._data, self._device)
    old._requires_grad, old._grad_fn, old._output_nr = (
        self._requires_grad,
        self._grad_fn,
        self._output_nr,
    )
    return old


class CopyBackwards(Node):
    def backward(self, grad):
        gs = grad * 0 if self.needs_input_grad(0) else None
        gsrc = None
        if self.needs_input_grad(1):
            gsrc = grad_for(grad, self.msrc)
            if self.src_device is not grad._device:
                gsrc = gsrc.to(self.src_device)
        return (gs, gsrc)


def copy_(self: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` (broadcast, cast, possibly from another device) into self."""
    recorded = check_inplace(self, src)
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    data = src._data
    if src._device is not self._device:
        data = self._device.backend.asarray(src._device.backend.to_host(data))
    xp = self._device.backend.xp
    if data.shape != self._data.shape:
        _check_broadcast_into(self._data.shape, data)
        data = xp.broadcast_to(data, self._data.shape)
    if data.dtype != self._data.dtype:
        data = self._device.backend.quiet(D.cast_array, data, self._data.dtype)
    self._data[...] = data
    self._vc[0] += 1
    if recorded:
        node = record(CopyBackwards(), (_snapshot(self), src), self)
        node.msrc, node.src_device = meta(src), src._device
        if self._base is not None:
            rebase_view(self)
    return self


# ---- index assignment -------------------------------------------------------------------
class IndexPutBackward0(Node):  # noqa: D101 - documented below
    """Backward of ``t[key] = value``: t's gradient outside key, value's inside (summed)."""

    def backward(self, grad):
        g_self = g_val = None
        if self.needs_input_grad(0):
            mask = grad._device.backend.xp.ones(grad._data.shape, bool)
            mask[self.key] = False
            g_self = grad * Tensor._make(mask, grad._device)
        if self.needs_input_grad(1):
            g_val = grad_for(getitem_arrays(grad, self.key), self.mval)
        return (g_self, g_val)


class CopySlices(IndexPutBackward0):
    """PyTorch's name for the node of a write through slices/ints (``t[1:3] = v``)."""


def setitem(self: Tensor, key, value) -> None:
    """``self[key] = value`` for numbers and tensors (broadcast), differentiable in both."""
    k, basic = convert_key(self, key)
    if not basic:  # before any write: CuPy would wrap an out-of-range index
        check_key_ranges(self._device.backend, self._data.shape, k)
    vt = value if isinstance(value, Tensor) else None
    recorded = check_inplace(self, vt)
    if vt is not None:
        if vt._device is not self._device:
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two "
                f"devices, {self._device} and {vt._device}! (when checking arguments for "
                "index_put_)"
            )
        v = vt._data
        if v.dtype != self._data.dtype:
            v = v.astype(self._data.dtype)
    else:
        v = value
    try:
        self._data[k] = v
    except ValueError as e:
        raise _shape_mismatch(e, self._data, k, v, basic) from None
    except IndexError as e:
        raise _index_error(e, self._data, k) from None
    self._vc[0] += 1
    if recorded:
        node = record((CopySlices if basic else IndexPutBackward0)(), (_snapshot(self), vt), self)
        node.key = k
        node.mval = meta(vt) if vt is not None else None
        if self._base is not None:
            rebase_view(self)


def _shape_mismatch(e: ValueError, data, key, value, basic: bool) -> Exception:
    """NumPy's broadcast error of ``data[key] = value`` in PyTorch's words (a write through
    a view is PyTorch's expand of the value; one through index tensors its index_put)."""
    try:
        target = list(data[key].shape)
    except (IndexError, ValueError):
        return RuntimeError(f"shape mismatch: {e}")
    vshape = list(getattr(value, "shape", ()))
    if not basic:
        return RuntimeError(
            f"shape mismatch: value tensor of shape {vshape} cannot be broadcast to indexing "
            f"result of shape {target}"
        )
    lead = len(target) - len(vshape)
    for i, n in enumerate(vshape):
        if i + lead >= 0 and n != 1 and n != target[i + lead]:
            return RuntimeError(
                f"The expanded size of the tensor ({target[i + lead]}) must match the existing "
                f"size ({n}) at non-singleton dimension {i + lead}.  Target sizes: {target}.  "
                f"Tensor sizes: {vshape}"
            )
    return RuntimeError(
        f"expand(torch.FloatTensor{{{vshape}}}, size={target}): the number of sizes provided "
        f"({len(target)}) must be greater or equal to the number of dimensions in the tensor "
        f"({len(vshape)})"
    )


# ---- random fills (never recorded) -----------------------------------------------------
def _random_fill(self: Tensor, data) -> Tensor:
    if _grad_state.enabled and self._requires_grad and self._grad_fn is None:
        raise RuntimeError(_LEAF_MSG)
    self._data[...] = data.astype(self._data.dtype, copy=False)
    self._vc[0] += 1
    return self


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    u = self._device.backend.rand(self._data.shape, _float_np(self))
    return _random_fill(self, u * (b - a) + a)


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    n = self._device.backend.randn(self._data.shape, _float_np(self))
    return _random_fill(self, n * std + mean)


def bernoulli_(self: Tensor, p: float = 0.5, *, generator=None) -> Tensor:
    u = self._device.backend.rand(self._data.shape, _float_np(self))
    return _random_fill(self, u < p)


def _float_np(t: Tensor):
    return t._data.dtype if D.is_floating(t._data.dtype) else D.float32.np
