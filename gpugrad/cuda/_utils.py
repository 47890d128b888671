"""What gpugrad.cuda's memory and stream functions share: device arguments read as PyTorch
reads them, and CUDA made ready (CuPy and the tracking allocator) on first use."""

from __future__ import annotations

from .._device import device as Device
from ..backend import cuda_status, cupy_allocator, cupy_backend


def available() -> bool:
    return cuda_status()[0] > 0


def not_compiled_error() -> AssertionError:
    """What PyTorch's CPU-only build raises ("Torch not compiled with CUDA enabled") for
    calls that need CUDA, with gpugrad's reason in place of PyTorch's build flag."""
    return AssertionError(f"CUDA is not available: {cuda_status()[1]}")


def lazy_init():
    """CuPy, with the tracking allocator in front of its pool (PyTorch's ``_lazy_init``);
    raises :func:`not_compiled_error` when CUDA cannot be used."""
    if not available():
        raise not_compiled_error()
    cp = cupy_backend._require()
    cupy_allocator.install(cp)
    return cp


def get_device_index(device, optional: bool = False, allow_cpu: bool = False) -> int | None:
    """A CUDA device index from an int, a ``"cuda:N"`` string or a device (PyTorch's
    ``torch.cuda._utils._get_device_index``). ``None`` or ``"cuda"`` mean the current
    device when ``optional`` (``None`` when CUDA is unusable); cpu is -1 with ``allow_cpu``."""
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        device = Device(device)
    index = None
    if isinstance(device, Device):
        if allow_cpu:
            if device.type not in ("cuda", "cpu"):
                raise ValueError(f"Expected a cuda or cpu device, but got: {device}")
        elif device.type != "cuda":
            raise ValueError(f"Expected a cuda device, but got: {device}")
        index = -1 if device.type == "cpu" else device.index
    if index is None:
        if not optional:
            raise ValueError(
                f"Expected a torch.device with a specified index or an integer, but got:{device}"
            )
        if available():
            index = cupy_backend.current_index()
    return index


def check_index(index: int) -> int:
    """``index`` when it names a visible device; PyTorch's error otherwise."""
    n = cuda_status()[0]
    if not 0 <= index < n:
        raise RuntimeError(f"Invalid device argument {index}: did you call init?")
    return index
