"""gpugrad.cuda: is CUDA usable, how many GPUs, synchronise; memory statistics (memory.py),
streams and events (streams.py), CUDA graphs (graphs.py), the older amp spellings (amp.py).
Answers False/0 without CuPy, and fails as PyTorch's CPU-only build does where that one fails."""

from __future__ import annotations

from ..backend import cuda_status
from . import amp, graphs, memory, streams
from .graphs import (
    CUDAGraph,
    graph,
    graph_pool_handle,
    is_current_stream_capturing,
    make_graphed_callables,
)
from .memory import (
    OutOfMemoryError,
    empty_cache,
    max_memory_allocated,
    max_memory_reserved,
    mem_get_info,
    memory_allocated,
    memory_reserved,
    memory_stats,
    memory_summary,
    reset_max_memory_allocated,
    reset_peak_memory_stats,
)
from .streams import (
    Event,
    Stream,
    StreamContext,
    current_stream,
    default_stream,
    set_stream,
    stream,
)


def is_available() -> bool:
    """True when CuPy is installed and sees at least one CUDA GPU."""
    return cuda_status()[0] > 0


def device_count() -> int:
    return cuda_status()[0]


def why_unavailable() -> str:
    """A plain sentence saying why CUDA cannot be used ('' when it can)."""
    return cuda_status()[1]


def current_device() -> int:
    from ..backend import current_cuda_index

    return current_cuda_index()


def set_device(device) -> None:
    from .._device import device as Device
    from ..backend import cupy_backend

    d = Device(device) if not isinstance(device, int) else Device("cuda", device)
    cp = cupy_backend._require()
    cp.cuda.Device(d.index or 0).use()


def synchronize(device=None) -> None:
    """Wait until all queued GPU work has finished (timing needs this)."""
    from .._device import device as Device

    dev = (
        Device("cuda")
        if device is None
        else Device(device if not isinstance(device, int) else f"cuda:{device}")
    )
    from .._device import canonical

    canonical(dev).backend.synchronize()


def get_device_name(device=None) -> str:
    from ..backend import cupy_backend

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


def manual_seed(seed: int) -> None:
    """Seed the CUDA devices' generators: those made already and those made later (gpugrad
    has one generator per device, so this seeds all of them, as ``manual_seed_all``)."""
    from ..backend import _cuda_backends, cupy_backend

    cupy_backend.seed_all(int(seed))
    for b in _cuda_backends.values():
        b.seed(int(seed))


manual_seed_all = manual_seed


class _CudaTypedMeta(type):
    """``isinstance(t, gpugrad.cuda.FloatTensor)``: a CUDA tensor of that dtype."""

    def __instancecheck__(cls, obj: object) -> bool:
        from .._tensor import Tensor

        return isinstance(obj, Tensor) and obj.device.type == "cuda" and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        from .. import _dtype as D

        return f"<class '{D.PRINTED_MODULE}.cuda.{cls.__name__}'>"


def _cuda_typed(name: str, dtype) -> type:
    def __new__(cls, *args, device=None):  # noqa: N807 - the class's own
        from .. import _dtype as D
        from .._legacy import legacy_new

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
    from .. import _dtype as D

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
