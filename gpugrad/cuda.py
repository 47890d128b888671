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


class _CudaTypedMeta(type):
    """``isinstance(t, gpugrad.cuda.FloatTensor)``: a CUDA tensor of that dtype."""

    def __instancecheck__(cls, obj: object) -> bool:
        from ._tensor import Tensor

        return isinstance(obj, Tensor) and obj.device.type == "cuda" and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        from . import _dtype as D

        return f"<class '{D.PRINTED_MODULE}.cuda.{cls.__name__}'>"


def _cuda_typed(name: str, dtype) -> type:
    def __new__(cls, *args, device=None):  # noqa: N807 - the class's own
        from . import _dtype as D
        from ._legacy import legacy_new

        if not is_available():
            # PyTorch without CUDA raises this TypeError too; the reason says what is missing
            raise TypeError(
                f"type {D.PRINTED_MODULE}.cuda.{name} not available. CUDA is not available: "
                f"{why_unavailable()}"
            )
        return legacy_new(args, cls.dtype, "cuda" if device is None else device)

    doc = f"``{name}(*sizes)`` or ``{name}(data)``: a CUDA tensor of dtype {dtype}."
    attrs = {"__new__": __new__, "dtype": dtype, "__doc__": doc, "_legacy_device": "cuda"}
    return _CudaTypedMeta(name, (), attrs)


def _legacy_types() -> dict:
    from . import _dtype as D

    kinds = {
        "FloatTensor": D.float32,
        "DoubleTensor": D.float64,
        "HalfTensor": D.float16,
        "LongTensor": D.int64,
        "IntTensor": D.int32,
        "ShortTensor": D.int16,
        "CharTensor": D.int8,
        "ByteTensor": D.uint8,
        "BoolTensor": D.bool_,
    }
    return {n: _cuda_typed(n, dt) for n, dt in kinds.items()}


# torch.cuda.FloatTensor ...: PyTorch's legacy CUDA constructors and isinstance types
globals().update(_legacy_types())
