"""What gpugrad runs on: ``python -m gpugrad.utils.collect_env`` (PyTorch's convention).

Prints the platform, Python, NumPy (and its BLAS), CuPy, the CUDA runtime and driver, every
visible GPU with its memory, and PyTorch when installed. When CUDA cannot be used it says why
in one sentence and what to install. ``bench`` starts its reports with the same facts.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "CUPY_TF32",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux: platform.processor() is the best we have
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    """The installed version, without importing the package when avoidable (torch: seconds)."""
    if module in sys.modules:
        return getattr(sys.modules[module], "__version__", "unknown")
    if module == "torch":
        from importlib import metadata

        try:
            return metadata.version("torch")
        except metadata.PackageNotFoundError:
            return None
    try:
        mod = __import__(module)
    except Exception:  # absent, or broken (a CuPy wheel for another CUDA)
        return None
    return getattr(mod, "__version__", "unknown")


def _cuda_version(v: int) -> str:
    """CUDA encodes 12.4 as 12040."""
    return f"{v // 1000}.{(v % 1000) // 10}" if v else "none"


def blas_info() -> list[dict[str, Any]]:
    """The BLAS / OpenMP thread pools NumPy uses (threadpoolctl), or [] when unavailable."""
    try:
        import numpy  # noqa: F401 - loads the BLAS so threadpoolctl can see it
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = (
        "user_api",
        "internal_api",
        "num_threads",
        "version",
        "threading_layer",
        "architecture",
        "filepath",
    )
    return [{k: d.get(k) for k in keep if k in d} for d in threadpool_info()]


def _gpus(info: dict[str, Any]) -> None:
    from ..backend import cuda_status

    count, reason = cuda_status()
    info["cuda_available"] = count > 0
    info["cuda_unavailable_reason"] = reason
    info["gpus"] = []
    if "cupy" in sys.modules:  # versions are readable without a GPU (driver 0: none found)
        rt = sys.modules["cupy"].cuda.runtime
        info["cuda_runtime"] = _cuda_version(rt.runtimeGetVersion())
        info["cuda_driver"] = _cuda_version(rt.driverGetVersion())
    if count == 0:
        return
    import cupy

    rt = cupy.cuda.runtime
    for i in range(count):
        p = rt.getDeviceProperties(i)
        name = p["name"]
        info["gpus"].append(
            {
                "index": i,
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "memory_gib": round(p["totalGlobalMem"] / 2**30, 1),
                "compute_capability": f"{p['major']}.{p['minor']}",
                "multiprocessors": p["multiProcessorCount"],
            }
        )


def get_env_info() -> dict[str, Any]:
    """Every fact as a plain dict (JSON-ready)."""
    import numpy

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "gpugrad": _version("gpugrad"),
        "cupy": _version("cupy"),
        "torch": _version("torch"),
        "blas": blas_info(),
        "env": {k: os.environ[k] for k in _ENV_VARS if k in os.environ},
    }
    try:
        _gpus(info)
    except Exception as e:  # a half-working driver must not stop the report
        info.setdefault("cuda_available", False)
        info["cuda_unavailable_reason"] = f"querying CUDA failed ({type(e).__name__}: {e})"
        info.setdefault("gpus", [])
    return info


def machine_name(info: dict[str, Any], use_gpu: bool) -> str:
    """A file-name-safe name for the machine: the GPU's when one is used, else CPU + cores."""
    if use_gpu and info.get("gpus"):
        raw = info["gpus"][0]["name"]
    else:
        raw = f"{info['cpu']} {info['cpu_count']}c"
    out = "".join(c.lower() if c.isalnum() else "-" for c in raw)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "machine"


def format_env(info: dict[str, Any]) -> str:
    """The facts as ``key: value`` lines (the benchmark report quotes them verbatim)."""
    lines = [
        f"Platform: {info['platform']} ({info['machine']})",
        f"CPU: {info['cpu']}, {info['cpu_count']} logical cores",
        f"Python: {info['python']}",
        f"gpugrad: {info['gpugrad']}",
        f"NumPy: {info['numpy']}",
    ]
    for b in info["blas"]:
        name = " ".join(str(b[k]) for k in ("internal_api", "version") if b.get(k))
        core = f", core type {b['architecture']}" if b.get("architecture") else ""
        lines.append(f"  {b.get('user_api')}: {name}, {b.get('num_threads')} threads{core}")
    lines.append(f"CuPy: {info['cupy'] or 'not installed'}")
    lines.append(f"PyTorch: {info['torch'] or 'not installed'} (reference only)")
    if info.get("cuda_available"):
        lines.append(f"CUDA runtime: {info['cuda_runtime']}, driver supports {info['cuda_driver']}")
        for g in info["gpus"]:
            lines.append(
                f"GPU {g['index']}: {g['name']}, {g['memory_gib']} GiB, compute capability "
                f"{g['compute_capability']}, {g['multiprocessors']} SMs"
            )
    else:
        if info.get("cuda_runtime"):
            drv = info.get("cuda_driver", "none")
            drv = "no NVIDIA driver found" if drv == "none" else f"driver supports CUDA {drv}"
            lines.append(f"CuPy's CUDA runtime: {info['cuda_runtime']}, {drv}")
        lines.append("CUDA available: False")
        lines.append(f"Why: {info.get('cuda_unavailable_reason') or 'unknown'}.")
    for k, v in info["env"].items():
        lines.append(f"{k}={v}")
    return "\n".join(lines)


def main() -> None:
    print(format_env(get_env_info()))


if __name__ == "__main__":
    main()
