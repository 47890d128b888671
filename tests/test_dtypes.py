"""dtype promotion, result dtypes, gradient dtypes, default dtype and creation functions."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import ops
from tests.utils import assert_close, rnd

F16, F32, F64 = gpugrad.float16, gpugrad.float32, gpugrad.float64
BF16 = gpugrad.bfloat16
I32, I64, B = gpugrad.int32, gpugrad.int64, gpugrad.bool


@pytest.fixture
def default_float64():
    old = gpugrad.get_default_dtype()
    gpugrad.set_default_dtype(gpugrad.float64)
    try:
        yield
    finally:
        gpugrad.set_default_dtype(old)


def _tensor(data, dtype, device):
    return gpugrad.tensor(data, dtype=dtype, device=device)


# ---- type promotion (PyTorch's rules, checked against torch 2.x) -------------------------

# (lhs dtype, rhs: dtype for a 1-D tensor / ("0d", dtype) / python scalar, op, expected)
PROMOTION = [
    (I64, I64, "div", F32),
    (I32, I32, "div", F32),
    (I64, 2, "div", F32),
    (F32, ("0d", F64), "mul", F32),
    (F32, ("0d", F64), "add", F32),
    (I64, 2.5, "mul", F32),
    (I64, ("0d", F32), "add", F32),
    (I64, ("0d", F64), "add", F64),  # the 0-d tensor's category is higher: its dtype wins
    (F16, 1.5, "add", F16),
    (F16, 2, "mul", F16),
    (F16, F32, "mul", F32),
    (F32, F64, "mul", F64),
    (B, B, "add", B),
    (B, 2, "mul", I64),
    (B, 2.0, "mul", F32),
    (I32, I64, "add", I64),
    (I32, 5, "add", I32),
    (I32, ("0d", I64), "mul", I32),
    (gpugrad.uint8, gpugrad.int8, "add", gpugrad.int16),
    (I64, 2, "floordiv", I64),
    (I64, 2, "pow", I64),
    (I64, 0.5, "pow", F32),
    (F32, 2, "pow", F32),
    (BF16, F16, "add", F32),  # neither holds the other
    (BF16, F32, "mul", F32),
    (BF16, 1.5, "add", BF16),
    (BF16, 2, "pow", BF16),
    (BF16, ("0d", F64), "mul", BF16),
    (I64, ("0d", BF16), "add", BF16),
    (I32, BF16, "add", BF16),
    (I64, BF16, "div", BF16),
    (B, BF16, "mul", BF16),
]

BIN = {
    "div": lambda a, b: a / b,
    "mul": lambda a, b: a * b,
    "add": lambda a, b: a + b,
    "floordiv": lambda a, b: a // b,
    "pow": lambda a, b: a**b,
}


@pytest.mark.parametrize("lhs,rhs,op,expected", PROMOTION, ids=str)
def test_promotion(lhs, rhs, op, expected, device):
    if device == "cuda" and BF16 in (lhs, expected, rhs[-1] if isinstance(rhs, tuple) else rhs):
        pytest.skip("bfloat16 is CPU-only (tests/test_bfloat16.py checks cuda's TypeError)")
    a = _tensor([1, 2], lhs, device)
    if isinstance(rhs, tuple):
        b = _tensor(1, rhs[1], device)
    elif isinstance(rhs, gpugrad.dtype):
        b = _tensor([1, 1], rhs, device)
    else:
        b = rhs
    out = BIN[op](a, b)
    assert out.dtype == expected
    assert out._data.dtype == expected.np if hasattr(expected, "np") else True


def test_reflected_scalar_promotion(device):
    x = _tensor([1, 2], I64, device)
    assert (2.5 * x).dtype == F32
    assert (1 / x).dtype == F32
    assert (2 - x).dtype == I64
    assert (2.0**x).dtype == F32


def test_int_true_divide_values(device):
    out = _tensor([1, 3], I64, device) / _tensor([2, 2], I64, device)
    assert out.dtype == F32
    assert out.tolist() == [0.5, 1.5]
    assert gpugrad.true_divide(_tensor([1], I32, device), 2).dtype == F32


def test_bool_add_values(device):
    out = _tensor([True, False], B, device) + _tensor([True, False], B, device)
    assert out.dtype == B
    assert out.tolist() == [True, False]


def test_promote_types_and_result_type():
    assert gpugrad.promote_types(I32, F16) == F16
    assert gpugrad.promote_types(I32, I64) == I64
    assert gpugrad.promote_types(B, I32) == I32
    assert gpugrad.promote_types(BF16, F16) == F32 and gpugrad.promote_types(I64, BF16) == BF16
    assert gpugrad.result_type(gpugrad.tensor([1, 2]), 1.0) == F32


def test_where_promotion(device):
    c = _tensor([True], B, device)
    assert gpugrad.where(c, _tensor([1], I64, device), 2.5).dtype == F32


# ---- every op keeps float32 ---------------------------------------------------------------

F32_OPS = {
    "add": lambda x, y: x + y,
    "add_scalar": lambda x, y: x + 1.5,
    "radd": lambda x, y: 1.5 + x,
    "sub": lambda x, y: x - y,
    "rsub": lambda x, y: 2 - x,
    "mul": lambda x, y: x * y,
    "mul_0d_f64": lambda x, y: x * gpugrad.tensor(2.0, dtype=F64, device=x.device),
    "div": lambda x, y: x / y,
    "rdiv": lambda x, y: 2 / x,
    "pow_scalar": lambda x, y: x**2,
    "pow_float": lambda x, y: x.abs() ** 0.5,
    "pow_tensor": lambda x, y: x.abs() ** y,
    "rpow": lambda x, y: 2**x,
    "neg": lambda x, y: -x,
    "abs": lambda x, y: x.abs(),
    "reciprocal": lambda x, y: x.reciprocal(),
    "exp": lambda x, y: x.exp(),
    "log": lambda x, y: x.abs().log(),
    "log1p": lambda x, y: x.abs().log1p(),
    "expm1": lambda x, y: x.expm1(),
    "sqrt": lambda x, y: x.abs().sqrt(),
    "rsqrt": lambda x, y: x.abs().rsqrt(),
    "sin": lambda x, y: x.sin(),
    "cos": lambda x, y: x.cos(),
    "tanh": lambda x, y: x.tanh(),
    "sigmoid": lambda x, y: x.sigmoid(),
    "relu": lambda x, y: x.relu(),
    "clamp": lambda x, y: x.clamp(-0.5, 0.5),
    "clamp_min": lambda x, y: x.clamp(min=0),
    "maximum": lambda x, y: gpugrad.maximum(x, y),
    "minimum": lambda x, y: gpugrad.minimum(x, y),
    "where": lambda x, y: gpugrad.where(x > 0, x, y),
    "where_scalar": lambda x, y: gpugrad.where(x > 0, x, 0.0),
    "sign": lambda x, y: x.sign(),
    "floor": lambda x, y: x.floor(),
    "ceil": lambda x, y: x.ceil(),
    "round": lambda x, y: x.round(),
    "gelu": lambda x, y: ops.gelu(x),
    "gelu_tanh": lambda x, y: ops.gelu(x, approximate="tanh"),
    "silu": lambda x, y: ops.silu(x),
    "softplus": lambda x, y: ops.softplus(x),
    "softmax": lambda x, y: ops.softmax(x, -1),
    "log_softmax": lambda x, y: ops.log_softmax(x, 0),
    "erf": lambda x, y: ops.erf(x),
    "sum": lambda x, y: x.sum(),
    "mean": lambda x, y: x.mean(1),
    "prod": lambda x, y: x.prod(0),
    "var": lambda x, y: x.var(),
    "std": lambda x, y: x.std(0),
    "norm": lambda x, y: x.norm(),
    "logsumexp": lambda x, y: (
        x.logsumexp(1) if hasattr(x, "logsumexp") else gpugrad.logsumexp(x, 1)
    ),
    "matmul": lambda x, y: x @ y.T,
    "linear": lambda x, y: ops.linear(x, y),
    "cat": lambda x, y: gpugrad.cat([x, y]),
    "stack": lambda x, y: gpugrad.stack([x, y]),
    "getitem": lambda x, y: x[gpugrad.tensor([0, 0], device=x.device)],
    "masked_fill": lambda x, y: x.masked_fill(x > 0, 1.0),
    "cross_entropy": lambda x, y: ops.cross_entropy(x, gpugrad.tensor([0, 1, 2], device=x.device)),
    "mse_loss": lambda x, y: ops.mse_loss(x, y),
}


@pytest.mark.parametrize("name", sorted(F32_OPS))
def test_float32_stays_float32(name, device):
    x = gpugrad.tensor(rnd(3, 4), dtype=F32, device=device, requires_grad=True)
    y = gpugrad.tensor(rnd(3, 4), dtype=F32, device=device, requires_grad=True)
    out = F32_OPS[name](x, y)
    assert out.dtype == F32
    assert out._data.dtype == np.float32
    out.sum().backward()
    for v in (x, y):
        if v.grad is not None:
            assert v.grad.dtype == F32
            assert v.grad._data.dtype == np.float32


def test_comparison_results_are_bool(device):
    x = gpugrad.tensor(rnd(3), dtype=F32, device=device)
    for out in (x > 0, x == x, x.isnan(), gpugrad.logical_and(x, x)):
        assert out.dtype == B


# ---- gradient dtype equals input dtype ---------------------------------------------------


def test_grad_dtype_mixed_f32_f64_0d(device):
    x = gpugrad.tensor(rnd(3), dtype=F32, device=device, requires_grad=True)
    s = gpugrad.tensor(2.0, dtype=F64, device=device, requires_grad=True)
    out = x * s
    assert out.dtype == F32
    out.sum().backward()
    assert x.grad.dtype == F32
    assert s.grad.dtype == F64
    assert s.grad.shape == ()


def test_grad_dtype_mixed_f16_f32(device):
    x = gpugrad.tensor([1.0, 2.0], dtype=F16, device=device, requires_grad=True)
    y = gpugrad.tensor([3.0, 4.0], dtype=F32, device=device, requires_grad=True)
    out = x * y
    assert out.dtype == F32
    out.sum().backward()
    assert x.grad.dtype == F16
    assert y.grad.dtype == F32
    assert x.grad.tolist() == [3.0, 4.0]


def test_grad_dtype_float_with_int(device):
    x = gpugrad.tensor([1.0, 2.0], dtype=F64, device=device, requires_grad=True)
    n = gpugrad.tensor([3, 4], device=device)
    (x * n).sum().backward()
    assert x.grad.dtype == F64
    assert x.grad.tolist() == [3.0, 4.0]


def test_to_dtype_grad_flows_back_in_source_dtype(device):
    x = gpugrad.tensor([1.0, 2.0], dtype=F32, device=device, requires_grad=True)
    y = x.to(F64) * 2
    assert y.dtype == F64
    y.sum().backward()
    assert x.grad.dtype == F32
    assert x.double().dtype == F64 and x.half().dtype == F16 and x.float().dtype == F32


# ---- requires_grad on non-float ---------------------------------------------------------

_RG_MSG = r"(?i)only Tensors of floating point (and complex )?dtype can require gradients"


def test_int_requires_grad_raises(device):
    x = gpugrad.tensor([1, 2], device=device)
    with pytest.raises(RuntimeError, match=_RG_MSG):
        x.requires_grad_()
    with pytest.raises(RuntimeError, match=_RG_MSG):
        x.requires_grad = True
    with pytest.raises(RuntimeError, match=_RG_MSG):
        gpugrad.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=_RG_MSG):
        gpugrad.zeros(2, dtype=I64, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=_RG_MSG):
        gpugrad.arange(3, device=device, requires_grad=True)
    x.requires_grad_(False)  # turning it off is fine


# ---- default dtype ----------------------------------------------------------------------


def test_default_dtype_is_float32():
    assert gpugrad.get_default_dtype() == F32
    assert gpugrad.tensor([1.0]).dtype == F32
    assert gpugrad.tensor([1, 2.0]).dtype == F32


def test_set_default_dtype_float64(default_float64, device):
    assert gpugrad.get_default_dtype() == F64
    assert gpugrad.tensor([1.0], device=device).dtype == F64
    assert gpugrad.tensor(1.0, device=device).dtype == F64
    assert gpugrad.ones(2, device=device).dtype == F64
    assert gpugrad.zeros(2, device=device).dtype == F64
    assert gpugrad.rand(2, device=device).dtype == F64
    assert gpugrad.randn(2, device=device).dtype == F64
    assert gpugrad.arange(0, 1, 0.5, device=device).dtype == F64
    assert gpugrad.linspace(0, 1, 3, device=device).dtype == F64
    assert gpugrad.full((2,), 1.5, device=device).dtype == F64
    assert gpugrad.eye(2, device=device).dtype == F64
    ints = gpugrad.tensor([1], device=device)
    assert ints.dtype == I64
    assert (ints / 2).dtype == F64
    assert (ints * 2.5).dtype == F64
    assert gpugrad.tensor([1], device=device).exp().dtype == F64


def test_default_dtype_restored():
    # runs after test_set_default_dtype_float64 in file order: the fixture restored it
    assert gpugrad.get_default_dtype() == F32


def test_set_default_dtype_rejects_int():
    with pytest.raises(TypeError):
        gpugrad.set_default_dtype(gpugrad.int64)
    assert gpugrad.get_default_dtype() == F32


# ---- creation functions -----------------------------------------------------------------


def test_tensor_inference(device):
    assert gpugrad.tensor(3, device=device).dtype == I64
    assert gpugrad.tensor(3.0, device=device).dtype == F32
    assert gpugrad.tensor(True, device=device).dtype == B
    assert gpugrad.tensor([1, 2.0], device=device).dtype == F32
    assert gpugrad.tensor(np.array([1.0, 2.0]), device=device).dtype == F64
    assert gpugrad.tensor(np.array([1, 2], dtype=np.int32), device=device).dtype == I32
    assert gpugrad.tensor([[1, 2], [3, 4]], device=device).shape == (2, 2)
    x = gpugrad.tensor([1.0, 2.0], dtype=F64, device=device, requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.dtype == F64 and x.device.type == device


def test_tensor_copies_numpy(device):
    a = np.zeros(3)
    x = gpugrad.tensor(a, device=device)
    a[0] = 5.0
    assert x[0].item() == 0.0


def test_from_numpy_shares_memory():
    a = np.zeros(3)
    x = gpugrad.from_numpy(a)
    assert x.dtype == F64
    a[0] = 5.0
    assert x[0].item() == 5.0
    x[1] = 7.0
    assert a[1] == 7.0
    assert gpugrad.from_numpy(np.arange(3, dtype=np.int32)).dtype == I32


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
def test_filled_creation(fn, device):
    f = getattr(gpugrad, fn)
    x = f(2, 3, device=device)
    assert x.shape == (2, 3) and x.dtype == F32 and x.device.type == device
    assert not x.requires_grad
    assert f((2, 3), device=device).shape == (2, 3)
    assert f([4], device=device).shape == (4,)
    y = f(2, dtype=F64, device=device, requires_grad=True)
    assert y.dtype == F64 and y.requires_grad and y.is_leaf
    if fn in ("zeros", "ones", "empty"):
        assert f(2, dtype=I32, device=device).dtype == I32
    if fn == "zeros":
        assert x.sum().item() == 0
    if fn == "ones":
        assert x.sum().item() == 6
    if fn == "rand":
        v = f(1000, device=device).cpu().numpy()
        assert 0 <= v.min() and v.max() < 1
    if fn == "randn":
        v = f(2000, dtype=F64, device=device).cpu().numpy()
        assert abs(v.mean()) < 0.15 and 0.85 < v.std() < 1.15


def test_full(device):
    assert gpugrad.full((2,), 3, device=device).dtype == I64
    assert gpugrad.full((2,), 3.0, device=device).dtype == F32
    assert gpugrad.full((2,), True, device=device).dtype == B
    x = gpugrad.full((2, 2), 1.5, dtype=F64, device=device, requires_grad=True)
    assert x.dtype == F64 and x.requires_grad and x.tolist() == [[1.5, 1.5], [1.5, 1.5]]


@pytest.mark.parametrize(
    "fn", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like", "full_like"]
)
def test_like(fn, device):
    base = gpugrad.tensor(rnd(2, 3), dtype=F64, device=device)
    f = getattr(gpugrad, fn)
    args = (base, 7.0) if fn == "full_like" else (base,)
    x = f(*args)
    assert x.shape == base.shape and x.dtype == F64 and x.device == base.device
    y = f(*args, dtype=F32, requires_grad=True)
    assert y.dtype == F32 and y.requires_grad
    if fn == "full_like":
        assert x.tolist() == [[7.0] * 3] * 2
        assert gpugrad.full_like(base, 7, dtype=I64).dtype == I64
    if fn in ("zeros_like", "ones_like", "empty_like"):
        ints = gpugrad.tensor([1, 2], dtype=I32, device=device)
        assert f(ints).dtype == I32


def test_randint(device):
    x = gpugrad.randint(0, 5, (100,), device=device)
    assert x.dtype == I64 and x.shape == (100,)
    v = x.cpu().numpy()
    assert v.min() >= 0 and v.max() < 5
    y = gpugrad.randint(3, (2, 2), device=device)
    assert y.shape == (2, 2) and y.cpu().numpy().max() < 3
    assert gpugrad.randint(0, 5, (3,), dtype=I32, device=device).dtype == I32
    assert gpugrad.randint_like(gpugrad.ones(4, device=device), 5).dtype == F32


def test_arange(device):
    assert gpugrad.arange(5, device=device).tolist() == [0, 1, 2, 3, 4]
    assert gpugrad.arange(5, device=device).dtype == I64
    assert gpugrad.arange(1, 7, 2, device=device).tolist() == [1, 3, 5]
    x = gpugrad.arange(0, 1, 0.25, device=device)
    assert x.dtype == F32 and x.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert gpugrad.arange(1, 2.5, 0.5, device=device).tolist() == [1.0, 1.5, 2.0]
    assert gpugrad.arange(0.0, 3, device=device).dtype == F32
    assert gpugrad.arange(3, dtype=F64, device=device).dtype == F64
    assert gpugrad.arange(5, 0, -2, device=device).tolist() == [5, 3, 1]
    r = gpugrad.arange(3, dtype=F32, device=device, requires_grad=True)
    assert r.requires_grad


def test_linspace_eye(device):
    x = gpugrad.linspace(0, 1, 5, device=device)
    assert x.dtype == F32
    assert_close(x, np.linspace(0, 1, 5), rtol=1e-6)
    assert gpugrad.linspace(0, 1, 5, dtype=F64, device=device).dtype == F64
    e = gpugrad.eye(2, 3, device=device)
    assert e.dtype == F32 and e.tolist() == [[1, 0, 0], [0, 1, 0]]
    assert gpugrad.eye(3, dtype=I64, device=device).sum().item() == 3


def test_manual_seed_reproducible(device):
    gpugrad.manual_seed(42)
    a = [
        gpugrad.rand(5, device=device),
        gpugrad.randn(5, device=device),
        gpugrad.randint(0, 100, (5,), device=device),
    ]
    gpugrad.manual_seed(42)
    b = [
        gpugrad.rand(5, device=device),
        gpugrad.randn(5, device=device),
        gpugrad.randint(0, 100, (5,), device=device),
    ]
    for x, y in zip(a, b):
        assert x.tolist() == y.tolist()
    gpugrad.manual_seed(43)
    assert gpugrad.rand(5, device=device).tolist() != a[0].tolist()


def test_creation_device_and_dtype_object_forms(device):
    x = gpugrad.zeros(2, device=gpugrad.device(device))
    assert x.device.type == device
    assert gpugrad.zeros(2, dtype=gpugrad.float).dtype == F32
    assert gpugrad.zeros(2, dtype=gpugrad.double).dtype == F64
    assert gpugrad.zeros(2, dtype=gpugrad.long).dtype == I64
    assert gpugrad.zeros(2, dtype=gpugrad.half).dtype == F16


def test_legacy_tensor_constructor(device):
    """``gpugrad.Tensor(...)`` as PyTorch's legacy constructor, as in old custom layers:
    ``nn.Parameter(torch.Tensor(out, in))`` then an init."""
    t = gpugrad.Tensor(2, 3, device=device)
    assert t.shape == (2, 3) and t.dtype == gpugrad.float32 and t.device == gpugrad.device(device)
    assert gpugrad.Tensor(gpugrad.Size([4, 1]), device=device).shape == (4, 1)
    assert gpugrad.Tensor().shape == (0,)
    c = gpugrad.Tensor([1, 2], device=device)  # data is copied into the default float dtype
    assert c.dtype == gpugrad.float32 and c.tolist() == [1.0, 2.0]
    assert gpugrad.Tensor((2, 3)).tolist() == [2.0, 3.0]  # a tuple is data, a Size is sizes
    with _dt64():
        assert gpugrad.Tensor([True, False]).dtype == gpugrad.float64
    a = gpugrad.ones(2, device=device, requires_grad=True)
    b = gpugrad.Tensor(a)  # an alias: same memory, gradients flow
    assert b is not a and b.requires_grad
    with gpugrad.no_grad():
        b.mul_(3)
    assert a.tolist() == [3.0, 3.0]
    p = gpugrad.nn.Parameter(gpugrad.Tensor(3, 2, device=device))
    gpugrad.nn.init.xavier_uniform_(p)
    assert type(p) is gpugrad.nn.Parameter and p.requires_grad and p.shape == (3, 2)
    with pytest.raises(TypeError, match=r"new\(\): expected sizes as ints.*\(int, str\)"):
        gpugrad.Tensor(2, "a")
    with pytest.raises(TypeError):
        gpugrad.Tensor([1, 2], dtype=gpugrad.float64)  # as PyTorch: no dtype= here


def test_legacy_typed_constructors():
    """gpugrad.FloatTensor & co.: PyTorch's legacy typed names (CPU tensors)."""
    assert gpugrad.LongTensor([1, 2]).dtype == gpugrad.int64
    assert gpugrad.FloatTensor(2, 3).shape == (2, 3)
    assert gpugrad.FloatTensor(2).dtype == gpugrad.float32
    assert gpugrad.DoubleTensor([1]).dtype == gpugrad.float64
    assert gpugrad.BoolTensor([1, 0]).tolist() == [True, False]
    assert gpugrad.IntTensor([3]).dtype == gpugrad.int32
    assert gpugrad.HalfTensor(1).dtype == gpugrad.float16
    f, i = gpugrad.ones(1), gpugrad.ones(1, dtype=gpugrad.int64)
    assert isinstance(f, gpugrad.FloatTensor) and not isinstance(i, gpugrad.FloatTensor)
    assert isinstance(i, gpugrad.LongTensor) and isinstance(gpugrad.LongTensor([1]), gpugrad.Tensor)
    assert f.type(gpugrad.DoubleTensor).dtype == gpugrad.float64
    assert f.type("torch.LongTensor").dtype == gpugrad.int64
    assert f.type(gpugrad.float16).dtype == gpugrad.float16
    assert f.type() == "torch.FloatTensor"
    with pytest.raises(ValueError, match="invalid type: 'torch.Foo'"):
        f.type("torch.Foo")
    with pytest.raises(TypeError, match="expected gpugrad.float32"):
        gpugrad.FloatTensor(i)


class _dt64:
    def __enter__(self):
        self.prev = gpugrad.get_default_dtype()
        gpugrad.set_default_dtype(gpugrad.float64)

    def __exit__(self, *exc):
        gpugrad.set_default_dtype(self.prev)


def test_explicit_float64_keeps_python_doubles_exact(device):
    # Python floats go straight to the requested dtype, never through the float32 default
    x = gpugrad.tensor([-1.2, 0.1, 1 / 3], dtype=gpugrad.float64, device=device)
    np.testing.assert_array_equal(x.cpu().numpy(), np.array([-1.2, 0.1, 1 / 3]))
    assert gpugrad.tensor(0.1, dtype=gpugrad.float64, device=device).item() == 0.1
    assert gpugrad.tensor([[0.1, 2]], device=device).dtype == gpugrad.float32  # the default
    h = gpugrad.tensor([0.1], dtype=gpugrad.float16, device=device)
    assert h.cpu().numpy()[0] == np.float16(0.1)  # one rounding, from the double


def test_error_texts_name_every_dtype_as_pytorch():
    # one table of PyTorch's scalar-type names serves every error text
    for dt, name in [
        (gpugrad.float16, "Half"), (gpugrad.float32, "Float"), (gpugrad.float64, "Double"),
        (gpugrad.int8, "Char"), (gpugrad.int16, "Short"), (gpugrad.int32, "Int"),
        (gpugrad.int64, "Long"), (gpugrad.uint8, "Byte"), (gpugrad.bool, "Bool"),
    ]:  # fmt: skip
        assert gpugrad._dtype.scalar_type_name(dt) == name
        assert gpugrad._dtype.scalar_type_name(dt.np) == name
    with pytest.raises(RuntimeError, match="as input. Got Short$"):
        gpugrad.linalg.det(gpugrad.ones(2, 2, dtype=gpugrad.int16))
    with pytest.raises(
        RuntimeError, match="result type Float can't be cast to the desired output type Short"
    ):
        gpugrad.zeros(2, dtype=gpugrad.int16).add_(gpugrad.ones(2))


@pytest.mark.parametrize(
    "data, expected",
    [
        ([[1.0, 2], [3, 4]], "float32"),
        ([[1, 2], [3, 4.0]], "float32"),
        ([[1, 2], [3, 4]], "int64"),
        ([[True, 2]], "int64"),
        ([(1, 2), [3, 4.5]], "float32"),
        ([[[1, 2]], [[3.0, 4]]], "float32"),
    ],
)
def test_nested_python_lists_infer_one_dtype_as_torch(data, expected):
    # each inner list on its own would be float32 or int64; together they are one float list
    assert gpugrad.tensor(data).dtype == getattr(gpugrad, expected)
    np.testing.assert_array_equal(gpugrad.tensor(data).numpy(), np.asarray(data, dtype=expected))
