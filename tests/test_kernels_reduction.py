"""The reduction kernels: the compiled (Numba) sum/mean/var/logsumexp/vector_norm/sum_backward
against their NumPy references and a float64 reference, and the references' own contracts
(float16 accumulation, zero-size axes, NaN/inf)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import reduction as NR

B = gpugrad.device("cpu").backend
NAMES = ("sum", "mean", "var", "logsumexp")
# (shape, axis): every axis, the last one, the last two; odd sizes above the threshold
LAYOUTS = [
    ((NR.MIN_SIZE + 37,), None),
    ((NR.MIN_SIZE + 37,), -1),
    ((7, 9377), None),
    ((7, 9377), 1),
    ((3, 5, 4447), (1, 2)),
    ((2000, 41), -1),  # many short rows
    ((2, 3 * NR.CHUNK + 5), -1),  # a few long rows: several chunks each
]

# the Numba engine's tests (every test above the device-parametrized ones at the end)
needs_numba = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")


def _args(name, x, axis):
    return (x, axis, 1) if name == "var" else (x, axis)


def _call(fn, name, x, axis, keepdims):
    return fn(*_args(name, x, axis), keepdims=keepdims)


@needs_numba
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keepdims", [False, True])
def test_compiled_matches_reference_and_float64(name, layout, dtype, keepdims):
    shape, axis = layout
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype) * 3 + 0.5
    ref = getattr(B, name).reference
    got = _call(ENGINE.compiled(name), name, x, axis, keepdims)
    want = np.asarray(_call(ref, name, x, axis, keepdims))
    exact = np.asarray(_call(ref, name, x.astype(np.float64), axis, keepdims))
    assert got.dtype == x.dtype and got.shape == want.shape
    scale = np.abs(x).sum() / max(got.size, 1) if name == "sum" else np.abs(exact) + 1
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.all(np.abs(got - exact) <= tol * scale)
    assert np.all(np.abs(want - exact) <= 10 * tol * scale)  # the reference: same check


@needs_numba
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_propagates_nan_and_inf(name, dtype):
    n = NR.MIN_SIZE + 3
    x = np.random.default_rng(2).standard_normal((9, n)).astype(dtype)
    x[0, 5] = np.nan
    x[1, -1] = np.inf
    x[2, 0] = -np.inf
    x[3, :] = -np.inf
    x[4, 7], x[4, 9] = np.inf, np.nan
    x[5, 0] = np.nan  # the first element NaN (logsumexp's shift starts there)
    x[6, : NR.CHUNK] = -np.inf  # a chunk of -inf beside finite ones
    x[7, -1] = 80.0  # the row's maximum in its last chunk, far above the others
    x[8, : NR.CHUNK] = 300.0 if dtype == np.float64 else 60.0
    got = _call(ENGINE.compiled(name), name, x, -1, False)
    want = _call(getattr(B, name).reference, name, x, -1, False)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-5)


@needs_numba
def test_var_corrections_and_no_degrees_of_freedom():
    x = np.random.default_rng(3).standard_normal((4, NR.MIN_SIZE_VAR)).astype(np.float32)
    for c in (0, 1, 2.5):
        np.testing.assert_allclose(
            ENGINE.compiled("var")(x, -1, c), B.var.reference(x, -1, c), rtol=1e-5
        )
    row = np.ones((1, NR.MIN_SIZE_VAR), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no floating-point warnings escape
        got = ENGINE.compiled("var")(row, -1, NR.MIN_SIZE_VAR)
        got2 = ENGINE.compiled("var")(row * np.arange(row.size), -1, NR.MIN_SIZE_VAR + 1)
    assert np.isnan(got[0]) and np.isposinf(got2[0])


@needs_numba
@pytest.mark.parametrize("name", NAMES)
def test_dispatch_uses_the_reference_off_the_fast_layouts(name):
    """Non-contiguous input, a leading axis, small arrays and float16: the dispatcher's
    answer is the reference's."""
    rng = np.random.default_rng(4)
    big = rng.standard_normal((300, 500)).astype(np.float32)
    cases = [(big.T, -1), (big, 0), (big[:, ::2], -1), (big[:3, :3], -1)]
    cases.append((big.astype(np.float16), -1))
    for x, axis in cases:
        assert not (NR._when_var if name == "var" else NR._when)(x, axis)
        got = _call(getattr(B, name), name, x, axis, False)
        want = _call(getattr(B, name).reference, name, x, axis, False)
        np.testing.assert_array_equal(got, want)
    # above the threshold, C-ordered, the last axis: the compiled kernel serves it
    assert NR._when(big, -1) and NR._when(big, None) and NR._when(big, (0, 1))
    got = _call(getattr(B, name), name, big, -1, False)
    np.testing.assert_array_equal(got, _call(ENGINE.compiled(name), name, big, -1, False))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "gshape,shape",
    [
        ((), (NR.MIN_SIZE + 5,)),
        ((1, 1), (3, NR.MIN_SIZE)),
        ((5, 1), (5, 20011)),
        ((2, 3, 1, 1), (2, 3, 7, 5000)),
    ],
)
@needs_numba
def test_sum_backward_compiled_matches_reference(dtype, gshape, shape):
    g = np.random.default_rng(5).standard_normal(gshape).astype(dtype)
    g = g.reshape((1,) * len(shape)) if g.ndim == 0 else g
    assert NR._when_fill(g, shape)
    got = ENGINE.compiled("sum_backward")(g, shape)
    want = B.sum_backward.reference(g, shape)
    assert got.flags.c_contiguous and got.base is None
    np.testing.assert_array_equal(got, want)
    assert not NR._when_fill(np.ones((1, 3)), (4, 3))  # a leading axis reduced: reference


# ---- the references' contracts ------------------------------------------------------------
@needs_numba
def test_float16_accumulates_in_float32():
    x = np.full(10000, 10.0, np.float16)
    assert B.mean(x, None) == 10 and B.mean(x, None).dtype == np.float16
    assert B.mean(x.reshape(100, 100), 0)[0] == 10
    y = np.array([1000, 1001, 1002], np.float16)
    assert B.var(y, None, 1) == 1
    assert B.vector_norm(np.array([300, 300], np.float16), 2, None) == np.float16(424.25)
    lse = B.logsumexp(x, (0,))
    assert lse.dtype == np.float16 and float(lse) == pytest.approx(10 + np.log(10000), abs=0.02)


@needs_numba
@pytest.mark.parametrize("name", ("mean", "var", "logsumexp", "vector_norm"))
def test_zero_size_axes_quietly(name):
    x = np.zeros((0, 3), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if name == "var":
            full, part = B.var(x, (0,), 1), B.var(x, (1,), 1)
        elif name == "vector_norm":
            full, part = B.vector_norm(x, 2, (0,)), B.vector_norm(x, 2, (1,))
        else:
            full, part = getattr(B, name)(x, (0,)), getattr(B, name)(x, (1,))
    want = {"mean": np.nan, "var": np.nan, "logsumexp": -np.inf, "vector_norm": 0.0}[name]
    np.testing.assert_array_equal(full, np.full(3, want, np.float32))
    assert part.shape == (0,)


@needs_numba
def test_vector_norm_orders_against_float64():
    x = np.random.default_rng(6).standard_normal((5, 7)).astype(np.float32)
    x[0, 0] = 0
    for ordv in (2, 1, 0, 3, 0.5, np.inf, -np.inf):
        got = B.vector_norm(x, ordv, (1,))
        a = np.abs(x.astype(np.float64))
        if ordv == np.inf:
            want = a.max(1)
        elif ordv == -np.inf:
            want = a.min(1)
        elif ordv == 0:
            want = (a != 0).sum(1)
        else:
            want = (a**ordv).sum(1) ** (1 / ordv)
        np.testing.assert_allclose(got, want, rtol=1e-5)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,axis", [((NR.MIN_SIZE + 5,), None), ((6, 20011), -1), ((2, 3, 7, 5000), (2, 3))]
)
def test_backward_kernels_compiled_match_reference(dtype, shape, axis):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape).astype(dtype)
    lse = B.logsumexp.reference(x, axis, True)
    mean = B.mean.reference(x, axis, True)
    g = rng.standard_normal(lse.shape).astype(dtype)
    assert NR._when_backward(g, x, lse)
    got = ENGINE.compiled("logsumexp_backward")(g, x, lse)
    want = B.logsumexp_backward.reference(g, x, lse)
    assert got.dtype == x.dtype and got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    got = ENGINE.compiled("var_backward")(g, x, mean, 0.25)
    want = B.var_backward.reference(g, x, mean, 0.25)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-7)


@needs_numba
def test_backward_kernels_propagate_nan_and_inf():
    n = NR.MIN_SIZE
    x = np.zeros((3, n), np.float32)
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    lse = B.logsumexp.reference(x, -1, True)
    g = np.ones((3, 1), np.float32)
    got = ENGINE.compiled("logsumexp_backward")(g, x, lse)
    want = B.logsumexp_backward.reference(g, x, lse)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-6)


@needs_numba
@pytest.mark.parametrize("op", ["var", "std", "logsumexp", "sum", "mean"])
def test_array_backward_matches_tensor_backward(op):
    """The plain backward (array formulas, compiled kernels) against create_graph's Tensor
    formulas, at a size the kernels serve."""
    data = np.random.default_rng(9).standard_normal((3, NR.MIN_SIZE + 11)).astype(np.float32)
    fn = {
        "var": lambda x: x.var(1),
        "std": lambda x: x.std(),
        "logsumexp": lambda x: x.logsumexp(1),
        "sum": lambda x: x.sum(1),
        "mean": lambda x: x.mean(),
    }[op]
    x = gpugrad.tensor(data, requires_grad=True)
    y = fn(x)
    y.backward(gpugrad.ones_like(y))
    x2 = gpugrad.tensor(data, requires_grad=True)
    y2 = fn(x2)
    (g2,) = gpugrad.autograd.grad(y2, x2, gpugrad.ones_like(y2), create_graph=True)
    assert (g2.grad_fn is not None) == (op not in ("sum", "mean"))  # the Tensor formula ran
    np.testing.assert_allclose(x.grad.numpy(), g2.detach().numpy(), rtol=2e-5, atol=1e-9)


# ---- vector_norm --------------------------------------------------------------------------
NORM_LAYOUTS = [
    ((NR.MIN_SIZE_NORM + 37,), None),
    ((7, 9377), None),
    ((7, 9377), 1),
    ((3, 5, 4447), (1, 2)),
    ((2000, 41), -1),
    ((2, 3 * NR.CHUNK + 5), -1),
]
INF = float("inf")


def _torch_norm(x, o, axis, keepdims=False):
    import torch

    return torch.linalg.vector_norm(torch.from_numpy(x), o, axis, keepdims).numpy()


@needs_numba
@pytest.mark.parametrize("layout", NORM_LAYOUTS)
@pytest.mark.parametrize(
    "dtype,o",
    [(d, o) for d in (np.float32, np.float64, np.float16) for o in (2, 1, 0)]
    + [(np.float16, INF), (np.float16, -INF)],
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_vector_norm_compiled_matches_reference_and_float64(layout, dtype, o, keepdims):
    shape, axis = layout
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype) * 3 + 0.5
    x.reshape(-1)[::97] = 0  # some zeros for ord 0
    assert NR._when_norm(x, o, axis)
    got = ENGINE.compiled("vector_norm")(x, o, axis, keepdims)
    want = B.vector_norm.reference(x, o, axis, keepdims)
    with np.errstate(over="ignore"):  # float16: a 1-norm past 65504 is inf
        exact = B.vector_norm.reference(x.astype(np.float64), o, axis, keepdims).astype(dtype)
    assert got.dtype == x.dtype and got.shape == want.shape
    tol = {np.float16: 1e-3, np.float32: 1e-6, np.float64: 1e-13}[dtype]
    np.testing.assert_allclose(got.astype(np.float64), exact.astype(np.float64), rtol=tol)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol * 10)
    ref_torch = _torch_norm(x, o, axis, keepdims)
    np.testing.assert_allclose(got.astype(np.float64), ref_torch.astype(np.float64), rtol=tol * 10)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("o", [2, 1, 0, INF, -INF])
def test_vector_norm_compiled_nan_and_inf_as_torch(dtype, o):
    x = np.random.default_rng(4).standard_normal((6, NR.MIN_SIZE_NORM // 4)).astype(dtype)
    x[1, 7] = np.nan
    x[2, 3] = np.inf
    x[3, 5] = -np.inf
    x[4, 9], x[4, 11] = np.nan, np.inf
    got = B.vector_norm(x, o, -1)
    want = _torch_norm(x, o, -1)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-3)


@needs_numba
def test_vector_norm_float16_accumulates_in_float32():
    x = np.full(NR.MIN_SIZE_NORM, 300.0, np.float16)  # 300^2 overflows float16
    got = B.vector_norm(x, 2, None)
    assert got.dtype == np.float16
    np.testing.assert_allclose(float(got), 300.0 * np.sqrt(x.size), rtol=1e-3)
    x = np.full(NR.MIN_SIZE_NORM, 1e-4, np.float16)  # a subnormal's square in float32
    np.testing.assert_allclose(float(B.vector_norm(x, 1, None)), 1e-4 * x.size, rtol=1e-3)


@needs_numba
def test_vector_norm_dispatch_off_the_fast_cases():
    x = np.random.default_rng(5).standard_normal((64, 1024)).astype(np.float32)
    assert NR._when_norm(x, 2, None) and NR._when_norm(x, 1, -1)
    for args in [(x, 3.0, None), (x, INF, -1), (x[:, ::2], 2, -1), (x, 2, 0), (x[:2], 2, -1)]:
        assert not NR._when_norm(*args)
        got = B.vector_norm(*args)
        np.testing.assert_allclose(got, B.vector_norm.reference(*args), rtol=1e-6)
        np.testing.assert_allclose(got, _torch_norm(*args), rtol=1e-5)


@needs_numba
@pytest.mark.parametrize("o", [2, 1, INF, 0.5])
def test_vector_norm_op_value_and_gradient_match_torch(o):
    import torch

    data = np.random.default_rng(6).standard_normal((48, 1031))
    g = np.random.default_rng(7).standard_normal(48)
    out = []
    for lib in (torch, gpugrad):
        x = lib.tensor(data, dtype=lib.float32, requires_grad=True)
        y = lib.linalg.vector_norm(x, o, dim=-1)
        y.backward(lib.tensor(g, dtype=lib.float32))
        out.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-5)
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-4, atol=1e-7)


@needs_numba
def test_vector_norm_without_numba_is_the_reference():
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, gpugrad\n"
        "B = gpugrad.device('cpu').backend\n"
        "assert not hasattr(B.vector_norm, 'reference')\n"
        "x = np.random.default_rng(0).standard_normal((40, 2000)).astype(np.float32)\n"
        "y = gpugrad.linalg.vector_norm(gpugrad.tensor(x), 2)\n"
        "np.testing.assert_allclose(y.numpy(), np.linalg.norm(x.astype(np.float64)), rtol=1e-5)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "GPUGRAD_NUMBA": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


# ---- amin / argmax / argmin on every device, against NumPy ----------------------------------
def _specials(shape, dtype, seed):
    """Small integers (ties everywhere) with NaNs, +-inf and a slice of -inf."""
    x = np.random.default_rng(seed).integers(-2, 3, shape).astype(np.float64)
    if np.dtype(dtype).kind == "f":
        flat = x.reshape(-1)
        flat[[3, 17, 18]] = np.nan
        flat[[5, 40]] = np.inf
        flat[[8, 41]] = -np.inf
        x[-1, -1] = -np.inf
    return x.astype(dtype)


MINMAX_SHAPES = [(3, 5, 7), (4, 300, 3), (2, 1, 33)]
MINMAX_DTYPES = [np.float32, np.float64, np.float16, np.int64]


@pytest.mark.parametrize("shape", MINMAX_SHAPES)
@pytest.mark.parametrize("dtype", MINMAX_DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_amin_on_every_device_matches_numpy(device, shape, dtype, keepdims):
    backend = gpugrad.device(device).backend
    a = _specials(shape, dtype, 1)
    x = backend.asarray(a)
    for axis in (0, 1, 2, -1, (0, 1), (1, 2), (0, 2), None):
        got = backend.to_host(backend.amin(x, axis, keepdims))
        want = np.min(a, axis=axis, keepdims=keepdims)
        assert got.dtype == a.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("shape", MINMAX_SHAPES)
@pytest.mark.parametrize("dtype", MINMAX_DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_argmin_on_every_device_match_numpy(device, name, shape, dtype, keepdims):
    """int64, the first index among ties, a NaN both the maximum and the minimum (the first
    NaN's index), the flattened array for axis None (kept as (1,) * ndim)."""
    backend = gpugrad.device(device).backend
    a = _specials(shape, dtype, 2)
    x = backend.asarray(a)
    for axis in (0, 1, 2, -1, None):
        got = backend.to_host(getattr(backend, name)(x, axis, keepdims))
        want = getattr(np, name)(a, axis=axis, keepdims=keepdims)
        assert got.dtype == np.int64 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_argmax_argmin_nan_and_ties_as_torch(device):
    torch = pytest.importorskip("torch")
    a = _specials((4, 300, 3), np.float32, 3)
    t = gpugrad.tensor(a, device=device)
    tt = torch.tensor(a)
    for dim in (0, 1, 2, None):
        for name in ("argmax", "argmin"):
            got = getattr(t, name)(dim).cpu().numpy()
            want = getattr(tt, name)(dim).numpy()
            np.testing.assert_array_equal(got, want)
        if dim is not None:
            for name in ("max", "min"):
                got, want = getattr(t, name)(dim), getattr(tt, name)(dim)
                np.testing.assert_array_equal(got.indices.cpu().numpy(), want.indices.numpy())
                np.testing.assert_array_equal(got.values.cpu().numpy(), want.values.numpy())
