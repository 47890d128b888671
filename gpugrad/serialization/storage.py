"""Storages of PyTorch checkpoints: PyTorch's dtype and storage-class names, and the flat
arrays that tensors in a checkpoint view.

A checkpoint stores each storage once (``data/<key>`` in the zip format); tensors are
(storage, offset, size, stride) records over it, so tensors that shared memory when saved
share one array here again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype as D
from .._device import device as Device

# PyTorch's dtype names with their element sizes in bytes, and gpugrad's dtype where it has one
# (bfloat16 through ml_dtypes; none for float8, the quantized types or complex ones).
TORCH_DTYPES: dict[str, tuple[int, D.dtype | None]] = {
    "float32": (4, D.float32),
    "float64": (8, D.float64),
    "float16": (2, D.float16),
    "int64": (8, D.int64),
    "int32": (4, D.int32),
    "int16": (2, D.int16),
    "int8": (1, D.int8),
    "uint8": (1, D.uint8),
    "bool": (1, D.bool_),
    "bfloat16": (2, D.bfloat16),
    "complex32": (4, None),
    "complex64": (8, None),
    "complex128": (16, None),
    "uint16": (2, None),
    "uint32": (4, None),
    "uint64": (8, None),
    "float8_e4m3fn": (1, None),
    "float8_e5m2": (1, None),
    "float8_e4m3fnuz": (1, None),
    "float8_e5m2fnuz": (1, None),
    "float8_e8m0fnu": (1, None),
    "float4_e2m1fn_x2": (1, None),
    "qint8": (1, None),
    "quint8": (1, None),
    "qint32": (4, None),
    "quint4x2": (1, None),
    "quint2x4": (1, None),
}

# torch.<Name>Storage (the legacy typed storage classes checkpoints name) -> dtype name.
STORAGE_CLASSES: dict[str, str] = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8",
    "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2",
    "QUInt2x4Storage": "quint2x4",
    "UntypedStorage": "uint8",
}
_CLASS_OF = {v: k for k, v in STORAGE_CLASSES.items() if k != "UntypedStorage"}


def storage_class_name(dt: D.dtype) -> str:
    """The legacy storage class PyTorch names for a dtype (``FloatStorage`` for float32)."""
    return _CLASS_OF[dt.name]


class TorchDtype:
    """A PyTorch dtype gpugrad cannot hold (``torch.complex64``): kept by name so the error can
    say which key needed it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        from .torch_names import torch_global

        return torch_global("torch", self.name)


class StorageType:
    """What a checkpoint's ``torch.FloatStorage`` / ``torch.UntypedStorage`` global stands for."""

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name
        self.dtype_name = STORAGE_CLASSES[class_name]

    def __repr__(self) -> str:
        return f"StorageType(dtype=torch.{self.dtype_name})"


class TypedStorage:
    """A checkpoint's flat storage: a 1-D array of its dtype on a device.

    It is what a callable ``map_location(storage, location)`` receives and returns, as in
    PyTorch: ``lambda storage, loc: storage`` keeps it on the CPU, ``storage.cuda(1)`` moves it.
    """

    def __init__(self, array: Any, dtype_name: str, dev: Device) -> None:
        self.array, self.dtype_name, self.device = array, dtype_name, dev
        self.key = ""  # its record in the checkpoint, once a load registers it

    @property
    def dtype(self) -> D.dtype | TorchDtype:
        gd = TORCH_DTYPES[self.dtype_name][1]
        return gd if gd is not None else TorchDtype(self.dtype_name)

    def size(self) -> int:
        return int(self.array.size)

    __len__ = size

    def nbytes(self) -> int:
        return int(self.array.nbytes)

    def element_size(self) -> int:
        return TORCH_DTYPES[self.dtype_name][0]

    def tolist(self) -> list:
        return self.device.backend.to_host(self.array).tolist()

    def to(self, device: Device | str) -> TypedStorage:
        dev = Device(device)
        if dev == self.device:
            return self
        if dev.type == "cpu":
            return TypedStorage(self.device.backend.to_host(self.array), self.dtype_name, dev)
        if self.device.type != "cpu":
            host = self.device.backend.to_host(self.array)
        else:
            host = self.array
        _check_device(dev)
        return TypedStorage(dev.backend.asarray(host), self.dtype_name, dev)

    def cpu(self) -> TypedStorage:
        return self.to("cpu")

    def cuda(self, device: int | str | Device | None = None) -> TypedStorage:
        if device is None:
            return self.to("cuda")
        return self.to(Device(device) if not isinstance(device, int) else Device("cuda", device))

    def __repr__(self) -> str:
        n = self.size()
        return f"TypedStorage(dtype=torch.{self.dtype_name}, device={self.device}, size={n})"


class PlacementError(RuntimeError):
    """A storage cannot go where its location tag or ``map_location`` says."""


def _check_device(dev: Device) -> None:
    if dev.type == "cuda":
        from ..backend import cuda_status

        n, why = cuda_status()
        if not n:
            raise PlacementError(
                "Attempting to deserialize object on a CUDA device but CUDA is not available "
                f"({why}). If you are running on a CPU-only machine, please use gpugrad.load "
                "with map_location='cpu' to map your tensors to the CPU."
            )
    elif dev.type != "cpu":
        raise PlacementError(f"gpugrad cannot place checkpoint storages on device '{dev}'")


def restore_location(map_location: Any):
    """PyTorch's rules for where a storage saved at ``location`` goes (``map_location``): None
    (where it was saved), a device or device string, a dict from saved locations to locations,
    or a callable ``(storage, location) -> storage | None`` (None: the default place)."""

    def default(storage: TypedStorage, location: str) -> TypedStorage:
        return storage.to(_parse_location(location))

    if map_location is None:
        return default
    if isinstance(map_location, (str, bytes, Device)):
        target = map_location.decode() if isinstance(map_location, bytes) else str(map_location)
        return lambda storage, location: default(storage, target)
    if isinstance(map_location, dict):
        return lambda storage, location: default(storage, map_location.get(location, location))
    if callable(map_location):

        def call(storage: TypedStorage, location: str) -> TypedStorage:
            out = map_location(storage, location)
            if out is None:
                return default(storage, location)
            if not isinstance(out, TypedStorage):
                raise TypeError(
                    "map_location must return None or the storage it was given (or a copy "
                    f"made with .cpu() / .cuda()), not {type(out).__name__}"
                )
            return out

        return call
    raise TypeError(
        "map_location must be None, a device, a device string, a dict mapping saved "
        f"locations to devices, or a callable, not {type(map_location).__name__}"
    )


def _parse_location(location: str) -> Device:
    try:
        return Device(location)
    except (RuntimeError, ValueError, TypeError):
        raise PlacementError(
            f"gpugrad cannot place checkpoint storages on device '{location}'"
        ) from None


def new_array(dtype_name: str, numel: int) -> np.ndarray:
    """A storage's flat array, owning its memory (so that the views of it find it as their
    root when saved again); its bytes are ``array.view(np.uint8)``. A dtype gpugrad lacks gets
    an empty byte array: the load only reports it."""
    gd = TORCH_DTYPES[dtype_name][1]
    return np.empty(numel, gd.np) if gd is not None else np.empty(0, np.uint8)


def mapped_array(mapped, offset: int, dtype_name: str, numel: int) -> np.ndarray:
    """A storage's flat array on the bytes of a memory-mapped file (no copy)."""
    gd = TORCH_DTYPES[dtype_name][1]
    if gd is None or not numel:
        return new_array(dtype_name, 0 if gd is None else numel)
    return np.frombuffer(mapped, gd.np, numel, offset)
