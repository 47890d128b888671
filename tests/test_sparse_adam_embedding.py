"""nn.Embedding(sparse=True): sparse COO weight gradients as PyTorch's (one row per lookup,
padding_idx left out), accumulated across backward calls and uses, trained by SparseAdam."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import nn, optim

torch = pytest.importorskip("torch")


def _pair(**kw):
    e = nn.Embedding(10, 3, sparse=True, **kw)
    et = torch.nn.Embedding(10, 3, sparse=True, **kw)
    with torch.no_grad():
        et.weight.copy_(torch.tensor(e.weight.detach().numpy()))
    return e, et


@pytest.mark.parametrize("kw", [dict(), dict(padding_idx=2), dict(padding_idx=-1)])
def test_sparse_grads_and_sparse_adam_match_torch(kw):
    rng = np.random.default_rng(0)
    e, et = _pair(**kw)
    og = optim.SparseAdam(e.parameters(), lr=0.1)
    ot = torch.optim.SparseAdam(et.parameters(), lr=0.1)
    for _ in range(4):
        ids = rng.integers(0, 10, (4, 5))
        up = rng.standard_normal((4, 5, 3)).astype(np.float32)
        og.zero_grad()
        ot.zero_grad()
        for lib, emb in ((gpugrad, e), (torch, et)):
            (emb(lib.tensor(ids)) * lib.tensor(up)).sum().backward()
            (emb(lib.tensor(ids[:2])) * lib.tensor(up[:2])).sum().backward()  # accumulates
        assert e.weight.grad.is_sparse and et.weight.grad.is_sparse
        np.testing.assert_allclose(
            e.weight.grad.to_dense().numpy(), et.weight.grad.to_dense().numpy(), rtol=1e-6
        )
        og.step()
        ot.step()
    np.testing.assert_allclose(e.weight.detach().numpy(), et.weight.detach().numpy(), rtol=1e-5)


def test_one_table_used_twice_in_a_graph():
    e, et = _pair()
    ids = np.array([3, 1, 3])
    for lib, emb in ((gpugrad, e), (torch, et)):
        a, b = emb(lib.tensor(ids)), emb(lib.tensor(ids[::-1].copy()))
        (a.sum() + (b * b).sum()).backward()
    assert e.weight.grad.is_sparse
    np.testing.assert_allclose(
        e.weight.grad.to_dense().numpy(), et.weight.grad.to_dense().numpy(), rtol=1e-6
    )


def test_scale_grad_by_freq_refused_as_torch():
    msgs = []
    for lib, emb in zip((gpugrad, torch), _pair(scale_grad_by_freq=True)):
        with pytest.raises(RuntimeError) as err:
            emb(lib.tensor([1, 1, 2])).sum().backward()
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1]


def test_dense_path_is_kept_for_double_backward():
    e = nn.Embedding(5, 2, sparse=True)
    out = e(gpugrad.tensor([0, 1]))
    (g,) = gpugrad.autograd.grad((out * out).sum(), e.weight, create_graph=True)
    assert not g.is_sparse and g.requires_grad


def test_sparse_grad_into_a_non_leaf_fails_as_an_unsupported_sparse_op():
    w = gpugrad.randn(5, 2, requires_grad=True)
    out = gpugrad.nn.functional.embedding(gpugrad.tensor([0, 3]), w * 2, sparse=True)
    with pytest.raises(NotImplementedError, match="SparseCPU"):
        out.sum().backward()
