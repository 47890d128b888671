"""Process-wide switches that PyTorch scripts set: CPU threads, determinism, ``compile``.

gpugrad's CPU threads are those of NumPy's BLAS and of its compiled (Numba) kernels; the other
switches have nothing to change in gpugrad and are recorded so scripts that set them run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import _warn

_deterministic = {"mode": False, "warn_only": False}
# Backends' compiled-kernel engines that take a thread count (the CPU's Numba engine): the
# backend layer appends its setter here when imported, as this layer cannot import it.
thread_hooks: list[Callable[[int], None]] = []


def _blas_pools() -> list | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [p for p in threadpool_info() if p.get("user_api") == "blas"]


def get_num_threads() -> int:
    """Threads the CPU kernels use: NumPy's BLAS pool (needs threadpoolctl to ask it)."""
    pools = _blas_pools()
    if pools:
        return int(pools[0]["num_threads"])
    return os.cpu_count() or 1


def set_num_threads(num: int) -> None:
    """Limit the CPU kernels (NumPy's BLAS and the compiled Numba kernels) to ``num`` threads."""
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {num!r}")
    for hook in thread_hooks:
        hook(num)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        _warn.warn(
            "gpugrad.set_num_threads needs threadpoolctl (pip install threadpoolctl) to limit "
            "NumPy's BLAS threads; the thread count is unchanged"
        )
        return
    threadpool_limits(limits=num, user_api="blas")  # stays in force: no context manager


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded for scripts that set it. gpugrad's CPU kernels are deterministic; on CUDA the
    index backward (scatter-add with atomics) may sum in a varying order."""
    _deterministic.update(mode=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _deterministic["warn_only"]


# gpugrad.jit (a layer above) puts its compile here when imported: this layer cannot import it.
compile_hooks: list[Callable] = []


def compile(model: Callable | None = None, **kwargs: Any) -> Any:  # noqa: A001 - PyTorch's name
    """``gpugrad.jit.compile`` once gpugrad.jit is imported (record once, replay on later
    calls); before that, ``model`` unchanged (also as ``@compile(...)``)."""
    if compile_hooks:
        return compile_hooks[0](model, **kwargs)
    if model is None:
        return lambda fn: fn
    return model
