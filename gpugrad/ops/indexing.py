"""Indexing: t[key] (ints, slices, None, Ellipsis, integer and boolean tensors), index_select,
gather, scatter, index_add / index_copy / index_fill, take, masked_fill, nonzero. Backward of
every gather-like op scatter-adds, so repeated indices accumulate."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import broadcast_shape, check_device, grad_for, meta, needs_grad, record, wrap_dim

_BASIC = (int, slice, type(None), type(Ellipsis))


def convert_key(input: Tensor, key):
    """The key with Tensors/lists as arrays on the input's device; and whether it is basic."""
    if not isinstance(key, tuple):
        key = (key,)
    out, basic = [], True
    for k in key:
        if isinstance(k, _BASIC) and not isinstance(k, bool):
            out.append(k)
        elif isinstance(k, Tensor):
            check_device(input, k, "index")
            if k._data.dtype.kind not in "biu":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(k._data)
            basic = False
        elif isinstance(k, (list, tuple, bool)) or hasattr(k, "__array__"):
            arr = input._device.backend.asarray(k)
            if arr.dtype.kind not in "biu" and arr.size:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(arr.astype("int64") if arr.dtype.kind == "f" else arr)
            basic = False
        elif hasattr(k, "__index__"):
            out.append(k.__index__())
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                f"are valid indices (got {type(k).__name__})"
            )
    return tuple(out), basic


def _index(data, key):
    try:
        return data[key]
    except IndexError as e:
        raise _index_error(e, data, key) from None


def _index_error(e: IndexError, data, key) -> IndexError:
    """NumPy's indexing errors in PyTorch's words."""
    msg = str(e)
    if "boolean index did not match" in msg:
        dim = 0
        for k in key:
            if getattr(k, "dtype", None) is not None and k.dtype.kind == "b":
                for j, (m, s) in enumerate(zip(k.shape, data.shape[dim:])):
                    if m != s:
                        return IndexError(
                            f"The shape of the mask [{', '.join(map(str, k.shape))}] at index "
                            f"{j} does not match the shape of the indexed tensor "
                            f"[{', '.join(map(str, data.shape))}] at index {dim + j}"
                        )
                dim += k.ndim
            elif k is not None and k is not Ellipsis:
                dim += 1
    msg = msg.replace("axis", "dimension")
    return IndexError(msg[:1].lower() + msg[1:])  # CuPy says "Index ...", PyTorch "index ..."


class IndexBackward0(Node):
    def backward(self, grad):
        return (index_put_zeros(grad, self.shape, self.key, accumulate=True),)


class SliceBackward0(Node):
    def backward(self, grad):
        return (index_put_zeros(grad, self.shape, self.key, accumulate=False),)


class SelectBackward0(SliceBackward0):
    pass


def getitem(input: Tensor, key) -> Tensor:
    """``input[key]``: a view for basic keys, a copy for integer/boolean tensor keys."""
    key, basic = convert_key(input, key)
    if basic and Ellipsis not in key:
        key = key + (Ellipsis,)  # NumPy returns a scalar copy for x[0] on 1-D, not a 0-d view
    data = _index(input._data, key)
    if basic:
        out = Tensor._make(data, input._device, base=input)
        cls = SelectBackward0 if any(type(k) is int for k in key) else SliceBackward0
    else:
        out = Tensor._make(data, input._device)
        cls = IndexBackward0
    if needs_grad(input):
        node = record(cls(), (input,), out)
        node.shape, node.key = input._data.shape, key
    return out


class IndexPutZerosBackward0(Node):
    def backward(self, grad):
        return (grad_for(getitem_arrays(grad, self.key), self.mg),)


def getitem_arrays(t: Tensor, key) -> Tensor:
    """Index with an already converted key (used by backward formulas)."""
    out = Tensor._make(_index(t._data, key), t._device)
    if needs_grad(t):
        node = record(IndexBackward0(), (t,), out)
        node.shape, node.key = t._data.shape, key
    return out


def index_put_zeros(grad: Tensor, shape: tuple, key, accumulate: bool) -> Tensor:
    """Zeros of ``shape`` with ``grad`` placed (or, for repeated indices, added) at ``key``.

    ``grad`` may broadcast to the indexed shape (a 0-d loss gradient, say).
    """
    backend = grad._device.backend
    z = backend.xp.zeros(shape, grad._data.dtype)
    if accumulate:
        backend.scatter_add(z, key, grad._data)
    else:
        z[key] = grad._data
    out = Tensor._make(z, grad._device)
    if needs_grad(grad):
        node = record(IndexPutZerosBackward0(), (grad,), out)
        node.key, node.mg = key, meta(grad)
    return out


class IndexSelectBackward0(Node):
    def backward(self, grad):
        key = (slice(None),) * self.dim + (self.index,)
        return (index_put_zeros(grad, self.shape, key, accumulate=True), None)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Entries of ``input`` at ``index`` (1-D) along ``dim``."""
    check_device(input, index, "index_select")
    if index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = wrap_dim(dim, input._data.ndim)
    xp = input._device.backend.xp
    idx = index._data.reshape(-1)
    n = input._data.shape[d] if input._data.ndim else 1
    if idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):  # CuPy's take would wrap
        raise IndexError("index out of range in self")
    out = Tensor._make(xp.take(input._data, idx, axis=d), input._device)
    if needs_grad(input):
        node = record(IndexSelectBackward0(), (input, None), out)
        node.dim, node.index, node.shape = d, idx, input._data.shape
    return out


def _grid_key(xp, index, dim: int):
    """Full index arrays addressing ``index``'s positions, with ``index`` at ``dim``."""
    grids = list(xp.ix_(*[xp.arange(s) for s in index.shape]))
    grids[dim] = index
    return tuple(grids)


class GatherBackward0(Node):
    def backward(self, grad):
        (index,) = self.saved_tensors
        xp = grad._device.backend.xp
        key = _grid_key(xp, index._data, self.dim)
        return (index_put_zeros(grad, self.shape, key, accumulate=True), None)


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """out[i][j] = input[index[i][j]][j] for dim 0 (and likewise for other dims)."""
    check_device(input, index, "gather")
    if index._data.dtype.kind not in "iu":
        raise RuntimeError("gather(): Expected dtype int64 for index")
    d = wrap_dim(dim, input._data.ndim)
    if index._data.ndim != input._data.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    xp = input._device.backend.xp
    idx = index._data
    if idx.size:  # CuPy would wrap out-of-range indices silently
        lo, hi, n = int(idx.min()), int(idx.max()), input._data.shape[d]
        if hi >= n or lo < -n:
            raise RuntimeError(
                f"index {hi if hi >= n else lo} is out of bounds for dimension {d} with size {n}"
            )
    key = _grid_key(xp, idx, d)
    out = Tensor._make(_index(input._data, key), input._device)
    if needs_grad(input):
        node = record(GatherBackward0(), (input, None), out)
        node.save(index)
        node.dim, node.shape = d, input._data.shape
    return out


class ScatterBackward0(Node):
    def backward(self, grad):
        (index,) = self.saved_tensors
        xp = grad._device.backend.xp
        key = _grid_key(xp, index._data, self.dim)
        g_in = g_src = None
        if self.needs_input_grad(0):
            g_in = grad if self.add else _zero_at(grad, key)
        if self.needs_input_grad(2):
            g_src = getitem_arrays(grad, key)
        return (g_in, None, g_src)


class ScatterBackward1(ScatterBackward0):
    """scatter with a scalar value (PyTorch's name for that overload)."""


class ScatterAddBackward0(ScatterBackward0):
    pass


def _zero_at(grad: Tensor, key) -> Tensor:
    mask = grad._device.backend.xp.ones(grad._data.shape, bool)
    mask[key] = False
    return grad * Tensor._make(mask, grad._device)


def scatter(input: Tensor, dim: int, index: Tensor, src, *, reduce=None) -> Tensor:
    """A copy of ``input`` with ``src`` written at ``index`` along ``dim``."""
    return _scatter(input, dim, index, src, add=reduce == "add")


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeats add up)."""
    return _scatter(input, dim, index, src, add=True)


def _scatter(input: Tensor, dim: int, index: Tensor, src, add: bool) -> Tensor:
    check_device(input, index, "scatter")
    d = wrap_dim(dim, input._data.ndim)
    backend = input._device.backend
    key = _grid_key(backend.xp, index._data, d)
    data = input._data.copy()
    if isinstance(src, Tensor):
        check_device(input, src, "scatter")
        vals = _index(src._data, tuple(slice(0, s) for s in index._data.shape)).astype(
            data.dtype, copy=False
        )
    else:
        vals = src
    if add:
        backend.scatter_add(data, key, vals)
    else:
        data[key] = vals
    out = Tensor._make(data, input._device)
    src_t = src if isinstance(src, Tensor) else None
    if needs_grad(input, src_t):
        cls = (
            ScatterAddBackward0 if add else ScatterBackward1 if src_t is None else ScatterBackward0
        )
        node = record(cls(), (input, None, src_t), out)
        node.save(index)
        node.dim, node.add = d, add
    return out


def scatter_into_zeros(shape: tuple, dim: int, index: Tensor, src: Tensor) -> Tensor:
    z = Tensor._make(src._device.backend.xp.zeros(shape, src._data.dtype), src._device)
    return scatter(z, dim, index, src)


class MaskedFillBackward0(Node):
    def backward(self, grad):
        (mask,) = self.saved_tensors
        return (grad_for(grad.masked_fill(mask, 0), self.ma), None)


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """A copy of ``input`` with ``value`` where ``mask`` is True (mask broadcasts)."""
    check_device(input, mask, "masked_fill")
    if mask._data.dtype.kind != "b":
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype.name}"
        )
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s)."
            )
        if value._requires_grad:
            from .compare import where

            return where(mask, value.to(input.dtype).expand(input._data.shape), input)
        value = value.item()
    xp = input._device.backend.xp
    d = input._data
    data = xp.where(mask._data, d.dtype.type(value) if d.dtype.kind != "b" else bool(value), d)
    if data.shape != d.shape:
        raise RuntimeError(
            f"The size of the mask ({mask._data.shape}) must be broadcastable to the input "
            f"({d.shape}) without changing the input's shape"
        )
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(MaskedFillBackward0(), (input, None), out)
        node.save(mask)
        node.ma = meta(input)
    return out


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """Indices of non-zero elements: an (n, ndim) int64 tensor, or a tuple of 1-D tensors."""
    xp = input._device.backend.xp
    idx = xp.nonzero(input._data if input._data.ndim else input._data.reshape(1))
    if as_tuple:
        return tuple(Tensor._make(i.astype("int64"), input._device) for i in idx)
    return Tensor._make(xp.stack(idx, axis=1).astype("int64"), input._device)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    shape = broadcast_shape(input._data.shape, mask._data.shape)
    return getitem(input.expand(shape), mask.expand(shape))


def take_along_dim(input: Tensor, indices: Tensor, dim: int) -> Tensor:
    return gather(input, dim, indices)


# ---- index_put ------------------------------------------------------------------------
class IndexPutBackward0(Node):
    """out = input with values added at key: input's gradient passes through unchanged,
    the values' is the gradient at key (summed where the values were broadcast)."""

    def backward(self, grad):
        ga = grad if self.needs_input_grad(0) else None
        gv = None
        if self.needs_input_grad(1):
            gv = grad_for(getitem_arrays(grad, self.key), self.mv)
        return (ga, gv)


def _index_put_args(input: Tensor, indices, values, op: str):
    if not isinstance(indices, (tuple, list)) or not all(
        isinstance(i, Tensor) or i is None for i in indices
    ):
        raise TypeError(
            f"{op}(): argument 'indices' (position 1) must be tuple of Tensors, not "
            f"{type(indices).__name__}"
        )
    if not isinstance(values, Tensor):
        raise TypeError(
            f"{op}(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}"
        )
    check_device(input, values, op)
    if values.dtype != input.dtype:
        from .._dtype import scalar_type_name

        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{scalar_type_name(input.dtype)} for the destination and "
            f"{scalar_type_name(values.dtype)} for the source."
        )
    key, _ = convert_key(input, tuple(slice(None) if i is None else i for i in indices))
    return key


def _accumulated(input: Tensor, key, values: Tensor, out) -> None:
    """``out[key] += values`` with repeated indices adding up, errors in PyTorch's words."""
    try:
        input._device.backend.scatter_add(out, key, values._data)
    except IndexError as e:
        raise _index_error(e, input._data, key) from None
    except ValueError:
        shape = list(_index(input._data, key).shape)
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast "
            f"to indexing result of shape {shape}"
        ) from None


def index_put(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` with ``values`` written (or, with ``accumulate``, added: repeated
    indices add up) at the positions ``indices`` (a tuple of index tensors) select."""
    key = _index_put_args(input, indices, values, "index_put")
    if not accumulate:
        out = input.clone()
        out[tuple(indices)] = values
        return out
    data = input._data.copy()
    _accumulated(input, key, values, data)
    out = Tensor._make(data, input._device)
    if needs_grad(input, values):
        node = record(IndexPutBackward0(), (input, values), out)
        node.key, node.mv = key, meta(values)
    return out


def index_put_(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """In-place ``index_put``: ``input[indices] = values`` (or ``+=``, repeated indices adding
    up, with ``accumulate``)."""
    key = _index_put_args(input, indices, values, "index_put_")
    if not accumulate:
        input[tuple(indices)] = values
    elif needs_grad(input, values):
        input.copy_(index_put(input, indices, values, accumulate=True))  # records the graph
    else:
        _accumulated(input, key, values, input._data)
        input._bump_version()
    return input


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``input`` with ``alpha * source`` slices added at ``index`` along ``dim`` (repeats add)."""
    check_device(input, index, "index_add")
    nd = input._data.ndim
    d = wrap_dim(dim, nd) if nd else 0
    idx = index._data.reshape(-1)
    n = input._data.shape[d] if nd else 1
    if idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):
        raise IndexError("index out of range in self")
    src = source if alpha == 1 else source * alpha
    if src._data.dtype != input._data.dtype:
        src = src.to(input.dtype)
    key = (slice(None),) * d + (idx,)
    return input + index_put_zeros(src, input._data.shape, key, accumulate=True)


def take(input: Tensor, index: Tensor) -> Tensor:
    """Elements of the flattened ``input`` at ``index`` (result has ``index``'s shape)."""
    check_device(input, index, "take")
    n = input._data.size
    idx = index._data
    if idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):
        bad = int(idx.max()) if int(idx.max()) >= n else int(idx.min())
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    return getitem(input.reshape(-1), (index,))


class IndexCopyBackward0(Node):
    def backward(self, grad):
        d, index = self.dim, self.index
        key = (slice(None),) * d + (index,)
        gi = gs = None
        if self.needs_input_grad(0):
            gi = grad.clone()
            gi[key] = 0  # the copied-over slices got nothing from the input
        if self.needs_input_grad(1):
            gs = grad[key]
        return (gi, gs)


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` with the slices of ``source`` at ``index`` along ``dim``."""
    check_device(input, index, "index_copy")
    check_device(input, source, "index_copy")
    if index._data.dtype.kind not in "iu" or index._data.dtype.itemsize != 8:
        raise RuntimeError(
            "index_copy_(): Expected a long tensor for index, but got "
            f"{D.scalar_type_name(index._data.dtype)}"
        )
    nd = input._data.ndim
    d = wrap_dim(dim, nd) if nd else 0
    idx = index._data.reshape(-1)
    src_n = source._data.shape[d] if source._data.ndim else 1
    if idx.size != src_n:
        raise IndexError(
            f"index_copy_(): Number of indices ({idx.size}) should be equal to "
            f"source.size(dim) ({src_n})"
        )
    n = input._data.shape[d] if nd else 1
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if hi >= n or lo < 0:
            raise IndexError(
                f"index_copy_(): index {hi if hi >= n else lo} is out of bounds for dimension "
                f"{d} with size {n}"
            )
    key = (slice(None),) * d + (idx,)
    data = input._data.copy()
    data[key] = source._data
    out = Tensor._make(data, input._device)
    if needs_grad(input, source):
        node = record(IndexCopyBackward0(), (input, source), out)
        node.dim, node.index = d, Tensor._make(idx, input._device)
    return out


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """A copy of ``input`` with ``value`` (a number or 0-d tensor) at ``index`` along ``dim``;
    no gradient reaches the filled positions."""
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s)."
            )
        value = value.item()
    d = wrap_dim(dim, input._data.ndim)
    out = input.clone()
    out[(slice(None),) * d + (index,)] = value
    return out
