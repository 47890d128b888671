"""Loss functions: nll_loss, cross_entropy, mse_loss (gpugrad.nn.functional re-exports them)."""

from __future__ import annotations

from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import check_device, needs_grad, record
from .activation import log_softmax

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


class NllLossBackward0(Node):
    def backward(self, grad):
        (target,) = self.saved_tensors
        from .indexing import index_put_zeros

        xp = grad._device.backend.xp
        valid = self.valid
        g = -grad
        if self.reduction == "mean":
            g = g / self.total_weight
        if self.reduction != "none":
            g = g.expand(self.rows.shape)
        if self.weights is not None:
            g = g * Tensor._make(self.weights, grad._device)
        if valid is not None:
            g = g * Tensor._make(valid, grad._device)
        key = (xp.arange(self.n),) + (self.safe_target,) if len(self.shape) == 2 else None
        if key is None:  # (N, C, d1, ...): move C last so one fancy index addresses it
            return (self._nd_backward(g), None)
        return (index_put_zeros(g.reshape((self.n,)), self.shape, key, accumulate=False), None)

    def _nd_backward(self, g):
        from .indexing import index_put_zeros

        xp = g._device.backend.xp
        n, c = self.shape[0], self.shape[1]
        rest = self.shape[2:]
        moved = (n,) + rest + (c,)
        grids = xp.ix_(*[xp.arange(s) for s in (n,) + rest])
        key = tuple(grids) + (self.safe_target,)
        z = index_put_zeros(g.reshape((n,) + rest), moved, key, accumulate=False)
        nd = len(self.shape)
        return z.permute((0, nd - 1) + tuple(range(1, nd - 1)))


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities (N, C[, d...])."""
    _check_reduction(reduction)
    check_device(input, target, "nll_loss")
    x, tgt = input._data, target._data
    if tgt.dtype.kind not in "iu":
        raise RuntimeError(
            f"expected scalar type Long but found {target.dtype.name.capitalize()}"
        )
    if x.ndim == 1:  # one sample: (C,) scores, 0-d target
        out = nll_loss(input.unsqueeze(0), target.reshape((1,)), weight, ignore_index, reduction)
        return out.squeeze(0) if reduction == "none" else out
    if x.shape[0] != tgt.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({x.shape[0]}) to match target batch_size ({tgt.shape[0]})."
        )
    xp = input._device.backend.xp
    c = x.shape[1]
    ignore = tgt == ignore_index
    has_ignore = bool(ignore.any())
    safe = xp.where(ignore, 0, tgt) if has_ignore else tgt
    if safe.size and (int(safe.max()) >= c or int(safe.min()) < 0):
        bad = int(safe.max()) if int(safe.max()) >= c else int(safe.min())
        raise IndexError(f"Target {bad} is out of bounds.")
    n = x.shape[0]
    if x.ndim == 2:
        picked = x[xp.arange(n), safe]
    else:
        picked = xp.take_along_axis(x, safe[:, None], axis=1)[:, 0]
    w = None
    if weight is not None:
        check_device(input, weight, "nll_loss")
        w = weight._data[safe].astype(x.dtype, copy=False)
    valid = (~ignore).astype(x.dtype) if has_ignore else None
    rows = -picked
    if w is not None:
        rows = rows * w
    if valid is not None:
        rows = rows * valid
    if reduction == "none":
        data = rows
        total = None
    else:
        total_w = (w * valid if valid is not None else w) if w is not None else valid
        total = total_w.sum() if total_w is not None else x.dtype.type(rows.size)
        data = rows.sum() / total if reduction == "mean" else rows.sum()
    out = Tensor._make(data.astype(x.dtype, copy=False), input._device)
    if needs_grad(input):
        node = record(NllLossBackward0(), (input, None), out)
        node.save(target)
        node.reduction, node.total_weight = reduction, total
        node.weights, node.valid, node.safe_target = w, valid, safe
        node.shape, node.n, node.rows = x.shape, n, rows
    return out


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over dim 1, then nll_loss (class indices), as PyTorch composes it."""
    if target._data.dtype.kind == "f" or label_smoothing:
        from ..nn import functional as F  # full version: probabilities, smoothing

        return F.cross_entropy(input, target, weight=weight, ignore_index=ignore_index,
                               reduction=reduction, label_smoothing=label_smoothing)
    dim = 0 if input._data.ndim == 1 else 1
    return nll_loss(log_softmax(input, dim), target, weight, ignore_index, reduction)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (composite)."""
    _check_reduction(reduction)
    if input._data.shape != target._data.shape:
        import warnings

        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=2,
        )
    d = input - target
    sq = d * d
    if reduction == "mean":
        return sq.mean()
    return sq.sum() if reduction == "sum" else sq
