"""gpugrad's generated CUDA kernels, checked without a GPU: every (op, dtype) compiles with
NVRTC for compute capabilities 8.0 and 9.0, and the same source runs on the host
(tests/cuda_host.py) against float64 NumPy over every layout class, tails and vector widths.
With a GPU, the engine's kernels are compared with the reference kernels on the device."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from gpugrad.backend.cuda import ENGINE, compile, pointwise_ops, templates
from gpugrad.backend.cuda.pointwise_ops import BINARY_NAMES, OPS, scalar_op
from gpugrad.backend.kernels.elementwise import BINARY, DERIVATIVES, UNARY, backward_name
from tests import cuda_host

needs_nvrtc, needs_cxx = cuda_host.needs_nvrtc, cuda_host.needs_cxx

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
    "threshold_backward": lambda g, x: np.where(x <= 0, 0, g),
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

# the elementwise names: NumPy's functions in float64 (the catalogue's references), and the
# catalogue's derivative formulas (checked against finite differences below)
REFERENCE.update({name: getattr(np, fn) for name, fn in (*UNARY.items(), *BINARY.items())})
REFERENCE["rsqrt"] = lambda x: 1 / np.sqrt(x)
REFERENCE["reciprocal"] = lambda x: 1 / x
for _name, _deriv in DERIVATIVES.items():
    REFERENCE[backward_name(_name)] = lambda g, v, _f=_deriv.grad: _f(g, v, np)
for _name in BINARY_NAMES:
    _f = REFERENCE[_name]
    REFERENCE[scalar_op(_name, 0)] = lambda b, a, _f=_f: _f(a, b)
    REFERENCE[scalar_op(_name, 1)] = _f
    PARAMS[scalar_op(_name, 0)] = (1.5,)
    PARAMS[scalar_op(_name, 1)] = (-0.75,)
PARAMS[scalar_op("pow", 1)] = (2.5,)  # a positive base to a fractional power

# where each input of an op lives (its domain: logs of positives, asin of (-1, 1) ...), as a
# map of standard-normal draws; the rest take the draws as they are
_POSITIVE = lambda x: np.abs(x) + 0.1  # noqa: E731
_UNIT = lambda x: np.tanh(x) * 0.99  # noqa: E731
_DOMAIN = {
    **dict.fromkeys(("log", "log2", "log10", "sqrt", "rsqrt"), (_POSITIVE,)),
    **dict.fromkeys(("asin", "acos", "atanh"), (_UNIT,)),
    "log1p": (np.abs,),
    "acosh": (lambda x: np.abs(x) + 1.1,),
    "pow": (_POSITIVE, lambda x: x / 3),
    scalar_op("pow", 0): (lambda x: x / 3,),
    scalar_op("pow", 1): (_POSITIVE,),
    **{backward_name(f): (None, _POSITIVE) for f in ("log", "log2", "log10", "sqrt", "rsqrt")},
    **{backward_name(f): (None, _UNIT) for f in ("asin", "acos", "atanh")},
    backward_name("log1p"): (None, np.abs),
    backward_name("acosh"): (None, lambda x: np.abs(x) + 1.1),
    "sigmoid_backward": (None, _sig),
    "tanh_backward": (None, np.tanh),
}


def _in_domain(op, xs):
    maps = _DOMAIN.get(op, ())
    out = list(xs)
    for k, m in enumerate(maps):
        if m is not None and k < len(out):
            out[k] = m(out[k])
    return out


def test_every_op_has_a_reference_here():
    assert set(REFERENCE) == set(OPS)


@needs_nvrtc
@pytest.mark.parametrize("arch", compile.ARCHS)
@pytest.mark.parametrize("dtype", list(templates.DTYPES))
def test_every_kernel_compiles_with_nvrtc(dtype, arch):
    # one program of every op (as tests/cuda_host.py builds them): 8 NVRTC runs, not 800
    body = [templates.source(op, dtype, prelude=False) for op in OPS]
    ptx = compile.ptx("\n".join([templates.PRELUDE, pointwise_ops.HELPERS, *body]), arch)
    for op in OPS:
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
    xs = _in_domain(op, [rng.standard_normal(n) * 3 for _ in range(k)])
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
        views64 = _in_domain(op, views64)
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
    # two operands: NaN from either side (maximum / minimum), ignored by fmax / fmin; the
    # infinities of logaddexp; the same as NumPy's (and PyTorch's) in every pairing
    nan, inf = np.nan, np.inf
    a = np.array([nan, 1.0, nan, inf, -inf, inf, -inf, 2.0], np.float32)
    b = np.array([1.0, nan, nan, inf, -inf, -inf, 3.0, -inf], np.float32)
    for op in ("maximum", "minimum", "fmax", "fmin", "logaddexp", "logaddexp2", "hypot"):
        with np.errstate(all="ignore"):
            want = getattr(np, op)(a, b)
        np.testing.assert_array_equal(cuda_host.run(op, "float32", [a, b]), want, err_msg=op)


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


def test_broadcast_strides_are_numpys():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((4, 6, 5))
    views = [base, base[:, :1], base[::2, ::-1, 2:3], base[0], base[:, 0, :1], base.T, base[1, 2]]
    for v in views:
        for shape in ((4, 6, 5), (3, 4, 6, 5), (2, 1, 4, 6, 5)):
            try:
                want = np.broadcast_to(v, shape).strides
            except ValueError:
                continue
            assert templates.broadcast_strides(v.shape, v.strides, shape) == want, (v.shape, shape)


def test_the_engine_is_off_unless_asked_and_its_names_are_catalogue_names():
    from gpugrad.backend.base import ArrayBackend
    from gpugrad.backend.kernels import kernel_names

    if os.environ.get("GPUGRAD_CUDA_KERNELS") != "1":
        assert not ENGINE.enabled()
    missing = set(ENGINE.names()) - set(kernel_names(ArrayBackend))
    assert not missing, f"CUDA engine names without a reference kernel: {sorted(missing)}"


# ---- row kernels: block reductions through shared memory and __syncthreads ----------------
ROW_SHAPES = [(1, 1), (3, 7), (5, 1000), (2, 4099)]


def _row_lib(dtype):
    from gpugrad.backend.cuda import rows_source

    kernels = {rows_source.kernel_name(k, dtype): p for k, p in rows_source.PARAMS.items()}
    return cuda_host.build(rows_source.source(dtype), dtype, kernels)


def _softmax64(x, take_log):
    z = x - x.max(-1, keepdims=True)
    ls = np.log(np.exp(z).sum(-1, keepdims=True))
    return z - ls if take_log else np.exp(z - ls)


@needs_cxx
@pytest.mark.parametrize("dtype", list(templates.DTYPES))
def test_host_softmax_rows_match_numpy(dtype):
    from gpugrad.backend.cuda.rows import block_for

    lib = _row_lib(dtype)
    rng = np.random.default_rng(2)
    for rows, cols in ROW_SHAPES:
        x64 = _from_storage(_to_storage(rng.standard_normal((rows, cols)) * 4, dtype), dtype)
        g64 = _from_storage(_to_storage(rng.standard_normal((rows, cols)), dtype), dtype)
        x, g = _to_storage(x64, dtype), _to_storage(g64, dtype)
        for take_log in (0, 1):
            out = np.full_like(x, 0x7E00 if x.dtype == np.uint16 else np.nan)
            fwd = getattr(lib, f"host_gg_softmax_{dtype}")
            fwd(2, block_for(cols), x.ctypes.data, out.ctypes.data, rows, cols, take_log)
            y64 = _softmax64(x64, take_log)
            tol = TOL[dtype] * 4
            np.testing.assert_allclose(_from_storage(out, dtype), y64, rtol=tol, atol=tol)
            # backward from the kernel's own output, against float64 formulas of that output
            yk = _from_storage(out, dtype)
            dx = np.empty_like(x)
            bwd = getattr(lib, f"host_gg_softmax_backward_{dtype}")
            bwd(
                2,
                block_for(cols),
                g.ctypes.data,
                out.ctypes.data,
                dx.ctypes.data,
                rows,
                cols,
                take_log,
            )
            if take_log:
                want = g64 - np.exp(yk) * g64.sum(-1, keepdims=True)
            else:
                want = yk * (g64 - (g64 * yk).sum(-1, keepdims=True))
            scale = max(1.0, float(np.abs(want).max()))
            np.testing.assert_allclose(_from_storage(dx, dtype), want, rtol=tol, atol=tol * scale)


@needs_cxx
def test_host_softmax_edge_rows_as_pytorch():
    lib = _row_lib("float32")
    x = np.array([[-np.inf, -np.inf], [np.nan, 1.0], [np.inf, 1.0], [0.0, -np.inf]], np.float32)
    out = np.empty_like(x)
    lib.host_gg_softmax_float32(1, 32, x.ctypes.data, out.ctypes.data, 4, 2, 0)
    assert np.isnan(out[0]).all() and np.isnan(out[1]).all()  # torch: NaN rows
    assert np.isnan(out[2, 0]) and out[3, 0] == 1 and out[3, 1] == 0


CE_CASES = [  # (weight, ignore_index, label_smoothing)
    (False, None, 0.0),
    (False, 2, 0.0),
    (True, None, 0.0),
    (True, 2, 0.1),
    (False, -100, 0.25),
]


@needs_cxx
@pytest.mark.parametrize("dtype", list(templates.DTYPES))
@pytest.mark.parametrize("case", CE_CASES, ids=str)
def test_host_cross_entropy_rows_match_the_reference(dtype, case):
    # per-row loss, weight and logsumexp, and the gradient, against the NumPy backend's
    # reference in float64 ("none" rows; "mean"'s one scale for every row)
    from gpugrad.backend import cpu_backend
    from gpugrad.backend.cuda.rows import block_for

    use_weight, ignore, eps = case
    lib = _row_lib(dtype)
    ref = cpu_backend()
    rng = np.random.default_rng(4)
    for rows, cols in [(1, 1), (3, 7), (5, 1000), (9, 4099)]:
        x64 = _from_storage(_to_storage(rng.standard_normal((rows, cols)) * 3, dtype), dtype)
        x = _to_storage(x64, dtype)
        tgt = rng.integers(0, cols, rows).astype(np.int64)
        if ignore is not None and rows > 1:
            tgt[1] = ignore  # one ignored row (or, for -100, a target no class has)
        w64 = _from_storage(_to_storage(rng.uniform(0.5, 2, cols), dtype), dtype)
        w = _to_storage(w64, dtype) if use_weight else None
        wref = w64 if use_weight else None
        stat = np.float64 if dtype == "float64" else np.float32
        lse, loss, roww = (np.full(rows, np.nan, stat) for _ in range(3))
        fwd = getattr(lib, f"host_gg_cross_entropy_{dtype}")
        has = ignore is not None
        fwd(2, block_for(cols), x.ctypes.data, tgt.ctypes.data, 0 if w is None else w.ctypes.data,
            lse.ctypes.data, loss.ctypes.data, roww.ctypes.data, rows, cols,
            ignore if has else 0, int(has), eps)  # fmt: skip
        want, want_lse = ref.cross_entropy(x64, tgt, wref, ignore, eps, "none")
        kept = tgt != ignore if has else np.ones(rows, bool)
        want_w = np.where(kept, w64[np.where(kept, tgt, 0)] if use_weight else 1.0, 0.0)
        tol = TOL[dtype] * 8
        np.testing.assert_allclose(lse, want_lse, rtol=tol, atol=tol)
        np.testing.assert_allclose(loss, want, rtol=tol, atol=tol * 10)
        np.testing.assert_allclose(roww, want_w, rtol=tol)
        for reduction in ("none", "mean"):
            g = rng.standard_normal(rows) if reduction == "none" else np.array(0.7)
            want_dx = ref.cross_entropy_backward(
                g, x64, tgt, want_lse, wref, ignore, eps, reduction
            )
            scale = g if reduction == "none" else g / want_w.sum()
            scale = np.ascontiguousarray(np.broadcast_to(scale, (rows,)), dtype=stat)
            dx = np.full_like(x, 0x7E00 if x.dtype == np.uint16 else np.nan)
            bwd = getattr(lib, f"host_gg_cross_entropy_backward_{dtype}")
            bwd(2, block_for(cols), x.ctypes.data, tgt.ctypes.data, lse.ctypes.data,
                0 if w is None else w.ctypes.data, scale.ctypes.data, 1, dx.ctypes.data, rows,
                cols, ignore if has else 0, int(has), eps)  # fmt: skip
            np.testing.assert_allclose(_from_storage(dx, dtype), want_dx, rtol=tol, atol=tol)


@needs_cxx
@pytest.mark.parametrize("dtype", list(templates.DTYPES))
@pytest.mark.parametrize("affine", [True, False])
def test_host_layer_norm_matches_numpy(dtype, affine):
    from gpugrad.backend.cuda.rows import block_for

    lib = _row_lib(dtype)
    rng = np.random.default_rng(3)
    stat = np.float64 if dtype == "float64" else np.float32
    eps = 1e-5
    for rows, cols in ROW_SHAPES[1:]:
        q = lambda a: _from_storage(_to_storage(a, dtype), dtype)  # noqa: E731
        x64 = q(rng.standard_normal((rows, cols)) * 3 + 1)
        g64 = q(rng.standard_normal((rows, cols)))
        w64, b64 = q(rng.standard_normal(cols)), q(rng.standard_normal(cols))
        x, g = _to_storage(x64, dtype), _to_storage(g64, dtype)
        w, b = _to_storage(w64, dtype), _to_storage(b64, dtype)
        wp, bp = (w.ctypes.data, b.ctypes.data) if affine else (None, None)
        y = np.empty_like(x)
        mean, rstd = np.empty(rows, stat), np.empty(rows, stat)
        lib_fwd = getattr(lib, f"host_gg_layer_norm_{dtype}")
        lib_fwd(
            3,
            block_for(cols),
            x.ctypes.data,
            wp,
            bp,
            y.ctypes.data,
            mean.ctypes.data,
            rstd.ctypes.data,
            rows,
            cols,
            eps,
        )
        mu = x64.mean(-1, keepdims=True)
        rs = 1 / np.sqrt(((x64 - mu) ** 2).mean(-1, keepdims=True) + eps)
        xhat = (x64 - mu) * rs
        want = xhat * w64 + b64 if affine else xhat
        tol = TOL[dtype] * 4
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(_from_storage(y, dtype), want, rtol=tol, atol=tol * scale)
        np.testing.assert_allclose(mean, mu[:, 0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rstd, rs[:, 0], rtol=1e-4)
        dx = np.empty_like(x)
        getattr(lib, f"host_gg_layer_norm_backward_{dtype}")(
            3,
            block_for(cols),
            g.ctypes.data,
            x.ctypes.data,
            mean.ctypes.data,
            rstd.ctypes.data,
            wp,
            dx.ctypes.data,
            rows,
            cols,
        )
        gw = g64 * w64 if affine else g64
        want_dx = rs * (
            gw - gw.mean(-1, keepdims=True) - xhat * (gw * xhat).mean(-1, keepdims=True)
        )
        scale = max(1.0, float(np.abs(want_dx).max()))
        np.testing.assert_allclose(_from_storage(dx, dtype), want_dx, rtol=tol, atol=tol * scale)
        dw, db = np.empty_like(w), np.empty_like(b)
        getattr(lib, f"host_gg_layer_norm_weight_grads_{dtype}")(
            2,
            32,
            g.ctypes.data,
            x.ctypes.data,
            mean.ctypes.data,
            rstd.ctypes.data,
            dw.ctypes.data,
            db.ctypes.data,
            rows,
            cols,
        )
        for got, want_w in ((dw, (g64 * xhat).sum(0)), (db, g64.sum(0))):
            scale = max(1.0, float(np.abs(want_w).max()))
            np.testing.assert_allclose(
                _from_storage(got, dtype), want_w, rtol=tol, atol=tol * scale
            )


@needs_nvrtc
@pytest.mark.parametrize("arch", compile.ARCHS)
def test_row_kernels_compile_with_nvrtc(arch):
    from gpugrad.backend.cuda import rows_source

    for dtype in templates.DTYPES:
        ptx = compile.ptx(rows_source.source(dtype), arch)
        for k in rows_source.PARAMS:
            assert f".entry {rows_source.kernel_name(k, dtype)}(".encode() in ptx


def test_row_block_sizes_are_powers_of_two():
    from gpugrad.backend.cuda.rows import block_for

    for cols in (1, 31, 32, 129, 1000, 4096, 1 << 20):
        b = block_for(cols)
        assert b & (b - 1) == 0 and 32 <= b <= 512


# ---- on a GPU: the engine's kernels against the reference kernels, through the backend ------
def _cuda_reason() -> str:
    from gpugrad.backend import cuda_status

    n, why = cuda_status()
    return "" if n else why


_NO_GPU = _cuda_reason()


@pytest.mark.skipif(bool(_NO_GPU), reason=_NO_GPU or "-")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CE_CASES, ids=str)
def test_engine_cross_entropy_matches_the_reference_on_the_gpu(reduction, case):
    import cupy

    from gpugrad.backend import cpu_backend
    from gpugrad.backend.cuda import rows

    use_weight, ignore, eps = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 1000)).astype(np.float32) * 3
    tgt = rng.integers(0, 1000, 64)
    if ignore is not None:
        tgt[::5] = ignore
    w = rng.uniform(0.5, 2, 1000).astype(np.float32) if use_weight else None
    g = rng.standard_normal(64 if reduction == "none" else ()).astype(np.float32)
    ref = cpu_backend()
    want, want_lse = ref.cross_entropy(x, tgt, w, ignore, eps, reduction)
    want_dx = ref.cross_entropy_backward(g, x, tgt, want_lse, w, ignore, eps, reduction)
    dev = [cupy.asarray(a) if a is not None else None for a in (x, tgt, w, g)]
    loss, lse = rows._build_cross_entropy()(dev[0], dev[1], dev[2], ignore, eps, reduction)
    dx = rows._build_cross_entropy_backward()(
        dev[3], dev[0], dev[1], lse, dev[2], ignore, eps, reduction
    )
    np.testing.assert_allclose(loss.get(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lse.get(), want_lse, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx.get(), want_dx, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(bool(_NO_GPU), reason=_NO_GPU or "-")
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_engine_kernels_match_the_reference_on_the_gpu(dtype):
    import cupy
    import cupyx.scipy.special

    from gpugrad.backend.cuda import pointwise, rows

    rng = cupy.random.default_rng(0)
    tol = {"float16": 2e-3, "float32": 1e-5, "float64": 1e-12}[dtype]
    for n in (1, 7, 1025, (1 << 20) + 3):
        x = rng.standard_normal(n, dtype=cupy.float32).astype(dtype) * 3
        g = rng.standard_normal(n, dtype=cupy.float32).astype(dtype)
        x64 = x.astype("f8")
        refs = {
            "sigmoid": 1 / (1 + cupy.exp(-x64)),
            "tanh": cupy.tanh(x64),
            "silu": x64 / (1 + cupy.exp(-x64)),
            "gelu": 0.5 * x64 * (1 + cupyx.scipy.special.erf(x64 / math.sqrt(2))),
            "relu": cupy.maximum(x64, 0),
        }
        for op, want in refs.items():
            got = pointwise.launch(op, (x,))
            cupy.testing.assert_allclose(got.astype("f8"), want, rtol=tol, atol=tol * 3)
        got = pointwise.launch("threshold_backward", (g, x))
        cupy.testing.assert_array_equal(got, cupy.where(x <= 0, 0, g))
        # broadcast and non-contiguous: the strided kernel
        m = x[: (n // 8) * 8].reshape(-1, 8)
        if m.size:
            got = pointwise.launch("silu_backward", (m.T, m[:1].T))
            ref = cupy.broadcast_arrays(m.T, m[:1].T)
            s = 1 / (1 + cupy.exp(-ref[1].astype("f8")))
            want = ref[0] * s * (1 + ref[1] * (1 - s))
            cupy.testing.assert_allclose(got.astype("f8"), want, rtol=tol * 4, atol=tol * 4)
    a = rng.standard_normal((300, 1000), dtype=cupy.float32).astype(dtype)
    y = rows._softmax(a, 0)
    e = cupy.exp(a.astype("f8") - a.astype("f8").max(-1, keepdims=True))
    cupy.testing.assert_allclose(
        y.astype("f8"), e / e.sum(-1, keepdims=True), rtol=tol * 4, atol=tol
    )


# ---- fused optimizers: multi-tensor chunks over a pointer table -------------------------
def _opt_lib(dtype):
    from gpugrad.backend.cuda import optimizer_source as o

    kernels = {o.kernel_name(k, dtype): p for k, p in o.PARAMS.items()}
    return cuda_host.build(o.source(dtype), dtype, kernels)


def _opt_tables(roles, grads):
    from gpugrad.backend.cuda import optimizer_source as o

    ptrs = np.array([0 if a is None else a.ctypes.data for r in roles for a in r], np.int64)
    gptr = np.array([g.ctypes.data for g in grads], np.int64)
    sizes = np.array([a.size for a in roles[0]], np.int64)
    t, s = o.chunks(list(sizes))
    return ptrs, gptr, sizes, np.array(t, np.int32), np.array(s, np.int64)


@needs_cxx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "flags",
    [
        dict(decoupled=False, amsgrad=False, maximize=False, weight_decay=0.0),
        dict(decoupled=True, amsgrad=True, maximize=False, weight_decay=0.1),
        dict(decoupled=False, amsgrad=False, maximize=True, weight_decay=0.05),
    ],
)
def test_host_adam_matches_torch(dtype, flags):
    torch = pytest.importorskip("torch")
    from gpugrad.backend.cuda import optimizer_source as o

    lib = _opt_lib(dtype)
    rng = np.random.default_rng(4)
    sizes = [1, 5, o.CHUNK + 7]  # a tensor spanning two chunks, and tiny ones
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    tp = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    cls = torch.optim.AdamW if flags["decoupled"] else torch.optim.Adam
    opt = cls(
        tp,
        lr=1e-2,
        betas=(0.9, 0.99),
        eps=1e-8,
        weight_decay=flags["weight_decay"],
        amsgrad=flags["amsgrad"],
        maximize=flags["maximize"],
        foreach=False,
    )
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    vmax = [np.zeros_like(p) for p in params]
    F = np.float64 if dtype == "float64" else np.float32
    for step in range(1, 4):
        grads = [rng.standard_normal(n).astype(dtype) for n in sizes]
        for t, g in zip(tp, grads):
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        ptrs, gptr, sz, ct, cs = _opt_tables([params, m, v, vmax], grads)
        step_size = 1e-2 / (1 - 0.9**step)
        bc2 = math.sqrt(1 - 0.99**step)
        getattr(lib, f"host_gg_adam_{dtype}")(
            len(ct),
            64,
            ptrs.ctypes.data,
            gptr.ctypes.data,
            sz.ctypes.data,
            ct.ctypes.data,
            cs.ctypes.data,
            len(params),
            F(1e-2),
            F(0.9),
            F(0.99),
            F(1e-8),
            F(flags["weight_decay"]),
            F(step_size),
            F(bc2),
            int(flags["decoupled"]),
            int(flags["amsgrad"]),
            int(flags["maximize"]),
        )
    tol = 1e-12 if dtype == "float64" else 2e-6
    for p, t in zip(params, tp):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=tol, atol=tol)


@needs_cxx
@pytest.mark.parametrize(
    "nesterov,momentum,dampening", [(False, 0.0, 0.0), (False, 0.9, 0.1), (True, 0.9, 0.0)]
)
def test_host_sgd_matches_torch(nesterov, momentum, dampening):
    torch = pytest.importorskip("torch")
    from gpugrad.backend.cuda import optimizer_source as o

    lib = _opt_lib("float64")
    rng = np.random.default_rng(5)
    sizes = [3, o.CHUNK + 1]
    params = [rng.standard_normal(n) for n in sizes]
    tp = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    opt = torch.optim.SGD(
        tp,
        lr=0.1,
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=0.01,
        foreach=False,
    )
    bufs = [np.zeros_like(p) for p in params]
    for step in range(3):
        grads = [rng.standard_normal(n) for n in sizes]
        for t, g in zip(tp, grads):
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        ptrs, gptr, sz, ct, cs = _opt_tables([params, bufs], grads)
        lib.host_gg_sgd_float64(
            len(ct),
            64,
            ptrs.ctypes.data,
            gptr.ctypes.data,
            sz.ctypes.data,
            ct.ctypes.data,
            cs.ctypes.data,
            len(params),
            0.1,
            momentum,
            dampening,
            0.01,
            int(nesterov),
            0,
            int(step == 0),
        )
    for p, t in zip(params, tp):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-12, atol=1e-12)


@needs_nvrtc
def test_optimizer_kernels_compile_with_nvrtc():
    from gpugrad.backend.cuda import optimizer_source as o

    for arch in compile.ARCHS:
        for dtype in templates.DTYPES:
            ptx = compile.ptx(o.source(dtype), arch)
            assert f".entry {o.kernel_name('adam', dtype)}(".encode() in ptx


# ---- dropout: the mask from the same counter-based draws as the reference ------------------
@needs_cxx
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_host_dropout_draws_the_reference_mask(dtype):
    from gpugrad.backend.cuda import dropout as d
    from gpugrad.backend.kernels.pointwise import dropout_uniforms

    kernels = {d.kernel_name(k, dtype): p for k, p in d.PARAMS.items()}
    lib = cuda_host.build(d.source(dtype), dtype, kernels)
    rng = np.random.default_rng(6)
    seed = (1 << 63) + 12345  # a seed past int64's range still means the same draws
    F = np.float64 if dtype == "float64" else np.float32
    for n, p in ((1, 0.5), (1001, 0.3), (4096, 0.0), (77, 1.0)):
        x64 = _from_storage(_to_storage(rng.standard_normal(n), dtype), dtype)
        x = _to_storage(x64, dtype)
        out, mask = np.empty_like(x), np.empty(n, np.uint8)
        scale = 0.0 if p >= 1 else 1 / (1 - p)
        getattr(lib, f"host_gg_dropout_{dtype}")(
            3, 64, x.ctypes.data, out.ctypes.data, mask.ctypes.data, n, seed, p, F(scale)
        )
        want_mask = dropout_uniforms(np, seed, n) >= p
        np.testing.assert_array_equal(mask.astype(bool), want_mask)
        want = np.where(want_mask, x64 * scale, 0.0)
        np.testing.assert_allclose(_from_storage(out, dtype), want, rtol=TOL[dtype])
        g = _to_storage(x64[::-1].copy(), dtype)
        dx = np.empty_like(g)
        getattr(lib, f"host_gg_dropout_backward_{dtype}")(
            2, 32, g.ctypes.data, mask.ctypes.data, dx.ctypes.data, n, F(scale)
        )
        want = np.where(want_mask, x64[::-1] * scale, 0.0)
        np.testing.assert_allclose(_from_storage(dx, dtype), want, rtol=TOL[dtype])


# ---- reductions: rows, and every element through partials ---------------------------------
def _red_lib(dtype):
    from gpugrad.backend.cuda import reduce_source as r

    kernels = {r.kernel_name(k, dtype): p for k, p in r.PARAMS.items()}
    return cuda_host.build(r.source(dtype), dtype, kernels)


def _host_reduce_all(lib, dtype, x, op, correction=0.0, grid=3, block=64):
    """reduction.reduce's launch sequence over every element, run on the host."""
    from gpugrad.backend.cuda import reduce_source as r

    code = r.OPS[op]
    F = np.float64 if dtype == "float64" else np.float32
    partial = np.empty(grid, F)
    scalar = np.zeros(1, F)
    out = np.empty(1, x.dtype)
    part = getattr(lib, f"host_gg_reduce_partial_{dtype}")
    fin = getattr(lib, f"host_gg_reduce_final_{dtype}")
    part(
        grid,
        block,
        x.ctypes.data,
        partial.ctypes.data,
        x.size,
        r.first_kind(code),
        scalar.ctypes.data,
    )
    if code in (4, 5):
        fin(
            1,
            block,
            partial.ctypes.data,
            grid,
            x.size,
            code,
            0,
            F(correction),
            scalar.ctypes.data,
            out.ctypes.data,
        )
        part(
            grid,
            block,
            x.ctypes.data,
            partial.ctypes.data,
            x.size,
            6 if code == 4 else 7,
            scalar.ctypes.data,
        )
    fin(
        1,
        block,
        partial.ctypes.data,
        grid,
        x.size,
        code,
        1,
        F(correction),
        scalar.ctypes.data,
        out.ctypes.data,
    )
    return out[0:1]


_RED64 = {
    "sum": lambda a, ax: a.sum(ax),
    "mean": lambda a, ax: a.mean(ax),
    "amax": lambda a, ax: a.max(ax),
    "amin": lambda a, ax: a.min(ax),
    "logsumexp": lambda a, ax: np.log(np.exp(a - a.max(ax, keepdims=True)).sum(ax)) + a.max(ax),
    "var": lambda a, ax: a.var(ax, ddof=1),
}


@needs_cxx
@pytest.mark.parametrize("dtype", list(templates.DTYPES))
def test_host_reductions_match_numpy(dtype):
    from gpugrad.backend.cuda import reduce_source as r
    from gpugrad.backend.cuda.rows import block_for

    lib = _red_lib(dtype)
    rng = np.random.default_rng(7)
    F = np.float64 if dtype == "float64" else np.float32
    for rows, cols in ROW_SHAPES:
        x64 = _from_storage(_to_storage(rng.standard_normal((rows, cols)) * 2 + 1, dtype), dtype)
        x = _to_storage(x64, dtype)
        for op, ref in _RED64.items():
            if op == "var" and cols == 1:
                continue
            out = np.empty(rows, x.dtype)
            getattr(lib, f"host_gg_reduce_rows_{dtype}")(
                2, block_for(cols), x.ctypes.data, out.ctypes.data, rows, cols, r.OPS[op], F(1.0)
            )
            want = ref(x64, -1)
            tol = TOL[dtype] * 4
            np.testing.assert_allclose(
                _from_storage(out, dtype),
                want,
                rtol=tol,
                atol=tol * max(1.0, float(np.abs(want).max())),
            )
            if op == "var" and x64.size < 2:
                continue
            got = _host_reduce_all(lib, dtype, x, op, correction=1.0)
            want = ref(x64.ravel(), None)
            np.testing.assert_allclose(
                _from_storage(got, dtype)[0], want, rtol=tol, atol=tol * max(1.0, abs(float(want)))
            )


@needs_cxx
def test_host_reductions_propagate_nan_and_handle_infinite_rows():
    from gpugrad.backend.cuda import reduce_source as r

    lib = _red_lib("float32")
    x = np.array([[1.0, np.nan, 3.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0]], np.float32)
    for op in ("amax", "amin", "sum"):
        out = np.empty(3, np.float32)
        lib.host_gg_reduce_rows_float32(1, 32, x.ctypes.data, out.ctypes.data, 3, 3, r.OPS[op], 0.0)
        assert np.isnan(out[0])
    out = np.empty(3, np.float32)
    lib.host_gg_reduce_rows_float32(
        1, 32, x.ctypes.data, out.ctypes.data, 3, 3, r.OPS["logsumexp"], 0.0
    )
    assert np.isnan(out[0]) and out[1] == -np.inf and out[2] == np.inf  # as torch.logsumexp
    got = _host_reduce_all(lib, "float32", x[1:], "logsumexp")
    assert got[0] == np.inf


def test_cross_entropy_kernel_selection():
    from gpugrad.backend.cuda.rows import _ce_backward_when, _ce_when

    x = np.zeros((8, 10), np.float32)
    t = np.zeros(8, np.int64)
    w = np.ones(10, np.float32)
    assert _ce_when(x, t, None, None, 0.0, "mean") and _ce_when(x, t, w, -100, 0.1, "none")
    assert not _ce_when(x, t.astype(np.int32), None)  # int32 targets: the reference
    assert not _ce_when(np.zeros((10, 8), np.float32).T, t, None)  # rows not contiguous
    assert not _ce_when(x, t, w.astype(np.float64))  # a weight of another dtype
    assert not _ce_when(x.astype(np.int64), t, None)  # not a float
    assert not _ce_when(np.zeros((0, 10), np.float32), t[:0], None)  # empty
    lse = np.zeros(8, np.float32)
    assert _ce_backward_when(np.float32(1), x, t, lse, None)
    assert not _ce_backward_when(np.float32(1), x, t, lse.astype(np.float64), None)


@pytest.mark.parametrize("module", ["rows_source", "reduce_source"])
def test_kernel_signatures_match_their_launch_parameters(module):
    # the host harness converts arguments implicitly (an int passed for a long long works
    # there), and CuPy passes each argument at its Python type's width: so the C signature of
    # every kernel must be exactly the PARAMS its launches are built from
    import re

    src_mod = __import__(f"gpugrad.backend.cuda.{module}", fromlist=["source"])
    src = src_mod.source("float32")
    found = {}
    for name, params in re.findall(r"GG_KERNEL gg_(\w+)_float32\((.*?)\)\s*\{", src, re.S):
        parts = [" ".join(p.replace("__restrict__", "").split()) for p in params.split(",")]
        found[name] = [(p.rsplit(" ", 1)[0].replace(" *", "*"), p.rsplit(" ", 1)[1]) for p in parts]
    assert set(found) == set(src_mod.PARAMS)
    for name, params in src_mod.PARAMS.items():
        want = [(" ".join(t.split()).replace(" *", "*"), n) for t, n in params]
        assert found[name] == want, name
