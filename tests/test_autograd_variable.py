"""PyTorch's legacy Variable and Variable._execution_engine."""

from __future__ import annotations

import pytest

import gpugrad
from gpugrad.autograd import Variable


def test_variable_is_the_tensor_itself(device):
    t = gpugrad.ones(2, device=device)
    assert Variable(t) is t
    assert isinstance(t, Variable) and not isinstance(3, Variable)
    v = Variable(t, requires_grad=True)
    assert v.requires_grad and v.is_leaf and not t.requires_grad
    with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
        Variable([1.0])


def test_execution_engine_queue_callback_runs_at_the_end_of_backward(device):
    x = gpugrad.ones(3, device=device, requires_grad=True)
    seen = []

    def hook(g):
        Variable._execution_engine.queue_callback(lambda: seen.append(x.grad is not None))
        return g

    y = (x * 2).sum()
    y.register_hook(hook)
    y.backward()
    assert seen == [True]  # ran after the leaf's gradient was accumulated
