"""pow with a Python-number exponent: the fast paths (multiplications, sqrt, reciprocal)
equal the general power to float rounding, on every dtype, with torch's gradients."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from tests.utils import assert_close, host, rnd

EXPONENTS = [-3, -2, -1, -0.5, 0, 0.5, 1, 2, 3, 4, 5, 7, 16, 3.0, -2.0, 2.5, 17, -0.25]


@pytest.mark.parametrize("e", EXPONENTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_paths_equal_the_general_power(device, e, dtype):
    x = np.abs(rnd(5, 7)) + 0.25
    g = gpugrad.tensor(x, dtype=getattr(gpugrad, dtype), device=device)
    expected = np.power(x, float(e))  # float64 reference
    rtol = 1e-6 * max(1, abs(e)) if dtype == "float32" else 1e-14 * max(1, abs(e))
    for out in (g**e, gpugrad.pow(g, e), g.pow(e)):
        assert out.dtype is g.dtype
        np.testing.assert_allclose(host(out), expected, rtol=rtol)


def test_negative_bases_zero_and_special_values_as_torch(device):
    # sqrt/rsqrt paths differ from the general power at -0.0 and -inf exactly as PyTorch's
    torch = pytest.importorskip("torch")
    x = [-2.0, -0.5, 0.0, -0.0, 1.5, np.inf, -np.inf, np.nan]
    g = gpugrad.tensor(x, dtype=gpugrad.float64, device=device)
    for e in (-3, -2, -1, -0.5, 0, 0.5, 1, 2, 3, 5, 2.5):
        ours, theirs = host(g**e), (torch.tensor(x, dtype=torch.float64) ** e).numpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=str(e))
        signed = ~np.isnan(theirs)
        assert np.array_equal(np.signbit(ours[signed]), np.signbit(theirs[signed])), e


def test_integer_and_bool_inputs(device):
    x = np.array([[-3, 2], [5, 0]])
    g = gpugrad.tensor(x, device=device)
    for e in (0, 1, 2, 3, 5):
        out = g**e
        assert out.dtype is gpugrad.int64
        np.testing.assert_array_equal(host(out), x**e)
    half = g.abs() ** 0.5  # a float exponent: the default float dtype
    assert half.dtype is gpugrad.float32
    np.testing.assert_allclose(host(half), np.sqrt(np.abs(x)), rtol=1e-6)
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        g**-1


@pytest.mark.parametrize("e", [-2, -1, -0.5, 0, 0.5, 1, 2, 3, 4, 2.5])
def test_gradients_match_torch(device, e):
    torch = pytest.importorskip("torch")
    x, up = np.abs(rnd(4, 3)) + 0.25, rnd(4, 3)
    g = gpugrad.tensor(x, device=device, dtype=gpugrad.float64, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    (g**e).backward(gpugrad.tensor(up, device=device))
    (t**e).backward(torch.tensor(up))
    assert_close(g.grad, t.grad.numpy(), rtol=1e-12)
    assert gpugrad.autograd.gradcheck(lambda a: a**e, (g.detach().requires_grad_(),))
    assert gpugrad.autograd.gradgradcheck(lambda a: a**e, (g.detach().requires_grad_(),))


def test_float16_fast_paths(device):
    x = np.abs(rnd(16)) + 0.25
    g = gpugrad.tensor(x, dtype=gpugrad.float16, device=device)
    for e in (-1, -0.5, 0.5, 2, 3):
        out = g**e
        assert out.dtype is gpugrad.float16
        ref = np.power(x.astype(np.float16).astype(np.float64), float(e))
        np.testing.assert_allclose(host(out).astype(np.float64), ref, rtol=3e-3)
