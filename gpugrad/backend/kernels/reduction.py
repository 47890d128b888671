"""Reduction kernels beyond the basic sum/amax: mean, var, logsumexp and vector_norm.

``axis`` is an int, a tuple of ints or None (every axis). float16 inputs accumulate in
float32, as PyTorch's kernels do, and the result is rounded back to float16 once. Reductions
over a zero-size axis give PyTorch's values (the mean and var NaN, logsumexp -inf, the sum-like
norms 0) without floating-point warnings; the op raises where PyTorch raises (the inf-norms
of nothing).
"""

from __future__ import annotations

import math

from ... import _dtype as D
from .engine import kernel


def reduced_count(shape: tuple, axis) -> int:
    """How many elements each output of a reduction over ``axis`` combines."""
    if axis is None:
        return math.prod(shape)
    if isinstance(axis, int):
        return shape[axis]
    return math.prod(shape[a] for a in axis)


class ReductionKernels:
    def _accumulated(self, x):
        """``x`` as the dtype it accumulates in: float32 for float16, else itself."""
        return x.astype(self.xp.float32) if D.is_reduced_float(x.dtype) else x

    def _sum_acc(self, x, axis, keepdims: bool):
        """The sum of ``x`` in its accumulation dtype (float16 is summed in float32)."""
        if D.is_reduced_float(x.dtype):
            return self.xp.sum(x, axis=axis, dtype=self.xp.float32, keepdims=keepdims)
        return self.sum(x, axis, keepdims=keepdims)

    @kernel
    def mean(self, x, axis, keepdims: bool = False):
        """The arithmetic mean over ``axis``; NaN over a zero-size axis."""
        n = reduced_count(x.shape, axis)
        s = self._sum_acc(x, axis, keepdims)
        return self.xp.asarray(self.quiet(self.xp.true_divide, s, n)).astype(x.dtype, copy=False)

    @kernel
    def var(self, x, axis, correction: float = 1, keepdims: bool = False):
        """``sum((x - mean)^2) / max(n - correction, 0)`` over ``axis`` (two passes): NaN for
        one element with Bessel's correction, inf where the degrees of freedom are <= 0 and
        the deviations are not all zero."""
        return self.quiet(_var, self, x, axis, correction, keepdims)

    @kernel
    def logsumexp(self, x, axis, keepdims: bool = False):
        """log(sum(exp(x))) over ``axis``, shifted by the maximum; -inf over a zero-size axis."""
        return self.quiet(_logsumexp, self, x, axis, keepdims)

    @kernel
    def logsumexp_backward(self, grad, x, out):
        """``grad * exp(x - out)``: logsumexp's gradient, ``grad`` and ``out`` (the result)
        with the reduced axes kept (size 1)."""
        return self.quiet(_logsumexp_backward, self.xp, grad, x, out)

    @kernel
    def var_backward(self, grad, x, mean, scale: float):
        """``(x - mean) * grad * scale``: var's gradient for ``scale = 2 / (n - correction)``,
        ``grad`` and ``mean`` with the reduced axes kept (size 1)."""
        return self.quiet(_var_backward, x, mean, grad, scale)

    @kernel
    def sum_backward(self, grad, shape: tuple):
        """``grad`` (a reduction's gradient, its reduced axes kept with size 1) spread over
        ``shape`` as a new C-ordered array: sum's backward where a leaf keeps the result
        (elsewhere the op passes the broadcast view on, unmaterialised)."""
        return self.xp.broadcast_to(grad, shape).copy()

    @kernel
    def vector_norm(self, x, ord, axis, keepdims: bool = False):
        """``linalg.vector_norm``: ``sum(|x|^ord)^(1/ord)`` over ``axis`` (2: the square root
        of the sum of squares, 1: the sum of magnitudes, inf/-inf: the largest/smallest
        magnitude, 0: the count of non-zeros)."""
        return self.quiet(_vector_norm, self, x, float(ord), axis, keepdims)


def _var(backend, x, axis, correction, keepdims):
    xp = backend.xp
    a = backend._accumulated(x)
    n = reduced_count(x.shape, axis)
    m = backend.sum(a, axis, keepdims=True) / max(n, 1)
    dev = a - m
    dev *= dev
    ss = backend.sum(dev, axis, keepdims=keepdims)
    out = xp.true_divide(ss, max(n - correction, 0))
    return xp.asarray(out).astype(x.dtype, copy=False)


def _logsumexp(backend, x, axis, keepdims):
    # PyTorch's steps: the shifted exponentials in x's dtype, their sum accumulated in
    # float32 for float16 (rounded once), then log and the shift added back in x's dtype
    xp = backend.xp
    if x.size == 0:  # no maximum to shift by; log(0) = -inf over an empty axis
        return xp.log(backend._sum_acc(xp.exp(x), axis, keepdims).astype(x.dtype, copy=False))
    m = backend.amax(x, axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, x.dtype.type(0))  # all -inf stays -inf, an inf inf
    s = backend._sum_acc(xp.exp(x - m), axis, True).astype(x.dtype, copy=False)
    out = xp.log(s) + m
    if not keepdims:
        out = out.squeeze(axis=axis)
    return out


def _logsumexp_backward(xp, grad, x, out):
    e = xp.exp(x - out)
    e *= grad
    return e


def _var_backward(x, mean, grad, scale):
    d = x - mean
    d *= grad * grad.dtype.type(scale)
    return d


def _vector_norm(backend, x, ord, axis, keepdims):
    xp = backend.xp
    a = xp.abs(backend._accumulated(x))
    if ord == 2.0:
        out = xp.sqrt(backend.sum(a * a, axis, keepdims=keepdims))
    elif ord == 1.0:
        out = backend.sum(a, axis, keepdims=keepdims)
    elif ord == math.inf:
        out = backend.amax(a, axis, keepdims=keepdims)
    elif ord == -math.inf:
        out = backend.amin(a, axis, keepdims=keepdims)
    elif ord == 0.0:
        out = backend.sum((a != 0).astype(a.dtype), axis, keepdims=keepdims)
    else:
        out = backend.sum(a**ord, axis, keepdims=keepdims) ** (1.0 / ord)
    return xp.asarray(out).astype(x.dtype, copy=False)
