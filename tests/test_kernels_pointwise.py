"""The pointwise kernels: the CPU's compiled (Numba) kernels and the references, each against
a float64 formula, on odd sizes, empty, strided and broadcast inputs, NaN/inf as PyTorch; the
ops over them (grad_fn names, gradcheck through each fused backward, logit's edges, dropout's
draws)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import erfc, expit

import gpugrad
import gpugrad.nn.functional as F
from gpugrad.backend import cpu_backend
from gpugrad.backend.kernels.pointwise import dropout_uniforms
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import pointwise as P

B = cpu_backend()
SIZES = [1, 7, 1025, (1 << 16) + 3]
DTYPES = [np.float32, np.float64]
K = math.sqrt(2 / math.pi)


# ---- float64 formulas (written independently of the kernels) ---------------------------
def _gelu_tanh_s(x):
    return expit(2 * K * (x + 0.044715 * x**3))


TRUTH = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: expit(x),
    "tanh": np.tanh,
    "silu": lambda x: x * expit(x),
    "gelu": lambda x, a: 0.5 * x * erfc(-x / math.sqrt(2)) if a == "none" else x * _gelu_tanh_s(x),
    "softplus": lambda x, b, t: np.where(
        x * b > t, x, (np.maximum(x * b, 0) + np.log1p(np.exp(-np.abs(x * b)))) / b
    ),
    "threshold_backward": lambda g, x: np.where(x <= 0, 0, g),  # NaN x passes g, as torch
    "sigmoid_backward": lambda g, y: g * y * (1 - y),
    "tanh_backward": lambda g, y: g * (1 - y * y),
    "silu_backward": lambda g, x: g * expit(x) * (1 + x * (1 - expit(x))),
    "gelu_backward": lambda g, x, a: (
        g
        * (
            0.5 * erfc(-x / math.sqrt(2)) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
            if a == "none"
            else _gelu_tanh_s(x)
            + 2 * x * _gelu_tanh_s(x) * (1 - _gelu_tanh_s(x)) * K * (1 + 3 * 0.044715 * x * x)
        )
    ),
    "softplus_backward": lambda g, x, b, t: np.where(x * b > t, g, g * expit(x * b)),
}
UNARY = [
    ("relu", ()),
    ("sigmoid", ()),
    ("tanh", ()),
    ("silu", ()),
    ("gelu", ("none",)),
    ("gelu", ("tanh",)),
    ("softplus", (1.0, 20.0)),
    ("softplus", (-2.0, 5.0)),
]
BINARY = [
    ("threshold_backward", ()),
    ("sigmoid_backward", ()),
    ("tanh_backward", ()),
    ("silu_backward", ()),
    ("gelu_backward", ("none",)),
    ("gelu_backward", ("tanh",)),
    ("softplus_backward", (1.0, 20.0)),
    ("softplus_backward", (0.5, 3.0)),
]
# the saved value a backward reads: the output for sigmoid/tanh, else the input
SAVED_OUTPUT = {"sigmoid_backward": expit, "tanh_backward": np.tanh}


def _tol(dtype, name, path):
    if dtype == np.float64:
        # math.erfc / NumPy's erf: a few ulp; the float64 formulas themselves round
        return dict(rtol=1e-12, atol=1e-14)
    if path == "reference" and name.startswith("gelu"):
        # the reference's 1 + erf(x) and 1 + tanh(u) cancel for x < 0: absolute error
        # ~ eps |x|, more in tanh's derivative
        return dict(rtol=2e-6, atol=1e-5)
    # float32: a few ulp, and ~x^2 ulp in gelu's tail (x^2 rounded, as in PyTorch's float32);
    # a backward's atol covers 1 - y^2 rounded where y is near +-1
    return dict(rtol=1e-5 if name.startswith("gelu") else 2e-6, atol=1e-6)


def _data(n, dtype, rng):
    return (rng.standard_normal(n) * 4).astype(dtype)


def _ref(name):
    """The reference kernel (the backend's own method where no engine is bound)."""
    fn = getattr(B, name)
    return getattr(fn, "reference", fn)


def _both_paths(name):
    return [("compiled", ENGINE.compiled(name)), ("reference", _ref(name))]


BOUND = hasattr(B.silu, "reference")  # False under GPUGRAD_NUMBA=0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name, extra", UNARY)
def test_unary_kernels_match_float64(name, extra, n, dtype):
    rng = np.random.default_rng(n)
    x = _data(n, dtype, rng)
    want = TRUTH[name](x.astype(np.float64), *extra)
    for path, fn in _both_paths(name):
        got = fn(x, *extra)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, want, **_tol(dtype, name, path), err_msg=path)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name, extra", BINARY)
def test_backward_kernels_match_float64(name, extra, n, dtype):
    rng = np.random.default_rng(n + 1)
    x = _data(n, dtype, rng)
    if name in SAVED_OUTPUT:
        x = SAVED_OUTPUT[name](x.astype(np.float64)).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    want = TRUTH[name](g.astype(np.float64), x.astype(np.float64), *extra)
    for path, fn in _both_paths(name):
        got = fn(g, x, *extra)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, want, **_tol(dtype, name, path), err_msg=path)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, extra", UNARY + BINARY)
def test_empty_strided_and_broadcast_inputs(name, extra, dtype):
    rng = np.random.default_rng(3)
    fn = ENGINE.compiled(name)
    two = name.endswith("backward")
    base = _data(33 * 65, dtype, rng).reshape(33, 65)
    views = [np.zeros((0,), dtype), np.zeros((3, 0, 2), dtype), np.array(0.5, dtype)]
    views += [base.T, base[::2, 1::3], base[:, :1], base.T[::2], base.T[:, 1::2]]
    for v in views:
        if two:
            g = rng.standard_normal(v.shape).astype(dtype)
            args = (g[..., ::-1] if g.ndim else g, v)
        else:
            args = (v,)
        got = fn(*args, *extra)
        want = _ref(name)(*[np.ascontiguousarray(a) for a in args], *extra)
        assert got.shape == v.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)
    if two:  # both transposed: read in place, in F order
        gt = rng.standard_normal((33, 65)).astype(dtype).T
        got = fn(gt, base.T, *extra)
        want = _ref(name)(np.ascontiguousarray(gt), np.ascontiguousarray(base.T), *extra)
        assert got.shape == gt.shape
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)
    if two:  # a broadcast gradient (an expand's view) against a full saved value
        g = np.broadcast_to(rng.standard_normal(65).astype(dtype), (33, 65))
        got = fn(g, base, *extra)
        want = _ref(name)(np.ascontiguousarray(g), base, *extra)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)


EDGES = [math.nan, math.inf, -math.inf, 0.0, -0.0, 100.0, -100.0, 30.0, -30.0, 5.0, -5.0, 1e-3]


def _torch_unary(name, extra):
    Ft = torch.nn.functional
    return {
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "silu": Ft.silu,
        "gelu": lambda t: Ft.gelu(t, approximate=extra[0] if extra else "none"),
        "softplus": lambda t: Ft.softplus(t, *extra),
    }[name]


def _torch_backward(name, extra):
    a = torch.ops.aten
    return {
        "threshold_backward": lambda g, x: a.threshold_backward(g, x, 0),
        "sigmoid_backward": a.sigmoid_backward,
        "tanh_backward": a.tanh_backward,
        "silu_backward": a.silu_backward,
        "gelu_backward": lambda g, x: a.gelu_backward(g, x, approximate=extra[0]),
        "softplus_backward": lambda g, x: a.softplus_backward(g, x, *extra),
    }[name]


def _torch_of(name, extra, args):
    ts = [torch.from_numpy(np.ascontiguousarray(a)) for a in args]
    if name.endswith("backward"):
        return _torch_backward(name, extra)(*ts).numpy()
    return _torch_unary(name, extra)(*ts).numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, extra", UNARY + BINARY)
def test_nan_and_inf_as_pytorch(name, extra, dtype):
    # 4 copies: PyTorch's vectorised loops, not its scalar tail, give its answers
    x = np.array(EDGES * 4, dtype)
    if name.endswith("backward"):
        saved = x
        if name in SAVED_OUTPUT:  # a backward sees an output: inside [-1, 1] / [0, 1]
            saved = SAVED_OUTPUT[name](x.astype(np.float64)).astype(dtype)
        g = np.resize(np.array([1.0, -2.0, math.inf, math.nan], dtype), x.size)
        args = (g, saved)
    else:
        args = (x,)
    want = _torch_of(name, extra, args)  # NaN and inf where PyTorch has them
    want64 = _torch_of(name, extra, [a.astype(np.float64) for a in args])  # finite values
    if name == "gelu" and extra == ("none",):
        # PyTorch's vectorised erf loses gelu(inf) = inf (NaN); its scalar path and the
        # formula give inf, as gpugrad does
        want = np.where(x == math.inf, math.inf, want)
    with np.errstate(all="ignore"):
        for path, fn in _both_paths(name):
            got = fn(*args, *extra)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=path)
            inf = np.isinf(want)
            np.testing.assert_array_equal(got[inf], want[inf], err_msg=path)
            fin = np.isfinite(want)
            np.testing.assert_allclose(got[fin], want64[fin], rtol=1e-4, atol=1e-6, err_msg=path)


@pytest.mark.skipif(not BOUND, reason="the Numba engine is off (GPUGRAD_NUMBA=0)")
def test_dispatch_thresholds_and_dtypes():
    big = np.linspace(-3, 3, P.MIN_SIZE["silu"], dtype=np.float32)
    np.testing.assert_array_equal(B.silu(big), ENGINE.compiled("silu")(big))
    small = big[:100]
    np.testing.assert_array_equal(B.silu(small), B.silu.reference(small))
    one, two = P._one("silu"), P._two("silu_backward")
    # float16 and integer inputs, and mixed dtypes, go to the reference
    assert not one(big.astype(np.float16)) and not one(big.astype(np.int64))
    assert not two(big, big.astype(np.float64))
    assert one(big) and two(big, big)
    assert not P._gelu_ok(big, "bogus")
    # float32 tanh stays NumPy's (faster at every size measured); float64 uses the kernel
    t = np.linspace(-3, 3, P.MIN_SIZE["tanh"])
    np.testing.assert_array_equal(B.tanh(t), ENGINE.compiled("tanh")(t))
    np.testing.assert_array_equal(B.tanh(t.astype(np.float32)), np.tanh(t.astype(np.float32)))


def test_warmup_examples_compile_every_pointwise_kernel():
    for name in ENGINE.names():
        impl = ENGINE._impls[name]
        if impl.build.__module__ != P.__name__:
            continue
        fn = ENGINE.compiled(name)
        for args in impl.examples():
            fn(*args)
    assert not {n for n in ENGINE.failed if ENGINE._impls[n].build.__module__ == P.__name__}


# ---- dropout ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_dropout_kernel_draws_the_reference_mask(p, dtype):
    n = 200_003
    x = np.random.default_rng(1).standard_normal(n).astype(dtype)
    seed = (1 << 63) + 977  # past int64: still one 64-bit seed
    out, mask = ENGINE.compiled("dropout")(x, p, seed)
    rout, rmask = _ref("dropout")(x, p, seed)
    np.testing.assert_array_equal(mask, dropout_uniforms(np, seed, n) >= p)
    np.testing.assert_array_equal(mask, rmask)
    np.testing.assert_array_equal(out, rout)
    scale = 0.0 if p == 1 else 1 / (1 - p)
    np.testing.assert_allclose(out, np.where(mask, x.astype(np.float64) * scale, 0), rtol=1e-6)
    assert mask.mean() == pytest.approx(1 - p, abs=5 * math.sqrt(p * (1 - p) / n) + 1e-12)
    again, mask2 = ENGINE.compiled("dropout")(x, p, seed)
    np.testing.assert_array_equal(mask2, mask)
    if 0 < p < 1:
        other = ENGINE.compiled("dropout")(x, p, seed + 1)[1]
        assert (other != mask).mean() > 0.1
    g = np.random.default_rng(2).standard_normal(n).astype(dtype)
    dx = ENGINE.compiled("dropout_backward")(g, mask, scale)
    np.testing.assert_array_equal(dx, _ref("dropout_backward")(g, mask, scale))
    np.testing.assert_array_equal(dx, np.where(mask, g * dtype(scale), 0))


def test_dropout_strided_and_nan_input():
    x = np.full((64, 70), math.nan, np.float32)[:, ::3]
    out, mask = ENGINE.compiled("dropout")(x, 0.5, 11)
    assert mask.shape == x.shape and out.shape == x.shape
    assert np.all(out[~mask] == 0) and np.all(np.isnan(out[mask]))  # dropped NaNs are 0
    np.testing.assert_array_equal(mask, _ref("dropout")(x, 0.5, 11)[1])


@pytest.mark.parametrize("n", [7, P.MIN_SIZE["dropout_backward"] + 5])
def test_dropout_op_seed_grad_and_modes(n):
    x = gpugrad.randn(n, dtype=gpugrad.float64, requires_grad=True)
    gpugrad.manual_seed(4)
    y = F.dropout(x, 0.3)
    gpugrad.manual_seed(4)
    y2 = F.dropout(x, 0.3)
    np.testing.assert_array_equal(y.detach().numpy(), y2.detach().numpy())
    assert y.grad_fn.name() == "NativeDropoutBackward0"
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(y.detach().numpy()[kept], x.detach().numpy()[kept] / 0.7)
    up = gpugrad.randn(n, dtype=gpugrad.float64)
    (gx,) = gpugrad.autograd.grad(y, x, up, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), np.where(kept, up.numpy() / 0.7, 0))
    y.backward(up)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(up)
    assert F.dropout(x, 0.3, training=False) is x and F.dropout(x, 0.0) is x
    assert np.all(F.dropout(x, 1.0).detach().numpy() == 0)
    gpugrad.manual_seed(4)
    z = x.detach().clone()
    assert F.dropout(z, 0.3, inplace=True) is z
    np.testing.assert_array_equal(z.numpy(), y.detach().numpy())


def test_dropout_gradcheck():
    x = gpugrad.randn(5, 4, dtype=gpugrad.float64, requires_grad=True)

    def fn(a):
        gpugrad.manual_seed(9)
        return F.dropout(a, 0.4)

    assert gpugrad.autograd.gradcheck(fn, (x,))
    assert gpugrad.autograd.gradgradcheck(fn, (x,))


# ---- the ops over the kernels ----------------------------------------------------------
OPS = {
    "silu": (F.silu, torch.nn.functional.silu),
    "gelu": (F.gelu, torch.nn.functional.gelu),
    "gelu_tanh": (
        lambda t: F.gelu(t, approximate="tanh"),
        lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
    ),
    "softplus": (
        lambda t: F.softplus(t, 2.0, 3.0),
        lambda t: torch.nn.functional.softplus(t, 2.0, 3.0),
    ),
    "sigmoid": (gpugrad.sigmoid, torch.sigmoid),
    "tanh": (gpugrad.tanh, torch.tanh),
    "relu": (gpugrad.relu, torch.relu),
    "logit": (lambda t: gpugrad.logit(t.sigmoid()), lambda t: torch.logit(t.sigmoid())),
}


@pytest.fixture(params=["reference", "compiled"])
def kernel_path(request, monkeypatch):
    """Run the ops through the reference kernels (small sizes) or, with the threshold at 0,
    through the compiled ones at any size."""
    if request.param == "compiled":
        monkeypatch.setattr(P, "MIN_SIZE", dict.fromkeys(P.MIN_SIZE, 0))
    return request.param


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_values_gradients_and_names_as_torch(name, kernel_path):
    fg, ft = OPS[name]
    rng = np.random.default_rng(5)
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-10)):
        x = (rng.standard_normal((9, 13)) * 3).astype(dtype)
        up = rng.standard_normal((9, 13)).astype(dtype)
        xg = gpugrad.tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        yg, yt = fg(xg), ft(xt)
        assert yg.grad_fn.name() == yt.grad_fn.name()
        yg.backward(gpugrad.tensor(up))
        yt.backward(torch.tensor(up))
        np.testing.assert_allclose(yg.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradcheck_through_each_fused_backward(name, kernel_path):
    fg = OPS[name][0]
    x = gpugrad.randn(3, 5, dtype=gpugrad.float64, requires_grad=True)
    if name == "relu":  # keep away from the kink at 0
        x = (x + x.sign() * 0.1).detach().requires_grad_()
    assert gpugrad.autograd.gradcheck(fg, (x,))
    if name != "relu":  # relu's second derivative is 0 almost everywhere: nothing to check
        assert gpugrad.autograd.gradgradcheck(fg, (x,))


def test_inplace_variants_keep_working(kernel_path):
    x = gpugrad.randn(40, dtype=gpugrad.float32)
    want = F.silu(x).numpy()
    z = x.clone()
    assert F.silu(z, inplace=True) is z
    np.testing.assert_array_equal(z.numpy(), want)
    r = x.clone()
    r.relu_()
    np.testing.assert_array_equal(r.numpy(), np.maximum(x.numpy(), 0))
    leaf = gpugrad.randn(40, requires_grad=True)
    y = leaf * 1.0
    F.silu(y, inplace=True).sum().backward()
    xt = torch.tensor(leaf.detach().numpy(), requires_grad=True)
    torch.nn.functional.silu(xt * 1.0, inplace=True).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eps", [None, 1e-6])
def test_logit_at_zero_one_and_outside_as_torch(eps):
    x = np.array([0.0, 1.0, 0.5, -0.1, 1.1, 1e-7, 1 - 1e-7])
    xg = gpugrad.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yg, yt = gpugrad.logit(xg, eps), torch.logit(xt, eps)
    assert yg.grad_fn.name() == yt.grad_fn.name() == "LogitBackward0"
    yg.backward(gpugrad.ones_like(yg))
    yt.backward(torch.ones_like(yt))
    np.testing.assert_allclose(yg.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    x32 = gpugrad.tensor(x.astype(np.float32))
    t32 = torch.tensor(x.astype(np.float32))
    np.testing.assert_allclose(
        gpugrad.logit(x32, eps).numpy(), torch.logit(t32, eps).numpy(), rtol=1e-6
    )
