"""The import hook behind ``gpugrad.as_torch``: ``torch`` and every ``torch.X.Y`` resolve to
``gpugrad`` / ``gpugrad.X.Y``, the same module objects (``torch.nn is gpugrad.nn``)."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

TORCH = "torch"
GPUGRAD = "gpugrad"


def gpugrad_name(torch_name: str) -> str:
    """``torch.nn.functional`` -> ``gpugrad.nn.functional``."""
    return GPUGRAD + torch_name[len(TORCH) :]


def is_torch_name(name: str) -> bool:
    return name == TORCH or name.startswith(TORCH + ".")


class TorchAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A meta path finder and loader that answers every ``torch`` import with gpugrad's module.

    It claims the whole ``torch`` namespace, so no later finder can find a real torch
    submodule (or a file of gpugrad's under a second name) behind it.
    """

    def __init__(self) -> None:
        self._own_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path=None, target=None):
        if not is_torch_name(fullname):
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=gpugrad_name(fullname))

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        target = gpugrad_name(spec.name)
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as e:
            # only gpugrad lacking the module itself is "torch.X is missing"; a dependency
            # missing inside an existing module (tensorboard ...) keeps its own error
            if e.name is None or not (target == e.name or target.startswith(e.name + ".")):
                raise
            raise ModuleNotFoundError(
                f"No module named '{spec.name}': gpugrad is standing in for torch here "
                f"(gpugrad.as_torch), and gpugrad has no '{target}'",
                name=spec.name,
            ) from None
        # the import system overwrites __spec__ with this alias spec; exec_module puts the
        # module's own back, so gpugrad.nn.__spec__ stays gpugrad's (reload, pickle, pkgutil)
        self._own_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        name = module.__spec__.name if module.__spec__ is not None else None
        own = self._own_specs.pop(name, None) if name is not None else None
        if own is not None:
            module.__spec__ = own


def installed() -> TorchAlias | None:
    """The alias on ``sys.meta_path``, if any."""
    for finder in sys.meta_path:
        if isinstance(finder, TorchAlias):
            return finder
    return None


def aliased_modules() -> list[str]:
    """The ``torch`` names in ``sys.modules`` that hold gpugrad's modules."""
    out = []
    for name, module in list(sys.modules.items()):
        if is_torch_name(name) and getattr(module, "__name__", "").split(".")[0] == GPUGRAD:
            out.append(name)
    return out
