"""linalg decompositions (svd, svdvals, eigh, eigvalsh, qr, cholesky, cholesky_ex), the
matrix norms through them, vector_norm's edge cases and matmul / stack node names, against
PyTorch (values, gradients, grad_fn names, errors) and gradcheck in float64."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
LA, GLA = torch.linalg, gpugrad.linalg


def _pair(shape, seed=0, rg=True, dtype="float64"):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return (
        torch.tensor(a, requires_grad=rg),
        gpugrad.tensor(a, requires_grad=rg),
    )


def _spd(n, batch=(), seed=0):
    a = np.random.default_rng(seed).standard_normal(batch + (n, n))
    s = a @ np.swapaxes(a, -1, -2) + n * np.eye(n)
    return torch.tensor(s, requires_grad=True), gpugrad.tensor(s, requires_grad=True)


def _close(g, t, atol=1e-8):
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), atol=atol, rtol=1e-6)


def _same_grads(tf, gf, ta, ga, seed=1):
    """The gradients of sum(w * f(A)) for a random w, torch against gpugrad."""
    tout, gout = tf(ta), gf(ga)
    w = np.random.default_rng(seed).standard_normal(tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    (gout * gpugrad.tensor(w)).sum().backward()
    _close(ga.grad, ta.grad, atol=1e-7)
    return tout, gout


# sign-invariant functions of U / V (their columns are defined up to sign)
def _svd_fn(lib, full=False):
    la = LA if lib is torch else GLA

    def f(A):
        U, S, Vh = la.svd(A, full_matrices=full)
        k = S.shape[-1]
        u, vh = U[..., :k], Vh[..., :k, :]
        return (u * S.unsqueeze(-2)) @ vh + (u @ vh) * 0.5 + S.sum(-1, keepdim=True).unsqueeze(-1)

    return f


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (4, 4), (2, 5, 3), (2, 3, 4)])
def test_svd_values_grads_vs_torch(shape):
    ta, ga = _pair(shape)
    U, S, Vh = GLA.svd(ga, full_matrices=False)
    tS = LA.svdvals(ta)
    _close(S, tS)
    _close(U @ (S.unsqueeze(-1) * Vh), ta)  # reconstructs A
    assert type(S.grad_fn).__name__ == "LinalgSvdBackward0"
    _same_grads(_svd_fn(torch), _svd_fn(gpugrad), ta, ga)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_svd_full_matrices_grad_narrows(shape):
    ta, ga = _pair(shape)
    U, S, Vh = GLA.svd(ga)
    assert U.shape == (shape[0], shape[0]) and Vh.shape == (shape[1], shape[1])
    _same_grads(_svd_fn(torch, True), _svd_fn(gpugrad, True), ta, ga)


def test_svd_named_tuple_and_errors():
    _, ga = _pair((3, 2), rg=False)
    r = GLA.svd(ga)
    assert r._fields == ("U", "S", "Vh") and "linalg_svd(" in repr(r)
    with pytest.raises(RuntimeError, match="must have at least 2 dimensions"):
        GLA.svd(gpugrad.ones(3))
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor"):
        GLA.svd(gpugrad.ones(3, 3, dtype=gpugrad.int64))


def test_svdvals_repeated_values_grad_finite():
    # identity: all singular values equal; svdvals' gradient must not divide by 0
    ga = gpugrad.tensor(np.eye(3), requires_grad=True)
    GLA.svdvals(ga).sum().backward()
    np.testing.assert_allclose(ga.grad.numpy(), np.eye(3))


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
def test_svd_gradcheck(shape):
    _, ga = _pair(shape)
    assert gradcheck(lambda a: GLA.svdvals(a), (ga,))
    assert gradcheck(_svd_fn(gpugrad), (ga,))


@pytest.mark.parametrize("batch", [(), (2,)])
def test_eigh_vs_torch(batch):
    ta, ga = _spd(4, batch)
    w, v = GLA.eigh(ga)
    _close(w, LA.eigvalsh(ta))
    _close((v * w.unsqueeze(-2)) @ v.mT, ta)
    assert type(w.grad_fn).__name__ == "LinalgEighBackward0"

    def f(lib):
        la = LA if lib is torch else GLA
        return lambda A: (lambda r: (r[1] * r[1]) * r[0].unsqueeze(-2))(la.eigh(A))

    _same_grads(f(torch), f(gpugrad), ta, ga)
    ta2, ga2 = _spd(4, batch, seed=3)
    _same_grads(LA.eigvalsh, GLA.eigvalsh, ta2, ga2)


def test_eigh_upper_and_errors():
    _, ga = _pair((3, 3), rg=False)
    tw = LA.eigvalsh(torch.tensor(ga.numpy()), UPLO="U")
    _close(GLA.eigvalsh(ga, UPLO="U"), tw)
    with pytest.raises(RuntimeError, match="Expected UPLO argument to be 'L' or 'U', but got X"):
        GLA.eigh(ga, UPLO="X")
    with pytest.raises(RuntimeError, match="must be batches of square matrices"):
        GLA.eigh(gpugrad.ones(2, 3))
    assert GLA.eigh(ga)._fields == ("eigenvalues", "eigenvectors")


def test_eigh_gradcheck():
    _, ga = _pair((3, 3))
    sym = lambda a: a + a.mT  # noqa: E731 - gradcheck on the symmetric part, as PyTorch's
    assert gradcheck(lambda a: GLA.eigvalsh(sym(a)), (ga,))
    assert gradcheck(lambda a: (lambda r: r[1] * r[1] * r[0])(GLA.eigh(sym(a))), (ga,))


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (2, 4, 3), (3, 5)])
def test_qr_vs_torch(shape):
    ta, ga = _pair(shape)
    Q, R = GLA.qr(ga)
    tQ, tR = LA.qr(ta)
    _close(Q, tQ)
    _close(R, tR)
    assert type(Q.grad_fn).__name__ == "LinalgQrBackward0"

    def f(lib):
        la = LA if lib is torch else GLA
        return lambda A: (lambda r: r[0].sum(-1, keepdim=True) * r[1][..., :1, :])(la.qr(A))

    _same_grads(f(torch), f(gpugrad), ta, ga)
    assert gradcheck(lambda a: GLA.qr(a)[0] + GLA.qr(a)[1].sum(), (ga.detach().requires_grad_(),))


def test_qr_modes_and_errors():
    _, ga = _pair((5, 3))
    Q, R = GLA.qr(ga, mode="complete")
    assert Q.shape == (5, 5) and R.shape == (5, 3)
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete'"):
        (Q.sum() + R.sum()).backward()
    Q, R = GLA.qr(ga, mode="r")
    assert Q.shape == (0,) and R.shape == (3, 3)
    with pytest.raises(RuntimeError, match="depends on Q, which is not computed when mode='r'"):
        R.sum().backward()
    with pytest.raises(RuntimeError, match="unrecognized mode 'x'"):
        GLA.qr(ga, mode="x")


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("batch", [(), (3,)])
def test_cholesky_vs_torch(upper, batch):
    ta, ga = _spd(4, batch)
    L = GLA.cholesky(ga, upper=upper)
    _close(L, LA.cholesky(ta, upper=upper))
    assert type(L.grad_fn).__name__ == "LinalgCholeskyExBackward0"
    _same_grads(
        lambda A: LA.cholesky(A, upper=upper), lambda A: GLA.cholesky(A, upper=upper), ta, ga
    )


def test_cholesky_gradcheck():
    _, ga = _pair((3, 3))
    eye = gpugrad.tensor(np.eye(3) * 3)
    assert gradcheck(lambda a: GLA.cholesky(a @ a.mT + eye), (ga,))


def test_cholesky_errors_and_ex():
    bad = [[1.0, 2.0], [2.0, 1.0]]
    with pytest.raises(GLA.LinAlgError, match=r"leading minor of order 2 is not positive"):
        GLA.cholesky(gpugrad.tensor(bad))
    with pytest.raises(RuntimeError, match=r"\(Batch element 1\): The factorization"):
        GLA.cholesky(gpugrad.tensor([np.eye(2).tolist(), bad]))
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        GLA.cholesky(gpugrad.ones(3, 3, dtype=gpugrad.int64))
    r = GLA.cholesky_ex(gpugrad.tensor([np.eye(2).tolist(), bad]))
    assert r._fields == ("L", "info") and r.info.dtype == gpugrad.int32
    assert r.info.tolist() == [0, 2]
    np.testing.assert_allclose(r.L.numpy()[0], np.eye(2))
    t = LA.cholesky_ex(torch.tensor([[4.0, 2, 1], [2, 1, 3], [1, 3, 1]]))
    g = GLA.cholesky_ex(gpugrad.tensor([[4.0, 2, 1], [2, 1, 3], [1, 3, 1]]))
    assert int(g.info) == int(t.info) == 2


@pytest.mark.parametrize("ord", [2, -2, "nuc", "fro", 1, float("inf")])
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2), (2, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm_vs_torch(ord, dim, keepdim):
    ta, ga = _pair((3, 2, 4))
    tn, gn = _same_grads(
        lambda A: LA.matrix_norm(A, ord, dim, keepdim),
        lambda A: GLA.matrix_norm(A, ord, dim, keepdim),
        ta,
        ga,
    )
    _close(gn, tn)
    assert type(gn.grad_fn).__name__ == type(tn.grad_fn).__name__


def test_linalg_norm_ord2_and_errors():
    ta, ga = _pair((3, 4))
    _close(GLA.norm(ga, 2), LA.norm(ta, 2))
    _close(GLA.norm(ga, "nuc"), LA.norm(ta, "nuc"))
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        GLA.matrix_norm(ga, 3)


# ---- vector_norm -----------------------------------------------------------------------
ORDS = [0.5, 0, float("inf"), float("-inf"), 1, 2, 3, -1, 1.5, -0.5]
VALUES = [
    [0.0, 1.0, -2.0, 0.0, 2.0],
    [0.0, 0.0, 0.0],
    [1.0, float("nan"), 3.0],
    [1.0, float("inf"), 3.0],
    [3.0, -3.0, 1.0],
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("ord", ORDS)
@pytest.mark.parametrize("vals", VALUES)
def test_vector_norm_value_and_grad_at_edges(ord, vals):
    t = torch.tensor(vals, requires_grad=True)
    g = gpugrad.tensor(vals, requires_grad=True)
    tn, gn = LA.vector_norm(t, ord), GLA.vector_norm(g, ord)
    np.testing.assert_allclose(gn.item(), tn.item(), rtol=1e-6, equal_nan=True)
    assert type(gn.grad_fn).__name__ == "LinalgVectorNormBackward0"
    tn.backward()
    gn.backward()
    if t.grad is None:
        assert g.grad is None
    else:
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("ord", [2, 1, 3, float("inf"), 0.5])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, True), ((0, 2), False), ((), True)])
def test_vector_norm_dims_and_gradcheck(ord, dim, keepdim):
    ta, ga = _pair((2, 3, 4))
    tn, gn = _same_grads(
        lambda A: LA.vector_norm(A, ord, dim, keepdim),
        lambda A: GLA.vector_norm(A, ord, dim, keepdim),
        ta,
        ga,
    )
    _close(gn, tn)
    assert gradcheck(
        lambda a: GLA.vector_norm(a, ord, dim, keepdim), (ga.detach().requires_grad_(),)
    )


def test_vector_norm_float16_accumulates_in_float32():
    g = GLA.vector_norm(gpugrad.tensor([300.0, 300.0], dtype=gpugrad.float16))
    t = LA.vector_norm(torch.tensor([300.0, 300.0], dtype=torch.float16))
    assert g.dtype == gpugrad.float16 and g.item() == t.item()
    x = gpugrad.tensor([300.0, 300.0], dtype=gpugrad.float16, requires_grad=True)
    GLA.vector_norm(x).backward()
    assert x.grad.dtype == gpugrad.float16
    np.testing.assert_allclose(x.grad.numpy().astype("float64"), [0.7071] * 2, atol=1e-3)


@pytest.mark.parametrize("ord", [0.5, 0, 1, 2, float("inf"), float("-inf"), -1])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_vector_norm_zero_size(ord, dim):
    t, g = torch.zeros(0, 3), gpugrad.zeros(0, 3)
    try:
        want = LA.vector_norm(t, ord, dim)
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match="does not have an identity") as got:
            GLA.vector_norm(g, ord, dim)
        assert str(got.value) == str(e)
        return
    got = GLA.vector_norm(g, ord, dim)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_vector_norm_errors():
    with pytest.raises(
        RuntimeError, match="Expected a floating point or complex tensor as input. Got Long"
    ):
        GLA.vector_norm(gpugrad.ones(3, dtype=gpugrad.int64))
    with pytest.raises(RuntimeError, match=r"\(Double\) should be convertible without narrowing"):
        GLA.vector_norm(gpugrad.ones(3, dtype=gpugrad.float64), dtype=gpugrad.float32)
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times"):
        GLA.vector_norm(gpugrad.ones(2, 3), dim=(0, 0))
    with pytest.raises(TypeError, match="must be Number, not str"):
        GLA.vector_norm(gpugrad.ones(3), "fro")
    assert GLA.vector_norm(gpugrad.ones(3), dtype=gpugrad.float64).dtype == gpugrad.float64


# ---- node names of matmul and stack; narrow's errors -----------------------------------
MATMUL_SHAPES = [
    ((3,), (3, 4)),
    ((4, 3), (3,)),
    ((2, 4, 3), (2, 3, 5)),
    ((2, 4, 3), (3, 5)),
    ((3,), (2, 3, 5)),
    ((2, 3), (2, 3, 5)),
    ((2, 3, 4), (4,)),
    ((1, 2, 3), (2, 3, 4)),
    ((3,), (3,)),
    ((2, 3), (3, 4)),
    ((2, 3), (4, 2, 3, 5)),
    ((1, 2, 3), (1, 3, 5)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
@pytest.mark.parametrize("ra,rb", [(True, True), (True, False), (False, True)])
def test_matmul_records_torchs_node(sa, sb, ra, rb):
    a = np.random.default_rng(0).standard_normal(sa)
    b = np.random.default_rng(1).standard_normal(sb)
    ta, tb = torch.tensor(a, requires_grad=ra), torch.tensor(b, requires_grad=rb)
    ga, gb = gpugrad.tensor(a, requires_grad=ra), gpugrad.tensor(b, requires_grad=rb)
    t, g = ta @ tb, ga @ gb
    assert type(g.grad_fn).__name__ == type(t.grad_fn).__name__
    w = np.random.default_rng(2).standard_normal(tuple(t.shape))
    (t * torch.tensor(w)).sum().backward()
    (g * gpugrad.tensor(w)).sum().backward()
    for gx, tx in ((ga, ta), (gb, tb)):
        if tx.requires_grad:
            _close(gx.grad, tx.grad)


def test_bmm_and_stack_nodes():
    a = gpugrad.randn(2, 3, 4, requires_grad=True)
    assert type(gpugrad.bmm(a, gpugrad.randn(2, 4, 5)).grad_fn).__name__ == "BmmBackward0"
    x = gpugrad.randn(2, 3, requires_grad=True)
    y = gpugrad.randn(2, 3, dtype=gpugrad.float64, requires_grad=True)
    s = gpugrad.stack([x, y], 1)
    assert type(s.grad_fn).__name__ == "StackBackward0" and s.shape == (2, 2, 3)
    assert s.dtype == gpugrad.float64
    w = gpugrad.randn(2, 2, 3, dtype=gpugrad.float64)
    (s * w).sum().backward()
    assert x.grad.dtype == gpugrad.float32 and y.grad.dtype == gpugrad.float64
    np.testing.assert_allclose(x.grad.numpy(), w.numpy()[:, 0], rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), w.numpy()[:, 1])
    c = gpugrad.cat([x, y], 0)
    c.sum().backward()
    assert x.grad.dtype == gpugrad.float32
    p, q = gpugrad.randn(2, 3, dtype=gpugrad.float64), gpugrad.randn(2, 3, dtype=gpugrad.float64)
    assert gradcheck(
        lambda p, q: gpugrad.stack([p, q], -1), (p.requires_grad_(), q.requires_grad_())
    )


@pytest.mark.parametrize(
    "args", [(0, 2, 3), (0, 4, 0), (0, -1, 1), (0, -4, 1), (0, 1, -1), (0, 3, 0), (0, -3, 3)]
)
def test_narrow_errors_as_torch(args):
    try:
        want = torch.ones(3).narrow(*args)
    except (RuntimeError, IndexError) as e:
        with pytest.raises(type(e)) as got:
            gpugrad.ones(3).narrow(*args)
        assert str(got.value) == str(e)
        return
    assert tuple(gpugrad.ones(3).narrow(*args).shape) == tuple(want.shape)


@pytest.mark.parametrize(
    "op", ["svd", "svdvals", "eigh", "eigvalsh", "qr", "cholesky", "cholesky_ex"]
)
@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 3), (3, 0)])
def test_empty_matrices_as_torch(op, shape):
    square = op not in ("svd", "svdvals", "qr")
    if square and shape[-1] != shape[-2]:
        return
    t = getattr(LA, op)(torch.zeros(shape))
    g = getattr(GLA, op)(gpugrad.zeros(shape))
    t, g = (t, g) if isinstance(t, tuple) else ((t,), (g,))
    assert [tuple(x.shape) for x in g] == [tuple(x.shape) for x in t]


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: GLA.svdvals(a),
        lambda a: GLA.svd(a, full_matrices=False)[0] ** 2,
        lambda a: GLA.eigvalsh(a + a.mT),
        lambda a: GLA.eigh(a + a.mT)[1] ** 2,
        lambda a: GLA.qr(a)[1],
        lambda a: GLA.cholesky(a @ a.mT + gpugrad.tensor(np.eye(3) * 3)),
        lambda a: GLA.matrix_norm(a, "nuc"),
        lambda a: GLA.vector_norm(a, 3),
    ],
)
def test_second_order_gradients(fn):
    _, ga = _pair((3, 3), seed=4)
    assert gradgradcheck(fn, (ga,))


@pytest.mark.parametrize("shape", [(2, 3, 4), (4,), (5, 2, 3, 4), (0, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_nd_records_torchs_nodes(shape, bias):
    a, w, b = _x3(shape)
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(w, requires_grad=True)
    gx, gw = gpugrad.tensor(a, requires_grad=True), gpugrad.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if bias else None
    gb = gpugrad.tensor(b, requires_grad=True) if bias else None
    t = torch.nn.functional.linear(tx, tw, tb)
    g = gpugrad.nn.functional.linear(gx, gw, gb)
    assert type(g.grad_fn).__name__ == type(t.grad_fn).__name__
    _close(g, t)
    (t**2).sum().backward()
    (g**2).sum().backward()
    for gg, tt in ((gx, tx), (gw, tw)) + (((gb, tb),) if bias else ()):
        _close(gg.grad, tt.grad)


def _x3(shape):
    rng = np.random.default_rng(0)
    return rng.standard_normal(shape), rng.standard_normal((6, 4)), rng.standard_normal(6)
