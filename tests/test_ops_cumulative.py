"""Running results: diff, cumprod, cummax / cummin (values and indices), and the CuPy
backend's log-step scan checked against NumPy's accumulate on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import ops as E
from tests.utils import assert_close, check_grad, host, rnd, t


def test_diff_cumprod(device):
    a = rnd(3, 5)
    assert_close(E.diff(t(a, device)), np.diff(a))
    assert_close(E.diff(t(a, device), 2, 0), np.diff(a, 2, 0))
    p = rnd(3, 1)
    assert_close(E.diff(t(a, device), prepend=t(p, device)), np.diff(a, prepend=p))
    check_grad(lambda x: E.diff(x, 2), a, device=device)
    bools = gpugrad.tensor([True, False, False, True], device=device)
    assert host(E.diff(bools)).tolist() == [True, False, True]
    assert_close(E.cumprod(t(a, device), 1), np.cumprod(a, 1))
    check_grad(lambda x: E.cumprod(x, 0), a, device=device)
    check_grad(lambda x: E.cumprod(x, -1), a, device=device)
    assert E.cumprod(gpugrad.tensor([1, 2, 3], device=device), 0).dtype == gpugrad.int64


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
