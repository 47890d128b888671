"""F.unfold / F.fold and their modules: a loop reference, the adjoint identity, gradcheck,
PyTorch's node names, reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F
from gpugrad import nn
from tests.utils import assert_close, check_grad, rnd, t

GEOMETRIES = [
    dict(kernel_size=(2, 3)),
    dict(kernel_size=(2, 3), padding=1, stride=(2, 1)),
    dict(kernel_size=2, dilation=2, padding=(1, 0)),
]


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _np_unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = map(_pair, (kernel_size, dilation, padding, stride))
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c * kh * kw, oh * ow))
    for i in range(oh):
        for j in range(ow):
            block = xp[:, :, i * sh : i * sh + dh * kh : dh, j * sw : j * sw + dw * kw : dw]
            out[:, :, i * ow + j] = block.reshape(n, -1)
    return out


@pytest.mark.parametrize("kw", GEOMETRIES)
def test_unfold_fold(kw, device):
    x = rnd(2, 3, 4, 5)
    cols = F.unfold(t(x, device), **kw)
    ref = _np_unfold(x, **kw)
    assert_close(cols, ref)
    y = rnd(*ref.shape)
    back = F.fold(t(y, device), (4, 5), **kw)
    # fold is unfold's adjoint: <unfold(x), y> == <x, fold(y)>
    assert np.isclose((ref * y).sum(), (x * back.cpu().numpy()).sum())
    check_grad(lambda v: F.unfold(v, **kw), x, device=device)
    check_grad(lambda v: F.fold(v, (4, 5), **kw), y, device=device)
    xg = t(x, device, requires_grad=True)
    assert F.unfold(xg, **kw).grad_fn.name() == "Im2ColBackward0"
    assert F.fold(F.unfold(xg, **kw), (4, 5), **kw).grad_fn.name() == "Col2ImBackward0"


def test_unbatched_modules_and_errors(device):
    x = t(rnd(3, 4, 5), device)
    assert F.unfold(x, 2).shape == (12, 12)
    assert F.fold(F.unfold(x, 2), (4, 5), 2).shape == (3, 4, 5)
    assert repr(nn.Unfold(kernel_size=(2, 3))) == (
        "Unfold(kernel_size=(2, 3), dilation=1, padding=0, stride=1)"
    )
    assert repr(nn.Fold(output_size=(4, 5), kernel_size=2, stride=2)) == (
        "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=2)"
    )
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(gpugrad.zeros(1, 7, 4, device=device), (3, 3), 2)
    with pytest.raises(RuntimeError, match="calculated number of sliding blocks 2 \\* 2 = 4"):
        F.fold(gpugrad.zeros(1, 8, 5, device=device), (3, 3), 2)
