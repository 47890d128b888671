"""Lazy Numba: ``@njit`` kernels that import Numba and compile on their first call.

Kernel bodies are plain top-level functions (so Numba's disk cache can key them); ``prange``
is the builtin ``range`` until compiling swaps in Numba's, and a kernel that calls another
``@njit`` kernel compiles that one first, so module globals point at Numba's dispatchers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

prange = range  # becomes numba.prange in a kernel's globals when it compiles

_numba = None
_threads: int | None = None  # gpugrad.set_num_threads's value, applied once Numba is loaded
_lock = threading.RLock()


def numba():
    """The Numba module, imported once (raises ImportError where it is missing)."""
    global _numba
    if _numba is None:
        _numba = _load()
        nb = _numba
        if _threads is not None:
            nb.set_num_threads(min(_threads, nb.config.NUMBA_NUM_THREADS))
    return _numba


def _load():
    """Import Numba. Its parallel kernels run on TBB (a dependency; Numba prefers it): OpenMP's
    workers, the fallback, spin after each kernel and take the cores from NumPy's BLAS
    threads in the next matmul (measured: the small MLP step 0.41 ms on TBB, 16 ms on OpenMP;
    ``OMP_WAIT_POLICY=PASSIVE`` avoids that where TBB is missing)."""
    import numba as nb

    return nb


def set_threads(num: int) -> None:
    """The thread count of parallel kernels (gpugrad.set_num_threads calls this)."""
    global _threads
    _threads = num
    if _numba is not None:
        _numba.set_num_threads(min(num, _numba.config.NUMBA_NUM_THREADS))


def get_threads() -> int | None:
    """Numba's thread count once loaded; None before (it defaults to the machine's cores)."""
    return _numba.get_num_threads() if _numba is not None else _threads


class LazyKernel:
    """A function Numba compiles (``njit(cache=True, nogil=True, **options)``) when first called."""

    def __init__(self, fn: Callable, options: dict) -> None:
        self.py_func = fn
        self.options = options
        self._compiled = None

    def compile(self):
        if self._compiled is None:
            with _lock:
                if self._compiled is None:
                    nb = numba()
                    g = self.py_func.__globals__
                    for name in self.py_func.__code__.co_names:
                        dep = g.get(name)
                        if isinstance(dep, LazyKernel):
                            g[name] = dep.compile()
                    if g.get("prange") is range:
                        g["prange"] = nb.prange
                    opts = {"cache": True, "nogil": True, **self.options}
                    self._compiled = nb.njit(**opts)(self.py_func)
                    g[self.py_func.__name__] = self._compiled
        return self._compiled

    def __call__(self, *args):
        return (self._compiled or self.compile())(*args)


def njit(fn: Callable | None = None, **options) -> Callable:
    """``@njit`` or ``@njit(parallel=True, ...)``: a LazyKernel. fastmath flags that change
    NaN/inf results ('nnan', 'ninf') are refused: kernels must propagate them as PyTorch."""
    bad = {"nnan", "ninf", "fast"} & set(_flags(options.get("fastmath")))
    if bad or options.get("fastmath") is True:
        raise ValueError(f"fastmath flags {sorted(bad) or True} would break NaN/inf semantics")
    if fn is None:
        return lambda f: LazyKernel(f, options)
    return LazyKernel(fn, options)


def _flags(fastmath) -> list:
    if fastmath in (None, False, True):
        return []
    return list(fastmath)
