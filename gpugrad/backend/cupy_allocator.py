"""PyTorch's allocator statistics and out-of-memory error over CuPy's memory pool.

CuPy's default pool knows what it holds now (``used_bytes``, ``total_bytes``) but keeps no
peaks. A thin allocator installed with ``cupy.cuda.set_allocator`` in front of the pool's
``malloc`` records them: the in-use and held byte counts only grow inside ``malloc``, so
reading them after each allocation gives exact peaks. A failed allocation frees the pool's
cached blocks and retries once (as PyTorch's caching allocator does), then raises
:class:`OutOfMemoryError` with PyTorch's message. Installed once, when the first CUDA backend
is made; nothing here imports CuPy at import time.
"""

from __future__ import annotations

ALLOCATION_UNIT = 512  # CuPy's pool rounds every request up to this many bytes


class OutOfMemoryError(RuntimeError):
    """CUDA ran out of memory (``torch.OutOfMemoryError``, also ``torch.cuda``'s)."""


OutOfMemoryError.__module__ = "gpugrad"  # PyTorch's: torch.OutOfMemoryError


class DeviceStats:
    """Counters of one device that CuPy's pool does not keep itself."""

    __slots__ = ("peak_allocated", "peak_reserved", "num_ooms", "num_alloc_retries")

    def __init__(self) -> None:
        self.peak_allocated = self.peak_reserved = 0
        self.num_ooms = self.num_alloc_retries = 0


_cp = None  # CuPy, once a CUDA backend exists
_pool = None  # its default memory pool
_stats: list[DeviceStats] = []  # one per visible device
tracking = False  # whether the allocator below is CuPy's current one (peaks are exact)


def install(cp) -> None:
    """Put the tracking allocator in front of CuPy's default pool (once; idempotent).

    A user who already set another allocator keeps it: the statistics then read the default
    pool as it is, with peaks taken only when they are asked for.
    """
    global _cp, _pool, _stats, tracking
    if _pool is not None:
        return
    pool = cp.get_default_memory_pool()
    stats = [DeviceStats() for _ in range(cp.cuda.runtime.getDeviceCount())]
    if cp.cuda.get_allocator() == pool.malloc:
        try:
            cp.cuda.set_allocator(_make_allocator(cp, pool, stats))
            tracking = True
        except ValueError:  # inside cupy.cuda.using_allocator: leave that one alone
            pass
    _cp, _pool, _stats = cp, pool, stats


def _make_allocator(cp, pool, stats: list[DeviceStats]):
    malloc, used_bytes, total_bytes = pool.malloc, pool.used_bytes, pool.total_bytes
    cupy_oom = cp.cuda.memory.OutOfMemoryError
    raised = _raised_type(cupy_oom)

    def retry(size: int):
        device = cp.cuda.runtime.getDevice()
        st = stats[device]
        st.num_alloc_retries += 1
        pool.free_all_blocks()
        try:
            return malloc(size)
        except cupy_oom:
            st.num_ooms += 1
            # PyTorch's message says it all; CuPy's two failures would only repeat it
            raise raised(oom_message(cp, pool, size, device)) from None

    def allocate(size: int):
        # runs on every CUDA allocation: one call, two reads, two compares
        try:
            mem = malloc(size)
        except cupy_oom:
            mem = retry(size)
        st = stats[mem.device_id]
        used = used_bytes()
        if used > st.peak_allocated:
            st.peak_allocated = used
        total = total_bytes()
        if total > st.peak_reserved:
            st.peak_reserved = total
        return mem

    return allocate


def _raised_type(cupy_oom: type) -> type:
    """gpugrad's error that is CuPy's too: CuPy's own fallbacks (CUB's histogram, Thrust's
    allocator) catch CuPy's OutOfMemoryError (a MemoryError) and must go on doing so."""

    class PoolOutOfMemoryError(OutOfMemoryError, cupy_oom):
        def __reduce__(self):
            return (OutOfMemoryError, self.args)  # pickles as the public class

    PoolOutOfMemoryError.__name__ = PoolOutOfMemoryError.__qualname__ = "OutOfMemoryError"
    PoolOutOfMemoryError.__module__ = "gpugrad"
    return PoolOutOfMemoryError


def format_size(size: int) -> str:
    """Bytes as PyTorch's allocator prints them: ``512 bytes``, ``1.50 KiB``, ``2.00 GiB``."""
    if size <= 1024:
        return f"{size} bytes"
    if size <= 1048576:
        return f"{size / 1024:.2f} KiB"
    if size <= 1073741824:
        return f"{size / 1048576:.2f} MiB"
    return f"{size / 1073741824:.2f} GiB"


def oom_message(cp, pool, size: int, device: int) -> str:
    """PyTorch's out-of-memory text, with gpugrad's pool in place of PyTorch's."""
    free, total = cp.cuda.runtime.memGetInfo()
    used, held = pool.used_bytes(), pool.total_bytes()
    limit = pool.get_limit()
    allowed = f"{format_size(limit)} allowed; " if limit else ""
    return (
        f"CUDA out of memory. Tried to allocate {format_size(size)}. GPU {device} has a total "
        f"capacity of {format_size(total)} of which {format_size(free)} is free. {allowed}"
        f"Of the allocated memory {format_size(used)} is allocated by gpugrad, and "
        f"{format_size(held - used)} is reserved by gpugrad but unallocated."
    )


def initialized() -> bool:
    """Whether a CUDA backend exists (PyTorch answers empty statistics before that)."""
    return _pool is not None


# Other pools gpugrad allocates from (CUDA graphs' private pools, backend/cuda/capture.py):
# their memory counts as PyTorch counts its graph pools', allocated and reserved
private_pools: list = []


def _bytes(device: int) -> tuple[int, int]:
    """(in use, held) on ``device`` over the default pool and the private ones."""
    with _cp.cuda.Device(device):
        pools = [_pool, *private_pools]
        return sum(p.used_bytes() for p in pools), sum(p.total_bytes() for p in pools)


def device_stats(device: int) -> tuple[int, int, DeviceStats]:
    """(bytes in use, bytes held, counters) of one device; peaks brought up to now."""
    used, held = _bytes(device)
    st = _stats[device]
    # without the tracking allocator (or before its first call) peaks are the largest seen
    st.peak_allocated = max(st.peak_allocated, used)
    st.peak_reserved = max(st.peak_reserved, held)
    return used, held, st


def reset_peaks(device: int) -> None:
    """Peaks start again from what the device holds now."""
    used, held = _bytes(device)
    st = _stats[device]
    st.peak_allocated, st.peak_reserved = used, held


def device_count() -> int:
    return len(_stats)
