"""Diagonals and triangles: diag, diagonal, trace, tril / triu (with cumsum)."""

from __future__ import annotations

import numpy as np

from gpugrad import ops as E
from tests.utils import assert_close, check_grad, rnd, t


# ---- shape helpers -----------------------------------------------------------------------
def test_diag_diagonal_trace(device):
    v, m = rnd(4), rnd(3, 5)
    for k in (-2, 0, 1):
        assert_close(E.diag(t(v, device), k), np.diag(v, k))
        assert_close(E.diag(t(m, device), k), np.diag(m, k))
        check_grad(lambda x, k=k: E.diag(x, k), v, device=device)
        check_grad(lambda x, k=k: E.diag(x, k), m, device=device)
    b = rnd(2, 3, 4)
    assert_close(E.diagonal(t(b, device), 1, 1, 2), np.diagonal(b, 1, 1, 2))
    assert_close(E.diagonal(t(b, device), -1, 2, 0), np.diagonal(b, -1, 2, 0))
    check_grad(lambda x: E.diagonal(x, 0, 0, 2), b, device=device)
    assert_close(E.trace(t(m, device)), np.trace(m))
    check_grad(E.trace, m, device=device)


def test_tril_triu_cumsum(device):
    a = rnd(4, 5)
    assert_close(t(a, device).tril(-1), np.tril(a, -1))
    assert_close(t(a, device).triu(1), np.triu(a, 1))
    assert_close(t(a, device).cumsum(1), np.cumsum(a, 1))
    check_grad(lambda x: x.tril(), a, device=device)
    check_grad(lambda x: x.triu(2), a, device=device)
    for dim in (0, 1, -1):
        check_grad(lambda x, d=dim: x.cumsum(d), a, device=device)
