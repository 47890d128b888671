"""gpugrad.cuda: is CUDA usable, how many GPUs, synchronise. Answers False/0 without CuPy."""

from __future__ import annotations

from .backend import cuda_status


def is_available() -> bool:
    """True when CuPy is installed and sees at least one CUDA GPU."""
    return cuda_status()[0] > 0


def device_count() -> int:
    return cuda_status()[0]


def why_unavailable() -> str:
    """A plain sentence saying why CUDA cannot be used ('' when it can)."""
    return cuda_status()[1]


def current_device() -> int:
    from .backend import current_cuda_index

    return current_cuda_index()


def set_device(device) -> None:
    from ._device import device as Device
    from .backend import cupy_backend

    d = Device(device) if not isinstance(device, int) else Device("cuda", device)
    cp = cupy_backend._require()
    cp.cuda.Device(d.index or 0).use()


def synchronize(device=None) -> None:
    """Wait until all queued GPU work has finished (timing needs this)."""
    from ._device import device as Device

    dev = (
        Device("cuda")
        if device is None
        else Device(device if not isinstance(device, int) else f"cuda:{device}")
    )
    from ._device import canonical

    canonical(dev).backend.synchronize()


def get_device_name(device=None) -> str:
    from .backend import cupy_backend

    cp = cupy_backend._require()
    idx = (
        0
        if device is None
        else (
            device
            if isinstance(device, int)
            else (__import__("gpugrad")._device.device(device).index or 0)
        )
    )
    name = cp.cuda.runtime.getDeviceProperties(idx)["name"]
    return name.decode() if isinstance(name, bytes) else name


def empty_cache() -> None:
    """Give the GPU memory CuPy's pools hold but no tensor uses back to the driver (a no-op
    without CUDA, as PyTorch's)."""
    from .backend import cupy_backend

    cupy_backend.empty_cache()


def manual_seed(seed: int) -> None:
    from .backend import cupy_backend

    cupy_backend.seed_all(int(seed))


manual_seed_all = manual_seed


class _Amp:
    """``gpugrad.cuda.amp``: PyTorch's older spellings of ``gpugrad.amp`` for ``cuda``."""

    @staticmethod
    def autocast(enabled: bool = True, dtype=None, cache_enabled: bool = True):
        import warnings

        from .amp import autocast

        warnings.warn(
            "`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
            "`torch.amp.autocast('cuda', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        return autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    @staticmethod
    def GradScaler(*args, **kwargs):  # noqa: N802 - PyTorch's name
        import warnings

        from .amp import GradScaler

        warnings.warn(
            "`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use "
            "`torch.amp.GradScaler('cuda', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        return GradScaler("cuda", *args, **kwargs)


amp = _Amp()
