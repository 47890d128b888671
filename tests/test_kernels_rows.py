"""The row kernels: softmax / log_softmax and their backwards, the compiled (Numba) kernels
against their NumPy references and a float64 reference, the ops against torch (values,
gradients, grad_fn names, NaN/-inf rows, empty dims) and gradcheck through the nodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gpugrad
import gpugrad.nn.functional as F
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import rows as NR

B = gpugrad.device("cpu").backend
FORWARD = ("softmax", "log_softmax")
SHAPES = [(37, 1001), (NR.MIN_SIZE + 3,), (1, NR.MIN_SIZE), (NR.MIN_SIZE, 1), (3, 5, 1111)]

engine = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")


def _data(shape, dtype, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 5).astype(dtype)


@engine
@pytest.mark.parametrize("name", FORWARD)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_matches_reference_and_float64(name, shape, dtype):
    x = _data(shape, dtype)
    ax = x.ndim - 1
    got = ENGINE.compiled(name)(x, ax)
    ref = getattr(B, name).reference(x, ax)
    exact = getattr(B, name).reference(x.astype(np.float64), ax)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    scale = np.abs(exact) + 1
    assert got.dtype == x.dtype and got.shape == x.shape
    assert np.all(np.abs(got - exact) <= tol * scale)
    assert np.all(np.abs(ref - exact) <= 10 * tol * scale)

    g = _data(shape, dtype, seed=1)
    bname = name + "_backward"
    gb = ENGINE.compiled(bname)(g, got, ax)
    rb = getattr(B, bname).reference(g, got, ax)
    eb = getattr(B, bname).reference(g.astype(np.float64), exact, ax)
    bscale = np.abs(eb) + np.abs(g).max() * (shape[-1] if name == "log_softmax" else 1)
    assert gb.dtype == x.dtype and gb.shape == x.shape
    assert np.all(np.abs(gb - eb) <= 10 * tol * bscale)
    assert np.all(np.abs(rb - eb) <= 10 * tol * bscale)


@engine
@pytest.mark.parametrize("name", FORWARD)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_nan_and_inf_rows_as_reference_and_torch(name, dtype):
    x = _data((8, NR.MIN_SIZE // 4), dtype)
    x[1, 5] = np.nan
    x[2, :] = -np.inf  # all -inf: NaN, as torch
    x[3, 7] = np.inf
    x[4, 3] = -np.inf  # one -inf: a zero (softmax) / -inf (log_softmax) there
    got = ENGINE.compiled(name)(x, 1)
    want = getattr(torch, name)(torch.from_numpy(x), 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(
        getattr(B, name).reference(x, 1), want, rtol=1e-5, atol=1e-6, equal_nan=True
    )


@pytest.mark.parametrize("name", FORWARD)
def test_dispatch_paths(name):
    big = _data((4, NR.MIN_SIZE // 2), np.float32)
    for x, ax in [(big, 1), (big, 0), (big[:, ::2], 1), (big.T, 1), (big.astype(np.float16), 1)]:
        got = getattr(B, name)(x, ax)
        want = getattr(torch, name)(torch.from_numpy(np.ascontiguousarray(x)), ax).numpy()
        assert got.dtype == x.dtype
        tol = 2e-3 if x.dtype == np.float16 else 1e-5
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", FORWARD)
@pytest.mark.parametrize("shape", [(3, 1111), (2, 3, 4), (5,), (1, 1)])
@pytest.mark.parametrize("dim", [-1, 0])
def test_op_matches_torch_with_gradient(name, shape, dim):
    xn = _data(shape, np.float32)
    gn = _data(shape, np.float32, seed=2)
    x = gpugrad.tensor(xn, requires_grad=True)
    t = torch.tensor(xn, requires_grad=True)
    y = getattr(F, name)(x, dim)
    ty = getattr(torch.nn.functional, name)(t, dim)
    assert type(y.grad_fn).__name__ == type(ty.grad_fn).__name__
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    y.backward(gpugrad.tensor(gn))
    ty.backward(torch.tensor(gn))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", FORWARD)
def test_op_zero_size_dim_is_empty_as_torch(name):
    for shape, dim in [((3, 0), 1), ((0, 4), 1), ((0,), 0)]:
        got = getattr(F, name)(gpugrad.zeros(shape), dim)
        want = getattr(torch.nn.functional, name)(torch.zeros(shape), dim)
        assert tuple(got.shape) == tuple(want.shape)


@pytest.mark.parametrize("name", FORWARD)
def test_op_all_neg_inf_row_is_nan_as_torch(name):
    x = np.array([[-np.inf] * 3, [0.0, 1.0, -np.inf]], np.float32)
    got = getattr(F, name)(gpugrad.tensor(x), 1).numpy()
    want = getattr(torch.nn.functional, name)(torch.tensor(x), 1).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", FORWARD)
def test_gradcheck_and_double_backward(name):
    fn = getattr(F, name)
    # large enough for the compiled kernels on the array path
    big = gpugrad.tensor(_data((2, NR.MIN_SIZE // 2), np.float64), requires_grad=True)
    w = gpugrad.tensor(_data((2, NR.MIN_SIZE // 2), np.float64, seed=3))
    (g,) = gpugrad.autograd.grad((fn(big, 1) * w).sum(), big)
    tb = torch.tensor(big.detach().numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad((getattr(torch, name)(tb, 1) * torch.tensor(w.numpy())).sum(), tb)
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-9, atol=1e-12)

    x = gpugrad.tensor(_data((3, 5), np.float64), requires_grad=True)
    assert gpugrad.autograd.gradcheck(lambda a: fn(a, 1), (x,))
    assert gpugrad.autograd.gradgradcheck(lambda a: fn(a, 1), (x,))
