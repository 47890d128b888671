"""Build gpugrad's generated CUDA kernels as host C++ (backend/cuda/host_runtime.h) and call
them through ctypes, so CPU-only CI runs the kernels' own logic against NumPy."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gpugrad.backend.cuda import templates

HEADER = Path(templates.__file__).with_name("host_runtime.h")
_BUILD = Path(tempfile.gettempdir()) / "gpugrad-cuda-host"

# storage dtype of each kernel dtype (half types travel as their 16-bit patterns)
STORAGE = {
    "float16": np.uint16,
    "bfloat16": np.uint16,
    "float32": np.float32,
    "float64": np.float64,
}


def compiler() -> str | None:
    return shutil.which("g++") or shutil.which("clang++")


def _ctype(c: str, compute: str):
    if "*" in c:
        return ctypes.c_void_p
    if c == "long long":
        return ctypes.c_longlong
    fixed = {
        "int": ctypes.c_int,
        "unsigned long long": ctypes.c_ulonglong,
        "double": ctypes.c_double,
    }
    if c in fixed:
        return fixed[c]
    return ctypes.c_double if compute == "double" else ctypes.c_float


def build(source: str, dtype: str, kernels: dict[str, list[tuple[str, str]]]) -> ctypes.CDLL:
    """``source`` built for the host, with a launcher ``host_<kernel>(grid, block, ...)`` for
    each kernel named in ``kernels`` (name -> its (C type, name) parameters)."""
    storage, compute = templates.DTYPES[dtype][:2]
    parts = [f'#include "{HEADER}"', source]
    for name, params in kernels.items():
        sig = ", ".join(f"{_spell(c, storage, compute)} {n}" for c, n in params)
        call = ", ".join(n for _, n in params)
        parts.append(
            f'extern "C" void host_{name}(unsigned grid, unsigned block, {sig}) {{\n'
            f"    gg_launch(grid, block, [&] {{ {name}({call}); }});\n}}"
        )
    src = "\n".join(parts)
    digest = hashlib.sha1(src.encode() + HEADER.read_bytes()).hexdigest()[:16]
    _BUILD.mkdir(exist_ok=True)
    so = _BUILD / f"{digest}.so"
    if not so.exists():
        cpp = _BUILD / f"{digest}.{os.getpid()}.cpp"
        cpp.write_text(src)
        tmp = cpp.with_suffix(".so.tmp")
        cmd = [compiler(), "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", str(cpp)]
        done = subprocess.run([*cmd, "-o", str(tmp)], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"host build failed:\n{done.stderr[-4000:]}")
        tmp.rename(so)
    lib = ctypes.CDLL(str(so))
    for name, params in kernels.items():
        fn = getattr(lib, f"host_{name}")
        fn.argtypes = [ctypes.c_uint, ctypes.c_uint] + [_ctype(c, compute) for c, _ in params]
        fn.restype = None
    return lib


def _spell(ctype: str, storage: str, compute: str) -> str:
    return {
        "const S*": f"const {storage}*",
        "S*": f"{storage}*",
        "F": compute,
        "F*": f"{compute}*",
        "const F*": f"const {compute}*",
    }.get(ctype, ctype)


@functools.cache
def pointwise_library(dtype: str) -> ctypes.CDLL:
    """The host build of every pointwise op's kernels on ``dtype`` (one compiler run)."""
    from gpugrad.backend.cuda.pointwise_ops import HELPERS, OPS

    kernels = {
        templates.kernel_name(op, dtype, layout): templates.params_of(op, layout)
        for op in OPS
        for layout in templates.LAYOUTS
    }
    body = [templates.source(op, dtype, prelude=False) for op in OPS]
    return build("\n".join([templates.PRELUDE, HELPERS, *body]), dtype, kernels)


def run(
    op: str,
    dtype: str,
    arrays: list,
    params: tuple = (),
    *,
    layout=None,
    grid=3,
    block=32,
    poison=None,
):
    """Run ``op`` on the host over NumPy ``arrays`` (storage dtype, any strides, broadcast
    together) as the GPU would: the layout ``templates.layout_of`` picks unless forced, a
    small grid so the grid-stride loops and the tails are exercised. Returns the output."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    st = STORAGE[dtype]
    out = np.empty(shape, st)
    out[...] = poison if poison is not None else 0
    itemsize = np.dtype(st).itemsize
    metas = [(a.shape, a.strides, a.ctypes.data) for a in arrays]
    if layout is None:
        layout = templates.layout_of(shape, metas, itemsize)
    compute = np.float64 if dtype == "float64" else np.float32
    trailing = templates.trailing_args(layout, shape, metas, out.size, params, compute, itemsize)
    args = [a.ctypes.data for a in arrays] + [out.ctypes.data, *trailing]
    fn = getattr(pointwise_library(dtype), f"host_{templates.kernel_name(op, dtype, layout)}")
    fn(grid, block, *args)
    return out


def _nvrtc_reason() -> str:
    """Why NVRTC cannot compile here ('' when it can)."""
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as e:  # noqa: BLE001 - any failure to load NVRTC means: cannot check here
        return f"NVRTC is not loadable here ({type(e).__name__}: {e})"
    return ""


_NVRTC = _nvrtc_reason()
needs_nvrtc = pytest.mark.skipif(bool(_NVRTC), reason=_NVRTC or "ok")
needs_cxx = pytest.mark.skipif(compiler() is None, reason="no host C++ compiler")


@functools.cache
def reduce_library(dtype: str) -> ctypes.CDLL:
    """The host build of every reduction kernel (backend/cuda/reduce_source.py) on ``dtype``."""
    from gpugrad.backend.cuda import reduce_source as r

    kernels = {r.kernel_name(k, dtype): p for k, p in r.PARAMS.items()}
    return build(r.source(dtype), dtype, kernels)


def run_reduce_plan(plan, x: np.ndarray, out: np.ndarray, dtype: str) -> None:
    """Run a ``cuda.reduction`` plan's launches on the host, as ``reduction.run_plan`` runs
    them on the GPU: ``x`` C-contiguous in the storage dtype, ``out`` written in place. The
    scratch buffers start poisoned (NaN, -7), as the GPU's start uninitialised."""
    from gpugrad.backend.cuda import reduce_source as r
    from gpugrad.backend.cuda import reduction

    assert x.flags.c_contiguous and out.flags.c_contiguous
    lib = reduce_library(dtype)
    compute = np.float64 if dtype == "float64" else np.float32
    buffers = {"x": x, "out": out}
    for name, (size, kind) in plan.scratch.items():
        buffers[name] = np.full(size, np.nan, compute) if kind == "F" else np.full(size, -7)
    addresses = {k: v.ctypes.data for k, v in buffers.items()}
    for step in plan.launches:
        args = reduction.launch_args(step.kernel, step.args, addresses, compute)
        fn = getattr(lib, f"host_{r.kernel_name(step.kernel, dtype)}")
        fn(step.grid, step.block, *args)


def to_storage(x64: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values in ``dtype``'s storage (half types as their 16-bit patterns, rounded to
    nearest even; NaN and inf kept)."""
    if dtype == "float16":
        return x64.astype(np.float16).view(np.uint16)
    if dtype == "bfloat16":
        b = x64.astype(np.float32).view(np.uint32).astype(np.uint64)
        return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return x64.astype(STORAGE[dtype])


def from_storage(s: np.ndarray, dtype: str) -> np.ndarray:
    """The float64 values of ``dtype``'s storage ``s``."""
    if dtype == "float16":
        return s.view(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        return (s.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return s.astype(np.float64)
