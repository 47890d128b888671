"""kthvalue, quantile, aminmax, histc, logit, xlogy, index_fill: NumPy references in float64,
gradcheck with random upstream gradients, PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from tests.utils import assert_close, check_grad, host, rnd, t

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


def test_aminmax(device):
    a = rnd(3, 4)
    r = gpugrad.aminmax(t(a, device))
    assert_close(r.min, a.min()) and assert_close(r.max, a.max())
    r1 = gpugrad.aminmax(t(a, device), dim=1, keepdim=True)
    assert_close(r1.min, a.min(1, keepdims=True))
    assert_close(r1.max, a.max(1, keepdims=True))
    assert repr(r).startswith("gpugrad.return_types.aminmax(\nmin=")
    check_grad(lambda x: gpugrad.aminmax(x, dim=0).max, a, device=device)
    with pytest.raises(RuntimeError, match="cannot compute aminmax over an empty dimension"):
        gpugrad.aminmax(gpugrad.zeros(0, device=device))


def test_histc(device):
    x = gpugrad.tensor([1.0, 2.0, 1.0, 5.0], device=device)
    assert gpugrad.histc(x, bins=4, min=0, max=4).tolist() == [0.0, 2.0, 1.0, 0.0]
    assert gpugrad.histc(x[:3], bins=2).tolist() == [2.0, 1.0]  # the data's range
    assert gpugrad.histc(gpugrad.ones(2, device=device), bins=2).tolist() == [0.0, 2.0]
    a = rnd(50)
    assert_close(gpugrad.histc(t(a, device), 7, -1, 1), np.histogram(a, 7, (-1, 1))[0])


def test_logit(device):
    p = rnd(3, 4, low=0.05, high=0.95)
    assert_close(gpugrad.logit(t(p, device)), np.log(p / (1 - p)))
    check_grad(gpugrad.logit, p, device=device)
    edge = gpugrad.tensor([0.25, 0.0, 1.0], dtype=gpugrad.float64, device=device)
    clamped = np.clip([0.25, 0.0, 1.0], 1e-6, 1 - 1e-6)
    assert_close(gpugrad.logit(edge, eps=1e-6), np.log(clamped / (1 - clamped)))


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


def test_index_fill(device):
    a = rnd(3, 4)
    idx = gpugrad.tensor([0, 2], device=device)
    ref = a.copy()
    ref[:, [0, 2]] = 7.0
    assert_close(gpugrad.index_fill(t(a, device), 1, idx, 7.0), ref)
    x = t(a, device)
    x.index_fill_(1, idx, gpugrad.tensor(7.0, dtype=gpugrad.float64, device=device))
    assert_close(x, ref)
    check_grad(lambda v: v.index_fill(1, idx, 7.0), a, device=device)
    with pytest.raises(RuntimeError, match="only supports a 0-dimensional value tensor"):
        t(a, device).index_fill(1, idx, gpugrad.ones(2, device=device))


def _cum_ref(a, axis, largest):
    """Running extreme and its index (the latest on ties; a NaN sticks), one slice at a time."""
    a = np.moveaxis(a, axis, -1)
    vals, idx = np.empty_like(a), np.zeros(a.shape, dtype=np.int64)
    for pos in np.ndindex(a.shape[:-1]):
        best, at = None, 0
        for i, v in enumerate(a[pos]):
            better = (
                best is None
                or np.isnan(v)
                or (not np.isnan(best) and (v >= best if largest else v <= best))
            )
            if better:
                best, at = v, i
            vals[pos + (i,)], idx[pos + (i,)] = best, at
    return np.moveaxis(vals, -1, axis), np.moveaxis(idx, -1, axis)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cummax_cummin(largest, dim, device):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, (4, 5)).astype(np.float64)  # small integers: plenty of ties
    a[2, 1] = np.nan
    fn = gpugrad.cummax if largest else gpugrad.cummin
    r = fn(t(a, device, requires_grad=True), dim)
    want_v, want_i = _cum_ref(a, dim, largest)
    np.testing.assert_array_equal(host(r.values), want_v)
    np.testing.assert_array_equal(host(r.indices), want_i)
    assert r.indices.dtype == gpugrad.int64
    assert r.values.grad_fn.name() == ("CummaxBackward0" if largest else "CumminBackward0")
    assert type(r).__name__ == ("cummax" if largest else "cummin")
    check_grad(lambda x: fn(x, dim).values, rnd(3, 4), device=device)  # distinct values
    up = rng.standard_normal(a.shape)
    x = t(a, device, requires_grad=True)
    fn(x, dim).values.backward(t(up, device))
    want_g = np.zeros_like(a)
    np.add.at(
        np.moveaxis(want_g, dim, -1),
        _scatter_key(np.moveaxis(want_i, dim, -1)),
        np.moveaxis(up, dim, -1),
    )
    assert_close(x.grad, want_g)


def _scatter_key(idx):
    lead = np.indices(idx.shape)[:-1]
    return tuple(lead) + (idx,)


def test_generic_cumulative_scan_equals_accumulate():
    # CuPy has no maximum.accumulate: the backend's generic log-step scan, run here on NumPy
    # arrays, must equal NumPy's accumulate (NaN included)
    from gpugrad.backend.base import ArrayBackend
    from gpugrad.backend.numpy_backend import NumpyBackend

    be = NumpyBackend()
    rng = np.random.default_rng(5)
    for shape, axis in [((7,), 0), ((3, 9), 1), ((5, 4, 6), 0), ((2, 17), -1), ((1,), 0)]:
        a = rng.standard_normal(shape)
        a.flat[min(3, a.size - 1)] = np.nan
        for largest in (True, False):
            np.testing.assert_array_equal(
                ArrayBackend.cum_extreme(be, a, axis, largest), be.cum_extreme(a, axis, largest)
            )


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
