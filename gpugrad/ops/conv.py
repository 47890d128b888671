"""Convolution and folding: conv1d/2d/3d and conv_transpose1d/2d/3d as im2col plus one
batched matmul, and F.unfold (im2col) / F.fold (col2im).

Three primitives carry the convolution: the forward, its input gradient (a "col2im", i.e.
transposed convolution) and its weight gradient. All three are bilinear, and each one's
backward is written with the other two, so gradients of gradients come for free. unfold and
fold are each other's adjoint, so each one's backward is the other. The patch gather and
scatter are the backend's ``im2col`` / ``col2im`` kernels (docs/kernels.md), for 1 to 3
spatial dims."""

from __future__ import annotations

import math

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node
from . import _autocast as _amp
from ._checks import not_implemented_for
from ._util import (
    check_device,
    needs_grad,
    record,
    wrap_dim,
)


def _pair(v, name: str = "value") -> tuple[int, int]:
    return _ntuple(v, 2, name)


def _ntuple(v, nd: int, name: str = "value") -> tuple[int, ...]:
    """An int or a 1- or nd-long list as an nd-tuple, with PyTorch's error otherwise."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * nd
        if len(v) != nd:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of {nd} "
                f"values to match the convolution dimensions, but got "
                f"{name}={list(v)}"
            )
        return tuple(int(e) for e in v)
    return (int(v),) * nd


class _Geometry:
    """Stride, padding ((low, high) per spatial dim), dilation, groups of one convolution."""

    __slots__ = ("stride", "pad", "dilation", "groups")

    def __init__(self, stride, pad, dilation, groups) -> None:
        self.stride, self.pad, self.dilation, self.groups = stride, pad, dilation, groups

    def out_shape(self, spatial, kernel) -> tuple[int, ...]:
        return tuple(
            (s + lo + hi - d * (k - 1) - 1) // st + 1
            for s, k, st, (lo, hi), d in zip(spatial, kernel, self.stride, self.pad, self.dilation)
        )


def _cols(backend, x, kernel, geo: _Geometry, out=None):
    """im2col of x: (N, C*prod(kernel), prod(out)), into ``out`` where given."""
    return backend.im2col(x, kernel, geo.stride, geo.pad, geo.dilation, out=out)


# The GEMMs run per sample (and group) on the batch-major cols, so each sample's product is
# its slab of the NCHW result (no transpose copies). On the CPU the samples go in passes of
# about _PASS_BYTES of columns through one buffer: each pass's im2col (or column gradient)
# is still in the cache when its GEMM (or col2im) reads it, and no pass pays fresh pages.
# Measured at 16x32x32x32 -> 32, 3x3, one thread: input gradient 7.8 -> 5.8 ms, forward
# 6.5 -> 5.9 ms against one pass over the 19 MB of columns (before the buffer); the weight
# gradient recomputing its columns pass by pass costs what reading kept ones did. The GPU
# runs one pass: one batched GEMM.
_PASS_BYTES = 2 << 20


def _passes(n: int, cols_per_sample: int, backend) -> tuple[int, list[slice]]:
    """Samples per pass and the passes' slices of the batch: at most _PASS_BYTES of columns
    each (one sample at least; all samples in one pass off the CPU or for an empty batch)."""
    if backend.device.type != "cpu" or n == 0:
        return n, [slice(0, n)]
    step = min(n, max(1, _PASS_BYTES // max(1, cols_per_sample)))
    return step, [slice(s, min(n, s + step)) for s in range(0, n, step)]


def _matmul_into(backend, a, b, out):
    """``a @ b`` written into ``out`` (returned). BLAS writes float32/float64 products there
    itself; other dtypes take backend.matmul (bfloat16 accumulates in float32 there)."""
    # (inside a CUDA graph capture only backend.matmul reaches cuBLAS: CuPy's binding refuses)
    if a.dtype.kind == "f" and a.dtype.itemsize >= 4 and not backend.capturing:
        return backend.xp.matmul(a, b, out=out)
    out[...] = backend.matmul(a, b)
    return out


def _into(result, out):
    """A kernel's ``out=`` result in ``out`` itself (a wrapping backend may return a copy)."""
    if result is not out:
        out[...] = result
    return out


def _forward(x, w, geo: _Geometry, backend, keep: bool = False):
    """conv(x, w) without bias, (N, O, *out); and its im2col columns when ``keep`` and they
    were made in one pass (else None)."""
    xp = backend.xp
    n = x.shape[0]
    o, cg = w.shape[:2]
    kernel = tuple(w.shape[2:])
    out = geo.out_shape(x.shape[2:], kernel)
    g = geo.groups
    kk, p = cg * math.prod(kernel), math.prod(out)
    wmat = w.reshape(g, o // g, kk)
    step, passes = _passes(n, g * kk * p * x.itemsize, backend)
    buf = xp.empty((step, g * kk, p), dtype=x.dtype)
    y = xp.empty((n, g, o // g, p), dtype=x.dtype)
    for s in passes:
        m = s.stop - s.start
        cols = buf[:m]
        _into(_cols(backend, x[s], kernel, geo, out=cols), cols)
        _matmul_into(backend, wmat, cols.reshape(m, g, kk, p), y[s])  # (m, G, O/G, P)
    return y.reshape((n, o) + out), (buf if keep and len(passes) == 1 else None)


def _input_grad(gout, w, x_shape, geo: _Geometry, backend):
    """The gradient of conv(x, w) w.r.t. x for an output gradient ``gout`` (N, O, *out)."""
    xp = backend.xp
    n = gout.shape[0]
    o, cg = w.shape[:2]
    kernel = tuple(w.shape[2:])
    g = geo.groups
    kk, p = cg * math.prod(kernel), math.prod(gout.shape[2:])
    wmat = w.reshape(g, o // g, kk).swapaxes(1, 2)
    step, passes = _passes(n, g * kk * p * gout.itemsize, backend)
    buf = xp.empty((step, g, kk, p), dtype=gout.dtype)
    gx = xp.empty(tuple(x_shape), dtype=gout.dtype)
    for s in passes:
        m = s.stop - s.start
        cols = _matmul_into(backend, wmat, gout[s].reshape(m, g, o // g, p), buf[:m])
        dst = gx[s]
        res = backend.col2im(
            cols.reshape(m, g * kk, p), (m,) + tuple(x_shape[1:]), kernel, geo.stride,
            geo.pad, geo.dilation, out=dst,
        )  # fmt: skip
        _into(res, dst)
    return gx


def _weight_grad(x, gout, w_shape, geo: _Geometry, backend, cols=None):
    """The gradient of conv(x, w) w.r.t. w: per-sample GEMMs summed over the batch (``cols``
    the forward's columns of all of x, when it kept them)."""
    xp = backend.xp
    n = x.shape[0]
    kernel = tuple(w_shape[2:])
    g = geo.groups
    og, kk, p = w_shape[0] // g, w_shape[1] * math.prod(kernel), math.prod(gout.shape[2:])
    if cols is not None:
        step, passes = n, [slice(0, n)]
    else:
        step, passes = _passes(n, g * kk * p * x.itemsize, backend)
        buf = xp.empty((step, g * kk, p), dtype=x.dtype)
    gw = None
    for s in passes:
        m = s.stop - s.start
        c = cols if cols is not None else _cols(backend, x[s], kernel, geo, out=buf[:m])
        # cols @ gout^T, not gout @ cols^T: BLAS runs this orientation faster (4.0 vs 5.6 ms
        # at the sizes above, 2 threads)
        part = backend.matmul(c.reshape(m, g, kk, p), gout[s].reshape(m, g, og, p).swapaxes(2, 3))
        part = backend.sum(part, 0)  # (G, Cg*K, O/G)
        gw = part if gw is None else xp.add(gw, part, out=gw)
    return xp.ascontiguousarray(gw.swapaxes(1, 2)).reshape(w_shape)


def _bias_axes(nd: int) -> tuple[int, ...]:
    return (0,) + tuple(range(2, nd))


# A forward made in one pass (the GPU; small inputs on the CPU) keeps its columns for the
# weight gradient up to this size (bytes): recomputing them costs a pass as long as the
# forward's gather.
_KEEP_COLS = 64 << 20


class ConvolutionBackward0(Node):
    """conv (transposed=False) or transposed conv: out = Cx(input, w) (transposed=True)."""

    transposed = False
    crop = None  # transposed: the slice of the output the windows reach
    cols = None  # the forward's im2col (non-transposed), when kept (_KEEP_COLS)

    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        x, w = self.saved_tensors
        gx = gw = gb = None
        geo = self.geo
        if self.transposed:
            grad = grad[self.crop] if self.crop is not None else grad
            if self.needs_input_grad(0):
                gx = _conv(grad, w, None, geo)
            if self.needs_input_grad(1):
                gw = _conv_weight_grad(grad, x, tuple(w.shape), geo)
        else:
            if self.needs_input_grad(0):
                gx = _conv_input_grad(grad, w, tuple(x.shape), geo)
            if self.needs_input_grad(1):
                gw = _conv_weight_grad(x, grad, tuple(w.shape), geo)
        if self.needs_input_grad(2):
            gb = grad.sum(_bias_axes(grad.ndim))
        return gx, gw, gb

    def _arrays(self, backend, g):
        x, w = self.saved_arrays()
        gx = gw = gb = None
        geo = self.geo
        if self.needs_input_grad(2):
            gb = backend.sum(g, _bias_axes(g.ndim))
        if self.transposed:
            g = g[self.crop] if self.crop is not None else g
            if self.needs_input_grad(0):
                gx = _forward(g, w, geo, backend)[0]
            if self.needs_input_grad(1):
                gw = _weight_grad(g, x, w.shape, geo, backend)
        else:
            if self.needs_input_grad(0):
                gx = backend.xp.ascontiguousarray(_input_grad(g, w, x.shape, geo, backend))
            if self.needs_input_grad(1):
                gw = _weight_grad(x, g, w.shape, geo, backend, self.cols)
        self.cols = None
        return gx, gw, gb


class ConvolutionBackwardInput(Node):
    """Backward of the input gradient Cx(g, w): <Cx(g, w), h> = <conv(h, w), g>."""

    def backward(self, h):
        g, w = self.saved_tensors
        dg = _conv(h, w, None, self.geo) if self.needs_input_grad(0) else None
        dw = _conv_weight_grad(h, g, tuple(w.shape), self.geo) if self.needs_input_grad(1) else None
        return dg, dw


class ConvolutionBackwardWeight(Node):
    """Backward of the weight gradient Cw(x, g): <Cw(x, g), k> = <conv(x, k), g>."""

    def backward(self, k):
        x, g = self.saved_tensors
        dx = _conv_input_grad(g, k, tuple(x.shape), self.geo) if self.needs_input_grad(0) else None
        dg = _conv(x, k, None, self.geo) if self.needs_input_grad(1) else None
        return dx, dg


def _add_bias(data, b: Tensor | None) -> None:
    if b is not None:
        data += b._data.reshape((1, -1) + (1,) * (data.ndim - 2))


def _conv(x: Tensor, w: Tensor, b: Tensor | None, geo: _Geometry) -> Tensor:
    backend = x._device.backend
    keep = needs_grad(x, w, b) and w._requires_grad
    data, cols = _forward(x._data, w._data, geo, backend, keep)
    _add_bias(data, b)
    out = Tensor._make(data, x._device)
    if needs_grad(x, w, b):
        node = record(ConvolutionBackward0(), (x, w, b), out)
        node.save(x, w)
        node.geo = geo
        if cols is not None and cols.nbytes <= _KEEP_COLS:
            node.cols = cols
    return out


def _conv_input_grad(g: Tensor, w: Tensor, x_shape: tuple, geo: _Geometry) -> Tensor:
    data = _input_grad(g._data, w._data, x_shape, geo, g._device.backend)
    out = Tensor._make(g._device.backend.xp.ascontiguousarray(data), g._device)
    if needs_grad(g, w):
        node = record(ConvolutionBackwardInput(), (g, w), out)
        node.save(g, w)
        node.geo = geo
    return out


def _conv_weight_grad(x: Tensor, g: Tensor, w_shape: tuple, geo: _Geometry) -> Tensor:
    data = _weight_grad(x._data, g._data, w_shape, geo, x._device.backend)
    out = Tensor._make(data, x._device)
    if needs_grad(x, g):
        node = record(ConvolutionBackwardWeight(), (x, g), out)
        node.save(x, g)
        node.geo = geo
    return out


def _padding(padding, kernel, dilation, stride, nd: int) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in totals)  # PyTorch pads extra at the end
    return tuple((p, p) for p in _ntuple(padding, nd, "padding"))


_DIM_NAMES = {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _check_geometry(stride, padding, dilation, transposed: bool, groups: int) -> None:
    """PyTorch's checks on a convolution's parameters, in its order."""
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d < 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if any(d == 0 for d in dilation):
        if transposed:
            names = _DIM_NAMES[len(dilation)]
            got = ", ".join(f"dilation_{n}: {d}" for n, d in zip(names, dilation))
            raise RuntimeError(f"dilation should be greater than zero, but got {got}")
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")


def _batched(input: Tensor, nd: int, name: str) -> bool:
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
            f"input of size: {list(input.shape)}"
        )
    return input.ndim == nd + 2


def _check_dtypes(input: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    """Weight and bias of the input's dtype, as PyTorch's; a bool input is left to
    ``_no_bool`` (PyTorch's kernel refuses bool before it compares the dtypes)."""
    if input._data.dtype.kind == "b":
        return
    if input.dtype != weight.dtype:
        raise RuntimeError(
            f"expected scalar type {D.scalar_type_name(input.dtype)} but found "
            f"{D.scalar_type_name(weight.dtype)}"
        )
    if bias is not None and bias.dtype != input.dtype:
        raise RuntimeError(
            f"expected scalar type {D.scalar_type_name(input.dtype)} but found "
            f"{D.scalar_type_name(bias.dtype)}"
        )


def _sizes(t) -> str:
    return " x ".join(str(v) for v in t)


def _inputs(input, weight, bias, nd: int, name: str):
    """Autocast's casts, the batch dim and the weight's rank: ``(input, weight, bias, x,
    batched)``, x the input with a batch dim."""
    if _active.autocast:
        input, weight, bias = _amp.lower(input, weight, bias)
    batched = _batched(input, nd, name)
    x = input if batched else input.unsqueeze(0)
    check_device(x, weight, name)
    if weight.ndim != nd + 2:
        raise RuntimeError(
            f"weight should have at least three dimensions, got {weight.ndim}"
            if weight.ndim < 3
            else f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input "
            f"{list(x.shape)}, but got {weight.ndim}-dimensional weight of size "
            f"{list(weight.shape)} instead"
        )
    return input, weight, bias, x, batched


def _checked_geometry(stride, padding, dilation, groups: int, nd: int, eff, transposed: bool):
    """stride, dilation and padding as nd-tuples (a padding string as zeros), checked; and
    ``lead``, the unit dims PyTorch's messages show in front (conv1d's height-1 view)."""
    st, dil = _ntuple(stride, nd, "stride"), _ntuple(dilation, nd, "dilation")
    pads = (0,) * nd if isinstance(padding, str) else _ntuple(padding, nd, "padding")
    lead = (1,) * ((eff or nd) - nd)
    _check_geometry(lead + st, (0,) * len(lead) + pads, lead + dil, transposed, groups)
    return st, dil, pads, lead


def _check_groups(weight, groups: int) -> None:
    """PyTorch's first shape check: the weight has a filter (an input channel, transposed)
    for each group; an empty weight would give an empty result."""
    if weight.shape[0] < groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
            f"but got weight of size {list(weight.shape)} instead"
        )


def _no_bool(x, kernel: str) -> None:
    """Integers convolve in their dtype; PyTorch's CPU kernels have no loop for bool."""
    if x._data.dtype.kind == "b":
        raise not_implemented_for(kernel, x._data.dtype)


def _check_bias(x, weight, bias, groups: int, n_out: int, name: str, given: str) -> None:
    """The weight's dim 0 splits into ``groups``; the bias has the ``n_out`` outputs."""
    if weight.shape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension "
            f"0, but got weight of size [{list(weight.shape)}] instead"
        )
    if bias is not None:
        check_device(x, bias, name)
        if tuple(bias.shape) != (n_out,):
            raise RuntimeError(
                f"Given {given}weight of size {list(weight.shape)}, expected bias to be "
                f"1-dimensional with {n_out} elements, but got bias of size "
                f"{list(bias.shape)} instead"
            )


def _convnd(input, weight, bias, stride, padding, dilation, groups, nd: int, name: str, eff=None):
    """conv{nd}d: checks in PyTorch's order, then the convolution. ``eff`` is the number of
    spatial dims PyTorch's messages use (conv1d runs as 2-d there)."""
    input, weight, bias, x, batched = _inputs(input, weight, bias, nd, name)
    kernel = tuple(weight.shape[2:])
    st, dil, pads, lead = _checked_geometry(stride, padding, dilation, groups, nd, eff, False)
    _check_dtypes(x, weight, bias)
    _check_groups(weight, groups)
    o, cg = weight.shape[:2]
    c = x.shape[1]
    if cg * groups != c:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(x.shape)} to have {cg * groups} channels, but got {c} channels "
            "instead"
        )
    _check_bias(x, weight, bias, groups, o, name, "")
    pad = _padding(padding, kernel, dil, st, nd)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pad))
    span = tuple(d * (k - 1) + 1 for d, k in zip(dil, kernel))
    if any(p < k for p, k in zip(padded, span)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({_sizes(padded)}). Kernel size: "
            f"({_sizes(span)}). Kernel size can't be greater than actual input size"
        )
    if any(d != 1 for d in dil):
        _no_bool(x, "slow_conv_dilated<>")
    _no_bool(x, "compute_columns3d" if nd == 3 else "slow_conv2d_cpu")
    out = _conv(x, weight, bias, _Geometry(st, pad, dil, groups))
    return out if batched else out.squeeze(0)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution over (N, C, L) or unbatched (C, L) input."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d", 2)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution over (N, C, H, W) or unbatched (C, H, W) input."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution over (N, C, D, H, W) or unbatched (C, D, H, W) input."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def _fit(spatial, out, kernel, geo: _Geometry):
    """The part of a transposed convolution's output its windows reach, and the padding that
    makes the forward convolution of that part give exactly ``out`` positions: the output
    beyond the last window (output_padding >= stride) is zeros."""
    fitted, pads = [], []
    for s, o, k, st, (lo, _), d in zip(spatial, out, kernel, geo.stride, geo.pad, geo.dilation):
        reach = (o - 1) * st + d * (k - 1) + 1 - lo  # unpadded extent the windows cover
        f = max(0, min(s, reach))
        fitted.append(f)
        pads.append((lo, max(0, reach - f)))
    return tuple(fitted), tuple(pads)


def _conv_transpose(x: Tensor, w: Tensor, b: Tensor | None, out_spatial, geo: _Geometry):
    """Cx(x, w) onto an output of ``out_spatial``, with bias, as one ConvolutionBackward0."""
    backend = x._device.backend
    xp = backend.xp
    kernel = tuple(w.shape[2:])
    fitted, pads = _fit(out_spatial, tuple(x.shape[2:]), kernel, geo)
    geo = _Geometry(geo.stride, pads, geo.dilation, geo.groups)
    n = x.shape[0]
    cout = w.shape[1] * geo.groups
    data = _input_grad(x._data, w._data, (n, cout) + fitted, geo, backend)
    crop = None
    if fitted != tuple(out_spatial):
        full = xp.zeros((n, cout) + tuple(out_spatial), dtype=data.dtype)
        crop = (slice(None), slice(None)) + tuple(slice(0, f) for f in fitted)
        full[crop] = data
        data = full
    else:
        data = xp.ascontiguousarray(data)
    _add_bias(data, b)
    out = Tensor._make(data, x._device)
    if needs_grad(x, w, b):
        node = record(ConvolutionBackward0(), (x, w, b), out)
        node.save(x, w)
        node.geo, node.transposed, node.crop = geo, True, crop
    return out


def _conv_transposend(
    input, weight, bias, stride, padding, output_padding, groups, dilation, nd: int, name, eff=None
):
    input, weight, bias, x, batched = _inputs(input, weight, bias, nd, name)
    kernel = tuple(weight.shape[2:])
    st, dil, pads, lead = _checked_geometry(stride, padding, dilation, groups, nd, eff, True)
    opad = _ntuple(output_padding, nd, "output_padding")
    if any(p < 0 for p in opad):
        raise RuntimeError("negative output_padding is not supported")
    names = _DIM_NAMES[nd + len(lead)]
    if any(op >= max(s, d) for op, s, d in zip(opad, st, dil)):
        ops = (0,) * len(lead) + opad
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            + " ".join(f"output_padding_{n}: {v}" for n, v in zip(names, ops))
            + " "
            + " ".join(f"stride_{n}: {v}" for n, v in zip(names, lead + st))
            + " "
            + " ".join(f"dilation_{n}: {v}" for n, v in zip(names, lead + dil))
        )
    _check_dtypes(x, weight, bias)
    _check_groups(weight, groups)
    cin, cg = weight.shape[:2]
    c = x.shape[1]
    if c != cin:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected "
            f"input{list(x.shape)} to have {cin} channels, but got {c} channels instead"
        )
    _check_bias(x, weight, bias, groups, cg * groups, name, "transposed=1, ")
    spatial = tuple(x.shape[2:])
    out = tuple(
        (s - 1) * t - 2 * p + d * (k - 1) + op + 1
        for s, t, p, d, k, op in zip(spatial, st, pads, dil, kernel, opad)
    )
    if any(v <= 0 for v in out):
        raise RuntimeError(
            f"Given input size per channel: ({_sizes(lead + spatial)}). Calculated output size "
            f"per channel: ({_sizes(lead + out)}). Output size is too small"
        )
    if cg == 0:  # no output channel: PyTorch's kernel refuses the weight
        shown = list(weight.shape[:2]) + list(lead + kernel)
        raise RuntimeError(
            f"non-empty 2D or 4D weight tensor expected, but got: {shown}"
            if nd < 3
            else "non-empty 5D (n_output_plane x n_input_plane x kernel_depth x kernel_height "
            f"x kernel_width) tensor expected for weight, but got: {shown}"
        )
    _no_bool(x, f"slow_conv_transpose{max(nd, 2)}d_out_cpu")
    geo = _Geometry(st, tuple((p, p) for p in pads), dil, groups)
    res = _conv_transpose(x, weight, bias, out, geo)
    return res if batched else res.squeeze(0)


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    """Transposed 1-D convolution: the input-gradient of conv1d, weight (C_in, C_out/g, k)."""
    return _conv_transposend(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
        "conv_transpose1d", 2,
    )  # fmt: skip


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    """Transposed 2-D convolution: the input-gradient of conv2d, weight (C_in, C_out/g, kh, kw)."""
    return _conv_transposend(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
        "conv_transpose2d",
    )  # fmt: skip


def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    """Transposed 3-D convolution: the input-gradient of conv3d, weight (C_in, C_out/g, *k)."""
    return _conv_transposend(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 3,
        "conv_transpose3d",
    )  # fmt: skip


def _fold_geometry(kernel, dilation, padding, stride) -> _Geometry:
    """fold/unfold's geometry, checked with PyTorch's texts (im2col_shape_check)."""
    ph, pw = _pair(padding, "padding")
    for (a, b), what, least, name in (
        (kernel, "kernel size", 1, "kernel"),
        (_pair(dilation, "dilation"), "dilation", 1, "dilation"),
        ((ph, pw), "padding", 0, "pad"),
        (_pair(stride, "stride"), "stride", 1, "stride"),
    ):
        if a < least or b < least:
            rule = "greater than zero" if least else "non-negative"
            raise RuntimeError(
                f"{what} should be {rule}, but got {name}_height: {a} {name}_width: {b}"
            )
    return _Geometry(_pair(stride, "stride"), ((ph, ph), (pw, pw)), _pair(dilation, "dilation"), 1)


def _check_im2col_input(shape: tuple, k: tuple, geo: _Geometry) -> None:
    """PyTorch's im2col checks, in its order: the sizes it reads (dims 1 and 2), a 3-D or
    4-D input with no empty dimension but the batch, at least one block each way."""
    nd = len(shape)
    if nd < 3:
        wrap_dim(1, nd, wrap_scalar=False)
        wrap_dim(2, nd, wrap_scalar=False)
    if nd not in (3, 4) or 0 in shape[nd - 3 :]:
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other "
            f"non-zero dimensions for input, but got: {list(shape)}"
        )
    blocks = []
    for size, kk, st, (p, _), d in zip(shape[-2:], k, geo.stride, geo.pad, geo.dilation):
        span = size + 2 * p - (d * (kk - 1) + 1)
        blocks.append(span // st + 1)
    if min(blocks) < 1:
        (h, w), (kh, kw) = shape[-2:], k
        raise RuntimeError(
            f"Given input with spatial size ({h}, {w}), kernel_size=({kh}, {kw}), dilation="
            f"{tuple(geo.dilation)}, padding=({geo.pad[0][0]}, {geo.pad[1][0]}), calculated "
            f"shape of the array of sliding blocks as ({blocks[0]}, {blocks[1]}), but its "
            "components must be at least one."
        )


class Im2ColBackward0(Node):
    def backward(self, grad):
        return (fold(grad, self.hw, self.k, self.dilation, self.padding, self.stride),)


class Col2ImBackward0(Node):
    def backward(self, grad):
        return (unfold(grad, self.k, self.dilation, self.padding, self.stride),)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C, H, W) -> (N, C*kh*kw, L): each column one kh x kw block (L blocks)."""
    k = _pair(kernel_size, "kernel_size")
    geo = _fold_geometry(k, dilation, padding, stride)
    _check_im2col_input(input._data.shape, k, geo)
    x = input if input.ndim == 4 else input.unsqueeze(0)
    if x._data.dtype.kind in "iu":  # bool is copied, as PyTorch's
        raise not_implemented_for("im2col_out_cpu", x._data.dtype)
    h, w = x.shape[2:]
    backend = x._device.backend
    data = _cols(backend, x._data, k, geo)  # (N, C*kh*kw, L)
    out = Tensor._make(data, x._device)
    if needs_grad(x):
        node = record(Im2ColBackward0(), (x,), out)
        node.hw, node.k = (h, w), k
        node.dilation, node.padding, node.stride = dilation, padding, stride
    return out if input.ndim == 4 else out.squeeze(0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C*kh*kw, L) -> (N, C, H, W): blocks summed back into the image (overlaps add)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
            f"(got {input.ndim}D)"
        )
    x = input if input.ndim == 3 else input.unsqueeze(0)
    kh, kw = _pair(kernel_size, "kernel_size")
    h, w = _pair(output_size, "output_size")
    geo = _fold_geometry((kh, kw), dilation, padding, stride)
    n, ckk, blocks = x.shape
    if ckk % (kh * kw):
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={ckk} and kernel_size=({kh}, {kw})."
        )
    oh, ow = geo.out_shape((h, w), (kh, kw))
    if oh * ow != blocks:
        raise RuntimeError(
            f"Given output_size=({h}, {w}), kernel_size=({kh}, {kw}), dilation="
            f"{_pair(dilation)}, padding={_pair(padding)}, stride={_pair(stride)}, expected "
            f"size of input's dimension 2 to match the calculated number of sliding blocks "
            f"{oh} * {ow} = {oh * ow}, but got input.size(2)={blocks}."
        )
    if x._data.dtype.kind in "iu":
        raise not_implemented_for("col2im_out_cpu", x._data.dtype)
    c = ckk // (kh * kw)
    backend = x._device.backend
    data = backend.col2im(x._data, (n, c, h, w), (kh, kw), geo.stride, geo.pad, geo.dilation)
    out = Tensor._make(backend.xp.ascontiguousarray(data), x._device)
    if needs_grad(x):
        node = record(Col2ImBackward0(), (x,), out)
        node.k, node.dilation, node.padding, node.stride = (kh, kw), dilation, padding, stride
    return out if input.ndim == 3 else out.squeeze(0)
