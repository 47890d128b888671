"""F.unfold (im2col) and F.fold (col2im): sliding blocks of an image as columns, and back.
Each is the other's adjoint, so each one's backward is the other."""

from __future__ import annotations

from ..._tensor import Tensor
from ...autograd.graph import Node
from ...ops._util import needs_grad, record
from .conv import _col2im, _columns, _Geometry, _pair


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
