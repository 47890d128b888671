"""gpugrad.linalg: norms, inv, det against NumPy in float64, gradcheck, PyTorch's errors."""

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
    with pytest.raises(NotImplementedError, match="needs an SVD"):
        linalg.matrix_norm(t(rnd(2, 2), device), "nuc")
    with pytest.raises(TypeError, match="argument 'ord' must be Number, not str"):
        linalg.vector_norm(t(rnd(2), device), "fro")


def test_singular_inverse_raises_on_cpu():
    with pytest.raises(RuntimeError, match="linalg.inv: The input matrix is singular"):
        linalg.inv(gpugrad.zeros(2, 2))


def test_namespace_is_torch_linalg():
    assert gpugrad.linalg is linalg and hasattr(gpugrad.linalg, "vector_norm")
