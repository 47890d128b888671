"""Dropout family against PyTorch's semantics: mask shapes per rank (dropout2d on 2-D/3-D
input with torch's warnings), mask statistics, scaling, alpha dropout's moments, eval-mode
identity, p validation, in-place, gradients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from tests.utils import host

torch = pytest.importorskip("torch")


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [str(x.message) for x in w]


@pytest.mark.parametrize(
    "name, shape",
    [
        ("dropout2d", (6, 40)),  # (N, C): element-wise, with a warning
        ("dropout2d", (6, 40, 5)),  # (N, C, L): per (N, C), with a warning
        ("dropout2d", (4, 8, 3, 3)),
        ("dropout2d", (8, 3, 3)),
        ("dropout2d", (2, 3, 4, 2, 2)),  # 5-D: warns, per (N, C)
        ("dropout3d", (2, 8, 2, 3, 3)),
        ("dropout3d", (8, 2, 3, 3)),  # unbatched: per channel
        ("dropout3d", (8, 3, 3)),  # 3-D: warns, taken as unbatched
        ("dropout1d", (4, 8, 5)),
        ("dropout1d", (8, 5)),
    ],
)
def test_channel_masks_and_warnings_match_torch(device, name, shape):
    x = gpugrad.ones(*shape, device=device)
    tx = torch.ones(*shape)
    ours = _warnings_of(lambda: getattr(F, name)(x, 0.5))
    theirs = _warnings_of(lambda: getattr(torch.nn.functional, name)(tx, 0.5))
    assert ours == theirs
    out = host(getattr(F, name)(x, 0.5))
    ref = getattr(torch.nn.functional, name)(tx, 0.5).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    # which dims a mask entry spans: where torch's output is constant, ours must be too
    for axis in range(len(shape)):
        ref_const = bool(np.all(ref == ref.take([0], axis=axis)))
        ours_const = bool(np.all(out == out.take([0], axis=axis)))
        if shape[axis] > 1 and ref.size > 100:
            assert ours_const == ref_const, (axis, shape)


def test_feature_dropout_needs_two_dims():
    with pytest.raises(RuntimeError) as eg:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.dropout2d(gpugrad.ones(5), 0.5)
    with pytest.raises(RuntimeError) as et:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.nn.functional.dropout2d(torch.ones(5), 0.5)
    assert str(eg.value) == str(et.value)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_mask_statistics(device, p):
    n = 200_000
    out = host(F.dropout(gpugrad.ones(n, device=device), p))
    kept = out != 0
    # the kept fraction is within 5 standard deviations of 1 - p
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    ch = host(F.dropout2d(gpugrad.ones(500, 400, 2, 2, device=device), p))
    per_channel = ch.reshape(500, 400, 4)
    assert np.all(per_channel == per_channel[..., :1])
    frac = (per_channel[..., 0] != 0).mean()
    assert abs(frac - (1 - p)) < 5 * np.sqrt(p * (1 - p) / (500 * 400))


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_keeps_mean_and_variance(device, p):
    x = gpugrad.randn(400_000, device=device, dtype=gpugrad.float64)
    out = host(F.alpha_dropout(x, p, training=True))
    assert abs(out.mean()) < 0.01 and abs(out.var() - 1) < 0.02
    # a dropped unit lands on SELU's saturation, scaled and shifted as in torch
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    dropped = -alpha * a + alpha * a * p
    xs = host(x)
    is_dropped = np.isclose(out, dropped) & ~np.isclose(a * xs + alpha * a * p, dropped)
    assert abs(is_dropped.mean() - p) < 0.01
    np.testing.assert_allclose(out[~is_dropped], a * xs[~is_dropped] + alpha * a * p)
    fo = host(F.feature_alpha_dropout(gpugrad.zeros(300, 200, 3, device=device), p, True))
    assert np.all(fo == fo[..., :1])
    assert abs(np.isclose(fo[..., 0], dropped).mean() - p) < 0.02


def test_defaults_eval_mode_and_validation(device):
    x = gpugrad.randn(4, 3, 2, 2, device=device)
    assert F.alpha_dropout(x) is x and F.feature_alpha_dropout(x) is x  # training=False
    for cls in (
        nn.Dropout,
        nn.Dropout1d,
        nn.Dropout2d,
        nn.Dropout3d,
        nn.AlphaDropout,
        nn.FeatureAlphaDropout,
    ):
        m = cls(0.3).eval()
        y = x if cls is not nn.Dropout1d else x[:, :, :, 0]
        np.testing.assert_array_equal(host(m(y)), host(y))  # (unbatched: a view, as torch)
        assert repr(m) == repr(getattr(torch.nn, cls.__name__)(0.3))
        with pytest.raises(ValueError) as eg:
            cls(1.5)
        with pytest.raises(ValueError) as et:
            getattr(torch.nn, cls.__name__)(1.5)
        assert str(eg.value) == str(et.value)
    for fn in ("dropout", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"):
        with pytest.raises(ValueError) as eg:
            getattr(F, fn)(x, -0.1)
        with pytest.raises(ValueError) as et:
            getattr(torch.nn.functional, fn)(torch.ones(4, 3, 2, 2), -0.1)
        assert str(eg.value) == str(et.value)
    assert np.all(host(F.alpha_dropout(x, 1.0, True)) == 0)
    assert np.all(host(F.dropout3d(x, 1.0)) == 0)


@pytest.mark.parametrize(
    "fn, shape",
    [
        (F.dropout, (6, 5, 4)),
        (F.dropout2d, (6, 5, 4, 4)),
        (F.dropout3d, (6, 5, 4, 4, 2)),
        (F.dropout1d, (6, 5, 4)),
        (F.alpha_dropout, (6, 5, 4)),
        (F.feature_alpha_dropout, (6, 5, 4, 4)),
    ],
)
def test_inplace_and_gradients(device, fn, shape):
    x = gpugrad.randn(*shape, device=device, dtype=gpugrad.float64, requires_grad=True)
    gpugrad.manual_seed(3)
    y = fn(x, 0.4, True)
    up = gpugrad.randn(*shape, device=device, dtype=gpugrad.float64)
    (gx,) = gpugrad.autograd.grad(y, x, up)
    # y = scale * x + shift, and the gradient is the scale (the mask, scaled)
    gpugrad.manual_seed(3)
    shift = host(fn(gpugrad.zeros_like(x), 0.4, True))
    np.testing.assert_allclose(host(y), host(gx) / host(up) * host(x) + shift, atol=1e-12)
    if fn in (F.dropout, F.dropout2d, F.dropout3d, F.dropout1d):
        assert set(np.round(np.unique(host(gx) / host(up)), 9)) <= {0.0, round(1 / 0.6, 9)}
    gpugrad.manual_seed(3)
    z = x.detach().clone()
    assert fn(z, 0.4, True, inplace=True) is z
    np.testing.assert_allclose(host(z), host(y))
    assert gpugrad.autograd.gradcheck(
        lambda a: (gpugrad.manual_seed(5), fn(a, 0.4, True))[1], (x[:2].detach().requires_grad_(),)
    )


def test_inplace_unbatched_channel_dropout(device):
    z = gpugrad.ones(8, 2, 3, 3, device=device)
    assert F.dropout3d(z, 0.5, True, inplace=True) is z
    assert set(np.unique(host(z))) <= {0.0, 2.0}
