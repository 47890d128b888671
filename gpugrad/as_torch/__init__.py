"""gpugrad standing in for torch: unchanged PyTorch scripts run on gpugrad.

``python -m gpugrad.as_torch script.py args...`` runs a script as ``python script.py`` would,
with ``import torch`` (and ``import torch.nn.functional as F``, ``from torch.optim import
AdamW`` ...) resolving to gpugrad's modules. In a notebook, call :func:`install` before the
first ``import torch``. A ``torch.X`` gpugrad lacks raises ModuleNotFoundError naming it.
Outside the runner (and before install) ``import torch`` imports real PyTorch, if installed.
"""

from __future__ import annotations

import sys

from .. import _dtype
from .alias import TORCH, TorchAlias, aliased_modules, installed

__all__ = ["install", "uninstall", "is_installed"]


def install() -> None:
    """Make ``import torch`` (and every ``torch.X``) import gpugrad's modules, and print
    dtypes, ``Size`` and return types as ``torch.float32``, ``torch.Size([...])`` ...

    Raises RuntimeError, changing nothing, when real torch is already imported: modules that
    hold it would mix two libraries' tensors.
    """
    if installed() is not None:
        return
    real = sys.modules.get(TORCH)
    if real is not None and not getattr(real, "__name__", "").startswith("gpugrad"):
        raise RuntimeError(
            "gpugrad.as_torch.install(): the real torch is already imported in this process "
            f"({getattr(real, '__file__', real)!r}); call install() before the first "
            "`import torch` (restart the kernel or interpreter)"
        )
    sys.meta_path.insert(0, TorchAlias())
    _dtype.PRINTED_MODULE = "torch"
    _show_torch_version(True)


def uninstall() -> None:
    """Undo :func:`install`: later ``import torch`` finds real PyTorch again, and gpugrad
    prints its own names. Names a script already bound keep gpugrad's modules."""
    finder = installed()
    while finder is not None:
        sys.meta_path.remove(finder)
        finder = installed()
    for name in aliased_modules():
        del sys.modules[name]
    _dtype.PRINTED_MODULE = "gpugrad"
    _show_torch_version(False)


def _show_torch_version(on: bool) -> None:
    """``torch.__version__`` / ``torch.version.__version__``: PyTorch's API level gpugrad
    follows (so ``torch.__version__ >= "2"`` holds) while the alias is on; gpugrad's own
    version otherwise. Importing ``gpugrad.version`` makes ``torch.version`` an attribute."""
    import gpugrad

    from .. import version

    v = version.torch_version if on else version.TorchVersion(version.GPUGRAD_VERSION)
    gpugrad.__version__ = version.__version__ = v
    gpugrad.version = version


def is_installed() -> bool:
    """Whether ``import torch`` resolves to gpugrad in this process."""
    return installed() is not None
