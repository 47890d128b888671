"""Sparse COO tensors against torch.sparse: construction, repr, coalesce, products, sums,
gradients (gradcheck and torch's), errors, and a GCN layer trained as its dense twin."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F
from tests.utils import assert_close, host, rnd

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

warnings.filterwarnings("ignore", message="Sparse invariant checks")

IDX = [[0, 1, 1, 0, 2], [2, 0, 2, 2, 1]]  # (0, 2) twice: uncoalesced
VAL = [3.0, 4.0, 5.0, -1.0, 2.0]


def pair(device, idx=IDX, val=VAL, size=(3, 3), requires_grad=False):
    """The same sparse tensor in gpugrad (on device) and torch, values as leaves."""
    gv = gpugrad.tensor(val, dtype=gpugrad.float64, device=device, requires_grad=requires_grad)
    tv = torch.tensor(val, dtype=torch.float64, requires_grad=requires_grad)
    gi = gpugrad.tensor(idx, device=device)
    return (
        gpugrad.sparse_coo_tensor(gi, gv, size),
        torch.sparse_coo_tensor(torch.tensor(idx), tv, size),
        gv,
        tv,
    )


def test_construction_and_metadata(device):
    g, t, _, _ = pair(device)
    assert isinstance(g, gpugrad.Tensor)
    assert g.is_sparse and g.layout is gpugrad.sparse_coo
    assert gpugrad.ones(2).layout is gpugrad.strided and not gpugrad.ones(2).is_sparse
    assert tuple(g.shape) == tuple(t.shape) and g.dim() == 2
    assert g._nnz() == t._nnz() == 5
    assert g.sparse_dim() == t.sparse_dim() and g.dense_dim() == t.dense_dim()
    assert g.is_coalesced() == t.is_coalesced() is False
    assert_close(g.to_dense(), t.to_dense().numpy())
    assert_close(g._values(), t._values().numpy())
    assert_close(g._indices(), t._indices().numpy())


def test_inferred_size_and_dtype():
    g = gpugrad.sparse_coo_tensor([[0, 3], [1, 0]], [1.0, 2.0])
    t = torch.sparse_coo_tensor([[0, 3], [1, 0]], [1.0, 2.0])
    assert tuple(g.shape) == tuple(t.shape) == (4, 2)
    assert str(g.dtype).split(".")[1] == str(t.dtype).split(".")[1] == "float32"
    assert gpugrad.sparse_coo_tensor([[0, 1]], [1, 2]).dtype is gpugrad.int64


def test_repr_matches_torch():
    def same(g, t):
        assert repr(g).replace("gpugrad.", "torch.") == repr(t)

    g, t, _, _ = pair("cpu")
    same(g, t)
    same(g.coalesce(), t.coalesce())
    g, t, _, _ = pair("cpu", requires_grad=True)
    same(
        gpugrad.sparse_coo_tensor(g._indices(), g._values().detach(), (3, 3), requires_grad=True),
        torch.sparse_coo_tensor(t._indices(), t._values().detach(), (3, 3), requires_grad=True),
    )
    empty = gpugrad.sparse_coo_tensor(
        gpugrad.zeros(2, 0, dtype=gpugrad.int64), gpugrad.zeros(0), (2, 3)
    )
    same(
        empty, torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0), (2, 3))
    )
    hybrid = ([[0, 0], [1, 1]], [[1.0, 2.0], [3.0, 4.0]], (2, 2, 2))
    same(gpugrad.sparse_coo_tensor(*hybrid), torch.sparse_coo_tensor(*hybrid))


def test_coalesce_indices_values(device):
    g, t, _, _ = pair(device)
    with pytest.raises(RuntimeError, match="Cannot get values on an uncoalesced tensor"):
        g.values()
    with pytest.raises(RuntimeError, match="Cannot get indices on an uncoalesced tensor"):
        g.indices()
    gc, tc = g.coalesce(), t.coalesce()
    assert gc.is_coalesced() and gc._nnz() == tc._nnz() == 4
    assert_close(gc.indices(), tc.indices().numpy())
    assert_close(gc.values(), tc.values().numpy())
    assert gc.coalesce() is gc


def test_to_sparse_of_dense(device):
    x = np.diag([1.0, 2.0, 0.0, 3.0])
    g = gpugrad.tensor(x, device=device).to_sparse()
    t = torch.tensor(x).to_sparse()
    assert g.is_coalesced()
    assert_close(g.indices(), t.indices().numpy())
    assert_close(g.values(), t.values().numpy())
    assert_close(g.to_dense(), x)
    h = gpugrad.tensor(
        np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]]), device=device
    ).to_sparse(1)
    th = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]]).to_sparse(1)
    assert h.dense_dim() == th.dense_dim() == 2
    assert_close(h.values(), th.values().numpy())


@pytest.mark.parametrize("entry", ["sparse.mm", "spmm", "mm", "matmul", "@"])
def test_products_values_and_gradients(device, entry):
    g, t, gv, tv = pair(device, requires_grad=True)
    d = rnd(3, 4)
    gd = gpugrad.tensor(d, device=device, requires_grad=True)
    td = torch.tensor(d, requires_grad=True)
    fns = {
        "sparse.mm": (gpugrad.sparse.mm, torch.sparse.mm),
        "spmm": (gpugrad.spmm, torch.spmm),
        "mm": (gpugrad.mm, torch.mm),
        "matmul": (gpugrad.matmul, torch.matmul),
        "@": (lambda a, b: a @ b, lambda a, b: a @ b),
    }[entry]
    go, to = fns[0](g, gd), fns[1](t, td)
    assert not go.is_sparse
    assert_close(go, to.detach().numpy())
    up = rnd(3, 4)
    go.backward(gpugrad.tensor(up, device=device))
    to.backward(torch.tensor(up))
    assert_close(gd.grad, td.grad.numpy())
    assert_close(gv.grad, tv.grad.numpy())


def test_dense_times_sparse_and_vector(device):
    g, t, _, _ = pair(device)
    d = rnd(2, 3)
    assert_close(
        gpugrad.mm(gpugrad.tensor(d, device=device), g), torch.mm(torch.tensor(d), t).numpy()
    )
    v = rnd(3)
    assert_close(
        gpugrad.matmul(g, gpugrad.tensor(v, device=device)),
        torch.matmul(t, torch.tensor(v)).numpy(),
    )


def test_gradcheck_product_in_values_and_dense(device):
    idx = gpugrad.tensor(IDX, device=device)

    def f(values, dense):
        return gpugrad.sparse.mm(gpugrad.sparse_coo_tensor(idx, values, (3, 3)), dense)

    v = gpugrad.tensor(rnd(5), device=device, requires_grad=True)
    d = gpugrad.tensor(rnd(3, 2), device=device, requires_grad=True)
    assert gpugrad.autograd.gradcheck(f, (v, d))
    assert gpugrad.autograd.gradgradcheck(f, (v, d))


def test_gradcheck_to_dense_coalesce_sum(device):
    idx = gpugrad.tensor(IDX, device=device)

    def dense_of(values):
        return gpugrad.sparse_coo_tensor(idx, values, (3, 3)).coalesce().to_dense()

    def row_sums(values):
        s = gpugrad.sparse.sum(gpugrad.sparse_coo_tensor(idx, values, (3, 3)), 1)
        return s.to_dense()

    v = gpugrad.tensor(rnd(5), device=device, requires_grad=True)
    assert gpugrad.autograd.gradcheck(dense_of, (v,))
    assert gpugrad.autograd.gradcheck(row_sums, (v,))
    # through to_sparse the gradient is masked by the sparsity pattern, as in PyTorch (so a
    # finite difference, which moves zeros off the pattern, does not apply): compare to torch
    d, up = np.diag(rnd(4)), rnd(4, 4)
    x = gpugrad.tensor(d, device=device, requires_grad=True)
    tx = torch.tensor(d, requires_grad=True)
    x.to_sparse().to_dense().backward(gpugrad.tensor(up, device=device))
    tx.to_sparse().to_dense().backward(torch.tensor(up))
    assert_close(x.grad, tx.grad.numpy())


def test_sparse_sum_matches_torch(device):
    g, t, gv, tv = pair(device, requires_grad=True)
    assert_close(gpugrad.sparse.sum(g), torch.sparse.sum(t).detach().numpy())
    for dim in (0, 1, (0, 1), -1):
        gs, ts = gpugrad.sparse.sum(g, dim), torch.sparse.sum(t, dim)
        assert gs.is_sparse == ts.is_sparse
        assert_close(gs.to_dense(), ts.to_dense().detach().numpy())
    gpugrad.sparse.sum(g, 0).to_dense().sum().backward()
    torch.sparse.sum(t, 0).to_dense().sum().backward()
    assert_close(gv.grad, tv.grad.numpy())


def test_sparse_leaf_grad_is_sparse(device):
    d = rnd(3, 2)
    g = gpugrad.sparse_coo_tensor(
        gpugrad.tensor(IDX, device=device),
        gpugrad.tensor(VAL, dtype=gpugrad.float64, device=device),
        (3, 3),
        requires_grad=True,
    )
    t = torch.sparse_coo_tensor(
        torch.tensor(IDX), torch.tensor(VAL, dtype=torch.float64), (3, 3), requires_grad=True
    )
    assert g.is_leaf and g.requires_grad
    gpugrad.sparse.mm(g, gpugrad.tensor(d, device=device)).sum().backward()
    torch.sparse.mm(t, torch.tensor(d)).sum().backward()
    assert g.grad.is_sparse
    assert_close(g.grad.to_dense(), t.grad.to_dense().numpy())


def test_conversions_and_detach(device):
    g, _, _, _ = pair(device, requires_grad=True)
    assert g.to(device) is g and g.double() is g
    f = g.float()
    assert f.is_sparse and f.dtype is gpugrad.float32
    assert_close(f.to_dense(), host(g.to_dense()), rtol=1e-6)
    dt = g.detach()
    assert dt.is_sparse and not dt.requires_grad
    gt = g.t()
    assert_close(gt.to_dense(), host(g.to_dense()).T)


def test_errors_match_torch(device):
    g, t, _, _ = pair(device)

    def both(fn_g, fn_t):
        with pytest.raises(Exception) as eg:
            fn_g()
        with pytest.raises(Exception) as et:
            fn_t()
        assert type(eg.value) is type(et.value)
        return str(eg.value), str(et.value)

    msg_g, msg_t = both(lambda: g.exp(), lambda: t.exp())
    key = "SparseCUDA" if device == "cuda" else "SparseCPU"
    assert msg_g.startswith(f"Could not run 'aten::exp' with arguments from the '{key}'")
    assert msg_t.startswith("Could not run 'aten::exp' with arguments from the 'SparseCPU'")
    assert (
        both(lambda: g.numpy(), lambda: t.numpy())[0]
        == both(lambda: g.numpy(), lambda: t.numpy())[1]
    )
    gi, ti = gpugrad.tensor([[0, 2]], device=device), torch.tensor([[0, 2]])
    a, b = both(
        lambda: gpugrad.sparse_coo_tensor(gi, gpugrad.ones(2, device=device), (2,)),
        lambda: torch.sparse_coo_tensor(ti, torch.ones(2), (2,), check_invariants=True),
    )
    assert a == b
    a, b = both(
        lambda: gpugrad.sparse_coo_tensor(gi, gpugrad.ones(3, device=device), (3,)),
        lambda: torch.sparse_coo_tensor(ti, torch.ones(3), (3,)),
    )
    assert a == b
    a, b = both(
        lambda: gpugrad.sparse_coo_tensor(gi, gpugrad.ones(2, device=device), (3, 3)),
        lambda: torch.sparse_coo_tensor(ti, torch.ones(2), (3, 3)),
    )
    assert a == b
    a, b = both(
        lambda: gpugrad.sparse.mm(g, gpugrad.ones(3, 2, device=device)),
        lambda: torch.sparse.mm(t, torch.ones(3, 2)),
    )
    assert a == b  # float64 values with a float32 dense operand
    a, b = both(
        lambda: gpugrad.sparse.mm(g, gpugrad.ones(2, 2, dtype=gpugrad.float64, device=device)),
        lambda: torch.sparse.mm(t, torch.ones(2, 2, dtype=torch.float64)),
    )
    assert a == b
    a, b = both(
        lambda: gpugrad.sparse.sum(gpugrad.ones(2, device=device)),
        lambda: torch.sparse.sum(torch.ones(2)),
    )
    assert a == b


class _GCN:
    """Two graph-convolution layers, relu between: the same weights in both frameworks."""

    def __init__(self, lib, w1, w2, device=None):
        kw = {"device": device} if device else {}
        self.w1 = lib.tensor(w1, requires_grad=True, **kw)
        self.w2 = lib.tensor(w2, requires_grad=True, **kw)

    def __call__(self, adj, x, lib):
        h = lib.relu(lib.spmm(adj, x @ self.w1))
        return lib.sparse.mm(adj, h @ self.w2) if adj.is_sparse else adj @ (h @ self.w2)


def _normalized_adjacency(n: int, rng) -> np.ndarray:
    a = (rng.random((n, n)) < 0.25).astype(np.float64)
    a = np.maximum(a, a.T) + np.eye(n)
    d = 1 / np.sqrt(a.sum(1))
    return d[:, None] * a * d[None, :]


def test_gcn_trains_as_its_dense_twin(device):
    rng = np.random.default_rng(0)
    n, f, h, c = 12, 5, 8, 3
    adj = _normalized_adjacency(n, rng)
    x = rng.standard_normal((n, f))
    y = rng.integers(0, c, n)
    w1, w2 = rng.standard_normal((f, h)) * 0.3, rng.standard_normal((h, c)) * 0.3

    def train(sparse_adj, lib, model, x, y, steps=5):
        losses = []
        for _ in range(steps):
            out = model(sparse_adj, x, lib)
            loss = (F if lib is gpugrad else torch.nn.functional).cross_entropy(out, y)
            loss.backward()
            with lib.no_grad():
                for w in (model.w1, model.w2):
                    w -= 0.5 * w.grad
                    w.grad = None
            losses.append(float(loss))
        return losses

    kw = {"device": device}
    g_sparse = gpugrad.tensor(adj, **kw).to_sparse()
    g_losses = train(
        g_sparse,
        gpugrad,
        _GCN(gpugrad, w1, w2, device),
        gpugrad.tensor(x, **kw),
        gpugrad.tensor(y, **kw),
    )
    g_dense = train(
        gpugrad.tensor(adj, **kw),
        gpugrad,
        _GCN(gpugrad, w1, w2, device),
        gpugrad.tensor(x, **kw),
        gpugrad.tensor(y, **kw),
    )
    t_losses = train(
        torch.tensor(adj).to_sparse(), torch, _GCN(torch, w1, w2), torch.tensor(x), torch.tensor(y)
    )
    np.testing.assert_allclose(g_losses, g_dense, rtol=1e-10)
    np.testing.assert_allclose(g_losses, t_losses, rtol=1e-10)
    assert g_losses[-1] < g_losses[0]


def test_legacy_pygcn_constructor():
    i = gpugrad.tensor(IDX)
    v = gpugrad.tensor(VAL)
    s = gpugrad.sparse.FloatTensor(i, v, gpugrad.Size([3, 3]))
    t = torch.sparse.FloatTensor(torch.tensor(IDX), torch.tensor(VAL), torch.Size([3, 3]))
    assert s.is_sparse and s.dtype is gpugrad.float32
    assert_close(s.to_dense(), t.to_dense().numpy())


def test_float16_and_integer_products_as_torch(device):
    for gdt, tdt in ((gpugrad.float16, torch.float16), (gpugrad.int64, torch.int64)):
        if device == "cuda" and gdt is gpugrad.int64:
            continue  # cuSPARSE multiplies floating-point matrices only (a documented limit)
        g = gpugrad.sparse_coo_tensor(
            gpugrad.tensor(IDX, device=device),
            gpugrad.tensor([3, 4, 5, -1, 2], dtype=gdt, device=device),
            (3, 3),
        )
        t = torch.sparse_coo_tensor(
            torch.tensor(IDX), torch.tensor([3, 4, 5, -1, 2], dtype=tdt), (3, 3)
        )
        d = np.arange(6).reshape(3, 2)
        out = gpugrad.sparse.mm(g, gpugrad.tensor(d, dtype=gdt, device=device))
        ref = torch.sparse.mm(t, torch.tensor(d, dtype=tdt))
        assert out.dtype is gdt
        np.testing.assert_array_equal(host(out), ref.numpy())
