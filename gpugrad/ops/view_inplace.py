"""In-place writes through a view of a tensor that is part of the graph (``x[0].mul_(2)``,
``h[:, :k] += b``).

PyTorch's way, in arrays: the write happened in the base's memory, so the base's history is
rebased onto a ``CopySlices`` node (the old base outside the view's region, the op's result
inside it), and the view becomes a fresh view of the new base. The region is the view's
place in the base's memory: an element offset, a shape and element strides.
"""

from __future__ import annotations

from .._tensor import Tensor, _data_ptr
from ..autograd.graph import Node
from ._util import needs_grad, record

_OVERLAP_MSG = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)


def region_of(view: Tensor, base: Tensor) -> tuple:
    """(offset, shape, strides) of ``view`` inside ``base``, in elements."""
    b, v = base._data, view._data
    if not b.flags.c_contiguous:
        raise RuntimeError(
            "gpugrad records in-place writes through a view only when the base tensor is "
            "contiguous; call .contiguous() on the base first"
        )
    item = b.itemsize
    if any(s == 0 and n > 1 for s, n in zip(v.strides, v.shape)):
        raise RuntimeError(_OVERLAP_MSG)
    offset = (_data_ptr(v) - _data_ptr(b)) // item
    return offset, v.shape, tuple(s // item for s in v.strides), b.shape


def _strided(backend, flat, region):
    offset, shape, strides, _ = region
    item = flat.itemsize
    return backend.as_strided(
        flat[offset:], shape, tuple(s * item for s in strides), writeable=True
    )


class AsStridedBackward0(Node):
    def backward(self, grad):
        return (region_put_zeros(grad, self.region),)


def region_get(t: Tensor, region) -> Tensor:
    """The view's region of a base-shaped tensor, as a copy (differentiable)."""
    backend = t._device.backend
    flat = backend.xp.ascontiguousarray(t._data).reshape(-1)
    out = Tensor._make(backend.xp.ascontiguousarray(_strided(backend, flat, region)), t._device)
    if needs_grad(t):
        record(AsStridedBackward0(), (t,), out).region = region
    return out


class RegionPutZerosBackward(Node):
    def backward(self, grad):
        return (region_get(grad, self.region),)


def region_put_zeros(t: Tensor, region) -> Tensor:
    """Zeros of the base's shape with ``t`` in the view's region (differentiable)."""
    backend = t._device.backend
    z = backend.xp.zeros(region[3], t._data.dtype)
    _strided(backend, z.reshape(-1), region)[...] = t._data
    out = Tensor._make(z, t._device)
    if needs_grad(t):
        record(RegionPutZerosBackward(), (t,), out).region = region
    return out


class RegionZeroBackward(Node):
    def backward(self, grad):
        return (region_zero(grad, self.region),)


def region_zero(t: Tensor, region) -> Tensor:
    """A copy of a base-shaped tensor with the view's region set to zero (differentiable)."""
    backend = t._device.backend
    z = backend.xp.array(t._data, copy=True, order="C")
    _strided(backend, z.reshape(-1), region)[...] = 0
    out = Tensor._make(z, t._device)
    if needs_grad(t):
        record(RegionZeroBackward(), (t,), out).region = region
    return out


class CopySlices(Node):
    """The base after a write through a view: old base outside the region, new values in."""

    def backward(self, grad):
        g_base = region_zero(grad, self.region) if self.needs_input_grad(0) else None
        g_view = region_get(grad, self.region) if self.needs_input_grad(1) else None
        return (g_base, g_view)


def rebase_view(view: Tensor) -> None:
    """After a recorded in-place op on ``view`` (its grad_fn is the op's node), move the
    history to its base and make ``view`` a view of the new base."""
    base = view._base
    region = region_of(view, base)
    old_base = Tensor._make(base._data, base._device)
    old_base._requires_grad, old_base._grad_fn, old_base._output_nr = (
        base._requires_grad,
        base._grad_fn,
        base._output_nr,
    )
    new_values = Tensor._make(view._data, view._device)
    new_values._requires_grad, new_values._grad_fn, new_values._output_nr = (
        True,
        view._grad_fn,
        view._output_nr,
    )
    record(CopySlices(), (old_base, new_values), base).region = region
    base._output_nr = 0
    view._output_nr = 0
    record(AsStridedBackward0(), (base,), view).region = region
    view._vver = view._vc[0]
