"""``python -m gpugrad.utils.warmup``: compile every CPU kernel now, into Numba's disk cache.

gpugrad compiles a kernel on its first use; run this once after installing (or in a Docker
build step) so that no training run pays the compile time.
"""

from __future__ import annotations

import time


def warmup() -> dict[str, str]:
    """Compile every registered CPU kernel for its example arguments; returns the names that
    could not be built (empty when all compiled), each with why."""
    from ..backend import cpu_backend
    from ..backend.numba_kernels import ENGINE

    cpu_backend()  # the engine binds to the CPU backend when it is made
    if not ENGINE.enabled():
        return {}
    return ENGINE.warmup()


def main() -> None:
    from ..backend.numba_kernels import ENGINE

    if not ENGINE.enabled():
        print("the Numba kernel engine is off (GPUGRAD_NUMBA=0 or Numba missing): nothing to do")
        return
    t = time.perf_counter()
    failed = warmup()
    names = ENGINE.names()
    print(
        f"compiled {len(names) - len(failed)} of {len(names)} kernels in "
        f"{time.perf_counter() - t:.1f} s"
    )
    for name, why in failed.items():
        print(f"  {name}: {why}")


if __name__ == "__main__":
    main()
