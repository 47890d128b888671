"""gpugrad.accelerator, as in PyTorch 2.x: the current accelerator (CUDA) if there is one."""

from __future__ import annotations

from . import cuda
from ._device import device


def is_available() -> bool:
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """``device('cuda')`` when CuPy sees a GPU, else None."""
    if cuda.is_available():
        return device("cuda")
    return None


def device_count() -> int:
    return cuda.device_count()


def synchronize(device=None) -> None:
    if cuda.is_available():
        cuda.synchronize(device)
