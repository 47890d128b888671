"""The optimizer kernels: ``adam_step_`` / ``sgd_step_``.

- the references against the optimizers' former per-parameter code (bit for bit);
- the compiled CPU kernels against the references (bit for bit: same operations, same order);
- SGD, Adam and AdamW through every flag (foreach, fused) against torch.optim over several
  steps, with param groups, skipped gradients, zero-size tensors, state_dict round trips.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

import gpugrad
from gpugrad import optim
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import optimizer as NO

torch = pytest.importorskip("torch")

B = gpugrad.device("cpu").backend
# the references (the bound names themselves when the engine is off: GPUGRAD_NUMBA=0)
ADAM_REF = getattr(B.adam_step_, "reference", B.adam_step_)
SGD_REF = getattr(B.sgd_step_, "reference", B.sgd_step_)
numba_only = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")
FLOATS = [np.float32, np.float64]
# sizes around the serial/parallel switch, odd, one-element and empty
SIZES = [0, 1, 7, 1000, NO.PARALLEL_SIZE - 1, NO.PARALLEL_SIZE + 13]


# ---- the optimizers' code before the named kernels (gpugrad/optim at 31be99e), as arrays ---
@np.errstate(all="ignore")  # as the optimizers' quiet() kernels
def old_adam(d, gd, m, v, vmax, step, lr, beta1, beta2, eps, wd, decoupled, amsgrad, maximize):
    gd = -gd if maximize else gd
    if wd != 0:
        if decoupled:
            d *= 1 - lr * wd
        else:
            gd = gd + wd * d
    m += (gd - m) * (1 - beta1)
    v *= beta2
    v += (gd * gd) * (1 - beta2)
    step_size = lr / (1 - beta1**step)
    bc2_sqrt = (1 - beta2**step) ** 0.5
    if amsgrad:
        np.maximum(vmax, v, out=vmax)
        denom = np.sqrt(vmax)
    else:
        denom = np.sqrt(v)
    denom /= bc2_sqrt
    denom += eps
    np.divide(m, denom, out=denom)
    denom *= step_size
    d -= denom


@np.errstate(all="ignore")
def old_sgd(d, g, buf, lr, momentum, dampening, nesterov, wd, maximize):
    """Returns the momentum buffer (a new one on the first step, as the old code made)."""
    if momentum == 0 and wd == 0 and not maximize:
        d -= lr * g
        return buf
    gd = -g if maximize else g
    if wd != 0:
        gd = gd + wd * d
    if momentum != 0:
        if buf is None:
            buf = gd.copy()
        else:
            buf *= momentum
            if dampening != 0:
                buf += (1 - dampening) * gd
            else:
                buf += gd
        gd = gd + momentum * buf if nesterov else buf
    d -= lr * gd
    return buf


ADAM_FLAGS = [
    dict(wd=wd, decoupled=dec, amsgrad=ams, maximize=mx)
    for wd, dec, ams, mx in itertools.product(
        (0.0, 0.1), (False, True), (False, True), (False, True)
    )
    if wd or not dec
]
SGD_FLAGS = [
    dict(momentum=0.0, dampening=0.0, nesterov=False, wd=0.0, maximize=False),
    dict(momentum=0.0, dampening=0.0, nesterov=False, wd=0.1, maximize=True),
    dict(momentum=0.9, dampening=0.0, nesterov=False, wd=0.0, maximize=False),
    dict(momentum=0.9, dampening=0.3, nesterov=False, wd=0.1, maximize=True),
    dict(momentum=0.9, dampening=0.0, nesterov=True, wd=0.1, maximize=False),
    dict(momentum=0.5, dampening=0.0, nesterov=True, wd=0.0, maximize=True),
]


def _data(sizes, dtype, steps, seed=0, specials=False):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    grads = [[rng.standard_normal(n).astype(dtype) for n in sizes] for _ in range(steps)]
    if specials:  # NaN and inf in a gradient spread through that element's state and param
        for gs in grads[2:3]:
            for g in gs:
                if g.size >= 3:
                    g[:3] = (np.nan, np.inf, -np.inf)
    return params, grads


def _adam_run(fn, sizes, dtype, flags, steps=6, specials=False, lr=1e-2):
    params, grads = _data(sizes, dtype, steps, specials=specials)
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    tops = [np.zeros_like(p) for p in params]
    for k, gs in enumerate(grads, 1):
        fn(params, gs, ms, vs, tops if flags["amsgrad"] else None, float(k), lr, 0.9, 0.999,
           1e-8, flags["wd"], flags["decoupled"], flags["amsgrad"], flags["maximize"])  # fmt: skip
    return params + ms + vs + (tops if flags["amsgrad"] else [])


def _sgd_run(fn, sizes, dtype, flags, steps=6, specials=False, lr=1e-2):
    params, grads = _data(sizes, dtype, steps, specials=specials)
    bufs = [np.empty_like(p) for p in params]
    for k, gs in enumerate(grads):
        fn(params, gs, bufs, lr, flags["momentum"], flags["dampening"], flags["nesterov"],
           flags["wd"], flags["maximize"], k == 0)  # fmt: skip
    return params + (bufs if flags["momentum"] else [])


def _assert_all_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ---- references: bit for bit the former optimizer code -------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("flags", ADAM_FLAGS)
def test_adam_reference_is_the_former_code_bitwise(dtype, flags):
    def old(params, grads, ms, vs, tops, step, lr, b1, b2, eps, wd, dec, ams, mx):
        for i, d in enumerate(params):
            old_adam(d, grads[i], ms[i], vs[i], tops[i] if ams else None, step, lr, b1, b2, eps,
                     wd, dec, ams, mx)  # fmt: skip

    sizes = [7, 0, 1, 300]
    _assert_all_equal(
        _adam_run(ADAM_REF, sizes, dtype, flags, specials=True),
        _adam_run(old, sizes, dtype, flags, specials=True),
    )


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("flags", SGD_FLAGS)
def test_sgd_reference_is_the_former_code_bitwise(dtype, flags):
    params, grads = _data([7, 0, 1, 300], dtype, 6, specials=True)
    bufs = [None] * len(params)
    for gs in grads:
        for i, d in enumerate(params):
            bufs[i] = old_sgd(d, gs[i], bufs[i], 1e-2, flags["momentum"], flags["dampening"],
                              flags["nesterov"], flags["wd"], flags["maximize"])  # fmt: skip
    want = params + (bufs if flags["momentum"] else [])
    got = _sgd_run(SGD_REF, [7, 0, 1, 300], dtype, flags, specials=True)
    _assert_all_equal(got, want)


# ---- compiled kernels: bit for bit the reference --------------------------------------------
@numba_only
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("flags", ADAM_FLAGS)
def test_adam_compiled_matches_reference_bitwise(dtype, flags):
    got = _adam_run(ENGINE.compiled("adam_step_"), SIZES, dtype, flags, specials=True)
    want = _adam_run(ADAM_REF, SIZES, dtype, flags, specials=True)
    _assert_all_equal(got, want)
    assert all(np.isnan(x[:1]).all() for x in got[: len(SIZES)] if x.size >= 3)


@numba_only
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("flags", SGD_FLAGS)
def test_sgd_compiled_matches_reference_bitwise(dtype, flags):
    got = _sgd_run(ENGINE.compiled("sgd_step_"), SIZES, dtype, flags, specials=True)
    want = _sgd_run(SGD_REF, SIZES, dtype, flags, specials=True)
    _assert_all_equal(got, want)


@numba_only
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n", [5, NO.PARALLEL_SIZE + 1])
def test_compiled_zero_over_zero_is_nan_quietly(dtype, n):
    """eps=0 and a zero gradient: 0 / 0 gives NaN, silently, as the reference."""
    out = []
    for fn in (ENGINE.compiled("adam_step_"), ADAM_REF):
        d, g, m, v = np.ones(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)
        fn([d], [g], [m], [v], None, 1.0, 1e-2, 0.9, 0.999, 0.0, 0.0, False, False, False)
        out.append(d)
    assert np.isnan(out[0]).all()
    _assert_all_equal(out[:1], out[1:])


@numba_only
@pytest.mark.parametrize("dtype", FLOATS)
def test_compiled_reads_strided_and_broadcast_grads(dtype):
    rng = np.random.default_rng(3)
    n = NO.PARALLEL_SIZE + 5
    p = rng.standard_normal((n, 2)).astype(dtype)[:, :1].copy()
    base = rng.standard_normal((n, 2)).astype(dtype)
    grads = [base[:, 1:], np.broadcast_to(dtype(0.5), (n, 1))]  # strided; broadcast
    for g in grads:
        out = []
        for fn in (ENGINE.compiled("adam_step_"), ADAM_REF):
            d, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
            fn([d], [g], [m], [v], None, 1.0, 1e-2, 0.9, 0.999, 1e-8, 0.0, False, False, False)
            out.append((d, m, v))
        _assert_all_equal(out[0], out[1])
        assert NO._adam_when([p], [g], [p], [p], None, 1.0, 1e-2, 0.9, 0.999, 1e-8, 0, 0, 0, 0)


def test_predicates_send_other_layouts_to_the_reference():
    n = NO.MIN_TOTAL
    a32 = np.zeros(n, np.float32)
    strided = np.zeros(2 * n, np.float32)[::2]
    args = (1.0, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    assert NO._adam_when([a32], [a32], [a32], [a32], None, *args)
    small = np.zeros(n // 2 - 1, np.float32)  # under MIN_TOTAL in all: NumPy's calls win
    assert not NO._adam_when([small] * 2, [small] * 2, [small] * 2, [small] * 2, None, *args)
    assert NO._adam_when([small] * 3, [small] * 3, [small] * 3, [small] * 3, None, *args)
    assert not NO._adam_when([strided], [a32], [a32], [a32], None, *args)  # param strided
    assert not NO._adam_when([a32], [a32], [strided], [a32], None, *args)  # state strided
    assert not NO._adam_when([a32.astype(np.float16)] * 4, [a32], [a32], [a32], None, *args)
    assert not NO._adam_when([a32], [a32.astype(np.float64)], [a32], [a32], None, *args)
    assert not NO._adam_when([], [], [], [], None, *args)
    sgd = (0.1, 0.9, 0.0, False, 0.0, False, False)
    assert NO._sgd_when([a32], [a32], [a32], *sgd)
    assert NO._sgd_when([a32], [a32], None, 0.1, 0.0, 0.0, False, 0.0, False, False)
    assert not NO._sgd_when([a32], [a32], [strided], *sgd)
    assert not NO._sgd_when([a32.astype(np.complex64)], [a32], [a32], *sgd)


def test_dispatcher_strided_params_use_the_reference_and_agree():
    """Through the bound name: a strided parameter goes to the reference; same results."""
    rng = np.random.default_rng(4)
    base = rng.standard_normal((50, 2))
    g = rng.standard_normal(50)
    d1, d2 = base.copy(), base[:, 0].copy()
    m1, v1 = np.zeros(50), np.zeros(50)
    m2, v2 = np.zeros(50), np.zeros(50)
    B.adam_step_([d1[:, 0]], [g], [m1], [v1], None, 1.0, 0.1, 0.9, 0.99, 1e-8, 0.1, True, 0, 0)
    B.adam_step_([d2], [g], [m2], [v2], None, 1.0, 0.1, 0.9, 0.99, 1e-8, 0.1, True, 0, 0)
    _assert_all_equal([d1[:, 0], m1, v1], [d2, m2, v2])
    np.testing.assert_array_equal(d1[:, 1], base[:, 1])  # the other column is untouched


# ---- the optimizers against torch.optim ------------------------------------------------------
SHAPES = [(3, 5), (0,), (1,), (NO.PARALLEL_SIZE + 3,), (4, 1, 6)]


def _pair(dtype, seed=0, shapes=SHAPES, device="cpu"):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [gpugrad.tensor(a, requires_grad=True, device=device) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def _steps(opt_g, opt_t, ours, theirs, dtype, steps=8, seed=1, skip=None):
    rng = np.random.default_rng(seed)
    for k in range(steps):
        for j, (a, b) in enumerate(zip(ours, theirs)):
            if skip is not None and skip(k, j):
                a.grad = b.grad = None
                continue
            g = rng.standard_normal(tuple(a.shape)).astype(dtype)
            a.grad = gpugrad.tensor(g, device=a.device)
            b.grad = torch.tensor(g)
        opt_g.step()
        opt_t.step()


def host(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _close(ours, theirs, dtype):
    # float32: PyTorch's kernels round in a slightly different order (addcmul, addcdiv)
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-12, 1e-13)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(host(a), b.detach().numpy(), rtol=rtol, atol=atol)


def _state_close(opt_g, opt_t, ours, theirs, dtype):
    for a, b in zip(ours, theirs):
        sg, st = opt_g.state[a], opt_t.state[b]
        assert set(sg) == set(st)
        for key, val in st.items():
            if key == "step":
                assert float(sg[key]) == float(val)
                assert tuple(sg[key].shape) == tuple(val.shape) == ()
                assert str(sg[key].dtype).split(".")[1] == str(val.dtype).split(".")[1]
            else:
                _close([sg[key]], [val], dtype)


ADAM_KW = [
    dict(),
    dict(amsgrad=True),
    dict(weight_decay=0.1),
    dict(weight_decay=0.1, amsgrad=True, maximize=True),
    dict(maximize=True, betas=(0.8, 0.99), eps=1e-6),
]
MODES = [dict(), dict(foreach=False), dict(foreach=True), dict(fused=True)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kw", ADAM_KW)
@pytest.mark.parametrize("mode", MODES)
def test_adam_matches_torch(device, dtype, name, kw, mode):
    ours, theirs = _pair(dtype, device=device)
    opt_g = getattr(optim, name)(ours, lr=0.05, **kw, **mode)
    opt_t = getattr(torch.optim, name)(theirs, lr=0.05, **kw, **mode)
    _steps(opt_g, opt_t, ours, theirs, dtype)
    _close(ours, theirs, dtype)
    _state_close(opt_g, opt_t, ours, theirs, dtype)


SGD_KW = [
    dict(),
    dict(weight_decay=0.1, maximize=True),
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.2, weight_decay=0.05),
    dict(momentum=0.9, nesterov=True, maximize=True),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kw", SGD_KW)
@pytest.mark.parametrize("mode", MODES)
def test_sgd_matches_torch(device, dtype, kw, mode):
    ours, theirs = _pair(dtype, device=device)
    opt_g = optim.SGD(ours, lr=0.05, **kw, **mode)
    opt_t = torch.optim.SGD(theirs, lr=0.05, **kw, **mode)
    _steps(opt_g, opt_t, ours, theirs, dtype)
    _close(ours, theirs, dtype)
    _state_close(opt_g, opt_t, ours, theirs, dtype)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_param_groups_and_skipped_grads_match_torch(name):
    """Groups with their own lr; a parameter without a gradient on some steps (its step
    count falls behind, so one group's update is split by count)."""
    dtype = np.float32
    ours, theirs = _pair(dtype, seed=2)
    kw = dict(momentum=0.9) if name == "SGD" else dict(amsgrad=True)

    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.01}]

    opt_g = getattr(optim, name)(groups(ours), lr=0.1, **kw)
    opt_t = getattr(torch.optim, name)(groups(theirs), lr=0.1, **kw)
    _steps(opt_g, opt_t, ours, theirs, dtype, skip=lambda k, j: j == 3 and k in (1, 4))
    _close(ours, theirs, dtype)
    _state_close(opt_g, opt_t, ours, theirs, dtype)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_state_dict_round_trip_continues_bitwise(name, dtype, tmp_path):
    kw = dict(momentum=0.9, nesterov=True) if name == "SGD" else dict(amsgrad=True)
    ours, theirs = _pair(dtype, seed=3)
    full = getattr(optim, name)(ours, lr=0.05, **kw)
    half_params = [gpugrad.tensor(a.detach().numpy(), requires_grad=True) for a in ours]
    half = getattr(optim, name)(half_params, lr=0.05, **kw)
    rng = np.random.default_rng(9)
    grads = [[rng.standard_normal(tuple(a.shape)).astype(dtype) for a in ours] for _ in range(6)]
    for k, gs in enumerate(grads):
        if k == 3:  # save, load through a file into a fresh optimizer, and go on
            path = tmp_path / "opt.pt"
            gpugrad.save(half.state_dict(), path)
            resumed = [gpugrad.tensor(a.detach().numpy(), requires_grad=True) for a in half_params]
            half = getattr(optim, name)(resumed, lr=0.05, **kw)
            half.load_state_dict(gpugrad.load(path))
            half_params = resumed
        for a, b, g in zip(ours, half_params, gs):
            a.grad, b.grad = gpugrad.tensor(g), gpugrad.tensor(g)
        full.step()
        half.step()
    for a, b in zip(ours, half_params):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_step_counters_are_per_parameter_as_torch():
    """Each parameter's ``step`` is its own 0-d float32 CPU tensor, counted in place: the flat
    path once gave every parameter of a group one shared array."""
    for foreach in (None, False, True):
        ps = [gpugrad.zeros(3, requires_grad=True) for _ in range(3)]
        opt = optim.Adam(ps, lr=0.1, foreach=foreach)
        for p in ps:
            p.grad = gpugrad.ones(3)
        opt.step()
        steps = [opt.state[p]["step"] for p in ps]
        saved = opt.state_dict()["state"][0]["step"]
        assert all(s.dtype == gpugrad.float32 and s.shape == () and s.device.type == "cpu"
                   for s in steps)  # fmt: skip
        steps[0].add_(10)
        assert [float(s) for s in steps] == [11.0, 1.0, 1.0]
        opt.step()
        assert float(saved) == 12.0  # the state dict holds the live counter, as torch's


def test_flat_path_without_an_engine_matches_the_kernel_path_bitwise(monkeypatch):
    """Where no compiled kernel is bound (GPUGRAD_NUMBA=0, or a GPU without the CUDA engine)
    groups of small tensors update on flat buffers; results are the kernel path's."""
    runs = []
    for bound in (True, False):
        if not bound:
            monkeypatch.setattr(B, "adam_step_", ADAM_REF)
        ps, _ = _pair(np.float32, seed=5, shapes=[(3, 4), (5,), (2, 2)])
        opt = optim.AdamW(ps, lr=0.05, amsgrad=True)
        rng = np.random.default_rng(0)
        for _ in range(5):
            for p in ps:
                p.grad = gpugrad.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32))
            opt.step()
        assert bound or opt._flat, "the flat path was not taken"
        steps = [opt.state[p]["step"] for p in ps]
        assert len({id(s._data) for s in steps}) == len(ps)
        runs.append([p.detach().numpy() for p in ps])
    _assert_all_equal(*runs)


@pytest.mark.parametrize("default", [gpugrad.float64])
def test_step_dtype_follows_default_dtype_and_fused(default):
    old = gpugrad.get_default_dtype()
    gpugrad.set_default_dtype(default)
    try:
        p = gpugrad.zeros(2, dtype=gpugrad.float32, requires_grad=True)
        p.grad = gpugrad.ones(2, dtype=gpugrad.float32)
        for fused, want in ((None, gpugrad.float64), (True, gpugrad.float32)):
            opt = optim.Adam([p], fused=fused)
            opt.step()
            assert opt.state[p]["step"].dtype == want
    finally:
        gpugrad.set_default_dtype(old)


# ---- flags and errors as torch's ------------------------------------------------------------
def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type and text are what is compared
        return type(e), str(e).replace("torch.", "gpugrad.")
    return None


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
@pytest.mark.parametrize(
    "kw", [dict(fused=True, differentiable=True), dict(fused=True, foreach=True)]
)
def test_invalid_flag_combinations_raise_as_torch(name, kw):
    want = _error(lambda: getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw))
    got = _error(lambda: getattr(optim, name)([gpugrad.zeros(2, requires_grad=True)], **kw))
    assert want is not None and got == want


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_refuses_integer_params_as_torch(name):
    def run(lib):
        p = lib.zeros(3, dtype=lib.int64)
        p.grad = lib.ones(3, dtype=lib.int64)
        getattr(lib.optim, name)([p], fused=True).step()

    want = _error(lambda: run(torch))
    assert want is not None and _error(lambda: run(gpugrad)) == want


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_flag_defaults_are_torch(name):
    p = gpugrad.zeros(2, requires_grad=True)
    q = torch.zeros(2, requires_grad=True)
    ours = getattr(optim, name)([p]).defaults
    theirs = getattr(torch.optim, name)([q]).defaults
    for key in ("foreach", "fused", "differentiable", "maximize"):
        assert ours[key] == theirs[key], key


def test_adam_refuses_sparse_grads_as_torch():
    def run(lib):
        w = lib.zeros(4, 2, requires_grad=True)
        i = lib.tensor([[0, 2]])
        w.grad = lib.sparse_coo_tensor(i, lib.ones(2, 2), (4, 2), check_invariants=True)
        lib.optim.Adam([w]).step()

    want = _error(lambda: run(torch))
    assert want is not None and _error(lambda: run(gpugrad)) == want


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_closure_is_evaluated_with_grad_and_its_loss_returned(name):
    w = gpugrad.tensor([1.0, -2.0], requires_grad=True)
    wt = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = getattr(optim, name)([w], lr=0.1)
    opt_t = getattr(torch.optim, name)([wt], lr=0.1)

    def closure(lib, x, o):
        def f():
            o.zero_grad()
            loss = (x * x).sum()
            loss.backward()
            return loss

        return f

    with gpugrad.no_grad():
        losses = [float(opt.step(closure(gpugrad, w, opt))) for _ in range(3)]
    with torch.no_grad():
        want = [float(opt_t.step(closure(torch, wt, opt_t))) for _ in range(3)]
    np.testing.assert_allclose(losses, want, rtol=1e-6)
    np.testing.assert_allclose(w.detach().numpy(), wt.detach().numpy(), rtol=1e-6)


def test_deepcopied_optimizer_has_independent_state():
    ps = [gpugrad.ones(3, requires_grad=True) for _ in range(2)]
    opt = optim.Adam(ps, lr=0.1)
    for p in ps:
        p.grad = gpugrad.ones(3)
    opt.step()
    clone = copy.deepcopy(opt.state_dict())
    opt.step()
    assert float(clone["state"][0]["step"]) == 1.0 and float(opt.state[ps[0]]["step"]) == 2.0


# ---- SGD with sparse gradients (nn.Embedding(sparse=True)'s layout) --------------------------
def _sparse_grad(lib, idx, vals, shape):
    return lib.sparse_coo_tensor(lib.tensor(idx), lib.tensor(vals), shape, check_invariants=True)


@pytest.mark.parametrize("kw", [dict(), dict(maximize=True), dict(foreach=True)])
def test_sgd_sparse_grads_match_torch(kw):
    rng = np.random.default_rng(7)
    w0 = rng.standard_normal((6, 3))
    ours, theirs = gpugrad.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    opt_g, opt_t = optim.SGD([ours], lr=0.1, **kw), torch.optim.SGD([theirs], lr=0.1, **kw)
    for _ in range(4):
        idx, vals = rng.integers(0, 6, (1, 5)), rng.standard_normal((5, 3))  # repeats add up
        ours.grad, theirs.grad = _sparse_grad(gpugrad, idx, vals, (6, 3)), None
        theirs.grad = _sparse_grad(torch, idx, vals, (6, 3))
        opt_g.step()
        opt_t.step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-13)


@pytest.mark.parametrize("kw", [dict(weight_decay=0.1), dict(fused=True)])
def test_sgd_sparse_grads_errors_as_torch(kw):
    def run(lib):
        w = lib.ones(4, 2, requires_grad=True)
        w.grad = _sparse_grad(lib, [[0, 2]], np.ones((2, 2), np.float32), (4, 2))
        lib.optim.SGD([w], lr=0.1, **kw).step()

    want = _error(lambda: run(torch))
    assert want is not None and _error(lambda: run(gpugrad)) == want


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kw", [dict(), dict(foreach=True), dict(fused=True)])
def test_capturable_on_the_cpu_as_torch(name, kw):
    """capturable=True needs a GPU (PyTorch's assertion, per path), except with fused."""

    def run(lib):
        w = lib.ones(2, requires_grad=True)
        w.grad = lib.ones(2)
        opt = getattr(lib.optim, name)([w], capturable=True, **kw)
        opt.step()
        return opt.state[w]["step"]

    want = _error(lambda: run(torch))
    assert _error(lambda: run(gpugrad)) == want
    if want is None:
        assert run(gpugrad).dtype == gpugrad.float32 and float(run(torch)) == 1.0


def _flag_cases():
    import inspect

    for name in ["Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam", "RMSprop", "Adam", "AdamW",
                 "SGD"]:  # fmt: skip
        params = inspect.signature(getattr(torch.optim, name).__init__).parameters
        cases = [dict()]
        if "fused" in params:
            cases += [dict(fused=True, differentiable=True), dict(fused=True, foreach=True)]
            cases += [dict(fused=True)]
        if "capturable" in params:
            cases += [dict(capturable=True, foreach=f) for f in (None, False, True)]
        for kw in cases:
            yield name, kw


@pytest.mark.parametrize("name, kw", list(_flag_cases()))
def test_every_optimizer_takes_flags_as_torch(name, kw):
    """foreach / fused / capturable as PyTorch's on the CPU: accepted, or its error."""

    def run(lib):
        w = lib.ones(2, requires_grad=True)
        w.grad = lib.ones(2)
        getattr(lib.optim, name)([w], **kw).step()

    assert _error(lambda: run(gpugrad)) == _error(lambda: run(torch))
