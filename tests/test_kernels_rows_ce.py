"""cross_entropy_backward: the NumPy reference against torch's autograd gradient (weights,
ignore_index, label smoothing, every reduction, the all-ignored mean), and the compiled
(Numba) kernel against the reference in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gpugrad
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import rows as NR

B = gpugrad.device("cpu").backend
engine = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")


def _case(n, c, reduction, smoothing, weighted, dtype, seed=0, ignore_all=False):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    t = rng.integers(0, c, n)
    t[:: max(n // 3, 2)] = -100 if n > 1 else t[0]
    if ignore_all:
        t[:] = -100
    w = rng.random(c).astype(dtype) + 0.1 if weighted else None
    g = (rng.standard_normal(n) if reduction == "none" else np.array(1.3)).astype(dtype)
    lse = np.log(np.exp(x.astype(np.float64)).sum(1)).astype(dtype)
    return g, x, t, lse, w


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(7, 5), (1, 3), (13, 1)])
def test_reference_matches_torch(reduction, smoothing, weighted, shape):
    g, x, t, lse, w = _case(*shape, reduction, smoothing, weighted, np.float64)
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(
        xt,
        torch.tensor(t),
        weight=None if w is None else torch.tensor(w),
        label_smoothing=smoothing,
        reduction=reduction,
    )
    loss.backward(torch.tensor(g))
    got = B.cross_entropy_backward.reference(g, x, t, lse, w, -100, smoothing, reduction)
    np.testing.assert_allclose(got, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_reference_all_ignored_mean_gives_zero_gradients_as_torch():
    g, x, t, lse, w = _case(4, 3, "mean", 0.0, False, np.float64, ignore_all=True)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.tensor(t)).backward()
    got = B.cross_entropy_backward.reference(g, x, t, lse, None, -100, 0.0, "mean")
    np.testing.assert_array_equal(got, xt.grad.numpy())  # zeros (the loss itself is NaN)


@engine
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_matches_reference(reduction, smoothing, weighted, dtype):
    g, x, t, lse, w = _case(301, 101, reduction, smoothing, weighted, dtype)
    assert x.size >= NR.MIN_SIZE
    got = ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, w, -100, smoothing, reduction)

    def f64(a):
        return None if a is None else a.astype(np.float64)

    want = B.cross_entropy_backward.reference(
        f64(g), f64(x), t, f64(lse), f64(w), -100, smoothing, reduction
    )
    assert got.dtype == x.dtype
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol)


@engine
def test_compiled_nan_logits_and_all_ignored():
    g, x, t, lse, _ = _case(64, 80, "mean", 0.0, False, np.float64, ignore_all=True)
    got = ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, None, -100, 0.0, "mean")
    np.testing.assert_array_equal(got, 0)
    g, x, t, lse, _ = _case(64, 80, "sum", 0.0, False, np.float64)
    x[3, 4] = np.nan
    lse[3] = np.nan
    got = ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, None, -100, 0.0, "sum")
    want = B.cross_entropy_backward.reference(g, x, t, lse, None, -100, 0.0, "sum")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
