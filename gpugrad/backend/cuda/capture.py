"""Capturing CUDA work into a graph: the backend's half of CUDA graphs.

``gpugrad.cuda.CUDAGraph`` (PyTorch's API) and ``gpugrad.compile`` on CUDA both capture
through :class:`Capture`, which adds to CuPy's stream capture what a training step needs:

- **memory**: allocations inside the capture come from a private CuPy ``MemoryPool`` named by
  a pool handle, so blocks the captured kernels use are never handed to other work afterwards
  (graphs sharing a handle may share blocks, and must be replayed in capture order);
- **the backend knows**: while the capturing thread runs, the device's backend sends matmuls
  to cuBLAS directly (``capture_gemm.py``: CuPy's binding refuses capturing streams), defers
  index checks to the device and refuses every wait for the GPU with an error naming it;
- **state made once** (cuBLAS's workspace, the index checks' record and scratch) is made
  before the capture begins: made inside, its initialising fills would only be recorded;
- **random draws**: a dropout inside the capture reads its seed from a device scalar, which
  every replay fills with a fresh draw of the device's generator before it launches (as
  PyTorch's graphs advance Philox offsets per replay), so each replay draws new masks.
"""

from __future__ import annotations

import ctypes
import itertools
import threading

from . import capture_gemm, index_check

MODES = {"global": 0, "thread_local": 1, "relaxed": 2}  # cudaStreamCaptureMode
_pool_ids = itertools.count(1)
_pools: dict[tuple[int, int], object] = {}  # pool handle -> its CuPy MemoryPool
_pools_lock = threading.Lock()


def new_pool_handle() -> tuple[int, int]:
    """A token naming a new private memory pool (PyTorch's ``(0, n)`` form)."""
    return (0, next(_pool_ids))


_exchange = None  # the driver's cuThreadExchangeStreamCaptureMode (False: not found)


def _capture_mode_exchange():
    global _exchange
    if _exchange is None:
        try:  # CuPy has loaded the driver already: dlopen returns that copy
            fn = ctypes.CDLL("libcuda.so.1").cuThreadExchangeStreamCaptureMode
            fn.argtypes, fn.restype = [ctypes.POINTER(ctypes.c_int)], ctypes.c_int
            _exchange = fn
        except (OSError, AttributeError):
            _exchange = False
    return _exchange or None


def _pool_malloc(size: int):
    """cudaMalloc for a private pool with the calling thread's capture mode relaxed for the
    call, as PyTorch's allocator does: a pool grows while a graph is captured, and cudaMalloc
    is one of the "unsafe" calls that the global and thread-local modes refuse."""
    import cupy

    exchange = _capture_mode_exchange()
    mode = ctypes.c_int(MODES["relaxed"])
    if exchange is not None:
        exchange(ctypes.byref(mode))
    try:
        return cupy.cuda.MemoryPointer(cupy.cuda.memory.Memory(size), 0)
    finally:
        if exchange is not None:
            exchange(ctypes.byref(mode))  # the thread's own mode back


def capture_mode(mode: str) -> int:
    """The cudaStreamCaptureMode to capture with for PyTorch's ``capture_error_mode``: the
    mode itself when private pools can relax it around their cudaMalloc, else relaxed."""
    return MODES[mode] if _capture_mode_exchange() is not None else MODES["relaxed"]


def _pool(handle: tuple[int, int]):
    import cupy

    from .. import cupy_allocator

    with _pools_lock:
        pool = _pools.get(handle)
        if pool is None:
            pool = _pools[handle] = cupy.cuda.MemoryPool(_pool_malloc)
            cupy_allocator.private_pools.append(pool)  # counted in memory_allocated()
        return pool


class Capture:
    """One capture on the current stream into the pool ``pool`` (a new one if None)."""

    def __init__(self, backend, pool: tuple[int, int] | None = None, mode: str = "global"):
        if mode not in MODES:
            raise RuntimeError(
                f"Unknown capture error mode. Expected `global`, `thread_local`, or `relaxed`, "
                f"got `{mode}`"
            )
        self.backend = backend
        self.pool = pool if pool is not None else new_pool_handle()
        self.mode = mode
        self._stream = None
        self._allocator = None

    def begin(self) -> None:
        import cupy

        stream = cupy.cuda.get_current_stream()
        if stream.ptr == 0:
            raise RuntimeError(
                "CUDA graphs must be captured on a non-default stream. (However, after "
                "capture, it's ok to replay them on the default stream.)"
            )
        be = self.backend
        if be.capture_thread is not None:
            raise RuntimeError(f"a CUDA graph is already being captured on cuda:{be.index}")
        capture_gemm.prepare(be.index)
        index_check.prepare(cupy, be.index, stream.ptr)
        allocator = cupy.cuda.using_allocator(_pool(self.pool).malloc)
        allocator.__enter__()
        try:
            stream.begin_capture(capture_mode(self.mode))
        except BaseException:
            allocator.__exit__(None, None, None)
            raise
        be.capture_seeds = self.seeds = []
        be.capture_thread = threading.get_ident()
        self._stream, self._allocator = stream, allocator

    def end(self):
        """End the capture; returns CuPy's instantiated Graph, or a :class:`Captured` when
        replays need fresh random seeds (``launch(stream)`` replays either)."""
        if self._stream is None:
            raise RuntimeError("capture_end() called without a capture_begin()")
        stream, allocator = self._stream, self._allocator
        self._stream = self._allocator = None
        try:
            graph = stream.end_capture()
        finally:
            self.backend.capture_thread = self.backend.capture_seeds = None
            allocator.__exit__(None, None, None)
        return Captured(graph, self.seeds, self.backend) if self.seeds else graph

    @property
    def active(self) -> bool:
        return self._stream is not None


class Captured:
    """A captured graph whose replays draw new random numbers: before each launch, every
    dropout seed slot of the capture is filled with the next draw of its device's seed
    stream (a fill kernel queued on the replay's stream, ahead of the graph: no host wait)."""

    def __init__(self, graph, seeds: list, backend) -> None:
        self.graph, self.seeds, self.backend = graph, seeds, backend

    def launch(self, stream) -> None:
        with self.backend._cuda_device, stream:  # ahead of the graph, on its stream
            for slot in self.seeds:
                slot.fill(self.backend.dropout_seed())
        self.graph.launch(stream=stream)

    def debug_dot_str(self) -> str:
        return self.graph.debug_dot_str()


def current_stream_capturing() -> bool:
    """Whether CuPy's current stream is capturing (by gpugrad or by anyone else). The legacy
    default stream cannot capture, and asking it during another stream's capture is an error."""
    import cupy

    stream = cupy.cuda.get_current_stream()
    return stream.ptr != 0 and stream.is_capturing()


_side_streams: dict = {}


def side_stream(index: int):
    """Device ``index``'s stream for captures made by gpugrad itself (a CuPy stream: ``with``
    makes it current). Captures need a stream other than the default one."""
    import cupy

    s = _side_streams.get(index)
    if s is None:
        with cupy.cuda.Device(index):
            s = _side_streams[index] = cupy.cuda.Stream(non_blocking=True)
    return s


def replay(graph) -> None:
    """Launch a captured graph on the current stream."""
    import cupy

    graph.launch(stream=cupy.cuda.get_current_stream())
