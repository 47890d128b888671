"""``gpugrad.cuda``'s memory statistics (PyTorch's ``torch.cuda.memory``) over CuPy's pool.

"Allocated" is what tensors use, "reserved" what the pool holds from the driver (allocated
plus cached blocks). The peaks come from the tracking allocator in
``gpugrad.backend.cupy_allocator``. As PyTorch's, the statistics are empty (so the byte counts
are 0) until CUDA has been used, and on machines without CUDA.
"""

from __future__ import annotations

import collections

from .. import _warn
from ..backend import cupy_allocator
from ..backend.cupy_allocator import OutOfMemoryError
from ._utils import available, check_index, get_device_index, lazy_init

__all__ = [
    "OutOfMemoryError",
    "empty_cache",
    "max_memory_allocated",
    "max_memory_reserved",
    "mem_get_info",
    "memory_allocated",
    "memory_reserved",
    "memory_stats",
    "memory_summary",
    "reset_max_memory_allocated",
    "reset_peak_memory_stats",
]


def memory_stats(device=None) -> dict[str, int]:
    """The allocator's statistics for a device (the current one by default), under
    PyTorch's keys: ``allocated_bytes.all.{current,peak}``, ``reserved_bytes.all.{current,
    peak}``, ``num_alloc_retries`` and ``num_ooms``. Empty before CUDA is first used."""
    if not cupy_allocator.initialized():
        return collections.OrderedDict()
    index = check_index(get_device_index(device, optional=True))
    used, held, st = cupy_allocator.device_stats(index)
    return collections.OrderedDict(
        sorted(
            {
                "allocated_bytes.all.current": used,
                "allocated_bytes.all.peak": st.peak_allocated,
                "reserved_bytes.all.current": held,
                "reserved_bytes.all.peak": st.peak_reserved,
                "num_alloc_retries": st.num_alloc_retries,
                "num_ooms": st.num_ooms,
            }.items()
        )
    )


def memory_allocated(device=None) -> int:
    """Bytes that tensors occupy on the device now (CuPy's 512-byte rounding included)."""
    return memory_stats(device=device).get("allocated_bytes.all.current", 0)


def max_memory_allocated(device=None) -> int:
    """The most bytes tensors occupied, since the start or the last reset_peak_memory_stats."""
    return memory_stats(device=device).get("allocated_bytes.all.peak", 0)


def memory_reserved(device=None) -> int:
    """Bytes the memory pool holds from the driver: allocated plus cached for reuse."""
    return memory_stats(device=device).get("reserved_bytes.all.current", 0)


def max_memory_reserved(device=None) -> int:
    """The most bytes the pool held, since the start or the last reset_peak_memory_stats."""
    return memory_stats(device=device).get("reserved_bytes.all.peak", 0)


def reset_peak_memory_stats(device=None) -> None:
    """Start the peaks again from the current values."""
    if not available():
        # PyTorch's CPU-only build has no binding for this call and fails looking it up
        raise AttributeError("module 'torch._C' has no attribute '_cuda_resetPeakMemoryStats'")
    index = check_index(get_device_index(device, optional=True))
    if cupy_allocator.initialized():
        cupy_allocator.reset_peaks(index)


def reset_max_memory_allocated(device=None) -> None:
    """The older name of :func:`reset_peak_memory_stats` (which resets every peak)."""
    _warn.warn(
        "torch.cuda.reset_max_memory_allocated now calls torch.cuda.reset_peak_memory_stats, "
        "which resets /all/ peak memory stats.",
        FutureWarning,
    )
    return reset_peak_memory_stats(device=device)


def mem_get_info(device=None) -> tuple[int, int]:
    """(free, total) bytes of the device's memory, as the driver counts them (every
    process's use included)."""
    cp = lazy_init()
    index = check_index(get_device_index(device, optional=True))
    with cp.cuda.Device(index):
        free, total = cp.cuda.runtime.memGetInfo()
    return free, total


def empty_cache() -> None:
    """Give the GPU memory CuPy's pools hold but no tensor uses back to the driver (a no-op
    without CUDA, as PyTorch's)."""
    from ..backend import cupy_backend

    cupy_backend.empty_cache()


def _format_size(size: int) -> str:
    """PyTorch's memory_summary column: whole units, switching at 768 of the next."""
    unit, pref = "B  ", size
    for unit_next in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if pref < 768 * 1024:
            break
        unit, size, pref = unit_next, size // 1024, pref / 1024
    return f"{size:6d} {unit}"


def memory_summary(device=None, abbreviated: bool = False) -> str:
    """A table of the statistics in PyTorch's layout: allocated and reserved memory, now and
    at their peak, and the out-of-memory count. ``abbreviated`` is accepted for PyTorch's
    signature: gpugrad's table has no per-pool rows to leave out."""
    index = get_device_index(device, optional=True)
    stats = memory_stats(device=index)
    rows = [  # read first: without statistics this fails on PyTorch's first key, as its does
        (name, stats[key + ".current"], stats[key + ".peak"])
        for name, key in (
            ("Allocated memory", "allocated_bytes.all"),
            ("GPU reserved memory", "reserved_bytes.all"),
        )
    ]
    counts = (
        f"  CUDA OOMs: {stats['num_ooms']:<12d} | "
        f"cudaMalloc retries: {stats['num_alloc_retries']:<8d}"
    )
    width = len(counts)
    lines = [
        "=" * width,
        f"{'gpugrad CUDA memory summary, device ID ' + str(index):^{width}}",
        "-" * width,
        counts,
        "=" * width,
        "        Metric         | Cur Usage  | Peak Usage ",
    ]
    for name, current, peak in rows:
        lines.append("-" * width)
        lines.append(f" {name:<21} | {_format_size(current)} | {_format_size(peak)} ")
    lines.append("=" * width)
    return "|" + "|\n|".join(line.ljust(width) for line in lines) + "|\n"
