"""Zero-copy exchange with NumPy, CuPy, PyTorch, JAX ... through DLPack (``torch.utils.dlpack``).

``from_dlpack(x)`` wraps the memory of any array that exports ``__dlpack__`` (or a DLPack
capsule) as a gpugrad tensor on the same device, without copying: writes through either side
are seen by the other. gpugrad tensors export ``__dlpack__`` themselves, so
``torch.from_dlpack(t)``, ``np.from_dlpack(t)``, ``cupy.from_dlpack(t)`` and
``jax.numpy.from_dlpack(t)`` read them in place.
"""

from __future__ import annotations

import ctypes
import enum
from typing import Any

import numpy as np

from .. import _dtype as D
from .._device import canonical
from .._device import device as Device
from .._tensor import Tensor
from ..backend import backend_for

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]


class DLDeviceType(enum.IntEnum):
    """DLPack's device codes (``__dlpack_device__()[0]``), with PyTorch's member names."""

    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17


# host memory NumPy reads in place (pinned memory included); device memory CuPy reads
_HOST = (DLDeviceType.kDLCPU, DLDeviceType.kDLCUDAHost)
_CUDA = (DLDeviceType.kDLCUDA,)


def to_dlpack(tensor: Tensor) -> Any:
    """A DLPack capsule (``"dltensor"``) of ``tensor``'s memory, to be consumed once."""
    if not isinstance(tensor, Tensor):
        kind = type(tensor)
        raise TypeError(
            "_to_dlpack(): argument 'data' (position 1) must be Tensor, not "  # torch's text
            f"{kind.__module__ + '.' if kind.__module__ != 'builtins' else ''}{kind.__name__}"
        )
    if tensor.is_sparse:
        raise RuntimeError("Cannot access data pointer of Tensor that doesn't have storage")
    return tensor.detach().__dlpack__()  # as PyTorch's: a tensor requiring grad exports too


def from_dlpack(ext_tensor: Any, *, device=None, copy: bool | None = None) -> Tensor:
    """A tensor on the memory of ``ext_tensor`` (an object with ``__dlpack__``, or a DLPack
    capsule), on its device; ``device=`` another device copies, ``copy=True`` always copies.

    The result is a leaf that does not require grad; in-place writes reach ``ext_tensor``.
    """
    if hasattr(ext_tensor, "__dlpack__"):
        producer = ext_tensor
        source_code = tuple(int(v) for v in ext_tensor.__dlpack_device__())
    else:
        if device is not None or copy is not None:
            raise AssertionError(
                "device and copy kwargs not supported when ext_tensor is already a DLPack capsule."
            )
        producer = _Capsule(ext_tensor)
        source_code = producer.device
    source = _gpugrad_device(source_code)
    target = source if device is None else canonical(device)
    cross_device = target != source
    if cross_device and copy is False:
        raise ValueError(
            f"cannot move DLPack tensor from device {source_code} to {_dl_code(target)} "
            "without copying. Set copy=None or copy=True."
        )
    # numpy or cupy: both read DLPack as ``from_dlpack``. The copy is made here, not asked of
    # the producer: a bare capsule (or an older producer) cannot honour ``copy=True``
    arr = backend_for(source).xp.from_dlpack(producer)
    if isinstance(producer, _Capsule) and source.type == "cpu":
        arr = _writable(arr)
    try:
        D.from_numpy_dtype(arr.dtype)
    except TypeError:
        raise TypeError(
            f"can't convert a DLPack tensor of type {arr.dtype}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None
    if cross_device:
        return Tensor._make(arr, source).to(target)
    return Tensor._make(arr.copy() if copy else arr, source)


def _gpugrad_device(code: tuple[int, int]) -> Device:
    kind, index = code
    if kind in _HOST:
        return Device("cpu")
    if kind in _CUDA:
        return Device("cuda", index)
    raise BufferError(f"Unsupported device_type: {kind}")


def _dl_code(dev: Device) -> tuple[int, int]:
    if dev.type == "cpu":
        return (int(DLDeviceType.kDLCPU), 0)
    return (int(DLDeviceType.kDLCUDA), dev.index or 0)


def _writable(arr):
    """The same host memory, writable: NumPy marks what it reads from a legacy capsule
    read-only, while the capsule's producer (PyTorch's ``to_dlpack``) lets consumers write."""
    if arr.flags.writeable:
        return arr

    class _Memory:  # the read-only array stays referenced: it owns the capsule's deleter
        keep = arr
        __array_interface__ = {**arr.__array_interface__, "data": (arr.ctypes.data, False)}

    return np.asarray(_Memory())


class _Capsule:
    """A bare DLPack capsule given the ``__dlpack__`` protocol, so NumPy and CuPy consume it;
    its device is read from the DLTensor it points to."""

    _LEGACY, _VERSIONED = b"dltensor", b"dltensor_versioned"

    def __init__(self, capsule: Any) -> None:
        api = ctypes.pythonapi
        api.PyCapsule_IsValid.restype = ctypes.c_int
        api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
        api.PyCapsule_GetPointer.restype = ctypes.c_void_p
        api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        for name, dltensor_offset in ((self._LEGACY, 0), (self._VERSIONED, 32)):
            # DLManagedTensor starts with its DLTensor; the versioned struct has a version,
            # manager_ctx, deleter and flags (8 bytes each) first
            if api.PyCapsule_IsValid(capsule, name):
                base = api.PyCapsule_GetPointer(capsule, name)
                # DLTensor: void* data, then DLDevice {int32 device_type, int32 device_id}
                dev = (ctypes.c_int32 * 2).from_address(base + dltensor_offset + 8)
                self.device = (int(dev[0]), int(dev[1]))
                self._capsule = capsule
                return
        raise RuntimeError(
            "from_dlpack received an invalid capsule. Note that DLTensor capsules can be "
            "consumed only once, so you might have already constructed a tensor from it once."
        )

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device
