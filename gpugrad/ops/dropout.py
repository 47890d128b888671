"""Dropout: zero elements (or whole channels) with probability p, scale the rest by 1/(1-p);
alpha dropout sets them to SELU's negative saturation instead, keeping mean and variance.

The rules follow ATen's ``_dropout_impl``: identity for p == 0, in eval mode or on an empty
input; zeros for p == 1; feature ("channel") variants draw one mask entry per (N, C), whatever
the input's rank, and the ``dropoutNd`` faces add PyTorch's warnings and unbatched handling.
Elementwise dropout is the backend's fused ``dropout`` kernel: the mask comes from
counter-based draws of one 64-bit seed taken from the device's generator per call, so
``manual_seed`` reproduces it, and backward is ``dropout_backward`` on the saved bool mask.
"""

from __future__ import annotations

import math

from .. import _warn
from .._tensor import Tensor
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node
from ._util import needs_grad, record

# SELU's alpha * scale: alpha dropout sets dropped units to -this (SELU's saturation)
_ALPHA = 1.7580993408473766


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input: Tensor, mask_shape: tuple, p: float):
    """1 where an entry is kept (probability 1 - p), else 0, in the input's dtype."""
    dt = input._data.dtype
    return (input._device.backend.rand(mask_shape, dt) >= p).astype(dt)


def _dropout_impl(
    input: Tensor, p: float, training: bool, inplace: bool, feature: bool, alpha: bool
) -> Tensor:
    _check_p(p)
    if p == 0.0 or not training or input.numel() == 0:
        return input
    if feature and input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    shape = tuple(input.shape)
    mask_shape = shape[:2] + (1,) * (len(shape) - 2) if feature else shape
    dt = input._data.dtype
    if p == 1.0:
        scale = Tensor._make(input._device.backend.xp.zeros(mask_shape, dt), input._device)
        return input.mul_(scale) if inplace else input * scale
    if not feature and not alpha:
        return _fused_dropout(input, p, inplace)
    keep = _keep_mask(input, mask_shape, p)
    if not alpha:
        scale = Tensor._make(keep * dt.type(1.0 / (1.0 - p)), input._device)
        return input.mul_(scale) if inplace else input * scale
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    scale = Tensor._make(keep * dt.type(a), input._device)
    # dropped units land on -alpha * a + b = a * alpha * (p - 1), kept ones are a*x + b
    shift = Tensor._make((keep - 1 + dt.type(p)) * dt.type(_ALPHA * a), input._device)
    return input.mul_(scale).add_(shift) if inplace else input * scale + shift


class NativeDropoutBackward0(Node):
    # PyTorch's name for its fused dropout (on the CPU it composes a multiply instead)
    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        self.check_not_freed()
        return (grad * Tensor._make(self.mask, grad._device) * self.scale,)

    def _arrays(self, backend, g):
        self.check_not_freed()
        return (backend.dropout_backward(g, self.mask, self.scale),)

    def release_variables(self) -> None:
        self._saved = self.mask = None


def _fused_dropout(input: Tensor, p: float, inplace: bool) -> Tensor:
    backend = input._device.backend
    seed = backend.dropout_seed()
    data, mask = backend.dropout(input._data, p, seed)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(NativeDropoutBackward0(), (input,), out)
        node.save(None)  # a saved slot (the mask is kept aside): a 2nd backward must fail
        node.mask, node.scale = mask, 1.0 / (1.0 - p)
    return input.copy_(out) if inplace else out


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """During training, zero each element with probability p and scale by 1/(1-p)."""
    return _dropout_impl(input, p, training, inplace, feature=False, alpha=False)


def alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """Dropout for SELU networks: dropped units take SELU's negative saturation and the
    result is scaled and shifted to keep zero mean and unit variance."""
    return _dropout_impl(input, p, training, inplace, feature=False, alpha=True)


def feature_alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """Alpha dropout of whole channels: one mask entry per (N, C)."""
    return _dropout_impl(input, p, training, inplace, feature=True, alpha=True)


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    return _dropout_impl(input, p, training, inplace, feature=True, alpha=False)


def _unbatched(input: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    """Channel dropout of an input without a batch dim, as PyTorch: add a size-1 one."""
    if inplace:  # through a view, so the input itself changes (PyTorch's unsqueeze_)
        _feature_dropout(input.unsqueeze(0), p, training, True)
        return input
    return _feature_dropout(input.unsqueeze(0), p, training, False).squeeze(0)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, L) / (C, L) input."""
    _check_p(p)
    nd = input.ndim
    if nd not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {nd}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs)."
        )
    if nd == 3:
        return _feature_dropout(input, p, training, inplace)
    return _unbatched(input, p, training, inplace)


def _deprecated_rank(name: str, nd: int, spatial: int) -> None:
    _warn.warn(
        f"{name}: Received a {nd}-D input to {name}, which is deprecated and will result in "
        "an error in a future release. To retain the behavior and silence this warning, "
        f"please use dropout instead. Note that {name} exists to provide channel-wise "
        f"dropout on inputs with {spatial} spatial dimensions, a channel dimension, and an "
        f"optional batch dimension (i.e. {spatial + 1}D or {spatial + 2}D inputs)."
    )


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, H, W) input: one mask entry per (N, C).

    As in PyTorch, other ranks warn; a 3-D input is taken as (N, C, L), a 2-D one as (N, C)
    (elementwise dropout)."""
    _check_p(p)
    nd = input.ndim
    if nd not in (3, 4):
        _deprecated_rank("dropout2d", nd, 2)
    if nd == 3:
        _warn.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret "
            "the input as one without a batch dimension, i.e. shape (C, H, W). To maintain "
            "the 1D channel-wise dropout behavior, please switch to using dropout1d instead."
        )
    return _feature_dropout(input, p, training, inplace)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, D, H, W) / (C, D, H, W) input."""
    _check_p(p)
    nd = input.ndim
    if nd not in (4, 5):
        _deprecated_rank("dropout3d", nd, 3)
    if nd == 5:
        return _feature_dropout(input, p, training, inplace)
    return _unbatched(input, p, training, inplace)
