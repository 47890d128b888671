"""The engine's end-of-backward callbacks (PyTorch's Variable._execution_engine.queue_callback).

DistributedDataParallel waits for its gradient all-reduces in one; each case is checked
against the same program run by torch.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import gpugrad
from gpugrad.autograd.engine import _execution_engine, queue_callback

torch = pytest.importorskip("torch")
TorchEngine = torch.autograd.Variable._execution_engine


def _record(lib, engine, how: str, device: str = "cpu") -> list:
    """A two-leaf graph whose hook queues callbacks; what ran, in order, with the grads seen."""
    kw = {"device": device} if lib is gpugrad else {}
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True, **kw)
    w = lib.tensor([0.5, -1.0, 2.0], requires_grad=True, **kw)
    log: list = []

    def second():
        log.append(("second", lib.is_grad_enabled()))

    def first():
        # every gradient of the pass is in .grad when callbacks run
        log.append(("first", x.grad.tolist(), w.grad.tolist()))
        engine.queue_callback(second)  # queued by a callback: runs in the same pass

    def hook(g):
        log.append("hook")
        engine.queue_callback(first)
        return g

    x.register_hook(hook)
    loss = (x * w).sum() * 2
    if how == "scalar":
        loss.backward()
    elif how == "gradient":
        loss.backward(lib.tensor(1.0, **kw))
    elif how == "create_graph":
        lib.autograd.backward([loss], create_graph=True)
    elif how == "inputs":
        loss.backward(inputs=[x, w])
    elif how == "grad":
        gx, gw = lib.autograd.grad(loss, [x, w])
        x.grad, w.grad = gx, gw  # so that `first` sees them
    log.append("after")
    return log


@pytest.mark.parametrize("how", ["scalar", "gradient", "create_graph", "inputs", "grad"])
def test_callbacks_run_at_the_end_of_each_kind_of_pass(device, how):
    if how == "grad":
        # autograd.grad writes no .grad: `first` would see None; record only the order
        def run(lib, engine, **kw):
            x = lib.tensor([1.0, 2.0], requires_grad=True, **kw)
            log = []
            x.register_hook(lambda g: engine.queue_callback(lambda: log.append("cb")) or g)
            (g,) = lib.autograd.grad((x * 3).sum(), [x])
            log.append(g.tolist())
            return log

        assert run(gpugrad, _execution_engine, device=device) == run(torch, TorchEngine)
        return
    got = _record(gpugrad, _execution_engine, how, device)
    want = _record(torch, TorchEngine, how)
    assert got == want
    assert [e if isinstance(e, str) else e[0] for e in got] == ["hook", "first", "second", "after"]


def test_queue_outside_a_pass_raises_pytorchs_error():
    with pytest.raises(RuntimeError) as ours:
        queue_callback(lambda: None)
    with pytest.raises(RuntimeError) as theirs:
        TorchEngine.queue_callback(lambda: None)
    assert str(ours.value) == str(theirs.value)
    # and after a finished pass the queue is closed again
    x = gpugrad.ones(2, requires_grad=True)
    (x * 2).sum().backward()
    with pytest.raises(RuntimeError, match="during backward pass"):
        queue_callback(lambda: None)


def test_a_pass_that_raises_runs_no_callback_and_the_next_pass_starts_clean():
    ran: list = []
    x = gpugrad.ones(2, requires_grad=True)

    def bad(g):
        queue_callback(lambda: ran.append("never"))
        raise ValueError("boom")

    h = x.register_hook(bad)
    with pytest.raises(ValueError, match="boom"):
        (x * 2).sum().backward()
    assert ran == []
    h.remove()
    x.register_hook(lambda g: queue_callback(lambda: ran.append("next")) or g)
    (x * 2).sum().backward()
    assert ran == ["next"]  # the failed pass's callback did not leak into this one


def test_a_callback_that_raises_propagates_after_gradients_were_accumulated():
    x = gpugrad.ones(2, requires_grad=True)
    x.register_hook(lambda g: queue_callback(lambda: 1 / 0) or g)
    with pytest.raises(ZeroDivisionError):
        (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(RuntimeError, match="during backward pass"):
        queue_callback(lambda: None)  # the pass is over even though a callback raised


def test_nested_backward_inside_a_hook_has_its_own_callbacks():
    """A backward run from a hook (reentrant, as checkpointing does) is its own pass."""
    log: list = []
    x = gpugrad.tensor([1.0, 2.0], requires_grad=True)
    y = gpugrad.tensor([3.0], requires_grad=True)

    def inner_hook(g):
        queue_callback(lambda: log.append("inner cb"))
        return g

    y.register_hook(inner_hook)

    def outer_hook(g):
        queue_callback(lambda: log.append("outer cb"))
        with gpugrad.enable_grad():  # hooks run with grad mode off
            (y * 5).sum().backward()  # its callback runs when it returns, before ours
        log.append("inner pass returned")
        return g

    x.register_hook(outer_hook)
    (x * x).sum().backward()
    log.append("outer pass returned")
    assert log == ["inner cb", "inner pass returned", "outer cb", "outer pass returned"]
    np.testing.assert_array_equal(y.grad.numpy(), [5.0])


def test_callbacks_run_in_the_thread_that_ran_the_pass_and_passes_in_threads_are_separate():
    seen: dict = {}
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        x = gpugrad.ones(3, requires_grad=True)

        def hook(g):
            queue_callback(lambda: seen.setdefault(name, []).append(threading.get_ident()))
            barrier.wait(timeout=10)  # both passes are running at once here
            return g

        x.register_hook(hook)
        (x * 2).sum().backward()
        seen[name].append(threading.get_ident())

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=20)
    assert sorted(seen) == ["a", "b"]
    for name in ("a", "b"):
        cb_thread, pass_thread = seen[name]
        assert cb_thread == pass_thread  # one callback each, in its own thread


def test_post_accumulate_grad_hook_can_queue_the_end_of_pass_work():
    """DDP's pattern: per-parameter hooks start work, one callback per pass finishes it."""
    lin = gpugrad.nn.Linear(3, 2)
    ref = torch.nn.Linear(3, 2)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(lin.weight.detach().numpy()))
        ref.bias.copy_(torch.tensor(lin.bias.detach().numpy()))
    data = np.arange(12.0).reshape(4, 3) / 7

    def run(lib, module, engine):
        ready: list = []
        done: list = []

        def finish():
            done.append(sorted(ready))  # (leaves may accumulate in another order than torch's)

        def hook(p):
            if not ready:
                engine.queue_callback(finish)
            ready.append(tuple(p.shape))

        for p in module.parameters():
            p.register_post_accumulate_grad_hook(hook)
        module(lib.tensor(data, dtype=lib.float32)).sum().backward()
        return done

    assert run(gpugrad, lin, _execution_engine) == run(torch, ref, TorchEngine)
