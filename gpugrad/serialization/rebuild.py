"""Tensors of a PyTorch checkpoint rebuilt from their storages (PyTorch's ``torch._utils``
rebuild functions, answered with gpugrad tensors).

A checkpoint's pickle calls ``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` for each
tensor; here that is a strided view of the storage's array, after checking that the view stays
inside the storage (a hostile file must not read memory it does not own). Each view is
recorded so that :meth:`Rebuilder.place` can move the storages where ``map_location`` says,
once their bytes are in.
"""

from __future__ import annotations

import math
from typing import Any

from .._tensor import Tensor
from .storage import TORCH_DTYPES, TorchDtype, TypedStorage, restore_location


class UnsupportedTensor:
    """Stands in for a tensor whose dtype gpugrad cannot hold, until the loader names its key."""

    def __init__(self, dtype_name: str, size: tuple) -> None:
        self.dtype_name, self.size = dtype_name, tuple(size)


class RebuildError(ValueError):
    """A tensor record that does not fit its storage (the loader adds the file name)."""


class Rebuilder:
    """The rebuild functions of one load, and the storages and views they made."""

    def __init__(self) -> None:
        self.storages: dict[str, tuple[TypedStorage, str]] = {}  # key -> (storage, location)
        self.views: list[tuple[Tensor, str, int, tuple, tuple]] = []
        self._view_of: dict[int, tuple] = {}

    # ---- storages ------------------------------------------------------------------------
    def add_storage(self, key: str, storage: TypedStorage, location: str) -> TypedStorage:
        self.storages[key] = (storage, location)
        storage.key = key
        return storage

    def place(self, map_location: Any) -> None:
        """Move every storage (and the tensors viewing it) where ``map_location`` says."""
        restore = restore_location(map_location)
        moved: dict[str, TypedStorage] = {}
        for key, (storage, location) in self.storages.items():
            out = restore(storage, location)
            if out is not storage:
                moved[key] = out
        for t, key, offset, size, stride in self.views:
            if key in moved:
                out = moved[key]
                arr = out.array
                if arr.dtype != t._data.dtype:  # a typed view of an untyped storage
                    arr = arr.view(t._data.dtype)
                t._data = _strided(arr, offset, size, stride, out.device)
                t._device = out.device

    # ---- PyTorch's rebuild functions -----------------------------------------------------
    def tensor_v2(
        self, storage, storage_offset, size, stride, requires_grad=False, hooks=None, metadata=None
    ):
        t = self._view(storage, storage_offset, size, stride)
        if isinstance(t, Tensor) and requires_grad and t.dtype.is_floating_point:
            t._requires_grad = True
        return t

    def tensor(self, storage, storage_offset, size, stride):
        return self._view(storage, storage_offset, size, stride)

    def tensor_v3(
        self, storage, storage_offset, size, stride, requires_grad, hooks, dtype, metadata=None
    ):
        name = dtype.name if isinstance(dtype, TorchDtype) else getattr(dtype, "name", None)
        if name not in TORCH_DTYPES:
            raise RebuildError(f"a tensor has an unknown dtype {dtype!r}")
        if name != storage.dtype_name:
            storage = _reinterpret(storage, name)
        return self.tensor_v2(storage, storage_offset, size, stride, requires_grad)

    def parameter(self, data, requires_grad, hooks=None):
        if isinstance(data, UnsupportedTensor):
            return data
        from ..nn import Parameter

        p = Parameter(data, requires_grad=bool(requires_grad) and data.dtype.is_floating_point)
        entry = self._view_of.get(id(data))
        if entry is not None:  # the parameter, not its data, is what must move with its storage
            self._record(p, *entry)
        return p

    def parameter_with_state(self, data, requires_grad, hooks, state):
        p = self.parameter(data, requires_grad, hooks)
        _set_state(p, state)
        return p

    def from_type_v2(self, func, new_type, args, state):
        t = func(*args)
        if isinstance(t, Tensor) and isinstance(new_type, type) and issubclass(new_type, Tensor):
            if type(t) is not new_type:
                sub = new_type._make(t._data, t._device)
                sub._requires_grad = t._requires_grad
                entry = self._view_of.get(id(t))
                if entry is not None:
                    self._record(sub, *entry)
                t = sub
            _set_state(t, state)
        return t

    @staticmethod
    def unsupported(kind: str):
        def refuse(*args, **kwargs):
            raise RebuildError(f"the checkpoint holds {kind}, which gpugrad cannot load")

        return refuse

    # ---- views ---------------------------------------------------------------------------
    def _view(self, storage, offset, size, stride):
        if not isinstance(storage, TypedStorage):
            raise RebuildError(f"a tensor's storage is a {type(storage).__name__}, not a storage")
        size, stride, offset = _ints(size, "size"), _ints(stride, "stride"), int(offset)
        if TORCH_DTYPES[storage.dtype_name][1] is None:
            return UnsupportedTensor(storage.dtype_name, size)
        if len(size) != len(stride) or offset < 0 or any(n < 0 for n in size + stride):
            raise RebuildError(f"a tensor has a bad layout (size {size}, stride {stride})")
        n = len(storage.array)
        if math.prod(size) and offset + sum((a - 1) * s for a, s in zip(size, stride)) >= n:
            raise RebuildError(
                f"a tensor of size {size}, stride {stride} at offset {offset} runs past the "
                f"end of its storage of {n} elements"
            )
        dev = storage.device
        t = Tensor._make(_strided(storage.array, offset, size, stride, dev), dev)
        self._record(t, storage.key, offset, size, stride)
        return t

    def _record(self, t, key, offset, size, stride) -> None:
        self.views.append((t, key, offset, size, stride))
        self._view_of[id(t)] = (key, offset, size, stride)


def _ints(v, what: str) -> tuple:
    if not isinstance(v, (tuple, list)) or not all(isinstance(x, int) for x in v):
        raise RebuildError(f"a tensor's {what} is {v!r}, not a tuple of ints")
    return tuple(int(x) for x in v)


def _strided(arr, offset: int, size: tuple, stride: tuple, dev):
    """The view (offset, size, stride) of a flat array, sharing its memory."""
    if not math.prod(size):
        return dev.backend.xp.empty(size, arr.dtype)
    contiguous, acc = True, 1
    for n, s in zip(reversed(size), reversed(stride)):
        if n != 1 and s != acc:
            contiguous = False
        acc *= n
    if contiguous:
        return arr[offset : offset + acc].reshape(size)
    strides = tuple(s * arr.itemsize for s in stride)
    return dev.backend.as_strided(arr[offset:], size, strides, writeable=True)


def _reinterpret(storage: TypedStorage, dtype_name: str) -> TypedStorage:
    """An untyped (byte) storage seen as ``dtype_name`` (``_rebuild_tensor_v3``)."""
    gd = TORCH_DTYPES[dtype_name][1]
    arr = storage.array
    out = TypedStorage(arr.view(gd.np) if gd is not None else arr, dtype_name, storage.device)
    out.key = storage.key
    return out


def _set_state(obj, state) -> None:
    if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
        state = {**(state[0] or {}), **(state[1] or {})}
    for k, v in (state or {}).items():
        if isinstance(k, str) and not k.startswith("_"):
            setattr(obj, k, v)
