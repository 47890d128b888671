"""Host memory reuse: keep freed array memory in the process instead of returning it to the OS.

glibc serves large blocks (over 128 KiB by default) with mmap and gives freed heap memory back
with trim. A training step frees and reallocates the same gradients and temporaries every
iteration, so each one pays munmap/mmap and a page fault per 4 KiB page again: measured on a
2-core x86 CPU, that was 40% of a (64, 784-128-10) MLP step. Pinning glibc's own adaptive
thresholds at their ceiling (mmap above 32 MiB, trim above 64 MiB) lets the heap reuse that
memory, as PyTorch's guide gets from jemalloc/tcmalloc. The price: up to 64 MiB of freed
memory stays mapped. ``GPUGRAD_MALLOC_TUNING=0`` in the environment leaves malloc alone.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
TRIM_THRESHOLD = 64 << 20  # twice the mmap threshold, as glibc's own adaptation sets it

tuned = False  # whether tune() changed malloc in this process


def tune() -> bool:
    """Apply the thresholds once (glibc on Linux only); True when they are in effect."""
    global tuned
    if tuned:
        return True
    if os.environ.get("GPUGRAD_MALLOC_TUNING", "1").strip() in ("0", "false", "False", "no"):
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; either call failing leaves glibc's defaults for it
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return tuned
