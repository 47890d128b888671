"""Losses: nll_loss, cross_entropy (class indices or probabilities, weights, label smoothing),
l1 / mse / huber / smooth_l1, kl_div, binary_cross_entropy (with logits).

nll_loss, log_softmax + nll in one go (the training loop's cross_entropy), mse_loss and the
two binary cross entropies are primitives (their gradients match PyTorch's formulas at the
clamped edges); the rest compose them. The deprecated size_average / reduce flags are the
face's (gpugrad.nn.functional) to map onto ``reduction``."""

from __future__ import annotations

from .. import _dtype as D
from .. import _warn
from .._tensor import Tensor
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node, _saved_output, collect_next_functions
from . import _autocast as _amp
from ._checks import checked_class_targets, float_only
from ._util import (
    binary_arrays,
    broadcast_error,
    check_device,
    grad_for,
    meta,
    needs_grad,
    record,
    shapes_error,
    wrap_dim,
)
from .activation import softplus
from .compare import where
from .indexing import index_put_zeros
from .softmax import LogSoftmaxBackward0, check_floating_rows, log_softmax


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
        if type(nxt) is CrossEntropyLogSoftmax:
            return (nxt.fused_backward(backend, g),)
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
        # the NLL gradient (r at each target), then log_softmax's backward kernel: g - exp(y)
        # * sum(g), whose exp flushes subnormals (a gradient full of them, softmax's far
        # tails, slows the next weight-gradient GEMM ~100x)
        z = backend.xp.zeros(self.shape, y.dtype)
        z[self.key] = r
        return (backend.log_softmax_backward(z, y, 1),)

    def _arrays(self, backend, g):
        # the same on arrays (nothing to record): the loss is on every training step
        xp = backend.xp
        g = self._row_grad(g)
        z = xp.zeros(self.shape if self.moved is None else self.moved, g.dtype)
        z[self.key] = g
        if self.moved is not None:
            z = xp.moveaxis(z, -1, 1)
        return (z, None)


def _mean_scale(backend, total):
    """The gradient's scale of a weighted mean, -1 / total; 0 where every target is ignored
    (total 0: the loss is NaN, PyTorch's gradient 0, never -inf * 0)."""
    return backend.xp.where(total == 0, total.dtype.type(0), -1.0 / total)


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
    _check(reduction)
    check_device(input, target, "nll_loss")
    tgt = target._data
    _check_nll_shapes(input._data.shape, tgt.shape)
    _check_target_dtype(target)
    if input._data.ndim == 1 and tgt.ndim == 1 and tgt.shape[0] != 1:
        raise ValueError(
            f"For 1D input, 1D target must have size 1, but got target size: {tgt.shape[0]}"
        )
    x = float_only(input, "nll_loss_out_frame")
    _check_weight_dtype(input, weight)
    if weight is not None:
        _check_class_weight(weight, x.shape[0 if x.ndim == 1 else 1], x.ndim <= 2)
    if x.ndim == 1:  # one sample: (C,) scores, 0-d target
        out = nll_loss(input.unsqueeze(0), target.reshape((1,)), weight, ignore_index, reduction)
        return out.squeeze(0) if reduction == "none" else out
    backend = input._device.backend
    xp = backend.xp
    n, c = x.shape[0], x.shape[1]
    ignore, safe = checked_class_targets(backend, tgt, c, ignore_index)
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
            scale = Tensor._make(_mean_scale(backend, total), input._device)
    if data.dtype != x.dtype:
        data = data.astype(x.dtype)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record(NllLossBackward0(), (input, None), out)
        node.reduction, node.scale, node.coef = reduction, scale, coef
        node.key, node.moved, node.shape = key, moved, x.shape
    return out


class CrossEntropyLogSoftmax(LogSoftmaxBackward0):
    """The LogSoftmaxBackward0 under cross_entropy's top node (PyTorch's graph), from the
    fused path: it keeps the logits and the kernel's ``lse`` instead of log_softmax's output,
    which it makes only if asked for (its Tensor formula under create_graph, hooks, a look
    at ``saved_tensors``). The top node's ``_fuse_next`` runs both as the one
    ``cross_entropy_backward`` kernel."""

    _logp = None

    def saved_arrays(self, tensors: bool = False) -> tuple:
        if self._saved is None:
            return Node.saved_arrays(self)  # raises PyTorch's error: freed
        if self._logp is None:
            (x,) = Node.saved_arrays(self)  # the logits, version-checked
            y = Tensor._make(self.device.backend.log_softmax(x, 1), self.device)
            y._requires_grad, y._grad_fn = True, self
            self._logp = _saved_output(y)
        s = self._logp
        return (s.unpack(self) if tensors else s.unpack_data(self),)

    def fused_backward(self, backend, g):
        """d loss / d logits from the top node's gradient ``g``: one kernel."""
        (x,) = Node.saved_arrays(self)
        return backend.cross_entropy_backward(g, x, *self.ce_args)


# its name is PyTorch's (in repr and name()): the graph reads as PyTorch's
CrossEntropyLogSoftmax.__name__ = CrossEntropyLogSoftmax.__qualname__ = "LogSoftmaxBackward0"


class SmoothedCrossEntropyBackward(Node):
    """cross_entropy with label smoothing: PyTorch's top node is the AddBackward0 of
    ``(1 - e) * nll + e / C * smooth``; here one node over the CrossEntropyLogSoftmax,
    ``(1 - e) w[t] onehot(t) + e / C w`` per row, times minus the row's share of ``grad``."""

    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        dev = grad._device
        g = grad * self.scale  # -1, or -1 / total weight for 'mean'
        pick = (
            g * (1 - self.eps)
            if self.coef is None
            else g * Tensor._make(self.coef * (1 - self.eps), dev)
        )
        out = index_put_zeros(pick, self.shape, self.key, accumulate=False)
        if self.keep is not None:
            g = g * Tensor._make(self.keep, dev)
        n, c = self.shape
        w = self.w * (self.eps / c)
        rows = g.reshape((n, 1)) if g.ndim else g.reshape((1, 1))
        return (out + rows * Tensor._make(w.reshape(1, c), dev), None)

    def _arrays(self, backend, g):
        xp = backend.xp
        n, c = self.shape
        scale = self.scale._data if isinstance(self.scale, Tensor) else self.scale
        g = xp.asarray(g * scale, dtype=self.w.dtype)
        rows = xp.broadcast_to(g if self.keep is None else g * self.keep, (n,))
        out = rows[:, None] * (self.w * (self.eps / c))[None, :]
        coef = (1 - self.eps) if self.coef is None else self.coef * (1 - self.eps)
        out[self.key] += rows * coef
        return (out, None)

    def _fuse_next(self, backend, g, nxt):
        if type(nxt) is CrossEntropyLogSoftmax:
            return (nxt.fused_backward(backend, g),)
        return None


SmoothedCrossEntropyBackward.__name__ = "AddBackward0"  # PyTorch's top node's name
SmoothedCrossEntropyBackward.__qualname__ = "AddBackward0"


def fused_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> Tensor | None:
    """cross_entropy of 2-D float logits and 1-D class indices as the backend's one
    ``cross_entropy`` kernel (no (N, C) log-probabilities made), recorded as PyTorch's top
    node over a LogSoftmaxBackward0 whose backward is the one ``cross_entropy_backward``
    kernel. None where the case does not apply (the caller then composes log_softmax and
    nll_loss, which also raise the errors): other shapes, no targets, saved-tensor hooks
    (they must see what PyTorch saves)."""
    x, tgt = input._data, target._data
    if (
        x.ndim != 2
        or tgt.ndim != 1
        or not D.is_floating(x.dtype)
        or tgt.dtype.kind not in "iu"
        or target._device is not input._device
        or x.shape[0] != tgt.shape[0]
        or not tgt.size
        or not x.shape[1]
        or _active.saved_hooks
    ):
        return None
    n, c = x.shape
    w = None
    if weight is not None:
        if weight._device is not input._device:
            return None
        _check_class_weight(weight, c, True)
        w = weight._data.astype(x.dtype, copy=False)
    backend = input._device.backend
    ignore, safe = checked_class_targets(backend, tgt, c, ignore_index)
    eps = float(label_smoothing)
    # None: the targets are checked, none is ignored (the kernels skip looking again)
    kernel_ignore = None if ignore is None else ignore_index
    data, lse = backend.cross_entropy(x, tgt, w, kernel_ignore, eps, reduction)
    dev = input._device
    out = Tensor._make(data, dev)
    if not (input._requires_grad and _grad_state.enabled):
        return out
    ls = CrossEntropyLogSoftmax()
    ls.next_functions = collect_next_functions((input,))
    ls.dim, ls._nin, ls.device = 1, 1, dev
    ls.save(input)
    ls.ce_args = (tgt, lse, w, kernel_ignore, eps, reduction)
    # the top node's own formula (for create_graph and hooks): nll_loss's scale and coef
    coef = None if w is None else w[safe]
    if ignore is not None:
        keep = (~ignore).astype(x.dtype)
        coef = keep if coef is None else coef * keep
    scale = -1.0
    if reduction == "mean":
        if coef is None:
            scale = -1.0 / x.dtype.type(n)
        else:
            scale = Tensor._make(_mean_scale(backend, backend.sum(coef, None)), dev)
    key = (backend.arange_cached(n), safe)
    if eps:
        node = SmoothedCrossEntropyBackward()
        node.next_functions = ((ls, 0),)
        node.eps, node.coef, node.scale, node.key, node.shape = eps, coef, scale, key, (n, c)
        node.keep = None if ignore is None else (~ignore).astype(x.dtype)
        node.w = backend.xp.ones(c, x.dtype) if w is None else w
    else:
        node = NllLossBackward0()
        node.next_functions = ((ls, 0), (None, 0))
        node.reduction, node.scale, node.coef = reduction, scale, coef
        node.key, node.moved, node.shape = key, None, (n, c)
    out._requires_grad, out._grad_fn = True, node
    return out


class MseLossBackward0(Node):
    def backward(self, grad):
        x, y = self.saved_tensors
        diff = x - y  # from the saved inputs, so that create_graph reaches them
        g = grad * (2.0 / self.n) if self.reduction == "mean" else grad * 2.0
        gd = g * diff  # g is 0-d unless reduction='none'
        ga = grad_for(gd, self.ma) if self.needs_input_grad(0) else None
        gb = grad_for(-gd, self.mb) if self.needs_input_grad(1) else None
        return (ga, gb)


def _mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (one node, MseLossBackward0, as in PyTorch)."""
    _check(reduction)
    if input._data.shape != target._data.shape:
        _warn.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size."
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


_REDUCTIONS = ("mean", "sum", "none")


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
        _warn.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size."
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
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error."""
    if _active.autocast:
        input, target, weight = _amp.fp32("l1_loss", input, target, weight)
    _check(reduction)
    _warn_size(input, target)
    return _weighted((input - target).abs(), weight, input, reduction)


def mse_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error."""
    if _active.autocast:
        input, target, weight = _amp.fp32("mse_loss", input, target, weight)
    _check(reduction)
    if weight is None:
        return _mse_loss(input, target, reduction=reduction)
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
    loss = where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    return _weighted(loss, weight, input, reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Huber loss divided by beta (L1 when beta == 0)."""
    _check(reduction)
    _warn_size(input, target)
    # PyTorch's kernel promotes before it subtracts: a bool operand is allowed here
    dt = D.result_type(input, target)
    d = (input.to(dt) - target.to(dt)).abs()
    if beta == 0.0:
        return _reduce(d, reduction)
    loss = where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _reduce(loss, reduction)


def kl_div(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL(target || exp(input)) pointwise; input holds log-probabilities."""
    if reduction == "mean":
        _warn.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release."
        )
    if input._data.dtype.kind in "biu" or target._data.dtype.kind in "biu":
        raise RuntimeError("kl_div: Integral inputs not supported.")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        safe = where(target > 0, target, 1.0)
        loss = where(target > 0, target * (safe.log() - input), 0.0)
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    _check(reduction)
    return _reduce(loss, reduction)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits (class dim 1, or 0 for unbatched input) against class indices
    or class probabilities, with optional class weights and label smoothing."""
    if _active.autocast:
        input, target, weight = _amp.fp32("cross_entropy", input, target, weight)
    _check(reduction)
    # PyTorch checks the range only where it smooths (label_smoothing > 0): a negative one
    # means none
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if not label_smoothing > 0.0:
        label_smoothing = 0.0
    x, tgt = input._data, target._data  # arrays: no Size/dtype objects on every step
    cdim = 0 if x.ndim == 1 else 1
    if x.ndim == 0 and tgt.ndim:  # log_softmax over dim 1 of a 0-d tensor, as PyTorch's
        wrap_dim(cdim, 0)
    check_floating_rows(input, cdim, "log_softmax")
    if x.shape == tgt.shape:
        if not D.is_floating(tgt.dtype):
            raise RuntimeError(
                f"Expected floating point type for target with class probabilities, got "
                f"{D.scalar_type_name(target.dtype)}"
            )
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if x.ndim == 0:  # PyTorch's size(1) of the 0-d input
            wrap_dim(1, 0, wrap_scalar=False)
        return _prob_target(input, target, weight, reduction, label_smoothing, cdim)
    _check_nll_shapes(x.shape, tgt.shape)  # before the dtypes, as PyTorch's nll_loss_nd
    _check_target_and_weight(input, target, weight)
    out = fused_cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
    if out is not None:
        return out  # 2-D logits and class indices: one kernel each way
    logp = log_softmax(input, cdim)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    return _smoothed(logp, target, weight, ignore_index, reduction, label_smoothing, cdim, nll)


def _class_shape(input: Tensor, cdim: int) -> tuple:
    """Shape that broadcasts a (C,) weight along the class dim of input."""
    return tuple(input.shape[cdim] if d == cdim else 1 for d in range(input.ndim))


_CLASS_INDEX_DTYPES = frozenset(("int64", "uint8"))


def _check_nll_shapes(xs: tuple, ts: tuple) -> None:
    """PyTorch's shape checks of nll_loss (nll_loss_nd's, then its 1-D/2-D or spatial
    kernel's), in its order and words: the input (N, C, d1, ...) or (C,), the target (N, d1,
    ...), () or (1,)."""
    nd = len(xs)
    if nd < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {nd})")
    # a 0-d target reads as batch size 0 in PyTorch's text
    if nd != 1 and xs[0] != (ts[0] if ts else 0):
        raise ValueError(
            f"Expected input batch_size ({xs[0]}) to match target batch_size "
            f"({ts[0] if ts else 0})."
        )
    if nd <= 2:
        if len(ts) > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    elif nd == 4:
        if len(ts) != 3:
            raise RuntimeError(
                "only batches of spatial targets supported (3D tensors) but got targets of "
                f"dimension: {len(ts)}"
            )
        if ts[1:] != xs[2:]:
            raise RuntimeError(f"size mismatch (got input: {list(xs)} , target: {list(ts)}")
    elif ts[1:] != xs[2:]:
        raise RuntimeError(f"Expected target size {[xs[0], *xs[2:]]}, got {list(ts)}")


def _check_target_dtype(target: Tensor) -> None:
    """Class-index targets are Long or Byte, as PyTorch's."""
    if D.np_name(target._data.dtype) not in _CLASS_INDEX_DTYPES:
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {D.scalar_type_name(target.dtype)}"
        )


def _check_target_and_weight(input: Tensor, target: Tensor, weight: Tensor | None) -> None:
    """PyTorch's dtype checks of class-index targets (Long or Byte) and of the class weight
    (the input's dtype)."""
    _check_target_dtype(target)
    _check_weight_dtype(input, weight)


def _check_weight_dtype(input: Tensor, weight: Tensor | None) -> None:
    if weight is not None and weight._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"expected scalar type {D.scalar_type_name(input.dtype)} but found "
            f"{D.scalar_type_name(weight.dtype)}"
        )


def _check_class_weight(weight: Tensor, n_classes: int, name_count: bool, prefix="") -> None:
    """PyTorch's check of a class weight's length (its text names the count for (N, C))."""
    if weight._data.size == n_classes:
        return
    if not name_count:
        raise RuntimeError("weight tensor should be defined either for all or no classes")
    raise RuntimeError(
        f"{prefix}weight tensor should be defined either for all {n_classes} classes or no "
        f"classes but got weight tensor of shape: {list(weight.shape)}"
    )


def _prob_target(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    label_smoothing: float,
    cdim: int,
) -> Tensor:
    n_classes = input.shape[cdim]
    if weight is not None:
        _check_class_weight(weight, n_classes, True, "cross_entropy: ")
    logp = log_softmax(input, cdim)
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
    reduction: str = "mean",
) -> Tensor:
    """-(t log x + (1 - t) log(1 - x)), logs clamped at -100 as in PyTorch."""
    _check(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size."
        )
    if target.dtype != input.dtype:  # NumPy would cast the target
        raise RuntimeError(
            f"Found dtype {D.scalar_type_name(target.dtype)} but expected "
            f"{D.scalar_type_name(input.dtype)}"
        )
    float_only(input, "binary_cross_entropy")
    xp = input._device.backend.xp
    x, t = input._data, target._data.astype(input._data.dtype, copy=False)
    # not (0 <= x <= 1): a NaN is outside too, as PyTorch's check
    if x.size and bool((~((x >= 0) & (x <= 1))).any()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    quiet = input._device.backend.quiet  # log(0) = -inf, clamped below: no warning
    logx = xp.maximum(quiet(xp.log, x), -100)
    log1mx = xp.maximum(quiet(xp.log, 1 - x), -100)
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
            gt = -x if pw is None else (pw - 1) * softplus(-x) - x
            gt = grad * gt
            if w is not None:
                gt = gt * w
        # an operand of another dtype than the loss (which has the target's): each
        # gradient in its own input's dtype
        if gx is not None and gx.dtype != x.dtype:
            gx = gx.to(x.dtype)
        if gt is not None and gt.dtype != self.t_dtype:
            gt = gt.to(self.t_dtype)
        return gx, gt


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """BCE of sigmoid(input), computed stably from the logits; pos_weight scales positives."""
    _check(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({target.size()}) must be the same as input size ({input.size()})"
        )
    x, t = float_only(input, "log_sigmoid_cpu"), target._data  # PyTorch's first step
    out_dt = _bce_logits_dtype(x, t, weight, pos_weight)
    xp = input._device.backend.xp
    sp_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)  # softplus(-x) = -log sigmoid(x)
    if t.dtype != x.dtype:  # log_sigmoid in the input's dtype, the rest in the promoted one
        x = x.astype(xp.result_type(x, t), copy=False)
        t, sp_neg = t.astype(x.dtype, copy=False), sp_neg.astype(x.dtype, copy=False)
    if pos_weight is not None:
        pw = pos_weight._data.astype(x.dtype, copy=False)
        loss = (1 - t) * x + (1 + (pw - 1) * t) * sp_neg
    else:
        loss = (1 - t) * x + sp_neg
    wt = None
    if weight is not None:
        wt = weight
        loss = loss * weight._data
    if loss.dtype != out_dt:
        loss = loss.astype(out_dt)
    data = loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss
    out = Tensor._make(xp.asarray(data, dtype=out_dt), input._device)
    if needs_grad(input, target):
        node = record(BinaryCrossEntropyWithLogitsBackward0(), (input, target), out)
        node.save(input, target.to(input.dtype), wt, pos_weight)
        node.reduction, node.count = reduction, max(x.size, 1)
        node.t_dtype = target.dtype
    return out


def _bce_logits_dtype(x, t, weight: Tensor | None, pos_weight: Tensor | None):
    """PyTorch's checks of binary_cross_entropy_with_logits' operands (its composite works in
    place on ``1 - target``, so the loss has the target's dtype: a bool target cannot be
    subtracted from, an integer one cannot hold the float result; weight and pos_weight
    must broadcast to it): the result's array dtype."""
    if pos_weight is not None:  # (pos_weight - 1) * target, then into log_sigmoid(input)
        _check_broadcast_into(tuple(pos_weight.shape), t.shape, both=True)
        _check_broadcast_into(t.shape, tuple(pos_weight.shape))
    if t.dtype.kind == "b":
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
            "`^` or `logical_xor()` operator instead."
        )
    if not D.is_floating(t.dtype):
        raise RuntimeError(
            f"result type {D.scalar_type_name(x.dtype)} can't be cast to the desired output "
            f"type {D.scalar_type_name(t.dtype)}"
        )
    if weight is not None:
        _check_broadcast_into(t.shape, tuple(weight.shape))
    return t.dtype


def _check_broadcast_into(sa: tuple, sb: tuple, both: bool = False) -> None:
    """``a op= b`` needs ``b`` to broadcast to ``a``'s shape (``both``: an out-of-place
    ``a op b``, either may grow), with PyTorch's texts."""
    if sa == sb:
        return
    n = max(len(sa), len(sb))
    pa, pb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    if any(i != j and i != 1 and j != 1 for i, j in zip(pa, pb)):
        raise shapes_error(sa, sb)
    if not both and (len(sb) > len(sa) or any(j != 1 and i == 1 for i, j in zip(pa, pb))):
        out = [max(i, j) for i, j in zip(pa, pb)]
        raise RuntimeError(f"output with shape {list(sa)} doesn't match the broadcast shape {out}")
