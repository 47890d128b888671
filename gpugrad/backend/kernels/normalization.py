"""Normalization kernels: layer_norm forward and backward over the columns of a 2-D array."""

from __future__ import annotations

from .engine import kernel

_HALF = ("float16", "bfloat16")


class NormalizationKernels:
    """The normalization names (docs/kernels.md); references written against ``self.xp``."""

    def _stat_dtype(self, x):
        # half inputs keep float32 statistics; float32/float64 their own
        return self.xp.float32 if x.dtype.name in _HALF else x.dtype

    @kernel
    def layer_norm(self, x, weight, bias, eps: float):
        """``(y, mean, rstd)``: each row of ``x`` (M, N) less its mean, times its reciprocal
        standard deviation (biased), then ``* weight + bias`` (N,) where given."""
        xp = self.xp
        st = self._stat_dtype(x)
        xf = x.astype(st, copy=False)
        m, n = x.shape
        if n == 0:  # no columns: empty rows, NaN statistics as PyTorch's
            nan = xp.full(m, xp.nan, st)
            return xp.empty_like(x), nan, nan.copy()
        mean = xf.mean(axis=1)
        xc = xf - mean[:, None]
        rstd = 1 / xp.sqrt((xc * xc).mean(axis=1) + eps)
        y = xc * rstd[:, None]
        if weight is not None:
            y = y * weight.astype(st, copy=False)
        if bias is not None:
            y = y + bias.astype(st, copy=False)
        return (
            y.astype(x.dtype, copy=False),
            mean.astype(st, copy=False),
            rstd.astype(st, copy=False),
        )

    @kernel
    def layer_norm_backward(self, grad, x, mean, rstd, weight, weight_grads: bool):
        """``(dx, dweight, dbias)`` of layer_norm; dweight/dbias None unless
        ``weight_grads``."""
        st = self._stat_dtype(x)
        g = grad.astype(st, copy=False)
        xhat = (x.astype(st, copy=False) - mean[:, None]) * rstd[:, None]
        gw = g if weight is None else g * weight.astype(st, copy=False)
        n = x.shape[1]
        if n == 0:
            dx = self.xp.empty_like(x)
        else:
            a = gw.mean(axis=1)[:, None]
            b = (gw * xhat).mean(axis=1)[:, None]
            dx = ((gw - a - xhat * b) * rstd[:, None]).astype(x.dtype, copy=False)
        if not weight_grads:
            return dx, None, None
        dweight = (g * xhat).sum(axis=0).astype(x.dtype, copy=False)
        dbias = g.sum(axis=0).astype(x.dtype, copy=False)
        return dx, dweight, dbias
