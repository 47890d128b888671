"""Indexing: t[key] (ints, slices, None, Ellipsis, integer and boolean tensors), index_select,
gather, scatter, index_add / index_copy / index_fill, take, masked_fill, nonzero. Backward of
every gather-like op scatter-adds, so repeated indices accumulate."""

from __future__ import annotations

from .. import _dtype as D
from .. import _warn
from .._tensor import Tensor
from ..autograd.graph import Node
from . import _checks as C
from ._util import (
    broadcast_error,
    broadcast_shape,
    check_device,
    grad_for,
    meta,
    needs_grad,
    record,
    wrap_dim,
)

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
            out.append(_index_array(k._data))
            basic = False
        elif isinstance(k, (list, tuple, bool)) or hasattr(k, "__array__"):
            arr = input._device.backend.asarray(k)
            if arr.dtype.kind not in "biu" and arr.size:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(arr.astype("int64") if D.is_floating(arr.dtype) else arr)
            basic = False
        elif hasattr(k, "__index__"):
            out.append(k.__index__())
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                f"are valid indices (got {type(k).__name__})"
            )
    return tuple(out), basic


_INDEX_DTYPES = frozenset(("int64", "int32", "bool"))


def _index_array(arr):
    """A tensor index as PyTorch reads it: long, int or bool; a byte tensor is a mask."""
    name = D.np_name(arr.dtype)
    if name in _INDEX_DTYPES:
        return arr
    if name == "uint8":
        _warn.warn(
            "indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool "
            "instead.",
            UserWarning,
        )
        return arr.astype(bool)
    raise IndexError("tensors used as indices must be long, int, byte or bool tensors")


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
    elif not basic:  # a read: on CUDA possibly checked on the device, the key made safe
        key = C.checked_key(input._device.backend, input._data.shape, key)
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
    C.require_int32_64(index._data, "index_select(): Expected dtype int32 or int64 for index")
    d = wrap_dim(dim, input._data.ndim)
    backend = input._device.backend
    xp = backend.xp
    idx = index._data.reshape(-1)
    n = input._data.shape[d] if input._data.ndim else 1
    idx = C.checked_in_self(backend, idx, n)  # NumPy's take would wrap a negative, CuPy any
    out = Tensor._make(xp.take(input._data, idx, axis=d), input._device)
    if needs_grad(input):
        node = record(IndexSelectBackward0(), (input, None), out)
        node.dim, node.index, node.shape = d, idx, input._data.shape
    return out


def _check_index_fits(index_shape: tuple, shape: tuple, dim: int) -> None:
    """gather's rule: ``index`` no larger than ``input`` in every dimension but ``dim``."""
    for i, (m, s) in enumerate(zip(index_shape, shape)):
        if i != dim and m > s:
            raise RuntimeError(
                f"Size does not match at dimension {i} expected index {list(index_shape)} to be "
                f"no larger than self {list(shape)} apart from dimension {dim}"
            )


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
    C.require_int32_64(index._data, "gather(): Expected dtype int32/int64 for index")
    d = wrap_dim(dim, input._data.ndim)
    if index._data.ndim != input._data.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    backend = input._device.backend
    xp = backend.xp
    idx = index._data
    if idx.size:
        _check_index_fits(idx.shape, input._data.shape, d)
        n = input._data.shape[d] if input._data.ndim else 1
        idx = C.checked_dim_index(backend, idx, n, d, negative=False)
    key = _grid_key(xp, idx, d)
    out = Tensor._make(_index(input._data, key), input._device)
    if needs_grad(input):
        node = record(GatherBackward0(), (input, None), out)
        node.save(index if idx is index._data else Tensor._make(idx, index._device))
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
    if reduce not in (None, "add"):
        if reduce == "multiply":  # not silently a plain scatter
            raise NotImplementedError("scatter(reduce='multiply') is not supported by gpugrad")
        raise RuntimeError("reduce argument must be either add or multiply.")
    return _scatter(input, dim, index, src, add=reduce == "add")


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeats add up)."""
    if not isinstance(src, Tensor):  # no Number form, unlike scatter
        raise TypeError(
            f"scatter_add(): argument 'src' (position 4) must be Tensor, not {type(src).__name__}"
        )
    return _scatter(input, dim, index, src, add=True)


def _check_scatter_args(input: Tensor, d: int, index: Tensor, src) -> None:
    """PyTorch's scatter checks, all before any write: index dtype, ranks, sizes, range."""
    idx, shape = index._data, input._data.shape
    C.require_int32_64(idx, "scatter(): Expected dtype int32/int64 for index")
    src_t = src if isinstance(src, Tensor) else None
    if src_t is not None and src_t._data.dtype != input._data.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if idx.ndim != input._data.ndim and idx.size:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if src_t is not None and src_t._data.ndim != idx.ndim and idx.size:
        _src_sizes(idx.shape, shape, src_t._data.shape, d)
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    if not idx.size:
        return
    too_big = any(i != d and m > s for i, (m, s) in enumerate(zip(idx.shape, shape)))
    if src_t is None:
        if too_big:
            raise RuntimeError(
                f"Expected index {list(idx.shape)} to be no larger than self {list(shape)} "
                f"apart from dimension {d}"
            )
    elif too_big or any(m > s for m, s in zip(idx.shape, src_t._data.shape)):
        raise RuntimeError(
            f"Expected index {list(idx.shape)} to be no larger than self {list(shape)} apart "
            f"from dimension {d} and to be no larger size than src {list(src_t._data.shape)}"
        )
    n = shape[d] if shape else 1
    C.check_dim_index(input._device.backend, idx, n, d, negative=False)


def _src_sizes(idx_shape: tuple, shape: tuple, src_shape: tuple, d: int) -> None:
    """PyTorch's size walk over a src of another rank: it asks src.size(k) (an IndexError past
    a lower rank) until an index size exceeds self's or src's."""
    if any(k != d and m > s for k, (m, s) in enumerate(zip(idx_shape, shape))) or not src_shape:
        return
    for k, m in enumerate(idx_shape):
        if m > src_shape[wrap_dim(k, len(src_shape))]:
            return


def _scatter(input: Tensor, dim: int, index: Tensor, src, add: bool) -> Tensor:
    if src is None:  # a Tensor or a Number, as PyTorch's parser takes it
        raise TypeError(
            "scatter() received an invalid combination of arguments - got (Tensor, int, "
            "Tensor, NoneType), but expected src to be a Tensor or value a Number"
        )
    check_device(input, index, "scatter")
    d = wrap_dim(dim, input._data.ndim)
    if isinstance(src, Tensor):
        check_device(input, src, "scatter")
    _check_scatter_args(input, d, index, src)
    backend = input._device.backend
    data = input._data.copy()
    if index._data.size:
        key = _grid_key(backend.xp, index._data, d)
        if isinstance(src, Tensor):
            vals = _index(src._data, tuple(slice(0, s) for s in index._data.shape))
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
    if mask._data.shape != d.shape:  # PyTorch's expand_outplace(mask, self): both broadcast
        try:
            broadcast_shape(mask._data.shape, d.shape)
        except RuntimeError:
            raise broadcast_error(mask._data, d) from None
    data = xp.where(mask._data, d.dtype.type(value) if d.dtype.kind != "b" else bool(value), d)
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
    if not input._data.ndim:  # one row per hit, no columns: PyTorch's [n, 0]
        return Tensor._make(xp.zeros((idx[0].shape[0], 0), dtype="int64"), input._device)
    return Tensor._make(xp.stack(idx, axis=1).astype("int64"), input._device)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    if mask._data.dtype.kind != "b":  # an integer mask would index positions
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = broadcast_shape(input._data.shape, mask._data.shape)
    return getitem(input.expand(shape), mask.expand(shape))


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
    C.check_key_ranges(input._device.backend, input._data.shape, key)
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
    check_device(input, source, "index_add")
    idx_data = index._data
    C.require_int32_64(idx_data, "index_add_(): Expected dtype int32/int64 for index but got: {}")
    if idx_data.ndim > 1:
        raise IndexError("index_add_(): Index is supposed to be a vector")
    nd = input._data.ndim
    d = wrap_dim(dim, nd)  # a 0-d self takes dims -1 and 0, as PyTorch's
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"index_add_(): self ({C.type_name(input._data)}) and source "
            f"({C.type_name(source._data)}) must have the same scalar type"
        )
    idx = idx_data.reshape(-1)
    if 0 < source._data.ndim <= d:  # a source of lower rank has no such dim to index
        raise RuntimeError(
            f"index_add_(): Indexing dim {d} is out of bounds of the source tensor with dim "
            f"{source._data.ndim}"
        )
    src_n = source._data.shape[d] if source._data.ndim else 1
    if idx.size != src_n:
        raise RuntimeError(
            f"index_add_(): Number of indices ({idx.size}) should be equal to "
            f"source.size(dim): ({src_n}), for dim: {d}"
        )
    _check_slices(input._data.shape, source._data.shape, d)
    n = input._data.shape[d] if nd else 1
    C.check_in_self(input._device.backend, idx, n)
    src = source if alpha == 1 else source * alpha
    key = (slice(None),) * d + (idx,)
    return input + index_put_zeros(src, input._data.shape, key, accumulate=True)


def _check_slices(shape: tuple, src_shape: tuple, d: int) -> None:
    if len(shape) > 1 or len(src_shape) > 1:
        rest = [s for i, s in enumerate(shape) if i != d]
        src_rest = [s for i, s in enumerate(src_shape) if i != d]
        if rest != src_rest:
            raise RuntimeError(
                "source tensor shape must match self tensor shape, excluding the specified "
                f"dimension. Got self.shape = {list(shape)} source.shape = {list(src_shape)}"
            )


def take(input: Tensor, index: Tensor) -> Tensor:
    """Elements of the flattened ``input`` at ``index`` (result has ``index``'s shape)."""
    check_device(input, index, "take")
    C.require_int64(index._data, "take(): Expected a long tensor for index, but got {}")
    idx = C.checked_flat_index(input._device.backend, index._data, input._data.size)
    return _getitem_checked(input.reshape(-1), (idx,))


def _getitem_checked(input: Tensor, key: tuple) -> Tensor:
    """``input[key]`` for an integer-array key already range-checked."""
    out = Tensor._make(_index(input._data, key), input._device)
    if needs_grad(input):
        node = record(IndexBackward0(), (input,), out)
        node.shape, node.key = input._data.shape, key
    return out


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` (read flattened) with ``source`` written, or with ``accumulate``
    added (repeated indices adding up), at ``index``."""
    check_device(input, index, "put_")
    check_device(input, source, "put_")
    C.require_int64(index._data, "put_(): Expected a long tensor for index, but got {}")
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(
            "put_(): self and source expected to have the same dtype, but got self.dtype = "
            f"{C.type_name(input._data)} and source.dtype = {C.type_name(source._data)}"
        )
    if index._data.size != source._data.size:
        raise IndexError(
            "put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source._data.size}, index.numel() = {index._data.size}"
        )
    C.check_flat_index(input._device.backend, index._data, input._data.size)
    flat = index.reshape(-1)
    values = source.reshape(-1)
    if accumulate:
        return index_put(input.reshape(-1), (flat,), values, accumulate=True).reshape(input.shape)
    out = input.reshape(-1).clone()
    out[flat] = values
    return out.reshape(input.shape)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """Values of ``input`` at ``indices`` along ``dim`` (the two broadcast in the other
    dimensions; negative indices count from the end); the flattened input without ``dim``."""
    check_device(input, indices, "take_along_dim")
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    C.require_int64(
        indices._data, "torch.take_along_dim(): dtype of indices should be Long but got {}"
    )
    nd = input._data.ndim
    if indices._data.ndim != nd:
        raise RuntimeError(
            "torch.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {nd} dimensions for input, and {indices._data.ndim} "
            "dimensions for indices"
        )
    d = wrap_dim(dim, nd)
    others = [list(t._data.shape) for t in (input, indices)]
    for o in others:
        o[d] = 1  # ``dim`` keeps its own size in each
    shape = list(broadcast_shape(*others))
    in_shape, idx_shape = list(shape), list(shape)
    in_shape[d], idx_shape[d] = input._data.shape[d], indices._data.shape[d]
    n = in_shape[d]
    backend = input._device.backend
    idx = indices._data
    idx = C.checked_dim_index(backend, idx, n, d, negative=True, wrap=True)  # into [0, n)
    idx_t = Tensor._make(backend.xp.broadcast_to(idx, tuple(idx_shape)), input._device)
    x = input if list(input._data.shape) == in_shape else input.expand(*in_shape)
    return gather(x, d, idx_t)


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
    # PyTorch's order: the ranks of source and self, then the dtypes
    s_nd, nd = source._data.ndim, input._data.ndim
    if s_nd == 0 and index._data.size != 1:
        raise IndexError(
            f"index_copy_(): When source is scalar, index should have one element "
            f"(got {index._data.size})"
        )
    if s_nd != nd and s_nd and nd:
        raise IndexError(
            "index_copy_(): When source and destination are not scalars, their dimensionality "
            f"must match. Source dimensionality ({s_nd}), destination dimensionality ({nd})"
        )
    C.require_int64(index._data, "index_copy_(): Expected a long tensor for index, but got {}")
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(
            "index_copy_(): self and source expected to have the same dtype, but got (self) "
            f"{C.type_name(input._data)} and (source) {C.type_name(source._data)}"
        )
    nd = input._data.ndim
    d = wrap_dim(dim, nd)  # a 0-d self takes dims -1 and 0, as PyTorch's
    idx = index._data.reshape(-1)
    # PyTorch's order: the slice shapes (each shape without dim), then the number of indices
    cut = [[n for i, n in enumerate(t._data.shape) if i != d] for t in (input, source)]
    if cut[0] != cut[1]:
        raise RuntimeError(
            "index_copy_(): Source/destination tensor must have same slice shapes. "
            f"Destination slice shape: {' '.join(map(str, cut[0]))} at dimension {d} and "
            f"source slice shape: {' '.join(map(str, cut[1]))} at dimension 0."
        )
    src_n = source._data.shape[d] if source._data.ndim else 1
    if idx.size != src_n:
        raise IndexError(
            f"index_copy_(): Number of indices ({idx.size}) should be equal to "
            f"source.size(dim) ({src_n})"
        )
    n = input._data.shape[d] if nd else 1
    C.check_dim_index(
        input._device.backend, idx, n, d, negative=False, exc=IndexError, op="index_copy_(): "
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
    check_device(input, index, "index_fill_")
    C.require_int64(index._data, "index_fill_(): Expected dtype int64 for index.", IndexError)
    if index._data.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    nd = input._data.ndim
    d = wrap_dim(dim, nd)
    n = input._data.shape[d] if nd else 1
    C.check_dim_index(input._device.backend, index._data, n, d, negative=True, exc=IndexError)
    out = input.clone()
    out[(slice(None),) * d + (index.reshape(-1),)] = value
    return out
