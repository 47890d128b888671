"""Shape ops: views and reshapes (reshape of contiguous data, permute, expand, squeeze ...
share memory and the version counter with their base), joins and splits (cat, stack, split,
tensor_split, the h/v/d stacks ...), and rearrangements that copy (flip, roll, rot90, repeat,
tile, repeat_interleave, unfold's windows)."""

from __future__ import annotations

import operator
from collections.abc import Sequence

from .. import _warn
from .._tensor import Tensor, _data_ptr
from ..autograd.graph import Node
from ._util import (
    broadcast_shape,
    check_devices,
    index_tensor,
    needs_grad,
    record,
    sum_to,
    wrap_dim,
)
from .indexing import getitem, index_select


def _join(shape) -> str:
    return ", ".join(map(str, shape))


def _view(input: Tensor, data, node_cls, **attrs) -> Tensor:
    out = Tensor._make(data, input._device, base=input)
    if needs_grad(input):
        node = record(node_cls(), (input,), out)
        for k, v in attrs.items():
            setattr(node, k, v)
    return out


def _infer_shape(shape, numel: int) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(
                f"shape '[{', '.join(map(str, shape))}]' is invalid for input of size {numel}"
            )
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(
            f"shape '[{', '.join(map(str, shape))}]' is invalid for input of size {numel}"
        )
    return shape


class ViewBackward0(Node):
    def backward(self, grad):
        return (grad.reshape(self.shape),)


class UnsafeViewBackward0(ViewBackward0):
    pass


def reshape(input: Tensor, *shape) -> Tensor:
    """The same elements in a new shape: a view when the data is contiguous, else a copy."""
    d = input._data
    shape = _infer_shape(shape, d.size)
    if shape == d.shape:
        return (
            _view(input, d, ViewBackward0, shape=d.shape)
            if needs_grad(input)
            else Tensor._make(d, input._device, base=input)
        )
    if d.flags.c_contiguous:
        return _view(input, d.reshape(shape), ViewBackward0, shape=d.shape)
    xp = input._device.backend.xp
    out = Tensor._make(xp.ascontiguousarray(d).reshape(shape), input._device)
    if needs_grad(input):
        record(UnsafeViewBackward0(), (input,), out).shape = d.shape
    return out


def view(input: Tensor, *shape) -> Tensor:
    """A view with a new shape; the data must be contiguous (PyTorch's error otherwise)."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)):
        return input.to(shape[0])  # view(dtype) is not supported beyond same-size casts
    d = input._data
    new = _infer_shape(shape, d.size)
    r = d.reshape(new)
    # NumPy/CuPy reshape a non-contiguous array without copying whenever its strides allow,
    # which is exactly when PyTorch's view succeeds; a new data pointer means they copied.
    if d.size and not d.flags.c_contiguous and _data_ptr(r) != _data_ptr(d):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        )
    return _view(input, r, ViewBackward0, shape=d.shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    shape = input._data.shape
    if not shape:
        return reshape(input, (1,))
    s, e = wrap_dim(start_dim, len(shape)), wrap_dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    n = 1
    for k in shape[s : e + 1]:
        n *= k
    return reshape(input, shape[:s] + (n,) + shape[e + 1 :])


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    shape = input._data.shape
    d = wrap_dim(dim, len(shape))
    sizes = _infer_shape(tuple(sizes), shape[d])
    return reshape(input, shape[:d] + sizes + shape[d + 1 :])


class SqueezeBackward0(Node):
    def backward(self, grad):
        return (grad.reshape(self.shape),)


class SqueezeBackward1(SqueezeBackward0):
    pass


class UnsqueezeBackward0(SqueezeBackward0):
    pass


def squeeze(input: Tensor, dim=None) -> Tensor:
    """Drop dims of size 1 (all, or those in ``dim``)."""
    shape = input._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
        cls = SqueezeBackward0
    else:
        dims = {
            wrap_dim(d, len(shape)) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))
        }
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
        cls = SqueezeBackward1
    return _view(input, input._data.reshape(new), cls, shape=shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim``."""
    shape = input._data.shape
    d = wrap_dim(dim, len(shape) + 1)
    return _view(
        input, input._data.reshape(shape[:d] + (1,) + shape[d:]), UnsqueezeBackward0, shape=shape
    )


class PermuteBackward0(Node):
    def backward(self, grad):
        return (grad.permute(self.inverse),)


def permute(input: Tensor, *dims) -> Tensor:
    """Reorder dims."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not "
            f"equal to len(dims) = {len(dims)}"
        )
    dims = tuple(wrap_dim(d, nd) for d in dims)
    if len(set(dims)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    inverse = [0] * nd
    for i, d in enumerate(dims):
        inverse[d] = i
    return _view(input, input._data.transpose(dims), PermuteBackward0, inverse=tuple(inverse))


class TransposeBackward0(Node):
    def backward(self, grad):
        return (grad.transpose(self.d0, self.d1),)


class TBackward0(Node):
    def backward(self, grad):
        return (grad.t(),)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view)."""
    nd = input._data.ndim
    d0, d1 = wrap_dim(dim0, nd), wrap_dim(dim1, nd)
    if nd < 2:
        return _view(input, input._data, TransposeBackward0, d0=0, d1=0)
    return _view(input, input._data.swapaxes(d0, d1), TransposeBackward0, d0=d0, d1=d1)


def t(input: Tensor) -> Tensor:
    """Transpose a tensor of at most 2 dims."""
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return _view(input, input._data.T, TBackward0)


class ExpandBackward0(Node):
    def backward(self, grad):
        return (sum_to(grad, self.shape),)


def expand(input: Tensor, *sizes) -> Tensor:
    """Broadcast size-1 dims to ``sizes`` without copying (-1 keeps a dim)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{[{_join(shape)}]}}, size=[{_join(sizes)}]): "
            "the number of sizes provided "
            f"({len(sizes)}) must be greater or equal to the number of dimensions in the tensor "
            f"({len(shape)})"
        )
    lead = len(sizes) - len(shape)
    target = tuple(
        (shape[i - lead] if s == -1 else s) if i >= lead else s for i, s in enumerate(sizes)
    )
    for i, s in enumerate(shape):
        if s != 1 and s != target[i + lead]:
            raise RuntimeError(
                f"The expanded size of the tensor ({target[i + lead]}) must match the existing "
                f"size ({s}) at non-singleton dimension {i + lead}.  Target sizes: "
                f"[{', '.join(map(str, sizes))}].  Tensor sizes: [{', '.join(map(str, shape))}]"
            )
    if target == shape:
        return _view(input, input._data, ExpandBackward0, shape=shape)
    xp = input._device.backend.xp
    return _view(input, xp.broadcast_to(input._data, target), ExpandBackward0, shape=shape)


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, other._data.shape)


def broadcast_to(input: Tensor, size: Sequence[int]) -> Tensor:
    return expand(input, tuple(size))


def broadcast_shapes(*shapes) -> tuple:
    """The shape that ``shapes`` (tuples, or ints for 1-D shapes) broadcast to, with the
    errors of PyTorch's reference implementation (torch._refs._broadcast_shapes)."""
    shapes = [(s,) if isinstance(s, int) else s for s in shapes if s is not None]
    for s in shapes:
        if not isinstance(s, (tuple, list)):
            raise RuntimeError(
                f"Input shapes should be of type ints, a tuple of ints, or a list of ints, got {s}"
            )
    common = [1] * max((len(s) for s in shapes), default=0)
    for k, s in enumerate(shapes):
        for i in range(-1, -1 - len(s), -1):
            if s[i] == common[i]:
                continue
            if common[i] == 1:
                if s[i] < 0:
                    raise ValueError("Attempting to broadcast a dimension with negative length!")
                common[i] = s[i]
            if s[i] != 1 and s[i] != common[i]:
                raise RuntimeError(
                    f"Attempting to broadcast a dimension of length {s[i]} at {i}! Mismatching "
                    f"argument at index {k} had {s}; but expected shape should be broadcastable "
                    f"to {common}"
                )
    return tuple(common)


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    shape = broadcast_shape(*(t._data.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


# ---- joins and splits ----------------------------------------------------------------
class CatBackward0(Node):
    def backward(self, grad):
        out, start = [], 0
        for n, dt in zip(self.sizes, self.dtypes):
            g = grad.narrow(self.dim, start, n)
            out.append(g if g.dtype == dt else g.to(dt))  # mixed dtypes were promoted
            start += n
        return tuple(out)


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    check_devices(tensors, "cat")
    first = tensors[0]
    nd = first._data.ndim
    d = wrap_dim(dim, nd)
    ref = first._data.shape
    for i, t in enumerate(tensors):
        s = t._data.shape
        if len(s) != nd:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {nd} and {len(s)}"
            )
        for k in range(nd):
            if k != d and s[k] != ref[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref[k]} but got size {s[k]} for tensor number {i} in the list."
                )
    from .. import _dtype as D

    dt = first.dtype
    for t in tensors[1:]:
        dt = D.promote_types(dt, t.dtype)
    xp = first._device.backend.xp
    data = xp.concatenate([t._data.astype(dt.np, copy=False) for t in tensors], axis=d)
    out = Tensor._make(data, first._device)
    if needs_grad(*tensors):
        node = record(CatBackward0(), tuple(tensors), out)
        node.dim, node.sizes = d, [t._data.shape[d] for t in tensors]
        node.dtypes = [t.dtype for t in tensors]
    return out


concat = concatenate = cat


class StackBackward0(Node):
    def backward(self, grad):
        # each input's gradient in its own dtype (the join promotes mixed dtypes)
        return tuple(
            g if g.dtype == dt else g.to(dt) for g, dt in zip(grad.unbind(self.dim), self.dtypes)
        )


def stack(tensors, dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new dim (one StackBackward0 node, as PyTorch's)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got [{_join(shape)}] at "
                f"entry 0 and [{_join(t._data.shape)}] at entry {i}"
            )
    check_devices(tensors, "stack")
    d = wrap_dim(dim, len(shape) + 1)
    from .. import _dtype as D

    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = D.promote_types(dt, t.dtype)
    xp = tensors[0]._device.backend.xp
    data = xp.stack([t._data.astype(dt.np, copy=False) for t in tensors], axis=d)
    out = Tensor._make(data, tensors[0]._device)
    if needs_grad(*tensors):
        node = record(StackBackward0(), tuple(tensors), out)
        node.dim, node.dtypes = d, [t.dtype for t in tensors]
    return out


class SplitBackward0(Node):
    def backward(self, *grads):
        return (cat(list(grads), self.dim),)


class UnbindBackward0(Node):
    def backward(self, *grads):
        return (stack(list(grads), self.dim),)


def _split_views(input: Tensor, dim: int, sizes, node_cls, squeeze_dim: bool = False):
    d = wrap_dim(dim, input._data.ndim)
    data, outs, start = input._data, [], 0
    for n in sizes:
        # the trailing Ellipsis keeps 0-d results views (NumPy would return scalar copies)
        idx = (slice(None),) * d + ((start if squeeze_dim else slice(start, start + n)), ...)
        outs.append(Tensor._make(data[idx], input._device, base=input))
        start += n
    outs = tuple(outs)
    if needs_grad(input):
        record(node_cls(), (input,), outs).dim = d
    return outs


def split(tensor: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0):
    """Split into chunks of a given size (the last may be smaller) or of given sizes."""
    if tensor._data.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    length = tensor._data.shape[wrap_dim(dim, tensor._data.ndim)]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got {step}")
        sizes = [min(step, length - i) for i in range(0, length, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != length:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {length} (input tensor's "
                f"size at dimension {dim}), but got split_sizes={sizes}"
            )
    return _split_views(tensor, dim, sizes, SplitBackward0)


def chunk(input: Tensor, chunks: int, dim: int = 0):
    if input._data.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    length = input._data.shape[wrap_dim(dim, input._data.ndim)]
    step = -(-length // chunks)
    return split(input, max(step, 1), dim)


def unbind(input: Tensor, dim: int = 0):
    """The slices along ``dim``, as a tuple of views."""
    d = wrap_dim(dim, input._data.ndim, wrap_scalar=False)
    return _split_views(input, d, [1] * input._data.shape[d], UnbindBackward0, squeeze_dim=True)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The view of ``length`` elements of ``dim`` from ``start`` (negative counts from the end)."""
    if input._data.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if isinstance(start, Tensor):
        start = int(start.item())
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    d = wrap_dim(dim, input._data.ndim)
    size = input._data.shape[d]
    if not -size <= start <= size:
        raise IndexError(
            f"start out of range (expected to be in range of [{-size}, {size}], but got {start})"
        )
    if start < 0:
        start += size
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return input[(slice(None),) * d + (slice(start, start + length),)]


class FlipBackward0(Node):
    def backward(self, grad):
        return (grad.flip(self.dims),)


def flip(input: Tensor, dims: int | Sequence[int]) -> Tensor:
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch)."""
    if isinstance(dims, int):
        dims = (dims,)
    nd = input._data.ndim
    dims = tuple(wrap_dim(d, nd) for d in dims)
    xp = input._device.backend.xp
    out = Tensor._make(xp.flip(input._data, dims).copy(), input._device)
    if needs_grad(input):
        record(FlipBackward0(), (input,), out).dims = dims
    return out


class RepeatBackward0(Node):
    def backward(self, grad):
        # Split every repeated dim into (repeat, size) and sum the repeats away.
        lead = len(self.repeats) - len(self.shape)
        shape = (1,) * lead + tuple(self.shape)
        split_shape, sum_dims = [], []
        for i, (r, s) in enumerate(zip(self.repeats, shape)):
            split_shape += [r, s]
            sum_dims.append(2 * i)
        g = grad.reshape(split_shape).sum(tuple(sum_dims))
        return (g.reshape(self.shape),)


def repeat(input: Tensor, *sizes) -> Tensor:
    """Tile the tensor ``sizes`` times along each dim."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input._data.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    xp = input._device.backend.xp
    lead = len(sizes) - input._data.ndim
    if any(s < 0 for s in sizes):  # PyTorch names the result's shape; NumPy's tile raises
        shape = [s * n for s, n in zip(sizes, (1,) * lead + input._data.shape)]
        bad = next(s for s in shape if s < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: {shape}")
    data = xp.tile(input._data.reshape((1,) * lead + input._data.shape), sizes)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(RepeatBackward0(), (input,), out)
        node.repeats, node.shape = tuple(sizes), input._data.shape
    return out


def movedim(input: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    nd = input._data.ndim
    src = [wrap_dim(s, nd) for s in (source if isinstance(source, (tuple, list)) else [source])]
    dst = [
        wrap_dim(s, nd)
        for s in (destination if isinstance(destination, (tuple, list)) else [destination])
    ]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, order)


def roll(input: Tensor, shifts: int | Sequence[int], dims=None) -> Tensor:
    """Rotate elements along ``dims`` by ``shifts`` (flattened when ``dims`` is None)."""
    xp = input._device.backend.xp
    if dims is None:
        if not isinstance(shifts, int):
            (shifts,) = shifts
        return roll(input.reshape(-1), shifts, 0).reshape(input._data.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
        )
    out = input
    for s, dm in zip(shifts, dims):
        d = wrap_dim(dm, input._data.ndim)
        n = input._data.shape[d]
        if n:
            idx = (xp.arange(n) - s) % n
            out = index_select(out, d, index_tensor(idx, input))
    return out


def _tile_dims(dims, position: int) -> tuple:
    """``dims`` as a tuple of ints (anything ``operator.index`` takes but a bool: NumPy ints,
    0-d integer tensors), or PyTorch's TypeError naming what it got."""
    if isinstance(dims, (tuple, list)):
        try:
            if not any(isinstance(d, bool) for d in dims):
                return tuple(operator.index(d) for d in dims)
        except TypeError:
            pass
        got = f"{type(dims).__name__} of [{', '.join(type(d).__name__ for d in dims)}]"
    else:
        got = type(dims).__name__
    raise TypeError(
        f"tile(): argument 'dims' (position {position}) must be tuple of ints, not {got}"
    )


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Repeat ``input`` ``dims[i]`` times along each dim (missing leading dims count as 1)."""
    dims = _tile_dims(dims, 2)
    nd = input._data.ndim
    if len(dims) < nd:
        dims = (1,) * (nd - len(dims)) + dims
    return input.repeat(*dims)


def tile_method(self: Tensor, *dims, **kwargs) -> Tensor:
    """``Tensor.tile(*dims)``: the dims as ints, as one sequence, or as ``dims=``, as PyTorch's
    method."""
    if kwargs:
        if dims or set(kwargs) != {"dims"}:
            extra = next((k for k in kwargs if k != "dims"), "dims")
            raise TypeError(f"tile() got an unexpected keyword argument '{extra}'")
        dims = (kwargs["dims"],)
    if not dims:
        raise TypeError('tile() missing 1 required positional arguments: "dims"')
    if len(dims) == 1 and not _is_index(dims[0]):
        dims = dims[0]  # one sequence (or a wrong type, named as PyTorch names it)
    elif len(dims) == 1 and isinstance(dims[0], bool):
        raise TypeError("tile(): argument 'dims' (position 1) must be tuple of ints, not bool")
    return tile(self, _tile_dims(dims, 1))


def _is_index(v) -> bool:
    try:
        operator.index(v)
    except TypeError:
        return False
    return True


def meshgrid(*tensors: Tensor, indexing: str | None = None):
    """Coordinate grids from 1-D tensors ('ij': matrix indexing, 'xy': Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        _warn.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
            "argument.",
            UserWarning,
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(
            f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}'
        )
    for t in tensors:
        if isinstance(t, Tensor) and t.ndim > 1:  # reshape(-1) would flatten it
            raise RuntimeError(
                f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}"
            )
    ts = [t.reshape(-1) for t in tensors]
    axes = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(ts)
    for t, a in zip(ts, axes):
        shape[a] = t._data.shape[0]
    out = []
    for t, a in zip(ts, axes):
        view = [1] * len(ts)
        view[a] = -1
        out.append(t.reshape(view).expand(tuple(shape)))
    return tuple(out)


def atleast_1d(*tensors: Tensor):
    """Each tensor with at least one dim (a single tensor in, a single tensor out)."""
    return _atleast(tensors, 1)


def atleast_2d(*tensors: Tensor):
    return _atleast(tensors, 2)


def atleast_3d(*tensors: Tensor):
    return _atleast(tensors, 3)


def _atleast(tensors, n: int):
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = []
    for t in tensors:
        nd = t._data.ndim
        if nd >= n:
            out.append(t)
        elif n == 3 and nd == 2:
            out.append(t.unsqueeze(-1))
        elif n == 3 and nd == 1:
            out.append(t.reshape(1, -1, 1))
        else:
            out.append(t.reshape((1,) * (n - max(nd, 1)) + tuple(t._data.shape or (1,))))
    return out[0] if single else tuple(out)


def vstack(tensors) -> Tensor:
    """Concatenate along dim 0 after atleast_2d."""
    return cat([atleast_2d(t) for t in tensors], 0)


row_stack = vstack


def hstack(tensors) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-D tensors) after atleast_1d."""
    ts = [atleast_1d(t) for t in tensors]
    return cat(ts, 0 if ts[0]._data.ndim == 1 else 1)


def dstack(tensors) -> Tensor:
    """Concatenate along dim 2 after atleast_3d."""
    return cat([atleast_3d(t) for t in tensors], 2)


def column_stack(tensors) -> Tensor:
    """1-D (and 0-d) tensors become columns; then concatenate along dim 1."""
    ts = [t.reshape(-1, 1) if t._data.ndim <= 1 else t for t in tensors]
    return cat(ts, 1)


def flipud(input: Tensor) -> Tensor:
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def fliplr(input: Tensor) -> Tensor:
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``dims`` (from dims[0] to dims[1])."""
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    nd = input._data.ndim
    if nd < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {nd}")
    d0, d1 = wrap_dim(dims[0], nd), wrap_dim(dims[1], nd)
    if d0 == d1:
        raise RuntimeError(
            f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}"
        )
    k %= 4
    if k == 1:
        return flip(input, (d1,)).transpose(d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return flip(input, (d0,)).transpose(d0, d1)
    return input.clone()


def ravel(input: Tensor) -> Tensor:
    return input.reshape(-1)


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """Split into ``n`` nearly equal parts (the first ``len % n`` one longer) or at the given
    indices (a list, or a 1-D / 0-d integer tensor), as views with gradients."""
    if input._data.ndim == 0:
        raise RuntimeError(
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims"
        )
    length = input._data.shape[wrap_dim(dim, input._data.ndim)]
    cuts = indices_or_sections
    if isinstance(cuts, Tensor):
        if cuts._data.dtype.kind not in "iu" or cuts._data.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                "one-dimensional tensor, but got a tensor with "
                f"{cuts._data.ndim} dims"
            )
        cuts = cuts.tolist()
    if isinstance(cuts, int):
        if cuts <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {cuts}")
        q, r = divmod(length, cuts)
        sizes = [q + 1] * r + [q] * (cuts - r)
    else:
        bounds = [min(max(c if c >= 0 else c + length, 0), length) for c in cuts]
        edges = [0, *bounds, length]
        sizes = [max(b - a, 0) for a, b in zip(edges[:-1], edges[1:])]
        starts = [min(a, length) for a in edges[:-1]]
        d = wrap_dim(dim, input._data.ndim)
        if any(b < a for a, b in zip(edges[:-1], edges[1:])):  # decreasing indices: empty parts
            lead = (slice(None),) * d
            return tuple(input[lead + (slice(a, a + n),)] for a, n in zip(starts, sizes))
    return split(input, sizes, dim)


def tensor_unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` elements along ``dimension``, ``step``
    apart; the windows' count replaces that dim and a dim of ``size`` is appended. PyTorch
    returns a view; this is a copy (an index gather, whose backward adds up overlaps)."""
    nd = input._data.ndim
    x = input if nd else input.reshape(1)
    d = wrap_dim(dimension, x._data.ndim)
    n = x._data.shape[d]
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if size < 0:  # NumPy's arange would give empty windows
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    xp = input._device.backend.xp
    count = (n - size) // step + 1
    windows = xp.arange(count)[:, None] * step + xp.arange(size)[None, :]
    out = getitem(movedim(x, d, -1), (Ellipsis, Tensor._make(windows, input._device)))
    out = movedim(out, -2, d)
    return out if nd else out.reshape((count, size)).squeeze(0)


def repeat_interleave(
    input: Tensor, repeats=None, dim: int | None = None, *, output_size: int | None = None
) -> Tensor:
    """Repeat each element ``repeats`` times (a gather, so it is differentiable); with
    ``repeats`` omitted, ``input`` holds the repeats of 0, 1, 2 ... ``output_size`` is the
    length of the result along ``dim``, checked as PyTorch does."""
    from .indexing import index_select

    if repeats is None:  # torch.repeat_interleave(repeats)
        xp = input._device.backend.xp
        arange = Tensor._make(xp.arange(input._data.size, dtype=input._data.dtype), input._device)
        return repeat_interleave(arange, input.reshape(-1), 0, output_size=output_size)
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, input._data.ndim)
    n = x._data.shape[d]
    xp = input._device.backend.xp
    reps = repeats._data if isinstance(repeats, Tensor) else repeats
    if isinstance(repeats, Tensor):
        if reps.size and bool((reps < 0).any()):
            raise RuntimeError("repeats can not be negative")
    elif repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    elif output_size is not None and output_size != n * repeats:
        raise RuntimeError(
            f"repeat_interleave: Invalid output_size, expected {n * repeats} but got {output_size}"
        )
    idx = xp.repeat(xp.arange(n), reps)
    if output_size is not None and idx.shape[0] != output_size:  # (its size is at hand)
        raise RuntimeError("allocated size does not match required size")
    return index_select(x, d, Tensor._make(idx.astype("int64"), input._device))
