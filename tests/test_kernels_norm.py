"""layer_norm, rms_norm, group_norm and their backwards: the compiled (Numba) kernels against
their NumPy references and a float64 reference, the fused ops against torch (values,
gradients, grad_fn names, half inputs, NaN rows, empty, dtype rules, error texts) and
gradcheck / gradgradcheck through them."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import gpugrad
import gpugrad.nn.functional as F
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import normalization as NN
from gpugrad.backend.numba_kernels import rows as NR

B = gpugrad.device("cpu").backend
engine = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")


def _rng(seed=0):
    return np.random.default_rng(seed)


@engine
@pytest.mark.parametrize("shape", [(37, 1001), (1, NN.MIN_SIZE + 1), (NN.MIN_SIZE, 1), (5, 997)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [0, 1, 2])
def test_compiled_matches_reference_and_float64(shape, dtype, affine):
    rng = _rng()
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    b = rng.standard_normal(shape[1]).astype(dtype) if affine == 2 else None
    g = rng.standard_normal(shape).astype(dtype)

    def f64(a):
        return None if a is None else a.astype(np.float64)

    got = ENGINE.compiled("layer_norm")(x, w, b, 1e-5)
    ref = B.layer_norm.reference(x, w, b, 1e-5)
    exact = B.layer_norm.reference(f64(x), f64(w), f64(b), 1e-5)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, r, e in zip(got, ref, exact):
        assert a.dtype == x.dtype
        assert np.all(np.abs(a - e) <= tol * (np.abs(e) + 1))
        assert np.all(np.abs(r - e) <= 10 * tol * (np.abs(e) + 1))
    wg = affine > 0
    gb = ENGINE.compiled("layer_norm_backward")(g, x, got[1], got[2], w, wg)
    rb = B.layer_norm_backward.reference(g, x, got[1], got[2], w, wg)
    eb = B.layer_norm_backward.reference(f64(g), f64(x), exact[1], exact[2], f64(w), wg)
    for a, r, e in zip(gb, rb, eb):
        if e is None:
            assert a is None and r is None
            continue
        scale = np.abs(e) + np.sqrt(shape[0]) + 1
        assert a.dtype == x.dtype and a.shape == e.shape
        assert np.all(np.abs(a - e) <= 20 * tol * scale)
        assert np.all(np.abs(r - e) <= 20 * tol * scale)


@engine
def test_compiled_broadcast_grad_and_nan_rows():
    x = _rng().standard_normal((8, NN.MIN_SIZE // 4))
    x[2, 3] = np.nan
    x[3, 1] = np.inf
    got = ENGINE.compiled("layer_norm")(x, None, None, 1e-5)
    want = torch.nn.functional.layer_norm(torch.tensor(x), (x.shape[1],)).numpy()
    np.testing.assert_allclose(got[0], want, rtol=1e-10, atol=1e-12, equal_nan=True)
    g = np.broadcast_to(np.ones(1), x.shape)  # the grad of a sum: a broadcast view
    dx, _, _ = B.layer_norm_backward(g, x, got[1], got[2], None, False)
    np.testing.assert_allclose(dx[[0, 1, 4]], 0, atol=1e-12)


def test_reference_half_keeps_float32_statistics_and_empty_columns():
    x = (300 + _rng().standard_normal((4, 64)) * 3).astype(np.float16)
    y, mean, rstd = B.layer_norm(x, None, None, 1e-5)
    assert y.dtype == np.float16 and mean.dtype == np.float32 and rstd.dtype == np.float32
    want = torch.nn.functional.layer_norm(torch.tensor(x), (64,)).float().numpy()
    np.testing.assert_allclose(y.astype(np.float32), want, atol=2e-3)
    y0, m0, _ = B.layer_norm(np.ones((3, 0), np.float32), None, None, 1e-5)
    assert y0.shape == (3, 0) and m0.shape == (3,)


@pytest.mark.parametrize(
    "shape,ns", [((4, 7, 33), (33,)), ((3, 5, 6), (5, 6)), ((2, 4096), (4096,)), ((6,), (6,))]
)
@pytest.mark.parametrize("affine", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_op_matches_torch(shape, ns, affine, dtype):
    rng = _rng(1)
    x, w, b, g = (rng.standard_normal(s).astype(dtype) for s in (shape, ns, ns, shape))
    res = []
    for m in (torch, gpugrad):
        xt = m.tensor(x, requires_grad=True)
        wt = m.tensor(w, requires_grad=True) if affine else None
        bt = m.tensor(b, requires_grad=True) if affine == 2 else None
        y = m.nn.functional.layer_norm(xt, ns, wt, bt)
        y.backward(m.tensor(g))
        grads = [t.grad.numpy() for t in (xt, wt, bt) if t is not None]
        res.append((type(y.grad_fn).__name__, y.detach().numpy(), grads))
    assert res[0][0] == res[1][0] == "NativeLayerNormBackward0"
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=tol, atol=tol)
    for a, e in zip(res[1][2], res[0][2]):
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol * 10)


def test_op_non_contiguous_input_and_gradcheck():
    base = gpugrad.tensor(_rng(2).standard_normal((6, 10)), requires_grad=True)
    xt = torch.tensor(base.detach().numpy(), requires_grad=True)
    y = F.layer_norm(base.transpose(0, 1), (6,))
    ty = torch.nn.functional.layer_norm(xt.transpose(0, 1), (6,))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(base.grad.numpy(), xt.grad.numpy(), atol=1e-12)

    x = gpugrad.tensor(_rng(3).standard_normal((3, 5)), requires_grad=True)
    w = gpugrad.tensor(_rng(4).standard_normal(5), requires_grad=True)
    b = gpugrad.tensor(_rng(5).standard_normal(5), requires_grad=True)

    def fn(a, c, d):
        return F.layer_norm(a, (5,), c, d)

    assert gpugrad.autograd.gradcheck(fn, (x, w, b))
    assert gpugrad.autograd.gradgradcheck(fn, (x, w, b))


@engine
def test_warmup_examples_compile_and_take_the_compiled_path():
    for mod, names in (
        (
            NN,
            {
                "layer_norm": NN._when,
                "layer_norm_backward": NN._when_backward,
                "rms_norm": NN._when_rms,
                "rms_norm_backward": NN._when_rms_backward,
                "group_norm": NN._when_group,
                "group_norm_backward": NN._when_group_backward,
            },
        ),
        (NR, dict.fromkeys(("softmax", "log_softmax", "softmax_backward", "log_softmax_backward"))),
    ):
        for name, when in names.items():
            impl = ENGINE._impls[name]
            assert impl.build.__module__ == mod.__name__
            if when is None:
                when = mod._when if "backward" not in name else mod._when_backward
            fn = ENGINE.compiled(name)
            for args in impl.examples():
                assert when(*args)
                fn(*args)
            assert name not in ENGINE.failed


# ---- rms_norm and group_norm -------------------------------------------------------------


def _f64(a):
    return None if a is None else a.astype(np.float64)


def _close(got, ref, exact, tol, scale=1.0):
    """The compiled kernel within ``tol`` of float64, the reference within 10x that."""
    for a, r, e in zip(got, ref, exact):
        if e is None:
            assert a is None and r is None
            continue
        bound = tol * (np.abs(e) + scale)
        assert a.shape == e.shape and r.shape == e.shape
        assert np.all(np.abs(a - e) <= bound), np.abs(a - e).max()
        assert np.all(np.abs(r - e) <= 10 * bound), np.abs(r - e).max()


@engine
@pytest.mark.parametrize("shape", [(37, 1001), (1, 4097), (4097, 1), (5, 997), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [False, True])
def test_rms_norm_compiled_matches_reference_and_float64(shape, dtype, affine):
    rng = _rng(6)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    g = rng.standard_normal(shape).astype(dtype)
    assert NN._when_rms(x, w, 1e-6)
    got = ENGINE.compiled("rms_norm")(x, w, 1e-6)
    ref = B.rms_norm.reference(x, w, 1e-6)
    exact = B.rms_norm.reference(_f64(x), _f64(w), 1e-6)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert all(a.dtype == x.dtype for a in got + ref)
    _close(got, ref, exact, tol)
    gb = ENGINE.compiled("rms_norm_backward")(g, x, got[1], w, affine)
    rb = B.rms_norm_backward.reference(g, x, got[1], w, affine)
    eb = B.rms_norm_backward.reference(_f64(g), _f64(x), exact[1], _f64(w), affine)
    assert gb[0].dtype == x.dtype
    _close(gb, rb, eb, 20 * tol, np.sqrt(shape[0]) + 1)


@engine
@pytest.mark.parametrize(
    "shape,groups", [((3, 12, 77), 4), ((2, 6, 1), 3), ((1, 5, 33), 5), ((4, 8, 9), 1)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [0, 1, 2])
def test_group_norm_compiled_matches_reference_and_float64(shape, groups, dtype, affine):
    rng = _rng(7)
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    w = rng.standard_normal(c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine == 2 else None
    g = rng.standard_normal(shape).astype(dtype)
    assert NN._when_group(x, w, b, groups, 1e-5)
    got = ENGINE.compiled("group_norm")(x, w, b, groups, 1e-5)
    ref = B.group_norm.reference(x, w, b, groups, 1e-5)
    exact = B.group_norm.reference(_f64(x), _f64(w), _f64(b), groups, 1e-5)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert got[1].shape == (shape[0], groups) and all(a.dtype == x.dtype for a in got + ref)
    _close(got, ref, exact, tol)
    wg = affine > 0
    gb = ENGINE.compiled("group_norm_backward")(g, x, got[1], got[2], w, groups, wg)
    rb = B.group_norm_backward.reference(g, x, got[1], got[2], w, groups, wg)
    eb = B.group_norm_backward.reference(_f64(g), _f64(x), exact[1], exact[2], _f64(w), groups, wg)
    _close(gb, rb, eb, 20 * tol, np.sqrt(shape[0] * shape[2]) + 1)


@engine
def test_rms_and_group_norm_dispatch():
    x = _rng(8).standard_normal((4, 6)).astype(np.float32)
    assert NN._when_rms(x, None, 1e-6) and NN._when_rms(x, np.ones(6, np.float32), 1e-6)
    assert not NN._when_rms(x.astype(np.float16), None, 1e-6)  # half: the reference
    assert not NN._when_rms(x.T, None, 1e-6)  # non-contiguous: the op copies first
    assert not NN._when_rms(x, np.ones(6), 1e-6)  # mixed dtypes
    assert not NN._when_rms(np.ones((3, 0), np.float32), None, 1e-6)
    x3 = x.reshape(2, 4, 3)
    assert NN._when_group(x3, None, None, 2, 1e-5)
    assert not NN._when_group(x3, np.ones(3, np.float32), None, 2, 1e-5)
    assert not NN._when_group(np.ones((0, 4, 3)), None, None, 2, 1e-5)
    assert not NN._when_group(np.ones((2, 4, 0)), None, None, 2, 1e-5)
    # a broadcast upstream gradient (of a sum) is read once by the compiled backward
    y, rstd = B.rms_norm(x, None, 1e-6)
    g = np.broadcast_to(np.ones(1, np.float32), x.shape)
    np.testing.assert_allclose(
        B.rms_norm_backward(g, x, rstd, None, False)[0],
        B.rms_norm_backward.reference(g, x, rstd, None, False)[0],
        rtol=1e-5,
        atol=1e-6,
    )


@engine
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rms_and_group_norm_nan_inf_rows_as_torch(dtype):
    x = _rng(9).standard_normal((6, 4, 5)).astype(dtype)
    x[1, 2, 3] = np.nan
    x[3, 0, 1] = np.inf
    x[4, 1, 1] = -np.inf
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    got = ENGINE.compiled("rms_norm")(x.reshape(24, 5), None, 1e-6)[0]
    want = torch.nn.functional.rms_norm(torch.tensor(x.reshape(24, 5)), (5,), eps=1e-6)
    np.testing.assert_allclose(got, want.numpy(), rtol=rtol, atol=rtol, equal_nan=True)
    got = ENGINE.compiled("group_norm")(x, None, None, 2, 1e-5)[0]
    want = torch.nn.functional.group_norm(torch.tensor(x), 2)
    np.testing.assert_allclose(got, want.numpy(), rtol=rtol, atol=rtol, equal_nan=True)


def test_rms_and_group_norm_reference_half_at_magnitude_300():
    # x^2 ~ 9e4 overflows float16: the statistics must be float32, as PyTorch's
    x = (300 + _rng(10).standard_normal((4, 8, 16)) * 3).astype(np.float16)
    w = _rng(11).standard_normal(16).astype(np.float16)
    y, rstd = B.rms_norm(x.reshape(32, 16), w, 1e-6)
    assert y.dtype == np.float16 and rstd.dtype == np.float32
    want = torch.nn.functional.rms_norm(torch.tensor(x), (16,), torch.tensor(w), 1e-6)
    np.testing.assert_allclose(y.reshape(x.shape).astype(np.float32), want.float(), atol=4e-3)
    y, mean, rstd = B.group_norm(x, None, None, 2, 1e-5)
    assert y.dtype == np.float16 and mean.dtype == rstd.dtype == np.float32
    want = torch.nn.functional.group_norm(torch.tensor(x), 2).float().numpy()
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y.astype(np.float32), want, atol=4e-3)
    g = np.ones_like(x)
    dx = B.group_norm_backward(g, x, mean, rstd, None, 2, False)[0]
    assert dx.dtype == np.float16 and np.isfinite(dx).all()


def _run_both(fn, arrays, grad, requires):
    """``fn(module, *tensors)`` with torch and gpugrad: (grad_fn name, value, grads)."""
    res = []
    for m in (torch, gpugrad):
        ts = [
            None if a is None else m.tensor(a, requires_grad=bool(r))
            for a, r in zip(arrays, requires)
        ]
        y = fn(m, *ts)
        y.backward(m.tensor(grad))
        grads = [
            None if t.grad is None else t.grad.numpy()
            for t in ts
            if t is not None and t.requires_grad
        ]
        res.append((type(y.grad_fn).__name__, y.detach().numpy(), grads))
    return res


def _assert_same(res, tol):
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=tol, atol=tol)
    assert len(res[1][2]) == len(res[0][2])
    for a, e in zip(res[1][2], res[0][2]):
        if e is None:
            assert a is None
            continue
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize(
    "shape,ns", [((4, 7, 33), (33,)), ((3, 5, 6), (5, 6)), ((2, 4096), (4096,)), ((6,), (6,))]
)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rms_norm_op_matches_torch(shape, ns, affine, dtype):
    rng = _rng(12)
    x, w, g = (rng.standard_normal(s).astype(dtype) for s in (shape, ns, shape))

    def fn(m, xt, wt):
        return m.nn.functional.rms_norm(xt, ns, wt)

    res = _run_both(fn, [x, w if affine else None], g, [True, True])
    assert res[1][0] == "FusedRmsNormBackward0"  # torch's CPU rms_norm is a composite
    _assert_same(res, 1e-4 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize(
    "shape,groups", [((4, 6, 5, 3), 3), ((2, 8), 4), ((3, 4, 7), 1), ((2, 6, 2, 2, 2), 6)]
)
@pytest.mark.parametrize("affine", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_group_norm_op_matches_torch(shape, groups, affine, dtype):
    rng = _rng(13)
    c = shape[1]
    x, w, b, g = (rng.standard_normal(s).astype(dtype) for s in (shape, c, c, shape))

    def fn(m, xt, wt, bt):
        return m.nn.functional.group_norm(xt, groups, wt, bt, 1e-5)

    arrays = [x, w if affine else None, b if affine == 2 else None]
    res = _run_both(fn, arrays, g, [True, True, True])
    assert res[0][0] == res[1][0] == "NativeGroupNormBackward0"
    _assert_same(res, 1e-4 if dtype == "float32" else 1e-10)


def test_rms_and_group_norm_only_some_inputs_need_grad():
    rng = _rng(14)
    x, g = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    w, b = rng.standard_normal(4), rng.standard_normal(4)

    def gn(m, xt, wt, bt):
        return m.nn.functional.group_norm(xt, 2, wt, bt)

    _assert_same(_run_both(gn, [x, w, b], g, [False, True, False]), 1e-10)
    _assert_same(_run_both(gn, [x, w, b], g, [True, False, False]), 1e-10)
    w5 = rng.standard_normal(5)

    def rms(m, xt, wt):
        return m.nn.functional.rms_norm(xt, (5,), wt)

    _assert_same(_run_both(rms, [x, w5], g, [False, True]), 1e-10)


def test_rms_and_group_norm_non_contiguous_inputs():
    base = _rng(15).standard_normal((5, 4, 6))
    g = _rng(16).standard_normal((6, 4, 5))

    def rms(m, xt):
        return m.nn.functional.rms_norm(xt.transpose(0, 2), (5,))

    def gn(m, xt):
        return m.nn.functional.group_norm(xt.transpose(0, 2), 2)

    for fn in (rms, gn):
        _assert_same(_run_both(fn, [base], g, [True]), 1e-10)
    # a non-contiguous upstream gradient (a transposed view) too
    for name, fn in (("rms", rms), ("gn", gn)):
        gt = gpugrad.tensor(g.transpose(2, 1, 0).copy()).transpose(0, 2)
        x = gpugrad.tensor(base, requires_grad=True)
        fn(gpugrad, x).backward(gt)
        xt = torch.tensor(base, requires_grad=True)
        fn(torch, xt).backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-10, err_msg=name)


def test_rms_and_group_norm_gradcheck_and_gradgradcheck():
    x = gpugrad.tensor(_rng(17).standard_normal((3, 4, 5)), requires_grad=True)
    w4 = gpugrad.tensor(_rng(18).standard_normal(4), requires_grad=True)
    b4 = gpugrad.tensor(_rng(19).standard_normal(4), requires_grad=True)
    w5 = gpugrad.tensor(_rng(20).standard_normal(5), requires_grad=True)

    def gn(a, c, d):
        return F.group_norm(a, 2, c, d)

    def rms(a, c):
        return F.rms_norm(a, (5,), c)

    def rms2(a):
        return F.rms_norm(a, (4, 5), eps=1e-3)

    for fn, args in ((gn, (x, w4, b4)), (rms, (x, w5)), (rms2, (x,))):
        assert gpugrad.autograd.gradcheck(fn, args)
        assert gpugrad.autograd.gradgradcheck(fn, args)


@pytest.mark.filterwarnings("ignore:Mismatch dtype between input and weight")
def test_rms_norm_default_eps_and_dtypes_as_torch():
    x = np.full((2, 4), 0.01, np.float32)
    for dt in ("float16", "bfloat16", "float32", "float64"):
        want = torch.nn.functional.rms_norm(torch.tensor(x).to(getattr(torch, dt)), (4,))
        got = F.rms_norm(gpugrad.tensor(x).to(getattr(gpugrad, dt)), (4,))
        assert str(got.dtype).split(".")[1] == dt
        np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=1e-3)
    # mixed dtypes: the result in the input's dtype, each gradient in its tensor's dtype
    for xd, wd in (("float32", "float64"), ("float16", "float32"), ("float32", "float16")):
        res = []
        for m in (torch, gpugrad):
            xt = m.tensor(x + 1, dtype=getattr(m, xd), requires_grad=True)
            wt = m.tensor(np.arange(4.0), dtype=getattr(m, wd), requires_grad=True)
            y = m.nn.functional.rms_norm(xt, (4,), wt)
            y.sum().backward()
            res.append([str(t.dtype).split(".")[1] for t in (y, xt.grad, wt.grad)])
            res.append(y.detach().float().numpy())
        assert res[0] == res[2]
        np.testing.assert_allclose(res[1], res[3], rtol=1e-3)


@pytest.mark.filterwarnings("ignore:Mismatch dtype between input and weight")
def test_half_inputs_through_the_ops_as_torch():
    x = (300 + _rng(21).standard_normal((2, 4, 8)) * 3).astype(np.float16)
    for params in ("float16", "float32"):
        w = np.linspace(0.5, 2, 4).astype(params)
        res = []
        for m in (torch, gpugrad):
            xt = m.tensor(x, requires_grad=True)
            wt = m.tensor(w, requires_grad=True)
            y = m.nn.functional.group_norm(xt, 2, wt, wt * 0 + 1)
            y.float().sum().backward()
            res.append((y.dtype, wt.grad.dtype, y.detach().float().numpy()))
        assert str(res[0][0]) == str(res[1][0]).replace("gpugrad", "torch")
        assert str(res[0][1]) == str(res[1][1]).replace("gpugrad", "torch")
        np.testing.assert_allclose(res[1][2], res[0][2], atol=4e-3)
    w8 = np.linspace(0.5, 2, 8).astype(np.float16)
    want = torch.nn.functional.rms_norm(torch.tensor(x), (8,), torch.tensor(w8))
    got = F.rms_norm(gpugrad.tensor(x), (8,), gpugrad.tensor(w8))
    assert np.isfinite(got.float().numpy()).all()
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), atol=4e-3)


@pytest.mark.parametrize(
    "fn,shape,pshape",
    [
        (lambda m, x, w, b: m.nn.functional.rms_norm(x, (0,), w), (2, 0), (0,)),
        (lambda m, x, w, b: m.nn.functional.rms_norm(x, (3,), w), (0, 3), (3,)),
        (lambda m, x, w, b: m.nn.functional.group_norm(x, 2, w, b), (0, 4, 3), (4,)),
        (lambda m, x, w, b: m.nn.functional.group_norm(x, 2, w, b), (2, 4, 0), (4,)),
        (lambda m, x, w, b: m.nn.functional.group_norm(x, 2, w, b), (2, 0, 3), (0,)),
    ],
)
def test_empty_inputs_as_torch(fn, shape, pshape):
    res = _run_both(fn, [np.ones(shape), np.ones(pshape), np.ones(pshape)], np.ones(shape), [1] * 3)
    assert res[1][1].shape == res[0][1].shape
    _assert_same(res, 1e-12)


def test_one_element_and_single_value_groups():
    # one element per row: rms_norm gives sign(x) * |x| / sqrt(x^2 + eps)
    def rms(m, xt):
        return m.nn.functional.rms_norm(xt, (1,))

    x = np.array([[3.0], [-0.5], [0.0]])
    _assert_same(_run_both(rms, [x], np.ones((3, 1)), [True]), 1e-10)

    def gn(m, xt):
        return m.nn.functional.group_norm(xt, 2)

    x = _rng(22).standard_normal((2, 4))  # one value per channel, two per group
    _assert_same(_run_both(gn, [x], _rng(23).standard_normal((2, 4)), [True]), 1e-8)


def _err(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 - comparing what each library raises
        return type(e).__name__, str(e)
    return None


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.nn.functional.rms_norm(m.randn(2, 4, 3), (3,), m.ones(4)),
        lambda m: m.nn.functional.rms_norm(m.randn(2, 4, 3), (4,)),
        lambda m: m.nn.functional.rms_norm(m.randn(2, 4, 3), (5, 4)),
        lambda m: m.nn.functional.rms_norm(m.randn(2, 4, 3), (1, 2, 4, 3)),
        lambda m: m.nn.functional.rms_norm(m.randn(2, 4, 3), ()),
        lambda m: m.nn.functional.rms_norm(m.randn(2, 4, 3), (3,), m.ones(1, 3)),
        lambda m: m.nn.functional.group_norm(m.randn(2, 4, 3), 3),
        lambda m: m.nn.functional.group_norm(m.randn(4), 2),
        lambda m: m.nn.functional.group_norm(m.randn(2, 4, 3), 0),
        lambda m: m.nn.functional.group_norm(m.randn(2, 4, 3), -1),
        lambda m: m.nn.functional.group_norm(m.randn(1, 4), 4),
        lambda m: m.nn.functional.group_norm(m.randn(1, 4, 1), 4),
        lambda m: m.nn.functional.group_norm(m.randn(2, 4, 3), 2, m.ones(3)),
        lambda m: m.nn.functional.group_norm(m.randn(2, 4, 3), 2, m.ones(2, 2)),
        lambda m: m.nn.functional.group_norm(m.randn(2, 4, 3), 2, m.ones(4), m.ones(3)),
        lambda m: m.nn.functional.group_norm(m.randn(2, 4, 3), 2, None, m.ones(3)),
    ],
)
def test_error_texts_as_torch(call):
    want = _err(lambda: call(torch))
    assert want is not None
    assert _err(lambda: call(gpugrad)) == want


_DTYPES = ["float16", "bfloat16", "float32", "float64", None]


@pytest.mark.parametrize("xd", _DTYPES[:4])
def test_group_norm_dtype_rules_as_torch(xd):
    for wd in _DTYPES:
        for bd in _DTYPES:
            outs = []
            for m in (torch, gpugrad):
                x = m.ones(2, 4, 3, dtype=getattr(m, xd))
                w = None if wd is None else m.ones(4, dtype=getattr(m, wd))
                b = None if bd is None else m.ones(4, dtype=getattr(m, bd))
                err = _err(lambda m=m, x=x, w=w, b=b: m.nn.functional.group_norm(x, 2, w, b))
                outs.append(err or str(m.nn.functional.group_norm(x, 2, w, b).dtype)[-7:])
            assert outs[0] == outs[1], (xd, wd, bd)


def test_numpy_path_matches_torch_with_the_engine_off():
    code = (
        "import numpy as np, torch, gpugrad\n"
        "B = gpugrad.device('cpu').backend\n"
        "assert not hasattr(B.rms_norm, 'reference') and not hasattr(B.group_norm, 'reference')\n"
        "x = np.random.default_rng(0).standard_normal((3, 4, 5))\n"
        "out = []\n"
        "for m in (torch, gpugrad):\n"
        "    t = m.tensor(x, requires_grad=True)\n"
        "    w = m.tensor(x[0, 0], requires_grad=True)\n"
        "    y = m.nn.functional.rms_norm(t, (5,), w) + m.nn.functional.group_norm(t, 2)\n"
        "    y.backward(m.tensor(x))\n"
        "    out.append([y.detach().numpy(), t.grad.numpy(), w.grad.numpy()])\n"
        "for a, b in zip(*out):\n"
        "    np.testing.assert_allclose(a, b, atol=1e-10)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "GPUGRAD_NUMBA": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
