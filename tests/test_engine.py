"""The backward engine: graph structure, ordering, accumulation, freeing, errors."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import gpugrad
from tests.utils import assert_close, rnd, t


def test_next_functions_and_accumulate_grad(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = gpugrad.tensor([3.0, 4.0], device=device, requires_grad=True)
    y = (a * b).sum()
    assert y.grad_fn.name() == "SumBackward0"
    ((mul, nr),) = y.grad_fn.next_functions
    assert mul.name() == "MulBackward0" and nr == 0
    acc_a, acc_b = (n for n, _ in mul.next_functions)
    assert type(acc_a).__name__ == "AccumulateGrad" and acc_a.variable is a
    assert acc_b.variable is b
    # one cached AccumulateGrad per leaf
    z = a * 2
    assert z.grad_fn.next_functions[0][0] is acc_a


def test_node_names(device):
    x = gpugrad.randn(3, 4, device=device, requires_grad=True)
    assert x.sum(0).grad_fn.name() == "SumBackward1"
    assert x.mean().grad_fn.name() == "MeanBackward0"
    assert (x @ x.T).grad_fn.name() == "MmBackward0"
    assert (x + 1).grad_fn.name() == "AddBackward0"
    assert (x - x).grad_fn.name() == "SubBackward0"
    assert (x / 2).grad_fn.name() == "DivBackward0"
    assert (x**2).grad_fn.name() == "PowBackward0"
    assert x.exp().grad_fn.name() == "ExpBackward0"
    assert x.view(12).grad_fn.name() == "ViewBackward0"
    assert x.T.grad_fn.name() == "PermuteBackward0"
    assert x[0].grad_fn.name() == "SelectBackward0"
    assert x[:, 1:].grad_fn.name() == "SliceBackward0"
    assert (-x).grad_fn.name() == "NegBackward0"


def test_diamond_runs_shared_node_once(device):
    x = gpugrad.tensor([2.0], device=device, requires_grad=True)
    calls = []
    h = x * 3
    h.grad_fn.register_prehook(lambda g: calls.append(1))
    y = h * h.exp() + h.sin()  # h reached by three paths
    y.sum().backward()
    assert calls == [1]
    hv = 6.0
    expected = 3 * (np.exp(hv) + hv * np.exp(hv) + np.cos(hv))
    assert_close(x.grad, [expected], rtol=1e-5)


def test_ready_nodes_newest_first(device):
    x = gpugrad.tensor([1.0], device=device, requires_grad=True)
    order = []
    a = x * 2
    b = x * 3
    a.grad_fn.register_prehook(lambda g: order.append("a"))
    b.grad_fn.register_prehook(lambda g: order.append("b"))
    (a + b).sum().backward()
    assert order == ["b", "a"]  # b was created later: higher sequence number runs first


def test_long_chain_is_iterative():
    x = gpugrad.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert_close(x.grad, [1.0, 1.0])
    del y  # freeing a 100,000-node chain must not overflow the C stack


def test_grad_accumulates_across_backward(device):
    x = gpugrad.tensor(rnd(3), device=device, requires_grad=True)
    (x * x).sum().backward()
    first = x.grad.clone()
    (x * x).sum().backward()
    assert_close(x.grad, 2 * first.cpu().numpy())


def test_gradient_kept_without_copy_is_not_shared(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = gpugrad.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a + b).sum().backward()  # AddBackward0 hands the same gradient to both leaves
    a.grad.zero_()
    assert_close(b.grad, [1.0, 1.0])
    v = gpugrad.tensor([5.0, 6.0], device=device)
    c = gpugrad.tensor([0.0, 0.0], device=device, requires_grad=True)
    (c + 1).backward(v)
    c.grad.mul_(0)
    assert_close(v, [5.0, 6.0])  # the caller's gradient was copied, not adopted


def test_retain_graph_and_freed_buffers(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (a * a).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(a.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    s = (a * 3).sum()
    s.backward()
    with pytest.raises(RuntimeError, match="second time"):
        s.backward()
    s = (a + 1).sum()  # saves nothing: a second backward is fine, as in PyTorch
    s.backward()
    s.backward()


def test_errors(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (a * 2).backward()
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        gpugrad.tensor([1.0], device=device).sum().backward()
    with pytest.raises(RuntimeError, match="Only Tensors of floating point and complex dtype"):
        gpugrad.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(
        RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"
    ):
        gpugrad.randn(2, 3, device=device) @ gpugrad.randn(4, 5, device=device)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        gpugrad.cat([gpugrad.randn(2, 3, device=device), gpugrad.randn(2, 4, device=device)])


def test_backward_with_gradient_and_inputs(device):
    x = gpugrad.tensor(rnd(3), device=device, requires_grad=True)
    w = gpugrad.tensor(rnd(3), device=device, requires_grad=True)
    g = rnd(3)
    (x * w).backward(gpugrad.tensor(g, device=device), inputs=[w])
    assert x.grad is None
    assert_close(w.grad, g * x.detach().cpu().numpy())


def test_no_grad_and_set_grad_enabled(device):
    x = gpugrad.ones(2, device=device, requires_grad=True)
    with gpugrad.no_grad():
        y = x * 2
        with gpugrad.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @gpugrad.no_grad()
    def f(v):
        return v * 2

    assert not f(x).requires_grad
    with gpugrad.set_grad_enabled(False):
        assert not gpugrad.is_grad_enabled()
    assert gpugrad.is_grad_enabled()


def test_graph_freed_by_refcount_alone(device):
    gc.disable()
    try:
        x = gpugrad.randn(64, device=device, requires_grad=True)
        y = (x.exp() * x).sin()
        node = weakref.ref(y.grad_fn)
        saved = weakref.ref(y.grad_fn.next_functions[0][0])
        del y
        assert node() is None and saved() is None
    finally:
        gc.enable()


def test_detach_shares_memory_and_cuts_graph(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    c = a * 2
    d = c.detach()
    assert not d.requires_grad and d.grad_fn is None
    d[0] = 10.0
    assert c[0].item() == 10.0
    e = c.clone().detach()
    e[1] = -1.0
    assert c[1].item() == 4.0


def test_gradcheck_catches_a_wrong_gradient(device):
    class Wrong(gpugrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = t(rnd(4), device, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        gpugrad.autograd.gradcheck(Wrong.apply, (x,))


def test_mixed_devices_error():
    if not gpugrad.cuda.is_available():
        pytest.skip("needs a CUDA device: " + gpugrad.cuda.why_unavailable())
    a = gpugrad.ones(2)
    b = gpugrad.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match="found at least two devices, cpu and cuda:0"):
        a + b


def test_version_error_for_a_tensor_packed_by_saved_tensor_hooks(device):
    from gpugrad.autograd.graph import saved_tensors_hooks

    x = gpugrad.randn(3, device=device, requires_grad=True)
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        y = x * 1
        z = y.sin()  # saves y, through the hooks
    y.add_(1)
    with pytest.raises(
        RuntimeError,
        match=r"modified by an inplace operation: \[torch\..*"
        r"FloatTensor \[3\]\], which is output 0 of Mul, is at version 1",
    ):
        z.sum().backward()


def _grads_both_ways(device, build):
    """``loss.backward()`` (the no-argument fast path) and ``autograd.backward(loss, ones)``
    (the general path) on the same graph: the leaves' gradients must agree."""
    out = []
    data = [rnd(3), rnd(3, 3), rnd(3), rnd(3), rnd(5, 4)]
    for fast in (True, False):
        gpugrad.manual_seed(0)
        leaves, loss = build(*data)
        if fast:
            loss.backward()
        else:
            gpugrad.autograd.backward([loss], [gpugrad.ones_like(loss)])
        out.append([None if x.grad is None else x.grad.cpu().numpy() for x in leaves])
    for a, b in zip(*out):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_plain_backward_matches_the_general_path(device):
    def leaf_root(*_):
        x = gpugrad.tensor(2.5, device=device, requires_grad=True)
        return [x], x

    def multi_output_root(v, *_):  # the root is output 1 of UnbindBackward0
        x = gpugrad.tensor(v, device=device, requires_grad=True)
        return [x], (x * x).unbind()[1]

    def shared_and_tied(_, m, v, u, _x):  # a leaf used thrice, a diamond, an unused leaf
        w = gpugrad.tensor(m, device=device, requires_grad=True)
        b = gpugrad.tensor(v, device=device, requires_grad=True)
        unused = gpugrad.tensor(u, device=device, requires_grad=True)
        h = gpugrad.relu(w @ w + b)
        return [w, b, unused], ((h * h).sum() + (h @ w).mean()).exp()

    def mlp(*data):
        lin = gpugrad.nn.Linear(4, 3).to(device)
        x = gpugrad.tensor(data[-1], device=device, dtype=gpugrad.float32)
        y = gpugrad.tensor([0, 2, 1, 1, 0], device=device)
        return list(lin.parameters()), gpugrad.nn.functional.cross_entropy(lin(x), y)

    for build in (leaf_root, multi_output_root, shared_and_tied, mlp):
        _grads_both_ways(device, build)


def test_plain_backward_keeps_hooks_anomaly_and_error_order(device):
    x = gpugrad.tensor(rnd(3), device=device, requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append("tensor") or g * 2)
    x.register_post_accumulate_grad_hook(lambda p: seen.append("post"))
    (x * 3).sum().backward()
    assert seen == ["tensor", "post"]
    assert_close(x.grad, [6.0, 6.0, 6.0])
    with gpugrad.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan"):
            (gpugrad.tensor([-1.0], device=device, requires_grad=True).sqrt()).sum().backward()
    # the implicit gradient's checks come before the root's requires_grad, as in autograd
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        gpugrad.ones(2, device=device).backward()
    with pytest.raises(RuntimeError, match="only for real scalar outputs but got gpugrad.int64"):
        gpugrad.tensor(1, device=device).backward()
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        gpugrad.tensor(1.0, device=device).backward()


# ---- the plain walk's ordering without an up-front dependency count -------------------
# Each scenario runs on gpugrad's plain ``loss.backward()``, on the general engine (which
# counts dependencies first: ``inputs=`` forces it) and, when installed, on PyTorch. Hook
# events (in firing order) and gradients must agree.


def _shared_leaf(lib, dev, data, events):
    w = lib.tensor(data[1], device=dev, requires_grad=True)  # used three times
    v = lib.tensor(data[2], device=dev, requires_grad=True)
    w.register_hook(lambda g: events.append(("w", round(float(g.sum()), 6))))
    w.register_post_accumulate_grad_hook(lambda p: events.append("w acc"))
    v.register_post_accumulate_grad_hook(lambda p: events.append("v acc"))
    h = (w @ v).tanh()
    h.grad_fn.register_prehook(lambda go: events.append("tanh"))
    k = (w * 2).sum(0)
    k.grad_fn.register_prehook(lambda go: events.append("sum"))
    loss = (h * k).sum() + (w**2).mean()
    return [w, v], loss


def _leaf_in_two_graphs(lib, dev, data, events):
    w = lib.tensor(data[1], device=dev, requires_grad=True)
    v = lib.tensor(data[2], device=dev, requires_grad=True)
    w.register_hook(lambda g: events.append(("w", round(float(g.sum()), 6))))
    other = (w * 3).sum()  # a second graph through w, never backpropagated
    loss = (w @ v).exp().sum()
    events.append(other is None)
    return [w, v], loss


class _HalfGrad(gpugrad.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, g):
        return g, None  # no gradient for b, although b requires one


def _none_gradient_path(lib, dev, data, events):
    u = lib.tensor(data[2], device=dev, requires_grad=True)
    ue = u.exp()  # recorded first, so it runs last
    ue.grad_fn.register_prehook(lambda go: events.append("exp"))
    w = lib.tensor(data[1], device=dev, requires_grad=True)
    w.register_hook(lambda g: events.append(("w", round(float(g.sum()), 6))))
    w.register_post_accumulate_grad_hook(lambda p: events.append("w acc"))
    if lib is gpugrad:
        fn = _HalfGrad
    else:  # the same Function for torch

        class fn(lib.autograd.Function):  # noqa: N801
            forward = staticmethod(_HalfGrad.forward)
            backward = staticmethod(_HalfGrad.backward)

    loss = fn.apply(w.sin(), w.cos()).sum() + (w * w).sum() + ue.sum()
    return [w, u], loss


def _run_scenario(lib, dev, build, data, general):
    events: list = []
    leaves, loss = build(lib, dev, data, events)
    if general:
        loss.backward(inputs=leaves)
    else:
        loss.backward()
    return events, [x.grad.cpu().numpy().astype(np.float64) for x in leaves]


@pytest.mark.parametrize("build", [_shared_leaf, _leaf_in_two_graphs, _none_gradient_path])
def test_plain_walk_orders_like_the_counting_walk(build, device):
    data = [None, rnd(3, 3), rnd(3)]
    plain = _run_scenario(gpugrad, device, build, data, general=False)
    general = _run_scenario(gpugrad, device, build, data, general=True)
    assert plain[0] == general[0]
    for a, b in zip(plain[1], general[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    try:
        import torch
    except ImportError:
        return
    ref = _run_scenario(torch, "cpu", build, data, general=False)
    assert plain[0] == ref[0]
    for a, b in zip(plain[1], ref[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_plain_walk_with_the_previous_graph_alive(device):
    # The training loop keeps last step's loss (and so its leaf nodes) while building the
    # next graph; retain_graph backward twice; a graph joining an already-run one.
    w = gpugrad.tensor(rnd(3, 3), device=device, requires_grad=True)
    x = [gpugrad.tensor(rnd(3), device=device) for _ in range(3)]
    want = []
    loss = None
    for xi in x:
        w.grad = None
        loss = ((w @ xi).tanh() ** 2).sum()  # the old loss dies only here
        loss.backward()
        want.append(w.grad.clone())
    for xi, g in zip(x, want):
        w.grad = None
        ((w @ xi).tanh() ** 2).sum().backward(inputs=[w])
        assert_close(w.grad, g.cpu().numpy(), rtol=1e-12)
    w.grad = None
    first = (w @ x[0]).sum()
    first.backward(retain_graph=True)
    first.backward(retain_graph=True)
    assert_close(w.grad, 2 * np.outer(np.ones(3), x[0].cpu().numpy()), rtol=1e-12)
    w.grad = None
    (first + (w * w).sum()).backward()  # w reached from the old graph and the new one
    want = np.outer(np.ones(3), x[0].cpu().numpy()) + 2 * w.detach().cpu().numpy()
    assert_close(w.grad, want, rtol=1e-12)
