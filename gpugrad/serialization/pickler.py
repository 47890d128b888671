"""Pickling whole objects (a model, an optimizer, anything) in PyTorch's checkpoint formats.

Tensors are written as PyTorch writes them: ``torch._utils._rebuild_tensor_v2`` over a
persistent storage record (``("storage", torch.FloatStorage, key, location, numel)``),
Parameters through ``_rebuild_parameter``; tensors sharing memory share one storage. gpugrad's
dtypes, devices, ``Size`` and classes are named by PyTorch's paths (``gpugrad.nn.Linear`` is
written as ``torch.nn.Linear``), so real torch loads the object with its own classes and gpugrad
loads it with gpugrad's. It is the pure-Python pickler: only it lets a global be written under
another module's name.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from types import FunctionType
from typing import Any, BinaryIO

import numpy as np

from .. import _dtype as D
from .._device import device as Device
from .._tensor import Size, Tensor, layout
from .storage import TorchDtype, storage_class_name
from .torch_module_state import extra_state
from .torch_names import TorchName, global_name, torch_global

_REBUILD_TENSOR = torch_global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = torch_global("torch._utils", "_rebuild_parameter")
_SIZE = torch_global("torch", "Size")
_DEVICE = torch_global("torch", "device")
_GET_LAYOUT = torch_global("torch.serialization", "_get_layout")


class SavedStorage:
    """One storage of the file: the flat memory that one or more saved tensors view."""

    def __init__(self, key: str, flat, dev: Device) -> None:
        self.key, self.flat, self.device = key, flat, dev

    def persistent_id(self, legacy: bool = False) -> tuple:
        cls = torch_global("torch", storage_class_name(D._BY_NP[np.dtype(self.flat.dtype)]))
        pid = ("storage", cls, self.key, str(self.device), int(self.flat.size))
        return pid + (None,) if legacy else pid  # the legacy format's (empty) view record

    def host_bytes(self) -> memoryview:
        arr = self.device.backend.to_host(self.flat)
        return memoryview(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))


class TorchPickler(pickle._Pickler):
    """Writes ``obj`` with PyTorch's names; the storages it met are in :attr:`storages`."""

    def __init__(self, file: BinaryIO, protocol: int = 2, legacy: bool = False) -> None:
        super().__init__(file, protocol=protocol)
        self.legacy = legacy
        self.storages: dict[int, SavedStorage] = {}
        self._roots: list = []  # keeps each root array alive, so its id stays its own
        self._holders: dict[int, list] = {}  # id(array) -> version counter of its first tensor
        from ..nn import Module

        self._module = Module

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, SavedStorage):
            return obj.persistent_id(self.legacy)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Tensor):
            return self._reduce_tensor(obj)
        if isinstance(obj, self._module):
            extra = extra_state(obj)
            if extra:  # what torch's class needs beyond gpugrad's attributes
                rv = obj.__reduce_ex__(self.proto)
                return (rv[0], rv[1], {**rv[2], **extra}, *rv[3:])
        if isinstance(obj, Device):
            return (_DEVICE, (str(obj),))
        if isinstance(obj, Size):
            return (_SIZE, (tuple(obj),))
        if isinstance(obj, layout):
            return (_GET_LAYOUT, (f"torch.{obj._name}",))
        if isinstance(obj, (TorchName, TorchDtype, D.dtype)) or (
            isinstance(obj, FunctionType) and global_name(obj) is not None
        ):
            # a str: pickle writes it through save_global below (functions would otherwise go
            # to pickle's own save_global, straight from its dispatch table)
            return "global"
        return NotImplemented

    def save_global(self, obj: Any, name: str | None = None) -> None:
        target = global_name(obj)
        if target is None:
            super().save_global(obj, name)
            return
        module, qualname = target
        self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)

    def _reduce_tensor(self, t: Tensor) -> tuple:
        from ..nn import Parameter

        if isinstance(t, Parameter):
            data = Tensor._make(t._data, t._device)
            data._vc = t._vc  # the parameter's memory, as its detached aliases have it
            return (_REBUILD_PARAMETER, (data, t.requires_grad, OrderedDict()))
        storage, offset, stride = self._storage_of(t)
        args = (storage, offset, tuple(t.shape), stride, t.requires_grad, OrderedDict())
        return (_REBUILD_TENSOR, args)

    def _storage_of(self, t: Tensor) -> tuple[SavedStorage, int, tuple]:
        """The storage ``t`` views (shared with every tensor on the same memory), its element
        offset and strides in it; a layout PyTorch cannot express (negative strides) is
        saved as a contiguous copy."""
        arr = t._data
        ndarray = t._device.backend.xp.ndarray
        root = _root(arr, ndarray)
        item = arr.itemsize
        # one array held by unrelated tensors (other version counters) is gpugrad's sharing
        # of an immutable value (the optimizers' step counts), not one storage: torch would
        # write through it in place
        owner = self._holders.setdefault(id(arr), t._vc)
        ok = owner is t._vc and (
            (root.flags.c_contiguous or root.flags.f_contiguous)
            and all(s >= 0 for s in arr.strides)
            and all(s % item == 0 for s in arr.strides)
        )
        if ok:
            offset_bytes = _ptr(arr) - _ptr(root)
            ok = 0 <= offset_bytes and offset_bytes % item == 0
        if not ok:  # a storage of its own (a copy: never the same array object again)
            arr = arr.copy(order="C")
            root, offset_bytes = (arr if arr.ndim else arr.reshape(1)), 0
        if id(root) not in self.storages:
            flat = root.ravel(order="K") if root.ndim != 1 else root
            self.storages[id(root)] = SavedStorage(str(len(self.storages)), flat, t._device)
            self._roots.append(root)
        stride = tuple(s // item for s in arr.strides)
        return self.storages[id(root)], offset_bytes // item, stride


def _root(arr, ndarray):
    """The array of the same dtype that owns (or first views) ``arr``'s memory: views share a
    storage when they share a root. ``as_strided`` views reach theirs through a wrapper
    object that holds the array it was made from."""
    root = arr
    while True:
        base = root.base
        if base is not None and not isinstance(base, ndarray):
            base = getattr(base, "base", None)  # numpy's as_strided wrapper
        if not isinstance(base, ndarray) or base.dtype != arr.dtype:
            return root
        root = base


def _ptr(arr) -> int:
    iface = getattr(arr, "__array_interface__", None) or arr.__cuda_array_interface__
    return iface["data"][0]
