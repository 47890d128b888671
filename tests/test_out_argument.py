"""PyTorch's ``out=`` (gpugrad.ops.out_argument, given by the faces of gpugrad.backend.quiet to
the functions listed in gpugrad/_out_names.py): the result written into ``out`` and ``out``
returned, compared with torch on a representative set (pointwise, reductions with dim,
matmul, joins, tuple results, factories, linalg, special): values, dtype, the identity of what
is returned, the version counter, resize warnings, the errors and the state a failed call
leaves. The list is regenerated from the installed torch and must be current."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import gpugrad
import gpugrad.linalg
import gpugrad.special
from gpugrad._out_names import OUT_NAMES, TORCH_VERSION

ROOT = Path(__file__).resolve().parents[1]
GPUGRAD_NAMESPACES = {
    "torch": gpugrad,
    "torch.linalg": gpugrad.linalg,
    "torch.special": gpugrad.special,
}


def _torch():
    return pytest.importorskip("torch", reason="compared with PyTorch")


# ---- the list -------------------------------------------------------------------------------
def test_out_names_are_current():
    torch = _torch()
    if torch.__version__.split("+")[0] != TORCH_VERSION:
        pytest.skip(f"the list is torch {TORCH_VERSION}'s; torch {torch.__version__} here")
    out = subprocess.run(
        [sys.executable, "-m", "gpugrad.utils.out_names", "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_out_names_hold_what_torch_takes_out_on():
    # the generator's sense, checked on names whose answer is known: builtins, Python
    # functions, tuple outs, factories; sum takes out= (with dim), flip and relu do not
    assert {"add", "exp", "max", "sort", "cat", "matmul", "arange", "sum", "norm"} <= OUT_NAMES[
        "torch"
    ]
    assert not {"flip", "relu", "zeros_like", "roll", "trace", "isnan"} & OUT_NAMES["torch"]
    assert {"eigh", "qr", "inv", "vector_norm", "solve_triangular"} <= OUT_NAMES["torch.linalg"]
    assert {"erf", "expit", "xlogy"} <= OUT_NAMES["torch.special"]
    assert len(OUT_NAMES["torch"]) > 250


@pytest.mark.parametrize("namespace", sorted(OUT_NAMES))
def test_every_listed_function_gpugrad_has_takes_out(namespace):
    ns, missing = GPUGRAD_NAMESPACES[namespace], []
    for name in sorted(OUT_NAMES[namespace]):
        fn = getattr(ns, name, None)
        if callable(fn) and not getattr(fn, "_gpugrad_out", False):
            if "out" not in inspect.signature(fn).parameters:  # zeros, ones, empty: their own
                missing.append(name)
    assert not missing, f"{namespace}: faces without out=: {missing}"


def test_functions_not_listed_and_methods_take_no_out():
    x = gpugrad.ones(3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'out'"):
        gpugrad.flip(x, (0,), out=gpugrad.empty(0))
    with pytest.raises(TypeError, match="unexpected keyword argument 'out'"):
        x.add(x, out=gpugrad.empty(0))  # Tensor methods never take out=, as in PyTorch
    with pytest.raises(TypeError, match="unexpected keyword argument 'out'"):
        x.exp(out=gpugrad.empty(0))


def test_out_none_is_the_plain_call():
    x = gpugrad.tensor([1.0, 2.0])
    assert gpugrad.exp(x, out=None).tolist() == gpugrad.exp(x).tolist()
    assert gpugrad.sum(gpugrad.ones(2, 3), dim=1, out=None).tolist() == [3.0, 3.0]


# ---- values against torch --------------------------------------------------------------------
def _arr(shape, seed, lo=0.1, hi=0.9, dtype="float32"):
    rng = np.random.default_rng(seed)
    if dtype == "int64":
        return rng.integers(0, 5, shape).astype(dtype)
    return rng.uniform(lo, hi, shape).astype(dtype)


def _spd(n, seed):
    a = _arr((n, n), seed)
    return (a @ a.T + n * np.eye(n)).astype("float32")


# (id, "namespace.name", args as NumPy arrays / lists of them / plain values, kwargs)
CASES = [
    ("exp", "exp", (_arr((2, 3), 1),), {}),
    ("neg", "neg", (_arr((2, 3), 2),), {}),
    ("sqrt", "sqrt", (_arr((4,), 3),), {}),
    ("add", "add", (_arr((2, 3), 4), _arr((3,), 5)), {"alpha": 2}),
    ("mul-int", "mul", (_arr((2, 3), 6, dtype="int64"), _arr((2, 3), 7, dtype="int64")), {}),
    ("div", "div", (_arr((2, 3), 8), _arr((2, 3), 9)), {}),
    ("where", "where", (_arr((2, 3), 10) > 0.5, _arr((2, 3), 11), _arr((2, 3), 12)), {}),
    ("clamp", "clamp", (_arr((2, 3), 13),), {"min": 0.3, "max": 0.6}),
    ("sum-dim", "sum", (_arr((2, 3, 4), 14), 1), {}),
    ("mean-keepdim", "mean", (_arr((2, 3, 4), 15), 0), {"keepdim": True}),
    ("amax", "amax", (_arr((2, 3), 16), 1), {}),
    ("argmax", "argmax", (_arr((2, 3), 17), 1), {}),
    ("cumsum", "cumsum", (_arr((2, 3), 18), 1), {}),
    ("matmul", "matmul", (_arr((2, 3), 19), _arr((3, 4), 20)), {}),
    ("mm", "mm", (_arr((2, 3), 21), _arr((3, 2), 22)), {}),
    ("bmm", "bmm", (_arr((2, 2, 3), 23), _arr((2, 3, 2), 24)), {}),
    ("cat", "cat", ([_arr((2, 3), 25), _arr((1, 3), 26)],), {}),
    ("stack", "stack", ([_arr((2, 3), 27), _arr((2, 3), 28)], 1), {}),
    ("max-dim", "max", (_arr((2, 3), 29), 1), {}),
    ("min-dim", "min", (_arr((2, 3), 30), 0), {}),
    ("sort", "sort", (_arr((2, 5), 31),), {}),
    ("topk", "topk", (_arr((2, 5), 32), 2), {}),
    ("arange", "arange", (5,), {}),
    ("eye", "eye", (3,), {}),
    ("full", "full", ((2, 3), 1.5), {}),
    ("linalg.inv", "linalg.inv", (_spd(3, 33),), {}),
    ("linalg.eigh", "linalg.eigh", (_spd(3, 34),), {}),
    ("linalg.qr", "linalg.qr", (_arr((4, 3), 35),), {}),
    ("linalg.vector_norm", "linalg.vector_norm", (_arr((2, 3), 36),), {}),
    ("special.erf", "special.erf", (_arr((2, 3), 37),), {}),
    ("special.xlogy", "special.xlogy", (_arr((2, 3), 38), _arr((2, 3), 39)), {}),
]
# results defined up to sign: compared where they are defined
UP_TO_SIGN = {"linalg.eigh": (0,), "linalg.qr": ()}


def _fn(L, path: str):
    ns = L
    for part in path.split(".")[:-1]:
        ns = getattr(ns, part)
    return getattr(ns, path.split(".")[-1])


def _make(L, v):
    torch = _torch()
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v.copy()).clone() if L is torch else gpugrad.tensor(v.copy())
    if isinstance(v, list):
        return [_make(L, x) for x in v]
    return v


def _np(t) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "cpu") else t.numpy())


def _dtype(L, name: str):
    return getattr(L, name)


def _outs_like(L, result, shape_of, dtype_of=None):
    """out tensors of library L for each tensor of ``result`` (torch's), of the shape
    ``shape_of(shape)`` and dtype ``dtype_of(name)`` (the result's by default)."""
    torch = _torch()
    single = isinstance(result, torch.Tensor)
    outs = []
    for r in [result] if single else list(result):
        dt = str(r.dtype).split(".")[-1]
        dt = dtype_of(dt) if dtype_of else dt
        outs.append(L.zeros(shape_of(tuple(r.shape)), dtype=_dtype(L, dt)) + 7)
    return outs[0] if single else tuple(outs)


def _call(L, path, args, kwargs, out):
    fn = _fn(L, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*[_make(L, a) for a in args], **kwargs, out=out)
    return result, [w for w in caught if issubclass(w.category, UserWarning)]


# cases whose torch kernel refuses an out= of another floating dtype ("Found dtype Double but
# expected Float", "Expected out tensor to have dtype float"), where gpugrad casts any result
# that can be cast (a known limit: which of torch's kernels insist is not in any list torch
# exposes); an entry torch stops refusing fails the test
TORCH_EXACT_DTYPE = set(
    "amax bmm clamp linalg.eigh linalg.inv linalg.qr linalg.vector_norm matmul max-dim min-dim "
    "mm neg sort topk where".split()
)

OUT_FORMS = {
    "same": (lambda s: s, None),
    "empty": (lambda s: (0,), None),
    "other-shape": (lambda s: (7,), None),
    "float64": (lambda s: s, lambda d: "float64" if d.startswith("float") else d),
}


@pytest.mark.parametrize("form", sorted(OUT_FORMS))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_out_matches_torch(case, form):
    torch = _torch()
    cid, path, args, kwargs = case
    plain = _fn(torch, path)(*[_make(torch, a) for a in args], **kwargs)
    shape_of, dtype_of = OUT_FORMS[form]
    t_out = _outs_like(torch, plain, shape_of, dtype_of)
    g_out = _outs_like(gpugrad, plain, shape_of, dtype_of)
    g_versions = [o._version for o in (g_out if isinstance(g_out, tuple) else (g_out,))]
    try:
        t_res, t_warn = _call(torch, path, args, kwargs, t_out)
    except RuntimeError as e:
        # kernels that want out's exact dtype; gpugrad casts any result that can be cast
        assert form == "float64" and cid in TORCH_EXACT_DTYPE, e
        return
    assert not (form == "float64" and cid in TORCH_EXACT_DTYPE), "torch casts now"
    g_res, g_warn = _call(gpugrad, path, args, kwargs, g_out)
    single = isinstance(t_out, torch.Tensor)
    assert (g_res is g_out) if single else all(a is b for a, b in zip(g_res, g_out))
    assert (t_res is t_out) if single else all(a is b for a, b in zip(t_res, t_out))
    if not single:
        assert isinstance(g_res, tuple) and len(g_res) == len(t_res)
        for field in getattr(g_res, "_fields", ()):  # torch's named fields, the same tensors
            assert getattr(g_res, field) is getattr(g_res, field)
            assert getattr(t_res, field) is t_out[g_res._fields.index(field)]
    t_leaves = [t_out] if single else list(t_out)
    g_leaves = [g_out] if single else list(g_out)
    compared = UP_TO_SIGN.get(path, range(len(t_leaves)))
    for k, (t, g, v0) in enumerate(zip(t_leaves, g_leaves, g_versions)):
        assert tuple(g.shape) == tuple(t.shape), k
        assert str(g.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], k
        assert g._version > v0, "a write bumps out's version counter"
        if k in compared:
            np.testing.assert_allclose(_np(g), _np(t), rtol=1e-4, atol=1e-5)
    # the same warnings (in which order a tuple's outs are resized is each kernel's own)
    assert sorted(str(w.message) for w in g_warn) == sorted(
        str(w.message).split(" (Triggered")[0] for w in t_warn
    )
    for w in g_warn:  # the resize warning points at the caller's line
        assert w.filename == __file__


# ---- aliasing: out is an input ---------------------------------------------------------------
ALIASED = [
    ("add", lambda L, a, b: L.add(a, b, out=a)),
    ("add-other", lambda L, a, b: L.add(a, b, out=b)),
    ("cumsum", lambda L, a, b: L.cumsum(a, 1, out=a)),
    ("mul-self", lambda L, a, b: L.mul(a, a, out=a)),
    ("exp-self", lambda L, a, b: L.exp(a, out=a)),
    ("where", lambda L, a, b: L.where(a > 0.5, a, b, out=b)),
    ("clamp", lambda L, a, b: L.clamp(a, 0.3, 0.6, out=a)),
]
# not compared: out= aliasing an input of matmul, cat or a resized reduction, where torch
# writes (zeroes, resizes) out before reading the input (its result is garbage); gpugrad
# reads every input before it writes, so the result is the op's


def test_out_aliasing_a_matmul_input_gives_the_product():
    a = gpugrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    want = (a @ a).tolist()
    assert gpugrad.matmul(a, a, out=a).tolist() == want


@pytest.mark.parametrize("call", ALIASED, ids=[c[0] for c in ALIASED])
def test_out_aliasing_an_input_matches_torch(call):
    torch = _torch()
    _, f = call
    a, b = _arr((3, 3), 40), _arr((3, 3), 41)
    t = [torch.from_numpy(x.copy()).clone() for x in (a, b)]
    g = [gpugrad.tensor(x.copy()) for x in (a, b)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr, gr = f(torch, *t), f(gpugrad, *g)
    np.testing.assert_allclose(_np(gr), _np(tr), rtol=1e-5, atol=1e-6)
    for x, y in zip(g, t):
        np.testing.assert_allclose(_np(x), _np(y), rtol=1e-5, atol=1e-6)


def test_out_is_a_view_written_through_to_its_base():
    torch = _torch()
    tb, gb = torch.zeros(2, 4), gpugrad.zeros(2, 4)
    x = _arr((2, 2), 42)
    torch.exp(torch.from_numpy(x), out=tb[:, 1:3])
    gpugrad.exp(gpugrad.tensor(x), out=gb[:, 1:3])
    np.testing.assert_allclose(_np(gb), _np(tb), rtol=1e-6)


# ---- errors, and the state a failed call leaves ----------------------------------------------
def _both(f):
    """(torch's exception, gpugrad's) of f(L), each None where the call returned."""
    torch = _torch()
    got = []
    for L in (torch, gpugrad):
        try:
            f(L)
        except Exception as e:  # noqa: BLE001 - the exception is compared
            got.append(e)
        else:
            got.append(None)
    return got


ERRORS = [
    # (id, call, exact text: True where gpugrad's is torch's word for word)
    ("not-a-tensor", lambda L: L.exp(L.ones(2), out=1), True),
    ("list-for-a-tensor", lambda L: L.exp(L.ones(2), out=[L.empty(0)]), True),
    ("tuple-short", lambda L: L.max(L.ones(2, 3), 1, out=(L.empty(0),)), True),
    ("tuple-long", lambda L: L.max(L.ones(2, 3), 1, out=(L.empty(0),) * 3), True),
    ("tuple-element", lambda L: L.sort(L.ones(3), out=(L.empty(0), 1)), False),
    ("tensor-for-a-tuple", lambda L: L.max(L.ones(2, 3), 1, out=L.empty(0)), False),
    ("float-into-long", lambda L: L.exp(L.ones(2), out=L.zeros(2, dtype=L.long)), True),
    (
        "div-ints-into-long",
        lambda L: L.div(L.ones(2, dtype=L.long), 2, out=L.zeros(2, dtype=L.long)),
        True,
    ),  # fmt: skip
    ("cat-float-into-long", lambda L: L.cat([L.ones(2)], out=L.zeros(2, dtype=L.long)), True),
    (
        "factory-dtype",
        lambda L: L.arange(2, dtype=L.float32, out=L.zeros(2, dtype=L.float64)),
        True,
    ),  # fmt: skip
    ("op-fails", lambda L: L.add(L.ones(2, 3), L.ones(4), out=L.zeros(2, 3)), False),
    ("grad-input", lambda L: L.exp(L.ones(2, requires_grad=True), out=L.zeros(2)), True),
    ("grad-out", lambda L: L.add(L.ones(2), 1, out=L.zeros(2, requires_grad=True)), True),
    ("grad-list", lambda L: L.cat([L.ones(2, requires_grad=True)], out=L.zeros(2)), True),
    (
        "grad-tuple",
        lambda L: L.max(
            L.ones(2, 3, requires_grad=True), 1, out=(L.empty(0), L.empty(0, dtype=L.long))
        ),
        True,
    ),  # fmt: skip
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_out_errors_match_torch(case):
    _, f, exact = case
    t, g = _both(f)
    assert t is not None and g is not None, (t, g)
    assert type(g).__mro__[:2] == type(t).__mro__[:2] or isinstance(g, type(t)), (t, g)
    if exact:
        assert str(g) == str(t).split(" (Triggered")[0]


def test_failed_call_leaves_out_unchanged():
    for f in (
        lambda o: gpugrad.exp(gpugrad.ones(2), out=o.long()),  # a copy: o itself not passed
        lambda o: gpugrad.add(gpugrad.ones(2, 3), gpugrad.ones(4), out=o),
        lambda o: gpugrad.exp(gpugrad.ones(2, 3, requires_grad=True), out=o),
    ):
        o = gpugrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        v = o._version
        with pytest.raises((RuntimeError, TypeError)):
            f(o)
        assert o.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]] and o._version == v
    # a tuple: the second out refused (float into long) leaves the first unwritten too
    v, i = gpugrad.full((2,), 9.0), gpugrad.zeros(2, dtype=gpugrad.bool)
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type Bool"):
        gpugrad.max(gpugrad.ones(2, 3), 1, out=(v, i))
    assert v.tolist() == [9.0, 9.0] and v._version == 0


def test_no_grad_allows_out_and_writes_a_parameter():
    w = gpugrad.zeros(3, requires_grad=True)
    with gpugrad.no_grad():
        r = gpugrad.add(gpugrad.ones(3), 1, out=w)
    assert r is w and w.tolist() == [2.0, 2.0, 2.0] and w.requires_grad


def test_writing_a_saved_tensor_fails_its_backward_as_in_torch():
    torch = _torch()
    for L in (torch, gpugrad):
        a = L.ones(3, requires_grad=True)
        c = L.full((3,), 2.0)
        y = (a * c).sum()  # saves c
        L.exp(L.zeros(3), out=c)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()


def test_resize_refused_where_memory_is_shared():
    base = gpugrad.zeros(4)
    view = base[:2]
    with pytest.raises(
        RuntimeError, match=r"out= has shape \[2\] but the result has shape \[2, 3\]"
    ):
        gpugrad.exp(gpugrad.ones(2, 3), out=view)
    held = gpugrad.zeros(5)
    alias = held.detach()  # shares memory and version: resizing held would leave it behind
    with pytest.raises(RuntimeError, match=r"out= has shape \[5\] but the result has shape \[3\]"):
        gpugrad.exp(gpugrad.ones(3), out=held)
    assert held.shape == (5,) and alias.shape == (5,) and held._version == 0
    # the same tensors of the right shape are written (no resize needed)
    assert gpugrad.exp(gpugrad.zeros(2), out=view) is view and base.tolist()[:2] == [1.0, 1.0]
    del alias
    with pytest.warns(UserWarning, match=r"had shape \[5\], which does not match .* \[3\]"):
        assert gpugrad.exp(gpugrad.zeros(3), out=held).shape == (3,)  # alone now: resized


def test_resize_of_an_empty_out_is_silent_and_owns_its_memory():
    x = gpugrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    o = gpugrad.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpugrad.mul(x.t(), 1, out=o)
    assert o.tolist() == [[1.0, 3.0], [2.0, 4.0]] and o._version == 1
    assert o._data.flags["C_CONTIGUOUS"] and o._data.base is None


@pytest.mark.parametrize("device", ["cuda"])
def test_out_on_another_device_is_refused(device):
    from tests.conftest import _CUDA_SKIP

    if _CUDA_SKIP:
        pytest.skip(_CUDA_SKIP)
    o = gpugrad.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        gpugrad.exp(gpugrad.ones(2), out=o)
    assert o.tolist() == [0.0, 0.0]


def test_an_expanded_out_is_refused_with_pytorchs_error_and_left_as_it_was():
    # several elements share one memory location: PyTorch refuses before writing (NumPy's
    # read-only ValueError must not leak)
    for L in (_torch(), gpugrad):
        base = L.zeros(1)
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            L.add(L.ones(3), 1, out=base.expand(3))
        assert base.tolist() == [0.0]
