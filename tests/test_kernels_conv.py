"""The convolution kernels ``im2col`` / ``col2im``: the references against a float64 loop
formula and each other (adjoints), the compiled CPU kernels against the references, over 1-3
spatial dims, strides, asymmetric padding, dilations, odd sizes, empty and one-element inputs,
non-contiguous inputs, NaN/inf; and convolutions through the compiled kernels against torch
and by gradcheck (groups, depthwise, dilation, stride, transposed)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import gpugrad
from gpugrad.autograd import gradcheck
from gpugrad.backend.kernels.conv import conv_out_shape
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import conv as NC
from gpugrad.ops import conv as conv_ops

B = gpugrad.device("cpu").backend
IM2COL_REF = getattr(B.im2col, "reference", B.im2col)
COL2IM_REF = getattr(B.col2im, "reference", B.col2im)
numba_only = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")
FLOATS = [np.float32, np.float64]

# (input shape, kernel, stride, padding, dilation)
CASES = [
    ((2, 3, 7), (3,), (2,), ((1, 2),), (1,)),
    ((1, 1, 1), (1,), (1,), ((0, 0),), (1,)),
    ((2, 3, 7, 6), (3, 2), (2, 1), ((1, 2), (0, 1)), (1, 2)),
    ((3, 2, 5, 9), (3, 3), (1, 3), ((1, 1), (2, 2)), (2, 1)),
    ((2, 3, 7, 6, 5), (3, 2, 2), (2, 1, 2), ((1, 2), (0, 1), (2, 0)), (1, 2, 1)),
    ((1, 2, 4, 4, 4), (2, 2, 2), (1, 1, 1), ((0, 0),) * 3, (1, 1, 1)),
    ((0, 3, 5, 5), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),  # empty batch
    ((2, 0, 5, 5), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),  # no channels
]


def loop_im2col(x, k, st, pad, dil):
    """im2col by its definition, one element at a time, in float64: (N, C*prod(k), prod(out))."""
    n, c = x.shape[:2]
    sp = x.shape[2:]
    out = conv_out_shape(sp, k, st, pad, dil)
    cols = np.zeros((n, c * math.prod(k), math.prod(out)))
    for ci, ks in itertools.product(range(c), itertools.product(*map(range, k))):
        r = np.ravel_multi_index((ci,) + ks, (c,) + k)
        for ni, os_ in itertools.product(range(n), itertools.product(*map(range, out))):
            col = np.ravel_multi_index(os_, out)
            idx = [o * s - p[0] + kk * d for o, s, p, kk, d in zip(os_, st, pad, ks, dil)]
            if all(0 <= i < size for i, size in zip(idx, sp)):
                cols[ni, r, col] = x[(ni, ci) + tuple(idx)]
    return cols


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CASES)
def test_im2col_reference_matches_loop(case, dtype):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape).astype(dtype)
    ref = IM2COL_REF(x, k, st, pad, dil)
    assert ref.dtype == dtype and ref.flags.c_contiguous
    np.testing.assert_array_equal(ref, loop_im2col(x.astype(np.float64), k, st, pad, dil))


@numba_only
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CASES)
def test_compiled_im2col_equals_the_reference(case, dtype):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape).astype(dtype)
    cols = ENGINE.compiled("im2col")(x, k, st, pad, dil)
    assert cols.dtype == dtype and cols.flags.c_contiguous
    np.testing.assert_array_equal(cols, IM2COL_REF(x, k, st, pad, dil))


@numba_only
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CASES)
def test_compiled_col2im_equals_the_reference(case, dtype):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape).astype(dtype)
    cols = IM2COL_REF(x, k, st, pad, dil)
    g = np.random.standard_normal(cols.shape).astype(dtype)
    img = ENGINE.compiled("col2im")(g, shape, k, st, pad, dil)
    ref = COL2IM_REF(g, shape, k, st, pad, dil)
    assert img.shape == shape and img.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(img, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", CASES)
def test_col2im_is_the_adjoint_of_im2col(case):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape)
    cols = IM2COL_REF(x, k, st, pad, dil)
    g = np.random.standard_normal(cols.shape)
    for col2im in [COL2IM_REF] + ([ENGINE.compiled("col2im")] if ENGINE.enabled() else []):
        back = col2im(g, shape, k, st, pad, dil)
        assert math.isclose((cols * g).sum(), (x * back).sum(), rel_tol=1e-10, abs_tol=1e-10)
    if ENGINE.enabled():
        cols = ENGINE.compiled("im2col")(x, k, st, pad, dil)
        back = COL2IM_REF(g, shape, k, st, pad, dil)
        assert math.isclose((cols * g).sum(), (x * back).sum(), rel_tol=1e-10, abs_tol=1e-10)


@pytest.mark.parametrize("case", CASES[:6])
def test_out_buffers_are_written_and_returned(case):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape)
    ref = IM2COL_REF(x, k, st, pad, dil)
    g = np.random.standard_normal(ref.shape)
    back = COL2IM_REF(g, shape, k, st, pad, dil)
    kernels = [(IM2COL_REF, COL2IM_REF)]
    if ENGINE.enabled():
        kernels.append((ENGINE.compiled("im2col"), ENGINE.compiled("col2im")))
    for im2col, col2im in kernels:
        buf = np.full(ref.shape, np.nan)
        assert im2col(x, k, st, pad, dil, out=buf) is buf
        np.testing.assert_array_equal(buf, ref)
        img = np.full(shape, np.nan)  # stale contents are overwritten, not added to
        assert col2im(g, shape, k, st, pad, dil, out=img) is img
        np.testing.assert_allclose(img, back, rtol=1e-12, atol=1e-12)


@numba_only
def test_compiled_kernels_refuse_a_wrong_out():
    x = np.random.standard_normal((2, 3, 6, 6))
    k, st, pad, dil = (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)
    cols = IM2COL_REF(x, k, st, pad, dil)
    with pytest.raises(ValueError, match="out must be"):
        ENGINE.compiled("im2col")(x, k, st, pad, dil, out=np.empty(cols.shape, np.float32))
    with pytest.raises(ValueError, match="out must be"):
        ENGINE.compiled("col2im")(cols, x.shape, k, st, pad, dil, out=np.empty((2, 3, 6, 5)))


# Geometries the compiled loops branch on: windows wholly in the padding (padding > kernel
# reach), strides past the input, a stride > 1 on the last dim, a 1-wide last dim.
EDGE_CASES = [
    ((2, 3, 4, 3), (2, 2), (1, 1), ((3, 3), (2, 4)), (1, 1)),
    ((1, 2, 5, 7), (3, 3), (4, 5), ((1, 2), (2, 1)), (2, 3)),
    ((2, 2, 9, 1), (3, 1), (2, 1), ((1, 1), (0, 0)), (3, 1)),
    ((1, 3, 3, 3, 3), (3, 3, 3), (3, 3, 3), ((2, 2),) * 3, (1, 1, 1)),
    ((3, 2, 13), (4,), (3,), ((5, 0),), (2,)),
]


@numba_only
@pytest.mark.parametrize("case", EDGE_CASES)
def test_compiled_kernels_at_the_edges(case):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape)
    cols = ENGINE.compiled("im2col")(x, k, st, pad, dil)
    np.testing.assert_array_equal(cols, loop_im2col(x, k, st, pad, dil))
    g = np.random.standard_normal(cols.shape)
    np.testing.assert_allclose(
        ENGINE.compiled("col2im")(g, shape, k, st, pad, dil),
        COL2IM_REF(g, shape, k, st, pad, dil),
        rtol=1e-12,
        atol=1e-12,
    )


@numba_only
def test_non_contiguous_inputs():
    base = np.random.standard_normal((4, 6, 11, 10))
    x = base[::2, 1::2, :, ::-1]  # strided, reversed
    k, st, pad, dil = (3, 2), (1, 2), ((1, 0), (2, 1)), (2, 1)
    np.testing.assert_array_equal(IM2COL_REF(x, k, st, pad, dil), loop_im2col(x, k, st, pad, dil))
    np.testing.assert_array_equal(
        ENGINE.compiled("im2col")(x, k, st, pad, dil), loop_im2col(x, k, st, pad, dil)
    )
    cols = IM2COL_REF(np.ascontiguousarray(x), k, st, pad, dil)
    g = np.random.standard_normal(cols.shape[::-1]).T  # a transposed view
    np.testing.assert_allclose(
        ENGINE.compiled("col2im")(g, x.shape, k, st, pad, dil),
        COL2IM_REF(np.ascontiguousarray(g), x.shape, k, st, pad, dil),
        rtol=1e-12,
    )


@numba_only
def test_nan_and_inf_propagate_as_the_reference():
    x = np.random.standard_normal((2, 2, 6, 6)).astype(np.float32)
    x[0, 1, 2, 3], x[1, 0, 0, 0], x[1, 1, 5, 5] = np.nan, np.inf, -np.inf
    k, st, pad, dil = (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)
    cols = IM2COL_REF(x, k, st, pad, dil)
    np.testing.assert_array_equal(ENGINE.compiled("im2col")(x, k, st, pad, dil), cols)
    img = ENGINE.compiled("col2im")(cols, x.shape, k, st, pad, dil)
    ref = COL2IM_REF(cols, x.shape, k, st, pad, dil)
    np.testing.assert_array_equal(np.isnan(img), np.isnan(ref))
    np.testing.assert_array_equal(img[~np.isnan(img)], ref[~np.isnan(ref)])


@numba_only
def test_dispatch_threshold_and_dtypes():
    shape = (2, 4, 64, 64)
    k, st, pad, dil = (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)
    x = np.random.standard_normal(shape).astype(np.float32)
    assert NC._im2col_when(x, k, st, pad, dil)
    assert not NC._im2col_when(x[:, :, :5, :5], k, st, pad, dil)
    assert not NC._im2col_when(x.astype(np.float16), k, st, pad, dil)
    assert not NC._im2col_when(x.astype(np.int64), k, st, pad, dil)
    np.testing.assert_array_equal(B.im2col(x, k, st, pad, dil), IM2COL_REF(x, k, st, pad, dil))
    cols = np.random.standard_normal((2, 36, 64 * 64)).astype(np.float32)
    assert NC._col2im_when(cols, shape, k, st, pad, dil)
    assert not NC._col2im_when(cols[:, :, :25], (2, 4, 5, 5), k, st, pad, dil)
    assert not NC._col2im_when(cols.astype(np.float16), shape, k, st, pad, dil)
    assert not NC._col2im_when(cols.astype(np.int64), shape, k, st, pad, dil)
    np.testing.assert_allclose(
        B.col2im(cols, shape, k, st, pad, dil), COL2IM_REF(cols, shape, k, st, pad, dil), rtol=1e-5
    )


@numba_only
def test_warmup_examples_compile_and_match_the_references():
    for name, ref in (("im2col", IM2COL_REF), ("col2im", COL2IM_REF)):
        impl = ENGINE._impls[name]
        assert impl.build.__module__ == NC.__name__
        for args in impl.examples():
            np.testing.assert_allclose(ENGINE.compiled(name)(*args), ref(*args), rtol=1e-6)
        assert name not in ENGINE.failed


def test_half_and_integer_dtypes_use_the_reference():
    x = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5)
    for dt in (np.float16, np.int64):
        xs = x.astype(dt)
        cols = B.im2col(xs, (2, 2), (1, 1), ((1, 0), (0, 1)), (1, 1))
        assert cols.dtype == dt
        np.testing.assert_array_equal(
            cols, loop_im2col(xs, (2, 2), (1, 1), ((1, 0), (0, 1)), (1, 1)).astype(dt)
        )


# ---- convolutions through the compiled kernels ---------------------------------------------
torch = pytest.importorskip("torch")
F = gpugrad.nn.functional
TF = torch.nn.functional


@pytest.fixture(params=["one pass", "a pass per sample"])
def compiled_everywhere(request, monkeypatch):
    """Every float32/float64 call takes the compiled kernels, however small; the batch in one
    pass, or (on the CPU) one sample per pass."""
    monkeypatch.setattr(NC, "MIN_SIZE", 0)
    if request.param != "one pass":
        monkeypatch.setattr(conv_ops, "_PASS_BYTES", 1)


# (name, input shape, weight shape, bias, kwargs)
OPS = [
    ("conv1d", (2, 4, 11), (6, 2, 3), True, dict(stride=2, padding=2, dilation=2, groups=2)),
    ("conv2d", (3, 5, 9, 7), (4, 5, 3, 3), True, dict(padding=1)),
    ("conv2d", (2, 4, 9, 8), (6, 4, 3, 2), False, dict(stride=(2, 1), padding=(1, 2), dilation=2)),
    ("conv2d", (2, 6, 7, 7), (6, 1, 3, 3), True, dict(padding=1, groups=6)),  # depthwise
    ("conv2d", (1, 4, 6, 5), (4, 4, 2, 2), True, dict(padding="same", dilation=(2, 1))),
    ("conv3d", (2, 4, 5, 6, 5), (6, 2, 3, 2, 3), True, dict(stride=(2, 1, 2), padding=1, groups=2)),
    ("conv_transpose1d", (2, 4, 7), (4, 3, 3), True, dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose2d", (2, 4, 5, 6), (4, 3, 3, 2), False, dict(stride=(2, 3), groups=2)),
    ("conv_transpose2d", (2, 3, 4, 4), (3, 2, 3, 3), True, dict(output_padding=1, dilation=2)),
    ("conv_transpose3d", (1, 2, 3, 3, 3), (2, 2, 2, 2, 2), True, dict(stride=2, padding=1)),
]


def _operands(xs, ws, bias, kw, name, dtype):
    rng = np.random.default_rng(7)
    nb = ws[1] * kw.get("groups", 1) if "transpose" in name else ws[0]
    arrays = [rng.standard_normal(s).astype(dtype) for s in (xs, ws)]
    arrays.append(rng.standard_normal(nb).astype(dtype) if bias else None)
    return arrays


@numba_only
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,xs,ws,bias,kw", OPS)
def test_convolutions_match_torch(compiled_everywhere, name, xs, ws, bias, kw, dtype, device):
    arrays = _operands(xs, ws, bias, kw, name, dtype)
    ours = [
        None if a is None else gpugrad.tensor(a, device=device, requires_grad=True) for a in arrays
    ]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    out = getattr(F, name)(*ours, **kw)
    ref = getattr(TF, name)(*theirs, **kw)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref.detach().numpy(), **tol)
    up = np.random.default_rng(3).standard_normal(tuple(ref.shape)).astype(dtype)
    out.backward(gpugrad.tensor(up, device=device))
    ref.backward(torch.tensor(up))
    for a, b in zip(ours, theirs):
        if a is not None:
            np.testing.assert_allclose(a.grad.cpu().numpy(), b.grad.numpy(), **tol)


@numba_only
@pytest.mark.parametrize("name,xs,ws,bias,kw", [OPS[0], OPS[2], OPS[3], OPS[5], OPS[8]])
def test_convolutions_gradcheck(compiled_everywhere, name, xs, ws, bias, kw):
    arrays = [a for a in _operands(xs, ws, bias, kw, name, np.float64) if a is not None]
    args = [gpugrad.tensor(a, requires_grad=True) for a in arrays]
    fn = getattr(F, name)
    assert gradcheck(lambda *a: fn(*a, **kw), args)


@numba_only
def test_non_contiguous_input_and_gradient(compiled_everywhere):
    rng = np.random.default_rng(5)
    ba, wa = rng.standard_normal((3, 9, 4, 8)), rng.standard_normal((5, 4, 3, 2))
    base, w = (gpugrad.tensor(a, requires_grad=True) for a in (ba, wa))
    tbase, tw = (torch.tensor(a, requires_grad=True) for a in (ba, wa))
    x = base.permute(0, 3, 2, 1)[:, ::2]  # (3, 4, 4, 9), odd strides
    assert not x.is_contiguous()
    out = F.conv2d(x, w, padding=(1, 0), dilation=(1, 2))
    ref = TF.conv2d(tbase.permute(0, 3, 2, 1)[:, ::2], tw, padding=(1, 0), dilation=(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10)
    up = rng.standard_normal(tuple(ref.shape)[::-1])
    out.backward(gpugrad.tensor(up).permute(3, 2, 1, 0))  # a gradient of reversed strides
    ref.backward(torch.tensor(up).permute(3, 2, 1, 0))
    np.testing.assert_allclose(base.grad.numpy(), tbase.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bench_size_float32_against_float64(device):
    """conv2d 3x3 at the benchmark's size (the compiled kernels where Numba is on)."""
    rng = np.random.default_rng(9)
    xa = rng.standard_normal((4, 32, 32, 32))
    wa = rng.standard_normal((32, 32, 3, 3)) / 17
    x = gpugrad.tensor(xa.astype(np.float32), device=device, requires_grad=True)
    w = gpugrad.tensor(wa.astype(np.float32), device=device, requires_grad=True)
    out = F.conv2d(x, w, padding=1)
    up = rng.standard_normal(tuple(out.shape))
    out.backward(gpugrad.tensor(up.astype(np.float32), device=device))
    tx, tw = torch.tensor(xa, requires_grad=True), torch.tensor(wa, requires_grad=True)
    ref = TF.conv2d(tx, tw, padding=1)
    ref.backward(torch.tensor(up))
    assert out.dtype == gpugrad.float32 and x.grad.dtype == gpugrad.float32
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref.detach().numpy(), atol=2e-5)
    np.testing.assert_allclose(x.grad.cpu().numpy(), tx.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(w.grad.cpu().numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name,xs,ws,bias,kw", [OPS[1], OPS[3], OPS[6]])
def test_half_convolutions_against_float32(monkeypatch, name, xs, ws, bias, kw, dtype):
    """float16/bfloat16 through the passes (one sample each) and through one pass (the
    forward's columns kept): each result as the float32 convolution of the same values."""
    if not hasattr(gpugrad, dtype):
        pytest.skip(f"gpugrad has no {dtype}")
    dt = getattr(gpugrad, dtype)
    fn = getattr(F, name)
    arrays = _operands(xs, ws, bias, kw, name, np.float32)
    tol = 0.05 if dtype == "bfloat16" else 5e-3
    for pass_bytes in (1, 1 << 30):
        monkeypatch.setattr(conv_ops, "_PASS_BYTES", pass_bytes)
        half = [None if a is None else gpugrad.tensor(a).to(dt).requires_grad_() for a in arrays]
        full = [None if h is None else h.detach().float().requires_grad_() for h in half]
        out, ref = fn(*half, **kw), fn(*full, **kw)
        assert out.dtype == dt
        up = gpugrad.tensor(np.random.default_rng(4).standard_normal(tuple(ref.shape)))
        out.backward(up.to(dt))
        ref.backward(up.to(dt).float())
        scale = float(ref.detach().abs().max()) + 1
        np.testing.assert_allclose(
            out.detach().float().numpy(), ref.detach().numpy(), atol=tol * scale
        )
        for h, f in zip(half, full):
            if h is not None:
                assert h.grad.dtype == dt
                g32 = f.grad.numpy()
                np.testing.assert_allclose(
                    h.grad.float().numpy(), g32, atol=tol * (np.abs(g32).max() + 1)
                )
