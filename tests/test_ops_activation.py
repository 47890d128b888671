"""Activations: softplus's gradient at exactly 0 (the reason it is a primitive)."""

from __future__ import annotations

import gpugrad
from tests.utils import assert_close, check_grad, rnd


def test_softplus_gradient_at_zero(device):
    z = gpugrad.zeros(1, device=device, dtype=gpugrad.float64, requires_grad=True)
    gpugrad.softplus(z).sum().backward()
    assert_close(z.grad, [0.5])
    check_grad(lambda x: gpugrad.softplus(x, beta=2.0, threshold=1.5), rnd(7), device=device)
