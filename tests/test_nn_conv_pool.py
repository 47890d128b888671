"""Convolution and pooling against naive NumPy float64 references, and by gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
from utils import assert_close, check_grad, host, rnd, t

import gpugrad as torch
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from gpugrad.autograd import gradgradcheck


# ---- references --------------------------------------------------------------------------
def conv2d_ref(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dil=(1, 1), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    oh = (xp.shape[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (xp.shape[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * stride[0], j * stride[1]
            patch = xp[
                :,
                :,
                hs : hs + dil[0] * (kh - 1) + 1 : dil[0],
                ws : ws + dil[1] * (kw - 1) + 1 : dil[1],
            ]
            for g in range(groups):
                pg = patch[:, g * cg : (g + 1) * cg]
                out[:, g * og : (g + 1) * og, i, j] = np.einsum(
                    "nckl,ockl->no", pg, w[g * og : (g + 1) * og]
                )
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def pool_out(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    o = (math.ceil(span / s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= size + p:
        o -= 1
    return o


def max_pool_ref(x, k, s, p, d=(1, 1), ceil=False):
    n, c, h, w = x.shape
    oh, ow = pool_out(h, k[0], s[0], p[0], d[0], ceil), pool_out(w, k[1], s[1], p[1], d[1], ceil)
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(oh):
        for j in range(ow):
            for a in range(k[0]):
                for b in range(k[1]):
                    r, q = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + b * d[1]
                    if 0 <= r < h and 0 <= q < w:
                        out[:, :, i, j] = np.maximum(out[:, :, i, j], x[:, :, r, q])
    return out


def avg_pool_ref(x, k, s, p, ceil=False, count_include_pad=True, divisor=None):
    n, c, h, w = x.shape
    oh, ow = pool_out(h, k[0], s[0], p[0], 1, ceil), pool_out(w, k[1], s[1], p[1], 1, ceil)
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            full = (h1 - h0) * (w1 - w0)
            h0c, w0c, h1c, w1c = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            total = x[:, :, h0c:h1c, w0c:w1c].sum(axis=(2, 3))
            div = divisor or (full if count_include_pad else (h1c - h0c) * (w1c - w0c))
            out[:, :, i, j] = total / div
    return out


def adaptive_ref(x, oh, ow):
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


# ---- convolution ---------------------------------------------------------------------
CONV_CASES = [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=2),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1), groups=1),
    dict(stride=1, padding="same", dilation=(1, 2), groups=2),
]


def _pads(padding, kh, kw, dil):
    if padding == "same":
        th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph, pw, pw)


def _pair(v):
    return (v, v) if isinstance(v, int) else v


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_and_grad(device, case):
    x, w, b = rnd(2, 4, 7, 6), rnd(4, 4 // case["groups"], 3, 2), rnd(4)
    dil = _pair(case["dilation"])
    ref = conv2d_ref(
        x, w, b, _pair(case["stride"]), _pads(case["padding"], 3, 2, dil), dil, case["groups"]
    )
    out = F.conv2d(t(x, device), t(w, device), t(b, device), **case)
    assert_close(out, ref)
    check_grad(lambda x, w, b: F.conv2d(x, w, b, **case), x, w, b, device=device)


def test_conv2d_double_backward(device):
    x, w = rnd(1, 2, 5, 5), rnd(3, 2, 3, 3)
    inputs = [t(x, device, True), t(w, device, True)]
    assert gradgradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1), inputs)


def test_conv2d_unbatched_and_module(device):
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=False).to(device).double()
    x = rnd(3, 6, 6)
    ref = conv2d_ref(x[None], conv.weight.detach().cpu().numpy(), None, pad=(1, 1, 1, 1))[0]
    assert_close(conv(t(x, device)), ref)
    assert conv.weight.shape == (5, 3, 3, 3) and conv.bias is None


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes(device, mode):
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode).to(device).double()
    x = rnd(1, 2, 5, 4)
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode=np_mode)
    ref = conv2d_ref(xp, conv.weight.detach().cpu().numpy(), conv.bias.detach().cpu().numpy())
    assert_close(conv(t(x, device)), ref)
    check_grad(lambda x: F.pad(x, (1, 2, 2, 1), mode=mode), x, device=device)


def test_conv1d_and_transpose(device):
    x, w = rnd(2, 3, 9), rnd(4, 3, 3)
    ref = conv2d_ref(x[:, :, None], w[:, :, None], stride=(1, 2), pad=(0, 0, 1, 1))[:, :, 0]
    assert_close(F.conv1d(t(x, device), t(w, device), stride=2, padding=1), ref)
    check_grad(lambda x, w: F.conv1d(x, w, stride=2, padding=1), x, w, device=device)
    # conv_transpose2d is the adjoint of conv2d: <conv(x, w), y> == <x, convT(y, w)>
    xx, ww = rnd(1, 4, 7, 7), rnd(4, 2, 3, 3)
    y = F.conv2d(t(xx, device), t(ww, device), stride=2, padding=1, groups=2)
    yy = rnd(*y.shape)
    back = F.conv_transpose2d(t(yy, device), t(ww, device), stride=2, padding=1, groups=2)
    assert back.shape == (1, 4, 7, 7)
    assert abs((y.cpu().numpy() * yy).sum() - (back.cpu().numpy() * xx).sum()) < 1e-9
    check_grad(
        lambda y, w: F.conv_transpose2d(y, w, stride=2, padding=1, output_padding=1),
        rnd(1, 4, 3, 3),
        rnd(4, 2, 3, 3),
        device=device,
    )


def test_conv2d_errors(device):
    x = torch.randn(1, 3, 8, 8, device=device)
    with pytest.raises(
        RuntimeError,
        match=r"Given groups=1, weight of size \[6, 1, 5, 5\], "
        r"expected input\[1, 3, 8, 8\] to have 1 channels, but got 3 channels "
        "instead",
    ):
        F.conv2d(x, torch.randn(6, 1, 5, 5, device=device))
    with pytest.raises(
        RuntimeError,
        match="Expected 3D \\(unbatched\\) or 4D \\(batched\\) "
        "input to conv2d, but got input of size: \\[3, 8\\]",
    ):
        F.conv2d(torch.randn(3, 8, device=device), torch.randn(6, 3, 5, 5, device=device))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input"):
        F.conv2d(x, torch.randn(6, 3, 9, 9, device=device))
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided"):
        F.conv2d(x, torch.randn(6, 3, 3, 3, device=device), padding="same", stride=2)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_conv_init_bounds():
    conv = nn.Conv2d(4, 8, 3)
    bound = 1 / math.sqrt(4 * 9)
    w = conv.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(conv.bias.detach().numpy()).max() <= bound


# ---- pooling -------------------------------------------------------------------------
MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),
]


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d(device, case):
    x = rnd(2, 3, 7, 6)
    k = _pair(case["kernel_size"])
    s = _pair(case.get("stride", case["kernel_size"]))
    ref = max_pool_ref(
        x,
        k,
        s,
        _pair(case.get("padding", 0)),
        _pair(case.get("dilation", 1)),
        case.get("ceil_mode", False),
    )
    out, idx = F.max_pool2d(t(x, device), return_indices=True, **case)
    assert_close(out, ref)
    flat = x.reshape(2, 3, -1)
    picked = np.take_along_axis(flat, idx.cpu().numpy().reshape(2, 3, -1), 2)
    assert_close(picked.reshape(ref.shape), ref)
    check_grad(lambda x: F.max_pool2d(x, **case), x, device=device)


def test_max_pool_double_backward_and_module(device):
    x = t(rnd(1, 2, 4, 4), device, True)
    assert gradgradcheck(lambda x: F.max_pool2d(x, 2), [x])
    m = nn.MaxPool2d(2)
    assert m(torch.randn(3, 4, 4, device=device)).shape == (3, 2, 2)  # unbatched
    assert F.max_pool1d(torch.randn(2, 3, 8, device=device), 2).shape == (2, 3, 4)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel"):
        F.max_pool2d(x, 2, padding=2)


AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), divisor_override=3),
]


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool2d(device, case):
    x = rnd(2, 3, 6, 7)
    ref = avg_pool_ref(
        x,
        _pair(case["kernel_size"]),
        _pair(case.get("stride", case["kernel_size"])),
        _pair(case.get("padding", 0)),
        case.get("ceil_mode", False),
        case.get("count_include_pad", True),
        case.get("divisor_override"),
    )
    assert_close(F.avg_pool2d(t(x, device), **case), ref)
    check_grad(lambda x: F.avg_pool2d(x, **case), x, device=device)


def test_avg_pool_double_backward(device):
    x = t(rnd(1, 1, 5, 5), device, True)
    assert gradgradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1) ** 2, [x])


@pytest.mark.parametrize("size", [1, 3, (2, 4), (None, 5), (7, 6)])
def test_adaptive_avg_pool2d(device, size):
    x = rnd(2, 3, 7, 6)
    oh, ow = (size, size) if isinstance(size, int) else size
    oh, ow = oh or 7, ow or 6
    assert_close(F.adaptive_avg_pool2d(t(x, device), size), adaptive_ref(x, oh, ow))
    check_grad(lambda x: nn.AdaptiveAvgPool2d(size)(x), x, device=device)


def test_pool_errors(device):
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.max_pool2d(torch.randn(1, 3, 8, 8, device=device), 9)
    with pytest.raises(RuntimeError, match="adaptive_avg_pool2d\\(\\): Expected 3D or 4D"):
        F.adaptive_avg_pool2d(torch.randn(8, device=device), 2)


def _adaptive_max_ref(x, oh, ow):
    h, w = x.shape[-2:]
    vals = np.empty(x.shape[:-2] + (oh, ow))
    idx = np.empty(x.shape[:-2] + (oh, ow), dtype=np.int64)
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            cell = x[..., r0:r1, c0:c1].reshape(x.shape[:-2] + (-1,))
            k = cell.argmax(-1)  # the first maximum, as PyTorch
            vals[..., i, j] = cell.max(-1)
            idx[..., i, j] = (k // (c1 - c0) + r0) * w + k % (c1 - c0) + c0
    return vals, idx


@pytest.mark.parametrize(
    "shape,out", [((1, 2, 5, 5), (2, 2)), ((2, 3, 7, 5), (3, 2)), ((3, 4, 4), (4, 4))]
)
def test_adaptive_max_pool2d(shape, out, device):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, shape).astype(np.float64)  # ties: the first maximum wins
    v, i = F.adaptive_max_pool2d(t(x, device), out, return_indices=True)
    want_v, want_i = _adaptive_max_ref(x, *out)
    assert_close(v, want_v)
    assert host(i).tolist() == want_i.tolist()
    check_grad(lambda a: F.adaptive_max_pool2d(a, out), rnd(*shape), device=device)
    m = nn.AdaptiveMaxPool2d(out)
    assert repr(m) == f"AdaptiveMaxPool2d(output_size={out})"
    assert_close(m(t(x, device)), want_v)
    v1 = nn.AdaptiveMaxPool1d(3)(t(x.reshape(-1, shape[-1]), device))
    assert_close(v1, _adaptive_max_ref(x.reshape(-1, 1, shape[-1]), 1, 3)[0][:, 0])
