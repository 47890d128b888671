"""Elementwise ops: forward against NumPy float64, backward by gradcheck, broadcasting, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

import gpugrad
from gpugrad import ops
from tests.utils import assert_close, check_grad, rnd, t

# ---- unary ------------------------------------------------------------------------------

# name -> (gpugrad fn, numpy reference, input kind)
UNARY = {
    "neg": (lambda x: -x, np.negative, "any"),
    "neg_fn": (gpugrad.neg, np.negative, "any"),
    "abs": (gpugrad.abs, np.abs, "any"),
    "abs_op": (lambda x: abs(x), np.abs, "any"),
    "reciprocal": (gpugrad.reciprocal, np.reciprocal, "any"),
    "exp": (gpugrad.exp, np.exp, "any"),
    "log": (gpugrad.log, np.log, "pos"),
    "log1p": (gpugrad.log1p, np.log1p, "pos"),
    "expm1": (gpugrad.expm1, np.expm1, "any"),
    "sqrt": (gpugrad.sqrt, np.sqrt, "pos"),
    "rsqrt": (gpugrad.rsqrt, lambda a: 1 / np.sqrt(a), "pos"),
    "sin": (gpugrad.sin, np.sin, "any"),
    "cos": (gpugrad.cos, np.cos, "any"),
    "tanh": (gpugrad.tanh, np.tanh, "any"),
    "sigmoid": (gpugrad.sigmoid, lambda a: 1 / (1 + np.exp(-a)), "any"),
    "relu": (gpugrad.relu, lambda a: np.maximum(a, 0), "any"),
    "erf": (ops.erf, special.erf, "any"),
    "silu": (ops.silu, lambda a: a / (1 + np.exp(-a)), "any"),
    "softplus": (ops.softplus, lambda a: np.log1p(np.exp(a)), "any"),
    "softplus_beta": (
        lambda x: ops.softplus(x, beta=2.0),
        lambda a: np.log1p(np.exp(2 * a)) / 2,
        "any",
    ),
    "gelu": (ops.gelu, lambda a: 0.5 * a * (1 + special.erf(a / math.sqrt(2))), "any"),
    "gelu_tanh": (
        lambda x: ops.gelu(x, approximate="tanh"),
        lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))),
        "any",
    ),
    "pow_scalar": (lambda x: x**3, lambda a: a**3, "any"),
    "pow_half": (lambda x: x**0.5, np.sqrt, "pos"),
    "pow_neg": (lambda x: gpugrad.pow(x, -2), lambda a: a**-2.0, "any"),
    "rpow": (lambda x: 2**x, lambda a: 2.0**a, "any"),
    "rsub": (lambda x: 2 - x, lambda a: 2 - a, "any"),
    "rdiv": (lambda x: 2 / x, lambda a: 2 / a, "any"),
    "radd": (lambda x: 2 + x, lambda a: 2 + a, "any"),
    "rmul": (lambda x: 2.5 * x, lambda a: 2.5 * a, "any"),
    "div_scalar": (lambda x: x / 4, lambda a: a / 4, "any"),
    "sub_scalar": (lambda x: x - 1.5, lambda a: a - 1.5, "any"),
    "clamp_min": (lambda x: gpugrad.clamp(x, min=-0.5), lambda a: np.maximum(a, -0.5), "any"),
    "clamp_max": (lambda x: x.clamp(max=0.5), lambda a: np.minimum(a, 0.5), "any"),
    "clamp_both": (lambda x: x.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), "any"),
    "clip_both": (lambda x: gpugrad.clip(x, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), "any"),
}


def _input(kind: str, shape=(3, 4)) -> np.ndarray:
    return rnd(*shape, positive=True) if kind == "pos" else rnd(*shape)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward(name, device):
    fn, ref, kind = UNARY[name]
    a = _input(kind)
    out = fn(t(a, device))
    assert out.shape == a.shape
    assert out.dtype == gpugrad.float64
    assert out.device.type == device
    assert_close(out, ref(a))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_backward(name, device):
    fn, _, kind = UNARY[name]
    a = _input(kind)
    if name.startswith("clamp") or name.startswith("clip") or name == "relu":
        # keep central differences away from the kinks
        a = np.where(np.abs(np.abs(a) - 0.5) < 0.05, a + 0.2, a)
    check_grad(fn, a, device=device)


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round"])
def test_piecewise_constant(name, device):
    a = rnd(3, 4) * 3
    a[0, 0] = 2.5  # round half to even, like PyTorch
    a[0, 1] = -1.5
    x = t(a, device, requires_grad=True)
    out = getattr(gpugrad, name)(x)
    ref = {"sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round}[name](a)
    assert_close(out, ref)
    out.sum().backward()
    assert_close(x.grad, np.zeros_like(a))


def test_round_decimals(device):
    a = np.array([1.2345, -2.3456, 0.125])
    assert_close(gpugrad.round(t(a, device), decimals=2), np.round(a, 2))


def test_unary_on_0d_and_empty(device):
    x = t(np.array(0.7), device, requires_grad=True)
    y = gpugrad.exp(x)
    assert y.shape == ()
    y.backward()
    assert_close(x.grad, np.exp(0.7))
    e = gpugrad.exp(t(np.zeros((0, 3)), device))
    assert e.shape == (0, 3)


# ---- softmax family ---------------------------------------------------------------------


def _np_softmax(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2, -3])
def test_softmax(dim, device):
    a = rnd(2, 3, 4)
    assert_close(ops.softmax(t(a, device), dim), _np_softmax(a, dim))
    assert_close(t(a, device).softmax(dim), _np_softmax(a, dim))
    check_grad(lambda x: ops.softmax(x, dim), a, device=device)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2, -3])
def test_log_softmax(dim, device):
    a = rnd(2, 3, 4)
    assert_close(ops.log_softmax(t(a, device), dim=dim), np.log(_np_softmax(a, dim)))
    check_grad(lambda x: ops.log_softmax(x, dim=dim), a, device=device)


def test_softmax_large_values_stable(device):
    a = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]])
    out = ops.softmax(t(a, device), dim=1)
    assert np.isfinite(out.detach().cpu().numpy()).all()
    assert_close(out, _np_softmax(a, 1))
    m = a.max(axis=1, keepdims=True)
    ref = a - m - np.log(np.exp(a - m).sum(axis=1, keepdims=True))
    assert_close(ops.log_softmax(t(a, device), dim=1), ref)


def test_softmax_dtype_kw(device):
    x = t(rnd(2, 3), device, dtype=gpugrad.float32)
    assert ops.softmax(x, dim=-1, dtype=gpugrad.float64).dtype == gpugrad.float64


# ---- binary -----------------------------------------------------------------------------

BINARY = {
    "add": (lambda x, y: x + y, np.add, False),
    "add_fn": (gpugrad.add, np.add, False),
    "add_alpha": (lambda x, y: gpugrad.add(x, y, alpha=2), lambda a, b: a + 2 * b, False),
    "sub": (lambda x, y: x - y, np.subtract, False),
    "sub_alpha": (lambda x, y: gpugrad.sub(x, y, alpha=3), lambda a, b: a - 3 * b, False),
    "mul": (lambda x, y: x * y, np.multiply, False),
    "div": (lambda x, y: x / y, np.divide, False),
    "true_divide": (gpugrad.true_divide, np.divide, False),
    "pow": (lambda x, y: x**y, np.power, True),
    "maximum": (gpugrad.maximum, np.maximum, False),
    "minimum": (gpugrad.minimum, np.minimum, False),
}

SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((2, 1, 4), (3, 1)),
    ((3, 1), (2, 1, 4)),
    ((5,), ()),
    ((), (5,)),
    ((), ()),
    ((1,), (2, 3)),
]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_forward(name, shapes, device):
    fn, ref, pos = BINARY[name]
    a, b = rnd(*shapes[0], positive=pos), rnd(*shapes[1])
    out = fn(t(a, device), t(b, device))
    expected = ref(a, b)
    assert tuple(out.shape) == np.shape(expected)
    assert_close(out, expected)


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_backward(name, shapes, device):
    fn, _, pos = BINARY[name]
    a, b = rnd(*shapes[0], positive=pos), rnd(*shapes[1])
    if name in ("maximum", "minimum"):
        b = np.broadcast_to(b, b.shape) + 0.05  # avoid ties
    xs = check_grad(fn, a, b, device=device)
    out = fn(*xs)
    out.backward(gpugrad.ones_like(out))
    for x in xs:
        assert x.grad.shape == x.shape
        assert x.grad.dtype == x.dtype


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_binary_with_python_scalar(name, device):
    fn = {
        "add": lambda x, s: x + s,
        "sub": lambda x, s: x - s,
        "mul": lambda x, s: x * s,
        "div": lambda x, s: x / s,
        "pow": lambda x, s: x**s,
    }[name]
    ref = {
        "add": np.add,
        "sub": np.subtract,
        "mul": np.multiply,
        "div": np.divide,
        "pow": np.power,
    }[name]
    a = rnd(3, 4, positive=True)
    for s in (2, 2.5, -1.5):
        assert_close(fn(t(a, device), s), ref(a, s))
    check_grad(lambda x: fn(x, 2.5), a, device=device)


def test_pow_tensor_exponent_grads_both(device):
    a, b = rnd(3, 4, positive=True), rnd(3, 4)
    check_grad(lambda x, y: gpugrad.pow(x, y), a, b, device=device)


def test_rpow_tensor_base(device):
    b = rnd(3)
    out = 2 ** t(b, device)
    assert_close(out, 2.0**b)
    out2 = gpugrad.pow(2.0, t(b, device))
    assert_close(out2, 2.0**b)


def test_pow_zero_exponent_grad(device):
    x = t(rnd(3), device, requires_grad=True)
    (x**0).sum().backward()
    assert_close(x.grad, np.zeros(3))


def test_maximum_tie_splits_gradient(device):
    # PyTorch gives half the gradient to each input on ties
    x = t(np.array([1.0, 2.0]), device, requires_grad=True)
    y = t(np.array([1.0, 3.0]), device, requires_grad=True)
    gpugrad.maximum(x, y).sum().backward()
    assert_close(x.grad, [0.5, 0.0])
    assert_close(y.grad, [0.5, 1.0])


def test_same_tensor_twice_accumulates(device):
    a = rnd(3)
    x = t(a, device, requires_grad=True)
    (x * x + x).sum().backward()
    assert_close(x.grad, 2 * a + 1)


def test_scalar_0d_tensor_broadcast(device):
    a = rnd(2, 3)
    s = t(np.array(1.5), device, requires_grad=True)
    x = t(a, device, requires_grad=True)
    (x * s).sum().backward()
    assert s.grad.shape == ()
    assert_close(s.grad, a.sum())
    assert x.grad.shape == (2, 3)


def test_broadcast_mismatch_raises(device):
    x, y = t(rnd(3, 4), device), t(rnd(5), device)
    with pytest.raises(
        RuntimeError,
        match=r"size of tensor a \(4\) must match the size of tensor "
        r"b \(5\) at non-singleton dimension 1",
    ):
        x + y


def test_mixed_devices_raise():
    from tests.conftest import _CUDA_SKIP

    if _CUDA_SKIP:
        pytest.skip(_CUDA_SKIP)
    x = gpugrad.ones(3, device="cpu")
    y = gpugrad.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match=r"cuda:0.*cpu|cpu.*cuda:0"):
        x + y


# ---- where / clamp with tensors ---------------------------------------------------------


def test_where(device):
    a, b = rnd(3, 4), rnd(4)
    cond = a > 0
    c = t(cond, device, dtype=gpugrad.bool)
    out = gpugrad.where(c, t(a, device), t(b, device))
    assert_close(out, np.where(cond, a, b))
    check_grad(lambda x, y: gpugrad.where(c, x, y), a, b, device=device)


def test_where_scalar_and_method(device):
    a = rnd(3, 4)
    x = t(a, device)
    assert_close(gpugrad.where(x > 0, x, 0.0), np.where(a > 0, a, 0.0))
    assert_close(x.where(x > 0, -1.0), np.where(a > 0, a, -1.0))


def test_where_condition_only(device):
    a = np.array([[0.0, 1.0], [2.0, 0.0]])
    rows, cols = gpugrad.where(t(a, device))
    assert rows.tolist() == [0, 1]
    assert cols.tolist() == [1, 0]


def test_clamp_tensor_bounds(device):
    a, lo, hi = rnd(3, 4), rnd(4) - 1, rnd(4) + 1
    out = gpugrad.clamp(t(a, device), t(lo, device), t(hi, device))
    assert_close(out, np.minimum(np.maximum(a, lo), hi))


def test_clamp_requires_a_bound(device):
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        gpugrad.clamp(t(rnd(3), device))


# ---- comparisons and logical ops --------------------------------------------------------

CMP = {
    "eq": (lambda x, y: x == y, np.equal),
    "ne": (lambda x, y: x != y, np.not_equal),
    "lt": (lambda x, y: x < y, np.less),
    "le": (lambda x, y: x <= y, np.less_equal),
    "gt": (lambda x, y: x > y, np.greater),
    "ge": (lambda x, y: x >= y, np.greater_equal),
    "eq_fn": (gpugrad.eq, np.equal),
    "gt_fn": (gpugrad.gt, np.greater),
}


@pytest.mark.parametrize("name", sorted(CMP))
def test_comparisons(name, device):
    fn, ref = CMP[name]
    a = np.round(rnd(3, 4))
    b = np.round(rnd(4))
    x = t(a, device, requires_grad=True)
    out = fn(x, t(b, device))
    assert out.dtype == gpugrad.bool
    assert not out.requires_grad
    assert out.grad_fn is None
    assert (out.cpu().numpy() == ref(a, b)).all()
    out_s = fn(x, 0.0)
    assert out_s.dtype == gpugrad.bool
    assert (out_s.cpu().numpy() == ref(a, 0.0)).all()


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical_binary(name, device):
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    out = getattr(gpugrad, name)(t(a, device, dtype=gpugrad.bool), t(b, device, dtype=gpugrad.bool))
    assert out.dtype == gpugrad.bool
    assert out.cpu().numpy().tolist() == getattr(np, name)(a, b).tolist()
    # non-bool inputs: nonzero is True, result still bool
    f = getattr(gpugrad, name)(t([0.0, 2.0, 0.0, -1.0], device), t([1.0, 1.0, 0.0, 0.0], device))
    assert f.dtype == gpugrad.bool
    assert f.cpu().numpy().tolist() == getattr(np, name)([0, 2, 0, -1], [1, 1, 0, 0]).tolist()


def test_logical_not_and_bitwise(device):
    a = np.array([True, False, True])
    x = t(a, device, dtype=gpugrad.bool)
    assert gpugrad.logical_not(x).cpu().numpy().tolist() == [False, True, False]
    assert (~x).cpu().numpy().tolist() == [False, True, False]
    y = t(np.array([False, False, True]), device, dtype=gpugrad.bool)
    assert (x & y).cpu().numpy().tolist() == [False, False, True]
    assert (x | y).cpu().numpy().tolist() == [True, False, True]
    assert (x ^ y).cpu().numpy().tolist() == [True, False, False]
    assert gpugrad.logical_not(t([0.0, 1.5], device)).dtype == gpugrad.bool


def test_isnan_isinf_isfinite(device):
    a = np.array([1.0, np.nan, np.inf, -np.inf])
    x = t(a, device)
    assert x.isnan().cpu().numpy().tolist() == np.isnan(a).tolist()
    assert x.isinf().cpu().numpy().tolist() == np.isinf(a).tolist()
    assert x.isfinite().cpu().numpy().tolist() == np.isfinite(a).tolist()


def test_allclose_equal(device):
    a = rnd(3)
    assert gpugrad.allclose(t(a, device), t(a + 1e-10, device))
    assert not gpugrad.allclose(t(a, device), t(a + 1e-2, device))
    assert gpugrad.equal(t(a, device), t(a, device))
    assert not gpugrad.equal(t(a, device), t(a + 1, device))


def test_float_integer_ops_no_grad_for_ints(device):
    x = gpugrad.tensor([1, 2, 3], device=device)
    assert (x + 1).dtype == gpugrad.int64
    assert (x * 2).tolist() == [2, 4, 6]
    assert (-x).tolist() == [-1, -2, -3]
    assert gpugrad.abs(-x).tolist() == [1, 2, 3]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("n", [6, 5000])  # a small and a large array
def test_relu_backward_zeroes_nonfinite_grads_where_masked(n, dtype, device):
    rng = np.random.default_rng(n)
    xa = rng.standard_normal(n)
    xa[:4] = [-1.0, 2.0, -3.0, 0.0]
    ga = rng.standard_normal(n)
    ga[:4] = [np.nan, 5.0, np.inf, -np.inf]  # non-finite only where relu's mask is 0
    dt = getattr(gpugrad, dtype)
    x = t(xa, device, requires_grad=True, dtype=dt)
    x.relu().backward(t(ga, device, dtype=dt))
    want = np.where(xa > 0, ga, 0.0).astype(dtype)
    got = x.grad.cpu().numpy()
    assert got.dtype == np.dtype(dtype)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got[[0, 2, 3]]).any()  # +0 where masked, as PyTorch
