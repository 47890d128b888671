"""gpugrad.utils.checkpoint: same gradients, fewer live activations, RNG replayed."""

from __future__ import annotations

import gc
import weakref

import pytest

import gpugrad
from gpugrad.utils.checkpoint import checkpoint, checkpoint_sequential
from tests.utils import assert_close, rnd, t


def _block(w):
    def f(x):
        h = (x @ w).tanh()
        h = h.exp().sin()
        return (h * h).sum(1)

    return f


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpoint_gradients_match(device, use_reentrant):
    xa, wa = rnd(4, 3), rnd(3, 3)
    x, w = t(xa, device, requires_grad=True), t(wa, device, requires_grad=True)
    y = checkpoint(_block(w), x, use_reentrant=use_reentrant)
    expect = "CheckpointFunctionBackward" if use_reentrant else "SumBackward1"
    assert y.grad_fn.name() == expect
    y.sum().backward()
    x2, w2 = t(xa, device, requires_grad=True), t(wa, device, requires_grad=True)
    y2 = _block(w2)(x2)
    y2.sum().backward()
    assert_close(y, y2)
    assert_close(x.grad, x2.grad)
    assert_close(w.grad, w2.grad)


def test_checkpoint_default_warns_and_is_reentrant(device):
    x = t(rnd(3), device, requires_grad=True)
    with pytest.warns(UserWarning, match="the use_reentrant parameter should be passed explicitly"):
        y = checkpoint(lambda a: a.sin(), x)
    assert y.grad_fn.name() == "CheckpointFunctionBackward"


def test_non_reentrant_with_autograd_grad_and_kwargs(device):
    x = t(rnd(3), device, requires_grad=True)
    y = checkpoint(lambda a, k=1.0: (a * k).exp(), x, use_reentrant=False, k=2.0)
    (g,) = gpugrad.autograd.grad(y.sum(), x)
    assert_close(g, 2 * (x * 2).exp())
    assert x.grad is None


def test_checkpoint_activations_not_kept(device):
    """Proof of lower memory: the block's intermediate arrays die right after forward."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        inner = []

        def f(x):
            h = x
            for _ in range(6):
                h = h.sin() * 1.5
                inner.append(weakref.ref(h._data))
            return h.sum()

        x = t(rnd(64), device, requires_grad=True)
        y_plain = f(x)
        alive_plain = sum(r() is not None for r in inner)
        inner.clear()
        y_ckpt = checkpoint(f, x, use_reentrant=False)
        alive_ckpt = sum(r() is not None for r in inner)
        inner.clear()
        y_re = checkpoint(f, x, use_reentrant=True)
        alive_re = sum(r() is not None for r in inner)
        assert alive_plain >= 5  # saved for backward without checkpointing
        assert alive_ckpt == 0 and alive_re == 0
        for y in (y_plain, y_ckpt, y_re):
            y.backward()
        assert_close(x.grad, 3 * gpugrad.autograd.grad(f(x), x)[0])
    finally:
        if was:
            gc.enable()


def test_checkpoint_saved_tensor_count(device):
    """Counting pack calls: the checkpointed block stores only placeholders."""
    from gpugrad.autograd.graph import saved_tensors_hooks

    x = t(rnd(8), device, requires_grad=True)
    packed = []
    with saved_tensors_hooks(lambda s: packed.append(s) or s, lambda s: s):
        y = checkpoint(lambda a: a.sin().exp().cos(), x, use_reentrant=True)
    # Only the block input is saved by the outer graph (the inner ops ran under no_grad).
    assert len(packed) == 1 and packed[0] is x
    y.sum().backward()


def test_checkpoint_preserves_rng(device):
    def noisy(a):
        return a * gpugrad.rand(a.shape, device=a.device, dtype=a.dtype)

    for reentrant in (True, False):
        gpugrad.manual_seed(3)
        x = t(rnd(16), device, requires_grad=True)
        y = checkpoint(noisy, x, use_reentrant=reentrant)
        y.sum().backward()
        assert_close(x.grad, y / x)  # the recomputed mask equals the forward one


def test_checkpoint_sequential(device):
    fns = [lambda a: a.sin(), lambda a: a * 2, lambda a: a.exp(), lambda a: a.tanh()]
    xa = rnd(5)
    x = t(xa, device, requires_grad=True)
    y = checkpoint_sequential(fns, 2, x, use_reentrant=False)
    y.sum().backward()
    x2 = t(xa, device, requires_grad=True)
    h = x2
    for f in fns:
        h = f(h)
    h.sum().backward()
    assert_close(y, h)
    assert_close(x.grad, x2.grad)
