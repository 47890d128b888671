"""Test helpers: random inputs, reference comparison, gradient checks with random upstream."""

from __future__ import annotations

import numpy as np

import gpugrad

RNG = np.random.default_rng(1234)


def rnd(*shape, low: float = -2.0, high: float = 2.0, positive: bool = False) -> np.ndarray:
    """Random float64 data away from zero (never zeros)."""
    x = RNG.uniform(low, high, size=shape)
    if positive:
        x = np.abs(x) + 0.5
    else:
        x = np.where(np.abs(x) < 0.1, x + np.sign(x + 1e-12) * 0.2, x)
    return x


def t(arr, device: str = "cpu", requires_grad: bool = False, dtype=gpugrad.float64):
    return gpugrad.tensor(np.asarray(arr), dtype=dtype, device=device, requires_grad=requires_grad)


def host(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, gpugrad.Tensor) else np.asarray(x)


def assert_close(actual, expected, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    np.testing.assert_allclose(host(actual), host(expected), rtol=rtol, atol=atol)


def check_grad(fn, *arrays, device: str = "cpu", atol: float = 1e-5, rtol: float = 1e-3):
    """Forward runs; gradcheck (central differences, random upstream) passes in float64."""
    inputs = [t(a, device, requires_grad=True) for a in arrays]
    assert gpugrad.autograd.gradcheck(fn, inputs, atol=atol, rtol=rtol)
    return inputs
