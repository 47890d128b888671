"""Reductions: sum, mean, prod, max/min, amax/amin, aminmax, argmax/argmin, any/all, var,
std (and var_mean / std_mean), logsumexp, norm, and the NaN-ignoring nansum / nanmean."""

from __future__ import annotations

import math

from .. import _dtype as D
from .. import _warn, return_types
from .._tensor import Tensor
from ..autograd.grad_mode import active as _active
from ..autograd.graph import AccumulateGrad, Node
from . import _autocast as _amp
from ._util import (
    needs_grad,
    record,
    wrap_dim,
    wrap_dims,
)
from .compare import where
from .indexing import scatter_into_zeros


def _bool_reduce(input: Tensor, dim, keepdim: bool, fn: str) -> Tensor:
    xp = input._device.backend.xp
    d = input._data
    axis = None if dim is None else wrap_dim(dim, d.ndim)
    return Tensor._make(getattr(xp, fn)(d, axis=axis, keepdims=keepdim), input._device)


def any(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where any element (over ``dim``) is non-zero."""
    return _bool_reduce(input, dim, keepdim, "any")


def all(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every element (over ``dim``) is non-zero."""
    return _bool_reduce(input, dim, keepdim, "all")


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False):
    """(min, max) of all elements, or along ``dim``."""
    if dim is None and input.numel() == 0:
        raise RuntimeError(
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
            "identity."
        )
    if dim is not None:
        d = wrap_dim(dim, input._data.ndim)
        if input._data.ndim and input._data.shape[d] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {d} to have non-zero size.")
    dims = () if dim is None else dim
    return return_types.aminmax(input.amin(dims, keepdim), input.amax(dims, keepdim))


# ---- reductions and counting -------------------------------------------------------------
def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum treating NaN as zero."""
    x = input
    if D.is_floating(input._data.dtype):
        x = where(input.isnan(), 0.0, input)
    return x.sum(dim, keepdim, dtype=dtype) if dim is not None else _sum_all(x, keepdim, dtype)


def _sum_all(x: Tensor, keepdim: bool, dtype) -> Tensor:
    return (
        x.sum(tuple(range(x._data.ndim)), keepdim, dtype=dtype) if keepdim else x.sum(dtype=dtype)
    )


def nanmean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over the non-NaN elements."""
    if not D.is_floating(input._data.dtype) and dtype is None:
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{D.scalar_type_name(input.dtype)}"
        )
    cnt = (
        (~input.isnan()).sum(dim, keepdim)
        if dim is not None
        else _sum_all(~input.isnan(), keepdim, None)
    )
    return nansum(input, dim, keepdim, dtype=dtype) / cnt


def var_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(var, mean) in one call."""
    v = var(input, dim, unbiased, keepdim, correction=correction)
    m = input.mean(dim, keepdim) if dim is not None else _mean_all(input, keepdim)
    return v, m


def std_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(std, mean) in one call."""
    s = std(input, dim, unbiased, keepdim, correction=correction)
    m = input.mean(dim, keepdim) if dim is not None else _mean_all(input, keepdim)
    return s, m


def _mean_all(x: Tensor, keepdim: bool) -> Tensor:
    return x.mean(tuple(range(x._data.ndim)), keepdim) if keepdim else x.mean()


def _kept_shape(shape: tuple, dims: tuple) -> tuple:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def expand_back(grad: Tensor, in_shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """Broadcast a reduced gradient back over the reduced dims (reshape, then expand)."""
    if not keepdim:
        grad = grad.reshape(_kept_shape(in_shape, dims))
    return grad.expand(in_shape)


def _reduce_args(input: Tensor, dim, keepdim: bool):
    nd = input._data.ndim
    dims = wrap_dims(dim, nd)
    axis = None if dim is None or len(dims) == nd else dims
    return dims, axis


def _spread(node: Node, backend, g, shape: tuple):
    """A reduction's gradient ``g`` (reduced axes kept) over ``shape``: a broadcast view,
    which the next op reads without a copy; materialised at once (by the backend's parallel
    ``sum_backward``) where it becomes a leaf's first ``.grad``, which must own memory."""
    nxt = node.next_functions[0][0]
    if type(nxt) is AccumulateGrad and nxt.variable._grad is None:
        return backend.sum_backward(g, shape)
    return backend.xp.broadcast_to(g, shape)


class SumBackward0(Node):
    def backward(self, grad):
        return (grad.expand(self.shape),)

    def _arrays(self, backend, g):
        return (_spread(self, backend, g.reshape((1,) * len(self.shape)), self.shape),)


class SumBackward1(Node):
    def backward(self, grad):
        return (expand_back(grad, self.shape, self.dims, self.keepdim),)

    def _arrays(self, backend, g):
        if not self.keepdim:
            g = g.reshape(_kept_shape(self.shape, self.dims))
        return (_spread(self, backend, g, self.shape),)


def _half(d) -> bool:
    return D.is_reduced_float(d.dtype)


def _all_dims(dim) -> bool:
    """None, or an empty dim list: PyTorch's sum/mean/var reduce every dim for both."""
    return dim is None or (not isinstance(dim, int) and len(dim) == 0)


def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (all elements when None). Integer and bool inputs sum to int64;
    float16 accumulates in float32, as PyTorch's."""
    d = input._data
    if dtype is not None:
        d = d.astype(dtype.np)
    elif d.dtype.kind in "biu":
        d = d.astype("int64")
    backend = input._device.backend
    whole = _all_dims(dim)
    dims = None if whole else _reduce_args(input, dim, keepdim)[0]
    if _half(d):
        xp = backend.xp
        data = xp.sum(d, axis=dims, dtype=xp.float32, keepdims=keepdim)
        data = backend.quiet(xp.asarray, data, d.dtype)  # overflow to inf is silent
    else:
        data = backend.sum(d, dims, keepdims=keepdim)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        if whole and not keepdim:
            record(SumBackward0(), (input,), out).shape = input._data.shape
        else:
            node = record(SumBackward1(), (input,), out)
            node.shape, node.keepdim = input._data.shape, keepdim
            node.dims = tuple(range(d.ndim)) if whole else dims
    return out


class MeanBackward0(Node):
    def backward(self, grad):
        return ((grad / self.n).expand(self.shape),)

    def _arrays(self, backend, g):
        g = (g / g.dtype.type(self.n)).reshape((1,) * len(self.shape))
        return (_spread(self, backend, g, self.shape),)


class MeanBackward1(Node):
    def backward(self, grad):
        return (expand_back(grad / self.n, self.shape, self.dims, self.keepdim),)

    def _arrays(self, backend, g):
        g = g / g.dtype.type(self.n)
        if not self.keepdim:
            g = g.reshape(_kept_shape(self.shape, self.dims))
        return (_spread(self, backend, g, self.shape),)


def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Arithmetic mean over ``dim`` (floating-point tensors only, as in PyTorch); float16
    accumulates in float32; NaN over a zero-size dim."""
    d = input._data
    if dtype is not None:
        d = d.astype(dtype.np)
    if not D.is_floating(d.dtype):
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {D.scalar_type_name(input.dtype)}"
        )
    shape = input._data.shape
    whole = _all_dims(dim)
    dims = tuple(range(d.ndim)) if whole else _reduce_args(input, dim, keepdim)[0]
    axis = None if whole else dims
    out = Tensor._make(input._device.backend.mean(d, axis, keepdim), input._device)
    if needs_grad(input):
        # n 0 (an empty input): the gradient is empty too; 1 keeps the division quiet
        n = 1
        for i in dims:
            n *= shape[i]
        if whole and not keepdim:
            node = record(MeanBackward0(), (input,), out)
            node.shape, node.n = shape, n or 1
        else:
            node = record(MeanBackward1(), (input,), out)
            node.shape, node.dims, node.keepdim, node.n = shape, dims, keepdim, n or 1
    return out


class ProdBackward0(Node):
    def backward(self, grad):
        x, result = self.saved_tensors
        dims = self.dims if self.dims is not None else tuple(range(x._data.ndim))
        shape = _kept_shape(x._data.shape, dims)
        g = grad if self.keepdim else grad.reshape(shape)
        r = result if self.keepdim else result.reshape(shape)
        # d prod / d x_i is the product of the others: result / x_i where x_i != 0; where
        # x_i == 0 it is the product of the non-zeros if x_i is the only zero, else 0.
        zero = x == 0
        nz = x.masked_fill(zero, 1)
        n_zero = zero.sum(dims, keepdim=True)
        others_at_zero = prod_dims(nz, dims).where(n_zero == 1, 0.0)
        d = (r / nz).where(~zero, others_at_zero.expand(x._data.shape))
        # two zeros or more: every product of the others holds a zero, so each derivative is
        # 0 (PyTorch's), even beside an inf or NaN whose r / x would be NaN
        return (g * d.where(n_zero <= 1, 0.0),)


class ProdBackward1(ProdBackward0):
    pass


def prod_dims(input: Tensor, dims: tuple) -> Tensor:
    """Product over several dims, keeping them (used by prod's backward)."""
    out = input
    for d in dims:
        out = prod(out, d, keepdim=True)
    return out


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of elements (over one dim when given). float16 multiplies in float32 and
    rounds once (as PyTorch's CUDA kernel; its CPU kernel rounds every step in float16)."""
    if _active.autocast:
        (input,) = _amp.fp32("prod", input)
    d = input._data if dtype is None else input._data.astype(dtype.np)
    if dtype is None and d.dtype.kind in "biu":
        d = d.astype("int64")
    dims = None if dim is None else wrap_dims(dim, input._data.ndim)
    backend = input._device.backend
    if _half(d):
        data = d.prod(axis=dims, keepdims=keepdim and dims is not None, dtype="float32")
        data = backend.quiet(backend.xp.asarray, data, d.dtype)
    else:
        data = d.prod(axis=dims, keepdims=keepdim and dims is not None)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(ProdBackward0() if dims is None else ProdBackward1(), (input,), out)
        node.save(input, out)
        node.dims, node.keepdim, node.shape = dims, keepdim, input._data.shape
    return out


# ---- max / min ----------------------------------------------------------------------
class MaxBackward1(Node):
    """Whole-tensor max/min: ties share the gradient evenly; a NaN result's gradient goes
    to the NaNs (PyTorch's evenly_distribute_backward)."""

    def backward(self, grad):
        x, result = self.saved_tensors
        mask = (x == result) | (x.isnan() & result.isnan())
        return (mask * (grad / mask.sum()),)


class MinBackward1(MaxBackward1):
    pass


class AmaxBackward0(Node):
    """amax/amin: ties share the gradient evenly (a NaN result matches nothing: NaN)."""

    def backward(self, grad):
        x, result = self.saved_tensors
        dims, keepdim, shape = self.dims, self.keepdim, x._data.shape
        r = result if keepdim else result.reshape(_kept_shape(shape, dims))
        g = grad if keepdim else grad.reshape(_kept_shape(shape, dims))
        mask = (x == r).to(grad.dtype)
        return (g / mask.sum(dims, keepdim=True) * mask,)


class AminBackward0(AmaxBackward0):
    pass


def _check_reduced_sizes(name: str, shape: tuple, dims, wrapped: bool = True) -> None:
    """PyTorch's IndexError for a max-like reduction over a zero-size dim (it has no
    identity). ``dims`` as the caller gave them: amax names the dim as written, the others
    wrapped."""
    n = len(shape) or 1  # (this module's max is the op)
    for d in (dims,) if isinstance(dims, int) else dims:
        if shape and shape[d] == 0:
            shown = (d + n if d < 0 else d) if wrapped else d
            raise IndexError(f"{name}(): Expected reduction dim {shown} to have non-zero size.")


def _check_numel(name: str, input: Tensor, hint: bool = True) -> None:
    if input._data.size == 0:
        more = " Specify the reduction dim with the 'dim' argument." if hint else ""
        raise (RuntimeError if hint else IndexError)(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0.{more}"
        )


class MaxBackward0(Node):
    """max/min over a dim: the gradient goes to the returned index only."""

    def backward(self, grad, grad_indices=None):
        (indices,) = self.saved_tensors
        g, idx = grad, indices
        if not self.keepdim:
            g, idx = g.unsqueeze(self.dim), idx.unsqueeze(self.dim)
        return (scatter_into_zeros(self.shape, self.dim, idx, g),)


class MinBackward0(MaxBackward0):
    pass


def _extreme(input: Tensor, dim, keepdim: bool, is_max: bool, name: str):
    d = input._data
    backend = input._device.backend
    if dim is None:
        if d.size == 0:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        data = backend.amax(d, None) if is_max else backend.amin(d, None)
        out = Tensor._make(data, input._device)
        if needs_grad(input):
            node = record(MaxBackward1() if is_max else MinBackward1(), (input,), out)
            node.save(input, out)
            node.dims, node.keepdim = None, False
        return out
    if isinstance(dim, Tensor):  # torch.max(a, b) is maximum
        from .arithmetic import maximum, minimum

        return maximum(input, dim) if is_max else minimum(input, dim)
    ax = wrap_dims(dim, d.ndim)
    ax = ax[0] if ax else 0
    _check_reduced_sizes(name, d.shape, ax)
    src = d if d.ndim else d.reshape(1)
    idx = backend.argmax(src, ax, True) if is_max else backend.argmin(src, ax, True)
    # the values at the indices (a gather of one element per output, cheaper than a second
    # reduction over the input, and exactly the element the index names: a -0.0 stays -0.0)
    vals = backend.xp.take_along_axis(src, idx, axis=ax)
    if not keepdim or not d.ndim:
        vals, idx = vals.squeeze(ax), idx.squeeze(ax)
    values = Tensor._make(vals, input._device)
    indices = Tensor._make(idx, input._device)
    if needs_grad(input):
        node = record(MaxBackward0() if is_max else MinBackward0(), (input,), values)
        node.save(indices)
        node.dim, node.keepdim, node.shape = ax, keepdim or not d.ndim, input._data.shape
    return (return_types.max if is_max else return_types.min)(values, indices)


def max(input: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    """Largest element; with ``dim``, a (values, indices) pair; with a tensor, maximum."""
    return _extreme(input, dim, keepdim, True, "max")


def min(input: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    """Smallest element; with ``dim``, a (values, indices) pair; with a tensor, minimum."""
    return _extreme(input, dim, keepdim, False, "min")


def _amax(input: Tensor, dim, keepdim: bool, is_max: bool) -> Tensor:
    d = input._data
    name = "amax" if is_max else "amin"
    dims = wrap_dims(dim if dim != () else None, d.ndim)
    if dim == () or dim is None:
        _check_numel(name, input)
    else:
        _check_reduced_sizes(name, d.shape, dim, wrapped=False)  # dims checked it
    axis = dims if dims else None
    backend = input._device.backend
    data = backend.amax(d, axis, keepdim) if is_max else backend.amin(d, axis, keepdim)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(AmaxBackward0() if is_max else AminBackward0(), (input,), out)
        node.save(input, out)
        node.dims, node.keepdim = (dims if dims else tuple(range(d.ndim))), keepdim
    return out


def amax(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Maximum over dims (all when empty); ties share the gradient."""
    return _amax(input, dim, keepdim, True)


def amin(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Minimum over dims (all when empty); ties share the gradient."""
    return _amax(input, dim, keepdim, False)


def _arg(input: Tensor, dim, keepdim: bool, is_max: bool) -> Tensor:
    backend = input._device.backend
    d = input._data
    fn = backend.argmax if is_max else backend.argmin
    name = "argmax" if is_max else "argmin"
    if d.dtype.kind == "b":  # NumPy ranks False < True; PyTorch's kernel has no bool loop
        raise RuntimeError(f"{name}(): does not support bool input")
    if dim is None:
        _check_numel(name, input, hint=False)
        r = fn(d, None, keepdim)  # over the flattened array; kept: (1,) * ndim
    else:
        ax = wrap_dims(dim, d.ndim)
        ax = ax[0] if ax else 0
        _check_reduced_sizes(name, d.shape, ax)
        r = fn(d, ax, keepdim) if d.ndim else fn(d.reshape(1), 0)  # a 0-d result either way
    return Tensor._make(r, input._device)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg(input, dim, keepdim, True)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg(input, dim, keepdim, False)


# ---- var / std / logsumexp / norm -------------------------------------------------------
class VarBackward0(Node):
    """PyTorch's var_backward: ``2 / (n - correction) * grad * (x - mean)``; over every
    element with no degrees of freedom left, NaN where ``x`` is the mean and inf elsewhere."""

    def backward(self, grad):
        (x,) = self.saved_tensors
        return (_var_backward(grad, x, self.dims, self.keepdim, self.correction, self.whole),)

    def _arrays(self, backend, g):
        (x,) = self.saved_arrays()
        return (_var_backward_arrays(self, backend, g, x),)


class StdBackward0(Node):
    """PyTorch's std_backward: var's backward of ``grad / (2 std)``, 0 where std is 0."""

    def backward(self, grad):
        x, result = self.saved_tensors
        g = (grad / (result * 2)).masked_fill(result == 0, 0)
        return (_var_backward(g, x, self.dims, self.keepdim, self.correction, self.whole),)

    def _arrays(self, backend, g):
        x, result = self.saved_arrays()
        xp = backend.xp
        g = backend.quiet(xp.true_divide, g, result * 2)
        g = xp.where(result == 0, g.dtype.type(0), g)
        return (_var_backward_arrays(self, backend, g, x),)


def _var_backward_arrays(node: Node, backend, g, x):
    """VarBackward0's formula on arrays: the backend's fused ``var_backward``."""
    shape = x.shape
    n = 1
    for i in node.dims:
        n *= shape[i]
    kept = _kept_shape(shape, node.dims)
    g = g.reshape(kept)
    m = backend.mean(x, None if node.whole else node.dims, True).reshape(kept)
    dof = n - node.correction
    if node.whole and dof <= 0:
        xp = backend.xp
        return g * xp.where(x == m, x.dtype.type(math.nan), x.dtype.type(math.inf))
    return backend.var_backward(g, x, m, 2.0 / dof if dof else math.inf)


def _var_backward(grad, x, dims, keepdim, correction, whole):
    shape = x._data.shape
    n = 1
    for i in dims:
        n *= shape[i]
    g = grad if keepdim else grad.reshape(_kept_shape(shape, dims))
    m = x.mean(dims, keepdim=True) if dims else x
    if whole and n - correction <= 0:
        inf_or_nan = where(x == m, float("nan"), float("inf"))
        return g * inf_or_nan.to(x.dtype)
    scale = 2.0 / (n - correction) if n != correction else float("inf")
    return g * (x - m) * scale


def _var_std(input: Tensor, dim, unbiased, keepdim: bool, correction, is_std: bool) -> Tensor:
    if isinstance(dim, bool):  # var(x, False): the old `unbiased` positional
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    d = input._data
    if not D.is_floating(d.dtype):
        raise RuntimeError("std and var only support floating point and complex dtypes")
    whole = _all_dims(dim)
    dims = tuple(range(d.ndim)) if whole else wrap_dims(dim, d.ndim)
    n = 1
    for i in dims:
        n *= d.shape[i]
    if n - correction <= 0:
        _warn_dof("std" if is_std else "var")
    backend = input._device.backend
    axis = None if whole else dims
    if is_std:  # float16's square root is taken in float32 too: its var may overflow
        xp = backend.xp
        acc = d.astype(xp.float32) if _half(d) else d
        data = xp.sqrt(backend.var(acc, axis, correction, keepdim)).astype(d.dtype, copy=False)
    else:
        data = backend.var(d, axis, correction, keepdim)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(StdBackward0() if is_std else VarBackward0(), (input,), out)
        node.save(input, out) if is_std else node.save(input)
        node.dims, node.keepdim, node.correction = dims, keepdim, correction
        node.whole = whole or d.ndim == 0
    return out


def _warn_dof(name: str) -> None:
    _warn.warn(
        f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
        "reduction factor (input numel divided by output numel).",
        UserWarning,
    )


def var(
    input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None
) -> Tensor:
    """Variance with Bessel's correction by default (``correction=1``)."""
    return _var_std(input, dim, unbiased, keepdim, correction, False)


def std(
    input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None
) -> Tensor:
    """Standard deviation with Bessel's correction by default."""
    return _var_std(input, dim, unbiased, keepdim, correction, True)


class LogsumexpBackward0(Node):
    def backward(self, grad):
        x, result = self.saved_tensors
        shape = _kept_shape(x._data.shape, self.dims)
        g = grad if self.keepdim else grad.reshape(shape)
        r = result if self.keepdim else result.reshape(shape)
        return (g * (x - r).exp(),)

    def _arrays(self, backend, g):
        x, result = self.saved_arrays()
        kept = _kept_shape(x.shape, self.dims)
        return (backend.logsumexp_backward(g.reshape(kept), x, result.reshape(kept)),)


def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim``, computed stably; -inf over a zero-size dim."""
    d = input._data
    if not D.is_floating(d.dtype):
        d = d.astype(D.get_default_dtype().np)
    dims = tuple(range(d.ndim)) if _all_dims(dim) else wrap_dims(dim, d.ndim)
    out = Tensor._make(input._device.backend.logsumexp(d, dims, keepdim), input._device)
    if needs_grad(input):
        node = record(LogsumexpBackward0(), (input,), out)
        node.save(input, out)
        node.dims, node.keepdim = dims, keepdim
    return out


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """torch.norm: 'fro' (over at most two dims) and numbers are ``linalg.vector_norm``
    (its node, LinalgVectorNormBackward0, is the one recorded); 'nuc' and other strings are
    ``linalg.matrix_norm`` over ``dim`` (every dim when None), as PyTorch dispatches them."""
    from .linalg import matrix_norm, vector_norm  # linalg imports this module's ops

    dims = [dim] if isinstance(dim, int) else dim
    if isinstance(p, str):
        if p == "fro" and (dims is None or len(dims) <= 2):
            return vector_norm(input, 2, dims, keepdim, dtype=dtype)
        if dims is None:
            dims = list(range(input._data.ndim))
        return matrix_norm(input, p, dims, keepdim, dtype=dtype)
    return vector_norm(input, 2.0 if p is None else p, dims, keepdim, dtype=dtype)
