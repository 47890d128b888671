"""Differential tests against PyTorch for the elementwise binary ops, division and the
creation checks: value, gradient, exception type and text, on ordinary and degenerate inputs
(zeros, -0.0, ties, inf, NaN, huge/tiny, empty, one element), and hypothesis-drawn
broadcasting shapes and dtypes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad
from tests.utils import host

torch = pytest.importorskip("torch", reason="the differential suite compares with PyTorch")
torch.set_num_threads(2)

INF, NAN = float("inf"), float("nan")
EDGE = [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, INF, -INF, NAN, 1e300, 1e-300, 0.5]

BINARY = {
    "add": lambda L, a, b: L.add(a, b),
    "sub": lambda L, a, b: L.sub(a, b),
    "mul": lambda L, a, b: L.mul(a, b),
    "div": lambda L, a, b: L.div(a, b),
    "div floor": lambda L, a, b: L.div(a, b, rounding_mode="floor"),
    "div trunc": lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
    "remainder": lambda L, a, b: L.remainder(a, b),
    "fmod": lambda L, a, b: L.fmod(a, b),
    "pow": lambda L, a, b: L.pow(a, b),
    "atan2": lambda L, a, b: L.atan2(a, b),
    "hypot": lambda L, a, b: L.hypot(a, b),
    "logaddexp": lambda L, a, b: L.logaddexp(a, b),
    "xlogy": lambda L, a, b: L.xlogy(a, b),
    "maximum": lambda L, a, b: L.maximum(a, b),
    "minimum": lambda L, a, b: L.minimum(a, b),
    "eq": lambda L, a, b: L.eq(a, b),
    "lt": lambda L, a, b: L.lt(a, b),
    "ge": lambda L, a, b: L.ge(a, b),
}
# gradients defined where PyTorch defines them (comparisons and rounded division have none)
DIFFERENTIABLE = {
    "add", "sub", "mul", "div", "remainder", "fmod", "pow", "atan2", "hypot", "logaddexp",
    "xlogy", "maximum", "minimum",
}  # fmt: skip


_STILL_WARN = {"add", "sub", "mul"}


def _pairs():
    a = np.repeat(np.array(EDGE), len(EDGE))
    b = np.tile(np.array(EDGE), len(EDGE))
    return a, b


def _run(L, name, a, b, grad: bool):
    x = L.tensor(a, dtype=L.float64, requires_grad=grad)
    y = L.tensor(b, dtype=L.float64, requires_grad=grad)
    out = BINARY[name](L, x, y)
    if not grad:
        return np.asarray(out.tolist()), None
    gx, gy = L.autograd.grad(out, (x, y), L.ones_like(out), allow_unused=True)
    grads = [None if g is None else np.asarray(g.tolist()) for g in (gx, gy)]
    return np.asarray(out.detach().tolist()), grads


def _same(got, want, what: str):
    if want is None:
        return
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True, err_msg=what)
    zeros = (want == 0) & ~np.isnan(want)
    # the sign of a zero is part of the answer (remainder(-0.0, 2) is -0.0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])), what


# Known mismatches left (found by this suite, not yet fixed): remainder/fmod values at tiny
# (1e-300) divisors.
_KNOWN = {"remainder", "fmod"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="known mismatch"))
        if n in _KNOWN
        else n
        for n in BINARY
    ],
)
def test_binary_edge_values_match_torch_silently(name):
    a, b = _pairs()
    grad = name in DIFFERENTIABLE
    want, wgrads = _run(torch, name, a, b, grad)
    with warnings.catch_warnings():
        # PyTorch is silent on these: so must gpugrad be (add/sub/mul's forward still lets
        # NumPy warn for inf - inf and inf * 0: silencing costs ~0.3 us on the hottest ops)
        warnings.simplefilter("ignore" if name in _STILL_WARN else "error")
        got, ggrads = _run(gpugrad, name, a, b, grad)
    _same(got, want, f"{name} value")
    for g, w, which in zip(ggrads or (), wgrads or (), ("input", "other")):
        if w is not None:
            _same(g, w, f"{name} gradient wrt {which}")


# float16 and bfloat16 extremes: the largest finite values, the smallest normal, a subnormal,
# overflow to inf in the result (each dtype's max + max), in that dtype's own arithmetic
EDGE_LOW = {
    "float16": [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, INF, -INF, NAN, 65504.0, -65504.0, 6.104e-05,
                6e-08, 0.5],
    "bfloat16": [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, INF, -INF, NAN, 3.3895313892515355e38,
                 -3.3895313892515355e38, 1.1754943508222875e-38, 9.183549615799121e-41, 0.5],
}  # fmt: skip
# the ops whose float32 libm results agree with torch's after rounding to 16 bits
_LOW_OPS = ["add", "sub", "mul", "div", "maximum", "minimum", "eq", "lt", "ge", "div floor",
            "div trunc", "hypot", "atan2", "logaddexp"]  # fmt: skip


# Known mismatch found here: which zero torch's minimum/maximum of 0.0 and -0.0 give depends
# on its loop (the scalar tail keeps the first operand, the vectorised body the second: a
# 64-element float16 minimum(0.0, -0.0) is -0.0, a 2-element one 0.0); IEEE allows either
_KNOWN_LOW = {("minimum", "float16"), ("maximum", "float16")}


@pytest.mark.parametrize("dtype", list(EDGE_LOW))
@pytest.mark.parametrize("name", _LOW_OPS)
def test_binary_half_extremes_match_torch(name, dtype):
    if (name, dtype) in _KNOWN_LOW:
        pytest.xfail("known mismatch: the sign of a zero from float16 minimum/maximum")
    edge = np.array(EDGE_LOW[dtype])
    a, b = np.repeat(edge, len(edge)), np.tile(edge, len(edge))
    outs = []
    for L in (torch, gpugrad):
        x = L.tensor(a, dtype=L.float64).to(getattr(L, dtype))
        y = L.tensor(b, dtype=L.float64).to(getattr(L, dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore" if L is torch or name in _STILL_WARN else "error")
            out = BINARY[name](L, x, y)
        outs.append((str(out.dtype).split(".")[1], np.asarray(out.float().tolist())))
    (want_dt, want), (got_dt, got) = outs
    assert got_dt == want_dt
    _same(got, want, f"{name} {dtype} value")


@pytest.mark.parametrize("name", ["add", "mul", "div", "remainder", "pow", "maximum", "eq"])
@pytest.mark.parametrize("shapes", [((0,), (0,)), ((1,), (3,)), ((2, 0), (1,)), ((), ())])
def test_binary_degenerate_shapes(name, shapes):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2, shapes[0])
    b = rng.uniform(0.5, 2, shapes[1])
    want = BINARY[name](torch, torch.tensor(a), torch.tensor(b))
    got = BINARY[name](gpugrad, gpugrad.tensor(a), gpugrad.tensor(b))
    assert tuple(got.shape) == tuple(want.shape)
    assert got.dtype.name == str(want.dtype).split(".")[1]
    np.testing.assert_allclose(host(got), want.numpy(), rtol=1e-12)


INTEGER = {
    "floor_divide": lambda L, a, b: L.floor_divide(a, b),
    "//": lambda L, a, b: a // b,
    "%": lambda L, a, b: a % b,
    "remainder": lambda L, a, b: L.remainder(a, b),
    "fmod": lambda L, a, b: L.fmod(a, b),
    "div floor": lambda L, a, b: L.div(a, b, rounding_mode="floor"),
    "div trunc": lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
    "div_ floor": lambda L, a, b: a.div_(b, rounding_mode="floor"),
    "floor_divide_": lambda L, a, b: a.floor_divide_(b),
    "remainder_": lambda L, a, b: a.remainder_(b),
    "scalar //": lambda L, a, b: a // 0,
    "scalar %": lambda L, a, b: a % 0,
    "reflected //": lambda L, a, b: 7 // b,
    "reflected %": lambda L, a, b: 7 % b,
}


def _outcome(fn):
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        return type(e).__name__, str(e)
    return "ok", np.asarray(r.tolist())


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
@pytest.mark.parametrize("name", list(INTEGER))
def test_integer_division_by_zero_raises_like_torch_and_changes_nothing(name, dtype):
    a = [7, -7, 0, 5] if dtype != "uint8" else [7, 200, 0, 5]
    for b in ([2, -3, 1, 0], [2, -3, 1, 4] if dtype != "uint8" else [2, 3, 1, 4]):
        xs = {L: L.tensor(a, dtype=getattr(L, dtype)) for L in (torch, gpugrad)}
        ys = {L: L.tensor(b, dtype=getattr(L, dtype)) for L in (torch, gpugrad)}
        want = _outcome(lambda xs=xs, ys=ys: INTEGER[name](torch, xs[torch], ys[torch]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = _outcome(lambda xs=xs, ys=ys: INTEGER[name](gpugrad, xs[gpugrad], ys[gpugrad]))
        assert got[0] == want[0], (got, want)
        if want[0] == "ok":
            np.testing.assert_array_equal(got[1], want[1])
        else:
            assert got[1] == want[1]
            np.testing.assert_array_equal(host(xs[gpugrad]), a)  # a failed call wrote nothing


INVALID = {
    "tensor uint8 overflow": lambda L: L.tensor(300, dtype=L.uint8),
    "tensor int8 list overflow": lambda L: L.tensor([1, 200], dtype=L.int8),
    "full int32 overflow": lambda L: L.full((2,), 2**40, dtype=L.int32),
    "randint empty range": lambda L: L.randint(5, 5, (2,)),
    "randint reversed range": lambda L: L.randint(6, 5, (2,)),
    "multinomial negative": lambda L: L.multinomial(L.tensor([0.5, -0.1]), 1),
    "multinomial nan": lambda L: L.multinomial(L.tensor([0.5, NAN]), 1),
    "multinomial zero row": lambda L: L.multinomial(L.tensor([[0.0, 0.0]]), 1),
    "multinomial too many": lambda L: L.multinomial(L.tensor([0.5, 0.5]), 3),
    "where shapes": lambda L: L.where(L.tensor([True, False, True]), L.ones(2), L.zeros(3)),
    "where condition dtype": lambda L: L.where(L.tensor([1, 0]), L.ones(2), L.zeros(2)),
    "add shapes": lambda L: L.ones(2, 3) + L.ones(4),
    "maximum shapes": lambda L: L.maximum(L.ones(3), L.ones(2)),
    "bitwise shapes": lambda L: L.ones(3, dtype=L.int64) & L.ones(2, dtype=L.int64),
    "bitwise float": lambda L: L.ones(3) & L.ones(3),
    "isclose shapes": lambda L: L.isclose(L.ones(3), L.ones(2)),
    "xlogy shapes": lambda L: L.xlogy(L.ones(3), L.ones(2)),
    "hypot integers": lambda L: L.hypot(L.ones(3, dtype=L.int64), L.ones(3, dtype=L.int64)),
    "rounding mode": lambda L: L.div(L.ones(3), 2, rounding_mode="x"),
    "sub bool": lambda L: L.tensor([True]) - L.tensor([True]),
    "pow integer negative": lambda L: L.tensor([2]) ** -1,
    "floor_divide bool": lambda L: L.tensor([True]) // L.tensor([True]),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_arguments_raise_like_torch(name):
    want = _outcome(lambda: INVALID[name](torch))
    got = _outcome(lambda: INVALID[name](gpugrad))
    assert want[0] != "ok"
    assert got == want


def test_valid_neighbours_of_the_invalid_arguments():
    assert gpugrad.tensor(-1, dtype=gpugrad.uint8).item() == 255  # as PyTorch's
    assert gpugrad.tensor([127, -128], dtype=gpugrad.int8).tolist() == [127, -128]
    r = gpugrad.randint(4, 5, (3,))
    assert r.tolist() == [4, 4, 4]
    m = gpugrad.multinomial(gpugrad.tensor([0.0, 1.0, 0.0]), 1)
    assert m.tolist() == [1]


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
hnp = pytest.importorskip("hypothesis.extra.numpy")

_DTYPES = ["float32", "float64", "bfloat16", "int64", "int32", "bool"]
# sub is left out: bool - number raises in PyTorch and not yet in gpugrad (a known gap)
_BROADCAST_OPS = ["add", "mul", "div", "maximum", "eq", "lt", "atan2"]


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
@hypothesis.given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    dtypes=st.tuples(st.sampled_from(_DTYPES), st.sampled_from(_DTYPES)),
    op=st.sampled_from(_BROADCAST_OPS),
    seed=st.integers(0, 2**16),
)
def test_broadcasting_shapes_and_dtypes_match_torch(shapes, dtypes, op, seed):
    rng = np.random.default_rng(seed)
    arrays = [
        (rng.integers(1, 4, s) if dt != "bool" else rng.integers(0, 2, s)).astype(
            "float32" if dt == "bfloat16" else dt
        )
        for s, dt in zip(shapes.input_shapes, dtypes)
    ]

    def tensors(L):  # NumPy has no bfloat16 torch takes: float32 arrays, cast by each library
        from_numpy = L.from_numpy
        return [
            from_numpy(a.copy()).to(L.bfloat16) if dt == "bfloat16" else from_numpy(a.copy())
            for a, dt in zip(arrays, dtypes)
        ]

    want = _outcome(lambda: BINARY[op](torch, *tensors(torch)))
    got_t = None
    try:
        got_t = BINARY[op](gpugrad, *tensors(gpugrad))
        got = ("ok", np.asarray(got_t.tolist()))
    except Exception as e:  # noqa: BLE001 - compared below
        got = (type(e).__name__, str(e))
    assert got[0] == want[0], (got, want)
    if want[0] == "ok":
        t_out = BINARY[op](torch, *tensors(torch))
        assert tuple(got_t.shape) == tuple(t_out.shape)
        assert got_t.dtype.name == str(t_out.dtype).split(".")[1]
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
