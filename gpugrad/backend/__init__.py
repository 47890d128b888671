"""Array backends: one per device kind. NumPy runs ``cpu`` tensors, CuPy runs ``cuda:N``.

Ops ask a tensor's device for its backend and call its array module (``xp``) or one of its
named kernels; they never ask which library is behind it. CuPy is imported lazily, in
``cupy_backend`` only, so ``import gpugrad`` needs neither CuPy nor a GPU.
"""

from __future__ import annotations

from numpy import generic as _np_generic
from numpy import ndarray as _ndarray

from . import host_memory, matmul_precision
from .base import ArrayBackend
from .numpy_backend import NumpyBackend

host_memory.tune()  # reuse freed host memory across training steps (see host_memory.py)
_cpu_backend = NumpyBackend()
_cuda_backends: dict = {}


def backend_for(dev) -> ArrayBackend:
    """The backend for a device; raises a clear RuntimeError when CUDA cannot be used."""
    if dev.type == "cpu":
        return _cpu_backend
    from . import cupy_backend

    index = dev.index if dev.index is not None else cupy_backend.current_index()
    b = _cuda_backends.get(index)
    if b is None:
        b = _cuda_backends[index] = cupy_backend.CupyBackend(index)
        if matmul_precision.tf32():  # set before CUDA was first used
            matmul_precision.apply_cuda()
    return b


# Array types that belong to one backend whatever the array: the engine looks a gradient's
# type up here (a dict lookup) before calling backend_of (a Python call) on every node.
BACKEND_BY_TYPE: dict = {_ndarray: _cpu_backend}


def backend_of(arr) -> ArrayBackend:
    """The backend whose device holds ``arr`` (the engine's array path carries bare arrays)."""
    if type(arr) is _ndarray or isinstance(arr, _np_generic):
        return _cpu_backend
    index = arr.device.id
    b = _cuda_backends.get(index)  # made already: a tensor on that device exists
    if b is not None:
        return b
    from .._device import device

    return backend_for(device("cuda", index))


def cpu_backend() -> NumpyBackend:
    return _cpu_backend


def cuda_status() -> tuple[int, str]:
    """(number of visible GPUs, why CUDA is unavailable or '')."""
    from . import cupy_backend

    return cupy_backend.status()


def empty_pinned(shape, dtype):
    """An empty host (NumPy) array in page-locked memory; CUDA must be usable."""
    from . import cupy_backend

    return cupy_backend.empty_pinned(shape, dtype)


def is_pinned(arr) -> bool:
    """Whether a host array lives in page-locked (pinned) memory."""
    from . import cupy_backend

    return cupy_backend.is_pinned(arr)


def current_cuda_index() -> int:
    from . import cupy_backend

    return cupy_backend.current_index()


def seed_all(seed: int) -> None:
    """Seed every backend that has been or can be created (PyTorch's manual_seed)."""
    _cpu_backend.seed(seed)
    from . import cupy_backend

    cupy_backend.seed_all(seed)
    for b in _cuda_backends.values():
        b.seed(seed)


def _install() -> None:
    # device facts (gpugrad._device) are a layer below: they ask the backends through these
    from .. import _device

    _device._backend_for = backend_for
    _device._current_cuda_index = current_cuda_index
    from .. import _runtime
    from .numba_kernels import _jit

    _runtime.thread_hooks.append(_jit.set_threads)


_install()
