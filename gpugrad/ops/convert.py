"""Copies and conversions: to (device/dtype), clone, detach, contiguous, type casts."""

from __future__ import annotations

from .. import _dtype as D
from .._device import canonical
from .._device import device as Device
from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import needs_grad, record


class ToCopyBackward0(Node):
    def backward(self, grad):
        return (grad.to(self.src_device, self.src_dtype),)


def _parse_to(self: Tensor, args, kwargs):
    dev, dt = kwargs.pop("device", None), kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, D.dtype):
            dt = a
        elif isinstance(a, Tensor):
            dev, dt = a._device, a.dtype
        elif isinstance(a, (str, Device, int)) and not isinstance(a, bool):
            dev = a
        elif isinstance(a, bool):
            continue  # non_blocking / copy passed positionally
        elif a is not None:
            raise TypeError(
                f"to() received an invalid combination of arguments: {type(a).__name__}"
            )
    return dev, dt, copy


def to(self: Tensor, *args, **kwargs) -> Tensor:
    """This tensor on another device and/or dtype; itself when nothing changes."""
    dev, dt, copy = _parse_to(self, args, kwargs)
    dev = canonical(dev) if dev is not None else self._device
    dt = dt if dt is not None else self.dtype
    if dev is self._device and dt is self.dtype and not copy:
        return self
    D.check_dtype_on(dev, dt)
    data = self._data
    if dev is not self._device:
        host = self._device.backend.to_host(data)
        data = dev.backend.asarray(host, dtype=dt.np)
    elif dt is not self.dtype:
        data = self._device.backend.quiet(D.cast_array, data, dt.np)  # overflow: inf, silently
    else:
        data = data.copy()
    out = Tensor._make(data, dev)
    if needs_grad(self) and dt.is_floating_point:
        node = record(ToCopyBackward0(), (self,), out)
        node.src_device, node.src_dtype = self._device, self.dtype
    return out


def cpu(self: Tensor) -> Tensor:
    return to(self, "cpu")


def cuda(self: Tensor, device=None, non_blocking: bool = False) -> Tensor:
    if device is None:
        return to(self, "cuda")
    return to(self, device if isinstance(device, (str, Device)) else Device("cuda", device))


def _cast(name: str, dt: D.dtype):
    def method(self: Tensor, memory_format=None) -> Tensor:
        return to(self, dt)

    method.__name__ = name
    method.__doc__ = f"This tensor as {dt.name} (itself if it already is)."
    return method


float_ = _cast("float", D.float32)
double = _cast("double", D.float64)
half = _cast("half", D.float16)
bfloat16 = _cast("bfloat16", D.bfloat16)
long = _cast("long", D.int64)
int_ = _cast("int", D.int32)
bool_ = _cast("bool", D.bool_)
short = _cast("short", D.int16)
byte = _cast("byte", D.uint8)


class CloneBackward0(Node):
    def backward(self, grad):
        return (grad,)


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """A copy with its own memory (differentiable)."""
    out = Tensor._make(input._device.backend.xp.array(input._data, copy=True), input._device)
    if needs_grad(input):
        record(CloneBackward0(), (input,), out)
    return out


def contiguous(input: Tensor, memory_format=None) -> Tensor:
    """Itself if row-major already, else a row-major copy (clone keeps the layout)."""
    if input._data.flags.c_contiguous:
        return input
    out = Tensor._make(input._device.backend.xp.ascontiguousarray(input._data), input._device)
    if needs_grad(input):
        record(CloneBackward0(), (input,), out)
    return out


def detach(input: Tensor) -> Tensor:
    """The same memory (and version counter) without history: cuts the graph here."""
    out = Tensor._make(input._data, input._device)
    out._vc = input._vc  # in-place writes through either are seen by saved-tensor checks
    return out


def detach_(input: Tensor) -> Tensor:
    if input._base is not None and input._base._requires_grad:
        raise RuntimeError("Can't detach views in-place. Use detach() instead.")
    input._grad_fn = None
    input._requires_grad = False
    return input


def type_as(input: Tensor, other: Tensor) -> Tensor:
    return to(input, other.dtype)
