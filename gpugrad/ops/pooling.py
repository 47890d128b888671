"""Pooling over strided window views: max_pool1d/2d, avg_pool1d/2d, adaptive avg / max
pooling (1-D and 2-D).

Max and average pooling are primitives whose backward is a primitive too (the adjoint
scatter of the windows), and that adjoint's backward is the pooling again, so gradients of
gradients work. Adaptive average pooling is two matmuls with averaging matrices (composite)."""

from __future__ import annotations

import math

from .._tensor import Tensor
from ..autograd.graph import Node
from ._checks import float_only, not_implemented_for
from ._util import (
    needs_grad,
    record,
    wrap_dim,
)
from .conv import _pair
from .shape import stack


class _PoolGeo:
    """Kernel, stride, padding, dilation and output size of one 2-D pooling."""

    __slots__ = ("k", "s", "p", "d", "out", "x_shape", "hi")

    def __init__(
        self,
        x_shape,
        kernel,
        stride,
        padding,
        dilation,
        ceil_mode: bool,
        name: str,
        check_pad: bool = True,
    ) -> None:
        self.k = _pair(kernel, "kernel_size")
        self.s = _pair(stride, "stride") if stride not in (None, [], ()) else self.k
        self.p = _pair(padding, "padding")
        self.d = _pair(dilation, "dilation")
        if min(self.p) < 0:  # NumPy's pad would raise "index can't contain negative values"
            raise RuntimeError(f"pad must be non-negative, but got pad: {min(self.p)}")
        if min(self.d) <= 0:
            raise RuntimeError(
                "dilation should be greater than zero, but got dilationH: "
                f"{self.d[0]} dilationW: {self.d[1]}"
            )
        self.x_shape = tuple(x_shape)
        n, c, h, w = self.x_shape
        out, hi = [], []
        for size, k, s, p, d in zip((h, w), self.k, self.s, self.p, self.d):
            if k <= 0 or s <= 0:
                raise RuntimeError(f"{name}: kernel_size and stride must be greater than zero")
            eff = d * (k - 1) + 1
            if check_pad and p > eff // 2:
                raise RuntimeError(
                    f"pad should be at most half of effective kernel size, but got pad={p}, "
                    f"kernel_size={k} and dilation={d}"
                )
            span = size + 2 * p - eff
            o = (-(-span // s) if ceil_mode else span // s) + 1
            if ceil_mode and (o - 1) * s >= size + p:  # the last window must start inside
                o -= 1
            out.append(o)
            hi.append(max((o - 1) * s + eff - size - p, p))
        if out[0] < 1 or out[1] < 1:
            raise RuntimeError(
                f"Given input size: ({c}x{h}x{w}). Calculated output size: "
                f"({c}x{out[0]}x{out[1]}). Output size is too small"
            )
        self.out = tuple(out)
        self.hi = tuple(hi)

    def padded(self, xp, x, fill):
        (ph, pw), (hh, hw) = self.p, self.hi
        if ph or pw or hh or hw:
            return xp.pad(x, ((0, 0), (0, 0), (ph, hh), (pw, hw)), constant_values=fill)
        return x

    def windows(self, backend, xpad):
        """(N, C, oh, ow, kh, kw) view of the padded input."""
        n, c = xpad.shape[:2]
        s_n, s_c, s_h, s_w = xpad.strides
        (sh, sw), (dh, dw) = self.s, self.d
        return backend.as_strided(
            xpad,
            (n, c) + self.out + self.k,
            (s_n, s_c, s_h * sh, s_w * sw, s_h * dh, s_w * dw),
        )

    def scatter(self, xp, vals, dtype):
        """Adjoint of windows(): add vals (N, C, oh, ow, kh, kw) back into the image."""
        n, c, h, w = self.x_shape
        (ph, pw), (hh, hw) = self.p, self.hi
        out = xp.zeros((n, c, h + ph + hh, w + pw + hw), dtype=dtype)
        (oh, ow), (sh, sw), (dh, dw) = self.out, self.s, self.d
        for i in range(self.k[0]):
            for j in range(self.k[1]):
                out[
                    :,
                    :,
                    i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                    j * dw : j * dw + sw * (ow - 1) + 1 : sw,
                ] += vals[..., i, j]
        return xp.ascontiguousarray(out[:, :, ph : ph + h, pw : pw + w])


# ---- max pooling -----------------------------------------------------------------------
class MaxPool2DWithIndicesBackward0(Node):
    def backward(self, grad, _idx_grad=None):
        return (_max_scatter(grad, self.argmax, self.geo),)


class MaxPoolScatterBackward(Node):
    def backward(self, h):
        return (_max_gather(h, self.argmax, self.geo),)


class MaxPoolGatherBackward(Node):
    def backward(self, g):
        return (_max_scatter(g, self.argmax, self.geo),)


def _max_scatter(grad: Tensor, argmax, geo: _PoolGeo) -> Tensor:
    xp = grad._device.backend.xp
    kk = geo.k[0] * geo.k[1]
    onehot = xp.arange(kk) == argmax[..., None]
    vals = (onehot * grad._data[..., None]).astype(grad._data.dtype, copy=False)
    vals = vals.reshape(vals.shape[:4] + geo.k)
    out = Tensor._make(geo.scatter(xp, vals, grad._data.dtype), grad._device)
    if needs_grad(grad):
        node = record(MaxPoolScatterBackward(), (grad,), out)
        node.argmax, node.geo = argmax, geo
    return out


def _max_gather(h: Tensor, argmax, geo: _PoolGeo) -> Tensor:
    backend = h._device.backend
    xp = backend.xp
    win = geo.windows(backend, geo.padded(xp, h._data, 0))
    win = win.reshape(win.shape[:4] + (geo.k[0] * geo.k[1],))
    data = xp.take_along_axis(win, argmax[..., None], axis=-1)[..., 0]
    out = Tensor._make(xp.ascontiguousarray(data), h._device)
    if needs_grad(h):
        node = record(MaxPoolGatherBackward(), (h,), out)
        node.argmax, node.geo = argmax, geo
    return out


def _batched(input: Tensor, name: str) -> tuple[Tensor, bool]:
    """``input`` as (N, C, H, W), and whether it was unbatched; PyTorch's checks: 3-D or 4-D
    (max_pool2d says so first; avg_pool2d asks for size(-3) first), no empty dimension but
    the batch."""
    shape = input._data.shape
    nd = len(shape)
    if name == "max_pool2d" and nd not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    if nd < 3:
        wrap_dim(-3, nd, wrap_scalar=False)
    if nd not in (3, 4) or 0 in shape[nd - 3 :]:
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, "
            f"but got:{list(shape)}"
        )
    return (input.unsqueeze(0), True) if nd == 3 else (input, False)


def _check_1d(input: Tensor, name: str) -> None:
    """The 1-D poolings' check of the input's rank (PyTorch's checkDimRange text)."""
    if input._data.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input._data.ndim}-dimensional tensor for "
            f"argument #1 'self' (while checking arguments for {name})"
        )


def max_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Max over each window; with return_indices also the flat (h*W + w) argmax positions."""
    x, unbatched = _batched(input, "max_pool2d")
    if x._data.dtype.kind == "b":  # integers pool in their dtype, as PyTorch's
        raise not_implemented_for("max_pool2d", x._data.dtype)
    geo = _PoolGeo(x.shape, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    backend = x._device.backend
    xp = backend.xp
    fill = -math.inf if x.dtype.is_floating_point else xp.iinfo(x._data.dtype).min
    win = geo.windows(backend, geo.padded(xp, x._data, fill))
    win = win.reshape(win.shape[:4] + (geo.k[0] * geo.k[1],))  # (not -1: an empty batch)
    argmax = xp.argmax(win, axis=-1)
    data = xp.take_along_axis(win, argmax[..., None], axis=-1)[..., 0]
    out = Tensor._make(xp.ascontiguousarray(data), x._device)
    if needs_grad(x):
        node = record(MaxPool2DWithIndicesBackward0(), (x,), out)
        node.argmax, node.geo = argmax, geo
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    (sh, sw), (ph, pw), (dh, dw), kw = geo.s, geo.p, geo.d, geo.k[1]
    oh, ow = geo.out
    rows = xp.arange(oh)[:, None] * sh - ph + (argmax // kw) * dh
    cols = xp.arange(ow)[None, :] * sw - pw + (argmax % kw) * dw
    idx = (rows * x.shape[3] + cols).astype("int64")
    idx_t = Tensor._make(idx[0] if unbatched else idx, x._device)
    return out, idx_t


# ---- average pooling -------------------------------------------------------------------
class _AvgCtx:
    __slots__ = ("geo", "divisor")

    def __init__(self, geo, divisor) -> None:
        self.geo, self.divisor = geo, divisor


class AvgPool2DBackward0(Node):
    def backward(self, grad):
        return (_avg_scatter(grad, self.ctx),)


class AvgPoolScatterBackward(Node):
    def backward(self, h):
        return (_avg_pool(h, self.ctx),)


def _avg_pool(x: Tensor, ctx: _AvgCtx) -> Tensor:
    backend = x._device.backend
    xp = backend.xp
    win = ctx.geo.windows(backend, ctx.geo.padded(xp, x._data, 0))
    data = (win.sum(axis=(-2, -1)) / ctx.divisor).astype(x._data.dtype, copy=False)
    out = Tensor._make(data, x._device)
    if needs_grad(x):
        record(AvgPool2DBackward0(), (x,), out).ctx = ctx
    return out


def _avg_scatter(grad: Tensor, ctx: _AvgCtx) -> Tensor:
    xp = grad._device.backend.xp
    g = (grad._data / ctx.divisor).astype(grad._data.dtype, copy=False)
    vals = xp.broadcast_to(g[..., None, None], g.shape + ctx.geo.k)
    out = Tensor._make(ctx.geo.scatter(xp, vals, g.dtype), grad._device)
    if needs_grad(grad):
        record(AvgPoolScatterBackward(), (grad,), out).ctx = ctx
    return out


def _avg_divisor(xp, geo: _PoolGeo, count_include_pad: bool, divisor_override, dtype):
    """Per-output-position divisor, as PyTorch counts window sizes at the borders."""
    if divisor_override:
        return dtype.type(divisor_override)
    sizes = []
    for o, size, k, s, p in zip(geo.out, geo.x_shape[2:], geo.k, geo.s, geo.p):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, size + p)
        full = end - start
        start, end = xp.maximum(start, 0), xp.minimum(end, size)
        sizes.append(full if count_include_pad else end - start)
    return (sizes[0][:, None] * sizes[1][None, :]).astype(dtype)


def avg_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each window (PyTorch's border counting, ceil_mode, divisor_override)."""
    x, unbatched = _batched(input, "avg_pool2d")
    if x._data.dtype.kind == "b":
        raise not_implemented_for("avg_pool2d", x._data.dtype)
    geo = _PoolGeo(x.shape, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    xp = x._device.backend.xp
    ctx = _AvgCtx(geo, _avg_divisor(xp, geo, count_include_pad, divisor_override, x._data.dtype))
    out = _avg_pool(x, ctx)
    return out.squeeze(0) if unbatched else out


# ---- adaptive average pooling ------------------------------------------------------------
def _averaging_matrix(xp, size: int, out: int, dtype):
    """(out, size) matrix whose row i averages PyTorch's bin [floor(i*size/out), ceil(...))."""
    m = xp.zeros((out, size), dtype=dtype)
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size (None in output_size keeps that dimension)."""
    if output_size == 1 or (
        isinstance(output_size, (tuple, list)) and tuple(output_size) == (1, 1)
    ):
        # PyTorch's shortcut for a 1x1 output: the mean over the last two dims (any input of
        # 2 or more dims; mean's errors for integers and bool)
        return input.mean((-1, -2), keepdim=True)
    _check_adaptive(input, "adaptive_avg_pool2d", (3, 4), "", spatial=True)
    float_only(input, "adaptive_avg_pool2d")
    h, w = input.shape[-2:]
    if isinstance(output_size, (tuple, list)):
        oh, ow = output_size
    else:
        oh = ow = output_size
    oh, ow = h if oh is None else int(oh), w if ow is None else int(ow)
    if oh < 0 or ow < 0:
        raise RuntimeError(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 "
            f"but received {{{oh}, {ow}}}"
        )
    xp = input._device.backend.xp
    dt = input._data.dtype
    out = input
    if oh != h:
        out = Tensor._make(_averaging_matrix(xp, h, oh, dt), input._device) @ out
    if ow != w:
        out = out @ Tensor._make(_averaging_matrix(xp, w, ow, dt).T.copy(), input._device)
    return out if out is not input else input.clone()


def _check_adaptive(input: Tensor, name: str, ranks: tuple, colon: str, spatial=False) -> None:
    """The adaptive poolings' checks, PyTorch's texts: a rank in ``ranks``, no empty
    dimension but the first (``spatial``: but the last two)."""
    shape = input._data.shape
    if len(shape) not in ranks:
        raise RuntimeError(
            f"{name}(): Expected {ranks[0]}D or {ranks[1]}D tensor, but got{colon} {list(shape)}"
        )
    for i in range(len(shape) - 2 if spatial else 1, len(shape)):
        if shape[i] == 0:
            raise RuntimeError(
                f"{name}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {list(shape)} with dimension {i} being empty"
            )


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed output size: cell (i, j) covers rows floor(i*H/oh) to
    ceil((i+1)*H/oh) and likewise columns; indices count within each H*W plane."""
    _check_adaptive(input, "adaptive_max_pool2d", (3, 4), ":")
    h, w = input.shape[-2:]
    oh, ow = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    oh, ow = h if oh is None else int(oh), w if ow is None else int(ow)
    if oh < 0 or ow < 0:
        shape = [*input.shape[:-2], oh, ow]
        bad = oh if oh < 0 else ow
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: {shape}")
    float_only(input, "adaptive_max_pool2d")
    rows, cols = [], []
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        row_v, row_i = [], []
        for j in range(ow):
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            # one cell: its max (the gradient goes to that one element, as PyTorch's)
            best = input[..., r0:r1, c0:c1].flatten(-2).max(-1)
            row_v.append(best.values)
            k = best.indices
            row_i.append((k // (c1 - c0) + r0) * w + k % (c1 - c0) + c0)
        rows.append(stack(row_v, -1))
        cols.append(stack(row_i, -1))
    values = stack(rows, -2)
    return (values, stack(cols, -2)) if return_indices else values


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    _check_1d(input, "adaptive_max_pool1d")
    _check_adaptive(input, "adaptive_max_pool1d", (2, 3), ":")
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, _one(output_size)), True)
    values, indices = out[0].squeeze(-2), out[1].squeeze(-2)
    return (values, indices) if return_indices else values


# ---- 1-D forms -------------------------------------------------------------------------
def _one(v):
    return v[0] if isinstance(v, (tuple, list)) else v


def max_pool1d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    shape = input._data.shape
    if len(shape) not in (2, 3) or 0 in shape[len(shape) - 2 :]:
        raise RuntimeError(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{list(shape)}"
        )
    if not return_indices:  # PyTorch's kernel without indices is float-only
        float_only(input, "max_pool1d_impl")
    stride = kernel_size if stride in (None, [], ()) else stride
    res = max_pool2d(
        input.unsqueeze(-2),
        (1, _one(kernel_size)),
        (1, _one(stride)),
        (0, _one(padding)),
        (1, _one(dilation)),
        ceil_mode,
        return_indices,
    )
    if return_indices:
        return res[0].squeeze(-2), res[1].squeeze(-2)
    return res.squeeze(-2)


def avg_pool1d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    _check_1d(input, "avg_pool1d")
    stride = kernel_size if stride in (None, [], ()) else stride
    return avg_pool2d(
        input.unsqueeze(-2),
        (1, _one(kernel_size)),
        (1, _one(stride)),
        (0, _one(padding)),
        ceil_mode,
        count_include_pad,
    ).squeeze(-2)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    _check_1d(input, "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, _one(output_size))).squeeze(-2)
