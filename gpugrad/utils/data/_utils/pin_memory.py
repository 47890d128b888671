"""pin_memory: copy a batch's CPU tensors into page-locked host memory (CUDA only).

Page-locked buffers let host-to-device copies run at full bandwidth and asynchronously. The
buffer comes from the CUDA backend (``empty_pinned``); the walk over the batch's structure
follows PyTorch's ``torch.utils.data._utils.pin_memory.pin_memory``.
"""

from __future__ import annotations

import collections.abc as abc

from ...._tensor import Tensor


def _pinned_copy(t: Tensor) -> Tensor:
    if t._device.type != "cpu":
        return t
    from ...._device import canonical

    empty_pinned = getattr(canonical("cuda").backend, "empty_pinned", None)
    if empty_pinned is None:  # a backend without page-locked allocation: keep pageable memory
        return t
    buf = empty_pinned(t._data.shape, t._data.dtype)
    buf[...] = t._data
    out = Tensor._make(buf, t._device)
    if t._requires_grad:
        out.requires_grad_(True)
    return out


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
