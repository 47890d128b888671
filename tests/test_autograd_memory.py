"""Graph and saved arrays are freed by refcounting alone, and saved arrays right after use."""

from __future__ import annotations

import gc
import weakref

import pytest

import gpugrad
from tests.utils import rnd, t


@pytest.fixture
def no_gc():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if was:
        gc.enable()


def _chain(x):
    """x -> exp -> sin -> exp; returns output and weakrefs to (nodes, saved arrays)."""
    a = x.exp()
    b = a.sin()
    c = b.exp()
    nodes = [weakref.ref(n) for n in (a.grad_fn, b.grad_fn, c.grad_fn)]
    arrays = [weakref.ref(a._data), weakref.ref(c._data)]  # saved by SinBackward0, ExpBackward0
    return c, nodes, arrays


def test_graph_released_when_last_output_dropped(device, no_gc):
    x = t(rnd(50), device, requires_grad=True)
    c, nodes, arrays = _chain(x)
    assert all(r() is not None for r in nodes + arrays)
    del c
    assert all(r() is None for r in nodes), "graph nodes kept alive after the output was dropped"
    assert all(r() is None for r in arrays), "saved arrays kept alive after the output was dropped"


def test_graph_released_after_backward(device, no_gc):
    x = t(rnd(50), device, requires_grad=True)
    c, nodes, arrays = _chain(x)
    c.sum().backward()
    del c
    assert all(r() is None for r in nodes + arrays)
    assert x.grad is not None and x.grad.grad_fn is None


def test_saved_arrays_freed_as_backward_goes(device, no_gc):
    x = t(rnd(50), device, requires_grad=True)
    a = x.exp()
    b = a.sin()  # SinBackward0 saves a
    c = b.exp()  # ExpBackward0 saves c (its own result)
    sin_node, exp_node, first_exp = b.grad_fn, c.grad_fn, a.grad_fn
    c_arr = weakref.ref(c._data)
    seen = {}

    def before_sin(grad_outputs):
        # ExpBackward0 (of c) has run: its saved result must already be gone.
        seen["exp_saved"] = exp_node._saved
        seen["c_alive"] = c_arr() is not None
        seen["sin_saved"] = sin_node._saved

    def before_first_exp(grad_outputs):
        seen["sin_saved_after"] = sin_node._saved

    sin_node.register_prehook(before_sin)
    first_exp.register_prehook(before_first_exp)
    out = c.sum()
    del a, b, c
    out.backward()
    assert seen["exp_saved"] is None and not seen["c_alive"]
    assert seen["sin_saved"] is not None  # not yet run
    assert seen["sin_saved_after"] is None  # freed right after it ran, not at the end


def test_retain_graph_keeps_saved_arrays(device, no_gc):
    x = t(rnd(50), device, requires_grad=True)
    c, nodes, arrays = _chain(x)
    c.sum().backward(retain_graph=True)
    assert all(n()._saved is not None for n in nodes)
    assert arrays[1]() is not None
    g1 = x.grad.clone()
    c.sum().backward()
    assert all(n()._saved is None for n in nodes)
    assert gpugrad.allclose(x.grad, g1 * 2)
