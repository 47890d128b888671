"""RNNBase.flatten_parameters(): a no-op, as PyTorch's off cuDNN; the module is unchanged and
still computes what torch's does after the call."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn as nn
from tests.utils import host


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_flatten_parameters_is_a_no_op(device, cls):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, cls)(3, 4, num_layers=2, bidirectional=True).to(device)
    theirs = getattr(torch.nn, cls)(3, 4, num_layers=2, bidirectional=True)
    with torch.no_grad():
        for (n, p), (tn, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert n == tn
            tp.copy_(torch.tensor(host(p)))
    before = {n: host(p).copy() for n, p in ours.named_parameters()}
    params = list(ours.parameters())
    assert ours.flatten_parameters() is None
    theirs.flatten_parameters()
    assert all(a is b for a, b in zip(params, ours.parameters()))
    for n, p in ours.named_parameters():
        np.testing.assert_array_equal(host(p), before[n])
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    out = ours(gpugrad.tensor(x, device=device))[0]
    ref = theirs(torch.tensor(x))[0]
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
