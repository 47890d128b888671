"""layer_norm / layer_norm_backward: the compiled (Numba) kernels against their NumPy
references and a float64 reference, the fused op against torch (values, gradients,
grad_fn name, half inputs, NaN rows, empty) and gradcheck / gradgradcheck through it."""

from __future__ import annotations

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
        (NN, ("layer_norm", "layer_norm_backward")),
        (NR, ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward")),
    ):
        for name in names:
            impl = ENGINE._impls[name]
            assert impl.build.__module__ == mod.__name__
            fn = ENGINE.compiled(name)
            for args in impl.examples():
                assert mod._when(*args) if "backward" not in name else mod._when_backward(*args)
                fn(*args)
            assert name not in ENGINE.failed
