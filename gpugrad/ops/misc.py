"""Transitional: clamp_min / clamp_max, until unary.py (beside clamp) can take them."""

from __future__ import annotations

from .._tensor import Tensor


def clamp_min(input: Tensor, min) -> Tensor:  # noqa: A002
    from .unary import clamp

    return clamp(input, min=min)


def clamp_max(input: Tensor, max) -> Tensor:  # noqa: A002
    from .unary import clamp

    return clamp(input, max=max)
