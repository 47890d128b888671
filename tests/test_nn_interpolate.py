"""F.interpolate and nn.Upsample: PyTorch's values (pasted, and live when torch is there),
gradcheck in float64, PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F
from tests.utils import assert_close, check_grad, rnd, t

X = np.arange(6.0).reshape(1, 1, 2, 3) ** 1.5
PASTED = [  # (kwargs, torch 2.13's output on X, flattened)
    (
        dict(size=(3, 4), mode="bilinear"),
        [0.0, 0.625, 1.6856601717798214, 2.8284271247461903, 2.5980762113533156,
         3.7867785792574926, 5.439143814795963, 7.0043835061225685, 5.196152422706632,
         6.948557158514987, 9.192627457812106, 11.180339887498947],
    ),
    (
        dict(size=(3, 4), mode="bilinear", align_corners=True),
        [0.0, 0.6666666666666666, 1.60947570824873, 2.8284271247461903, 2.598076211353316,
         3.8660254037844384, 5.3347945020408565, 7.004383506122569, 5.196152422706632,
         7.065384140902211, 9.060113295832982, 11.180339887498949],
    ),
    (
        dict(scale_factor=1.5, mode="nearest"),
        [0.0, 0.0, 1.0, 2.8284271247461903, 0.0, 0.0, 1.0, 2.8284271247461903,
         5.196152422706632, 5.196152422706632, 8.0, 11.180339887498949],
    ),
]  # fmt: skip


@pytest.mark.parametrize("kw,expected", PASTED)
def test_matches_pytorch_values(kw, expected, device):
    out = F.interpolate(t(X, device), **kw)
    assert_close(out.flatten(), np.array(expected), rtol=1e-12, atol=1e-12)


CASES = [
    ((1, 2, 3, 4), dict(size=(5, 7), mode="nearest")),
    ((1, 2, 3, 4), dict(scale_factor=1.7, mode="nearest", recompute_scale_factor=True)),
    ((2, 1, 3, 4), dict(size=(5, 7), mode="nearest-exact")),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="bilinear")),
    ((1, 2, 3, 4), dict(size=(2, 3), mode="bilinear", align_corners=True)),
    ((1, 2, 3, 4), dict(scale_factor=2, mode="bilinear")),
    ((2, 3, 5), dict(size=9, mode="linear")),
    ((1, 1, 2, 3, 4), dict(size=(3, 5, 2), mode="trilinear")),
]


@pytest.mark.parametrize("shape,kw", CASES)
def test_gradcheck(shape, kw, device):
    check_grad(lambda x: F.interpolate(x, **kw), rnd(*shape), device=device)


@pytest.mark.parametrize("shape,kw", CASES)
def test_matches_torch(shape, kw):
    torch = pytest.importorskip("torch")
    a = rnd(*shape)
    ours = F.interpolate(t(a), **kw)
    theirs = torch.nn.functional.interpolate(torch.tensor(a), **kw)
    assert_close(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_upsample_module(device):
    up = gpugrad.nn.Upsample(scale_factor=2, mode="nearest")
    assert repr(up) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert up(t(X, device)).shape == (1, 1, 4, 6)
    up2 = gpugrad.nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True)
    assert repr(up2) == "Upsample(size=(3, 4), mode='bilinear')"
    assert_close(up2(t(X, device)).flatten(), np.array(PASTED[1][1]), rtol=1e-12, atol=1e-12)


def test_errors(device):
    x = t(X, device)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(x, mode="bilinear")
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(x, size=4, scale_factor=2.0)
    with pytest.raises(ValueError, match="align_corners option can only be set with"):
        F.interpolate(x, size=(4, 5), align_corners=True)
    with pytest.raises(NotImplementedError, match="Got 3D input, but bilinear mode needs 4D"):
        F.interpolate(t(rnd(1, 1, 3), device), size=4, mode="bilinear")
