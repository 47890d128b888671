"""Sorting and order statistics (sort, topk, median, kthvalue, quantile, mode): NumPy
references in float64 and torch's tie order, gradcheck with random upstream gradients."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import ops as E
from tests.utils import assert_close, check_grad, host, rnd, t


def _distinct(*shape):
    return np.random.default_rng(7).permutation(np.prod(shape)).reshape(shape) * 0.37 - 3.0


# ---- sorting -----------------------------------------------------------------------------
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torch_with_ties(device, descending):
    torch = pytest.importorskip("torch")
    a = np.array([[3, 1, 2, 1, 3, 0], [5, 5, 5, 1, 1, 2]], dtype=np.float64)
    v, i = E.sort(t(a, device), dim=1, descending=descending)
    tv, ti = torch.sort(torch.tensor(a), dim=1, descending=descending, stable=True)
    assert_close(v, tv.numpy())
    assert (host(i) == ti.numpy()).all() and i.dtype == gpugrad.int64
    assert (
        host(E.argsort(t(a, device), 0, descending))
        == torch.argsort(torch.tensor(a), dim=0, descending=descending, stable=True).numpy()
    ).all()


def test_sort_topk_grad(device):
    a = _distinct(3, 5)
    check_grad(lambda x: E.sort(x, 0, descending=True).values, a, device=device)
    check_grad(lambda x: E.topk(x, 2).values, a, device=device)
    check_grad(lambda x: E.topk(x, 3, dim=0, largest=False).values, a, device=device)
    out = E.topk(t(a, device, requires_grad=True), 2)
    assert type(out.values.grad_fn).__name__ == "TopkBackward0"
    assert not out.indices.requires_grad


def test_topk_values(device):
    a = _distinct(4, 6)
    v, i = E.topk(t(a, device), 3, dim=1)
    ref = -np.sort(-a, axis=1)[:, :3]
    assert_close(v, ref)
    assert_close(np.take_along_axis(a, host(i), 1), ref)
    v, _ = E.topk(t(a, device), 2, dim=0, largest=False)
    assert_close(v, np.sort(a, axis=0)[:2])
    with pytest.raises(RuntimeError):
        E.topk(t(a, device), 7)


def test_median(device):
    torch = pytest.importorskip("torch")
    a = _distinct(4, 5)
    assert_close(E.median(t(a, device)), torch.median(torch.tensor(a)).numpy())
    for keep in (False, True):
        v, i = E.median(t(a, device), 1, keep)
        tv, ti = torch.median(torch.tensor(a), 1, keep)
        assert_close(v, tv.numpy())
        assert (host(i) == ti.numpy()).all()
    nan = np.array([[1.0, np.nan, 0.0], [2.0, 1.0, 3.0]])
    v, i = E.median(t(nan, device), 1)
    tv, ti = torch.median(torch.tensor(nan), 1)
    assert_close(v, tv.numpy())
    assert (host(i) == ti.numpy()).all()
    assert np.isnan(host(E.median(t(nan, device))))
    check_grad(lambda x: E.median(x), a, device=device)
    check_grad(lambda x: E.median(x, 0).values, a, device=device)
    check_grad(lambda x: E.median(x, 1, True).values, a, device=device)


HOWS = ["linear", "lower", "higher", "midpoint", "nearest"]


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_kthvalue(dim, keepdim, device):
    a = rnd(3, 4)
    k = 2
    r = gpugrad.kthvalue(t(a, device), k, dim, keepdim)
    ref = np.sort(a, axis=dim)
    ref = np.take(ref, [k - 1], axis=dim)
    assert_close(r.values, ref if keepdim else ref.squeeze(dim))
    picked = np.take_along_axis(a, r.indices.cpu().numpy().reshape(ref.shape), axis=dim)
    assert_close(picked, ref)
    check_grad(lambda x: gpugrad.kthvalue(x, k, dim, keepdim).values, a, device=device)
    with pytest.raises(RuntimeError, match="kthvalue\\(\\): selected number k out of range"):
        gpugrad.kthvalue(t(a, device), 9, dim)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_quantile(how, dim, device):
    a = rnd(4, 5)
    q = [0.1, 0.5, 0.625, 1.0]
    method = {"midpoint": "midpoint", "nearest": "nearest"}.get(how, how)
    ref = np.quantile(a, q, axis=dim, method=method)
    out = gpugrad.quantile(t(a, device), t(q, device), dim, interpolation=how)
    assert_close(out, ref)
    one = gpugrad.quantile(t(a, device), 0.3, dim, keepdim=True, interpolation=how)
    assert_close(one, np.quantile(a, 0.3, axis=dim, method=method, keepdims=True))
    check_grad(lambda x: gpugrad.quantile(x, 0.3, dim, interpolation=how), a, device=device)


def test_quantile_nan_and_errors(device):
    x = gpugrad.tensor([1.0, float("nan"), 2.0], device=device)
    assert np.isnan(gpugrad.quantile(x, 0.5).item())
    with pytest.raises(RuntimeError, match="q must be in the range \\[0, 1\\] but got 1.5"):
        gpugrad.quantile(x, 1.5)
    with pytest.raises(RuntimeError, match="midpoint or nearest, but got foo"):
        gpugrad.quantile(x, 0.5, interpolation="foo")
    with pytest.raises(RuntimeError, match="q tensor must be same dtype as the input tensor"):
        gpugrad.quantile(x, t([0.5], device))  # float32 data, a float64 q
    with pytest.raises(RuntimeError, match="q must be a scalar or 1D tensor"):
        gpugrad.quantile(x, gpugrad.tensor([[0.5]], device=device))


def _mode_ref(a, axis):
    """Most frequent value (smallest on ties) and its last index, one slice at a time."""
    a = np.moveaxis(a, axis, -1)
    vals, idx = np.empty(a.shape[:-1]), np.empty(a.shape[:-1], dtype=np.int64)
    for pos in np.ndindex(a.shape[:-1]):
        row = a[pos]
        uniq, counts = np.unique(row, return_counts=True)
        v = uniq[np.argmax(counts)]
        vals[pos], idx[pos] = v, np.nonzero(row == v)[0][-1]
    return vals, idx


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_mode(dim, keepdim, device):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 3, (4, 6)).astype(np.float64)
    r = gpugrad.mode(t(a, device, requires_grad=True), dim, keepdim)
    want_v, want_i = _mode_ref(a, dim)
    if keepdim:
        want_v, want_i = np.expand_dims(want_v, dim), np.expand_dims(want_i, dim)
    np.testing.assert_array_equal(host(r.values), want_v)
    np.testing.assert_array_equal(host(r.indices), want_i)
    assert type(r).__name__ == "mode" and r.values.grad_fn.name() == "ModeBackward0"
    up = rng.standard_normal(want_v.shape)
    x = t(a, device, requires_grad=True)
    x.mode(dim, keepdim).values.backward(t(up, device))
    g = np.zeros_like(a)
    gi, gu = (want_i, up) if keepdim else (np.expand_dims(want_i, dim), np.expand_dims(up, dim))
    np.put_along_axis(g, gi, gu, axis=dim)
    assert_close(x.grad, g)
    s = gpugrad.tensor(2.0, device=device).mode()
    assert s.values.item() == 2.0 and s.indices.item() == 0
