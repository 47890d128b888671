"""F.interpolate mode='bicubic' (align_corners both ways, A = -0.75, border clamp) and
mode='area' (adaptive average pooling): values and gradients against PyTorch, gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F
from gpugrad.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(shape, dtype="float64", seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return torch.tensor(a, requires_grad=True), gpugrad.tensor(a, requires_grad=True)


def _check(shape, dtype="float64", atol=1e-10, **kw):
    t, g = _pair(shape, dtype)
    to, go = TF.interpolate(t, **kw), F.interpolate(g, **kw)
    assert tuple(go.shape) == tuple(to.shape)
    np.testing.assert_allclose(go.detach().numpy(), to.detach().numpy(), atol=atol, rtol=1e-5)
    w = np.random.default_rng(1).standard_normal(tuple(to.shape)).astype(dtype)
    (to * torch.tensor(w)).sum().backward()
    (go * gpugrad.tensor(w)).sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), atol=atol * 10, rtol=1e-5)
    return g


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(
    "kw",
    [
        {"size": (7, 5)},
        {"size": (2, 3)},
        {"size": (1, 1)},
        {"scale_factor": 2},
        {"scale_factor": (1.7, 0.6)},
        {"size": (4, 9)},
    ],
)
def test_bicubic_vs_torch(align_corners, kw):
    _check((2, 3, 4, 5), mode="bicubic", align_corners=align_corners, **kw)


def test_bicubic_float32_and_one_pixel():
    _check((1, 2, 5, 3), dtype="float32", atol=1e-5, size=(8, 6), mode="bicubic")
    _check((1, 1, 1, 1), size=(3, 2), mode="bicubic", align_corners=False)


def test_bicubic_non_contiguous_and_nan():
    t, g = _pair((2, 3, 6, 4))
    tn, gn = t.detach().transpose(2, 3), g.detach().transpose(2, 3)
    np.testing.assert_allclose(
        F.interpolate(gn, size=(5, 9), mode="bicubic").numpy(),
        TF.interpolate(tn, size=(5, 9), mode="bicubic").numpy(),
        atol=1e-10,
    )
    a = np.ones((1, 1, 4, 4))
    a[0, 0, 1, 1] = np.nan
    np.testing.assert_array_equal(
        np.isnan(F.interpolate(gpugrad.tensor(a), size=(6, 6), mode="bicubic").numpy()),
        np.isnan(TF.interpolate(torch.tensor(a), size=(6, 6), mode="bicubic").numpy()),
    )


def test_bicubic_gradcheck_and_errors():
    _, g = _pair((1, 2, 3, 4))
    assert gradcheck(lambda x: F.interpolate(x, size=(5, 3), mode="bicubic"), (g,))
    assert gradcheck(
        lambda x: F.interpolate(x, scale_factor=1.5, mode="bicubic", align_corners=True), (g,)
    )
    with pytest.raises(NotImplementedError, match="bicubic mode needs 4D input"):
        F.interpolate(gpugrad.ones(1, 1, 4), size=3, mode="bicubic")


@pytest.mark.parametrize(
    "shape,kw",
    [
        ((2, 3, 7), {"size": 3}),
        ((2, 3, 7), {"size": 10}),
        ((2, 3, 7, 5), {"size": (3, 2)}),
        ((2, 3, 7, 5), {"size": (9, 11)}),
        ((2, 3, 8, 6), {"scale_factor": 0.5}),
        ((1, 1, 5, 5), {"size": 1}),
    ],
)
def test_area_vs_torch(shape, kw):
    _check(shape, mode="area", **kw)


def test_area_gradcheck_and_errors():
    _, g = _pair((1, 2, 5, 4))
    assert gradcheck(lambda x: F.interpolate(x, size=(3, 3), mode="area"), (g,))
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(g, size=(3, 3), mode="area", align_corners=True)
