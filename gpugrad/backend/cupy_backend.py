"""The CUDA backend: CuPy arrays. The only module in gpugrad that imports CuPy."""

from __future__ import annotations

import os
import threading

import numpy as np

_cupy = None
_import_error: str | None = None

_INSTALL_HINT = (
    "install CuPy for your CUDA version: pip install 'gpugrad[cuda12]' (cupy-cuda12x) or "
    "'gpugrad[cuda13]' (cupy-cuda13x)"
)


def _load():
    """Import CuPy once; remember why it failed so errors can say so."""
    global _cupy, _import_error
    if _cupy is None and _import_error is None:
        try:
            import cupy

            _cupy = cupy
        except Exception as e:  # ImportError, or a wheel built for another CUDA
            _import_error = f"CuPy could not be imported ({type(e).__name__}: {e})"
    return _cupy


def status() -> tuple[int, str]:
    """(visible GPU count, reason CUDA is unusable or '')."""
    cp = _load()
    if cp is None:
        if "No module named" in (_import_error or ""):
            return 0, f"CuPy is not installed; {_INSTALL_HINT}"
        return 0, f"{_import_error}; {_INSTALL_HINT}"
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, or a driver older than the wheel's CUDA
        return 0, (
            f"CuPy {cp.__version__} is installed but cannot reach a GPU ({e}); check the NVIDIA "
            f"driver, or that the cupy-cudaXX wheel matches the driver's CUDA version"
        )
    if n == 0:
        return 0, f"CuPy {cp.__version__} is installed but no CUDA GPU is visible"
    return n, ""


def _require():
    n, why = status()
    if n == 0:
        raise RuntimeError(f"CUDA is not available: {why}")
    return _cupy


def empty_pinned(shape, dtype):
    """A NumPy array in page-locked host memory from CuPy's pinned pool (host-to-device
    copies from it run at full bandwidth, asynchronously)."""
    _require()
    import cupyx

    return cupyx.empty_pinned(shape, dtype)


def is_pinned(arr) -> bool:
    """Whether the NumPy array ``arr`` (or the array it views) lives in CuPy's pinned memory."""
    if _cupy is None:  # CuPy never loaded: nothing can have been pinned
        return False
    base = arr
    while getattr(base, "base", None) is not None:
        base = base.base
    return isinstance(base, _cupy.cuda.PinnedMemoryPointer)


def empty_cache() -> None:
    """Free the blocks CuPy's memory pools cache (nothing to do when CUDA is unusable)."""
    if status()[0] == 0:
        return
    _cupy.get_default_memory_pool().free_all_blocks()
    _cupy.get_default_pinned_memory_pool().free_all_blocks()


def current_index() -> int:
    cp = _require()
    return cp.cuda.runtime.getDevice()


_seed: int | None = None


def seed_all(seed: int) -> None:
    """Remember the seed for backends created later; seeding needs no GPU."""
    global _seed
    _seed = seed


from .base import ArrayBackend  # noqa: E402


class CupyBackend(ArrayBackend):
    name = "cupy"
    # the thread that captures a CUDA graph on this device now (gpugrad/cuda/graphs.py), and
    # the dropout seeds that capture's replays refill
    capture_thread: int | None = None
    capture_seeds: list | None = None
    reads_wait = True

    @property
    def capturing(self) -> bool:
        """Whether the calling thread is capturing a CUDA graph on this device: its matmuls
        then go to cuBLAS directly and every wait for the device is refused."""
        t = self.capture_thread
        return t is not None and t == threading.get_ident()

    def __init__(self, index: int) -> None:
        cp = _require()
        n = cp.cuda.runtime.getDeviceCount()
        if index >= n:
            raise RuntimeError(
                f"CUDA error: invalid device ordinal: cuda:{index} requested, {n} device(s) visible"
            )
        from .._device import device

        super().__init__(cp, device("cuda", index))
        self.index = index
        self._cuda_device = cp.cuda.Device(index)
        import cupyx

        self._cupyx = cupyx
        from .cupy_allocator import install

        install(cp)  # PyTorch's memory statistics and OutOfMemoryError over CuPy's pool
        self.seed(_seed if _seed is not None else int.from_bytes(os.urandom(4), "little"))
        from .cuda import ENGINE
        from .cuda.index_check import DeviceIndexChecks, raise_pending

        ENGINE.bind(self)  # gpugrad's generated kernels (GPUGRAD_CUDA_KERNELS=1), see cuda/
        # reading index ops check on the device with the engine on; a failure is raised by
        # the next wait below (to_host, minmax, index_top, synchronize): _waited
        self.index_checks = DeviceIndexChecks(self)
        self._raise_pending = raise_pending

    def _waited(self) -> None:
        """After any wait for the device: raise the first failed deferred index check."""
        self._raise_pending(self.index)

    def asarray(self, data, dtype=None):
        if self.capturing and not isinstance(data, self.xp.ndarray) and np.ndim(data) != 0:
            # a copy from host memory is refused inside a capture (CUDA's own error only says
            # the capture was invalidated): name it. A scalar is no copy: CuPy fills a 0-d
            # array with it by a kernel, its value baked into the graph (as in PyTorch)
            raise RuntimeError(
                f"making a CUDA tensor from host data ({type(data).__name__}) is not allowed "
                f"while a CUDA graph is being captured on cuda:{self.index}: create it before "
                "the capture and copy_() new values into it"
            )
        with self._cuda_device:
            return self.xp.asarray(data, dtype=dtype)

    def _refuse_capture(self, what: str) -> None:
        """A wait for the device inside a capture would break it (and CUDA's own error says
        only "operation not permitted"): name what asked for the wait instead."""
        if self.capturing:
            raise RuntimeError(
                f"{what} is not allowed while a CUDA graph is being captured on cuda:"
                f"{self.index}: it waits for the GPU (operation not permitted when stream is "
                "capturing). Move .item(), .tolist(), .cpu(), printing and data-dependent "
                "shapes out of the captured region."
            )

    def arange_cached(self, n: int):
        if self.capturing and n not in self._aranges:
            # made inside a capture, its values would exist only in replays: not for the cache
            return self.xp.arange(n)
        return super().arange_cached(n)

    def matmul(self, a, b):
        if self.capturing:  # CuPy's cuBLAS binding refuses capturing streams
            from .cuda import capture_gemm
            from .matmul_precision import tf32

            return capture_gemm.matmul(self.xp, a, b, tf32())
        return self.xp.matmul(a, b)

    def to_host(self, arr):
        self._refuse_capture("copying a CUDA tensor to the host (.item(), .tolist(), .cpu())")
        host = arr.get()  # waits for the stream's work
        self._waited()
        return host

    def argsort_stable(self, arr, axis: int):
        return self.xp.argsort(arr, axis=axis)  # CuPy's sort is always stable

    def minmax(self, arr) -> tuple:
        self._refuse_capture("reading a CUDA tensor's range on the host (an index check)")
        lo, hi = self.xp.stack([arr.min(), arr.max()]).get().tolist()  # one transfer
        self._waited()
        return int(lo), int(hi)

    def index_top(self, arr) -> int:
        self._refuse_capture("reading a CUDA tensor's largest index on the host")
        top = int(arr.view(f"u{arr.dtype.itemsize}").max().get())
        self._waited()
        return top

    def synchronize(self) -> None:
        self._refuse_capture("synchronizing the device")
        self._cuda_device.synchronize()
        self._waited()

    def scatter_add(self, out, index, values) -> None:
        add_at = getattr(self.xp.add, "at", None)  # cupyx.scatter_add is deprecated
        if add_at is not None:
            add_at(out, index, values)
        else:
            self._cupyx.scatter_add(out, index, values)

    def as_strided(self, arr, shape, strides, writeable: bool = False):
        return self.xp.lib.stride_tricks.as_strided(arr, shape, strides)

    def sparse_module(self):
        import cupyx.scipy.sparse

        return cupyx.scipy.sparse

    def erf(self, x):
        from cupyx.scipy.special import erf

        return erf(x)

    def erfc(self, x):
        from cupyx.scipy.special import erfc

        return erfc(x)

    def lgamma(self, x):
        from cupyx.scipy.special import gammaln

        return gammaln(x).astype(x.dtype, copy=False)

    def digamma(self, x):
        from cupyx.scipy.special import digamma

        return digamma(x).astype(x.dtype, copy=False)

    def polygamma(self, n: int, x):
        from cupyx.scipy.special import polygamma

        return polygamma(n, x).astype(x.dtype, copy=False)

    def erfinv(self, x):
        from cupyx.scipy.special import erfinv

        return erfinv(x).astype(x.dtype, copy=False)

    def gammainc(self, a, x, upper: bool = False):
        from cupyx.scipy.special import gammainc, gammaincc

        out = gammaincc(a, x) if upper else gammainc(a, x)
        return out.astype(self.xp.result_type(a, x), copy=False)

    def new_rng(self, seed: int):
        """A generator of this backend's kind (gpugrad.Generator holds one)."""
        with self._cuda_device:
            return self.xp.random.default_rng(seed)

    def seed(self, seed: int) -> None:
        with self._cuda_device:
            self._rng = self.xp.random.default_rng(seed)
        # dropout's seeds come from the host, as PyTorch's Philox seed and offset do: drawn
        # on the device, each would be copied back, one host sync per dropout call
        self._dropout_seeds = np.random.default_rng(seed)

    def dropout_seed(self):
        if self.capturing:
            # a device scalar in the graph's pool: each replay fills it with a fresh draw
            # before it launches (backend/cuda/capture.py), so replays draw new masks
            with self._cuda_device:
                slot = self.xp.empty((), self.xp.uint64)
            self.capture_seeds.append(slot)
            return slot
        return int(self._dropout_seeds.integers(0, 1 << 62))

    def rand(self, shape, dtype, rng=None):
        rng = rng or self._rng
        with self._cuda_device:
            if dtype in ("float16", self.xp.float16):
                return rng.random(shape, dtype=self.xp.float32).astype(dtype)
            return rng.random(shape, dtype=dtype)

    def randn(self, shape, dtype, rng=None):
        rng = rng or self._rng
        with self._cuda_device:
            if dtype in ("float16", self.xp.float16):
                return rng.standard_normal(shape, dtype=self.xp.float32).astype(dtype)
            return rng.standard_normal(shape, dtype=dtype)

    def randint(self, low, high, shape, dtype, rng=None):
        rng = rng or self._rng
        with self._cuda_device:
            return rng.integers(low, high, shape, dtype=self.xp.int64).astype(dtype)

    def randperm(self, n, dtype, rng=None):
        rng = rng or self._rng
        with self._cuda_device:
            # CuPy's Generator has no permutation(): sort random keys instead
            return self.xp.argsort(rng.random(n)).astype(dtype)

    def standard_gamma(self, alpha, rng=None):
        rng = rng or self._rng
        with self._cuda_device:
            if alpha.dtype in (self.xp.float32, self.xp.float64):
                return rng.standard_gamma(alpha, dtype=alpha.dtype)
            return rng.standard_gamma(alpha.astype(self.xp.float64)).astype(alpha.dtype)

    def poisson(self, rate, rng=None):
        rng = rng or self._rng
        with self._cuda_device:
            return rng.poisson(rate).astype(rate.dtype)

    def binomial(self, count, prob, rng=None):
        rng = rng or self._rng
        with self._cuda_device:
            return rng.binomial(count.astype(self.xp.int64), prob).astype(prob.dtype)
