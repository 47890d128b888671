"""Counting and searching: count_nonzero, bincount, isin, unique (against torch),
searchsorted, histc."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import ops as E
from tests.utils import assert_close, host, rnd, t


def test_counting(device):
    a = np.array([[0, 1, 2], [2, 0, 0]])
    ta = gpugrad.tensor(a, device=device)
    assert host(E.count_nonzero(ta)) == 3
    assert host(E.count_nonzero(ta, 0)).tolist() == [1, 1, 1]
    assert (
        host(E.isin(ta, gpugrad.tensor([2, 5], device=device))).tolist()
        == np.isin(a, [2, 5]).tolist()
    )
    assert host(E.isin(ta, 0, invert=True)).tolist() == (a != 0).tolist()
    assert host(E.bincount(gpugrad.tensor([0, 3, 3], device=device), minlength=5)).tolist() == [
        1,
        0,
        0,
        2,
        0,
    ]
    w = E.bincount(
        gpugrad.tensor([0, 1, 1], device=device), gpugrad.tensor([1.0, 2.0, 3.0], device=device)
    )
    assert w.dtype == gpugrad.float32 and host(w).tolist() == [1.0, 5.0]


def test_unique_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.array([[3, 1], [1, 2], [3, 1]])
    got = E.unique(gpugrad.tensor(a, device=device), return_inverse=True, return_counts=True)
    ref = torch.unique(torch.tensor(a), return_inverse=True, return_counts=True)
    for g, r in zip(got, ref):
        assert host(g).tolist() == r.tolist()
    got = E.unique(gpugrad.tensor(a, device=device), dim=0, return_inverse=True)
    ref = torch.unique(torch.tensor(a), dim=0, return_inverse=True)
    for g, r in zip(got, ref):
        assert host(g).tolist() == r.tolist()
    assert host(E.unique(gpugrad.tensor(a, device=device))).tolist() == [1, 2, 3]


def test_searchsorted(device):
    seq = np.array([1.0, 3.0, 5.0, 7.0])
    v = np.array([[0.0, 3.0], [6.0, 9.0]])
    ts = t(seq, device)
    assert host(E.searchsorted(ts, t(v, device))).tolist() == np.searchsorted(seq, v).tolist()
    assert (
        host(E.searchsorted(ts, t(v, device), right=True)).tolist()
        == np.searchsorted(seq, v, "right").tolist()
    )
    assert int(host(E.searchsorted(ts, 3.0))) == 1
    seq2 = np.array([[1, 3, 5], [2, 4, 6]])
    got = E.searchsorted(
        gpugrad.tensor(seq2, device=device), gpugrad.tensor([[3], [3]], device=device)
    )
    assert host(got).tolist() == [[1], [1]] and got.dtype == gpugrad.int64
    assert E.searchsorted(ts, t(v, device), out_int32=True).dtype == gpugrad.int32


def test_histc(device):
    x = gpugrad.tensor([1.0, 2.0, 1.0, 5.0], device=device)
    assert gpugrad.histc(x, bins=4, min=0, max=4).tolist() == [0.0, 2.0, 1.0, 0.0]
    assert gpugrad.histc(x[:3], bins=2).tolist() == [2.0, 1.0]  # the data's range
    assert gpugrad.histc(gpugrad.ones(2, device=device), bins=2).tolist() == [0.0, 2.0]
    a = rnd(50)
    assert_close(gpugrad.histc(t(a, device), 7, -1, 1), np.histogram(a, 7, (-1, 1))[0])
