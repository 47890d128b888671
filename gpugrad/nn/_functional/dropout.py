"""Dropout: zero elements (or whole channels) with probability p, scale the rest by 1/(1-p)."""

from __future__ import annotations

from ..._tensor import Tensor


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _apply_mask(input: Tensor, mask_shape: tuple, p: float, inplace: bool) -> Tensor:
    backend = input._device.backend
    dt = input._data.dtype
    if p == 1.0:
        scale = backend.xp.zeros(mask_shape, dtype=dt)
    else:
        keep = backend.rand(mask_shape, dt) >= p
        scale = keep.astype(dt) * dt.type(1.0 / (1.0 - p))
    m = Tensor._make(scale, input._device)
    return input.mul_(m) if inplace else input * m


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """During training, zero each element with probability p and scale by 1/(1-p)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _apply_mask(input, tuple(input.shape), p, inplace)


def _feature_dropout(
    input: Tensor, p: float, training: bool, inplace: bool, batched_ndim: int, name: str
) -> Tensor:
    _check_p(p)
    nd = input.ndim
    if nd not in (batched_ndim - 1, batched_ndim):
        raise RuntimeError(
            f"{name}: Expected {batched_ndim - 1}D or {batched_ndim}D input, but received "
            f"a {nd}D input."
        )
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape)
    lead = 2 if nd == batched_ndim else 1
    mask_shape = shape[:lead] + (1,) * (nd - lead)
    return _apply_mask(input, mask_shape, p, inplace)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, L) / (C, L) input."""
    return _feature_dropout(input, p, training, inplace, 3, "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, H, W) / (C, H, W) input."""
    return _feature_dropout(input, p, training, inplace, 4, "dropout2d")
