"""PyTorch's names in pickles, in both directions.

Loading: a checkpoint names ``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``,
``torch.float32``, ``torch.nn.modules.linear.Linear`` ...; :func:`torch_table` answers the
tensor machinery with gpugrad's, and :func:`resolve` finds the rest at the same path under
``gpugrad`` (or in the nearest gpugrad package that exports the name), never importing torch.

Saving: :func:`global_name` writes gpugrad's tensors' rebuild functions, dtypes and classes
under PyTorch's names, so real torch loads the file with its own classes.
"""

from __future__ import annotations

import importlib
from typing import Any

from .. import _dtype as D
from .._device import device as Device
from .._tensor import Size, Tensor
from .storage import STORAGE_CLASSES, TORCH_DTYPES, StorageType, TorchDtype


class TorchName:
    """A global written into a pickle under PyTorch's name (``torch._utils`` ``_rebuild_...``)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:  # pickle wants reduce functions callable
        raise TypeError(f"{self.module}.{self.name} is a name for PyTorch, not a function")


_names: dict[tuple[str, str], TorchName] = {}


def torch_global(module: str, name: str) -> TorchName:
    """The one marker for ``module.name`` (pickle memoizes it once)."""
    key = (module, name)
    if key not in _names:
        _names[key] = TorchName(module, name)
    return _names[key]


def _get_layout(name: str) -> Any:
    """PyTorch's ``torch.serialization._get_layout``: a layout from its name."""
    from .._tensor import layout

    found = getattr(importlib.import_module("gpugrad"), name.removeprefix("torch."), None)
    if not isinstance(found, layout):
        raise ValueError(f"gpugrad has no layout {name}")
    return found


def torch_table(rebuild) -> dict[str, Any]:
    """PyTorch's globals for tensors, storages and dtypes -> what gpugrad builds for them
    (``rebuild``: this load's :class:`~.rebuild.Rebuilder`)."""
    from ..nn import Parameter

    u = "torch._utils."
    table: dict[str, Any] = {
        u + "_rebuild_tensor": rebuild.tensor,
        u + "_rebuild_tensor_v2": rebuild.tensor_v2,
        u + "_rebuild_tensor_v3": rebuild.tensor_v3,
        u + "_rebuild_parameter": rebuild.parameter,
        u + "_rebuild_parameter_with_state": rebuild.parameter_with_state,
        "torch._tensor._rebuild_from_type_v2": rebuild.from_type_v2,
        "torch.serialization._get_layout": _get_layout,
        "torch.Size": Size,
        "torch.Tensor": Tensor,
        "torch.nn.parameter.Parameter": Parameter,
        "torch.device": Device,
    }
    for fn, kind in (
        ("_rebuild_qtensor", "quantized tensors"),
        ("_rebuild_sparse_tensor", "sparse tensors"),
        ("_rebuild_nested_tensor", "nested tensors"),
        ("_rebuild_meta_tensor_no_storage", "meta tensors"),
        ("_rebuild_wrapper_subclass", "tensor wrapper subclasses"),
        ("_rebuild_device_tensor_from_numpy", "tensors of a device gpugrad does not have"),
        ("_rebuild_device_tensor_from_cpu_tensor", "tensors of a device gpugrad does not have"),
    ):
        table[u + fn] = rebuild.unsupported(kind)
    for name in TORCH_DTYPES:
        gd = TORCH_DTYPES[name][1]
        table[f"torch.{name}"] = gd if gd is not None else TorchDtype(name)
    for cls in STORAGE_CLASSES:
        for mod in ("torch", "torch.cuda", "torch.storage"):
            table[f"{mod}.{cls}"] = StorageType(cls)
    return table


def resolve(module: str, name: str) -> Any:
    """The gpugrad object for a checkpoint's ``torch...`` global outside :func:`torch_table`:
    the same path under gpugrad, else the nearest gpugrad package above it that has the name.
    Raises AttributeError naming the PyTorch path when gpugrad has no such object."""
    parts = ("gpugrad" + module[len("torch") :]).split(".")
    for depth in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:depth]))
            for attr in name.split("."):
                obj = getattr(obj, attr)
            return obj
        except (ImportError, AttributeError):
            continue
    raise AttributeError(f"the checkpoint needs {module}.{name}, which gpugrad does not have")


# gpugrad classes public in a package where PyTorch has them only in a submodule
_TORCH_HOMES = {
    ("gpugrad.nn.modules.linear", "NonDynamicallyQuantizableLinear"): "torch.nn.modules.linear",
}


# gpugrad's faces of PyTorch's function namespaces
_FACES = ("gpugrad.nn.functional", "gpugrad.linalg", "gpugrad.special", "gpugrad.nn.init")


def global_name(obj: Any) -> tuple[str, str] | None:
    """(module, name) under which a gpugrad global is written for PyTorch, or None for the
    objects pickle names itself (the user's classes, collections.OrderedDict ...)."""
    if isinstance(obj, TorchName):
        return obj.module, obj.name
    if isinstance(obj, D.dtype):
        return "torch", obj.name
    if isinstance(obj, TorchDtype):
        return "torch", obj.name
    module = getattr(obj, "__module__", None) or ""
    if module != "gpugrad" and not module.startswith("gpugrad."):
        return None
    qualname = getattr(obj, "__qualname__", getattr(obj, "__name__", None))
    if (module, qualname) in _TORCH_HOMES:
        return _TORCH_HOMES[module, qualname], qualname
    parts = module.split(".")
    # classes: the shortest public gpugrad path that has the object (gpugrad.nn.Linear ->
    # torch.nn.Linear), else a public face that mirrors PyTorch's (gpugrad.nn.functional.relu)
    parents = [".".join(parts[:d]) for d in range(1, len(parts) + 1)]
    public = [p for p in parents if not any(c.startswith("_") for c in p.split("."))]
    # functions: the face first (gpugrad.gelu exists, torch.gelu does not)
    for path in (public + list(_FACES)) if isinstance(obj, type) else (list(_FACES) + public):
        try:
            found: Any = importlib.import_module(path)
            for attr in qualname.split("."):
                found = getattr(found, attr)
        except (ImportError, AttributeError):
            continue
        if found is obj:
            return "torch" + path[len("gpugrad") :], qualname
    # made by a factory (``_cmp.<locals>.op``) or bound under another name: found by identity
    for path in (*_FACES, "gpugrad"):
        for attr, value in vars(importlib.import_module(path)).items():
            if value is obj:
                return "torch" + path[len("gpugrad") :], attr
    return "torch" + module[len("gpugrad") :], qualname
