"""Row kernels: softmax, log_softmax and their backwards, each along one axis of its input."""

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
            shifted = x - self.amax(x, axis, keepdims=True)
            shifted -= xp.log(self.sum(xp.exp(shifted), axis, keepdims=True))
            return shifted

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
    def cross_entropy_backward(
        self, grad, logits, target, lse, weight, ignore_index: int, label_smoothing, reduction
    ):
        """d loss / d logits (N, C) of cross_entropy over class indices: per row
        ``s * ((1-e) w[t] (p - onehot(t)) + e/C (p sum(w) - w))``, ``p = exp(logits - lse)``,
        ``s`` the row's share of ``grad`` (``grad / sum(w[t])`` for "mean"; 0 if ignored)."""
        xp = self.xp
        n, c = logits.shape
        keep = target != ignore_index
        safe = xp.where(keep, target, 0)
        rows = xp.arange(n)
        w = xp.ones(c, logits.dtype) if weight is None else weight.astype(logits.dtype)
        wt = w[safe] * keep

        def run():
            g = xp.asarray(grad, dtype=logits.dtype)
            if reduction == "mean":
                g = g / wt.sum()  # all ignored: 0/0, NaN loss but zero gradients (PyTorch)
            s = xp.where(keep, g, 0).astype(logits.dtype, copy=False)
            p = xp.exp(logits - lse[:, None])
            eps = label_smoothing
            out = p * ((1 - eps) * wt + eps / c * w.sum())[:, None]
            out[rows, safe] -= (1 - eps) * wt
            if eps:
                out -= eps / c * w[None, :]
            return out * s[:, None]

        return self.quiet(run)
