"""Normalization kernels: layer_norm and rms_norm over the columns of a 2-D array, group_norm
over channel groups of an (N, C, S) array; forward and backward."""

from __future__ import annotations

from ... import _dtype as D
from .engine import kernel

_HALF = ("float16", "bfloat16")


class NormalizationKernels:
    """The normalization names (docs/kernels.md); references written against ``self.xp``."""

    @kernel
    def layer_norm(self, x, weight, bias, eps: float):
        """``(y, mean, rstd)``: each row of ``x`` (M, N) less its mean, times its reciprocal
        standard deviation (biased), then ``* weight + bias`` (N,) where given."""
        return self.quiet(_layer_norm, self, x, weight, bias, eps)

    @kernel
    def layer_norm_backward(self, grad, x, mean, rstd, weight, weight_grads: bool):
        """``(dx, dweight, dbias)`` of layer_norm; dweight/dbias None unless
        ``weight_grads``."""
        return self.quiet(_layer_norm_backward, self, grad, x, mean, rstd, weight, weight_grads)

    @kernel
    def rms_norm(self, x, weight, eps: float):
        """``(y, rstd)``: each row of ``x`` (M, N) times its reciprocal root mean square
        ``1/sqrt(mean(x^2) + eps)``, then ``* weight`` (N,) where given; rstd (M,)."""
        return self.quiet(_rms_norm, self, x, weight, eps)

    @kernel
    def rms_norm_backward(self, grad, x, rstd, weight, weight_grads: bool):
        """``(dx, dweight)`` of rms_norm; dweight None unless ``weight_grads``."""
        return self.quiet(_rms_norm_backward, self, grad, x, rstd, weight, weight_grads)

    @kernel
    def group_norm(self, x, weight, bias, groups: int, eps: float):
        """``(y, mean, rstd)``: ``x`` (N, C, S) normalised over each group of ``C // groups``
        channels (and all S positions) per sample, then ``* weight + bias`` (C,) where given;
        mean/rstd (N, groups), rstd from the biased variance."""
        return self.quiet(_group_norm, self, x, weight, bias, groups, eps)

    @kernel
    def group_norm_backward(self, grad, x, mean, rstd, weight, groups: int, weight_grads: bool):
        """``(dx, dweight, dbias)`` of group_norm (``x``, ``grad`` (N, C, S)); dweight/dbias
        (C,) None unless ``weight_grads``."""
        return self.quiet(
            _group_norm_backward, self, grad, x, mean, rstd, weight, groups, weight_grads
        )


def _stat_dtype(be, x):
    # half inputs keep float32 statistics; float32/float64 their own
    return be.xp.float32 if D.np_name(x.dtype) in _HALF else x.dtype


def _layer_norm(be, x, weight, bias, eps):
    xp = be.xp
    st = _stat_dtype(be, x)
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


def _layer_norm_backward(be, grad, x, mean, rstd, weight, weight_grads):
    st = _stat_dtype(be, x)
    g = grad.astype(st, copy=False)
    xhat = (x.astype(st, copy=False) - mean[:, None]) * rstd[:, None]
    gw = g if weight is None else g * weight.astype(st, copy=False)
    n = x.shape[1]
    if n == 0:
        dx = be.xp.empty_like(x)
    else:
        a = gw.mean(axis=1)[:, None]
        b = (gw * xhat).mean(axis=1)[:, None]
        dx = ((gw - a - xhat * b) * rstd[:, None]).astype(x.dtype, copy=False)
    if not weight_grads:
        return dx, None, None
    dweight = (g * xhat).sum(axis=0).astype(x.dtype, copy=False)
    dbias = g.sum(axis=0).astype(x.dtype, copy=False)
    return dx, dweight, dbias


def _rms_norm(be, x, weight, eps):
    xp = be.xp
    st = _stat_dtype(be, x)
    xf = x.astype(st, copy=False)
    m, n = x.shape
    if n == 0:  # no columns: empty rows; mean(x^2) of nothing is NaN, as PyTorch's
        return xp.empty_like(x), xp.full(m, xp.nan, st)
    rstd = 1 / xp.sqrt((xf * xf).mean(axis=1) + eps)
    y = xf * rstd[:, None]
    if weight is not None:
        y = y * weight.astype(st, copy=False)
    return y.astype(x.dtype, copy=False), rstd.astype(st, copy=False)


def _rms_norm_backward(be, grad, x, rstd, weight, weight_grads):
    st = _stat_dtype(be, x)
    g = grad.astype(st, copy=False)
    xhat = x.astype(st, copy=False) * rstd[:, None]
    gw = g if weight is None else g * weight.astype(st, copy=False)
    if x.shape[1] == 0:
        dx = be.xp.empty_like(x)
    else:
        b = (gw * xhat).mean(axis=1)[:, None]
        dx = ((gw - xhat * b) * rstd[:, None]).astype(x.dtype, copy=False)
    if not weight_grads:
        return dx, None
    return dx, (g * xhat).sum(axis=0).astype(x.dtype, copy=False)


def _group_norm(be, x, weight, bias, groups, eps):
    xp = be.xp
    st = _stat_dtype(be, x)
    n, c, s = x.shape
    xg = x.astype(st, copy=False).reshape(n, groups, (c // groups) * s)
    if xg.shape[2] == 0:  # empty groups: NaN statistics, as PyTorch's
        nan = xp.full((n, groups), xp.nan, st)
        return xp.empty_like(x), nan, nan.copy()
    mean = xg.mean(axis=2)
    xc = xg - mean[:, :, None]
    rstd = 1 / xp.sqrt((xc * xc).mean(axis=2) + eps)
    y = (xc * rstd[:, :, None]).reshape(n, c, s)
    if weight is not None:
        y = y * weight.astype(st, copy=False)[:, None]
    if bias is not None:
        y = y + bias.astype(st, copy=False)[:, None]
    return (
        y.astype(x.dtype, copy=False),
        mean.astype(st, copy=False),
        rstd.astype(st, copy=False),
    )


def _group_norm_backward(be, grad, x, mean, rstd, weight, groups, weight_grads):
    xp = be.xp
    st = _stat_dtype(be, x)
    n, c, s = x.shape
    k = (c // groups) * s
    g = grad.astype(st, copy=False)
    xhat = (
        (x.astype(st, copy=False).reshape(n, groups, k) - mean[:, :, None]) * rstd[:, :, None]
    ).reshape(n, c, s)
    gw = g if weight is None else g * weight.astype(st, copy=False)[:, None]
    if k == 0:
        dx = xp.empty_like(x)
    else:
        gw3 = gw.reshape(n, groups, k)
        xh3 = xhat.reshape(n, groups, k)
        a = gw3.mean(axis=2)[:, :, None]
        b = (gw3 * xh3).mean(axis=2)[:, :, None]
        dx = ((gw3 - a - xh3 * b) * rstd[:, :, None]).reshape(n, c, s)
        dx = dx.astype(x.dtype, copy=False)
    if not weight_grads:
        return dx, None, None
    dweight = (g * xhat).sum(axis=(0, 2)).astype(x.dtype, copy=False)
    if s == 0 and n:  # PyTorch's sum(rstd * (sum g x - mean sum g)): the NaN statistics show
        dweight[...] = xp.nan
    dbias = g.sum(axis=(0, 2)).astype(x.dtype, copy=False)
    return dx, dweight, dbias
