"""Module backward hooks: register_full_backward_hook / register_full_backward_pre_hook."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from utils import assert_close, host

import gpugrad


def _scenario(T, data, dev="cpu"):
    """Hooks on a two-input, two-output module and on a submodule; what they saw."""
    nn, ev = T.nn, []

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x, scale, y):
            return self.a(x) * scale, self.b(y)

    m = Two().to(dev)
    with T.no_grad():
        for p, d in zip(m.parameters(), data[:4]):
            p.copy_(T.tensor(d, dtype=p.dtype, device=dev))

    def r(g):
        return None if g is None else round(float(g.sum()), 4)

    def full(mod, gi, go):
        ev.append(("full", type(mod).__name__, tuple(map(r, gi)), tuple(map(r, go))))

    def pre(mod, go):
        ev.append(("pre", type(mod).__name__, tuple(map(r, go))))
        return tuple(None if g is None else g * 2 for g in go)

    def triple_in(mod, gi, go):
        ev.append(("triple", tuple(map(r, gi))))
        return tuple(None if g is None else g * 3 for g in gi)

    m.register_full_backward_hook(full)
    m.register_full_backward_pre_hook(pre)
    m.a.register_full_backward_hook(full)
    m.a.register_full_backward_hook(triple_in, prepend=True)
    x = T.tensor(data[4], dtype=T.float32, device=dev, requires_grad=True)
    y = T.tensor(data[5], dtype=T.float32, device=dev)  # its gradient is zeros, not None
    out = m(x, 2.0, y)
    ev.append(("names", out[0].grad_fn.name(), out[1].grad_fn.name()))
    (out[0].sum() + (out[1] * out[1]).sum()).backward()
    ev.append(("grads", r(x.grad), r(m.a.weight.grad), r(m.b.weight.grad)))
    with warnings.catch_warnings(record=True) as w:  # no input requires grad
        warnings.simplefilter("always")
        m.b.register_full_backward_hook(full)
        m.b(y).sum().backward()
    ev.append(("warned", [str(x.message)[:40] for x in w]))
    for register, bad, want in (
        ("register_full_backward_hook", lambda mod, gi, go: (gi[0], gi[0]), "grad_input"),
        ("register_full_backward_pre_hook", lambda mod, go: (go[0], go[0]), "grad_output"),
    ):
        lin = nn.Linear(3, 2).to(dev)
        getattr(lin, register)(bad)
        with pytest.raises(RuntimeError) as e:
            lin(T.tensor(data[4], device=dev, requires_grad=True).float()).sum().backward()
        ev.append(str(e.value))
        assert want in str(e.value)
    return ev


def _data():
    rng = np.random.default_rng(0)
    shapes = [(2, 3), (2,), (2, 3), (2,), (4, 3), (4, 3)]
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_full_backward_hooks(device):
    data = _data()
    ev = _scenario(gpugrad, data, device)
    # the order: the outer module's pre-hook, the inner module's hooks (the prepended one
    # first), the outer module's hook once its inputs' gradients are known
    assert [e[0] for e in ev[:5]] == ["names", "pre", "triple", "full", "full"]
    assert ev[0] == ("names", "BackwardHookFunctionBackward", "BackwardHookFunctionBackward")
    w_a = data[0]
    go_a = np.full((4, 2), 2.0 * 2.0)  # d(sum)/d(out0) = 1, doubled by the pre-hook; * scale
    gx = 3 * go_a @ w_a  # the inner hook triples the gradient w.r.t. its input
    assert ev[2] == ("triple", (round(float((go_a @ w_a).sum()), 4),))
    assert ev[4][:2] == ("full", "Two") and ev[4][2][1] is None
    assert ev[4][2][2] == 0.0  # y does not require grad: zeros, as PyTorch materializes
    assert ev[5][1] == round(float(gx.sum()), 4)
    assert ev[6] == ("full", "Linear", (None,), (8.0,))
    assert ev[7] == ("warned", ["Full backward hook is firing when gradie"])
    assert ev[8] == "Backward hook returned an invalid number of grad_input, got 2, but expected 1"
    assert ev[9] == (
        "Backward pre hook returned an invalid number of grad_output, got 2, but expected 1"
    )


def test_full_backward_hooks_match_torch():
    torch = pytest.importorskip("torch")
    data = _data()
    assert _scenario(gpugrad, data) == _scenario(torch, data)


def test_backward_hook_removal_and_no_grad(device):
    lin = gpugrad.nn.Linear(3, 2).to(device)
    seen = []
    h = lin.register_full_backward_hook(lambda mod, gi, go: seen.append(len(gi)))
    x = gpugrad.randn(4, 3, device=device, requires_grad=True)
    lin(x).sum().backward()
    want = host(x.grad).copy()
    with gpugrad.no_grad():
        assert lin(x).grad_fn is None  # nothing to hook without grad mode
    h.remove()
    x.grad = None
    out = lin(x)
    assert out.grad_fn.name() == "AddmmBackward0"
    out.sum().backward()
    assert seen == [1]
    assert_close(x.grad, want)
