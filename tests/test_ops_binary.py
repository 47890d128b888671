"""Elementwise ops of two tensors (atan2, hypot, logaddexp / logaddexp2, xlogy, fmod,
shifts, where of two scalars): NumPy references, gradcheck, PyTorch's dtypes and errors."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import ops as E
from tests.utils import assert_close, check_grad, host, rnd, t


def test_binary(device):
    a, b = rnd(3, 4), rnd(4)
    assert_close(E.atan2(t(a, device), t(b, device)), np.arctan2(a, b))
    assert_close(E.hypot(t(a, device), t(b, device)), np.hypot(a, b))
    check_grad(E.atan2, a, b, device=device)
    check_grad(E.hypot, a, b, device=device)
    w = rnd(3, 4, positive=True) / 3
    check_grad(lambda x, y, z: E.lerp(x, y, z), a, rnd(3, 4), w, device=device)
    assert_close(E.lerp(t(a, device), t(b, device), 0.25), a + 0.25 * (b - a))
    c, d = rnd(3, 4), rnd(3, 4)
    assert_close(E.addcmul(t(a, device), t(c, device), t(d, device), value=0.5), a + 0.5 * c * d)
    assert_close(E.addcdiv(t(a, device), t(c, device), t(d, device), value=2), a + 2 * c / d)
    check_grad(lambda x, y, z: E.addcdiv(x, y, z, value=0.3), a, c, d, device=device)
    with pytest.raises(RuntimeError, match="Integer division"):
        i = gpugrad.tensor([1, 2], device=device)
        E.addcdiv(i, i, i)
    assert (
        E.atan2(gpugrad.tensor([1], device=device), gpugrad.tensor([2], device=device)).dtype
        == gpugrad.float32
    )


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp(name, device):
    a, b = rnd(3, 4), rnd(4)  # broadcasting
    a[0, 0] = b[0]  # equal arguments: the gradient splits evenly
    fn = getattr(gpugrad, name)
    out = fn(t(a, device, requires_grad=True), t(b, device))
    assert_close(out, getattr(np, name)(a, b))
    assert out.grad_fn.name() == (
        "LogaddexpBackward0" if name == "logaddexp" else "Logaddexp2Backward0"
    )
    check_grad(fn, a, b, device=device)
    big = fn(t(np.array([1000.0]), device), t(np.array([1000.0]), device))
    assert np.isfinite(host(big)).all()  # no overflow


def test_fmod(device):
    a, b = rnd(3, 4) * 4, rnd(4)
    out = gpugrad.fmod(t(a, device, requires_grad=True), t(b, device))
    assert_close(out, np.fmod(a, b))
    assert out.grad_fn.name() == "FmodBackward1"
    check_grad(gpugrad.fmod, a, b, device=device)
    x = t(a, device, requires_grad=True)
    assert x.fmod(1.5).grad_fn.name() == "FmodBackward0"
    assert_close(x.fmod(1.5), np.fmod(a, 1.5))
    ints = gpugrad.tensor([-7, 7], device=device)
    assert host(ints.fmod(3)).tolist() == [-1, 1]  # the sign of the dividend
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        gpugrad.fmod(ints, 0)


def test_shifts_and_where_of_two_scalars(device):
    x = gpugrad.tensor([5, 8], device=device)
    assert host(x << 1).tolist() == [10, 16] and host(x >> 1).tolist() == [2, 4]
    assert host(1 << gpugrad.tensor([2, 3], device=device)).tolist() == [4, 8]
    assert host(gpugrad.bitwise_left_shift(x, 2)).tolist() == [20, 32]
    with pytest.raises(RuntimeError, match="\"lshift_cpu\" not implemented for 'Float'"):
        gpugrad.ones(1, device=device) << 1
    cond = gpugrad.tensor([True, False], device=device)
    for a, b, dtype in (
        (1.0, 0, gpugrad.float32),
        (1, 0, gpugrad.int64),
        (True, False, gpugrad.bool),
    ):
        out = gpugrad.where(cond, a, b)
        assert out.dtype == dtype and host(out).tolist() == [a, b]


def test_xlogy(device):
    x, y = rnd(3, 4), rnd(3, 4, positive=True)
    x[0, 0] = 0.0
    assert_close(gpugrad.xlogy(t(x, device), t(y, device)), x * np.log(y))
    check_grad(gpugrad.xlogy, x + (x == 0) * 0.5, y, device=device)  # smooth away from x = 0
    zx = gpugrad.tensor([0.0, 0.0, 2.0], dtype=gpugrad.float64, device=device, requires_grad=True)
    zy = gpugrad.tensor([0.0, float("nan"), 3.0], dtype=gpugrad.float64, device=device)
    zy.requires_grad_(True)
    out = gpugrad.xlogy(zx, zy)
    assert out[0].item() == 0.0 and np.isnan(out[1].item())  # 0 * log(0) = 0; NaN stays
    out[0::2].sum().backward()
    # PyTorch's formulas: d/dx = xlogy(x != 0, y) is 0 at x = 0 (no 0 * log(0) = nan there),
    # d/dy = x / y is 0 / 0 = nan at x = y = 0, as PyTorch gives
    assert zx.grad[0].item() == 0.0 and np.isnan(zy.grad[0].item())
    assert_close(zx.grad[2], np.log(3.0))
    assert gpugrad.xlogy(t(x, device), 3.0).dtype == gpugrad.float64  # a number keeps dtype
