"""Convolution and folding: conv1d / conv2d / conv_transpose2d as im2col (a strided view)
plus one batched matmul, and F.unfold (im2col) / F.fold (col2im).

Three primitives carry the convolution: the forward, its input gradient (a "col2im", i.e.
transposed convolution) and its weight gradient. All three are bilinear, and each one's
backward is written with the other two, so gradients of gradients come for free. unfold and
fold are each other's adjoint, so each one's backward is the other."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import active as _active
from ..autograd.graph import Node
from . import _autocast as _amp
from ._util import (
    check_device,
    needs_grad,
    record,
)


def _pair(v, name: str = "value") -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]), int(v[0]))
        if len(v) != 2:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of 2 "
                f"values to match the convolution dimensions, but got "
                f"{name}={list(v)}"
            )
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


class _Geometry:
    """Stride, padding (low/high per side), dilation, groups of one convolution."""

    __slots__ = ("stride", "pad", "dilation", "groups")

    def __init__(self, stride, pad, dilation, groups) -> None:
        self.stride, self.pad, self.dilation, self.groups = stride, pad, dilation, groups

    def out_hw(self, h: int, w: int, kh: int, kw: int) -> tuple[int, int]:
        (sh, sw), (ph0, ph1, pw0, pw1), (dh, dw) = self.stride, self.pad, self.dilation
        return (
            (h + ph0 + ph1 - dh * (kh - 1) - 1) // sh + 1,
            (w + pw0 + pw1 - dw * (kw - 1) - 1) // sw + 1,
        )


def _columns(backend, x, kh: int, kw: int, oh: int, ow: int, geo: _Geometry):
    """im2col: (G, Cg*kh*kw, N*oh*ow), gathered through a strided view of padded x."""
    xp = backend.xp
    n, c = x.shape[:2]
    ph0, ph1, pw0, pw1 = geo.pad
    if ph0 or ph1 or pw0 or pw1:
        x = xp.pad(x, ((0, 0), (0, 0), (ph0, ph1), (pw0, pw1)))
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    s_n, s_c, s_h, s_w = x.strides
    win = backend.as_strided(
        x, (n, c, kh, kw, oh, ow), (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw)
    )
    g = geo.groups
    win = win.reshape(n, g, c // g, kh, kw, oh, ow).transpose(1, 2, 3, 4, 0, 5, 6)
    return win.reshape(g, (c // g) * kh * kw, n * oh * ow)


def _col2im(backend, cols, x_shape, kh: int, kw: int, oh: int, ow: int, geo: _Geometry):
    """The adjoint of _columns: add each kernel offset's columns back into the image."""
    xp = backend.xp
    n, c, h, w = x_shape
    ph0, ph1, pw0, pw1 = geo.pad
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    out = xp.zeros((n, c, h + ph0 + ph1, w + pw0 + pw1), dtype=cols.dtype)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    # A loop over kernel offsets (kh*kw steps), each a strided add of a whole image slab.
    for i in range(kh):
        hi = i * dh
        for j in range(kw):
            wj = j * dw
            out[:, :, hi : hi + sh * (oh - 1) + 1 : sh, wj : wj + sw * (ow - 1) + 1 : sw] += cols[
                :, i, j
            ].transpose(1, 0, 2, 3)
    return out[:, :, ph0 : ph0 + h, pw0 : pw0 + w]


def _forward(x, w, geo: _Geometry, backend):
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    oh, ow = geo.out_hw(x.shape[2], x.shape[3], kh, kw)
    g = geo.groups
    cols = _columns(backend, x, kh, kw, oh, ow, geo)
    out = backend.matmul(w.reshape(g, o // g, cg * kh * kw), cols)  # (G, O/G, N*oh*ow)
    out = out.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
    return backend.xp.ascontiguousarray(out)


def _input_grad(gout, w, x_shape, geo: _Geometry, backend):
    n, o, oh, ow = gout.shape
    _, cg, kh, kw = w.shape
    g = geo.groups
    gmat = gout.transpose(1, 0, 2, 3).reshape(g, o // g, n * oh * ow)
    wmat = w.reshape(g, o // g, cg * kh * kw).transpose(0, 2, 1)
    cols = backend.matmul(wmat, gmat)  # (G, Cg*kh*kw, N*oh*ow)
    return backend.xp.ascontiguousarray(_col2im(backend, cols, x_shape, kh, kw, oh, ow, geo))


def _weight_grad(x, gout, w_shape, geo: _Geometry, backend):
    n, o, oh, ow = gout.shape
    _, cg, kh, kw = w_shape
    g = geo.groups
    cols = _columns(backend, x, kh, kw, oh, ow, geo)
    gmat = gout.transpose(1, 0, 2, 3).reshape(g, o // g, n * oh * ow)
    # cols @ gmat^T, not gmat @ cols^T: BLAS is several times faster in this orientation
    # for the long N*oh*ow contraction.
    gw = backend.matmul(cols, gmat.transpose(0, 2, 1))  # (G, Cg*kh*kw, O/G)
    return backend.xp.ascontiguousarray(gw.transpose(0, 2, 1)).reshape(w_shape)


class ConvolutionBackward0(Node):
    def backward(self, grad):
        x, w = self.saved_tensors
        gx = gw = gb = None
        if self.needs_input_grad(0):
            gx = _conv_input_grad(grad, w, tuple(x.shape), self.geo)
        if self.needs_input_grad(1):
            gw = _conv_weight_grad(x, grad, tuple(w.shape), self.geo)
        if self.needs_input_grad(2):
            gb = grad.sum((0, 2, 3))
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


def _conv(x: Tensor, w: Tensor, b: Tensor | None, geo: _Geometry) -> Tensor:
    backend = x._device.backend
    data = _forward(x._data, w._data, geo, backend)
    if b is not None:
        data += b._data.reshape(1, -1, 1, 1)
    out = Tensor._make(data, x._device)
    if needs_grad(x, w, b):
        node = record(ConvolutionBackward0(), (x, w, b), out)
        node.save(x, w)
        node.geo = geo
    return out


def _conv_input_grad(g: Tensor, w: Tensor, x_shape: tuple, geo: _Geometry) -> Tensor:
    data = _input_grad(g._data, w._data, x_shape, geo, g._device.backend)
    out = Tensor._make(data, g._device)
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


def _padding(padding, kh: int, kw: int, dilation, stride) -> tuple[int, int, int, int]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if stride != (1, 1):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)  # PyTorch pads extra at the end
    ph, pw = _pair(padding, "padding")
    return (ph, ph, pw, pw)


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
    if _active.autocast:
        input, weight, bias = _amp.lower(input, weight, bias)
    if input.ndim not in (3, 4):
        raise RuntimeError(
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
            f"{list(input.shape)}"
        )
    if input.ndim == 3:
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(
            0
        )
    check_device(input, weight, "conv2d")
    if weight.ndim != 4:
        raise RuntimeError(
            f"weight should have at least three dimensions, got {weight.ndim}"
            if weight.ndim < 3
            else f"Expected 4-dimensional weight for 4-dimensional input {list(input.shape)}, but "
            f"got {weight.ndim}-dimensional weight of size {list(weight.shape)} instead"
        )
    if input.dtype != weight.dtype:
        raise RuntimeError(
            f"expected scalar type {D.scalar_type_name(input.dtype)} but found "
            f"{D.scalar_type_name(weight.dtype)}"
        )
    o, cg, kh, kw = weight.shape
    n, c, h, w = input.shape
    if cg * groups != c or o % groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {cg * groups} channels, but got {c} channels "
            "instead"
        )
    if bias is not None:
        check_device(input, bias, "conv2d")
        if bias.shape != (o,):
            raise RuntimeError(
                f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional "
                f"with {o} elements, but got bias of size {list(bias.shape)} instead"
            )
    st, dil = _pair(stride, "stride"), _pair(dilation, "dilation")
    pad = _padding(padding, kh, kw, dil, st)
    geo = _Geometry(st, pad, dil, groups)
    hp, wp = h + pad[0] + pad[1], w + pad[2] + pad[3]
    if hp < dil[0] * (kh - 1) + 1 or wp < dil[1] * (kw - 1) + 1:
        raise RuntimeError(
            f"Calculated padded input size per channel: ({hp} x {wp}). Kernel size: "
            f"({dil[0] * (kh - 1) + 1} x {dil[1] * (kw - 1) + 1}). Kernel size can't be "
            "greater than actual input size"
        )
    return _conv(input, weight, bias, geo)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution over (N, C, L) or (C, L), run as a conv2d of height 1."""
    if _active.autocast:
        input, weight, bias = _amp.lower(input, weight, bias)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: "
            f"{list(input.shape)}"
        )

    def one(v, name):
        v = v[0] if isinstance(v, (tuple, list)) else v
        return (1, int(v)) if name != "padding" else (0, int(v))

    pad = padding if isinstance(padding, str) else one(padding, "padding")
    out = conv2d(
        input.unsqueeze(-2),
        weight.unsqueeze(-2),
        bias,
        one(stride, "stride"),
        pad,
        one(dilation, "dilation"),
        groups,
    )
    return out.squeeze(-2)


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
    if _active.autocast:
        input, weight, bias = _amp.lower(input, weight, bias)
    if input.ndim not in (3, 4):
        raise RuntimeError(
            "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input "
            f"of size: {list(input.shape)}"
        )
    if input.ndim == 3:
        return conv_transpose2d(
            input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups, dilation
        ).squeeze(0)
    check_device(input, weight, "conv_transpose2d")
    cin, cg, kh, kw = weight.shape
    n, c, h, w = input.shape
    if c != cin:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {cin} channels, but got {c} channels instead"
        )
    st, dil = _pair(stride, "stride"), _pair(dilation, "dilation")
    ph, pw = _pair(padding, "padding")
    oph, opw = _pair(output_padding, "output_padding")
    if oph >= max(st[0], dil[0]) or opw >= max(st[1], dil[1]):
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {oph} output_padding_width: {opw} stride_height: {st[0]} "
            f"stride_width: {st[1]} dilation_height: {dil[0]} dilation_width: {dil[1]}"
        )
    geo = _Geometry(st, (ph, ph, pw, pw), dil, groups)
    hout = (h - 1) * st[0] - 2 * ph + dil[0] * (kh - 1) + oph + 1
    wout = (w - 1) * st[1] - 2 * pw + dil[1] * (kw - 1) + opw + 1
    out = _conv_input_grad(input, weight, (n, cg * groups, hout, wout), geo)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def _geometry(dilation, padding, stride) -> _Geometry:
    (ph, pw) = _pair(padding, "padding")
    return _Geometry(_pair(stride, "stride"), (ph, ph, pw, pw), _pair(dilation, "dilation"), 1)


class Im2ColBackward0(Node):
    def backward(self, grad):
        return (fold(grad, self.hw, self.k, self.dilation, self.padding, self.stride),)


class Col2ImBackward0(Node):
    def backward(self, grad):
        return (unfold(grad, self.k, self.dilation, self.padding, self.stride),)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C, H, W) -> (N, C*kh*kw, L): each column one kh x kw block (L blocks)."""
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)"
        )
    x = input if input.ndim == 4 else input.unsqueeze(0)
    kh, kw = _pair(kernel_size, "kernel_size")
    geo = _geometry(dilation, padding, stride)
    n, c, h, w = x.shape
    oh, ow = geo.out_hw(h, w, kh, kw)
    backend = x._device.backend
    cols = _columns(backend, x._data, kh, kw, oh, ow, geo)  # (1, C*kh*kw, N*L)
    data = cols.reshape(c * kh * kw, n, oh * ow).transpose(1, 0, 2)
    out = Tensor._make(backend.xp.ascontiguousarray(data), x._device)
    if needs_grad(x):
        node = record(Im2ColBackward0(), (x,), out)
        node.hw, node.k = (h, w), (kh, kw)
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
    geo = _geometry(dilation, padding, stride)
    n, ckk, blocks = x.shape
    if ckk % (kh * kw):
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={ckk} and kernel_size=({kh}, {kw})."
        )
    oh, ow = geo.out_hw(h, w, kh, kw)
    if oh * ow != blocks:
        raise RuntimeError(
            f"Given output_size=({h}, {w}), kernel_size=({kh}, {kw}), dilation="
            f"{_pair(dilation)}, padding={_pair(padding)}, stride={_pair(stride)}, expected "
            f"size of input's dimension 2 to match the calculated number of sliding blocks "
            f"{oh} * {ow} = {oh * ow}, but got input.size(2)={blocks}."
        )
    c = ckk // (kh * kw)
    backend = x._device.backend
    cols = x._data.transpose(1, 0, 2).reshape(1, ckk, n * blocks)
    data = _col2im(backend, cols, (n, c, h, w), kh, kw, oh, ow, geo)
    out = Tensor._make(backend.xp.ascontiguousarray(data), x._device)
    if needs_grad(x):
        node = record(Col2ImBackward0(), (x,), out)
        node.k, node.dilation, node.padding, node.stride = (kh, kw), dilation, padding, stride
    return out if input.ndim == 3 else out.squeeze(0)
