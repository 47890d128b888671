"""pin_memory: copy a batch's CPU tensors into page-locked host memory (CUDA only).

Page-locked buffers let host-to-device copies run at full bandwidth and asynchronously. The
buffer comes from ``Tensor.pin_memory`` (the CUDA backend's pinned pool); the walk over the
batch's structure follows PyTorch's ``torch.utils.data._utils.pin_memory.pin_memory``.
"""

from __future__ import annotations

import collections.abc as abc

from ...._tensor import Tensor


def _pinned_copy(t: Tensor) -> Tensor:
    if t._device.type != "cpu":
        return t
    return t.pin_memory()  # the DataLoader asked for pinning only where CUDA is usable


def pin_memory(data, device: str | None = None):
    """``data`` with every CPU tensor (inside mappings and sequences too) in pinned memory."""
    if isinstance(data, Tensor):
        return _pinned_copy(data)
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, abc.Mapping):
        pinned = {k: pin_memory(v, device) for k, v in data.items()}
        try:
            return type(data)(pinned)
        except TypeError:  # a mapping type that cannot be built from a dict
            return pinned
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(pin_memory(s, device) for s in data))
    if isinstance(data, tuple):
        return [pin_memory(s, device) for s in data]  # a list, as PyTorch returns
    if isinstance(data, abc.Sequence):
        try:
            return type(data)([pin_memory(s, device) for s in data])
        except TypeError:
            return [pin_memory(s, device) for s in data]
    if hasattr(data, "pin_memory"):  # a user batch type with its own pin_memory()
        return data.pin_memory()
    return data
