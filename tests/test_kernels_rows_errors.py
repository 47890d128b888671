"""PyTorch's errors and edge results in softmax, cross_entropy, binary_cross_entropy,
layer_norm and batch_norm (issue #16): type and text, or values, as torch 2.13's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gpugrad


def _raised(mod, fn):
    with pytest.raises(Exception) as info:
        fn(mod)
    return type(info.value).__name__, str(info.value)


CASES = {
    "ce_weight_len": lambda m: m.nn.functional.cross_entropy(
        m.randn(4, 3), m.tensor([0, 1, 2, 0]), weight=m.ones(5)
    ),
    "ce_weight_len_1d": lambda m: m.nn.functional.cross_entropy(
        m.randn(3), m.tensor(1), weight=m.ones(5)
    ),
    "ce_weight_len_smooth": lambda m: m.nn.functional.cross_entropy(
        m.randn(4, 3), m.tensor([0, 1, 2, 0]), weight=m.ones(5), label_smoothing=0.1
    ),
    "ce_weight_len_prob": lambda m: m.nn.functional.cross_entropy(
        m.randn(4, 3), m.rand(4, 3), weight=m.ones(5)
    ),
    "ce_weight_len_3d": lambda m: m.nn.functional.cross_entropy(
        m.randn(4, 3, 2), m.zeros((4, 2), dtype=m.long), weight=m.ones(5)
    ),
    "nll_weight_len": lambda m: m.nn.functional.nll_loss(
        m.randn(4, 3), m.tensor([0, 1, 2, 0]), weight=m.ones(5)
    ),
    "ce_int_logits": lambda m: m.nn.functional.cross_entropy(m.tensor([[1, 2, 3]]), m.tensor([0])),
    "ce_int_logits_3d": lambda m: m.nn.functional.cross_entropy(
        m.ones((2, 3, 4), dtype=m.long), m.zeros((2, 4), dtype=m.long)
    ),
    "softmax_int_last": lambda m: m.softmax(m.tensor([[1, 2]]), 1),
    "softmax_int_first": lambda m: m.softmax(m.tensor([[1, 2]]), 0),
    "log_softmax_bool": lambda m: m.log_softmax(m.tensor([[True, False]]), 1),
    "bce_nan": lambda m: m.nn.functional.binary_cross_entropy(
        m.tensor([float("nan"), 0.5]), m.tensor([1.0, 0.0])
    ),
    "bce_above_one": lambda m: m.nn.functional.binary_cross_entropy(
        m.tensor([2.0, 0.5]), m.tensor([1.0, 0.0])
    ),
    "batchnorm1d_features": lambda m: m.nn.BatchNorm1d(4)(m.randn(2, 3)),
    "batch_norm_var_len": lambda m: m.nn.functional.batch_norm(
        m.randn(2, 3), m.zeros(3), m.ones(4), training=True
    ),
    "batch_norm_weight_len": lambda m: m.nn.functional.batch_norm(
        m.randn(2, 3), None, None, weight=m.ones(4), training=True
    ),
    "batch_norm_bias_len_eval": lambda m: m.nn.functional.batch_norm(
        m.randn(2, 3), m.zeros(3), m.ones(3), bias=m.ones(4)
    ),
    "batch_norm_eval_undefined_first": lambda m: m.nn.functional.batch_norm(
        m.randn(2, 3), None, None, weight=m.ones(4)
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_as_torch(case):
    assert _raised(gpugrad, CASES[case]) == _raised(torch, CASES[case])


def _half_rows():
    rng = np.random.default_rng(0)
    return (300 + rng.standard_normal((6, 64)) * 3).astype(np.float16)


def test_layer_norm_half_magnitude_300_as_torch():
    x = _half_rows()
    w = (1 + np.random.default_rng(1).standard_normal(64) * 0.1).astype(np.float16)
    got = gpugrad.nn.functional.layer_norm(
        gpugrad.tensor(x), (64,), gpugrad.tensor(w), gpugrad.tensor(w)
    )
    want = torch.nn.functional.layer_norm(torch.tensor(x), (64,), torch.tensor(w), torch.tensor(w))
    assert got.dtype == gpugrad.float16
    # float32 statistics: within one float16 rounding of torch's
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=2e-3, atol=2e-3)


def test_batch_norm_half_magnitude_300_float32_statistics():
    x = _half_rows().T.copy()  # (64, 6): 64 values per channel
    got = gpugrad.nn.functional.batch_norm(gpugrad.tensor(x), None, None, training=True)
    x64 = x.astype(np.float64)
    exact = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-5)
    want = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    assert got.dtype == gpugrad.float16 and np.isfinite(got.float().numpy()).all()
    # within float16 rounding of the exact result (torch's CPU half kernel is within 0.07)
    np.testing.assert_allclose(got.float().numpy(), exact, atol=4e-3)
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), atol=0.1)
