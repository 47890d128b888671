"""Bind ops to Tensor as methods and Python operators (PyTorch's method names)."""

from __future__ import annotations

from typing import Any

from . import _dtype as D
from . import backend as _backend
from . import ops
from ._legacy import legacy_new, resolve_type
from ._tensor import Tensor
from .autograd.graph import _type_name
from .backend.quiet import as_method, checked, quiet, unwrapped
from .ops import activation as _activation
from .ops import convert, inplace
from .ops import sparse as _sparse
from .ops import special as _special
from .ops._arguments import takes_tensor_after_self
from .ops.compare import _scalar_as
from .ops.indexing import index_put, index_put_, put
from .ops.shape import tensor_unfold, tile_method

_SAME_NAME = (
    "add sub mul div pow neg abs reciprocal exp log log1p log2 expm1 sqrt rsqrt sin cos tanh "
    "sigmoid relu clamp clip sign floor ceil round trunc maximum minimum remainder "
    "eq ne lt le gt ge logical_and logical_or logical_xor logical_not bitwise_not isnan isinf "
    "isfinite isclose allclose equal "
    "sum mean prod max min amax amin argmax argmin var std logsumexp norm "
    "matmul mm bmm dot outer "
    "reshape view flatten unflatten squeeze unsqueeze permute transpose t expand expand_as "
    "broadcast_to split chunk unbind flip repeat narrow movedim "
    "index_select gather scatter scatter_add masked_fill nonzero masked_select take_along_dim "
    "clone contiguous detach detach_ to type_as softmax log_softmax erf "
    "any all tril triu cumsum repeat_interleave addmm baddbmm clamp_min clamp_max "
    "topk sort argsort msort square tan sinh cosh asin acos atan arcsin arccos arctan atan2 "
    "arctan2 log10 exp2 frac hypot lerp addcmul addcdiv nan_to_num diag diagonal trace roll "
    "flipud fliplr rot90 ravel diff cumprod nansum nanmean count_nonzero unique bincount "
    "median index_add take index_fill kthvalue quantile aminmax logit xlogy histc tensor_split "
    "index_copy cummax cummin mode true_divide divide multiply subtract floor_divide swapaxes "
    "swapdims negative absolute logaddexp logaddexp2 bitwise_left_shift bitwise_right_shift "
    "fmod asinh acosh atanh arcsinh arccosh arctanh sgn sinc deg2rad rad2deg fix copysign fmax "
    "fmin erfc"
)


def _method(fn, name: str):
    """The method face of a face's op: its one wrapper, with PyTorch's argument positions
    for a method (after self); an op that moves values and takes no Tensor but self stays
    plain (self is always a Tensor: nothing to check, no wrapper to pay for)."""
    if getattr(fn, "_gpugrad_quiet", False) or takes_tensor_after_self(unwrapped(fn)):
        return as_method(fn, name)
    return unwrapped(fn)


for _name in _SAME_NAME.split():
    setattr(Tensor, _name, _method(getattr(ops, _name), _name))
Tensor.hardshrink = quiet(_activation.hardshrink, method=True)
Tensor.tile = tile_method

for _name in ("cpu", "cuda", "double", "half", "bfloat16", "long", "short", "byte"):
    setattr(Tensor, _name, _method(getattr(convert, _name), _name))
Tensor.float = _method(convert.float_, "float")
Tensor.int = _method(convert.int_, "int")
Tensor.bool = _method(convert.bool_, "bool")

for _name in (
    "add_ sub_ mul_ div_ pow_ zero_ fill_ copy_ clamp_ clip_ relu_ sigmoid_ exp_ log_ neg_ "
    "abs_ sqrt_ tanh_ masked_fill_ uniform_ normal_ bernoulli_ scatter_ scatter_add_ index_add_ "
    "tril_ triu_ clamp_min_ clamp_max_ index_fill_ index_copy_ floor_divide_ remainder_ fmod_"
).split():
    setattr(Tensor, _name, _method(getattr(inplace, _name), _name))


def _view_as(self: Tensor, other: Tensor) -> Tensor:
    return ops.view(self, other._data.shape)


def _reshape_as(self: Tensor, other: Tensor) -> Tensor:
    return ops.reshape(self, other._data.shape)


Tensor.view_as = checked(_view_as, name="view_as", method=True)
Tensor.reshape_as = checked(_reshape_as, name="reshape_as", method=True)
Tensor.T = property(lambda self: ops.permute(self, tuple(range(self._data.ndim - 1, -1, -1))))
Tensor.mT = property(lambda self: ops.transpose(self, -2, -1))
Tensor.H = Tensor.T
Tensor.mH = Tensor.mT

# ---- operators -----------------------------------------------------------------------
Tensor.__add__ = ops.add
Tensor.__radd__ = ops.add
Tensor.__sub__ = ops.sub
Tensor.__rsub__ = ops.rsub
Tensor.__mul__ = ops.mul
Tensor.__rmul__ = ops.mul
Tensor.__truediv__ = ops.div
Tensor.__rtruediv__ = lambda self, other: ops.mul(ops.reciprocal(self), other)
Tensor.__floordiv__ = ops.floor_divide
Tensor.__rfloordiv__ = lambda self, other: ops.floor_divide(_as_tensor(other, self), self)
Tensor.__mod__ = ops.remainder
Tensor.__rmod__ = lambda self, other: ops.remainder(_as_tensor(other, self), self)
Tensor.__pow__ = ops.pow
Tensor.__rpow__ = lambda self, other: ops.pow(other, self)
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
Tensor.__neg__ = ops.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = ops.abs


def _eq(self: Tensor, other):
    return False if other is None else ops.eq(self, other)  # `t == None` is False in PyTorch


def _ne(self: Tensor, other):
    return True if other is None else ops.ne(self, other)


def _where(self: Tensor, condition: Tensor, other) -> Tensor:
    return ops.where(condition, self, other)  # x.where(cond, y): x where cond, else y


Tensor.where = _where
Tensor.__eq__ = _eq
Tensor.__ne__ = _ne
Tensor.__lt__ = ops.lt
Tensor.__le__ = ops.le
Tensor.__gt__ = ops.gt
Tensor.__ge__ = ops.ge
Tensor.__and__ = ops.bitwise_and
Tensor.__rand__ = ops.bitwise_and
Tensor.__or__ = ops.bitwise_or
Tensor.__ror__ = ops.bitwise_or
Tensor.__xor__ = ops.bitwise_xor
Tensor.__rxor__ = ops.bitwise_xor


def _invert(self: Tensor) -> Tensor:
    """``~x``: PyTorch's operator refuses a float tensor before its kernel is reached."""
    if self.dtype.is_floating_point or self.dtype.is_complex:
        raise TypeError(
            "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
        )
    return ops.bitwise_not(self)


Tensor.__invert__ = _invert
Tensor.__lshift__ = ops.bitwise_left_shift
Tensor.__rshift__ = ops.bitwise_right_shift
Tensor.__rlshift__ = lambda self, other: ops.bitwise_left_shift(_scalar_as(self, other), self)
Tensor.__rrshift__ = lambda self, other: ops.bitwise_right_shift(_scalar_as(self, other), self)
Tensor.__getitem__ = ops.getitem
Tensor.__setitem__ = inplace.setitem
Tensor.__iadd__ = inplace.add_
Tensor.__isub__ = inplace.sub_
Tensor.__imul__ = inplace.mul_
Tensor.__itruediv__ = inplace.div_
Tensor.__ipow__ = inplace.pow_
Tensor.__ifloordiv__ = inplace.floor_divide_
Tensor.__imod__ = inplace.remainder_
Tensor.__hash__ = object.__hash__


def _as_tensor(value, like: Tensor) -> Tensor:
    from ._creation import scalar_tensor

    return scalar_tensor(value, like)


# ---- new_* factories -----------------------------------------------------------------
def _new(kind: str):
    name = f"new_{kind}"

    def method(self: Tensor, *args, dtype=None, device=None, requires_grad: bool = False, **kwargs):
        from . import _creation as C

        dt = dtype or self.dtype
        dev = device if device is not None else self._device
        if kwargs:  # size= (new_zeros(size=(2, 3))), layout, pin_memory; anything else refused
            sizes = C.sizes_from(name, args if kind not in ("tensor", "full") else (), kwargs)
            if kind not in ("tensor", "full"):
                args = sizes
            elif "size" in kwargs:
                raise TypeError(f"{name}() got an unexpected keyword argument 'size'")
        if kind == "tensor":
            return C.tensor(args[0], dtype=dt, device=dev, requires_grad=requires_grad)
        if kind == "full":
            return C.full(args[0], args[1], dtype=dt, device=dev, requires_grad=requires_grad)
        return getattr(C, kind)(*args, dtype=dt, device=dev, requires_grad=requires_grad)

    method.__name__ = name
    return method


for _kind in ("tensor", "zeros", "ones", "empty", "full"):
    setattr(Tensor, f"new_{_kind}", _new(_kind))


def _det(self: Tensor) -> Tensor:
    from . import linalg

    return linalg.det(self)


def _inverse(self: Tensor) -> Tensor:
    from . import linalg

    return linalg.inv(self)


Tensor.det, Tensor.inverse = _det, _inverse


Tensor.unfold = tensor_unfold  # a method only: torch.unfold is not a function
# accumulating puts add values: silent on IEEE edge cases, as the other faces
Tensor.index_put = quiet(index_put, name="index_put", method=True)
Tensor.index_put_ = quiet(index_put_, name="index_put_", method=True)
Tensor.put, Tensor.put_ = quiet(put, method=True), quiet(inplace.put_, name="put_", method=True)


# ---- sparse COO tensors (ops/sparse.py) ------------------------------------------------
# the ops themselves: matmul and mm below are the faces (one wrapper, not one around another)
_dense_matmul, _dense_mm = unwrapped(ops.matmul), unwrapped(ops.mm)
_dense_detach, _dense_clone = ops.detach, ops.clone
_dense_t, _dense_transpose = ops.t, ops.transpose


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product (``@``); a sparse COO operand takes the sparse product."""
    if input._sparse is None and getattr(other, "_sparse", None) is None:
        return _dense_matmul(input, other)
    return _sparse.sparse_matmul(input, other)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two matrices; either may be a sparse COO matrix (the other dense)."""
    if input._sparse is None and getattr(mat2, "_sparse", None) is None:
        return _dense_mm(input, mat2)
    return _sparse.sparse_mm(input, mat2)


def _detach(self: Tensor) -> Tensor:
    return _dense_detach(self) if self._sparse is None else _sparse.detach(self)


def _clone(self: Tensor, *, memory_format=None) -> Tensor:
    return _dense_clone(self) if self._sparse is None else _sparse.clone(self)


def _t(self: Tensor) -> Tensor:
    return _dense_t(self) if self._sparse is None else _sparse.transpose(self, 0, -1)


def _transpose(self: Tensor, dim0: int, dim1: int) -> Tensor:
    if self._sparse is None:
        return _dense_transpose(self, dim0, dim1)
    return _sparse.transpose(self, dim0, dim1)


def _converting(dense):
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        if self._sparse is None:
            return dense(self, *args, **kwargs)
        return _sparse.converted(self, dense, *args, **kwargs)

    method.__name__, method.__doc__ = dense.__name__, dense.__doc__
    return method


for _name in ("to", "cpu", "cuda", "double", "float", "half", "bfloat16", "type_as"):
    setattr(Tensor, _name, _converting(getattr(Tensor, _name)))

_matmul, _mm = matmul, mm
matmul, mm = quiet(_matmul), quiet(_mm)  # gpugrad.matmul / gpugrad.mm: the faces
Tensor.matmul = quiet(_matmul, name="matmul", method=True)
Tensor.__matmul__ = matmul
Tensor.mm = quiet(_mm, name="mm", method=True)
Tensor.detach, Tensor.clone, Tensor.t, Tensor.transpose = _detach, _clone, _t, _transpose
Tensor.to_sparse = _sparse.to_sparse
Tensor.to_sparse_coo = _sparse.to_sparse
Tensor.to_dense = _sparse.to_dense
Tensor.coalesce = _sparse.coalesce
Tensor.is_coalesced = _sparse.is_coalesced
Tensor.indices = _sparse.indices
Tensor.values = _sparse.values
Tensor._indices = _sparse.raw_indices
Tensor._values = _sparse.raw_values
Tensor._nnz = _sparse.nnz
Tensor.sparse_dim = _sparse.sparse_dim
Tensor.dense_dim = _sparse.dense_dim


# ---- PyTorch's legacy spellings: the Tensor(...) constructor and Tensor.type(...) -----------
def _tensor_new(cls, *args: Any, device=None) -> Tensor:
    """PyTorch's legacy constructor: ``Tensor(*sizes)`` (uninitialized), ``Tensor(data)``
    (a copy, in the default float dtype), ``Tensor(tensor)`` (an alias); prefer
    ``gpugrad.tensor`` / ``gpugrad.empty``."""
    return legacy_new(args, D.get_default_dtype(), device)


def _type(self: Tensor, dtype=None):
    """The PyTorch-style type name, or a copy converted to ``dtype``."""
    if dtype is None:
        return _type_name(self._data.dtype, self._device)
    legacy = resolve_type(dtype)  # gpugrad.DoubleTensor, "torch.cuda.FloatTensor" ...
    if legacy is None:
        return self.to(dtype)
    dt, kind = legacy
    return self.to(dt) if self._device.type == kind else self.to(kind, dt)


Tensor.__new__ = staticmethod(_tensor_new)
Tensor.type = _type


# ---- special functions (torch.lgamma & co.; the op lives in ops/special.py) ------------------
def _polygamma(self: Tensor, n: int) -> Tensor:
    return _special.polygamma(n, self)


def _mvlgamma(self: Tensor, p: int) -> Tensor:
    return _special.mvlgamma(self, p)


def _igamma(self: Tensor, other: Tensor) -> Tensor:
    return _special.gammainc(self, other)


def _igammac(self: Tensor, other: Tensor) -> Tensor:
    return _special.gammainc(self, other, upper=True)


Tensor.lgamma, Tensor.digamma, Tensor.erfinv = _special.lgamma, _special.digamma, _special.erfinv
Tensor.polygamma, Tensor.mvlgamma = _polygamma, _mvlgamma
Tensor.igamma = quiet(_igamma, name="igamma", method=True)
Tensor.igammac = quiet(_igammac, name="igammac", method=True)


# ---- page-locked host memory (fast, asynchronous copies to a GPU) -------------------------
def _pin_memory(self: Tensor, device=None) -> Tensor:
    """A copy of this CPU tensor in page-locked memory (itself if it is pinned already)."""
    if self._device.type != "cpu" or self.is_sparse:
        raise RuntimeError(f"cannot pin '{self.type()}' only dense CPU tensors can be pinned")
    if _backend.is_pinned(self._data):
        return self
    if _backend.cuda_status()[0] == 0:
        raise RuntimeError("Cannot access accelerator device when none is available.")
    out = self.clone()  # the copy's node (CloneBackward0) carries the gradient, as PyTorch's
    buf = _backend.empty_pinned(out._data.shape, out._data.dtype)
    buf[...] = out._data
    out._data = buf
    return out


def _is_pinned(self: Tensor, device=None) -> bool:
    """Whether this tensor's memory is page-locked (always False off the CPU)."""
    return self._device.type == "cpu" and not self.is_sparse and _backend.is_pinned(self._data)


Tensor.pin_memory, Tensor.is_pinned = _pin_memory, _is_pinned
