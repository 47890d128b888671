"""Automatic mixed precision: autocast's per-op dtypes and GradScaler, as torch.amp."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from utils import assert_close

import gpugrad
import gpugrad.nn.functional as F


def _dt(t) -> str:
    return str(t.dtype).split(".")[-1]


def test_autocast_op_dtypes(device):
    lin = gpugrad.nn.Linear(4, 3).to(device)
    conv = gpugrad.nn.Conv2d(2, 3, 3).to(device)
    x = gpugrad.randn(2, 4, device=device)
    img = gpugrad.randn(1, 2, 5, 5, device=device)
    target = gpugrad.tensor([0, 2], device=device)
    with gpugrad.autocast(device, dtype=gpugrad.float16):
        assert gpugrad.is_autocast_enabled(device)
        assert gpugrad.get_autocast_dtype(device) == gpugrad.float16
        y = lin(x)
        assert _dt(y) == "float16" and y.grad_fn.name() == "AddmmBackward0"
        assert _dt(x @ x.T) == _dt(gpugrad.mm(x, x.T)) == "float16"
        assert _dt(conv(img)) == "float16"
        assert _dt(F.cross_entropy(y, target)) == "float32"
        assert _dt(F.nll_loss(F.log_softmax(y, 1), target)) == "float32"
        assert _dt(F.mse_loss(y, gpugrad.zeros(2, 3, device=device))) == "float32"
        # softmax and layer_norm: float32 on cuda, the input's dtype on cpu (PyTorch's lists)
        want = "float32" if device == "cuda" else "float16"
        assert _dt(F.softmax(y, 1)) == _dt(F.layer_norm(y, (3,))) == want
        assert _dt(y + 1) == "float16"  # not on any list: the input's dtype
        d = gpugrad.ones(2, 2, dtype=gpugrad.float64, device=device)
        assert _dt(d @ d) == "float64"  # float64 is never cast
        with gpugrad.autocast(device, enabled=False):
            assert _dt(lin(x)) == "float32"
            assert not gpugrad.is_autocast_enabled(device)
        assert gpugrad.is_autocast_enabled(device)
    assert not gpugrad.is_autocast_enabled(device)
    loss = F.cross_entropy(y, target)
    loss.backward()
    assert _dt(lin.weight.grad) == _dt(lin.bias.grad) == "float32"


def test_autocast_values_and_gradients_against_float32(device):
    lin = gpugrad.nn.Linear(8, 5).to(device)
    x = gpugrad.randn(6, 8, device=device)
    target = gpugrad.tensor([0, 1, 2, 3, 4, 0], device=device)
    ref = F.cross_entropy(lin(x), target)
    ref.backward()
    g32 = lin.weight.grad.clone()
    lin.zero_grad()
    with gpugrad.autocast(device, dtype=gpugrad.float16):
        loss = F.cross_entropy(lin(x), target)
    loss.backward()
    assert_close(loss, ref.item(), rtol=2e-3, atol=2e-3)
    assert_close(lin.weight.grad, g32.cpu().numpy(), rtol=5e-3, atol=5e-3)


def test_autocast_decorator_threads_and_bad_device():
    @gpugrad.autocast("cpu", dtype=gpugrad.float16)
    def f(a):
        return a @ a, gpugrad.is_autocast_enabled("cpu")

    out, on = f(gpugrad.ones(2, 2))
    assert _dt(out) == "float16" and on and not gpugrad.is_autocast_enabled("cpu")
    seen = []
    with gpugrad.autocast("cpu", dtype=gpugrad.float16):
        t = threading.Thread(target=lambda: seen.append(gpugrad.is_autocast_enabled("cpu")))
        t.start()
        t.join()
    assert seen == [False]  # autocast is per thread, as in PyTorch
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'tpu'"):
        gpugrad.autocast("tpu")
    with gpugrad.autocast("cpu"):  # PyTorch's CPU default: bfloat16
        assert gpugrad.is_autocast_enabled("cpu")
        assert gpugrad.get_autocast_dtype("cpu") is gpugrad.bfloat16
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        with gpugrad.autocast("cpu", dtype=gpugrad.float64):
            assert not gpugrad.is_autocast_enabled("cpu")


@pytest.mark.skipif(gpugrad.cuda.is_available(), reason="checks the machine without a GPU")
def test_cuda_amp_without_a_gpu_disables_itself():
    lin = gpugrad.nn.Linear(4, 3)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        with gpugrad.autocast("cuda"):
            assert _dt(lin(gpugrad.ones(1, 4))) == "float32"
    with pytest.warns(UserWarning, match="GradScaler is enabled, but CUDA is not available"):
        scaler = gpugrad.amp.GradScaler("cuda")
    assert not scaler.is_enabled() and scaler.get_scale() == 1.0
    loss = lin(gpugrad.ones(1, 4)).sum()
    assert scaler.scale(loss) is loss
    with pytest.warns(FutureWarning, match="is deprecated"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            gpugrad.cuda.amp.GradScaler()


def test_grad_scaler_skips_non_finite_steps_and_adapts_the_scale(device):
    lin = gpugrad.nn.Linear(3, 2).to(device)
    opt = gpugrad.optim.SGD(lin.parameters(), lr=0.1)
    scaler = gpugrad.amp.GradScaler(device, init_scale=8.0, growth_interval=2)
    x = gpugrad.randn(4, 3, device=device)
    history = []
    for step in range(4):
        opt.zero_grad()
        loss = F.mse_loss(lin(x), gpugrad.zeros(4, 2, device=device))
        if step == 1:
            loss = loss * float("inf")
        before = lin.weight.detach().clone()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy on inf * 0
            scaler.scale(loss).backward()
        if step == 0:  # the gradients come back unscaled
            scaler.unscale_(opt)
            plain = gpugrad.autograd.grad(
                F.mse_loss(lin(x), gpugrad.zeros(4, 2, device=device)), lin.weight
            )[0]
            assert_close(lin.weight.grad, plain.cpu().numpy(), rtol=1e-5, atol=1e-6)
            with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
                scaler.unscale_(opt)
        scaler.step(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            scaler.step(opt)
        scaler.update()
        moved = not np.array_equal(before.cpu().numpy(), lin.weight.detach().cpu().numpy())
        history.append((scaler.get_scale(), moved))
    # inf at step 1: no update and the scale halves; two clean steps later it doubles
    assert history == [(8.0, True), (4.0, False), (4.0, True), (8.0, True)]
    state = scaler.state_dict()
    assert state == {
        "scale": 8.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 2,
        "_growth_tracker": 0,
    }
    other = gpugrad.amp.GradScaler(device)
    other.load_state_dict(state)
    assert other.get_scale() == 8.0 and other.get_growth_interval() == 2


def test_amp_matches_torch():
    torch = pytest.importorskip("torch")

    def run(T):
        lin = T.nn.Linear(4, 3)
        with T.no_grad():
            lin.weight.copy_(T.tensor(np.arange(12.0).reshape(3, 4) / 10, dtype=T.float32))
            lin.bias.copy_(T.tensor([0.1, -0.2, 0.3], dtype=T.float32))
        x = T.tensor(np.linspace(-1, 1, 8).reshape(2, 4), dtype=T.float32)
        out = []
        with T.autocast("cpu", dtype=T.float16):
            y = lin(x)
            for v in (y, T.softmax(y, 1), F_of(T).cross_entropy(y, T.tensor([0, 1])), y + 1):
                out.append(_dt(v))
        scaler = T.amp.GradScaler("cpu", init_scale=4.0, growth_interval=1)
        opt = T.optim.SGD(lin.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            scaler.scale(F_of(T).mse_loss(lin(x), T.zeros(2, 3))).backward()
            scaler.step(opt)
            scaler.update()
            out.append((scaler.get_scale(), round(float(lin.weight.detach().sum()), 4)))
        return out

    def F_of(T):  # noqa: N802
        return T.nn.functional

    assert run(gpugrad) == run(torch)


def _chain(t):
    """The grad_fn nodes from ``t`` down its last input (the weight, for these ops)."""
    out, n = [], t.grad_fn
    while n is not None:
        out.append(n)
        nxt = [f for f, _ in n.next_functions if f is not None]
        n = nxt[-1] if nxt else None
    return out


@pytest.mark.parametrize("lib", ["gpugrad", "torch"])
def test_autocast_caches_each_weight_cast_within_a_region_as_torch(lib):
    # PyTorch's behaviour, which gpugrad must share: one ToCopyBackward0 per weight within a
    # region (nested ones too), a fresh one per region or with cache_enabled=False, none
    # reused from a no_grad cast; the flag reads back as is_autocast_cache_enabled
    T = gpugrad if lib == "gpugrad" else pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = T.tensor(rng.standard_normal((3, 4)), dtype=T.float32, requires_grad=True)
    x = T.tensor(rng.standard_normal((2, 3)), dtype=T.float32)

    def cast_node(t):
        return next(n for n in _chain(t) if n.name() == "ToCopyBackward0")

    with T.autocast("cpu", dtype=T.bfloat16):
        a, b = T.mm(x, w), T.mm(x, w)
        with T.autocast("cpu", dtype=T.bfloat16):
            c = T.mm(x, w)
        assert T.is_autocast_cache_enabled()
    assert cast_node(a) is cast_node(b) is cast_node(c)
    with T.autocast("cpu", dtype=T.bfloat16):
        d = T.mm(x, w)
    assert cast_node(d) is not cast_node(a)
    with T.autocast("cpu", dtype=T.bfloat16, cache_enabled=False):
        assert not T.is_autocast_cache_enabled()
        e, f = T.mm(x, w), T.mm(x, w)
    assert T.is_autocast_cache_enabled() and cast_node(e) is not cast_node(f)
    with T.autocast("cpu", dtype=T.bfloat16):
        with T.no_grad():
            T.mm(x, w)
        g = T.mm(x, w)
    assert g.grad_fn is not None and cast_node(g) is not None
    # the gradient through one shared cast is the sum of both uses
    with T.autocast("cpu", dtype=T.bfloat16):
        loss = (T.mm(x, w).float().sum() + T.mm(x, w).float().sum()) * 0.5
    loss.backward()
    want = np.broadcast_to(np.asarray(x).sum(0)[:, None], (3, 4))
    np.testing.assert_allclose(np.asarray(w.grad.float()), want, rtol=1e-2, atol=1e-2)


def test_autocast_cache_never_serves_a_stale_or_wrong_dtype_copy():
    # gpugrad's choice where PyTorch's cache is keyed by the tensor alone and never checks
    # versions: an in-place change of the weight casts it again, and a float16 region
    # nested in a bfloat16 one gets its own copy
    w = gpugrad.ones(3, 4, requires_grad=True)
    x = gpugrad.ones(2, 3)
    with gpugrad.autocast("cpu", dtype=gpugrad.bfloat16):
        a = gpugrad.mm(x, w)
        with gpugrad.no_grad():
            w.mul_(2)
        b = gpugrad.mm(x, w)
        with gpugrad.autocast("cpu", dtype=gpugrad.float16):
            c = gpugrad.mm(x.half(), w)
    assert a.float().sum().item() * 2 == b.float().sum().item()
    assert c.dtype == gpugrad.float16
    gpugrad.clear_autocast_cache()
    gpugrad.set_autocast_cache_enabled(False)
    try:
        assert not gpugrad.is_autocast_cache_enabled()
    finally:
        gpugrad.set_autocast_cache_enabled(True)
