"""More shape helpers: diag, roll, tile, meshgrid, stacks, rot90, diff, cumprod ...

Primitives carry a Node with PyTorch's name and a backward written in Tensor ops;
composites inherit their gradients.
"""

from __future__ import annotations

import warnings

from .. import ops as _ops
from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import (
    needs_grad,
    record,
    wrap_dim,
)
from .indexing import getitem, index_put_zeros


def _index_tensor(data, like: Tensor) -> Tensor:
    return Tensor._make(data.astype("int64", copy=False), like._device)


# ---- shape helpers -----------------------------------------------------------------------
def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes, as the last dim (a copy, not a view)."""
    nd = input._data.ndim
    d1, d2 = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    x = _ops.movedim(input, (d1, d2), (-2, -1))
    rows, cols = x._data.shape[-2:]
    xp = input._device.backend.xp
    r0, c0 = (0, offset) if offset >= 0 else (-offset, 0)
    n = max(0, min(rows - r0, cols - c0))
    r = xp.arange(r0, r0 + n)
    c = xp.arange(c0, c0 + n)
    return getitem(x, (Ellipsis, _index_tensor(r, input), _index_tensor(c, input)))


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D -> a square matrix with ``input`` on a diagonal; 2-D -> that diagonal."""
    nd = input._data.ndim
    if nd == 2:
        return globals()["diagonal"](input, diagonal)
    if nd != 1:
        raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{nd}D")
    n = input._data.shape[0]
    m = n + abs(diagonal)
    xp = input._device.backend.xp
    r = xp.arange(n) + max(0, -diagonal)
    c = xp.arange(n) + max(0, diagonal)
    return index_put_zeros(input, (m, m), (r, c), accumulate=False)


def trace(input: Tensor) -> Tensor:
    """Sum of the main diagonal of a matrix."""
    if input._data.ndim != 2:
        raise RuntimeError(
            "trace: expected a matrix, but got tensor with dim " + f"{input._data.ndim}"
        )
    return globals()["diagonal"](input).sum()


def roll(input: Tensor, shifts, dims=None) -> Tensor:
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
            out = _ops.index_select(out, d, _index_tensor(idx, input))
    return out


def tile(input: Tensor, dims) -> Tensor:
    """Repeat ``input`` ``dims[i]`` times along each dim (missing leading dims count as 1)."""
    dims = tuple(dims)
    nd = input._data.ndim
    if len(dims) < nd:
        dims = (1,) * (nd - len(dims)) + dims
    return input.repeat(*dims)


def meshgrid(*tensors, indexing: str | None = None):
    """Coordinate grids from 1-D tensors ('ij': matrix indexing, 'xy': Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
            "argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(
            f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}'
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


def atleast_1d(*tensors):
    """Each tensor with at least one dim (a single tensor in, a single tensor out)."""
    return _atleast(tensors, 1)


def atleast_2d(*tensors):
    return _atleast(tensors, 2)


def atleast_3d(*tensors):
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
    return _ops.cat([atleast_2d(t) for t in tensors], 0)


row_stack = vstack


def hstack(tensors) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-D tensors) after atleast_1d."""
    ts = [atleast_1d(t) for t in tensors]
    return _ops.cat(ts, 0 if ts[0]._data.ndim == 1 else 1)


def dstack(tensors) -> Tensor:
    """Concatenate along dim 2 after atleast_3d."""
    return _ops.cat([atleast_3d(t) for t in tensors], 2)


def column_stack(tensors) -> Tensor:
    """1-D (and 0-d) tensors become columns; then concatenate along dim 1."""
    ts = [t.reshape(-1, 1) if t._data.ndim <= 1 else t for t in tensors]
    return _ops.cat(ts, 1)


def flipud(input: Tensor) -> Tensor:
    return _ops.flip(input, (0,))


def fliplr(input: Tensor) -> Tensor:
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return _ops.flip(input, (1,))


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``dims`` (from dims[0] to dims[1])."""
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    nd = input._data.ndim
    d0, d1 = wrap_dim(dims[0], nd), wrap_dim(dims[1], nd)
    if d0 == d1:
        raise RuntimeError(
            f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}"
        )
    k %= 4
    if k == 1:
        return _ops.flip(input, (d1,)).transpose(d0, d1)
    if k == 2:
        return _ops.flip(input, (d0, d1))
    if k == 3:
        return _ops.flip(input, (d0,)).transpose(d0, d1)
    return input.clone()


def ravel(input: Tensor) -> Tensor:
    return input.reshape(-1)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """``n``-th forward difference along ``dim`` (logical xor for bool tensors)."""
    d = wrap_dim(dim, input._data.ndim)
    x = input
    if prepend is not None or append is not None:
        parts = [p for p in (prepend, input, append) if p is not None]
        x = _ops.cat(parts, d)
    for _ in range(n):
        m = x._data.shape[d]
        if m == 0:
            break
        hi, lo = _ops.narrow(x, d, 1, m - 1), _ops.narrow(x, d, 0, m - 1)
        x = hi.logical_xor(lo) if x._data.dtype.kind == "b" else hi - lo
    return x


class CumprodBackward0(Node):
    def backward(self, grad):
        # d y_j / d x_i = y_j / x_i for j >= i: exact when the input has no zeros (a zero
        # gives inf/nan here; PyTorch's slower formula handles that case).
        x, y = self.saved_tensors
        d = self.dim
        rev = _ops.cumsum((grad * y).flip(d), d).flip(d)
        return (rev / x,)


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative product along ``dim`` (gradient exact for inputs without zeros)."""
    d = wrap_dim(dim, input._data.ndim)
    data = input._data if dtype is None else input._data.astype(dtype.np)
    if dtype is None and data.dtype.kind in "biu":
        data = data.astype("int64")
    xp = input._device.backend.xp
    out = Tensor._make(xp.cumprod(data, axis=d) if data.ndim else data.copy(), input._device)
    if needs_grad(input):
        node = record(CumprodBackward0(), (input,), out)
        node.save(input, out)
        node.dim = d
    return out


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """Split into ``n`` nearly equal parts (the first ``len % n`` one longer) or at the given
    indices (a list, or a 1-D / 0-d integer tensor), as views with gradients."""
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
    return _ops.split(input, sizes, dim)


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
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    xp = input._device.backend.xp
    count = (n - size) // step + 1
    windows = xp.arange(count)[:, None] * step + xp.arange(size)[None, :]
    out = getitem(_ops.movedim(x, d, -1), (Ellipsis, Tensor._make(windows, input._device)))
    out = _ops.movedim(out, -2, d)
    return out if nd else out.reshape((count, size)).squeeze(0)


__all__ = [
    "tensor_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "column_stack",
    "cumprod",
    "diag",
    "diagonal",
    "diff",
    "dstack",
    "fliplr",
    "flipud",
    "hstack",
    "meshgrid",
    "ravel",
    "roll",
    "rot90",
    "row_stack",
    "tile",
    "trace",
    "vstack",
]
