"""InstanceNorm1d/2d/3d and pixel_shuffle/unshuffle: NumPy references, gradcheck, running
statistics, PyTorch's reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F
from gpugrad import nn
from tests.utils import assert_close, check_grad, rnd, t


def _np_shuffle(x, r):
    n, c, h, w = x.shape
    return (
        x.reshape(n, c // (r * r), r, r, h, w)
        .transpose(0, 1, 4, 2, 5, 3)
        .reshape(n, c // (r * r), h * r, w * r)
    )


def test_pixel_shuffle(device):
    x = rnd(2, 8, 3, 4)
    out = F.pixel_shuffle(t(x, device), 2)
    assert_close(out, _np_shuffle(x, 2))
    assert_close(F.pixel_unshuffle(out, 2), x)  # an exact inverse
    check_grad(lambda v: F.pixel_shuffle(v, 2), x, device=device)
    check_grad(lambda v: F.pixel_unshuffle(v, 2), rnd(1, 2, 4, 6), device=device)
    assert F.pixel_shuffle(t(rnd(3, 2, 9, 2, 2), device), 3).shape == (3, 2, 1, 6, 6)
    assert repr(nn.PixelShuffle(2)) == "PixelShuffle(upscale_factor=2)"
    assert repr(nn.PixelUnshuffle(3)) == "PixelUnshuffle(downscale_factor=3)"
    with pytest.raises(RuntimeError, match="input.size\\(-3\\)=5 is not divisible by 4"):
        F.pixel_shuffle(gpugrad.zeros(1, 5, 2, 2, device=device), 2)
    with pytest.raises(RuntimeError, match="expects height to be divisible by downscale_factor"):
        F.pixel_unshuffle(gpugrad.zeros(1, 1, 3, 2, device=device), 2)


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm(affine, device):
    x = rnd(2, 3, 4, 5)
    m = nn.InstanceNorm2d(3, affine=affine).double().to(device)
    mean = x.mean((2, 3), keepdims=True)
    ref = (x - mean) / np.sqrt(x.var((2, 3), keepdims=True) + 1e-5)
    assert_close(m(t(x, device)), ref)
    assert_close(m(t(x[0], device)), ref[0])  # unbatched
    check_grad(m, x, device=device)
    bias = "True" if affine else "False"
    assert repr(m) == (
        f"InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine={affine}, bias={bias}, "
        "track_running_stats=False)"
    )
    with pytest.raises(ValueError, match="expected 3D or 4D input \\(got 2D input\\)"):
        m(gpugrad.zeros(3, 4, device=device))


def test_instance_norm_running_stats(device):
    x = rnd(2, 3, 6)
    m = nn.InstanceNorm1d(3, track_running_stats=True, momentum=0.2).double().to(device)
    m(t(x, device))
    assert_close(m.running_mean, 0.8 * 0 + 0.2 * x.mean(2).mean(0))
    assert_close(m.running_var, 0.8 * 1 + 0.2 * x.var(2, ddof=1).mean(0))
    assert m.num_batches_tracked.item() == 0  # as in PyTorch
    m.eval()
    rm, rv = m.running_mean.cpu().numpy(), m.running_var.cpu().numpy()
    ref = (x - rm[None, :, None]) / np.sqrt(rv[None, :, None] + 1e-5)
    assert_close(m(t(x, device)), ref)
    assert nn.InstanceNorm3d(2)(gpugrad.randn(1, 2, 2, 2, 2, device=device)).shape == (
        1, 2, 2, 2, 2
    )  # fmt: skip
