"""Transitional: logit, until unary.py can take it."""

from __future__ import annotations

from .._tensor import Tensor


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when ``eps`` is given."""
    z = input if eps is None else input.clamp(eps, 1 - eps)
    return (z / (1 - z)).log()
