"""Reductions: sum, mean, prod, max/min, amax/amin, aminmax, argmax/argmin, any/all, var,
std (and var_mean / std_mean), logsumexp, norm, and the NaN-ignoring nansum / nanmean."""

from __future__ import annotations

from .. import _dtype as D
from .. import return_types
from .._tensor import Tensor
from ..autograd.graph import Node
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
    if input.numel() == 0:
        raise RuntimeError(
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
            "identity."
        )
    dims = () if dim is None else dim
    return return_types.aminmax(input.amin(dims, keepdim), input.amax(dims, keepdim))


# ---- reductions and counting -------------------------------------------------------------
def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum treating NaN as zero."""
    x = input
    if input._data.dtype.kind == "f":
        x = where(input.isnan(), 0.0, input)
    return x.sum(dim, keepdim, dtype=dtype) if dim is not None else _sum_all(x, keepdim, dtype)


def _sum_all(x: Tensor, keepdim: bool, dtype) -> Tensor:
    return (
        x.sum(tuple(range(x._data.ndim)), keepdim, dtype=dtype) if keepdim else x.sum(dtype=dtype)
    )


def nanmean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over the non-NaN elements."""
    if input._data.dtype.kind != "f" and dtype is None:
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


class SumBackward0(Node):
    def backward(self, grad):
        return (grad.expand(self.shape),)

    def _arrays(self, backend, g):
        return (backend.xp.broadcast_to(g, self.shape),)


class SumBackward1(Node):
    def backward(self, grad):
        return (expand_back(grad, self.shape, self.dims, self.keepdim),)


def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (all elements when None). Integer and bool inputs sum to int64."""
    d = input._data
    if dtype is not None:
        d = d.astype(dtype.np)
    elif d.dtype.kind in "biu":
        d = d.astype("int64")
    backend = input._device.backend
    if dim is None:
        out = Tensor._make(backend.sum(d, None, keepdims=keepdim), input._device)
        if needs_grad(input):
            record(SumBackward0(), (input,), out).shape = input._data.shape
        return out
    dims, _ = _reduce_args(input, dim, keepdim)
    out = Tensor._make(backend.sum(d, dims, keepdims=keepdim), input._device)
    if needs_grad(input):
        node = record(SumBackward1(), (input,), out)
        node.shape, node.dims, node.keepdim = input._data.shape, dims, keepdim
    return out


class MeanBackward0(Node):
    def backward(self, grad):
        return ((grad / self.n).expand(self.shape),)


class MeanBackward1(Node):
    def backward(self, grad):
        return (expand_back(grad / self.n, self.shape, self.dims, self.keepdim),)


def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Arithmetic mean over ``dim`` (floating-point tensors only, as in PyTorch)."""
    d = input._data
    if dtype is not None:
        d = d.astype(dtype.np)
    if d.dtype.kind != "f":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {D.scalar_type_name(input.dtype)}"
        )
    shape = input._data.shape
    if dim is None:
        out = Tensor._make(
            d.mean(keepdims=keepdim) if keepdim else d.mean(dtype=d.dtype), input._device
        )
        if needs_grad(input):
            node = record(MeanBackward0(), (input,), out)
            node.shape, node.n = shape, d.size or 1
        return out
    dims, _ = _reduce_args(input, dim, keepdim)
    out = Tensor._make(d.mean(axis=dims, keepdims=keepdim), input._device)
    if needs_grad(input):
        node = record(MeanBackward1(), (input,), out)
        n = 1
        for i in dims:
            n *= shape[i]
        node.shape, node.dims, node.keepdim, node.n = shape, dims, keepdim, n
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
        return (g * (r / nz).where(~zero, others_at_zero.expand(x._data.shape)),)


class ProdBackward1(ProdBackward0):
    pass


def prod_dims(input: Tensor, dims: tuple) -> Tensor:
    """Product over several dims, keeping them (used by prod's backward)."""
    out = input
    for d in dims:
        out = prod(out, d, keepdim=True)
    return out


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of elements (over one dim when given)."""
    d = input._data if dtype is None else input._data.astype(dtype.np)
    if dtype is None and d.dtype.kind in "biu":
        d = d.astype("int64")
    if dim is None:
        out = Tensor._make(d.prod(), input._device)
        dims = None
    else:
        dims = wrap_dims(dim, input._data.ndim)
        out = Tensor._make(d.prod(axis=dims, keepdims=keepdim), input._device)
    if needs_grad(input):
        node = record(ProdBackward0() if dims is None else ProdBackward1(), (input,), out)
        node.save(input, out)
        node.dims, node.keepdim, node.shape = dims, keepdim, input._data.shape
    return out


# ---- max / min ----------------------------------------------------------------------
class MaxBackward1(Node):
    """Whole-tensor max/min (and amax/amin): ties share the gradient evenly."""

    def backward(self, grad):
        x, result = self.saved_tensors
        dims, keepdim, shape = self.dims, self.keepdim, x._data.shape
        r = result if keepdim or dims is None else result.reshape(_kept_shape(shape, dims))
        g = grad if keepdim or dims is None else grad.reshape(_kept_shape(shape, dims))
        mask = (x == r).to(grad.dtype)
        count = mask.sum(dims, keepdim=True) if dims is not None else mask.sum()
        return (g * mask / count,)


class MinBackward1(MaxBackward1):
    pass


class AmaxBackward0(MaxBackward1):
    pass


class AminBackward0(MaxBackward1):
    pass


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
    xp = input._device.backend.xp
    if dim is None:
        if d.size == 0:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        out = Tensor._make(d.max() if is_max else d.min(), input._device)
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
    src = d if d.ndim else d.reshape(1)
    idx = xp.argmax(src, axis=ax) if is_max else xp.argmin(src, axis=ax)
    idx_k = xp.expand_dims(idx, ax)
    vals = xp.take_along_axis(src, idx_k, axis=ax)
    if not keepdim or not d.ndim:
        vals, idx_k = vals.reshape(idx.shape), idx
    if not d.ndim:
        vals, idx_k = vals.reshape(()), idx_k.reshape(())
    values = Tensor._make(vals, input._device)
    indices = Tensor._make(idx_k.astype("int64", copy=False), input._device)
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
    dims = wrap_dims(dim if dim != () else None, d.ndim)
    axis = dims if dims else None
    data = d.max(axis=axis, keepdims=keepdim) if is_max else d.min(axis=axis, keepdims=keepdim)
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
    xp = input._device.backend.xp
    d = input._data
    fn = xp.argmax if is_max else xp.argmin
    if dim is None:
        r = fn(d.reshape(-1))
        if keepdim:
            r = xp.asarray(r).reshape((1,) * d.ndim)
    else:
        ax = wrap_dims(dim, d.ndim)
        ax = ax[0] if ax else 0
        r = fn(d if d.ndim else d.reshape(1), axis=ax)
        if keepdim and d.ndim:
            r = xp.expand_dims(r, ax)
    return Tensor._make(xp.asarray(r).astype("int64", copy=False), input._device)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg(input, dim, keepdim, True)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg(input, dim, keepdim, False)


# ---- var / std / logsumexp / norm -------------------------------------------------------
class VarBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        dims, keepdim = self.dims, self.keepdim
        centered = x - x.mean(dims, keepdim=True)
        g = grad if keepdim else grad.reshape(_kept_shape(x._data.shape, dims))
        return (g * centered * (2.0 / self.denom),)


class StdBackward0(Node):
    def backward(self, grad):
        x, result = self.saved_tensors
        dims, keepdim = self.dims, self.keepdim
        centered = x - x.mean(dims, keepdim=True)
        shape = _kept_shape(x._data.shape, dims)
        g = grad if keepdim else grad.reshape(shape)
        r = result if keepdim else result.reshape(shape)
        return (g * centered / (r * self.denom),)


def _var_std(input: Tensor, dim, unbiased, keepdim: bool, correction, is_std: bool) -> Tensor:
    if isinstance(dim, bool):  # var(x, False): the old `unbiased` positional
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    d = input._data
    if d.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = wrap_dims(dim, d.ndim)
    n = 1
    for i in dims:
        n *= d.shape[i]
    xp = input._device.backend.xp
    data = xp.var(d, axis=dims or None, ddof=correction, keepdims=keepdim)
    if is_std:
        data = xp.sqrt(data)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(StdBackward0() if is_std else VarBackward0(), (input,), out)
        node.save(input, out) if is_std else node.save(input)
        node.dims, node.keepdim, node.denom = dims, keepdim, n - correction
    return out


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


def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim``, computed stably."""
    d = input._data
    if d.dtype.kind != "f":
        d = d.astype(D.get_default_dtype().np)
    dims = wrap_dims(dim, d.ndim)
    out = Tensor._make(input._device.backend.logsumexp(d, dims, keepdim), input._device)
    if needs_grad(input):
        node = record(LogsumexpBackward0(), (input,), out)
        node.save(input, out)
        node.dims, node.keepdim = dims, keepdim
    return out


class NormBackward1(Node):
    def backward(self, grad):
        x, result = self.saved_tensors
        shape = _kept_shape(x._data.shape, self.dims)
        g = grad if self.keepdim else grad.reshape(shape)
        r = result if self.keepdim else result.reshape(shape)
        # the subgradient 0 at the origin, as PyTorch
        safe = r.masked_fill(r == 0, 1)
        return (g * x / safe * (r != 0),)


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Vector p-norm over ``dim`` (all elements by default): 2/'fro', 1, inf, -inf, any p."""
    x = input if dtype is None else input.to(dtype)
    if p in ("fro", 2, 2.0):
        d = x._data
        dims = wrap_dims(dim, d.ndim)
        xp = x._device.backend.xp
        data = xp.sqrt((d * d).sum(axis=dims or None, keepdims=keepdim))
        out = Tensor._make(data, x._device)
        if needs_grad(x):
            node = record(NormBackward1(), (x,), out)
            node.save(x, out)
            node.dims, node.keepdim = dims or tuple(range(d.ndim)), keepdim
        return out
    if p == float("inf"):
        return x.abs().amax(() if dim is None else dim, keepdim)
    if p == float("-inf"):
        return x.abs().amin(() if dim is None else dim, keepdim)
    if p == 1:
        return x.abs().sum(dim, keepdim=keepdim)
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim, keepdim=keepdim)
    return (x.abs() ** p).sum(dim, keepdim=keepdim) ** (1.0 / p)
