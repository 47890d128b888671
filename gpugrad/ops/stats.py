"""Order statistics and summaries: kthvalue, quantile, mode, aminmax, cummax / cummin,
histc, logit, xlogy.

Composites of differentiable ops where PyTorch's gradient is the composite's (kthvalue and
quantile through sort; aminmax through amin/amax); xlogy is a node of its own, because the
composite's gradient would be 0 * log(0) = nan where x == 0.
"""

from __future__ import annotations

import math

from .. import return_types
from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import binary_arrays, grad_for, needs_grad, record, wrap_dim
from .shape import stack

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The k-th smallest element (1-based) along ``dim``, and its index."""
    x = input if input.ndim else input.reshape(1)
    d = wrap_dim(dim, x.ndim)
    if not 1 <= k <= x.shape[d]:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    s = x.sort(d, stable=True)
    values, indices = s.values.narrow(d, k - 1, 1), s.indices.narrow(d, k - 1, 1)
    if not keepdim or not input.ndim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return return_types.kthvalue(values, indices)


def quantile(
    input: Tensor, q, dim: int | None = None, keepdim: bool = False, *, interpolation="linear"
) -> Tensor:
    """The ``q``-th quantiles (a number, or a 1-D tensor of them: a leading dim) along
    ``dim`` (of all elements by default); NaN in a slice gives NaN, as in PyTorch."""
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            "quantile() interpolation must be one of linear, lower, higher, midpoint or "
            f"nearest, but got {interpolation}"
        )
    if isinstance(q, Tensor):
        if q._data.ndim > 1:
            raise RuntimeError("quantile() q must be a scalar or 1D tensor")
        if q._data.dtype != input._data.dtype:
            raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
    qs = q.tolist() if isinstance(q, Tensor) else q
    many = isinstance(qs, list)
    for v in qs if many else [qs]:
        if not 0 <= v <= 1:
            raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {v}")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, x.ndim)
    n = x.shape[d]
    if n == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    s = x.sort(d).values
    nan = s.isnan().any(d, keepdim=True)  # NaN sorts last: any NaN makes the answer NaN
    outs = [
        _pick(s, d, v * (n - 1), interpolation).masked_fill(nan, math.nan)
        for v in (qs if many else [qs])
    ]
    if keepdim:
        shape = [1] * input.ndim if dim is None else list(outs[0].shape)
        outs = [o.reshape(shape) for o in outs]
    else:
        outs = [o.squeeze(d) for o in outs]
    return stack(outs) if many else outs[0]


def _pick(s: Tensor, d: int, pos: float, how: str) -> Tensor:
    lo, hi = math.floor(pos), math.ceil(pos)
    if how == "nearest":
        lo = hi = round(pos)  # half to even, as PyTorch's round
    elif how == "lower":
        hi = lo
    elif how == "higher":
        lo = hi
    a = s.narrow(d, lo, 1)
    if hi == lo:
        return a
    b = s.narrow(d, hi, 1)
    return (a + b) / 2 if how == "midpoint" else a + (b - a) * (pos - lo)


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False):
    """(min, max) of all elements, or along ``dim``."""
    if input.numel() == 0:
        raise RuntimeError(
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
            "identity."
        )
    dims = () if dim is None else dim
    return return_types.aminmax(input.amin(dims, keepdim), input.amax(dims, keepdim))


class CummaxBackward0(Node):
    def backward(self, grad, grad_indices=None):
        (indices,) = self.saved_tensors
        if not self.shape:  # a 0-d input is its own running extreme
            return (grad,)
        # each output took its value from one input: the gradients add up there
        return (grad.new_zeros(self.shape).scatter_add(self.dim, indices, grad),)


class CumminBackward0(CummaxBackward0):
    pass


def _cumulative(input: Tensor, dim: int, largest: bool):
    x = input if input._data.ndim else input.reshape(1)
    d = wrap_dim(dim, x._data.ndim)
    backend = input._device.backend
    xp = backend.xp
    a = x._data
    values = backend.cum_extreme(a, d, largest)
    # a position takes the running extreme's index when it is (one of) the extreme(s) so far,
    # the latest one on ties, as PyTorch; a NaN stays the extreme from where it appears
    here = (a == values) | xp.isnan(a) if a.dtype.kind == "f" else a == values
    pos = xp.arange(a.shape[d]).reshape((-1,) + (1,) * (a.ndim - d - 1))
    indices = backend.cum_extreme(xp.where(here, pos, 0), d, True).astype("int64")
    if not input._data.ndim:
        values, indices = values.reshape(()), indices.reshape(())
    out = Tensor._make(values, input._device)
    idx = Tensor._make(indices, input._device)
    if needs_grad(input):
        node = record((CummaxBackward0 if largest else CumminBackward0)(), (input,), out)
        node.save(idx)
        node.dim, node.shape = (d if input._data.ndim else 0), input._data.shape
    result = return_types.cummax if largest else return_types.cummin
    return result(out, idx)


def cummax(input: Tensor, dim: int):
    """Running maximum along ``dim`` and the index it came from."""
    return _cumulative(input, dim, largest=True)


def cummin(input: Tensor, dim: int):
    """Running minimum along ``dim`` and the index it came from."""
    return _cumulative(input, dim, largest=False)


class ModeBackward0(Node):
    def backward(self, grad, grad_indices=None):
        (indices,) = self.saved_tensors
        if not self.shape:
            return (grad,)
        d = self.dim
        g, idx = (grad, indices) if self.keepdim else (grad.unsqueeze(d), indices.unsqueeze(d))
        return (grad.new_zeros(self.shape).scatter(d, idx, g),)


def mode(input: Tensor, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the
    index of its last occurrence, as PyTorch."""
    a = input._data
    d = wrap_dim(dim, a.ndim) if a.ndim else 0
    backend = input._device.backend
    xp = backend.xp
    x = xp.moveaxis(a.reshape(1) if not a.ndim else a, d, -1)
    n = x.shape[-1]
    if n == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    order = backend.argsort_stable(x, -1)
    s = xp.take_along_axis(x, order, axis=-1)
    pos = xp.arange(n)
    new = xp.ones(s.shape, dtype=bool)
    new[..., 1:] = s[..., 1:] != s[..., :-1]  # a run of equal values starts here
    last = xp.ones(s.shape, dtype=bool)
    last[..., :-1] = new[..., 1:]  # ... and ends here
    start = backend.cum_extreme(xp.where(new, pos, 0), -1, True)
    length = xp.where(last, pos - start + 1, 0)  # counted at each run's last element
    best = xp.argmax(length, axis=-1)[..., None]  # ties: the first, i.e. smallest value
    values = xp.take_along_axis(s, best, axis=-1)[..., 0]
    indices = xp.take_along_axis(order, best, axis=-1)[..., 0].astype("int64")
    if keepdim and a.ndim:
        values, indices = xp.expand_dims(values, d), xp.expand_dims(indices, d)
    if not a.ndim:
        values, indices = values.reshape(()), indices.reshape(())
    out = Tensor._make(values, input._device)
    idx = Tensor._make(indices, input._device)
    if needs_grad(input):
        node = record(ModeBackward0(), (input,), out)
        node.save(idx)
        node.dim, node.keepdim, node.shape = d, keepdim, a.shape
    return return_types.mode(out, idx)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Counts in ``bins`` equal bins over [min, max] (the data's range when min == max);
    values outside are ignored. No gradient, as in PyTorch."""
    x = input._data
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:  # PyTorch widens an empty range by one on each side
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    xp = input._device.backend.xp
    counts, _ = xp.histogram(x, bins=bins, range=(lo, hi))
    return Tensor._make(counts.astype(x.dtype), input._device)


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when ``eps`` is given."""
    z = input if eps is None else input.clamp(eps, 1 - eps)
    return (z / (1 - z)).log()


class XlogyBackward0(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        gx = grad * xlogy((x != 0).to(grad.dtype), y) if self.needs_input_grad(0) else None
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
    with_log = a * xp.log(b)
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


__all__ = [
    "aminmax",
    "cummax",
    "cummin",
    "histc",
    "kthvalue",
    "logit",
    "mode",
    "quantile",
    "xlogy",
]
