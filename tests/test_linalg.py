"""gpugrad.linalg and ops/linalg.py: einsum, addmm / baddbmm, norms, inv, det against NumPy in
float64, gradcheck, PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import linalg
from tests.utils import assert_close, check_grad, rnd, t

INF = float("inf")


def _well_conditioned(*shape):
    n = shape[-1]
    return rnd(*shape) + 3 * n * np.eye(n)  # diagonally dominant: safely invertible


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)])
def test_inv_det(shape, device):
    a = _well_conditioned(*shape)
    assert_close(linalg.inv(t(a, device)), np.linalg.inv(a))
    assert_close(linalg.det(t(a, device)), np.linalg.det(a))
    assert_close(gpugrad.inverse(t(a, device)), np.linalg.inv(a))
    assert_close(gpugrad.det(t(a, device)), np.linalg.det(a))
    check_grad(linalg.inv, a, device=device)
    check_grad(linalg.det, a, device=device)
    x = t(a, device, requires_grad=True)
    assert linalg.inv(x).grad_fn.name() == "LinalgInvExBackward0"
    assert linalg.det(x).grad_fn.name() == "LinalgDetBackward0"


def test_inv_second_order(device):
    a = _well_conditioned(3, 3)
    x = t(a, device, requires_grad=True)
    assert gpugrad.autograd.gradgradcheck(lambda m: linalg.inv(m).sum(), [x])


def _vector_norm_ref(a, ord, dim, keepdim):
    axes = tuple(range(a.ndim)) if dim is None else dim
    m = np.abs(a)
    if ord in (INF, -INF):
        return (m.max if ord > 0 else m.min)(axis=axes, keepdims=keepdim)
    return (m**ord).sum(axis=axes, keepdims=keepdim) ** (1 / ord)


@pytest.mark.parametrize("ord", [2, 1, INF, -INF, 3, 0.5])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), ((0, 2), True)])
def test_vector_norm(ord, dim, keepdim, device):
    a = rnd(2, 3, 4)
    ref = _vector_norm_ref(a, ord, dim, keepdim)
    out = linalg.vector_norm(t(a, device), ord, dim, keepdim)
    assert_close(out, ref)
    if ord not in (INF, -INF):  # max/min ties aside, every ord is smooth on random data
        check_grad(lambda x: linalg.vector_norm(x, ord, dim, keepdim), a, device=device)


@pytest.mark.parametrize("ord", ["fro", 1, -1, INF, -INF])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm(ord, keepdim, device):
    a = rnd(2, 3, 4)
    ref = np.linalg.norm(a, ord=ord, axis=(-2, -1), keepdims=keepdim)
    assert_close(linalg.matrix_norm(t(a, device), ord, keepdim=keepdim), ref)
    check_grad(lambda x: linalg.matrix_norm(x, ord, keepdim=keepdim), a, device=device)
    m = rnd(3, 4)
    assert_close(linalg.norm(t(m, device), ord), np.linalg.norm(m, ord))


def test_norm_dispatch(device):
    a = rnd(2, 3, 4)
    assert_close(linalg.norm(t(a, device)), np.sqrt((a * a).sum()))  # all elements
    assert_close(linalg.norm(t(a, device), dim=-1), np.linalg.norm(a, axis=-1))
    assert_close(linalg.norm(t(a, device), 1, dim=(1, 2)), np.linalg.norm(a, 1, axis=(1, 2)))
    assert_close(linalg.norm(t(a[0, 0], device), 3), np.linalg.norm(a[0, 0], 3))


def test_errors(device):
    with pytest.raises(
        RuntimeError, match="linalg.inv: A must be batches of square matrices, but they are 2 by 3"
    ):
        linalg.inv(t(rnd(2, 3), device))
    with pytest.raises(RuntimeError, match="must have at least 2 dimensions"):
        linalg.inv(t(rnd(3), device))
    with pytest.raises(
        RuntimeError, match="Expected a floating point or complex tensor as input. Got Long"
    ):
        linalg.det(gpugrad.ones(2, 2, dtype=gpugrad.int64, device=device))
    with pytest.raises(
        RuntimeError,
        match="If dim is not specified but ord is, the input must be 1D or 2D. Got 3D.",
    ):
        linalg.norm(t(rnd(2, 2, 2), device), 2)
    with pytest.raises(TypeError, match="argument 'ord' must be Number, not str"):
        linalg.vector_norm(t(rnd(2), device), "fro")


def test_singular_inverse_raises_on_cpu():
    with pytest.raises(RuntimeError, match="linalg.inv: The input matrix is singular"):
        linalg.inv(gpugrad.zeros(2, 2))


def test_namespace_is_torch_linalg():
    assert gpugrad.linalg is linalg and hasattr(gpugrad.linalg, "vector_norm")


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_cdist(p, device):
    x1, x2 = rnd(2, 3, 4), rnd(2, 5, 4)
    ref = (np.abs(x1[:, :, None] - x2[:, None]) ** p).sum(-1) ** (1 / p)
    assert_close(gpugrad.cdist(t(x1, device), t(x2, device), p=p), ref)
    check_grad(lambda a, b: gpugrad.cdist(a, b, p=p), x1, x2, device=device)
    with pytest.raises(RuntimeError, match="X1 and X2 must have the same number of columns"):
        gpugrad.cdist(t(rnd(2, 3), device), t(rnd(2, 4), device))


def test_det_inverse_methods(device):
    a = _well_conditioned(3, 3)
    assert_close(t(a, device).det(), np.linalg.det(a))
    assert_close(t(a, device).inverse(), np.linalg.inv(a))


def test_bernoulli(device):
    probs = gpugrad.tensor([0.0, 1.0, 0.0, 1.0], dtype=gpugrad.float64, device=device)
    draw = gpugrad.bernoulli(probs)
    assert draw.tolist() == [0.0, 1.0, 0.0, 1.0] and draw.dtype == gpugrad.float64
    gpugrad.manual_seed(0)
    many = gpugrad.bernoulli(gpugrad.full((20000,), 0.3, device=device))
    assert abs(many.mean().item() - 0.3) < 0.02 and not many.requires_grad


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 3), (3,)),  # a vector
        ((3, 3), (3, 2)),
        ((2, 3, 3), (3,)),  # one vector for a batch of matrices
        ((2, 3, 3), (2, 3)),  # a batch of vectors (B is A's shape without the last dim)
        ((3, 3), (2, 3, 1)),  # a batch of right-hand sides for one matrix
        ((2, 1, 3, 3), (4, 3, 2)),  # batch dims broadcast
    ],
)
def test_solve(sa, sb, device):
    a, b = _well_conditioned(*sa), rnd(*sb)
    vector = len(sb) == 1 or sb == sa[:-1]
    bm = b[..., None] if vector else b
    batch = np.broadcast_shapes(sa[:-2], bm.shape[:-2])
    want = np.linalg.solve(
        np.broadcast_to(a, batch + sa[-2:]), np.broadcast_to(bm, batch + bm.shape[-2:])
    )
    want = want[..., 0] if vector else want
    x = linalg.solve(t(a, device, requires_grad=True), t(b, device))
    assert x.grad_fn.name() == "LinalgSolveExBackward0"
    assert_close(x, want)
    check_grad(linalg.solve, a, b, device=device)
    A, B = t(a, device, requires_grad=True), t(b, device, requires_grad=True)
    assert gpugrad.autograd.gradgradcheck(lambda m, r: linalg.solve(m, r).sum(), [A, B])
    if len(sb) == 2 and sb[0] == sa[-1] and len(sa) == 2:  # X A = B as well
        assert_close(
            linalg.solve(t(a, device), t(b.T, device), left=False), np.linalg.solve(a.T, b).T
        )


def test_solve_errors(device):
    A = t(_well_conditioned(2, 3, 3), device)
    with pytest.raises(
        RuntimeError,
        match=r"Incompatible shapes of A and B for the equation AX = B \(3x3 and 2x4\)",
    ):
        linalg.solve(A, t(rnd(2, 4), device))
    with pytest.raises(RuntimeError, match="must match the size of tensor b \\(2\\)"):
        linalg.solve(A, t(rnd(4, 3, 2), device))
    with pytest.raises(RuntimeError, match="found A of type Double and B of type Float instead"):
        linalg.solve(A, gpugrad.ones(2, 3, device=device))
    with pytest.raises(RuntimeError, match="A must be batches of square matrices"):
        linalg.solve(t(rnd(3, 4), device), t(rnd(3), device))


def test_singular_solve_raises_on_cpu():
    with pytest.raises(
        RuntimeError, match="The solver failed because the input matrix is singular"
    ):
        linalg.solve(gpugrad.zeros(2, 2), gpugrad.ones(2, 1))


def test_einsum(device):
    a, b = rnd(3, 4), rnd(4, 5)
    assert_close(gpugrad.einsum("ij,jk->ik", t(a, device), t(b, device)), a @ b)
    assert_close(gpugrad.einsum("ij->j", t(a, device)), a.sum(0))
    check_grad(lambda x, y: gpugrad.einsum("ij,jk->ik", x, y), a, b, device=device)
    c = rnd(2, 3, 4)
    check_grad(lambda x, y: gpugrad.einsum("bij,jk->bik", x, y), c, b, device=device)


def test_addmm_baddbmm(device):
    a, m1, m2 = rnd(3, 5), rnd(3, 4), rnd(4, 5)
    assert_close(
        gpugrad.addmm(t(a, device), t(m1, device), t(m2, device), beta=0.5, alpha=2),
        0.5 * a + 2 * (m1 @ m2),
    )
    check_grad(lambda x, y, z: gpugrad.addmm(x, y, z), a, m1, m2, device=device)
    b1, b2, inp = rnd(2, 3, 4), rnd(2, 4, 5), rnd(2, 3, 5)
    assert_close(gpugrad.baddbmm(t(inp, device), t(b1, device), t(b2, device)), inp + b1 @ b2)
