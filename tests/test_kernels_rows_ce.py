"""cross_entropy and cross_entropy_backward: the NumPy references against float64 NumPy and
torch (weights, ignore_index, label smoothing, every reduction, the all-ignored mean), the
compiled (Numba) kernels against the references, and F.cross_entropy's fused path (one
kernel each way) against torch: values, gradients, second derivatives, graph, errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import gpugrad
import gpugrad.nn.functional as F
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import rows as NR

B = gpugrad.device("cpu").backend
engine = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")


def _case(n, c, reduction, smoothing, weighted, dtype, seed=0, ignore_all=False):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    t = rng.integers(0, c, n)
    t[:: max(n // 3, 2)] = -100 if n > 1 else t[0]
    if ignore_all:
        t[:] = -100
    w = rng.random(c).astype(dtype) + 0.1 if weighted else None
    g = (rng.standard_normal(n) if reduction == "none" else np.array(1.3)).astype(dtype)
    lse = np.log(np.exp(x.astype(np.float64)).sum(1)).astype(dtype)
    return g, x, t, lse, w


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(7, 5), (1, 3), (13, 1)])
def test_reference_matches_torch(reduction, smoothing, weighted, shape):
    g, x, t, lse, w = _case(*shape, reduction, smoothing, weighted, np.float64)
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(
        xt,
        torch.tensor(t),
        weight=None if w is None else torch.tensor(w),
        label_smoothing=smoothing,
        reduction=reduction,
    )
    loss.backward(torch.tensor(g))
    got = B.cross_entropy_backward.reference(g, x, t, lse, w, -100, smoothing, reduction)
    np.testing.assert_allclose(got, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_reference_all_ignored_mean_gives_zero_gradients_as_torch():
    g, x, t, lse, w = _case(4, 3, "mean", 0.0, False, np.float64, ignore_all=True)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.tensor(t)).backward()
    got = B.cross_entropy_backward.reference(g, x, t, lse, None, -100, 0.0, "mean")
    np.testing.assert_array_equal(got, xt.grad.numpy())  # zeros (the loss itself is NaN)


@engine
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_matches_reference(reduction, smoothing, weighted, dtype):
    g, x, t, lse, w = _case(301, 101, reduction, smoothing, weighted, dtype)
    assert x.size >= NR.MIN_SIZE
    got = ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, w, -100, smoothing, reduction)

    def f64(a):
        return None if a is None else a.astype(np.float64)

    want = B.cross_entropy_backward.reference(
        f64(g), f64(x), t, f64(lse), f64(w), -100, smoothing, reduction
    )
    assert got.dtype == x.dtype
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol)


@engine
def test_compiled_nan_logits_and_all_ignored():
    g, x, t, lse, _ = _case(64, 80, "mean", 0.0, False, np.float64, ignore_all=True)
    got = ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, None, -100, 0.0, "mean")
    np.testing.assert_array_equal(got, 0)
    g, x, t, lse, _ = _case(64, 80, "sum", 0.0, False, np.float64)
    x[3, 4] = np.nan
    lse[3] = np.nan
    got = ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, None, -100, 0.0, "sum")
    want = B.cross_entropy_backward.reference(g, x, t, lse, None, -100, 0.0, "sum")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


# ---- the forward kernel ----------------------------------------------------------------------
def _ce_numpy(x, t, w, ignore_index, eps, reduction):
    """float64 NumPy: PyTorch's definition, log-probabilities materialised."""
    x = x.astype(np.float64)
    n, c = x.shape
    w = np.ones(c) if w is None else w.astype(np.float64)
    m = x.max(1, keepdims=True)
    logp = x - (m + np.log(np.exp(x - m).sum(1, keepdims=True)))
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    wt = w[safe] * keep
    rows = (1 - eps) * -logp[np.arange(n), safe] * wt - eps / c * (logp * w).sum(1) * keep
    if reduction == "none":
        return rows
    with np.errstate(all="ignore"):
        return rows.sum() / wt.sum() if reduction == "mean" else rows.sum()


def _torch_ce(x, t, w, ignore_index, eps, reduction):
    return torch.nn.functional.cross_entropy(
        torch.tensor(x),
        torch.tensor(t),
        weight=None if w is None else torch.tensor(w),
        ignore_index=ignore_index,
        label_smoothing=eps,
        reduction=reduction,
    ).numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(7, 5), (1, 3), (13, 1)])
def test_forward_reference_matches_numpy_and_torch(reduction, smoothing, weighted, shape):
    _, x, t, lse, w = _case(*shape, reduction, smoothing, weighted, np.float64)
    loss, got_lse = B.cross_entropy.reference(x, t, w, -100, smoothing, reduction)
    assert loss.dtype == x.dtype and loss.shape == (() if reduction != "none" else (shape[0],))
    np.testing.assert_allclose(got_lse, lse, rtol=1e-13)
    want = _ce_numpy(x, t, w, -100, smoothing, reduction)
    np.testing.assert_allclose(loss, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss, _torch_ce(x, t, w, -100, smoothing, reduction), rtol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_forward_all_ignored_mean_is_nan_sum_is_zero(smoothing, weighted):
    _, x, t, _, w = _case(5, 4, "mean", smoothing, weighted, np.float64, ignore_all=True)
    impls = [B.cross_entropy.reference]
    if ENGINE.enabled():
        impls.append(ENGINE.compiled("cross_entropy"))
    for f in impls:
        assert np.isnan(f(x, t, w, -100, smoothing, "mean")[0])
        s = f(x, t, w, -100, smoothing, "sum")[0]
        assert s == 0 and not np.signbit(s)
        np.testing.assert_array_equal(f(x, t, w, -100, smoothing, "none")[0], 0)
    assert np.isnan(_torch_ce(x, t, w, -100, smoothing, "mean"))


def test_forward_reference_half_keeps_float32_lse():
    _, x, t, lse, _ = _case(6, 9, "mean", 0.0, False, np.float64)
    loss, got = B.cross_entropy.reference(x.astype(np.float16), t, None, -100, 0.1, "none")
    assert loss.dtype == np.float16 and got.dtype == np.float32
    want = _ce_numpy(x.astype(np.float16), t, None, -100, 0.1, "none")
    np.testing.assert_allclose(loss.astype(np.float64), want, rtol=2e-3, atol=2e-3)


@engine
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_forward_matches_reference(reduction, smoothing, weighted, dtype):
    _, x, t, lse, w = _case(301, 101, reduction, smoothing, weighted, dtype)
    assert x.size >= NR.MIN_SIZE_CE
    loss, got_lse = ENGINE.compiled("cross_entropy")(x, t, w, -100, smoothing, reduction)
    want, want_lse = B.cross_entropy.reference(
        x.astype(np.float64),
        t,
        None if w is None else w.astype(np.float64),
        -100,
        smoothing,
        reduction,
    )
    assert loss.dtype == x.dtype and got_lse.dtype == x.dtype and loss.shape == want.shape
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got_lse, want_lse, rtol=tol)
    np.testing.assert_allclose(loss, want, rtol=tol * 10, atol=tol)


@engine
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(16, 10), (1, 3), (7, 1), (40, 100)])
@pytest.mark.parametrize("ignored", ["none", "some", "all"])
def test_compiled_small_batch_serial_path_matches_reference(reduction, dtype, shape, ignored):
    # below MIN_SIZE_CE the plain case (no weight, no smoothing) runs one serial pass each way
    g, x, t, _, _ = _case(*shape, reduction, 0.0, False, dtype, ignore_all=ignored == "all")
    if ignored == "none":
        t = np.abs(t) % shape[1]
    assert x.size < NR.MIN_SIZE_CE
    assert NR._when_ce(x, t, None, -100, 0.0, reduction)
    assert NR._when_ce_backward(g, x, t, x[:, 0], None, -100, 0.0, reduction)
    x64 = x.astype(np.float64)
    want, want_lse = B.cross_entropy.reference(x64, t, None, -100, 0.0, reduction)
    loss, lse = ENGINE.compiled("cross_entropy")(x, t, None, -100, 0.0, reduction)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    assert loss.dtype == x.dtype and lse.dtype == x.dtype and loss.shape == ()
    np.testing.assert_allclose(lse, want_lse, rtol=tol)
    np.testing.assert_allclose(loss, want, rtol=tol * 10, atol=tol, equal_nan=True)
    grad = ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, None, -100, 0.0, reduction)
    want_g = B.cross_entropy_backward.reference(
        g.astype(np.float64), x64, t, want_lse, None, -100, 0.0, reduction
    )
    assert grad.dtype == x.dtype
    np.testing.assert_allclose(grad, want_g, rtol=tol * 10, atol=tol)


@engine
def test_compiled_small_batch_bad_targets_raise_and_other_cases_keep_the_reference():
    _, x, t, lse, w = _case(16, 10, "sum", 0.0, True, np.float32)
    t = np.abs(t) % 10
    t[4] = 10
    g = np.ones((), np.float32)
    with pytest.raises(IndexError, match="Target 10 is out of bounds."):
        ENGINE.compiled("cross_entropy")(x, t, None, -100, 0.0, "mean")
    with pytest.raises(IndexError, match="Target 10 is out of bounds."):
        ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, None, -100, 0.0, "sum")
    # weights, smoothing, per-row losses: small batches of those stay with the reference
    assert not NR._when_ce(x, t, w, -100, 0.0, "mean")
    assert not NR._when_ce(x, t, None, -100, 0.1, "mean")
    assert not NR._when_ce(x, t, None, -100, 0.0, "none")
    assert not NR._when_ce_backward(np.ones(16, np.float32), x, t, lse, None, -100, 0.0, "none")


@engine
def test_compiled_forward_nan_inf_rows_as_torch():
    _, x, t, _, _ = _case(64, 80, "none", 0.0, False, np.float64)
    t[:] = 1
    x[1, 5] = np.nan
    x[2, :] = -np.inf  # all -inf: NaN
    x[3, 7] = np.inf  # an inf logit: NaN
    x[4, 1] = -np.inf  # -inf at the target: inf
    x[5, 3] = -np.inf  # elsewhere: finite
    for eps in (0.0, 0.2):
        got, _ = ENGINE.compiled("cross_entropy")(x, t, None, -100, eps, "none")
        want = _torch_ce(x, t, None, -100, eps, "none")
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
        ref, _ = B.cross_entropy.reference(x, t, None, -100, eps, "none")
        np.testing.assert_allclose(ref, want, rtol=1e-12, equal_nan=True)


@engine
def test_compiled_kernels_raise_for_targets_out_of_range():
    _, x, t, lse, _ = _case(64, 80, "sum", 0.0, False, np.float32)
    t[9] = 80
    with pytest.raises(IndexError, match="Target 80 is out of bounds."):
        ENGINE.compiled("cross_entropy")(x, t, None, -100, 0.0, "sum")
    t[9] = -3
    g = np.ones((), np.float32)
    with pytest.raises(IndexError, match="Target -3 is out of bounds."):
        ENGINE.compiled("cross_entropy_backward")(g, x, t, lse, None, -100, 0.0, "sum")


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_dispatch_paths(reduction):
    # compiled (C-contiguous float32/64 above MIN_SIZE_CE) and the reference (views, half)
    _, x, t, _, w = _case(64, 129, reduction, 0.1, True, np.float32)
    want = _ce_numpy(x, t, w, -100, 0.1, reduction)
    for v, tol in [(x, 1e-5), (x[:, ::2], 1e-5), (x.T.copy().T, 1e-5), (x[:8], 1e-5)]:
        tt = np.where(t < 0, t, t % v.shape[1])[: v.shape[0]]
        got, lse = B.cross_entropy(v, tt, w[: v.shape[1]], -100, 0.1, reduction)
        ref = _ce_numpy(v, tt, w[: v.shape[1]], -100, 0.1, reduction)
        assert got.dtype == np.float32 and lse.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    got, lse = B.cross_entropy(x.astype(np.float16), t, w, -100, 0.1, reduction)
    assert got.dtype == np.float16 and lse.dtype == np.float32
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=3e-3, atol=3e-3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(7, 5), (64, 129)])
def test_checked_targets_none_equals_an_unmatched_ignore_index(
    reduction, smoothing, weighted, shape
):
    # ignore_index=None (the op checked every target is a class) gives the same bits as an
    # ignore_index no target equals, forward and backward, on every path it dispatches to
    g, x, t, lse, w = _case(*shape, reduction, smoothing, weighted, np.float32)
    t = np.abs(t) % shape[1]
    fwd = [B.cross_entropy, B.cross_entropy.reference]
    bwd = [B.cross_entropy_backward, B.cross_entropy_backward.reference]
    if ENGINE.enabled():
        fwd.append(ENGINE.compiled("cross_entropy"))
        bwd.append(ENGINE.compiled("cross_entropy_backward"))
    for f in fwd:
        got, got_lse = f(x, t, w, None, smoothing, reduction)
        want, want_lse = f(x, t, w, -100, smoothing, reduction)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_lse, want_lse)
    for f in bwd:
        got = f(g, x, t, lse, w, None, smoothing, reduction)
        np.testing.assert_array_equal(got, f(g, x, t, lse, w, -100, smoothing, reduction))


# ---- F.cross_entropy: the fused path --------------------------------------------------------
CASES = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(weight=True),
    dict(weight=True, reduction="none"),
    dict(ignore_index=2),
    dict(ignore_index=-100, ignored=True),
    dict(label_smoothing=0.2),
    dict(label_smoothing=0.2, weight=True, ignored=True),
    dict(label_smoothing=0.2, weight=True, reduction="none", ignored=True),
    dict(label_smoothing=0.2, reduction="sum", ignore_index=1),
]


def _op_case(lib, device, n, c, dtype, kw, noncontig=False, seed=1):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, 2 * c if noncontig else c)) * 2
    t = rng.integers(0, c, n)
    if kw.get("ignored"):
        t[::3] = -100
    dev = {} if lib is torch else {"device": device}
    x = lib.tensor(data, dtype=getattr(lib, dtype), **dev)
    x = (x[:, ::2] if noncontig else x).detach().requires_grad_(True)
    w = (
        lib.tensor(rng.random(c) + 0.1, dtype=getattr(lib, dtype), **dev)
        if kw.get("weight")
        else None
    )
    args = {k: v for k, v in kw.items() if k not in ("weight", "ignored")}
    return x, lib.tensor(t, **dev), w, args


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "cpu") else t.detach().numpy()


@pytest.mark.parametrize("kw", CASES, ids=[str(k) for k in CASES])
@pytest.mark.parametrize("size", [(7, 5), (1, 1), (70, 130)])
@pytest.mark.parametrize("noncontig", [False, True])
def test_op_values_and_gradients_match_torch(device, kw, size, noncontig):
    dtype = "float64" if size != (70, 130) else "float32"
    out = []
    for lib in (torch, gpugrad):
        x, t, w, args = _op_case(lib, device, *size, dtype, kw, noncontig)
        loss = lib.nn.functional.cross_entropy(x, t, weight=w, **args)
        g = np.random.default_rng(2).standard_normal(loss.shape)
        loss.backward(
            lib.tensor(g, dtype=loss.dtype, **({} if lib is torch else {"device": device}))
        )
        out.append((loss, x.grad, loss.grad_fn.name(), loss.dtype))
    (lt, gt, nt, dt_t), (lg, gg, ng, dt_g) = out
    assert ng == nt and str(dt_g).split(".")[1] == str(dt_t).split(".")[1]
    tol = 1e-5 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(_np(lg), _np(lt), rtol=tol, atol=tol, equal_nan=True)
    np.testing.assert_allclose(_np(gg), _np(gt), rtol=tol, atol=tol)


@pytest.mark.parametrize("kw", CASES[::2], ids=[str(k) for k in CASES[::2]])
def test_op_gradcheck_and_second_derivatives(device, kw):
    x, t, w, args = _op_case(gpugrad, device, 6, 4, "float64", kw)

    def f(a):
        return gpugrad.nn.functional.cross_entropy(a, t, weight=w, **args)

    assert gpugrad.autograd.gradcheck(f, (x,))
    assert gpugrad.autograd.gradgradcheck(f, (x,))
    # the second derivative against torch's
    xt, tt, wt, _ = _op_case(torch, device, 6, 4, "float64", kw)
    hs = []
    for lib, a, tg, ww in ((torch, xt, tt, wt), (gpugrad, x, t, w)):
        loss = lib.nn.functional.cross_entropy(a, tg, weight=ww, **args).sum()
        (g,) = lib.autograd.grad(loss, a, create_graph=True)
        (h,) = lib.autograd.grad((g * g.detach().cos()).sum(), a)
        hs.append(_np(h))
    np.testing.assert_allclose(hs[1], hs[0], rtol=1e-10, atol=1e-12)


def test_op_graph_names_and_retain_graph(device):
    x, t, w, _ = _op_case(gpugrad, device, 8, 6, "float32", dict(weight=True))
    loss = F.cross_entropy(x, t, weight=w)
    ls = loss.grad_fn.next_functions[0][0]
    assert (loss.grad_fn.name(), ls.name()) == ("NllLossBackward0", "LogSoftmaxBackward0")
    assert ls.next_functions[0][0].name() == "AccumulateGrad"
    assert repr(ls).startswith("<LogSoftmaxBackward0 object")
    smooth = F.cross_entropy(x, t, label_smoothing=0.1)
    assert smooth.grad_fn.name() == "AddBackward0"
    loss.backward(retain_graph=True)
    first = _np(x.grad).copy()
    loss.backward()
    np.testing.assert_allclose(_np(x.grad), 2 * first, rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    # saved_tensors: log_softmax's output, made on demand
    y = F.cross_entropy(x, t).grad_fn.next_functions[0][0].saved_tensors[0]
    np.testing.assert_allclose(_np(y), _np(F.log_softmax(x, 1)), rtol=1e-6, atol=1e-6)


def test_op_hooks_on_the_log_softmax_node_see_its_gradient(device):
    x, t, _, _ = _op_case(gpugrad, device, 5, 4, "float64", {})
    seen = []
    loss = F.cross_entropy(x, t, label_smoothing=0.1)
    loss.grad_fn.next_functions[0][0].register_prehook(lambda g: seen.append(g[0]) or None)
    loss.backward()
    xt, tt, _, _ = _op_case(torch, device, 5, 4, "float64", {})
    lt = torch.nn.functional.cross_entropy(xt, tt, label_smoothing=0.1)
    lt.backward()
    np.testing.assert_allclose(_np(x.grad), xt.grad.numpy(), rtol=1e-12)
    assert len(seen) == 1 and tuple(seen[0].shape) == (5, 4)


def test_op_errors_as_torch(device):
    x, t, _, _ = _op_case(gpugrad, device, 3, 4, "float32", {})
    with pytest.raises(IndexError, match="Target 5 is out of bounds."):
        F.cross_entropy(x, gpugrad.tensor([0, 5, 1], device=device)).cpu()  # cuda: at the sync
    with pytest.raises(IndexError, match="Target -1 is out of bounds."):
        F.cross_entropy(x, gpugrad.tensor([0, -1, 1], device=device), label_smoothing=0.1).cpu()
    with pytest.raises(RuntimeError, match="defined either for all 4 classes or no classes"):
        F.cross_entropy(x, t, weight=gpugrad.ones(3, device=device))


def test_op_without_numba_matches_torch():
    code = (
        "import numpy as np, torch, gpugrad\n"
        "B = gpugrad.device('cpu').backend\n"
        "assert not hasattr(B.cross_entropy, 'reference')\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((300, 40)); t = rng.integers(0, 40, 300); t[::5] = -100\n"
        "w = rng.random(40) + 0.1\n"
        "out = []\n"
        "for m in (torch, gpugrad):\n"
        "    a = m.tensor(x, requires_grad=True)\n"
        "    loss = m.nn.functional.cross_entropy(a, m.tensor(t), weight=m.tensor(w),\n"
        "                                         label_smoothing=0.1)\n"
        "    loss.backward()\n"
        "    out.append([loss.detach().numpy(), a.grad.numpy()])\n"
        "for a, b in zip(*out):\n"
        "    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "GPUGRAD_NUMBA": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
