"""The device's measured ceilings: what a large copy and a large matmul achieve.

Every result is also reported as a fraction of these: memory-bound workloads against the
copy bandwidth (bytes read plus bytes written), compute-bound ones against the matmul rate of
their dtype. Measured with the floor's own library (NumPy / CuPy), on random data.
"""

from __future__ import annotations

import numpy as np

from .libs import Floor, tf32
from .timing import median


def _best(fx: Floor, fn, repeats: int) -> float:
    import time

    fn()
    fx.sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        fx.sync()
        times.append(time.perf_counter() - t0)
    return median(times)


def measure_ceilings(device: str, level: str, dtypes=("float32",)) -> dict[str, float]:
    """{'bandwidth_gbs': ..., 'matmul_tflops_<dtype>': ...} for one device.

    ``level`` 'test' uses toy sizes (the figures then mean little), 'quick' half sizes.
    """
    quick = level != "full"
    fx = Floor(device)
    xp = fx.xp
    gpu = device == "cuda"
    out: dict[str, float] = {}

    n_copy = (2**28 if gpu else 2**25) // (2 if quick else 1)  # float32 elements
    if level == "test":
        n_copy = 2**18
    src = xp.asarray(np.random.default_rng(0).standard_normal(n_copy, dtype=np.float32))
    dst = xp.empty_like(src)
    t = _best(fx, lambda d=dst, s=src: xp.copyto(d, s), 5 if quick else 10)
    out["bandwidth_gbs"] = 2 * src.nbytes / t / 1e9
    out["copy_bytes"] = float(src.nbytes)
    del src, dst

    n = (8192 if gpu else 2048) // (2 if quick and not gpu else 1)
    if level == "test":
        n = 128
    for dtype in dtypes:
        np_dtype = np.float16 if dtype == "float16" else np.float32
        rng = np.random.default_rng(1)
        a = xp.asarray(rng.standard_normal((n, n), dtype=np.float32).astype(np_dtype))
        b = xp.asarray(rng.standard_normal((n, n), dtype=np.float32).astype(np_dtype))
        with tf32(dtype == "tf32", device):
            t = _best(fx, lambda a=a, b=b: xp.matmul(a, b), 3 if quick else 5)
        out[f"matmul_tflops_{dtype}"] = 2 * n**3 / t / 1e12
        out[f"matmul_n_{dtype}"] = float(n)
        del a, b
    fx.free_memory()
    return out


def ceiling_for(ceilings: dict[str, float], bound: str, dtype: str) -> tuple[float, str]:
    """(the ceiling a case is compared with, its unit) in units of 1e9 B/s or 1e12 flop/s."""
    if bound == "compute":
        c = ceilings.get(f"matmul_tflops_{dtype}") or ceilings.get("matmul_tflops_float32")
        return (c or float("nan")), "TFLOP/s"
    return ceilings.get("bandwidth_gbs", float("nan")), "GB/s"
