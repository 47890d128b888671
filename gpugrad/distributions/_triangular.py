"""The Cholesky factor and triangular solves MultivariateNormal needs, differentiable.

linalg has neither yet; these belong there (``linalg.cholesky``,
``linalg.solve_triangular``) once its refactor settles. The factorization is the array
module's own (NumPy's and CuPy's ``linalg.cholesky`` share their interface).
"""

from __future__ import annotations

from gpugrad import _creation, autograd, linalg
from gpugrad._tensor import Tensor


def _not_positive_definite(xp, a) -> RuntimeError:
    """PyTorch's message, naming the first leading minor that is not positive-definite."""
    n = a.shape[-1]
    order = n
    for k in range(1, n + 1):
        if not bool((xp.linalg.eigvalsh(a[..., :k, :k]) > 0).all()):
            order = k
            break
    return RuntimeError(
        "linalg.cholesky: The factorization could not be completed because the input is not "
        f"positive-definite (the leading minor of order {order} is not positive-definite)."
    )


class _Cholesky(autograd.Function):
    @staticmethod
    def forward(ctx, A: Tensor) -> Tensor:
        xp = A._device.backend.xp
        a = A._data
        try:
            low = xp.linalg.cholesky(a)
        except Exception:  # NumPy's LinAlgError; CuPy fills the factor with NaN instead
            raise _not_positive_definite(xp, a) from None
        if not bool(xp.isfinite(low).all()) and bool(xp.isfinite(a).all()):
            raise _not_positive_definite(xp, a)
        out = Tensor._make(low, A._device)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        # A = L L^T: dA = L^-T Phi(L^T dL) L^-1, symmetrized, where Phi keeps the lower
        # triangle and halves the diagonal (Murray 2016, "Differentiation of the Cholesky")
        (low,) = ctx.saved_tensors
        n = low.shape[-1]
        eye = _creation.eye(n, dtype=low.dtype, device=low.device)
        phi = (low.mT @ grad).tril() * (1 - 0.5 * eye)
        low_inv = solve_triangular(low, eye.expand(low.shape), upper=False)
        ga = low_inv.mT @ phi @ low_inv
        return 0.5 * (ga + ga.mT)


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The lower Cholesky factor L of a symmetric positive-definite ``A = L L^T`` (batched)."""
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(
            "linalg.cholesky: A must be batches of square matrices, but they are "
            f"{A.shape[-2] if A.dim() >= 2 else 1} by {A.shape[-1]} matrices"
        )
    low = _Cholesky.apply(A)
    return low.mT if upper else low


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True) -> Tensor:
    """The solution X of ``A X = B`` for triangular ``A`` (only its triangle is read, and
    only that triangle receives a gradient, as PyTorch's)."""
    tri = A.triu() if upper else A.tril()
    return linalg.solve(tri, B, left=left)


def cholesky_ok(value: Tensor, semidefinite: bool = False) -> Tensor:
    """A bool tensor over the batch: which (symmetric) matrices are positive-(semi)definite."""
    xp = value._device.backend.xp
    eig = xp.linalg.eigvalsh(value._data)
    ok = (eig >= 0) if semidefinite else (eig > 0)
    return Tensor._make(ok.all(axis=-1), value._device)
