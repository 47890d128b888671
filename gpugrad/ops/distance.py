"""Distances between sets of vectors: cdist."""

from __future__ import annotations

from .._tensor import Tensor


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, **_: object) -> Tensor:
    """Pairwise p-norm distances between the rows of ``x1`` (..., P, M) and ``x2``
    (..., R, M): (..., P, R). A composition of differentiable ops."""
    if x1._data.ndim < 2 or x2._data.ndim < 2 or x1._data.shape[-1] != x2._data.shape[-1]:
        raise RuntimeError(
            "X1 and X2 must have the same number of columns. "
            f"X1: {x1._data.shape[-1]} X2: {x2._data.shape[-1]}"
        )
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return diff.norm(p, -1)
