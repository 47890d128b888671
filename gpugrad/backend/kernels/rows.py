"""Row kernels: softmax, log_softmax and cross-entropy, each along one axis of its input."""

from __future__ import annotations

from .engine import kernel


class RowKernels:
    @kernel
    def log_softmax(self, x, axis: int):
        """log(softmax(x)) along ``axis``, shifted by the row maximum for stability."""
        xp = self.xp
        shifted = x - self.amax(x, axis, keepdims=True)
        shifted -= xp.log(self.sum(xp.exp(shifted), axis, keepdims=True))
        return shifted

    @kernel
    def softmax(self, x, axis: int):
        """softmax(x) along ``axis``, shifted by the row maximum for stability."""
        e = self.xp.exp(x - self.amax(x, axis, keepdims=True))
        e /= self.sum(e, axis, keepdims=True)
        return e
