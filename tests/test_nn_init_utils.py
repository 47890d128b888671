"""nn.init statistics and nn.utils (gradient clipping, parameter/vector conversion)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from utils import assert_close, host, rnd, t

import gpugrad as torch
import gpugrad.nn as nn
from gpugrad.nn import init


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")


def test_uniform_normal_constant(device):
    w = torch.empty(200, 100, device=device)
    init.uniform_(w, -2, 3)
    a = host(w)
    assert a.min() >= -2 and a.max() < 3 and abs(a.mean() - 0.5) < 0.05
    init.normal_(w, 1.0, 2.0)
    a = host(w)
    assert abs(a.mean() - 1) < 0.05 and abs(a.std() - 2) < 0.05
    init.constant_(w, 0.3)
    assert np.allclose(host(w), 0.3)
    init.zeros_(w)
    assert not host(w).any()
    init.ones_(w)
    assert host(w).all()
    e = torch.empty(3, 4, device=device)
    assert np.array_equal(host(init.eye_(e)), np.eye(3, 4))


def test_fan_based_inits(device):
    w = torch.empty(300, 200, device=device)
    init.xavier_uniform_(w)
    bound = math.sqrt(6 / 500)
    assert np.abs(host(w)).max() <= bound and np.abs(host(w)).max() > 0.95 * bound
    init.xavier_normal_(w, gain=2.0)
    assert abs(host(w).std() - 2 * math.sqrt(2 / 500)) < 0.005
    init.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / 200)
    assert np.abs(host(w)).max() <= bound and np.abs(host(w)).max() > 0.95 * bound
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(host(w).std() - math.sqrt(2 / 300)) < 0.003
    conv = torch.empty(16, 8, 3, 3, device=device)
    assert init._calculate_fan_in_and_fan_out(conv) == (72, 144)
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
        init.xavier_uniform_(torch.empty(3, device=device))
    with pytest.raises(ValueError, match="Mode fan_inn not supported"):
        init.kaiming_uniform_(w, mode="fan_inn")


def test_trunc_normal_and_orthogonal(device):
    w = torch.empty(100, 100, device=device)
    init.trunc_normal_(w, std=1.0, a=-1.0, b=1.5)
    a = host(w)
    assert a.min() >= -1.0 and a.max() <= 1.5 and a.std() > 0.4
    q = torch.empty(6, 4, dtype=torch.float64, device=device)
    init.orthogonal_(q)
    assert_close(host(q).T @ host(q), np.eye(4), atol=1e-10)


def test_init_is_in_place_and_not_recorded(device):
    p = nn.Parameter(torch.empty(4, 4, device=device))
    version = p._version
    out = init.normal_(p)
    assert out is p and p.grad_fn is None and p.requires_grad and p._version > version


def test_init_reproducible(device):
    torch.manual_seed(11)
    a = host(init.kaiming_uniform_(torch.empty(5, 5, device=device), a=math.sqrt(5))).copy()
    torch.manual_seed(11)
    b = host(init.kaiming_uniform_(torch.empty(5, 5, device=device), a=math.sqrt(5)))
    assert np.array_equal(a, b)


def _params_with_grads(device, grads):
    ps = []
    for g in grads:
        p = nn.Parameter(t(np.zeros_like(g), device))
        p.grad = t(g, device)
        ps.append(p)
    return ps


def test_clip_grad_norm(device):
    g1, g2 = rnd(3, 4), rnd(5)
    total = math.sqrt((g1**2).sum() + (g2**2).sum())
    ps = _params_with_grads(device, [g1, g2])
    norm = nn.utils.clip_grad_norm_(ps, 1.0)
    assert_close(norm, total)
    scale = 1.0 / (total + 1e-6)
    assert_close(ps[0].grad, g1 * scale)
    assert_close(ps[1].grad, g2 * scale)
    ps = _params_with_grads(device, [g1])
    nn.utils.clip_grad_norm_(ps[0], 100.0)  # below the limit: unchanged
    assert_close(ps[0].grad, g1)
    inf = nn.utils.clip_grad_norm_(_params_with_grads(device, [g1, g2]), 1.0, norm_type="inf")
    assert_close(inf, max(np.abs(g1).max(), np.abs(g2).max()))
    one = nn.utils.clip_grad_norm_(_params_with_grads(device, [g1, g2]), 1.0, norm_type=1)
    assert_close(one, np.abs(g1).sum() + np.abs(g2).sum())
    assert nn.utils.clip_grad_norm_([nn.Parameter(torch.ones(2))], 1.0).item() == 0.0
    bad = _params_with_grads(device, [np.array([np.inf, 1.0])])
    with pytest.raises(
        RuntimeError,
        match="The total norm of order 2.0 for gradients from `parameters` is non-finite",
    ):
        nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_of_float16_grads_accumulates_in_float32(device):
    # sum of squares of 1000 x 300 overflows float16 (max 65504): PyTorch's norm is finite
    p = nn.Parameter(torch.zeros(1000, dtype=torch.float16, device=device))
    p.grad = torch.full((1000,), 300.0, dtype=torch.float16, device=device)
    norm = nn.utils.clip_grad_norm_([p], 1.0)
    assert norm.dtype == torch.float16 and abs(norm.item() - 300 * math.sqrt(1000)) < 8
    assert abs(float(host(p.grad)[0]) - 300 / 9486.8) < 1e-4  # scaled, not zeroed by inf
    empty = nn.Parameter(torch.zeros(0, device=device))
    empty.grad = torch.zeros(0, device=device)
    assert nn.utils.clip_grad_norm_([empty], 1.0).item() == 0.0
    for norm_type in (float("-inf"), float("inf"), -1.0):  # no identity: PyTorch raises
        with pytest.raises(RuntimeError, match="norm on an empty tensor"):
            nn.utils.clip_grad_norm_([empty], 1.0, norm_type=norm_type)


def test_clip_grad_value(device):
    g = rnd(4, 3)
    ps = _params_with_grads(device, [g])
    nn.utils.clip_grad_value_(ps, 0.5)
    assert_close(ps[0].grad, np.clip(g, -0.5, 0.5))


def test_parameters_vector_round_trip(device):
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)).to(device).double()
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert vec.shape == (3 * 2 + 2 + 2 + 1,)
    assert_close(vec[:6], host(m[0].weight).reshape(-1))
    new = t(np.arange(11.0), device)
    nn.utils.vector_to_parameters(new, m.parameters())
    assert_close(m[0].weight, np.arange(6.0).reshape(2, 3))
    assert_close(m[1].bias, [10.0])
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0], m.parameters())
