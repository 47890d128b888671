"""Losses: cross_entropy (indices or probabilities, smoothing), nll, l1/mse/huber, BCE, KL.

Index-target cross entropy without smoothing goes to the core's log_softmax + nll_loss
primitive; everything else is composed here. The two binary cross entropies are primitives
so their gradients match PyTorch's formulas at the clamped edges (log(0), logits of 0).
"""

from __future__ import annotations

import warnings

from ... import _dtype as D
from ..._tensor import Tensor
from ...amp import autocast_mode as _amp
from ...autograd.grad_mode import active as _active
from ...autograd.graph import Node
from ...ops import activation as _act
from ...ops import loss as _core
from ...ops._util import needs_grad, record
from ...ops.compare import where as _where

_REDUCTIONS = ("mean", "sum", "none")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's mapping of the deprecated size_average/reduce flags to ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
        stacklevel=3,
    )
    return ret


def _check(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _warn_size(input: Tensor, target: Tensor) -> None:
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def _weighted(loss: Tensor, weight: Tensor | None, input: Tensor, reduction: str) -> Tensor:
    """PyTorch's elementwise-weighted l1/mse: mean divides by the sum of the weights."""
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


# ---- regression ----------------------------------------------------------------------
def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error."""
    if _active.autocast:
        input, target, weight = _amp.fp32("l1_loss", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check(reduction)
    _warn_size(input, target)
    return _weighted((input - target).abs(), weight, input, reduction)


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error."""
    if _active.autocast:
        input, target, weight = _amp.fp32("mse_loss", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check(reduction)
    if weight is None:
        return _core.mse_loss(input, target, reduction=reduction)
    _warn_size(input, target)
    d = input - target
    return _weighted(d * d, weight, input, reduction)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """Quadratic below delta, linear above (delta-scaled)."""
    _check(reduction)
    _warn_size(input, target)
    d = (input - target).abs()
    loss = _where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    return _weighted(loss, weight, input, reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Huber loss divided by beta (L1 when beta == 0)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check(reduction)
    _warn_size(input, target)
    d = (input - target).abs()
    if beta == 0.0:
        return _reduce(d, reduction)
    loss = _where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _reduce(loss, reduction)


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL(target || exp(input)) pointwise; input holds log-probabilities."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
    if log_target:
        loss = target.exp() * (target - input)
    else:
        safe = _where(target > 0, target, 1.0)
        loss = _where(target > 0, target * (safe.log() - input), 0.0)
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    _check(reduction)
    return _reduce(loss, reduction)


# ---- classification -------------------------------------------------------------------
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _core.nll_loss(input, target, weight, ignore_index, reduction)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits (class dim 1, or 0 for unbatched input) against class indices
    or class probabilities, with optional class weights and label smoothing."""
    if _active.autocast:
        input, target, weight = _amp.fp32("cross_entropy", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x, tgt = input._data, target._data  # arrays: no Size/dtype objects on every step
    cdim = 0 if x.ndim == 1 else 1
    if x.shape == tgt.shape:
        if tgt.dtype.kind != "f":
            raise RuntimeError(
                f"Expected floating point type for target with class probabilities, got "
                f"{target.dtype.name.capitalize()}"
            )
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _prob_target(input, target, weight, reduction, label_smoothing, cdim)
    if tgt.dtype.kind == "f":
        if target.ndim != input.ndim - 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {D.scalar_type_name(target.dtype)}"
        )
    if weight is None and label_smoothing == 0.0:
        out = _core.log_softmax_nll(input, target, ignore_index, reduction)
        if out is not None:
            return out  # the training loop's case, recorded in one go
    logp = _act.log_softmax(input, cdim)
    nll = _core.nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    return _smoothed(logp, target, weight, ignore_index, reduction, label_smoothing, cdim, nll)


def _class_shape(input: Tensor, cdim: int) -> tuple:
    """Shape that broadcasts a (C,) weight along the class dim of input."""
    return tuple(input.shape[cdim] if d == cdim else 1 for d in range(input.ndim))


def _prob_target(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    label_smoothing: float,
    cdim: int,
) -> Tensor:
    n_classes = input.shape[cdim]
    logp = _act.log_softmax(input, cdim)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    prod = logp * target
    if weight is not None:
        prod = prod * weight.reshape(_class_shape(input, cdim))
    loss = -prod.sum(cdim)
    if reduction == "mean":
        return loss.sum() / (input.numel() // n_classes) if input.numel() else loss.sum() * 0
    return _reduce(loss, reduction)


def _smoothed(
    logp: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    eps: float,
    cdim: int,
    nll: Tensor,
) -> Tensor:
    """(1 - eps) * nll + eps / C * (uniform-target term), as PyTorch normalises it."""
    n_classes = logp.shape[cdim]
    ignore = target == ignore_index
    if weight is not None:
        smooth = -(logp * weight.reshape(_class_shape(logp, cdim))).sum(cdim)
    else:
        smooth = -logp.sum(cdim)
    smooth = smooth.masked_fill(ignore, 0.0)
    if reduction == "mean":
        keep = ~ignore
        if weight is not None:
            safe = target.masked_fill(ignore, 0)
            denom = (weight[safe] * keep.to(weight.dtype)).sum()
        else:
            denom = keep.sum()
        ret = smooth.sum() / denom
    else:
        ret = _reduce(smooth, reduction)
    return nll * (1 - eps) + ret * (eps / n_classes)


class BinaryCrossEntropyBackward0(Node):
    def backward(self, grad):
        x, t, w = self.saved_tensors
        if self.reduction == "mean":
            grad = grad / self.count
        gx = gt = None
        if self.needs_input_grad(0):
            # PyTorch's formula: (x - t) / max(x (1 - x), 1e-12), finite at x in {0, 1}
            gx = grad * (x - t) / (x * (1 - x)).clamp(min=1e-12)
            if w is not None:
                gx = gx * w
        if self.needs_input_grad(1):
            gt = grad * ((1 - x).log() - x.log())  # unclamped, as PyTorch
            if w is not None:
                gt = gt * w
        return gx, gt, None


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """-(t log x + (1 - t) log(1 - x)), logs clamped at -100 as in PyTorch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size."
        )
    xp = input._device.backend.xp
    x, t = input._data, target._data.astype(input._data.dtype, copy=False)
    if x.size and bool(((x < 0) | (x > 1)).any()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    with warnings_off():
        logx = xp.maximum(xp.log(x), -100)
        log1mx = xp.maximum(xp.log(1 - x), -100)
    loss = -(t * logx + (1 - t) * log1mx)
    wt = None
    if weight is not None:
        wt = weight.expand_as(input) if tuple(weight.shape) != tuple(input.shape) else weight
        loss = loss * wt._data
    data = loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss
    out = Tensor._make(xp.asarray(data, dtype=x.dtype), input._device)
    if needs_grad(input, target):
        node = record(BinaryCrossEntropyBackward0(), (input, target, None), out)
        node.save(input, target.to(input.dtype), wt)
        node.reduction, node.count = reduction, max(x.size, 1)
    return out


class BinaryCrossEntropyWithLogitsBackward0(Node):
    def backward(self, grad):
        x, t, w, pw = self.saved_tensors
        if self.reduction == "mean":
            grad = grad / self.count
        gx = gt = None
        if self.needs_input_grad(0):
            s = x.sigmoid()
            gx = (s - t) if pw is None else (s * ((pw - 1) * t + 1) - pw * t)
            gx = grad * gx
            if w is not None:
                gx = gx * w
        if self.needs_input_grad(1):
            gt = -x if pw is None else (pw - 1) * _act_softplus(-x) - x
            gt = grad * gt
            if w is not None:
                gt = gt * w
        return gx, gt


def _act_softplus(x: Tensor) -> Tensor:
    from .activation import softplus

    return softplus(x)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """BCE of sigmoid(input), computed stably from the logits; pos_weight scales positives."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({target.size()}) must be the same as input size ({input.size()})"
        )
    xp = input._device.backend.xp
    x, t = input._data, target._data.astype(input._data.dtype, copy=False)
    sp_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)  # softplus(-x) = -log sigmoid(x)
    if pos_weight is not None:
        pw = pos_weight._data.astype(x.dtype, copy=False)
        loss = (1 - t) * x + (1 + (pw - 1) * t) * sp_neg
    else:
        loss = (1 - t) * x + sp_neg
    wt = None
    if weight is not None:
        wt = weight
        loss = loss * weight._data
    data = loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss
    out = Tensor._make(xp.asarray(data, dtype=x.dtype), input._device)
    if needs_grad(input, target):
        node = record(BinaryCrossEntropyWithLogitsBackward0(), (input, target), out)
        node.save(input, target.to(input.dtype), wt, pos_weight)
        node.reduction, node.count = reduction, max(x.size, 1)
    return out


class warnings_off:
    """Silence NumPy's divide-by-zero warnings for log(0) (the result is clamped)."""

    def __enter__(self):
        import numpy as np  # host-side error state only; CuPy never warns

        self._old = np.seterr(divide="ignore", invalid="ignore")

    def __exit__(self, *exc):
        import numpy as np

        np.seterr(**self._old)
