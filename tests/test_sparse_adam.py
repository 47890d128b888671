"""SparseAdam against torch.optim.SparseAdam: sparse COO gradients (row gradients of an
embedding table, repeated and unsorted indices, hybrid and fully sparse layouts), the errors,
and state dicts."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import optim

torch = pytest.importorskip("torch")


def _sparse(lib, indices, values, shape):
    return lib.sparse_coo_tensor(
        lib.tensor(indices), lib.tensor(values), shape, check_invariants=True
    )


def _row_grads(rng, num, dim, steps, dtype, nnz=6):
    """Embedding-style gradients: (1, nnz) row indices (repeats, any order), (nnz, dim) rows."""
    out = []
    for k in range(steps):
        n = 0 if k == 2 else nnz  # a step where the gradient holds nothing
        idx = rng.integers(0, num, size=(1, n))
        out.append((idx, rng.standard_normal((n, dim)).astype(dtype)))
    return out


def _close(a, b, dtype):
    rtol, atol = (1e-6, 1e-7) if dtype == np.float32 else (1e-13, 1e-14)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(), dict(maximize=True, lr=0.1, betas=(0.8, 0.9), eps=1e-6)])
def test_matches_torch_on_row_gradients(dtype, kw):
    rng = np.random.default_rng(0)
    num, dim = 9, 4
    w0 = rng.standard_normal((num, dim)).astype(dtype)
    ours = gpugrad.tensor(w0, requires_grad=True)
    theirs = torch.tensor(w0, requires_grad=True)
    opt_g, opt_t = optim.SparseAdam([ours], **kw), torch.optim.SparseAdam([theirs], **kw)
    for idx, vals in _row_grads(rng, num, dim, 8, dtype):
        ours.grad = _sparse(gpugrad, idx, vals, (num, dim))
        theirs.grad = _sparse(torch, idx, vals, (num, dim))
        opt_g.step()
        opt_t.step()
        _close(ours, theirs, dtype)
    sg, st = opt_g.state[ours], opt_t.state[theirs]
    assert sg["step"] == st["step"] == 8 and type(sg["step"]) is int
    _close(sg["exp_avg"], st["exp_avg"], dtype)
    _close(sg["exp_avg_sq"], st["exp_avg_sq"], dtype)


def test_untouched_rows_and_their_moments_stay_as_they_are():
    w = gpugrad.ones(5, 3, requires_grad=True)
    opt = optim.SparseAdam([w], lr=0.1)
    w.grad = _sparse(gpugrad, [[1, 3, 1]], np.ones((3, 3), np.float32), (5, 3))
    v = w._version
    opt.step()
    got = w.detach().numpy()
    np.testing.assert_array_equal(got[[0, 2, 4]], 1.0)
    assert (got[[1, 3]] < 1).all() and w._version == v + 1
    np.testing.assert_array_equal(opt.state[w]["exp_avg"].numpy()[[0, 2, 4]], 0.0)


def test_fully_sparse_gradients_of_a_matrix_match_torch():
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((4, 5))
    ours, theirs = gpugrad.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    opt_g, opt_t = optim.SparseAdam([ours], lr=0.05), torch.optim.SparseAdam([theirs], lr=0.05)
    for _ in range(5):
        idx = np.stack([rng.integers(0, 4, 7), rng.integers(0, 5, 7)])
        vals = rng.standard_normal(7)
        ours.grad = _sparse(gpugrad, idx, vals, (4, 5))
        theirs.grad = _sparse(torch, idx, vals, (4, 5))
        opt_g.step()
        opt_t.step()
    _close(ours, theirs, np.float64)


def test_param_groups_with_their_own_lr_and_a_missing_grad():
    rng = np.random.default_rng(2)
    a0, b0 = rng.standard_normal((6, 2)), rng.standard_normal((3, 2))
    ga, gb = gpugrad.tensor(a0, requires_grad=True), gpugrad.tensor(b0, requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt_g = optim.SparseAdam([{"params": [ga]}, {"params": [gb], "lr": 0.3}], lr=0.01)
    opt_t = torch.optim.SparseAdam([{"params": [ta]}, {"params": [tb], "lr": 0.3}], lr=0.01)
    for k in range(4):
        idx, vals = [[0, 2, 2]], rng.standard_normal((3, 2))
        ga.grad, ta.grad = _sparse(gpugrad, idx, vals, (6, 2)), _sparse(torch, idx, vals, (6, 2))
        if k % 2:
            gb.grad, tb.grad = _sparse(gpugrad, [[1]], vals[:1], (3, 2)), None
            tb.grad = _sparse(torch, [[1]], vals[:1], (3, 2))
        else:
            gb.grad = tb.grad = None
        assert opt_g.step(lambda: 1.5) == 1.5
        opt_t.step()
    _close(ga, ta, np.float64)
    _close(gb, tb, np.float64)
    assert opt_g.state[gb]["step"] == opt_t.state[tb]["step"] == 2


def test_state_dict_round_trip_continues_identically(tmp_path):
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((7, 3))
    grads = [(rng.integers(0, 7, (1, 4)), rng.standard_normal((4, 3))) for _ in range(6)]
    full = gpugrad.tensor(w0, requires_grad=True)
    opt_full = optim.SparseAdam([full], lr=0.05)
    part = gpugrad.tensor(w0, requires_grad=True)
    opt_part = optim.SparseAdam([part], lr=0.05)
    for k, (idx, vals) in enumerate(grads):
        if k == 3:
            gpugrad.save(opt_part.state_dict(), tmp_path / "s.pt")
            part = gpugrad.tensor(part.detach().numpy(), requires_grad=True)
            opt_part = optim.SparseAdam([part], lr=0.05)
            opt_part.load_state_dict(gpugrad.load(tmp_path / "s.pt"))
        full.grad = _sparse(gpugrad, idx, vals, (7, 3))
        part.grad = _sparse(gpugrad, idx, vals, (7, 3))
        opt_full.step()
        opt_part.step()
    np.testing.assert_array_equal(full.detach().numpy(), part.detach().numpy())


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type and text are what is compared
        return type(e), str(e)
    return None


@pytest.mark.parametrize(
    "kw", [dict(lr=0.0), dict(eps=0.0), dict(betas=(1.0, 0.9)), dict(betas=(0.9, -0.1))]
)
def test_constructor_errors_as_torch(kw):
    want = _error(lambda: torch.optim.SparseAdam([torch.zeros(2, requires_grad=True)], **kw))
    got = _error(lambda: optim.SparseAdam([gpugrad.zeros(2, requires_grad=True)], **kw))
    assert want is not None and got == want


def test_dense_gradients_and_sparse_params_raise_as_torch():
    def dense(lib):
        w = lib.zeros(3, requires_grad=True)
        w.grad = lib.ones(3)
        lib.optim.SparseAdam([w]).step()

    want = _error(lambda: dense(torch))
    assert want is not None and _error(lambda: dense(gpugrad)) == want

    def sparse_param(lib):
        s = _sparse(lib, [[0]], [1.0], (2,))
        lib.optim.SparseAdam([lib.zeros(2, requires_grad=True), s])

    want = _error(lambda: sparse_param(torch))
    assert want is not None and _error(lambda: sparse_param(gpugrad)) == want


def test_defaults_are_torch():
    ours = optim.SparseAdam([gpugrad.zeros(2, requires_grad=True)]).defaults
    theirs = torch.optim.SparseAdam([torch.zeros(2, requires_grad=True)]).defaults
    assert ours == theirs


def test_zero_grad_keeping_a_sparse_grad_empties_it_as_torch():
    results = []
    for lib in (gpugrad, torch):
        w = lib.ones(4, 2, requires_grad=True)
        g = _sparse(lib, [[0, 2]], np.ones((2, 2), np.float32), (4, 2))
        w.grad = g
        opt = lib.optim.SparseAdam([w])
        opt.zero_grad(set_to_none=False)
        assert w.grad is g and w.grad.is_sparse
        results.append((w.grad._nnz(), tuple(w.grad.shape), w.grad.to_dense().sum().item()))
        opt.step()  # an empty gradient changes nothing
        np.testing.assert_array_equal(w.detach().numpy(), 1.0)
    assert results[0] == results[1] == (0, (4, 2), 0.0)
