"""Helpers the distributions share (``torch.distributions.utils``)."""

from __future__ import annotations

import numbers
from functools import update_wrapper

from gpugrad import _creation, ops
from gpugrad import _dtype as D
from gpugrad._tensor import Tensor
from gpugrad._type_info import finfo
from gpugrad.autograd import grad_mode

__all__ = ["broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs", "probs_to_logits"]


def broadcast_all(*values) -> tuple:
    """Tensors and numbers broadcast to one shape; numbers take the first tensor's dtype and
    device (the default dtype when there is no tensor)."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError(
            "Input arguments must all be instances of numbers.Number, "
            "torch.Tensor or objects implementing __torch_function__."
        )
    first = next((v for v in values if isinstance(v, Tensor)), None)
    if first is None:
        dtype, device = D.get_default_dtype(), None
    else:
        dtype, device = first.dtype, first.device
    tensors = [
        v if isinstance(v, Tensor) else _creation.tensor(v, dtype=dtype, device=device)
        for v in values
    ]
    return tuple(ops.broadcast_tensors(*tensors))


def _standard_normal(shape, dtype, device) -> Tensor:
    return _creation.randn(tuple(shape), dtype=dtype, device=device)


def _sum_rightmost(value, dim: int):
    """Sum out the ``dim`` rightmost dims (a number stays a number)."""
    if dim == 0 or not isinstance(value, Tensor):
        return value
    return value.reshape(tuple(value.shape[: value.dim() - dim]) + (-1,)).sum(-1)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities from logits: a sigmoid when binary, else a softmax over the last dim."""
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities clamped into [eps, 1 - eps] so their logs stay finite."""
    eps = finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Logits from probabilities (clamped first): log-odds when binary, else their logs."""
    p = clamp_probs(probs)
    if is_binary:
        return p.log() - (-p).log1p()
    return p.log()


class lazy_property:  # noqa: N801 - PyTorch's name
    """A property computed on first access and then cached on the instance (probs/logits of
    a distribution made from the other), computed with gradients enabled."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with grad_mode.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value
