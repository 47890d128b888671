"""Loss functions: nll_loss, cross_entropy, mse_loss (gpugrad.nn.functional re-exports them)."""

from __future__ import annotations

from .._tensor import Tensor
from ..amp import autocast_mode as _amp
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node, _saved_output, collect_next_functions
from ._util import (
    binary_arrays,
    broadcast_error,
    check_device,
    grad_for,
    meta,
    needs_grad,
    record,
)
from .activation import LogSoftmaxBackward0, log_softmax
from .indexing import index_put_zeros

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


class NllLossBackward0(Node):
    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        g = grad * self.scale  # -1, or -1 / total weight for 'mean' (0-d: it broadcasts)
        if self.coef is not None:  # class weights and ignored targets
            g = g * Tensor._make(self.coef, grad._device)
        if self.moved is None:
            return (index_put_zeros(g, self.shape, self.key, accumulate=False), None)
        # (N, C, d1, ...): the key addresses C last, so move it back into place
        z = index_put_zeros(g, self.moved, self.key, accumulate=False)
        nd = len(self.shape)
        return (z.permute((0, nd - 1) + tuple(range(1, nd - 1))), None)

    def _row_grad(self, g):
        """Each row's gradient at its target: ``g`` times -1 (or -1 / total weight), times
        the row's class weight and 0 for an ignored row."""
        scale = self.scale._data if isinstance(self.scale, Tensor) else self.scale
        return g * scale if self.coef is None else g * scale * self.coef

    def _fuse_next(self, backend, g, nxt):
        """This node and the log_softmax before it (cross_entropy) as one formula: per row,
        ``exp(logp) * r`` minus ``r`` at the target, ``r`` being the row's NLL gradient.
        Three array ops where the two nodes take seven."""
        if (
            type(nxt) is not LogSoftmaxBackward0
            or self.moved is not None
            or nxt.dim != 1
            or self.next_functions[1][0] is not None
        ):
            return None
        (y,) = nxt.saved_arrays()
        if y.shape != self.shape:
            return None
        r = self._row_grad(g)
        e = backend.xp.exp(y)
        e *= -r[:, None] if r.ndim else -r
        e[self.key] += r
        return (e,)

    def _arrays(self, backend, g):
        # the same on arrays (nothing to record): the loss is on every training step
        xp = backend.xp
        g = self._row_grad(g)
        z = xp.zeros(self.shape if self.moved is None else self.moved, g.dtype)
        z[self.key] = g
        if self.moved is not None:
            z = xp.moveaxis(z, -1, 1)
        return (z, None)


def _unweighted(backend, picked, reduction: str) -> tuple:
    """The loss of the picked log-probabilities without class weights or ignored targets
    (reduction sum or mean), and the gradient's scale at each pick."""
    data = 0 - backend.sum(picked, None)  # +0.0 for a zero loss, as PyTorch (not -0.0)
    if reduction != "mean":
        return data, -1.0
    total = picked.dtype.type(picked.size)
    return data / total, -1.0 / total


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities (N, C[, d...])."""
    if _active.autocast:
        input, weight = _amp.fp32("nll_loss", input, weight)
    _check_reduction(reduction)
    check_device(input, target, "nll_loss")
    x, tgt = input._data, target._data
    if tgt.dtype.kind not in "iu":
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.name.capitalize()}")
    if x.ndim == 1:  # one sample: (C,) scores, 0-d target
        out = nll_loss(input.unsqueeze(0), target.reshape((1,)), weight, ignore_index, reduction)
        return out.squeeze(0) if reduction == "none" else out
    if x.shape[0] != tgt.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({x.shape[0]}) to match target batch_size ({tgt.shape[0]})."
        )
    backend = input._device.backend
    xp = backend.xp
    n, c = x.shape[0], x.shape[1]
    # One host round trip validates targets in the common case: all are classes, none
    # is ignored; only otherwise (or to name a bad target) a second look.
    ignore, safe = None, tgt
    if not tgt.size or backend.index_top(tgt) >= c or 0 <= ignore_index < c:
        lo, hi = backend.minmax(tgt) if tgt.size else (0, 0)
        if lo <= ignore_index <= hi:
            ignore = tgt == ignore_index
            safe = xp.where(ignore, 0, tgt)
            lo, hi = backend.minmax(safe)
        if hi >= c or lo < 0:
            raise IndexError(f"Target {hi if hi >= c else lo} is out of bounds.")
    if x.ndim == 2:
        key, moved = (backend.arange_cached(n), safe), None
    else:
        rest = x.shape[2:]
        key = tuple(xp.ix_(*[xp.arange(k) for k in (n,) + rest])) + (safe,)
        moved = (n,) + rest + (c,)
    picked = x[key] if moved is None else xp.moveaxis(x, 1, -1)[key]
    coef = None
    if weight is not None:
        check_device(input, weight, "nll_loss")
        coef = weight._data[safe].astype(x.dtype, copy=False)
    if ignore is not None:
        keep = (~ignore).astype(x.dtype)
        coef = keep if coef is None else coef * keep
    scale = -1.0
    if reduction == "none":
        data = -picked if coef is None else -picked * coef
    elif coef is None:  # no weights, nothing ignored: the training loop's case
        data, scale = _unweighted(backend, picked, reduction)
    else:
        data = 0 - backend.sum(picked * coef, None)
        if reduction == "mean":
            total = backend.sum(coef, None)
            data = data / total
            scale = Tensor._make(-1.0 / total, input._device)
    if data.dtype != x.dtype:
        data = data.astype(x.dtype)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(NllLossBackward0(), (input, None), out)
        node.reduction, node.scale, node.coef = reduction, scale, coef
        node.key, node.moved, node.shape = key, moved, x.shape
    return out


def log_softmax_nll(input: Tensor, target: Tensor, ignore_index: int, reduction: str):
    """``nll_loss(log_softmax(input, 1), target)`` for the training loop's case: 2-D float
    input, 1-D class indices all in range, no class weights, reduction mean or sum. The
    same values and the same two nodes (LogSoftmaxBackward0, NllLossBackward0) as the two
    calls, recorded in one go. None where the case does not apply (the caller then makes
    the two calls, which also raise the errors)."""
    x, tgt = input._data, target._data
    if (
        x.ndim != 2
        or tgt.ndim != 1
        or x.dtype.kind != "f"
        or tgt.dtype.kind not in "iu"
        or target._device is not input._device
        or x.shape[0] != tgt.shape[0]
        or not tgt.size
        or reduction == "none"
        or _active.saved_hooks
    ):
        return None
    backend = input._device.backend
    n, c = x.shape
    if 0 <= ignore_index < c or backend.index_top(tgt) >= c:
        return None  # targets to ignore, or out of range: nll_loss sorts them out
    dev = input._device
    y = backend.log_softmax(x, 1)
    key = (backend.arange_cached(n), tgt)
    data, scale = _unweighted(backend, y[key], reduction)
    if data.dtype != x.dtype:
        data = data.astype(x.dtype)
    out = Tensor._make(data, dev)
    if input._requires_grad and _grad_state.enabled:
        ls = LogSoftmaxBackward0()
        ls.next_functions = collect_next_functions((input,))
        ls.dim = 1
        logp = Tensor._make(y, dev)
        logp._requires_grad, logp._grad_fn = True, ls
        ls._saved = (_saved_output(logp),)
        node = NllLossBackward0()
        node.next_functions = ((ls, 0), (None, 0))
        ls._nin = 1
        node.reduction, node.scale, node.coef = reduction, scale, None
        node.key, node.moved, node.shape = key, None, x.shape
        out._requires_grad, out._grad_fn = True, node
    return out


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """log_softmax over dim 1, then nll_loss (class indices), as PyTorch composes it."""
    if _active.autocast:
        input, target, weight = _amp.fp32("cross_entropy", input, target, weight)
    if target._data.dtype.kind == "f" or label_smoothing:
        from ..nn import functional as F  # full version: probabilities, smoothing

        return F.cross_entropy(
            input,
            target,
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
    if weight is None and reduction in _REDUCTIONS:
        out = log_softmax_nll(input, target, ignore_index, reduction)
        if out is not None:
            return out
    dim = 0 if input._data.ndim == 1 else 1
    return nll_loss(log_softmax(input, dim), target, weight, ignore_index, reduction)


class MseLossBackward0(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        diff = x - y  # from the saved inputs, so that create_graph reaches them
        g = grad * (2.0 / self.n) if self.reduction == "mean" else grad * 2.0
        gd = g * diff  # g is 0-d unless reduction='none'
        ga = grad_for(gd, self.ma) if self.needs_input_grad(0) else None
        gb = grad_for(-gd, self.mb) if self.needs_input_grad(1) else None
        return (ga, gb)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (one node, MseLossBackward0, as in PyTorch)."""
    _check_reduction(reduction)
    if input._data.shape != target._data.shape:
        import warnings

        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=2,
        )
    a, b = binary_arrays(input, target, "mse_loss")
    try:
        diff = a - b
    except ValueError:
        raise broadcast_error(a, b) from None
    sq = diff * diff
    data = sq if reduction == "none" else (sq.mean() if reduction == "mean" else sq.sum())
    out = Tensor._make(data, input._device)
    if needs_grad(input, target):
        node = record(MseLossBackward0(), (input, target), out)
        node.save(input, target)  # as PyTorch: self and target
        node.reduction, node.n = reduction, diff.size or 1
        node.ma, node.mb = meta(input), meta(target)
    return out
