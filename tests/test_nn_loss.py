"""Loss functions and modules against NumPy float64 references, and by gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from utils import assert_close, check_grad, rnd, t

import gpugrad as torch
import gpugrad.nn as nn
import gpugrad.nn.functional as F

REDUCTIONS = ["mean", "sum", "none"]


def _reduce(x, reduction):
    return x.mean() if reduction == "mean" else x.sum() if reduction == "sum" else x


def _log_softmax(x, axis=1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


def ce_ref(x, target, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """PyTorch's cross entropy for class indices, written out in NumPy."""
    logp = _log_softmax(x)
    c = x.shape[1]
    w = np.ones(c) if weight is None else weight
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    picked = np.take_along_axis(logp, safe[:, None], 1)[:, 0]
    nll = -picked * w[safe] * keep
    smooth = -(logp * w).sum(1) * keep
    if reduction == "mean":
        denom = (w[safe] * keep).sum()
        nll_r, smooth_r = nll.sum() / denom, smooth.sum() / denom
    else:
        nll_r, smooth_r = _reduce(nll, reduction), _reduce(smooth, reduction)
    return (1 - smoothing) * nll_r + smoothing / c * smooth_r


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_class_indices(device, reduction, smoothing, weighted):
    x = rnd(5, 4)
    target = np.array([0, 3, -100, 1, 2])
    w = np.array([0.5, 1.0, 2.0, 1.5]) if weighted else None
    kw = dict(
        weight=t(w, device) if weighted else None, reduction=reduction, label_smoothing=smoothing
    )
    tgt = torch.tensor(target, device=device)
    assert_close(
        F.cross_entropy(t(x, device), tgt, **kw), ce_ref(x, target, w, -100, reduction, smoothing)
    )
    check_grad(lambda x: F.cross_entropy(x, tgt, **kw), x, device=device)
    mod = nn.CrossEntropyLoss(weight=kw["weight"], reduction=reduction, label_smoothing=smoothing)
    assert_close(mod(t(x, device), tgt), ce_ref(x, target, w, -100, reduction, smoothing))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(device, reduction):
    x = rnd(3, 4)
    p = np.random.default_rng(1).dirichlet(np.ones(4), 3)
    w = np.array([0.5, 1.0, 2.0, 1.5])
    for smoothing in (0.0, 0.1):
        q = p * (1 - smoothing) + smoothing / 4
        ref = _reduce(-(_log_softmax(x) * q * w).sum(1), reduction)
        got = F.cross_entropy(
            t(x, device),
            t(p, device),
            weight=t(w, device),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        assert_close(got, ref)
    check_grad(lambda x, p: F.cross_entropy(x, p, reduction=reduction), x, p, device=device)


def test_cross_entropy_spatial_and_unbatched(device):
    x = rnd(2, 3, 4)  # (N, C, d)
    target = np.random.default_rng(2).integers(0, 3, (2, 4))
    logp = _log_softmax(x)
    ref = -np.take_along_axis(logp, target[:, None], 1).mean()
    assert_close(F.cross_entropy(t(x, device), torch.tensor(target, device=device)), ref)
    v = rnd(4)
    assert_close(
        F.cross_entropy(t(v, device), torch.tensor(2, device=device)), -_log_softmax(v[None])[0, 2]
    )


def test_cross_entropy_errors(device):
    x = t(rnd(3, 4), device)
    with pytest.raises(
        ValueError, match="Expected input batch_size \\(3\\) to match target batch_size \\(4\\)."
    ):
        F.cross_entropy(x, torch.tensor([1, 2, 3, 0], device=device))
    with pytest.raises(IndexError, match="Target 7 is out of bounds."):
        F.cross_entropy(x, torch.tensor([1, 2, 7], device=device)).cpu()  # cuda: at the sync
    with pytest.raises(
        RuntimeError, match="expected target dtype to be Long or Byte, but got Double"
    ):
        F.cross_entropy(x, t([1.0, 2.0, 3.0], device))
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point"):
        F.cross_entropy(x, t(rnd(3, 4), device), ignore_index=1)
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.cross_entropy(x, torch.tensor([1, 2, 3], device=device), reduction="foo")
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, torch.tensor([1, 2, 3], device=device), label_smoothing=1.5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(device, reduction):
    x = rnd(4, 3)
    target = np.array([2, 0, 1, -100])
    w = np.array([1.0, 2.0, 0.5])
    keep = target != -100
    safe = np.where(keep, target, 0)
    rows = -x[np.arange(4), safe] * w[safe] * keep
    ref = rows.sum() / (w[safe] * keep).sum() if reduction == "mean" else _reduce(rows, reduction)
    tgt = torch.tensor(target, device=device)
    assert_close(nn.NLLLoss(weight=t(w, device), reduction=reduction)(t(x, device), tgt), ref)
    check_grad(lambda x: F.nll_loss(x, tgt, reduction=reduction), x, device=device)


def test_nll_loss_zero_is_positive_zero(device):
    """A zero loss prints as PyTorch's ``tensor(0.)``, not ``tensor(-0.)`` (the reduced sum of
    -0.0 terms starts from +0.0 in PyTorch); 'none' keeps the per-row -0. as PyTorch does."""
    tgt = torch.tensor([0, 1], device=device)
    for kw in ({}, {"reduction": "sum"}, {"weight": torch.ones(3, device=device)}):
        loss = F.nll_loss(torch.zeros(2, 3, device=device), tgt, **kw)
        assert repr(loss).startswith("tensor(0.") and not np.signbit(loss.item())
    rows = F.nll_loss(torch.zeros(2, 3, device=device), tgt, reduction="none")
    assert np.signbit(rows.cpu().numpy()).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(device, reduction):
    x, y = rnd(3, 4), rnd(3, 4)
    d = x - y
    cases = [
        (nn.MSELoss(reduction=reduction), d**2),
        (nn.L1Loss(reduction=reduction), np.abs(d)),
        (
            nn.HuberLoss(reduction=reduction, delta=0.5),
            np.where(np.abs(d) < 0.5, 0.5 * d**2, 0.5 * (np.abs(d) - 0.25)),
        ),
        (
            nn.SmoothL1Loss(reduction=reduction, beta=0.5),
            np.where(np.abs(d) < 0.5, 0.5 * d**2 / 0.5, np.abs(d) - 0.25),
        ),
    ]
    for mod, elem in cases:
        assert_close(mod(t(x, device), t(y, device)), _reduce(elem, reduction))
        check_grad(mod, x, y, device=device)


def test_weighted_l1_mse_and_legacy_flags(device):
    x, y, w = rnd(2, 3), rnd(2, 3), rnd(2, 3, positive=True)
    assert_close(
        F.mse_loss(t(x, device), t(y, device), weight=t(w, device)),
        ((x - y) ** 2 * w).sum() / w.sum(),
    )
    assert_close(
        F.l1_loss(t(x, device), t(y, device), weight=t(w, device), reduction="sum"),
        (np.abs(x - y) * w).sum(),
    )
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        out = F.mse_loss(t(x, device), t(y, device), size_average=False)
    assert_close(out, ((x - y) ** 2).sum())
    with pytest.warns(UserWarning, match="Using a target size"):
        F.mse_loss(t(x, device), t(y[:, :1], device))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(device, reduction):
    p = np.random.default_rng(3).uniform(0.05, 0.95, (3, 4))
    y = np.random.default_rng(4).uniform(0, 1, (3, 4))
    w = rnd(4, positive=True)
    ref = -(y * np.log(p) + (1 - y) * np.log(1 - p)) * w
    assert_close(
        nn.BCELoss(weight=t(w, device), reduction=reduction)(t(p, device), t(y, device)),
        _reduce(ref, reduction),
    )
    check_grad(lambda p, y: F.binary_cross_entropy(p, y, reduction=reduction), p, y, device=device)


def test_bce_clamps_log_and_validates(device):
    p = t([0.0, 1.0, 0.5], device, requires_grad=True)
    y = t([1.0, 0.0, 1.0], device)
    loss = F.binary_cross_entropy(p, y, reduction="sum")
    assert_close(loss, 200 + np.log(2))
    loss.backward()
    assert np.isfinite(p.grad.cpu().numpy()).all()
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(t([1.5], device), t([1.0], device))
    with pytest.raises(ValueError, match="Using a target size"):
        F.binary_cross_entropy(t([0.5, 0.5], device), t([0.0, 1.0, 1.0], device))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(device, reduction):
    x, y = rnd(3, 4), np.random.default_rng(5).uniform(0, 1, (3, 4))
    pw, w = rnd(4, positive=True), rnd(4, positive=True)
    log_sig, log_1m = -np.log1p(np.exp(-x)), -np.log1p(np.exp(x))
    ref = -(pw * y * log_sig + (1 - y) * log_1m) * w
    mod = nn.BCEWithLogitsLoss(weight=t(w, device), pos_weight=t(pw, device), reduction=reduction)
    assert_close(mod(t(x, device), t(y, device)), _reduce(ref, reduction))
    check_grad(
        lambda x, y: F.binary_cross_entropy_with_logits(
            x, y, pos_weight=t(pw, device), reduction=reduction
        ),
        x,
        y,
        device=device,
    )
    # stable for huge logits, exact gradient sigmoid(0) - y at 0
    big = F.binary_cross_entropy_with_logits(t([1000.0, -1000.0], device), t([0.0, 1.0], device))
    assert_close(big, 1000.0)
    z = t(np.zeros(2), device, requires_grad=True)
    F.binary_cross_entropy_with_logits(z, t([0.0, 1.0], device), reduction="sum").backward()
    assert_close(z.grad, [0.5, -0.5])


def test_kl_div(device):
    x = _log_softmax(rnd(3, 4))
    p = np.random.default_rng(6).dirichlet(np.ones(4), 3)
    ref = (p * (np.log(p) - x)).sum() / 3
    assert_close(F.kl_div(t(x, device), t(p, device), reduction="batchmean"), ref)
    assert_close(
        nn.KLDivLoss(reduction="sum", log_target=True)(t(x, device), t(np.log(p), device)), ref * 3
    )


def _num_grad(f, x, up, eps=1e-6):
    """Central differences of sum(f(x) * up) in float64."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = ((f(xp) - f(xm)) * up).sum() / (2 * eps)
    return g


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_backward_plain_and_general_paths_agree(device, reduction, weighted, ignore):
    # loss.backward() runs NllLoss and LogSoftmax as one array formula; autograd.grad, and a
    # retain_grad() on the log-probabilities, take the node-by-node path: all three must give
    # the finite-difference gradient.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 5))
    target = rng.integers(0, 5, 6)
    if ignore:
        target[2] = -100
    w = rng.uniform(0.5, 2.0, 5) if weighted else None
    up = rng.standard_normal(6) if reduction == "none" else np.array(rng.uniform(0.5, 2.0))
    tgt = torch.tensor(target, device=device)
    kw = dict(weight=t(w, device) if weighted else None, reduction=reduction)
    want = _num_grad(lambda a: ce_ref(a, target, w, -100, reduction), x, up)

    xa = t(x, device, requires_grad=True)
    F.cross_entropy(xa, tgt, **kw).backward(t(up, device))
    assert_close(xa.grad, want, rtol=1e-6, atol=1e-8)

    xb = t(x, device, requires_grad=True)
    (gb,) = torch.autograd.grad(F.cross_entropy(xb, tgt, **kw), xb, t(up, device))
    assert_close(gb, want, rtol=1e-6, atol=1e-8)

    xc = t(x, device, requires_grad=True)
    logp = F.log_softmax(xc, 1)
    logp.retain_grad()  # observes the gradient between the two nodes: no fusion
    F.nll_loss(logp, tgt, **kw).backward(t(up, device))
    assert_close(xc.grad, want, rtol=1e-6, atol=1e-8)
    assert logp.grad is not None


def test_cross_entropy_backward_when_log_probs_have_two_consumers(device):
    x = rnd(4, 3)
    tgt = torch.tensor([0, 2, 1, 2], device=device)
    xa = t(x, device, requires_grad=True)
    logp = F.log_softmax(xa, 1)
    (F.nll_loss(logp, tgt) + logp.sum() * 0.5).backward()  # LogSoftmax has two inputs
    xb = t(x, device, requires_grad=True)
    logp_b = F.log_softmax(xb, 1)
    (gb,) = torch.autograd.grad(F.nll_loss(logp_b, tgt) + logp_b.sum() * 0.5, xb)
    assert_close(xa.grad, gb.detach().cpu().numpy())


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_cross_entropy_backward_keeps_dtype(device, dtype):
    dt = getattr(torch, dtype)
    data = rnd(8, 5)
    target = np.array([0, 1, 2, 3, 4, 0, 1, 2])
    x = torch.tensor(data, dtype=dt, device=device, requires_grad=True)
    F.cross_entropy(x, torch.tensor(target, device=device)).backward()
    assert x.grad.dtype == dt
    want = _num_grad(lambda a: ce_ref(a, target), data.astype(dtype).astype(np.float64), 1.0)
    tol = 1e-3 if dtype == "float16" else 1e-5
    assert_close(x.grad.to(torch.float64), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_records_the_two_nodes_of_log_softmax_and_nll(device, reduction, dtype):
    # cross_entropy records LogSoftmaxBackward0 and NllLossBackward0 in one go for 2-D
    # logits and in-range targets: it must be indistinguishable from the two calls, values,
    # graph, gradients and second derivatives alike.
    from gpugrad.autograd.graph import saved_tensors_hooks

    dt = getattr(torch, dtype)
    data = rnd(7, 5)
    target = torch.tensor([0, 4, 1, 1, 3, 2, 0], device=device)

    def run(fused: bool):
        x = torch.tensor(data, dtype=dt, device=device, requires_grad=True)
        if fused:
            loss = F.cross_entropy(x, target, reduction=reduction)
        else:  # saved-tensor hooks take the two-call path
            with saved_tensors_hooks(lambda v: v, lambda v: v):
                loss = F.cross_entropy(x, target, reduction=reduction)
        ls = loss.grad_fn.next_functions[0][0]
        graph = (
            loss.grad_fn.name(),
            ls.name(),
            loss.grad_fn.next_functions[1],
            ls.next_functions[0][0].name(),
            ls.saved_tensors[0].shape,
        )
        loss.backward(retain_graph=True)
        (g,) = torch.autograd.grad(loss, x, create_graph=True)
        (gg,) = torch.autograd.grad((g * g).sum(), x)
        return loss, graph, g, gg, x.grad

    fused, plain = run(True), run(False)
    # the fused kernel may be the compiled one (one pass, float64 row sums): an ulp or two
    # from the two calls' NumPy steps, not always the same bits
    rt = 1e-6 if dtype == "float32" else 1e-14
    assert fused[0].dtype == dt
    np.testing.assert_allclose(fused[0].item(), plain[0].item(), rtol=rt)
    names = ("NllLossBackward0", "LogSoftmaxBackward0", (None, 0), "AccumulateGrad")
    assert fused[1] == plain[1] == (*names, torch.Size([7, 5]))
    for a, b in zip(fused[2:], plain[2:]):
        a, b = a.detach().cpu().numpy(), b.detach().cpu().numpy()
        np.testing.assert_allclose(a, b, rtol=rt, atol=rt * np.abs(b).max())
    want = _num_grad(lambda a: ce_ref(a, target.cpu().numpy(), None, -100, reduction), data, 1.0)
    tol = 1e-5 if dtype == "float32" else 1e-8
    assert_close(fused[4].to(torch.float64), want, rtol=tol, atol=tol)


def test_cross_entropy_fast_case_falls_back_for_what_it_does_not_cover(device):
    x = t(rnd(3, 4), device, requires_grad=True)
    with pytest.raises(IndexError, match="Target 4 is out of bounds."):
        F.cross_entropy(x, torch.tensor([0, 4, 1], device=device)).cpu()  # cuda: at the sync
    with pytest.raises(
        RuntimeError, match="expected target dtype to be Long or Byte, but got Float"
    ):
        torch.nn.functional.nll_loss(x, torch.tensor([0.0, 1.0, 1.0], device=device))
    ignored = F.cross_entropy(x, torch.tensor([0, -100, 1], device=device))
    kept = F.cross_entropy(x[[0, 2]], torch.tensor([0, 1], device=device))
    assert_close(ignored, kept.item())
    with pytest.raises(ValueError, match="Expected input batch_size \\(3\\) to match target"):
        F.cross_entropy(x, torch.tensor([0, 1], device=device))
