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
