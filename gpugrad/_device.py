"""Device objects: ``gpugrad.device("cpu")``, ``gpugrad.device("cuda", 0)``."""

from __future__ import annotations

import threading

_cache: dict = {}
_lock = threading.Lock()

# Device facts sit below the array backends: gpugrad.backend installs these two lookups when it
# is imported (before any tensor can exist), so this module never imports it.
_backend_for = None  # device -> its ArrayBackend
_current_cuda_index = None  # () -> the current CUDA device's index


class device:  # noqa: N801 - PyTorch's name
    """Where a tensor's memory lives. Interned: equal devices are the same object."""

    __slots__ = ("type", "index", "_str", "backend")

    def __new__(cls, type_or_str: str | device | int, index: int | None = None):
        if isinstance(type_or_str, device):
            return type_or_str
        key = (type_or_str, index)
        d = _cache.get(key)
        if d is not None:
            return d
        with _lock:
            d = _cache.get(key) or _parse(cls, type_or_str, index)
            _cache[key] = d
            return d

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self._str

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, ValueError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self._str,))

    def __getattr__(self, name: str):
        # ``backend`` (the NumPy or CuPy kernels running ops on this device) is resolved on
        # first use, so naming a cuda device needs no CuPy; later reads are a plain slot.
        if name == "backend":
            b = _backend_for(self)
            object.__setattr__(self, "backend", b)
            return b
        raise AttributeError(f"'device' object has no attribute '{name}'")


def _parse(cls, type_or_str, index) -> device:
    if isinstance(type_or_str, int):  # PyTorch accepts a bare ordinal for cuda
        type_or_str, index = "cuda", type_or_str
    if not isinstance(type_or_str, str):
        raise TypeError(f"device() expects a string or an int, got {type(type_or_str).__name__}")
    kind, sep, idx = type_or_str.partition(":")
    if sep:
        if index is not None:
            raise RuntimeError(
                f"type (string) must not include an index because index was "
                f"passed explicitly: {type_or_str}"
            )
        if not idx.isdigit():
            raise RuntimeError(f"Invalid device string: '{type_or_str}'")
        index = int(idx)
    if kind not in ("cpu", "cuda"):
        raise RuntimeError(
            f"Expected one of cpu, cuda device type at start of device string: {type_or_str}"
        )
    if kind == "cpu":
        index = None  # PyTorch keeps cpu index None for "cpu"; "cpu:0" is the same device here
    elif index is not None and index < 0:
        raise RuntimeError(f"Device index must not be negative, got {index}")
    d = object.__new__(cls)
    d.type, d.index = kind, index
    d._str = kind if index is None else f"{kind}:{index}"
    return d


cpu = device("cpu")


def canonical(d) -> device:
    """A device with an explicit index for cuda ("cuda" means the current cuda device)."""
    d = device(d)
    if d.type == "cuda" and d.index is None:
        return device("cuda", _current_cuda_index())
    return d
