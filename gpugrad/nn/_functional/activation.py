"""Transitional: F's argument handling for activations, until nn/functional.py takes it."""

from __future__ import annotations

import warnings

from ..._tensor import Tensor
from ...ops import activation as _act
from ...ops.activation import (  # noqa: F401
    celu,
    elu,
    gelu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    mish,
    relu6,
    selu,
    silu,
    softplus,
    softsign,
    tanhshrink,
    threshold,
)
from ...ops.unary import sigmoid, tanh  # noqa: F401


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else _act.relu(input)


def _softmax_dim_warn(name: str, ndim: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("softmax", input.ndim)
    return _act.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("log_softmax", input.ndim)
    return _act.log_softmax(input, dim, dtype=dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim_warn("softmin", input.ndim)
    return _act.softmin(input, dim, dtype=dtype)
