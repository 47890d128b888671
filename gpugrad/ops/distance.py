"""Distances and similarities of vectors: cdist (all pairs of two sets), pairwise_distance and
cosine_similarity (row by row)."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ._util import broadcast_shape, shapes_error

_COMPUTE_MODES = (
    "use_mm_for_euclid_dist_if_necessary",
    "use_mm_for_euclid_dist",
    "donot_use_mm_for_euclid_dist",
)


def cdist(
    x1: Tensor,
    x2: Tensor,
    p: float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
) -> Tensor:
    """Pairwise p-norm distances between the rows of ``x1`` (..., P, M) and ``x2``
    (..., R, M): (..., P, R). A composition of differentiable ops (``compute_mode`` is
    checked; every mode computes the differences directly)."""
    if compute_mode not in _COMPUTE_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    for x, name in ((x1, "X1"), (x2, "X2")):
        if x._data.ndim < 2:
            raise RuntimeError(
                f"cdist only supports at least 2D tensors, {name} got: {x._data.ndim}D"
            )
        if not D.is_floating(x._data.dtype):
            raise RuntimeError(
                f"cdist only supports floating-point dtypes, {name} got: "
                f"{D.scalar_type_name(x._data.dtype)}"
            )
    if x1._data.dtype != x2._data.dtype:
        raise RuntimeError(
            f"expected scalar type {D.scalar_type_name(x1._data.dtype)} but found "
            f"{D.scalar_type_name(x2._data.dtype)}"
        )
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if x1._data.ndim < 2 or x2._data.ndim < 2 or x1._data.shape[-1] != x2._data.shape[-1]:
        raise RuntimeError(
            "X1 and X2 must have the same number of columns. "
            f"X1: {x1._data.shape[-1]} X2: {x2._data.shape[-1]}"
        )
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return diff.norm(p, -1)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """x1 . x2 / max(||x1|| ||x2||, eps) along dim."""
    if eps < 0:  # a negative eps squared would clamp nothing
        raise RuntimeError(f"eps must be non-negative, got: {eps:g}")
    s1, s2 = x1._data.shape, x2._data.shape
    if s1 != s2:  # PyTorch broadcasts the two first, then reduces along dim
        try:
            shape = broadcast_shape(s1, s2)
        except RuntimeError:
            raise shapes_error(s1, s2) from None
        x1 = x1 if s1 == shape else x1.expand(shape)
        x2 = x2 if s2 == shape else x2.expand(shape)
    num = (x1 * x2).sum(dim)
    denom = ((x1 * x1).sum(dim) * (x2 * x2).sum(dim)).clamp(min=eps * eps).sqrt()
    return num / denom


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    return (x1 - x2 + eps).norm(p, -1, keepdim=keepdim)
