"""Reduction kernels beyond the basic sum/amax: logsumexp, and the statistics ops reduce with."""

from __future__ import annotations

from .engine import kernel


class ReductionKernels:
    @kernel
    def logsumexp(self, x, axis, keepdims: bool):
        """log(sum(exp(x))) over ``axis`` (an int, a tuple or None), shifted by the maximum."""
        xp = self.xp
        m = self.amax(x, axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(self.sum(xp.exp(x - m), axis, keepdims=True)) + m
        return out if keepdims else out.squeeze(axis=axis)
