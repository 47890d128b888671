"""Pointwise kernels: fused activation forwards and the backward formulas of pointwise ops.

Each takes arrays of one shape (any strides) and returns a new array of that shape and dtype;
none writes to its inputs.
"""

from __future__ import annotations

from .engine import kernel


class PointwiseKernels:
    @kernel
    def threshold_backward(self, grad, x):
        """``grad`` where ``x > 0``, else 0 (ReLU's backward); one fused kernel on a GPU."""
        return self.xp.where(x > 0, grad, grad.dtype.type(0))
