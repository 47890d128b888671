"""The GPU's kernel engine: gpugrad's generated CUDA kernels for catalogue names.

Sources come from templates (``templates.py``, per op, dtype and layout class), are compiled
once per (op, dtype) with NVRTC through CuPy's RawModule (cached in memory and in CuPy's
kernel cache on disk) and launched directly with prebuilt argument tuples. CUDA source lives
only in this package.

The engine is off unless ``GPUGRAD_CUDA_KERNELS=1``: its kernels are compiled with NVRTC and
executed on the host in CPU CI, but they replace CuPy's stock kernels by default only once the
CUDA half of the suite has passed with them on a GPU.
"""

from __future__ import annotations

import os

from ..kernels import KernelEngine


def _enabled() -> bool:
    return os.environ.get("GPUGRAD_CUDA_KERNELS", "0").strip() == "1"


def _is_failure(err: BaseException) -> bool:
    """NVRTC compile errors and CUDA driver errors (not a user's bad input)."""
    if isinstance(err, ImportError):
        return True
    mod = type(err).__module__.split(".")[0]
    return mod in ("cupy", "cupy_backends")


ENGINE = KernelEngine("cuda", enabled=_enabled, is_failure=_is_failure)

from . import dropout, optimizer, pointwise, reduction, rows  # noqa: E402,F401
