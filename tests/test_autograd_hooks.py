"""Tensor / node hooks, retain_grad, .grad warnings: PyTorch 2.13's firing order and texts."""

from __future__ import annotations

import warnings

import pytest

import gpugrad
from tests.utils import assert_close, t

NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)


def test_hook_firing_order(device):
    # Order observed with torch 2.13: tensor hook, node prehook, node hook, then the leaf's
    # tensor hook and its post-accumulate hook.
    order = []
    a = t([1.0, 2.0], device, requires_grad=True)
    b = a * 2
    b.register_hook(lambda g: order.append("tensor_hook_b"))
    b.grad_fn.register_prehook(lambda go: order.append("prehook_b"))
    b.grad_fn.register_hook(lambda gi, go: order.append("posthook_b"))
    a.register_hook(lambda g: order.append("tensor_hook_a"))
    a.register_post_accumulate_grad_hook(lambda p: order.append("post_acc_a"))
    b.retain_grad()
    b.sum().backward()
    assert order == ["tensor_hook_b", "prehook_b", "posthook_b", "tensor_hook_a", "post_acc_a"]


def test_tensor_hook_replaces_gradient_and_remove(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    h = a.register_hook(lambda g: g * 10)
    (a * 3).sum().backward()
    assert_close(a.grad, [30.0, 30.0])
    h.remove()
    a.grad = None
    (a * 3).sum().backward()
    assert_close(a.grad, [3.0, 3.0])


def test_non_leaf_hook_changes_upstream_and_retained_grad(device):
    # Autograd notes: a hook on a non-leaf changes what flows on; retain_grad sees the result.
    a = t([1.0, 2.0], device, requires_grad=True)
    b = a * 2
    b.retain_grad()
    b.register_hook(lambda g: g + 1)
    (b * 1).sum().backward()
    assert_close(b.grad, [2.0, 2.0])
    assert_close(a.grad, [4.0, 4.0])
    assert b.retains_grad and not a.retains_grad


def test_post_accumulate_grad_hook_sees_grad(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    seen = []
    a.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.cpu().numpy().tolist()))
    (a * a).sum().backward()
    assert seen == [[2.0, 4.0]]
    with pytest.raises(
        RuntimeError, match="post accumulate grad hooks cannot be registered on non-leaf tensors"
    ):
        (a * 2).register_post_accumulate_grad_hook(lambda p: None)


def test_node_hooks_replace_gradients(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    b = a * 2
    b.grad_fn.register_prehook(lambda go: (go[0] * 3,))
    h = b.grad_fn.register_hook(lambda gi, go: (gi[0] + 1, gi[1]) if len(gi) > 1 else (gi[0] + 1,))
    b.sum().backward(retain_graph=True)
    assert_close(a.grad, [7.0, 7.0])  # 1 -> *3 -> *2 -> +1
    h.remove()
    a.grad = None
    b.sum().backward()
    assert_close(a.grad, [6.0, 6.0])


def test_register_hook_on_tensor_not_requiring_grad(device):
    x = t([1.0], device)
    with pytest.raises(
        RuntimeError, match="^cannot register a hook on a tensor that doesn't require gradient$"
    ):
        x.register_hook(lambda g: g)


def test_retain_grad_and_warning(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    b = a * 2
    with pytest.warns(UserWarning) as rec:
        assert b.grad is None
    assert str(rec[0].message) == NON_LEAF_GRAD_WARNING


def test_retain_grad_no_warning(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    b = a * 2
    b.retain_grad()
    (b * b).sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_close(b.grad, [4.0, 8.0])
    a.retain_grad()  # no-op on a leaf
    assert not a.retains_grad


def test_leaf_tensor_hook_applies_in_autograd_grad(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    a.register_hook(lambda g: g * 2)
    (g,) = gpugrad.autograd.grad((a**2).sum(), a, create_graph=True)
    assert_close(g, [4.0, 8.0])
    assert g.requires_grad
