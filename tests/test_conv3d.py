"""conv1d/2d/3d and conv_transpose1d/2d/3d (functional and modules) against torch: values,
gradients, grad_fn names, gradcheck and gradgradcheck, and PyTorch's errors for bad
geometry (#16), which leave nothing changed."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F
from gpugrad.autograd import gradcheck, gradgradcheck
from gpugrad.nn.modules import conv as M

torch = pytest.importorskip("torch")
TF = torch.nn.functional

CONV = {1: (F.conv1d, TF.conv1d), 2: (F.conv2d, TF.conv2d), 3: (F.conv3d, TF.conv3d)}
CONVT = {
    1: (F.conv_transpose1d, TF.conv_transpose1d),
    2: (F.conv_transpose2d, TF.conv_transpose2d),
    3: (F.conv_transpose3d, TF.conv_transpose3d),
}

# (input shape, weight shape, kwargs)
CONV_CASES = [
    ((2, 4, 11), (6, 2, 3), dict(stride=2, padding=2, dilation=2, groups=2)),
    ((3, 11), (5, 3, 4), dict(padding="same")),  # unbatched, even kernel
    ((2, 4, 9, 8), (6, 4, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ((2, 4, 9, 8), (6, 4, 4, 3), dict(padding="same", dilation=(1, 2))),
    ((1, 3, 5, 5), (2, 3, 5, 5), dict(padding="valid")),
    ((2, 4, 7, 6, 5), (6, 2, 3, 2, 3), dict(stride=(2, 1, 2), padding=(1, 0, 2), groups=2)),
    ((2, 5, 6, 5), (3, 2, 2, 3, 3), dict(padding="same")),  # unbatched 3-d
    ((1, 2, 6, 6, 6), (4, 2, 3, 3, 3), dict(dilation=(2, 1, 2), stride=3)),
]

CONVT_CASES = [
    ((2, 4, 7), (4, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((2, 4, 7), (4, 3, 3), dict(output_padding=1, dilation=2)),  # output_padding >= stride
    ((2, 4, 7), (4, 3, 3), dict(stride=2, padding=3, output_padding=2, dilation=3)),
    ((4, 5), (4, 2, 2), dict(stride=3)),  # unbatched
    ((2, 4, 5, 6), (4, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2))),
    ((2, 4, 3, 4, 5), (4, 3, 2, 3, 2), dict(stride=2, padding=(0, 1, 1), groups=2)),
    ((1, 2, 3, 3, 3), (2, 2, 2, 2, 2), dict(padding=1, output_padding=(2, 1, 0), dilation=3)),
]


def _pair_of(shape_x, shape_w, n_bias, dtype=np.float64):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (shape_x, shape_w, (n_bias,))]
    ours = [gpugrad.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def _check_against_torch(ours_fn, torch_fn, xs, ws, n_bias, kw, dtype=np.float64):
    (x, w, b), (tx, tw, tb) = _pair_of(xs, ws, n_bias, dtype)
    out, ref = ours_fn(x, w, b, **kw), torch_fn(tx, tw, tb, **kw)
    assert tuple(out.shape) == tuple(ref.shape)
    assert out.grad_fn.name() == ref.grad_fn.name()
    assert len(xs) == len(ws) - 1 or out.grad_fn.name() == "ConvolutionBackward0"
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    r = np.random.default_rng(1).standard_normal(tuple(ref.shape)).astype(dtype)
    (out * gpugrad.tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    for a, t in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("xs,ws,kw", CONV_CASES)
def test_conv_matches_torch(xs, ws, kw):
    nd = len(ws) - 2
    _check_against_torch(*CONV[nd], xs, ws, ws[0], kw)


@pytest.mark.parametrize("xs,ws,kw", CONVT_CASES)
def test_conv_transpose_matches_torch(xs, ws, kw):
    nd = len(ws) - 2
    _check_against_torch(*CONVT[nd], xs, ws, ws[1] * kw.get("groups", 1), kw)


def test_float32_above_the_compiled_kernels_threshold():
    # 3x3, 16x32x32x32 -> 32: im2col/col2im take the compiled path where Numba is on
    _check_against_torch(
        *CONV[2], (4, 16, 32, 32), (32, 16, 3, 3), 32, dict(padding=1), dtype=np.float32
    )
    _check_against_torch(
        *CONVT[3], (2, 8, 8, 8, 8), (8, 4, 3, 3, 3), 4, dict(stride=2), dtype=np.float32
    )


@pytest.mark.parametrize(
    "fn,xs,ws,kw",
    [
        (F.conv3d, (1, 2, 4, 3, 4), (2, 1, 2, 2, 2), dict(stride=(1, 2, 1), padding=1, groups=2)),
        (F.conv_transpose1d, (1, 2, 4), (2, 2, 3), dict(stride=2, output_padding=1)),
        (F.conv_transpose1d, (1, 2, 4), (2, 1, 2), dict(output_padding=1, dilation=2)),
        (F.conv_transpose3d, (1, 2, 2, 3, 2), (2, 1, 2, 1, 2), dict(stride=2, padding=(0, 1, 0))),
    ],
)
def test_gradcheck_and_gradgradcheck(fn, xs, ws, kw):
    rng = np.random.default_rng(2)
    nb = ws[1] * kw.get("groups", 1) if "transpose" in fn.__name__ else ws[0]
    args = [gpugrad.tensor(rng.standard_normal(s), requires_grad=True) for s in (xs, ws, (nb,))]
    assert gradcheck(lambda x, w, b: fn(x, w, b, **kw), args)
    assert gradgradcheck(lambda x, w, b: fn(x, w, b, **kw), args)


def test_empty_batch():
    x = gpugrad.zeros((0, 2, 4, 4, 4), requires_grad=True)
    w = gpugrad.ones((3, 2, 2, 2, 2), requires_grad=True)
    out = F.conv3d(x, w)
    assert tuple(out.shape) == (0, 3, 3, 3, 3)
    out.sum().backward()
    assert tuple(x.grad.shape) == (0, 2, 4, 4, 4) and float(w.grad.abs().sum()) == 0.0
    out = F.conv_transpose1d(gpugrad.zeros((0, 2, 3)), gpugrad.ones((2, 3, 2)))
    assert tuple(out.shape) == (0, 3, 4)


def test_nan_propagates_as_torch():
    x = np.ones((1, 1, 3, 3, 3))
    x[0, 0, 1, 1, 1] = np.nan
    w = np.ones((1, 1, 2, 2, 2))
    ours = F.conv3d(gpugrad.tensor(x), gpugrad.tensor(w)).numpy()
    ref = TF.conv3d(torch.tensor(x), torch.tensor(w)).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.Conv1d(4, 6, 3, stride=2, padding=1, groups=2),
        lambda m: m.Conv1d(4, 6, 3, padding=2, padding_mode="reflect"),
        lambda m: m.Conv2d(4, 6, (3, 2), padding="same", dilation=2),
        lambda m: m.Conv3d(4, 6, 3, stride=(1, 2, 1), padding=1),
        lambda m: m.Conv3d(4, 6, 2, padding=1, padding_mode="circular"),
        lambda m: m.ConvTranspose1d(4, 6, 3, stride=2, output_padding=1),
        lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2),
        lambda m: m.ConvTranspose3d(4, 6, (2, 3, 2), stride=2, dilation=(1, 2, 1)),
    ],
)
def test_modules_match_torch(make):
    ours, ref = make(M), make(torch.nn)
    assert type(ours).__name__ == type(ref).__name__
    ours.weight.data = gpugrad.tensor(ref.weight.detach().numpy())
    ours.bias.data = gpugrad.tensor(ref.bias.detach().numpy())
    nd = ours.weight.ndim - 2
    x = np.random.default_rng(3).standard_normal((2, 4) + (7, 6, 5)[:nd]).astype(np.float32)
    np.testing.assert_allclose(
        ours(gpugrad.tensor(x)).detach().numpy(),
        ref(torch.tensor(x)).detach().numpy(),
        rtol=1e-4,
        atol=1e-5,
    )
    assert repr(ours) == repr(ref)


def test_conv_transpose_output_size():
    ref = torch.nn.ConvTranspose3d(2, 3, 3, stride=2)
    ours = M.ConvTranspose3d(2, 3, 3, stride=2)
    x = np.zeros((1, 2, 4, 4, 4), np.float32)
    for size in [(9, 10, 9), (1, 3, 10, 10, 9)]:
        out = ours(gpugrad.tensor(x), output_size=size)
        assert tuple(out.shape) == tuple(ref(torch.tensor(x), output_size=size).shape)
    with pytest.raises(ValueError, match="valid sizes range from"):
        ours(gpugrad.tensor(x), output_size=(11, 9, 9))


def _err(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type and text are what is compared
        return type(e), str(e)
    return None


X2, W2 = np.random.randn(1, 3, 8, 8), np.random.randn(4, 3, 3, 3)
X1, WT2 = np.random.randn(1, 3, 1, 1), np.random.randn(3, 4, 3, 3)
X1D, WT1 = np.random.randn(1, 3, 4), np.random.randn(3, 4, 3)
X3, WT3 = np.random.randn(1, 3, 4, 4, 4), np.random.randn(3, 4, 3, 3, 3)
ERROR_CASES = [
    ("conv2d", (X2, W2), dict(stride=0)),
    ("conv2d", (X2, W2), dict(stride=(1, -1))),
    ("conv2d", (X2, W2), dict(padding=-1)),
    ("conv2d", (X2, W2), dict(dilation=-1)),
    ("conv2d", (X2, W2), dict(dilation=(0, 1))),
    ("conv2d", (X2, W2), dict(stride=0, padding=-1)),
    ("conv2d", (X2, W2), dict(stride=0, dilation=0)),
    ("conv2d", (X2, W2), dict(groups=0)),
    ("conv2d", (X2, W2), dict(padding=(1, 2, 3))),
    ("conv2d", (X2, np.random.randn(4, 3, 11, 11)), {}),
    ("conv2d", (X2, np.random.randn(4, 2, 3, 3)), {}),
    ("conv2d", (X2, np.random.randn(4, 2, 3, 3)), dict(stride=0)),
    ("conv2d", (X2, W2), dict(padding="foo")),
    ("conv2d", (X2, W2), dict(stride=2, padding="same")),
    ("conv1d", (np.random.randn(1, 3, 4), np.random.randn(4, 3, 5)), {}),
    ("conv1d", (np.random.randn(1, 3, 8), np.random.randn(4, 3, 3)), dict(dilation=0)),
    ("conv3d", (np.random.randn(1, 3, 4, 4, 4), np.random.randn(4, 3, 5, 5, 5)), {}),
    ("conv3d", (np.random.randn(1, 3, 8, 8, 8), np.random.randn(4, 3, 3, 3, 3)), dict(dilation=0)),
    ("conv3d", (np.random.randn(3, 4, 4), np.random.randn(4, 3, 1, 1, 1)), {}),
    ("conv3d", (np.random.randn(1, 3, 4, 4, 4), np.random.randn(4, 3, 1, 1, 1)), dict(groups=2)),
    ("conv_transpose2d", (X2, np.random.randn(3, 4, 3, 3)), dict(stride=0)),
    ("conv_transpose2d", (X2, np.random.randn(3, 4, 3, 3)), dict(padding=-1)),
    ("conv_transpose2d", (X2, np.random.randn(3, 4, 3, 3)), dict(dilation=0)),
    ("conv_transpose2d", (X2, np.random.randn(3, 4, 3, 3)), dict(output_padding=-1)),
    ("conv_transpose2d", (X2, np.random.randn(3, 4, 3, 3)), dict(groups=2)),
    ("conv_transpose2d", (X2, np.random.randn(2, 4, 3, 3)), {}),
    ("conv_transpose2d", (X1, WT2), dict(padding=5)),
    ("conv_transpose1d", (X1D, WT1), dict(dilation=0)),
    ("conv_transpose1d", (X1D, WT1), dict(output_padding=1)),
    ("conv_transpose1d", (np.random.randn(2, 4, 3, 4), np.random.randn(4, 3, 2)), {}),
    ("conv_transpose3d", (X3, WT3), dict(output_padding=2)),
    ("conv_transpose3d", (X3, WT3), dict(dilation=0)),
]  # fmt: skip


@pytest.mark.parametrize("name,arrays,kw", ERROR_CASES)
def test_errors_as_torch(name, arrays, kw):
    ours = [gpugrad.tensor(a, requires_grad=True) for a in arrays]
    before = [t.detach().numpy().copy() for t in ours]
    theirs = [torch.tensor(a) for a in arrays]
    expected = _err(lambda: getattr(TF, name)(*theirs, **kw))
    assert expected is not None
    assert _err(lambda: getattr(F, name)(*ours, **kw)) == expected
    for t, b in zip(ours, before):  # nothing changed
        np.testing.assert_array_equal(t.detach().numpy(), b)
        assert t.grad is None


@pytest.mark.parametrize(
    "kw", [dict(stride=0), dict(padding=-1), dict(dilation=-1), dict(dilation=0)]
)
def test_module_errors_as_torch(kw):
    x = np.random.randn(1, 3, 8, 8).astype(np.float32)
    ref = torch.nn.Conv2d(3, 4, 3, **kw)  # torch builds it; the forward refuses
    ours = M.Conv2d(3, 4, 3, **kw)
    expected = _err(lambda: ref(torch.tensor(x)))
    assert expected is not None and _err(lambda: ours(gpugrad.tensor(x))) == expected
    wrong = np.random.randn(1, 2, 8, 8).astype(np.float32)
    assert _err(lambda: M.Conv2d(3, 4, 3)(gpugrad.tensor(wrong))) == _err(
        lambda: torch.nn.Conv2d(3, 4, 3)(torch.tensor(wrong))
    )
