"""Elementwise functions of one tensor (trigonometric, hyperbolic, log10 / exp2, square,
frac, nan_to_num, logit): NumPy references in float64, gradcheck, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import ops as E
from tests.utils import assert_close, check_grad, rnd, t

# ---- elementwise -------------------------------------------------------------------------
UNARY = [
    ("tan", np.tan, dict(low=-1.2, high=1.2)),
    ("sinh", np.sinh, {}),
    ("cosh", np.cosh, {}),
    ("asin", np.arcsin, dict(low=-0.9, high=0.9)),
    ("acos", np.arccos, dict(low=-0.9, high=0.9)),
    ("atan", np.arctan, {}),
    ("log10", np.log10, dict(positive=True)),
    ("exp2", np.exp2, {}),
    ("square", np.square, {}),
    ("frac", lambda x: x - np.trunc(x), {}),
]


@pytest.mark.parametrize("name,ref,kw", UNARY, ids=[u[0] for u in UNARY])
def test_unary(device, name, ref, kw):
    a = rnd(3, 4, **kw)
    fn = getattr(E, name)
    assert_close(fn(t(a, device)), ref(a))
    check_grad(fn, a, device=device)
    if name == "frac":  # piecewise linear: no second derivative graph
        return
    # second order via create_graph
    x = t(a, device, requires_grad=True)
    (g,) = gpugrad.autograd.grad(fn(x).sum(), x, create_graph=True)
    (gg,) = gpugrad.autograd.grad(g.sum(), x)
    h = 1e-5
    num = (ref(a + h) - 2 * ref(a) + ref(a - h)) / h**2
    assert_close(gg, num, rtol=1e-3, atol=1e-3)


def test_unary_dtypes(device):
    assert E.tan(gpugrad.tensor([1, 2], device=device)).dtype == gpugrad.float32
    assert E.square(gpugrad.tensor([1, 2], device=device)).dtype == gpugrad.int64
    with pytest.raises(RuntimeError, match="frac_cpu"):
        E.frac(gpugrad.tensor([1, 2], device=device))
    assert (
        E.tan(gpugrad.tensor([1.0], dtype=gpugrad.float32, device=device)).dtype == gpugrad.float32
    )


def test_nan_to_num(device):
    a = np.array([np.nan, np.inf, -np.inf, 1.5])
    assert_close(E.nan_to_num(t(a, device)), np.nan_to_num(a))
    assert_close(E.nan_to_num(t(a, device), 1.0, 2.0, -3.0), [1.0, 2.0, -3.0, 1.5])
    x = t(a, device, requires_grad=True)
    E.nan_to_num(x).sum().backward()
    assert_close(x.grad, [0, 0, 0, 1.0])


def test_logit(device):
    p = rnd(3, 4, low=0.05, high=0.95)
    assert_close(gpugrad.logit(t(p, device)), np.log(p / (1 - p)))
    check_grad(gpugrad.logit, p, device=device)
    edge = gpugrad.tensor([0.25, 0.0, 1.0], dtype=gpugrad.float64, device=device)
    clamped = np.clip([0.25, 0.0, 1.0], 1e-6, 1 - 1e-6)
    assert_close(gpugrad.logit(edge, eps=1e-6), np.log(clamped / (1 - clamped)))
