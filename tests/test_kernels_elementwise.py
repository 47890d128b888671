"""The elementwise catalogue names (backend/kernels/elementwise.py): their derivative formulas
against finite differences, the op layer's calls going through them (so a device's engine
serves every op), and on a GPU the generated kernels against CuPy's in float64, over
contiguous, broadcast, transposed and scalar operands."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad.backend import cpu_backend, cuda_status
from gpugrad.backend.kernels.elementwise import BINARY, DERIVATIVES, UNARY, backward_name

# a point inside each function's domain, away from its edges
_POINTS = {
    "acosh": 1.7,
    "asin": 0.3,
    "acos": -0.4,
    "atanh": 0.45,
    "log": 0.8,
    "log2": 1.9,
    "log10": 2.2,
    "sqrt": 1.3,
    "rsqrt": 0.7,
    "reciprocal": -1.6,
}
_FUNCTIONS = {
    **{name: getattr(np, fn) for name, fn in UNARY.items()},
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "reciprocal": lambda x: 1 / x,
}


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_each_derivative_formula_is_the_functions_slope(name):
    f = _FUNCTIONS[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    x = _POINTS.get(name, 0.6) + rng.uniform(-0.05, 0.05, 8)
    g = rng.standard_normal(8)  # a random upstream gradient
    d = DERIVATIVES[name]
    saved = x if d.saves == "input" else f(x)
    h = 1e-6
    slope = (f(x + h) - f(x - h)) / (2 * h)
    got = getattr(cpu_backend(), backward_name(name))(g, saved)
    np.testing.assert_allclose(got, g * slope, rtol=1e-6, atol=1e-8)


def test_the_cpu_backend_answers_the_names_with_numpys_ufuncs():
    be = cpu_backend()
    for name, fn in (*UNARY.items(), *BINARY.items()):
        assert getattr(be, name) is getattr(np, fn), name  # no Python frame per call


# (what to call, the catalogue names its forward and backward must reach)
_ROUTES = [
    (lambda x, y: x + y, ("add",)),
    (lambda x, y: x - y, ("sub",)),
    (lambda x, y: 2.5 - x, ("sub",)),
    (lambda x, y: x * y, ("mul",)),
    (lambda x, y: x / y, ("div",)),
    (lambda x, y: gpugrad.maximum(x, y), ("maximum",)),
    (lambda x, y: gpugrad.minimum(x, y), ("minimum",)),
    (lambda x, y: gpugrad.fmax(x, y), ("fmax",)),
    (lambda x, y: gpugrad.atan2(x, y), ("atan2",)),
    (lambda x, y: gpugrad.hypot(x, y), ("hypot",)),
    (lambda x, y: gpugrad.logaddexp(x, y), ("logaddexp",)),
    (lambda x, y: gpugrad.copysign(x, y), ("copysign",)),
    (lambda x, y: x.abs() ** y, ("pow",)),
    (lambda x, y: -x, ("neg",)),
    (lambda x, y: x.abs(), ("abs",)),
    (lambda x, y: x.floor(), ("floor",)),
    *[
        (lambda x, y, _n=name: getattr(gpugrad, _n)(_shift(x, _n)), (name, backward_name(name)))
        for name in sorted(DERIVATIVES)
    ],
]


def _shift(x, name):
    """``x`` moved into ``name``'s domain (a differentiable op of x, so gradients flow)."""
    return x.tanh() * 0.5 + _POINTS.get(name, 0.0) if name in _POINTS else x


@pytest.mark.parametrize(
    "fn,names", _ROUTES, ids=lambda v: "+".join(v) if isinstance(v, tuple) else ""
)
def test_ops_reach_the_catalogue_names(fn, names, monkeypatch):
    be = cpu_backend()
    calls: dict[str, int] = {}
    for name in names:
        orig = getattr(be, name)

        def counting(*args, _orig=orig, _name=name):
            calls[_name] = calls.get(_name, 0) + 1
            return _orig(*args)

        monkeypatch.setattr(be, name, counting)
    x = gpugrad.randn(3, 4, dtype=gpugrad.float64, requires_grad=True)
    y = gpugrad.randn(4, dtype=gpugrad.float64, requires_grad=True) + 3
    out = fn(x, y)
    out.backward(gpugrad.randn(*out.shape, dtype=gpugrad.float64))
    assert set(calls) == set(names), calls


# ---- the generated kernels on a GPU ------------------------------------------------------------
_N, _WHY = cuda_status()


@pytest.mark.skipif(not _N, reason=_WHY or "-")
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_cuda_engine_elementwise_kernels_match_cupy(dtype):
    import cupy

    from gpugrad.backend.cuda import ENGINE
    from gpugrad.backend.cuda.pointwise_ops import BACKWARD_NAMES

    tol = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-12}[dtype]
    rng = cupy.random.default_rng(0)
    backend = gpugrad.zeros(1, device="cuda")._device.backend

    def draw(*shape):
        return (rng.standard_normal(shape, dtype=cupy.float32) * 0.5 + 1.2).astype(dtype)

    def check(got, want):
        assert got.dtype == want.dtype and got.shape == want.shape
        w = want.astype("f8")
        scale = max(1.0, float(cupy.nanmax(cupy.abs(w)))) if w.size else 1.0
        cupy.testing.assert_allclose(got.astype("f8"), w, rtol=tol * 4, atol=tol * 4 * scale)

    for n in (1, 7, 1025, (1 << 20) + 3):
        x = draw(n)
        for name, fn in UNARY.items():
            arg = cupy.tanh(x) * 0.9 if name in ("asin", "acos", "atanh") else x
            check(ENGINE.compiled(name)(arg), getattr(cupy, fn)(arg))
        g = draw(n)
        for name in BACKWARD_NAMES:
            ref = getattr(backend, name)
            ref = getattr(ref, "reference", ref)  # the reference, engine on or off
            arg = cupy.tanh(x) * 0.9 if name.startswith(("asin", "acos", "atanh")) else x
            check(ENGINE.compiled(name)(g, arg), ref(g, arg))
    a, b = draw(64, 96), draw(96)
    for name, fn in BINARY.items():
        ref = getattr(cupy, fn)
        k = ENGINE.compiled(name)
        check(k(a, b), ref(a, b))  # broadcast: the strided kernel
        check(k(a.T, a.T), ref(a.T, a.T))  # transposed
        check(k(a[:, 1:], a[:, :-1]), ref(a[:, 1:], a[:, :-1]))  # misaligned
        check(k(a, 0.75), ref(a, 0.75))  # scalar operands, both sides
        check(k(1.25, a), ref(1.25, a))
        check(k(a[:0], a[:0]), ref(a[:0], a[:0]))  # empty
        check(k(a[0, 0], a[1, 1]), ref(a[0, 0], a[1, 1]))  # 0-d


def test_cuda_engine_predicates_take_only_cupy_arrays():
    """NumPy arrays and scalars (a NumPy ``alpha`` times a number) and a sparse tensor's
    metadata are not served by the generated kernels: they keep CuPy's reference."""
    pytest.importorskip("cupy")
    from gpugrad.backend.cuda import pointwise
    from gpugrad.ops.sparse import SparseMeta

    meta = SparseMeta((2, 2), np.dtype("float32"), "SparseCUDA")
    a = np.ones(3, np.float32)
    assert not pointwise._operands(a, np.float64(6.0))
    assert not pointwise._operands(np.float32(2.0), 2.0)
    assert not pointwise._operands(meta, 2.0) and not pointwise._operands(2.0, meta)
    assert not pointwise._same_float(meta) and not pointwise._same_float(a)


@pytest.mark.parametrize("name", ["log", "log2", "log10", "sqrt", "rsqrt", "reciprocal"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_backward_formulas_stay_finite_where_pytorchs_do(name, dtype):
    """PyTorch's forms (``grad / x``, not ``grad * (1 / x)``): a small upstream gradient at a
    tiny input gives torch's finite gradient, not inf."""
    torch = pytest.importorskip("torch")
    tiny = {"float32": [1e-39, 3e-38, 1e-30, 0.5], "float16": [1e-5, 6e-5, 1e-3, 0.5]}[dtype]
    x = gpugrad.tensor(tiny, dtype=getattr(gpugrad, dtype), requires_grad=True)
    tx = torch.tensor(tiny, dtype=getattr(torch, dtype), requires_grad=True)
    g = [1e-3, 1e-3, 1e-2, 1.0]
    getattr(gpugrad, name)(x).backward(gpugrad.tensor(g, dtype=x.dtype))
    getattr(torch, name)(tx).backward(torch.tensor(g, dtype=tx.dtype))
    want = tx.grad.double().numpy()
    got = x.grad.double().numpy()
    assert (np.isfinite(got) == np.isfinite(want)).all(), (got, want)
    np.testing.assert_allclose(got, want, rtol=2e-3 if dtype == "float16" else 1e-6)


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_each_op_saves_what_its_backward_formula_reads(name):
    """The op's node keeps the input or the output as DERIVATIVES says: the backward kernel
    is handed that value."""
    x = gpugrad.tensor([_POINTS.get(name, 0.6), _POINTS.get(name, 0.6) + 0.01], requires_grad=True)
    out = getattr(gpugrad, name)(x)
    (saved,) = out.grad_fn.saved_tensors
    want = x if DERIVATIVES[name].saves == "input" else out
    np.testing.assert_array_equal(saved.detach().numpy(), want.detach().numpy())
    assert not np.array_equal(x.detach().numpy(), out.detach().numpy())


def test_the_cuda_engine_implements_every_elementwise_name():
    from gpugrad.backend.cuda import ENGINE
    from gpugrad.backend.kernels.elementwise import COMPOSITE

    missing = {*UNARY, *BINARY, *COMPOSITE} - set(ENGINE.names())
    assert not missing, sorted(missing)
