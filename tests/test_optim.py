"""Optimizers: several steps against closed-form NumPy references, and against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import optim
from tests.utils import assert_close, host, rnd, t

STEPS = 5
SHAPES = [(3, 4), (4,)]


def grads_for(shapes, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


# ---- closed-form references (float64 NumPy, written from the published algorithms) ------------
def sgd_ref(p, grads, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    buf = None
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def adam_ref(
    p,
    grads,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
):
    b1, b2 = betas
    m = v = vmax = np.zeros_like(p)
    for step, g in enumerate(grads, 1):
        g = -g if maximize else g
        if weight_decay:
            if decoupled:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**step)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2**step)
        else:
            v_hat = v / (1 - b2**step)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def adamw_ref(p, grads, weight_decay=1e-2, **kw):
    return adam_ref(p, grads, weight_decay=weight_decay, decoupled=True, **kw)


def rmsprop_ref(
    p,
    grads,
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0,
    momentum=0,
    centered=False,
    maximize=False,
):
    sq = np.zeros_like(p)
    ga = np.zeros_like(p)
    buf = np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            ga = alpha * ga + (1 - alpha) * g
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


def adagrad_ref(
    p,
    grads,
    lr=1e-2,
    lr_decay=0,
    weight_decay=0,
    initial_accumulator_value=0,
    eps=1e-10,
    maximize=False,
):
    s = np.full_like(p, initial_accumulator_value)
    for step, g in enumerate(grads, 1):
        g = -g if maximize else g
        g = g + weight_decay * p
        clr = lr / (1 + (step - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p


def _decay(p, g, lr, wd, decoupled):
    """Weight decay: L2 into the gradient, or (decoupled) shrink the weights first."""
    if decoupled:
        return p * (1 - lr * wd), g
    return p, g + wd * p


def adamax_ref(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False):
    m, u = np.zeros_like(p), np.zeros_like(p)
    for step, g in enumerate(grads, 1):
        g = (-g if maximize else g) + weight_decay * p
        m = m + (1 - betas[0]) * (g - m)
        u = np.maximum(u * betas[1], np.abs(g) + eps)
        p = p - lr / (1 - betas[0] ** step) * m / u
    return p


def nadam_ref(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
              momentum_decay=4e-3, decoupled_weight_decay=False):  # fmt: skip
    m, v, prod = np.zeros_like(p), np.zeros_like(p), np.float32(1.0)
    for step, g in enumerate(grads, 1):
        p, g = _decay(p, g, lr, weight_decay, decoupled_weight_decay)
        mu = betas[0] * (1 - 0.5 * 0.96 ** (step * momentum_decay))
        mu_next = betas[0] * (1 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
        prod = np.float32(prod * np.float32(mu))  # float32, as PyTorch keeps it
        m = m + (1 - betas[0]) * (g - m)
        v = v * betas[1] + (1 - betas[1]) * g * g
        denom = np.sqrt(v / (1 - betas[1] ** step)) + eps
        p = p - lr * (1 - mu) / (1 - float(prod)) * g / denom
        p = p - lr * mu_next / (1 - float(prod) * mu_next) * m / denom
    return p


def radam_ref(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
              decoupled_weight_decay=False):  # fmt: skip
    m, v = np.zeros_like(p), np.zeros_like(p)
    rho_inf = 2 / (1 - betas[1]) - 1
    for step, g in enumerate(grads, 1):
        p, g = _decay(p, g, lr, weight_decay, decoupled_weight_decay)
        m = m + (1 - betas[0]) * (g - m)
        v = v * betas[1] + (1 - betas[1]) * g * g
        bc2 = 1 - betas[1] ** step
        m_hat = m / (1 - betas[0] ** step)
        rho = rho_inf - 2 * step * betas[1] ** step / bc2
        if rho > 5:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            p = p - m_hat * lr * np.sqrt(bc2) / (np.sqrt(v) + eps) * r
        else:
            p = p - m_hat * lr
    return p


def adadelta_ref(p, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False):
    sq, acc = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = (-g if maximize else g) + weight_decay * p
        sq = sq * rho + (1 - rho) * g * g
        delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
        acc = acc * rho + (1 - rho) * delta * delta
        p = p - lr * delta
    return p


CASES = [
    ("SGD", dict(lr=0.1), sgd_ref),
    ("SGD", dict(lr=0.1, momentum=0.9), sgd_ref),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1), sgd_ref),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), sgd_ref),
    ("SGD", dict(lr=0.1, momentum=0.5, maximize=True), sgd_ref),
    ("Adam", dict(lr=0.01), adam_ref),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, eps=1e-6), adam_ref),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True), adam_ref),
    ("AdamW", dict(lr=0.01), adamw_ref),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True), adamw_ref),
    ("RMSprop", dict(lr=0.01), rmsprop_ref),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1), rmsprop_ref),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, maximize=True), rmsprop_ref),
    ("Adagrad", dict(lr=0.1), adagrad_ref),
    (
        "Adagrad",
        dict(lr=0.1, lr_decay=0.1, weight_decay=0.05, initial_accumulator_value=0.5),
        adagrad_ref,
    ),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-6), adagrad_ref),
    ("Adamax", dict(lr=0.01), adamax_ref),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True), adamax_ref),
    ("NAdam", dict(lr=0.01), nadam_ref),
    ("NAdam", dict(lr=0.01, weight_decay=0.05, momentum_decay=0.01), nadam_ref),
    ("NAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True), nadam_ref),
    ("RAdam", dict(lr=0.01), radam_ref),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1), radam_ref),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), radam_ref),
    ("Adadelta", dict(), adadelta_ref),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True), adadelta_ref),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw, _ in CASES]


def run_gpugrad(name, kw, p0s, grads, device):
    params = [t(p, device, requires_grad=True) for p in p0s]
    opt = getattr(optim, name)(params, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = t(g, device)
        opt.step()
    return params, opt


@pytest.mark.parametrize("name,kw,ref", CASES, ids=IDS)
def test_matches_closed_form(device, name, kw, ref):
    p0s = [rnd(*s) for s in SHAPES]
    grads = grads_for(SHAPES)
    params, _ = run_gpugrad(name, kw, p0s, grads, device)
    for i, p in enumerate(params):
        expected = ref(p0s[i], [g[i] for g in grads], **kw)
        assert_close(p, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw,ref", CASES, ids=IDS)
def test_matches_torch(device, name, kw, ref):
    torch = pytest.importorskip("torch")
    p0s = [rnd(*s) for s in SHAPES]
    grads = grads_for(SHAPES, seed=3)
    params, opt = run_gpugrad(name, kw, p0s, grads, device)
    tparams = [torch.tensor(p, requires_grad=True) for p in p0s]
    topt = getattr(torch.optim, name)(tparams, **kw)
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(host(p), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    # Same state layout (keys, step counts) as PyTorch.
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert ours["state"].keys() == theirs["state"].keys()
    for k in theirs["state"]:
        assert ours["state"][k].keys() == theirs["state"][k].keys()
        for key, tv in theirs["state"][k].items():
            np.testing.assert_allclose(host(ours["state"][k][key]), tv.numpy(), rtol=1e-12)
    assert ours["param_groups"][0].keys() == theirs["param_groups"][0].keys()


def test_float32_params_stay_float32(device):
    p = t(rnd(5), device, requires_grad=True, dtype=gpugrad.float32)
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"):
        opt = getattr(optim, name)([p], lr=0.01)
        p.grad = t(rnd(5), device, dtype=gpugrad.float32)
        opt.step()
        assert p.dtype == gpugrad.float32
        for v in opt.state[p].values():
            if v.dim():
                assert v.dtype == gpugrad.float32 and v.device == p.device


def test_params_without_grad_are_skipped(device):
    a = t(rnd(3), device, requires_grad=True)
    b = t(rnd(3), device, requires_grad=True)
    b0 = host(b).copy()
    for cls in (optim.SGD, optim.Adam, optim.RMSprop):
        opt = cls([a, b], lr=0.1, momentum=0.9) if cls is not optim.Adam else cls([a, b])
        a.grad = t(rnd(3), device)
        b.grad = None
        opt.step()
        np.testing.assert_array_equal(host(b), b0)
        assert b not in opt.state or not opt.state[b]


def test_step_bumps_version_and_records_nothing(device):
    p = t(rnd(3), device, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = t(rnd(3), device)
    v = p._version
    opt.step()
    assert p._version == v + 1
    assert p.is_leaf and p.grad_fn is None and p.requires_grad


def test_zero_grad(device):
    p = t(rnd(3), device, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = t(rnd(3), device)
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and not host(p.grad).any()
    opt.zero_grad()
    assert p.grad is None


def test_closure_returns_loss():
    p = t(rnd(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    before = host(p).copy()
    loss = opt.step(closure)
    assert float(loss) == pytest.approx(float((before**2).sum()))
    assert_close(p, before - 0.1 * 2 * before)


def test_param_groups_have_own_hyperparameters():
    a, b = t(rnd(2), requires_grad=True), t(rnd(2), requires_grad=True)
    a0, b0 = host(a).copy(), host(b).copy()
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 1.0}], lr=0.1, momentum=0.0)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 1.0
    assert opt.param_groups[1]["params"] == [b]
    a.grad, b.grad = t(np.ones(2)), t(np.ones(2))
    opt.step()
    assert_close(a, a0 - 0.1)
    assert_close(b, b0 - 1.0)
    c = t(rnd(2), requires_grad=True)
    opt.add_param_group({"params": [c], "momentum": 0.9})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.9


def test_named_params():
    a = t(rnd(2), requires_grad=True)
    opt = optim.Adam([("w", a)])
    assert opt.param_groups[0]["params"] == [a]
    assert opt.param_groups[0]["param_names"] == ["w"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w"]


def test_constructor_errors():
    p = t(rnd(2), requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}])
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([p, 1.0])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.AdamW([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid momentum value"):
        optim.SGD([p], momentum=-0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p])


def test_defaults_match_torch():
    torch = pytest.importorskip("torch")
    p = t(rnd(2), requires_grad=True)
    tp = torch.zeros(2, requires_grad=True)
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam",
                 "Adadelta"):  # fmt: skip
        ours = getattr(optim, name)([p]).defaults
        theirs = getattr(torch.optim, name)([tp]).defaults
        assert ours == theirs, name


# ---- state dicts ------------------------------------------------------------------------------
def test_state_dict_layout(device):
    a, b = t(rnd(2, 2), device, requires_grad=True), t(rnd(3), device, requires_grad=True)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1}])
    a.grad, b.grad = t(rnd(2, 2), device), t(rnd(3), device)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.1
    assert set(sd["state"]) == {0, 1}
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert float(sd["state"][0]["step"]) == 1.0
    assert sd["state"][0]["step"].device == gpugrad.device("cpu")
    assert sd["state"][1]["exp_avg"].shape == (3,)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("SGD", dict(lr=0.1, momentum=0.9)),
        ("AdamW", dict(lr=0.01, amsgrad=True)),
        ("RMSprop", dict(centered=True, momentum=0.5)),
        ("Adagrad", dict(lr_decay=0.01)),
    ],
)
def test_load_state_dict_resumes_identically(device, name, kw):
    p0s = [rnd(*s) for s in SHAPES]
    grads = grads_for(SHAPES, steps=6)
    full, _ = run_gpugrad(name, kw, p0s, grads, device)
    # Three steps, state dict out, a fresh optimizer continues for three more.
    half, opt = run_gpugrad(name, kw, p0s, grads[:3], device)
    sd = opt.state_dict()
    params = [t(host(p), device, requires_grad=True) for p in half]
    opt2 = getattr(optim, name)(params, **kw)
    opt2.load_state_dict(sd)
    assert opt2.state[params[0]].keys() == opt.state[half[0]].keys()
    for gs in grads[3:]:
        for p, g in zip(params, gs):
            p.grad = t(g, device)
        opt2.step()
    for p, q in zip(params, full):
        np.testing.assert_array_equal(host(p), host(q))
    # Loading copies: the source optimizer's state is untouched by the second one's steps.
    assert float(opt.state[half[0]].get("step", gpugrad.tensor(3.0))) == 3.0


def test_load_state_dict_validates_before_changing(device):
    a, b = t(rnd(2), device, requires_grad=True), t(rnd(3), device, requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = t(rnd(2), device), t(rnd(3), device)
    opt.step()
    good = opt.state_dict()
    other = optim.SGD([t(rnd(2), device, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        other.load_state_dict(good)
    two_groups = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.5)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        two_groups.load_state_dict(good)
    swapped = optim.SGD([b, a], lr=0.5, momentum=0.9)
    with pytest.raises(ValueError, match="momentum_buffer.*shape"):
        swapped.load_state_dict(good)
    assert swapped.param_groups[0]["lr"] == 0.5 and len(swapped.state) == 0


def test_load_state_dict_casts_to_param_device_and_dtype(device):
    p = t(rnd(3), device, requires_grad=True, dtype=gpugrad.float32)
    src = optim.Adam([t(rnd(3), "cpu", requires_grad=True)])
    src.param_groups[0]["params"][0].grad = t(rnd(3))
    src.step()
    opt = optim.Adam([p])
    opt.load_state_dict(src.state_dict())
    st = opt.state[p]
    assert st["exp_avg"].dtype == gpugrad.float32 and st["exp_avg"].device == p.device
    assert st["step"].device == gpugrad.device("cpu")
    p.grad = t(rnd(3), device, dtype=gpugrad.float32)
    opt.step()
    assert float(st["step"]) == 2.0


def test_step_hooks():
    p = t(rnd(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    p.grad = t(rnd(2))
    opt.step()
    assert calls == ["pre", "post"]
    h1.remove()
    opt.step()
    assert calls == ["pre", "post", "post"]


def test_repr():
    opt = optim.SGD([t(rnd(2), requires_grad=True)], lr=0.1)
    r = repr(opt)
    assert r.startswith("SGD (") and "Parameter Group 0" in r and "lr: 0.1" in r


# ---- multi-tensor (flat) Adam updates ---------------------------------------------------------
FLAT_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
    dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
]


@pytest.mark.parametrize("kw", FLAT_CASES)
def test_flat_and_per_tensor_updates_agree_bitwise(device, kw):
    shapes = [(3, 4), (4,), (2, 2, 2)]
    p0s = [rnd(*s) for s in shapes]
    grads = grads_for(shapes, steps=7, seed=5)
    runs = []
    for foreach in (False, True):
        params = [t(p, device, requires_grad=True) for p in p0s]
        opt = optim.Adam(params, foreach=foreach, **kw)
        for i, gs in enumerate(grads):
            for j, (p, g) in enumerate(zip(params, gs)):
                # A missing gradient at steps 2 and 5 sends the group down the per-tensor
                # path, and leaves the step counts unequal afterwards.
                p.grad = None if (i in (2, 5) and j == 1) else t(g, device)
            opt.step()
        runs.append((params, opt))
    (pa, oa), (pb, ob) = runs
    for a, b in zip(pa, pb):
        np.testing.assert_array_equal(host(a), host(b))
    for a, b in zip(pa, pb):
        for key, va in oa.state[a].items():
            np.testing.assert_array_equal(host(va), host(ob.state[b][key]))
    assert float(oa.state[pa[1]]["step"]) == 5.0 and float(oa.state[pa[0]]["step"]) == 7.0


def test_flat_updates_follow_replaced_parameter_arrays(device):
    params = [t(rnd(3), device, requires_grad=True) for _ in range(3)]
    opt = optim.AdamW(params, foreach=True, lr=0.1)
    for p in params:
        p.grad = t(np.ones(3), device)
    opt.step()
    params[0].data = t(np.zeros(3), device)  # new memory: the flat layout must be rebuilt
    v = params[0]._version
    opt.step()
    assert host(params[0]).max() < 0 and params[0]._version == v + 1
    exp_avg = opt.state[params[0]]["exp_avg"]
    assert tuple(exp_avg.shape) == (3,) and host(exp_avg).min() > 0


def test_flat_state_dict_reload_continues_bitwise(device):
    p0s = [rnd(*s) for s in SHAPES]
    grads = grads_for(SHAPES, steps=6)
    ref, _ = run_gpugrad("Adam", dict(lr=0.01, foreach=False), p0s, grads, device)
    half, opt = run_gpugrad("Adam", dict(lr=0.01, foreach=True), p0s, grads[:3], device)
    params = [t(host(p), device, requires_grad=True) for p in half]
    opt2 = optim.Adam(params, lr=0.01, foreach=True)
    opt2.load_state_dict(opt.state_dict())
    for gs in grads[3:]:
        for p, g in zip(params, gs):
            p.grad = t(g, device)
        opt2.step()
    for a, b in zip(params, ref):
        np.testing.assert_array_equal(host(a), host(b))


def _lbfgs_fit(T, line_search_fn, steps=3, **kw):
    """Least squares with L-BFGS: the closure's loss per step and the evaluation count."""
    rng = np.random.default_rng(11)
    A, b = rng.standard_normal((20, 5)), rng.standard_normal(20)
    w = T.nn.Parameter(T.zeros(5, dtype=T.float64))
    At, bt = T.tensor(A), T.tensor(b)
    opt = T.optim.LBFGS([w], line_search_fn=line_search_fn, **kw)

    def closure():
        opt.zero_grad()
        loss = ((At @ w - bt) ** 2).mean()
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    return losses, w.detach().numpy().copy(), opt.state[w]["func_evals"], A, b


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_solves_least_squares(line_search_fn):
    losses, w, evals, A, b = _lbfgs_fit(gpugrad, line_search_fn, steps=4, history_size=5)
    want = np.linalg.lstsq(A, b, rcond=None)[0]
    tol = 1e-4 if line_search_fn else 1e-3  # both stop on tolerance_change, as torch does
    np.testing.assert_allclose(w, want, rtol=tol, atol=tol)
    assert losses[0] > losses[-1] and evals > 4


def test_lbfgs_rosenbrock_with_strong_wolfe():
    x = gpugrad.nn.Parameter(gpugrad.tensor([-1.2, 1.0, -0.5, 0.8], dtype=gpugrad.float64))
    opt = gpugrad.optim.LBFGS([x], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((1 - x[:-1]) ** 2).sum() + 100 * ((x[1:] - x[:-1] ** 2) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.ones(4), atol=1e-5)


def test_lbfgs_errors():
    a, b = gpugrad.nn.Parameter(gpugrad.zeros(2)), gpugrad.nn.Parameter(gpugrad.zeros(2))
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        gpugrad.optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        gpugrad.optim.LBFGS([a], lr=-1)
    opt = gpugrad.optim.LBFGS([a], line_search_fn="backtracking")

    def closure():
        opt.zero_grad()
        loss = ((a - 1) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search_fn):
    torch = pytest.importorskip("torch")
    ours = _lbfgs_fit(gpugrad, line_search_fn, lr=0.5, max_iter=6, history_size=3)
    theirs = _lbfgs_fit(torch, line_search_fn, lr=0.5, max_iter=6, history_size=3)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-12)
    assert ours[2] == theirs[2]
