"""any/all, tril/triu, cumsum, repeat_interleave, einsum, addmm, softplus at zero."""

from __future__ import annotations

import numpy as np

import gpugrad
from tests.utils import assert_close, check_grad, rnd, t


def test_any_all(device):
    a = rnd(3, 4)
    x = t(a, device)
    assert (x > 0).any().item() == bool((a > 0).any())
    assert_close((x > 0).all(1), (a > 0).all(1))
    assert gpugrad.any(x > 0, dim=0, keepdim=True).shape == (1, 4)


def test_tril_triu_cumsum(device):
    a = rnd(4, 5)
    assert_close(t(a, device).tril(-1), np.tril(a, -1))
    assert_close(t(a, device).triu(1), np.triu(a, 1))
    assert_close(t(a, device).cumsum(1), np.cumsum(a, 1))
    check_grad(lambda x: x.tril(), a, device=device)
    check_grad(lambda x: x.triu(2), a, device=device)
    for dim in (0, 1, -1):
        check_grad(lambda x, d=dim: x.cumsum(d), a, device=device)


def test_repeat_interleave(device):
    a = rnd(3, 2)
    assert_close(t(a, device).repeat_interleave(2, dim=0), np.repeat(a, 2, axis=0))
    assert_close(t(a, device).repeat_interleave(3), np.repeat(a, 3))
    check_grad(lambda x: x.repeat_interleave(2, dim=1), a, device=device)


def test_einsum(device):
    a, b = rnd(3, 4), rnd(4, 5)
    assert_close(gpugrad.einsum("ij,jk->ik", t(a, device), t(b, device)), a @ b)
    assert_close(gpugrad.einsum("ij->j", t(a, device)), a.sum(0))
    check_grad(lambda x, y: gpugrad.einsum("ij,jk->ik", x, y), a, b, device=device)
    c = rnd(2, 3, 4)
    check_grad(lambda x, y: gpugrad.einsum("bij,jk->bik", x, y), c, b, device=device)


def test_addmm_baddbmm(device):
    a, m1, m2 = rnd(3, 5), rnd(3, 4), rnd(4, 5)
    assert_close(
        gpugrad.addmm(t(a, device), t(m1, device), t(m2, device), beta=0.5, alpha=2),
        0.5 * a + 2 * (m1 @ m2),
    )
    check_grad(lambda x, y, z: gpugrad.addmm(x, y, z), a, m1, m2, device=device)
    b1, b2, inp = rnd(2, 3, 4), rnd(2, 4, 5), rnd(2, 3, 5)
    assert_close(gpugrad.baddbmm(t(inp, device), t(b1, device), t(b2, device)), inp + b1 @ b2)


def test_softplus_gradient_at_zero(device):
    z = gpugrad.zeros(1, device=device, dtype=gpugrad.float64, requires_grad=True)
    gpugrad.softplus(z).sum().backward()
    assert_close(z.grad, [0.5])
    check_grad(lambda x: gpugrad.softplus(x, beta=2.0, threshold=1.5), rnd(7), device=device)


def test_generator_streams_are_reproducible_and_independent(device):
    g1 = gpugrad.Generator(device).manual_seed(7)
    g2 = gpugrad.Generator(device).manual_seed(7)
    a = gpugrad.randn(5, device=device, generator=g1)
    gpugrad.randn(5, device=device)  # the global stream does not disturb g2
    b = gpugrad.randn(5, device=device, generator=g2)
    assert_close(a, b)
    assert g1.initial_seed() == 7
    p = gpugrad.randperm(6, device=device, generator=gpugrad.Generator(device).manual_seed(3))
    assert sorted(p.tolist()) == list(range(6))


def test_view_of_non_contiguous_tensor_when_strides_allow(device):
    x = gpugrad.zeros(2, 3, 12, device=device)
    v = x.split(4, dim=2)[1].view(2, 3, 2, 2)  # the usual q/k/v head split
    v[0, 0, 0, 0] = 5.0
    assert x[0, 0, 4].item() == 5.0
    import pytest

    with pytest.raises(RuntimeError, match="view size is not compatible"):
        gpugrad.zeros(3, 4, device=device).t().view(12)


def test_contiguous_after_transpose_is_row_major(device):
    x = gpugrad.arange(6, device=device).reshape(2, 3)
    y = x.T.contiguous()
    assert y.is_contiguous()
    assert y.view(-1).tolist() == [0, 3, 1, 4, 2, 5]
    check_grad(lambda a: a.T.contiguous().view(-1), rnd(2, 3), device=device)
