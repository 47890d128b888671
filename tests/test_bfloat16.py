"""bfloat16 (ml_dtypes' on the CPU) against PyTorch's torch.bfloat16: creation, casting,
promotion, arithmetic, unary ops, reductions, matmul, autograd, a training step, autocast and
checkpoints. CUDA has no bfloat16 in gpugrad: there a clear TypeError is the contract."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F
from gpugrad._device import device as Device
from gpugrad._dtype import check_dtype_on

torch = pytest.importorskip("torch")

BF = gpugrad.bfloat16
NPBF = np.dtype(ml_dtypes.bfloat16)
RNG = np.random.default_rng(7)


@pytest.fixture
def bdev(device):
    """The device a bfloat16 test runs on; on cuda the TypeError is checked, then skipped."""
    if device == "cuda":
        with pytest.raises(TypeError, match="bfloat16.*cuda"):
            gpugrad.ones(2, dtype=BF).to("cuda")
        pytest.skip("bfloat16 is CPU-only in gpugrad: cuda raises TypeError (checked)")
    return device


def pair(data, requires_grad: bool = False):
    """The same bfloat16 values in gpugrad and torch (data: float32 NumPy)."""
    data = np.asarray(data, np.float32)
    g = gpugrad.tensor(data).to(BF).requires_grad_(requires_grad)
    t = torch.tensor(data).to(torch.bfloat16).requires_grad_(requires_grad)
    return g, t


def f32(x) -> np.ndarray:
    """bfloat16 values as float32 (exact); a torch or gpugrad tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().numpy()
    assert x.dtype is BF, x.dtype
    return x.detach().float().numpy()


def assert_same(g, t) -> None:
    """Bit-for-bit equal values (NaN where torch has NaN)."""
    np.testing.assert_array_equal(f32(g), f32(t))


def assert_ulps(g, t, n: int = 1, atol: float = 0.0) -> None:
    """Within ``n`` bfloat16 steps of torch's result (transcendental functions: NumPy's and
    torch's float32 libm differ in the last float32 bits, which can flip a rounding)."""
    a, b = f32(g), f32(t)
    assert a.shape == b.shape
    same_nan = np.isnan(a) == np.isnan(b)
    assert same_nan.all()
    a, b = np.nan_to_num(a), np.nan_to_num(b)
    with np.errstate(invalid="ignore", over="ignore"):  # spacing(inf) is NaN
        step = np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(NPBF)).astype(np.float32)
    far = np.abs(a - b) > np.maximum(n * step, atol)
    assert not far.any(), (
        f"{far.sum()} values more than {n} steps apart: {a[far][:5]} vs {b[far][:5]}"
    )


# ---- the dtype ------------------------------------------------------------------------------
def test_dtype_names_finfo_and_defaults():
    assert repr(BF) == "gpugrad.bfloat16" and BF.is_floating_point and BF.itemsize == 2
    assert BF.is_signed and not BF.is_complex
    fi, ft = gpugrad.finfo(BF), torch.finfo(torch.bfloat16)
    for k in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(fi, k) == getattr(ft, k), k
    assert repr(fi) == repr(ft)
    assert gpugrad.get_default_dtype() is gpugrad.float32  # bfloat16 changes no default
    old = gpugrad.get_default_dtype()
    try:
        gpugrad.set_default_dtype(BF)  # PyTorch takes it as a default too
        assert gpugrad.tensor([1.5]).dtype is BF
    finally:
        gpugrad.set_default_dtype(old)
    assert gpugrad.BFloat16Tensor.dtype is BF
    assert isinstance(gpugrad.zeros(1, dtype=BF), gpugrad.BFloat16Tensor)
    assert not isinstance(gpugrad.zeros(1), gpugrad.BFloat16Tensor)
    assert gpugrad.BFloat16Tensor([1.5, 2]).dtype is BF
    import pickle

    assert pickle.loads(pickle.dumps(BF)) is BF


def test_printing_as_torch():
    vals = [[1.5, -3.39e38, 1e-40, math.nan], [math.inf, 0.1, -0.0, 2.0**-133]]
    g, t = pair(vals)
    assert repr(g) == repr(t).replace("torch.", "gpugrad.")
    g, t = pair(RNG.standard_normal((3, 4)))
    assert repr(g) == repr(t).replace("torch.", "gpugrad.")
    g, t = pair([1.0, 2.0])
    assert repr(g.requires_grad_()) == repr(t.requires_grad_()).replace("torch.", "gpugrad.")
    assert repr(gpugrad.zeros(0, dtype=BF)) == "tensor([], dtype=gpugrad.bfloat16)"


def test_item_tolist_and_numpy():
    g, t = pair([1.5, 0.1, -2.0])
    assert g.tolist() == t.tolist() and all(type(v) is float for v in g.tolist())
    assert g[1].item() == t[1].item() and type(g[1].item()) is float
    arr = g.numpy()
    assert arr.dtype == NPBF
    back = gpugrad.from_numpy(np.array([1, 2.5], dtype=NPBF))
    assert back.dtype is BF and back.tolist() == [1.0, 2.5]
    # an equal but distinct dtype object (newbyteorder makes one) is bfloat16 too
    odd = np.frombuffer(np.array([1.5], NPBF).tobytes(), NPBF.newbyteorder("<"))
    assert gpugrad.tensor(odd).dtype is BF and (gpugrad.tensor(odd) * 2).tolist() == [3.0]


# ---- creation and casting ---------------------------------------------------------------------
def test_creation(bdev):
    for fn in ("zeros", "ones", "empty", "rand", "randn"):
        x = getattr(gpugrad, fn)(2, 3, dtype=BF, device=bdev)
        assert x.dtype is BF and x.shape == (2, 3), fn
    assert (
        gpugrad.full((2,), 3.3, dtype=BF).tolist()
        == torch.full((2,), 3.3, dtype=torch.bfloat16).tolist()
    )
    assert (
        gpugrad.arange(0, 3, 0.5, dtype=BF).tolist()
        == torch.arange(0, 3, 0.5, dtype=torch.bfloat16).tolist()
    )
    assert (
        gpugrad.linspace(0, 1, 7, dtype=BF).tolist()
        == torch.linspace(0, 1, 7, dtype=torch.bfloat16).tolist()
    )
    assert gpugrad.eye(3, dtype=BF).dtype is BF
    x = gpugrad.randn(4, dtype=BF)
    for like in ("zeros_like", "ones_like", "rand_like", "randn_like", "empty_like"):
        assert getattr(gpugrad, like)(x).dtype is BF, like
    assert gpugrad.tensor([1, 2], dtype=BF).dtype is BF
    assert gpugrad.tensor(3.3, dtype=BF).item() == torch.tensor(3.3, dtype=torch.bfloat16).item()
    r = gpugrad.rand(1000, dtype=BF)
    assert float(r.min()) >= 0 and float(r.max()) <= 1
    with pytest.raises(RuntimeError, match="floating point"):
        gpugrad.zeros(2, dtype=gpugrad.int64, requires_grad=True)
    assert gpugrad.zeros(2, dtype=BF, requires_grad=True).requires_grad


EXTREMES = [
    0.0,
    -0.0,
    1.0,
    1.00390625,
    1.01171875,
    1.0039062500000002,
    -1.00390625,
    3.3895313892515355e38,
    3.39e38,
    3.4e38,
    -3.4e38,
    1e39,
    1.1754943508222875e-38,
    1.18e-38,
    9.183549615799121e-41,
    1e-40,
    4e-41,
    1e-45,
    math.inf,
    -math.inf,
    math.nan,
    65504.0,
    70000.0,
    1e-8,
    0.1,
    255.5,
]


@pytest.mark.parametrize("src", ["float32", "float64"])
def test_cast_to_bfloat16_rounds_to_nearest_even(src):
    # ties (1.00390625 is halfway between 1 and 1.0078125) go to the even mantissa
    t = torch.tensor(EXTREMES, dtype=getattr(torch, src))
    g = gpugrad.tensor(EXTREMES, dtype=getattr(gpugrad, src))
    assert_same(g.to(BF), t.to(torch.bfloat16))
    assert_same(g.bfloat16(), t.bfloat16())
    assert_same(gpugrad.tensor(EXTREMES, dtype=BF), torch.tensor(EXTREMES, dtype=torch.bfloat16))


def test_cast_from_bfloat16():
    vals = [1.5, -3.7, 0.5, 300.0, 1e5, -1e5, 3.39e38, 1e-40, math.inf, -math.inf, math.nan, 0.0]
    g, t = pair(vals)
    for name in ("float32", "float64", "float16", "bool"):
        a, b = g.to(getattr(gpugrad, name)), t.to(getattr(torch, name))
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    finite = [1.5, -3.7, 0.5, 300.0, 100.0, -100.0, 0.0]
    g, t = pair(finite)
    for name in ("int64", "int32", "int16", "int8", "uint8"):
        assert g.to(getattr(gpugrad, name)).tolist() == t.to(getattr(torch, name)).tolist(), name
    g, t = pair([math.nan, math.inf, -math.inf, 3e9, -3.7])
    for name in ("int64", "int32"):  # x86's answer for NaN/inf/out of range, as torch's
        assert g.to(getattr(gpugrad, name)).tolist() == t.to(getattr(torch, name)).tolist(), name
    h = gpugrad.tensor([1.5], dtype=gpugrad.float16)
    assert h.bfloat16().dtype is BF and h.bfloat16().tolist() == [1.5]


def test_module_bfloat16():
    m = gpugrad.nn.Sequential(gpugrad.nn.Linear(3, 4), gpugrad.nn.BatchNorm1d(4))
    m.bfloat16()
    assert all(p.dtype is BF for p in m.parameters())
    assert m[1].num_batches_tracked.dtype is gpugrad.int64  # integers stay
    assert m(gpugrad.randn(5, 3, dtype=BF)).dtype is BF
    assert m.float()[0].weight.dtype is gpugrad.float32


# ---- promotion ---------------------------------------------------------------------------------
PROMOTE = [
    ("bfloat16", "float16"),
    ("bfloat16", "float32"),
    ("bfloat16", "float64"),
    ("bfloat16", "int64"),
    ("int32", "bfloat16"),
    ("uint8", "bfloat16"),
    ("bool", "bfloat16"),
    ("bfloat16", "bfloat16"),
]


@pytest.mark.parametrize(("a", "b"), PROMOTE)
def test_promotion_as_torch(a, b):
    assert str(gpugrad.promote_types(getattr(gpugrad, a), getattr(gpugrad, b))) == str(
        torch.promote_types(getattr(torch, a), getattr(torch, b))
    ).replace("torch.", "gpugrad.")
    ga, gb = gpugrad.ones(2, dtype=getattr(gpugrad, a)), gpugrad.ones(2, dtype=getattr(gpugrad, b))
    ta, tb = torch.ones(2, dtype=getattr(torch, a)), torch.ones(2, dtype=getattr(torch, b))
    assert (ga + gb).dtype.name == str((ta + tb).dtype).split(".")[1]
    # a 0-d operand of another category or a Python scalar
    assert (ga * gb[0]).dtype.name == str((ta * tb[0]).dtype).split(".")[1]


def test_scalar_promotion():
    g, t = pair([1.5, 2.0])
    for other in (2.5, 2, True):
        assert (g + other).dtype is BF and (t + other).dtype == torch.bfloat16
        assert_same(g * other, t * other)
    assert (g * gpugrad.tensor(2.0, dtype=gpugrad.float64)).dtype is BF  # 0-d: same category
    assert (gpugrad.ones(2, dtype=gpugrad.int64) * gpugrad.tensor(2.0, dtype=BF)).dtype is BF
    assert (gpugrad.ones(2, dtype=gpugrad.int64) / 3).dtype is gpugrad.float32


# ---- arithmetic and unary ops -----------------------------------------------------------------
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "atan2", "fmod", "remainder"]


@pytest.mark.parametrize("op", BINARY)
def test_binary_as_torch(op, bdev):
    a = RNG.standard_normal((7, 5)) * 3
    b = RNG.standard_normal((5,)) * 2 + 0.1
    ga, ta = pair(a)
    gb, tb = pair(b)
    if op == "pow":
        ga, ta = ga.abs(), ta.abs()
    ga_t, ta_t = ga.t(), ta.t()  # non-contiguous
    got, want = getattr(gpugrad, op)(ga, gb), getattr(torch, op)(ta, tb)
    assert got.dtype is BF
    assert_ulps(got, want, 0 if op in ("add", "sub", "mul", "div", "maximum", "minimum") else 1)
    assert_ulps(getattr(gpugrad, op)(ga_t, gb[:, None]), getattr(torch, op)(ta_t, tb[:, None]), 1)


def test_arithmetic_nan_inf_and_extremes():
    vals = [3.3895313892515355e38, -3.38e38, 1e-40, math.inf, -math.inf, math.nan, 0.0, -0.0]
    g, t = pair(vals)
    for fn in (
        lambda x: x + x,
        lambda x: x * 2,
        lambda x: x / 0.5,
        lambda x: x - x,
        lambda x: x * x,
        lambda x: 1 / x,
        lambda x: x / 1e30,
        lambda x: -x,
        lambda x: x.abs(),
    ):
        assert_same(fn(g), fn(t))
    np.testing.assert_array_equal((g == g).numpy(), (t == t).numpy())
    np.testing.assert_array_equal(g.isnan().numpy(), t.isnan().numpy())
    np.testing.assert_array_equal(g.isinf().numpy(), t.isinf().numpy())
    np.testing.assert_array_equal(g.isfinite().numpy(), t.isfinite().numpy())


UNARY = [
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "tanh",
    "sigmoid",
    "sin",
    "cos",
    "abs",
    "neg",
    "floor",
    "ceil",
    "round",
    "trunc",
    "reciprocal",
    "erf",
    "log1p",
    "expm1",
    "square",
    "sign",
    "relu",
    "frac",
    "exp2",
    "log2",
    "log10",
    "sinh",
    "cosh",
    "atan",
    "asin",
    "acos",
]
POSITIVE = {"log", "sqrt", "rsqrt", "log2", "log10"}
UNIT = {"asin", "acos"}


@pytest.mark.parametrize("op", UNARY)
def test_unary_as_torch(op, bdev):
    x = RNG.standard_normal((9, 7)) * 2
    if op in POSITIVE:
        x = np.abs(x) + 0.01
    if op in UNIT:
        x = np.tanh(x)
    g, t = pair(x)
    got, want = getattr(gpugrad, op)(g), getattr(torch, op)(t)
    assert got.dtype is BF, (op, got.dtype)
    assert_ulps(got, want, 1)
    gt, tt = g.t(), t.t()  # non-contiguous
    assert_ulps(getattr(gpugrad, op)(gt), getattr(torch, op)(tt), 1)


def test_unary_special_values():
    vals = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e-40, 3.38e38, -1.0, 1.0]
    g, t = pair(vals)
    for op in ("exp", "tanh", "sigmoid", "abs", "floor", "sign", "relu", "sqrt", "log", "erf"):
        assert_ulps(getattr(gpugrad, op)(g), getattr(torch, op)(t), 1)
    assert_same(g.clamp(-1, 1), t.clamp(-1, 1))
    assert g.clamp(-1, 1).dtype is BF
    assert_same(g.nan_to_num(), t.nan_to_num())


def test_activations_and_rows_reach_the_reference_path():
    # Numba does not compile bfloat16: these run NumPy's reference in float32, rounded once
    x = RNG.standard_normal((33, 70)) * 3
    g, t = pair(x)
    for name, kw, n, atol in [
        ("silu", {}, 1, 0),
        # torch's bfloat16 GELU computes 1 + erf (1 + tanh) in float32, which cancels below
        # x ~ -5 (to 0 or a few float32 steps); gpugrad's tails keep their tiny values
        ("gelu", {}, 1, 2e-6),
        ("gelu", {"approximate": "tanh"}, 1, 2e-6),
        ("softplus", {}, 1, 0),
        ("relu", {}, 0, 0),
        ("elu", {}, 1, 0),
        ("leaky_relu", {}, 1, 0),
        ("hardtanh", {}, 0, 0),
        # a composite of kernels: each step rounds to bfloat16, torch's one kernel once
        ("mish", {}, 2, 0),
    ]:
        got, want = getattr(F, name)(g, **kw), getattr(torch.nn.functional, name)(t, **kw)
        assert got.dtype is BF, name
        assert_ulps(got, want, n, atol)
    got, want = F.softmax(g, dim=1), torch.nn.functional.softmax(t, dim=1)
    assert got.dtype is BF
    assert_ulps(got, want, 1)
    # log_softmax is x - lse in float32, rounded once: the correctly rounded value (torch's
    # bfloat16 kernel rounds lse first, up to a step of lse's size off where x is near lse)
    got = F.log_softmax(g, dim=1)
    exact = torch.nn.functional.log_softmax(t.double(), dim=1).to(torch.bfloat16)
    assert got.dtype is BF
    assert_ulps(got, exact, 1)
    assert_ulps(got, torch.nn.functional.log_softmax(t, dim=1), 1, atol=0.0625)
    w, tw = pair(RNG.standard_normal(70))
    b, tb = pair(RNG.standard_normal(70))
    got = F.layer_norm(g, (70,), w, b)
    want = torch.nn.functional.layer_norm(t, (70,), tw, tb)
    assert got.dtype is BF
    assert_ulps(got, want, 2)


# ---- reductions ---------------------------------------------------------------------------------
REDUCE = [
    ("sum", {}),
    ("sum", {"dim": 0}),
    ("sum", {"dim": (0, 2), "keepdim": True}),
    ("mean", {}),
    ("mean", {"dim": 1}),
    ("var", {"dim": 2}),
    ("std", {}),
    ("amax", {"dim": 1}),
    ("amin", {}),
    ("logsumexp", {"dim": 2}),
    ("cumsum", {"dim": 2}),
    ("norm", {}),
    ("prod", {"dim": 1}),
    ("max", {}),
    ("median", {}),
]


@pytest.mark.parametrize(("op", "kw"), REDUCE, ids=[f"{o}{k}" for o, k in REDUCE])
def test_reductions_as_torch(op, kw, bdev):
    x = RNG.standard_normal((5, 3, 67))
    if op == "prod":
        x = 1 + 0.1 * x
    g, t = pair(x)
    got, want = getattr(g, op)(**kw), getattr(t, op)(**kw)
    assert got.dtype is BF, op
    # float32 accumulation, rounded once: torch's summation order differs, so a value near a
    # rounding boundary may land one step away
    assert_ulps(got, want, 2 if op in ("cumsum", "prod") else 1)
    if "dim" not in kw:  # non-contiguous input
        assert_ulps(getattr(g.transpose(0, 2), op)(), getattr(t.transpose(0, 2), op)(), 1)


def test_sums_accumulate_in_float32():
    ones = gpugrad.ones(1000, dtype=BF)
    assert ones.sum().item() == 1000.0  # a bfloat16 running sum would stall at 256
    assert ones.mean().item() == 1.0
    assert ones.cumsum(0)[-1].item() == torch.ones(1000, dtype=torch.bfloat16).cumsum(0)[-1].item()
    assert gpugrad.ones(3, 0, dtype=BF).sum().item() == 0.0
    assert math.isnan(gpugrad.ones(0, dtype=BF).mean().item())
    assert gpugrad.tensor([3.38e38, 3.38e38], dtype=BF).sum().item() == math.inf
    g, t = pair([1.0, math.nan, 2.0])
    assert_same(g.sum(), t.sum())
    assert_same(g.max(), t.max())
    one, t_one = pair([2.5])
    assert_same(one.sum(), t_one.sum())
    assert_same(one.var(correction=0), t_one.var(correction=0))


def test_sort_topk_argmax_and_comparisons():
    x = RNG.standard_normal((4, 9))
    g, t = pair(x)
    assert_same(g.sort(1).values, t.sort(1).values)
    assert_same(g.topk(3).values, t.topk(3).values)
    assert g.argmax().item() == t.argmax().item()
    np.testing.assert_array_equal((g > 0).numpy(), (t > 0).numpy())
    assert_same(gpugrad.where(g > 0, g, 0.0), torch.where(t > 0, t, 0.0))


# ---- matmul -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sa", "sb"), [((7, 13), (13, 5)), ((3, 4, 33), (33, 6)), ((2, 5, 8), (2, 8, 3)), ((9,), (9,))]
)
def test_matmul_as_torch(sa, sb, bdev):
    ga, ta = pair(RNG.standard_normal(sa))
    gb, tb = pair(RNG.standard_normal(sb))
    got, want = ga @ gb, ta @ tb
    assert got.dtype is BF
    # float32 products and sums, rounded once; torch's blocking orders the sum differently
    assert_ulps(got, want, 1)
    exact = (ga.float() @ gb.float()).to(BF)
    assert_same(got, exact)


def test_matmul_non_contiguous_linear_einsum_and_empty():
    ga, ta = pair(RNG.standard_normal((17, 6)))
    gb, tb = pair(RNG.standard_normal((11, 6)))
    assert_ulps(ga @ gb.t(), ta @ tb.t(), 1)
    gbias, tbias = pair(RNG.standard_normal(11))
    assert_ulps(F.linear(ga, gb, gbias), torch.nn.functional.linear(ta, tb, tbias), 1)
    assert_ulps(gpugrad.einsum("ik,jk->ij", ga, gb), torch.einsum("ik,jk->ij", ta, tb), 1)
    e = gpugrad.zeros(3, 0, dtype=BF) @ gpugrad.zeros(0, 4, dtype=BF)
    assert e.dtype is BF and e.shape == (3, 4) and e.abs().sum().item() == 0
    assert_ulps(gpugrad.addmm(gbias, ga, gb.t()), torch.addmm(tbias, ta, tb.t()), 1)


# ---- autograd -----------------------------------------------------------------------------------
def test_autograd_grads_are_bfloat16_as_torch():
    x = RNG.standard_normal((6, 5))
    w = RNG.standard_normal((5, 4))
    up = RNG.standard_normal((6, 4))
    gx, tx = pair(x, True)
    gw, tw = pair(w, True)
    gu, tu = pair(up)

    def f(lib, a, b):
        h = lib.tanh(a @ b) * 2 + a.sum(1, keepdim=True).exp() / 10
        return lib.nn.functional.softmax(h, dim=1) + h.sigmoid()

    f(gpugrad, gx, gw).backward(gu)
    f(torch, tx, tw).backward(tu)
    for a, b in ((gx, tx), (gw, tw)):
        assert a.grad.dtype is BF
        # each step rounds to bfloat16 in both: loose, about 2**-6 relative
        np.testing.assert_allclose(f32(a.grad), f32(b.grad), rtol=4e-2, atol=4e-2)
    # the float64 gradient of the same function is near too (bfloat16's 8 bits)
    x64 = gpugrad.tensor(gx.detach().double().numpy(), requires_grad=True)
    w64 = gpugrad.tensor(gw.detach().double().numpy(), requires_grad=True)
    f(gpugrad, x64, w64).backward(gu.double())
    np.testing.assert_allclose(f32(gx.grad), x64.grad.numpy(), rtol=6e-2, atol=6e-2)
    assert gpugrad.autograd.gradcheck(lambda a, b: f(gpugrad, a, b), [x64, w64])


def test_autograd_mixed_dtypes_and_scalar_backward():
    a = gpugrad.randn(3, dtype=BF, requires_grad=True)
    b = gpugrad.randn(3, requires_grad=True)  # float32
    (a * b).sum().backward()
    assert a.grad.dtype is BF and b.grad.dtype is gpugrad.float32
    c = gpugrad.randn(4, dtype=BF, requires_grad=True)
    c.float().pow(2).sum().backward()
    assert c.grad.dtype is BF
    np.testing.assert_allclose(f32(c.grad), 2 * f32(c), rtol=1e-2)


def test_mlp_training_step_as_torch():
    tm = torch.nn.Sequential(torch.nn.Linear(12, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))
    tm = tm.to(torch.bfloat16)
    gm = gpugrad.nn.Sequential(
        gpugrad.nn.Linear(12, 32), gpugrad.nn.ReLU(), gpugrad.nn.Linear(32, 5)
    )
    gm = gm.bfloat16()
    gm.load_state_dict(
        {k: gpugrad.tensor(v.float().numpy()).bfloat16() for k, v in tm.state_dict().items()}
    )
    xs = RNG.standard_normal((16, 12))
    ys = RNG.integers(0, 5, 16)
    gx, tx = pair(xs)
    gopt = gpugrad.optim.SGD(gm.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        gl = F.cross_entropy(gm(gx), gpugrad.tensor(ys))
        tl = torch.nn.functional.cross_entropy(tm(tx), torch.tensor(ys))
        assert gl.dtype is BF
        assert abs(gl.item() - tl.item()) < 0.05 * max(1.0, abs(tl.item()))
        gopt.zero_grad()
        topt.zero_grad()
        gl.backward()
        tl.backward()
        gopt.step()
        topt.step()
    for (name, gp), tp in zip(gm.named_parameters(), tm.parameters()):
        assert gp.dtype is BF and gp.grad.dtype is BF, name
        np.testing.assert_allclose(f32(gp), f32(tp), rtol=5e-2, atol=3e-2, err_msg=name)
    adam = gpugrad.optim.Adam(gm.parameters(), lr=1e-2)
    F.cross_entropy(gm(gx), gpugrad.tensor(ys)).backward()
    adam.step()
    assert all(p.dtype is BF for p in gm.parameters())
    assert all(s["exp_avg"].dtype is BF for s in adam.state.values())


# ---- autocast ---------------------------------------------------------------------------------
def test_cpu_autocast_in_bfloat16_as_torch():
    x, w = RNG.standard_normal((4, 6)), RNG.standard_normal((3, 6))
    tgt = [0, 1, 2, 0]
    results = {}
    for lib in (gpugrad, torch):
        F_ = gpugrad.nn.functional if lib is gpugrad else torch.nn.functional
        a = lib.tensor(np.float32(x), requires_grad=True)
        b = lib.tensor(np.float32(w), requires_grad=True)
        with lib.autocast("cpu"):  # bfloat16 by default, as PyTorch
            assert lib.get_autocast_dtype("cpu") == lib.bfloat16
            assert lib.is_autocast_enabled("cpu")
            y = F_.linear(a, b)
            row = {
                "linear": y.dtype,
                "matmul": (a @ b.t()).dtype,
                "softmax": y.softmax(1).dtype,
                "exp": y.exp().dtype,
                "ce": F_.cross_entropy(y, lib.tensor(tgt)).dtype,
                "mse": F_.mse_loss(y, y.detach()).dtype,
                "prod": y.prod().dtype,
                "bmm": lib.bmm(a[None], b.t()[None]).dtype,
                "addmm": lib.addmm(a[:, :3], a, b.t()).dtype,
                "add": (y + a[:, :3]).dtype,
            }
            loss = F_.cross_entropy(y, lib.tensor(tgt))
        loss.backward()
        row["grad"] = a.grad.dtype
        results[lib.__name__] = {k: str(v).split(".")[-1] for k, v in row.items()}
        results[lib.__name__ + "_loss"] = loss.item()
    assert results["gpugrad"] == results["torch"]
    assert abs(results["gpugrad_loss"] - results["torch_loss"]) < 2e-2


def test_autocast_dtypes_supported_and_refused():
    with gpugrad.autocast("cpu", dtype=gpugrad.float16):
        assert (gpugrad.ones(2, 2) @ gpugrad.ones(2, 2)).dtype is gpugrad.float16
    with pytest.warns(UserWarning, match="CPU Autocast only supports dtypes of gpugrad.bfloat16"):
        with gpugrad.autocast("cpu", dtype=gpugrad.float64):
            assert not gpugrad.is_autocast_enabled("cpu")


# ---- checkpoints --------------------------------------------------------------------------------
VALUES = [1.5, -3.3895313892515355e38, 9.183549615799121e-41, math.nan, math.inf, 0.1, -0.0]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pt_interop_both_ways(tmp_path, legacy):
    fmt = {"_use_new_zipfile_serialization": not legacy}
    t = torch.tensor(VALUES, dtype=torch.bfloat16)
    tm = torch.nn.Linear(3, 2).to(torch.bfloat16)
    obj = {"t": t, "view": t[1:5:2], "sd": tm.state_dict(), "d": torch.bfloat16}
    torch.save(obj, tmp_path / "a.pt", **fmt)
    o = gpugrad.load(tmp_path / "a.pt")
    assert o["t"].dtype is BF and o["sd"]["weight"].dtype is BF and o["d"] is BF
    np.testing.assert_array_equal(o["t"].numpy().view(np.int16), t.view(torch.int16).numpy())
    np.testing.assert_array_equal(f32(o["view"]), f32(t[1:5:2]))
    np.testing.assert_array_equal(f32(o["sd"]["bias"]), f32(tm.bias))
    g = gpugrad.tensor(VALUES, dtype=BF)
    gm = gpugrad.nn.Linear(3, 2).bfloat16()
    gpugrad.save(
        {"g": g, "view": g[::3], "sd": gm.state_dict(), "d": BF},
        tmp_path / "b.pt",
        format="pt",
        **fmt,
    )
    r = torch.load(tmp_path / "b.pt")
    assert r["g"].dtype == torch.bfloat16 and r["sd"]["weight"].dtype == torch.bfloat16
    assert r["d"] is torch.bfloat16
    np.testing.assert_array_equal(r["g"].view(torch.int16).numpy(), g.numpy().view(np.int16))
    np.testing.assert_array_equal(f32(r["view"]), f32(g[::3]))
    # a whole module pickled by torch
    torch.save(tm, tmp_path / "m.pt", **fmt)
    m = gpugrad.load(tmp_path / "m.pt", weights_only=False)
    assert m.weight.dtype is BF and m(gpugrad.ones(1, 3, dtype=BF)).dtype is BF


def test_safetensors_bf16_both_ways(tmp_path):
    stt = pytest.importorskip("safetensors.torch")
    t = torch.tensor(VALUES, dtype=torch.bfloat16)
    w = torch.randn(4, 3).to(torch.bfloat16)
    stt.save_file({"t": t, "w": w}, str(tmp_path / "a.safetensors"))
    for mmap in (False, True):
        o = gpugrad.load(tmp_path / "a.safetensors", mmap=mmap)
        assert o["t"].dtype is BF and o["w"].shape == (4, 3)
        np.testing.assert_array_equal(o["t"].numpy().view(np.int16), t.view(torch.int16).numpy())
        assert (o["w"] * 2).dtype is BF and repr(o["w"]) == repr(w).replace("torch.", "gpugrad.")
    g = gpugrad.tensor(VALUES, dtype=BF)
    gw = gpugrad.randn(2, 5, dtype=BF)
    gpugrad.save({"g": g, "w": gw}, tmp_path / "b.safetensors")
    r = stt.load_file(str(tmp_path / "b.safetensors"))
    assert r["g"].dtype == torch.bfloat16
    np.testing.assert_array_equal(r["g"].view(torch.int16).numpy(), g.numpy().view(np.int16))
    np.testing.assert_array_equal(f32(r["w"]), f32(gw))
    back = gpugrad.load(tmp_path / "b.safetensors")
    np.testing.assert_array_equal(back["g"].numpy().view(np.int16), g.numpy().view(np.int16))


# ---- CUDA ---------------------------------------------------------------------------------------
def test_bfloat16_on_cuda_is_a_clear_type_error():
    cuda = Device("cuda", 0)
    with pytest.raises(TypeError, match=r"bfloat16 tensors are not supported on device 'cuda:0'"):
        check_dtype_on(cuda, BF)
    check_dtype_on(cuda, gpugrad.float16)  # other dtypes pass
    check_dtype_on(Device("cpu"), BF)


def test_bfloat16_to_cuda_raises(device):
    if device != "cuda":
        pytest.skip("moves a tensor to cuda")
    x = gpugrad.ones(2, dtype=BF)
    for move in (
        lambda: x.to("cuda"),
        lambda: x.cuda(),
        lambda: gpugrad.zeros(2, dtype=BF, device="cuda"),
        lambda: gpugrad.tensor([1.0], dtype=BF, device="cuda"),
        lambda: gpugrad.randn(2, dtype=BF, device="cuda"),
        lambda: gpugrad.nn.Linear(2, 2).bfloat16().cuda(),
        lambda: gpugrad.ones(2, device="cuda").to(BF),
    ):
        with pytest.raises(TypeError, match="bfloat16.*cuda"):
            move()
