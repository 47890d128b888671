"""Row kernels: softmax, log_softmax and their backwards, each along one axis of its input, and
cross_entropy over class indices (the rows of (N, C) logits) with its backward."""

from __future__ import annotations

from .engine import kernel


class RowKernels:
    @kernel
    def log_softmax(self, x, axis: int):
        """log(softmax(x)) along ``axis``, shifted by the row maximum for stability."""
        xp = self.xp
        if x.shape[axis] == 0:  # an empty dim: an empty result, as PyTorch
            return xp.empty_like(x)

        def run(x):  # an all -inf row: -inf - -inf is NaN, as PyTorch, without a warning
            # x - lse, lse = max + log(sum(exp(x - max))): the compiled kernel's steps, and
            # cross_entropy's (its lse is this one, so exp(x - lse) is exp of this output)
            a = self._accumulated(x)  # half: in float32, rounded once (as PyTorch)
            return (a - _row_lse(self, a, axis)).astype(x.dtype, copy=False)

        return self.quiet(run, x)

    @kernel
    def softmax(self, x, axis: int):
        """softmax(x) along ``axis``, shifted by the row maximum for stability."""
        if x.shape[axis] == 0:
            return self.xp.empty_like(x)

        def run(x):
            e = self.xp.exp(x - self.amax(x, axis, keepdims=True))
            e /= self.sum(e, axis, keepdims=True)
            return e

        return self.quiet(run, x)

    @kernel
    def softmax_backward(self, grad, y, axis: int):
        """The gradient of softmax at its output ``y``: ``y * (grad - sum(grad * y))``."""

        def run(grad, y):
            return y * (grad - self.sum(grad * y, axis, keepdims=True))

        return self.quiet(run, grad, y)

    @kernel
    def log_softmax_backward(self, grad, y, axis: int):
        """The gradient of log_softmax at its output ``y``: ``grad - exp(y) * sum(grad)``."""

        def run(grad, y):
            return grad - self.xp.exp(y) * self.sum(grad, axis, keepdims=True)

        return self.quiet(run, grad, y)

    @kernel
    def cross_entropy(
        self, logits, target, weight, ignore_index: int | None, label_smoothing, reduction
    ):
        """cross_entropy of ``logits`` (N, C) against class indices ``target`` (N,):
        ``(loss, lse)``. Row r's loss is ``(1-e) w[t] (lse - x[t]) + e/C sum_c w_c (lse -
        x_c)`` (0 if ``t == ignore_index``; ``w`` ones without ``weight``); "mean" divides the
        rows' sum by ``sum(w[t])`` over the kept rows (NaN if all are ignored), "sum" sums,
        "none" keeps the rows. ``lse`` (N,) is the rows' logsumexp (float32 for half).
        ``ignore_index=None``: the caller has checked that every target is a class."""
        xp = self.xp
        n, c = logits.shape
        x = self._accumulated(logits)
        dt = x.dtype
        if (
            weight is None
            and not label_smoothing
            and reduction != "none"
            and _none_ignored(self, target, ignore_index, c)
        ):
            return self.quiet(_plain_cross_entropy, self, x, logits, target, reduction)
        ignore_index = NO_CLASS if ignore_index is None else ignore_index

        def run():
            lse = _row_lse(self, x, 1)
            keep = target != ignore_index
            # whether any row is ignored, read on the host: a shortcut where that is free
            kept_all = False if self.reads_wait else bool(keep.all())
            safe = target if kept_all else xp.where(keep, target, 0)
            picked = x[self.arange_cached(n), safe] - lse[:, 0]  # log p at each target
            coef = None  # w[t] for kept rows, 0 for ignored ones (None: all ones)
            if weight is not None:
                coef = weight.astype(dt, copy=False)[safe]
            if not kept_all:
                k = keep.astype(dt)
                coef = k if coef is None else coef * k
            if not label_smoothing and reduction != "none":
                # nll_loss's steps over log_softmax's output: the same bits as the two ops
                loss = 0 - self.sum(picked if coef is None else picked * coef, None)
            else:
                loss = -picked if coef is None else -picked * coef
                if label_smoothing:
                    logp = x - lse
                    if weight is not None:
                        logp *= weight.astype(dt, copy=False)
                    smooth = -self.sum(logp, 1)
                    if not kept_all:
                        smooth = xp.where(keep, smooth, 0)
                    eps = label_smoothing
                    loss = loss * (1 - eps) + smooth * (eps / c)
                if reduction != "none":
                    loss = 0 + self.sum(loss, None)  # +0.0 for a zero loss, as PyTorch
            if reduction == "mean":  # all ignored: 0 / 0, NaN as PyTorch
                loss = loss / (dt.type(n) if coef is None else self.sum(coef, None))
            return xp.asarray(loss).astype(logits.dtype, copy=False), lse[:, 0]

        return self.quiet(run)

    @kernel
    def cross_entropy_backward(
        self, grad, logits, target, lse, weight, ignore_index: int | None, label_smoothing,
        reduction,
    ):  # fmt: skip
        """d loss / d logits (N, C) of cross_entropy over class indices: per row
        ``s * ((1-e) w[t] (p - onehot(t)) + e/C (p sum(w) - w))``, ``p = exp(logits - lse)``,
        ``s`` the row's share of ``grad`` (``grad / sum(w[t])`` for "mean"; 0 if ignored);
        ``ignore_index=None`` as in ``cross_entropy``."""
        xp = self.xp
        n, c = logits.shape
        x = self._accumulated(logits)
        dt = x.dtype
        if weight is None and not label_smoothing and _none_ignored(self, target, ignore_index, c):
            return self.quiet(
                _plain_cross_entropy_backward, self, grad, x, logits, target, lse, reduction
            )
        ignore_index = NO_CLASS if ignore_index is None else ignore_index
        keep = target != ignore_index
        safe = xp.where(keep, target, 0)
        rows = self.arange_cached(n)
        w = xp.ones(c, dt) if weight is None else weight.astype(dt)
        wt = w[safe] * keep

        def run():
            g = xp.asarray(grad, dtype=dt)
            if reduction == "mean":
                # times 1/total: the bits of nll_loss's gradient scale (-1/total) over
                # log_softmax's backward; all ignored: inf * 0 below, zero gradients
                g = g * (dt.type(1) / wt.sum())
            s = xp.where(keep, g, 0).astype(dt, copy=False)
            eps = label_smoothing
            out = xp.exp(x - lse[:, None])
            out *= (s * ((1 - eps) * wt + eps / c * w.sum()))[:, None]
            out[rows, safe] -= s * ((1 - eps) * wt)
            if eps:
                out -= (s * (eps / c))[:, None] * w[None, :]
            return out.astype(logits.dtype, copy=False)

        return self.quiet(run)


def _row_lse(backend, x, axis: int):
    """The logsumexp along ``axis`` (kept, size 1), shifted by the maximum: an all -inf or
    a NaN row gives NaN, as PyTorch's log_softmax."""
    xp = backend.xp
    m = backend.amax(x, axis, keepdims=True)
    return m + xp.log(backend.sum(xp.exp(x - m), axis, keepdims=True))


# what ignore_index=None compares as: no class (the caller checked every target is one)
NO_CLASS = -1


def _none_ignored(backend, target, ignore_index: int | None, c: int) -> bool:
    """Whether no target is ``ignore_index``: None (the caller checked), or all are classes
    (one reduction, negatives counting as huge) and ``ignore_index`` is none."""
    if ignore_index is None:
        return True
    if backend.reads_wait:  # no host read on a GPU (nor in a capture): the general path
        return False
    return not 0 <= ignore_index < c and (not target.size or backend.index_top(target) < c)


# The training loop's case (no weights, nothing ignored, no smoothing) in the fewest array
# calls, with the general formulas' exact steps (the same bits): tiny steps pay per call.
def _plain_cross_entropy(backend, x, logits, target, reduction):
    n = x.shape[0]
    lse = _row_lse(backend, x, 1)
    picked = x[backend.arange_cached(n), target] - lse[:, 0]
    loss = 0 - backend.sum(picked, None)
    if reduction == "mean":
        loss = loss / x.dtype.type(n)
    return backend.xp.asarray(loss).astype(logits.dtype, copy=False), lse[:, 0]


def _plain_cross_entropy_backward(backend, grad, x, logits, target, lse, reduction):
    xp, dt = backend.xp, x.dtype
    n = x.shape[0]
    g = xp.asarray(grad, dtype=dt)
    if reduction == "mean":
        g = g * (dt.type(1) / dt.type(n))
    out = xp.exp(x - lse[:, None])
    out *= g[:, None] if g.ndim else g
    out[backend.arange_cached(n), target] -= g
    return out.astype(logits.dtype, copy=False)
