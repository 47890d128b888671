"""The CUDA rms_norm kernels (backend/cuda/rows_source.py), checked without a GPU: they compile
with NVRTC for every architecture, and the same source run on the host (tests/cuda_host.py)
matches float64 NumPy over row shapes, tails, every dtype, with and without a weight, and
NaN/inf rows as PyTorch. With a GPU, the engine's kernels are compared with the reference."""

from __future__ import annotations

import numpy as np
import pytest

from gpugrad.backend.cuda import compile, rows_source, templates
from tests import cuda_host

needs_nvrtc, needs_cxx = cuda_host.needs_nvrtc, cuda_host.needs_cxx

NAMES = ("rms_norm", "rms_norm_backward", "rms_norm_weight_grads")
SHAPES = [(1, 1), (3, 7), (5, 1000), (2, 4099), (33, 64)]
TOL = {"float64": 1e-9, "float32": 2e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


def _to_storage(x64, dtype):
    if dtype == "float16":
        return x64.astype(np.float16).view(np.uint16)
    if dtype == "bfloat16":  # round to nearest even
        b = x64.astype(np.float32).view(np.uint32).astype(np.uint64)
        return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return x64.astype(cuda_host.STORAGE[dtype])


def _from_storage(s, dtype):
    if dtype == "float16":
        return s.view(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        return (s.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return s.astype(np.float64)


def _lib(dtype):
    kernels = {rows_source.kernel_name(k, dtype): rows_source.PARAMS[k] for k in NAMES}
    return cuda_host.build(rows_source.source(dtype), dtype, kernels)


def _stat(dtype):
    return np.float64 if dtype == "float64" else np.float32


def _forward(lib, dtype, x, w, eps, grid=3):
    from gpugrad.backend.cuda.rows import block_for

    rows, cols = x.shape
    y = np.empty_like(x)
    rstd = np.empty(rows, _stat(dtype))
    wp = None if w is None else w.ctypes.data
    getattr(lib, f"host_gg_rms_norm_{dtype}")(
        grid, block_for(cols), x.ctypes.data, wp, y.ctypes.data, rstd.ctypes.data, rows, cols, eps
    )
    return y, rstd


@needs_nvrtc
@pytest.mark.parametrize("arch", compile.ARCHS)
def test_rms_norm_kernels_compile_with_nvrtc(arch):
    for dtype in templates.DTYPES:
        ptx = compile.ptx(rows_source.source(dtype), arch)
        for k in NAMES:
            assert f".entry {rows_source.kernel_name(k, dtype)}(".encode() in ptx


@needs_cxx
@pytest.mark.parametrize("dtype", list(templates.DTYPES))
@pytest.mark.parametrize("affine", [True, False])
def test_host_rms_norm_matches_numpy(dtype, affine):
    from gpugrad.backend.cuda.rows import block_for

    lib = _lib(dtype)
    rng = np.random.default_rng(4)
    eps = 1e-6
    tol = TOL[dtype] * 4
    for rows, cols in SHAPES:

        def q(a):  # values the storage dtype holds exactly
            return _from_storage(_to_storage(a, dtype), dtype)

        x64 = q(rng.standard_normal((rows, cols)) * 3 + 1)
        g64 = q(rng.standard_normal((rows, cols)))
        w64 = q(rng.standard_normal(cols))
        x, g, w = (_to_storage(a, dtype) for a in (x64, g64, w64))
        y, rstd = _forward(lib, dtype, x, w if affine else None, eps)
        rs = 1 / np.sqrt((x64 * x64).mean(-1, keepdims=True) + eps)
        xhat = x64 * rs
        want = xhat * w64 if affine else xhat
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(_from_storage(y, dtype), want, rtol=tol, atol=tol * scale)
        np.testing.assert_allclose(rstd, rs[:, 0], rtol=1e-4 if dtype != "float64" else 1e-12)
        dx = np.empty_like(x)
        getattr(lib, f"host_gg_rms_norm_backward_{dtype}")(
            3,
            block_for(cols),
            g.ctypes.data,
            x.ctypes.data,
            rstd.ctypes.data,
            w.ctypes.data if affine else None,
            dx.ctypes.data,
            rows,
            cols,
        )
        gw = g64 * w64 if affine else g64
        want_dx = rs * (gw - xhat * (gw * xhat).mean(-1, keepdims=True))
        scale = max(1.0, float(np.abs(want_dx).max()))
        np.testing.assert_allclose(_from_storage(dx, dtype), want_dx, rtol=tol, atol=tol * scale)
        dw = np.empty_like(w)
        getattr(lib, f"host_gg_rms_norm_weight_grads_{dtype}")(
            2, 32, g.ctypes.data, x.ctypes.data, rstd.ctypes.data, dw.ctypes.data, rows, cols
        )
        want_dw = (g64 * xhat).sum(0)
        scale = max(1.0, float(np.abs(want_dw).max()))
        np.testing.assert_allclose(_from_storage(dw, dtype), want_dw, rtol=tol, atol=tol * scale)


@needs_cxx
def test_host_rms_norm_half_at_magnitude_300_and_edge_rows_as_pytorch():
    import torch

    # x^2 ~ 9e4 overflows float16: the sums are float
    x64 = 300 + np.random.default_rng(5).standard_normal((4, 96)) * 3
    x = _to_storage(x64, "float16")
    y, rstd = _forward(_lib("float16"), "float16", x, None, 1e-6)
    want = torch.nn.functional.rms_norm(torch.tensor(x.view(np.float16)), (96,), eps=1e-6)
    np.testing.assert_allclose(_from_storage(y, "float16"), want.double().numpy(), atol=2e-3)
    assert rstd.dtype == np.float32
    # NaN, inf and all-zero rows (eps 0: 0 * inf) as PyTorch's
    e = np.array(
        [[np.nan, 1, 2], [np.inf, 1, 2], [-np.inf, 0, 1], [0, 0, 0], [1, 2, 3]], np.float32
    )
    for eps in (0.0, 1e-6):
        y, _ = _forward(_lib("float32"), "float32", e, None, eps)
        want = torch.nn.functional.rms_norm(torch.tensor(e), (3,), eps=eps).numpy()
        np.testing.assert_allclose(y, want, rtol=1e-6, equal_nan=True)


# ---- on a GPU: the engine's kernels against the reference kernels, through the backend ------
def _cuda_reason() -> str:
    from gpugrad.backend import cuda_status

    n, why = cuda_status()
    return "" if n else why


_NO_GPU = _cuda_reason()


@pytest.mark.skipif(bool(_NO_GPU), reason=_NO_GPU or "-")
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_engine_rms_norm_matches_the_reference_on_the_gpu(dtype):
    import cupy

    import gpugrad
    from gpugrad.backend.cuda import ENGINE

    B = gpugrad.device("cuda").backend
    ref = B.rms_norm.reference if hasattr(B.rms_norm, "reference") else B.rms_norm
    ref_b = getattr(B.rms_norm_backward, "reference", B.rms_norm_backward)
    rng = cupy.random.default_rng(0)
    tol = {"float16": 4e-3, "float32": 2e-5, "float64": 1e-12}[dtype]
    for rows, cols in SHAPES:
        x = (rng.standard_normal((rows, cols), dtype=cupy.float32) * 3).astype(dtype)
        g = rng.standard_normal((rows, cols), dtype=cupy.float32).astype(dtype)
        w = rng.standard_normal(cols, dtype=cupy.float32).astype(dtype)
        for weight in (w, None):
            got = ENGINE.compiled("rms_norm")(x, weight, 1e-6)
            want = ref(x, weight, 1e-6)
            for a, b in zip(got, want):
                cupy.testing.assert_allclose(a.astype("f8"), b.astype("f8"), rtol=tol, atol=tol)
            gb = ENGINE.compiled("rms_norm_backward")(g, x, want[1], weight, weight is not None)
            wb = ref_b(g, x, want[1], weight, weight is not None)
            for a, b in zip(gb, wb):
                if b is None:
                    assert a is None
                    continue
                scale = float(abs(b.astype("f8")).max()) + 1
                cupy.testing.assert_allclose(
                    a.astype("f8"), b.astype("f8"), rtol=tol, atol=tol * scale
                )
