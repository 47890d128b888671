"""gpugrad's generated CUDA kernels, checked without a GPU: every (op, dtype) compiles with
NVRTC for compute capabilities 8.0 and 9.0, and the same source runs on the host
(tests/cuda_host.py) against float64 NumPy over every layout class, tails and vector widths.
With a GPU, the engine's kernels are compared with the reference kernels on the device."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from gpugrad.backend.cuda import ENGINE, compile, templates
from gpugrad.backend.cuda.pointwise_ops import OPS
from tests import cuda_host

try:
    from cupy_backends.cuda.libs import nvrtc

    nvrtc.getVersion()
    _NVRTC = ""
except Exception as e:  # noqa: BLE001 - any failure to load NVRTC means: cannot check here
    _NVRTC = f"NVRTC is not loadable here ({type(e).__name__}: {e})"

needs_nvrtc = pytest.mark.skipif(bool(_NVRTC), reason=_NVRTC or "ok")
needs_cxx = pytest.mark.skipif(cuda_host.compiler() is None, reason="no host C++ compiler")

_erf = np.vectorize(math.erf)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _softplus(x, beta, th):
    return np.where(x * beta > th, x, np.log1p(np.exp(x * beta)) / beta)


def _d(f, x, h=1e-6):  # central difference, float64: the derivative references
    return (f(x + h) - f(x - h)) / (2 * h)


REFERENCE = {
    "relu": lambda x: np.maximum(x, 0),
    "threshold_backward": lambda g, x: np.where(x > 0, g, 0),
    "sigmoid": _sig,
    "sigmoid_backward": lambda g, y: g * y * (1 - y),
    "tanh": np.tanh,
    "tanh_backward": lambda g, y: g * (1 - y * y),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    "gelu_tanh": _gelu_tanh,
    "gelu_backward": lambda g, x: (
        g * (0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))
    ),
    "gelu_tanh_backward": lambda g, x: g * _d(_gelu_tanh, x),
    "silu": lambda x: x * _sig(x),
    "silu_backward": lambda g, x: g * _sig(x) * (1 + x * (1 - _sig(x))),
    "softplus": lambda x, b, t: _softplus(x, b, t),
    "softplus_backward": lambda g, x, b, t: g * np.where(x * b > t, 1.0, _sig(x * b)),
}
PARAMS = {"softplus": (2.0, 3.0), "softplus_backward": (2.0, 3.0)}


def test_every_op_has_a_reference_here():
    assert set(REFERENCE) == set(OPS)


@needs_nvrtc
@pytest.mark.parametrize("arch", compile.ARCHS)
@pytest.mark.parametrize("dtype", list(templates.DTYPES))
def test_every_kernel_compiles_with_nvrtc(dtype, arch):
    for op in OPS:
        ptx = compile.ptx(templates.source(op, dtype), arch)
        for layout in templates.LAYOUTS:
            assert f".entry {templates.kernel_name(op, dtype, layout)}(".encode() in ptx


@needs_nvrtc
def test_an_nvrtc_error_names_the_line():
    with pytest.raises(RuntimeError, match=r"bad\.cu\(2\).*error"):
        compile.ptx('extern "C" __global__ void k() {\n  undeclared = 1;\n}', name="bad.cu")


# ---- bit patterns of the half types (the host build stores them as uint16) -----------------
def _to_storage(x64, dtype):
    if dtype == "float16":
        return x64.astype(np.float16).view(np.uint16)
    if dtype == "bfloat16":
        b = x64.astype(np.float32).view(np.uint32).astype(np.uint64)
        return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return x64.astype(cuda_host.STORAGE[dtype])


def _from_storage(s, dtype):
    if dtype == "float16":
        return s.view(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        return (s.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return s.astype(np.float64)


TOL = {"float64": 1e-9, "float32": 2e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


def _inputs(op, n, dtype, rng):
    k = len(OPS[op].inputs)
    xs = [rng.standard_normal(n) * 3 for _ in range(k)]
    if op in ("sigmoid_backward",):
        xs[1] = _sig(xs[1])
    if op in ("tanh_backward",):
        xs[1] = np.tanh(xs[1])
    return [_from_storage(_to_storage(x, dtype), dtype) for x in xs]  # representable values


def _check(op, dtype, xs64, out_storage):
    got = _from_storage(out_storage, dtype)
    want = REFERENCE[op](*xs64, *PARAMS.get(op, ()))
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * scale)


@needs_cxx
@pytest.mark.parametrize("dtype", list(templates.DTYPES))
@pytest.mark.parametrize("op", list(OPS))
def test_host_run_matches_numpy_over_every_layout(op, dtype):
    rng = np.random.default_rng(0)
    vec = 16 // templates.ITEMSIZE[dtype]
    for n in (1, 7, vec * 3 + 1, 1000 + 3):  # tails of every length, several grid strides
        xs = _inputs(op, n, dtype, rng)
        st = [_to_storage(x, dtype) for x in xs]
        for layout in ("vec", "flat"):
            out = cuda_host.run(op, dtype, st, PARAMS.get(op, ()), layout=layout, poison=0x7E00)
            _check(op, dtype, xs, out)
        # strided: the same values as transposed / sliced / broadcast views
        m = rng.standard_normal((5, 6)) * 3
        # a transpose; then a row broadcast over the rows, read at a stride of 2 elements
        views64 = [m.T] + [rng.standard_normal((3, 10))[1:2, ::2] for _ in xs[1:]]
        if op in ("sigmoid_backward", "tanh_backward"):
            views64[1] = np.tanh(views64[1]) if op == "tanh_backward" else _sig(views64[1])
        views64 = [_from_storage(_to_storage(v, dtype), dtype) for v in views64]
        st = [_to_storage(v, dtype) for v in views64]
        st[0] = _to_storage(views64[0].T, dtype).T  # keep the transposed strides
        if len(st) > 1:
            st[1] = _to_storage(np.repeat(views64[1], 2, axis=1), dtype)[:, ::2]
        out = cuda_host.run(op, dtype, st, PARAMS.get(op, ()))
        _check(op, dtype, np.broadcast_arrays(*views64), out)


@needs_cxx
def test_nan_and_inf_propagate_as_pytorch():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    out = cuda_host.run("relu", "float32", [x])
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == 0 and out[3] == 0
    out = cuda_host.run("sigmoid", "float32", [x])
    assert np.isnan(out[0]) and out[1] == 1 and out[2] == 0 and out[3] == 0.5
    out = cuda_host.run("silu", "float32", [x])
    assert np.isnan(out[0]) and out[1] == np.inf and out[3] == 0


@needs_cxx
def test_half_conversions_round_to_nearest_even_like_numpy():
    bits = np.arange(0, 1 << 16, dtype=np.uint16)  # every half, NaNs included
    out = cuda_host.run("relu", "float16", [bits], layout="flat", grid=8, block=64)
    want = np.maximum(bits.view(np.float16), np.float16(0))
    ok = np.isnan(want)
    np.testing.assert_array_equal(out.view(np.float16)[~ok], want[~ok])
    assert np.isnan(out.view(np.float16)[ok]).all()
    xs = np.random.default_rng(1).standard_normal(4099).astype(np.float32) * 1e3
    # relu of a positive float16 is the identity: round-trips float -> half through F
    pos = np.abs(xs).astype(np.float16)
    out = cuda_host.run("relu", "float16", [pos.view(np.uint16)])
    np.testing.assert_array_equal(out.view(np.float16), pos)


# ---- which kernel a call gets ---------------------------------------------------------------
def _meta(a, offset=0):
    return (a.shape, a.strides, 256 + offset)


def test_layout_selection():
    a = np.zeros((4, 8), np.float32)
    assert templates.layout_of(a.shape, [_meta(a)], 4) == "vec"
    assert templates.layout_of(a.shape, [_meta(a, 4)], 4) == "flat"  # misaligned view
    assert templates.layout_of((8, 4), [_meta(a.T)], 4) == "strided"
    b = np.broadcast_to(np.zeros(8, np.float32), (4, 8))
    assert templates.layout_of((4, 8), [_meta(a), _meta(b)], 4) == "strided"
    c = np.zeros((4, 1, 8), np.float32)[:, :, :]
    odd = (c.shape, (32, 7, 4), 256)  # a size-1 dim's stride does not matter
    assert templates.layout_of(c.shape, [odd], 4) == "vec"
    assert templates.layout_of(a.shape, [_meta(a), _meta(a, 16)], 4) == "vec"


def test_the_engine_is_off_unless_asked_and_its_names_are_catalogue_names():
    from gpugrad.backend.base import ArrayBackend
    from gpugrad.backend.kernels import kernel_names

    if os.environ.get("GPUGRAD_CUDA_KERNELS") != "1":
        assert not ENGINE.enabled()
    missing = set(ENGINE.names()) - set(kernel_names(ArrayBackend))
    assert not missing, f"CUDA engine names without a reference kernel: {sorted(missing)}"
