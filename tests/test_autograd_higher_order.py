"""Higher-order gradients, autograd.grad / autograd.backward, gradgradcheck (PyTorch 2.13 texts)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad
from gpugrad import autograd
from tests.utils import assert_close, rnd, t

CYCLE_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using "
    "autograd.grad when creating the graph to avoid this. If you have to use this function, "
    "make sure to reset the .grad fields of your parameters to None after use to break the "
    "cycle and avoid the leak."
)


def test_grad_of_grad_of_grad_cube(device):
    x = t([0.5, -1.0, 2.0], device, requires_grad=True)
    y = (x**3).sum()
    (g1,) = autograd.grad(y, x, create_graph=True)
    assert_close(g1, 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    assert g1.requires_grad and g1.grad_fn is not None
    (g2,) = autograd.grad(g1.sum(), x, create_graph=True)
    assert_close(g2, 6 * np.array([0.5, -1.0, 2.0]))
    (g3,) = autograd.grad(g2.sum(), x)
    assert_close(g3, [6.0, 6.0, 6.0])
    assert not g3.requires_grad
    assert x.grad is None  # autograd.grad never touches .grad


def test_backward_create_graph_warns_and_builds_graph(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    with pytest.warns(UserWarning) as rec:
        (x**3).sum().backward(create_graph=True)
    assert str(rec[0].message) == CYCLE_WARNING
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    (g2,) = autograd.grad(x.grad.sum(), x)
    assert_close(g2, [6.0, 12.0])


def test_grad_without_create_graph_is_detached(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    (g,) = autograd.grad((x * x).sum(), x)
    assert not g.requires_grad and g.grad_fn is None
    assert x.grad is None


def test_grad_unused_input_error_text(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y = t([1.0, 2.0], device, requires_grad=True)
    with pytest.raises(RuntimeError) as e:
        autograd.grad((x * 2).sum(), [x, y])
    # PyTorch 2.13 names the index of the unused input.
    assert str(e.value) == (
        "The differentiated Tensor at index 1 appears to not have been used in the graph. "
        "Set allow_unused=True if this is the desired behavior."
    )


def test_grad_allow_unused_and_materialize(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y = t([1.0, 2.0], device, requires_grad=True)
    gx, gy = autograd.grad((x * 2).sum(), [x, y], allow_unused=True)
    assert_close(gx, [2.0, 2.0])
    assert gy is None
    gx, gy = autograd.grad((x * 2).sum(), [x, y], materialize_grads=True)
    assert_close(gy, [0.0, 0.0])


def test_grad_input_not_requiring_grad(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    z = t([1.0, 2.0], device)
    with pytest.raises(
        RuntimeError, match="^One of the differentiated Tensors does not require grad$"
    ):
        autograd.grad((x * 2).sum(), [z])


def test_grad_outputs_and_non_scalar_error(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y = x * 3
    with pytest.raises(
        RuntimeError, match="^grad can be implicitly created only for scalar outputs$"
    ):
        autograd.grad(y, x)
    (g,) = autograd.grad(y, x, grad_outputs=t([1.0, -2.0], device))
    assert_close(g, [3.0, -6.0])


def test_grad_retain_graph_default_frees(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y = (x.exp()).sum()
    autograd.grad(y, x, retain_graph=True)
    autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        autograd.grad(y, x)


def test_backward_inputs_accumulates_only_there(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    b = t([3.0, 4.0], device, requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert_close(a.grad, [3.0, 4.0])
    assert b.grad is None
    with pytest.raises(
        RuntimeError, match="^`inputs` argument to `backward\\(\\)` cannot be empty.$"
    ):
        (a * b).sum().backward(inputs=[])


def test_backward_inputs_non_leaf(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    h = a * 2
    (h * h).sum().backward(inputs=[h])
    assert a.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(h.grad, [4.0, 8.0])


def test_autograd_backward_several_roots(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y1 = x * 2
    y2 = (x * x).sum()
    autograd.backward([y1, y2], [t([1.0, 1.0], device), None])
    assert_close(x.grad, [2.0 + 2.0, 2.0 + 4.0])


def test_hessian_vector_product_mixed(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    w = t([3.0, -1.0], device, requires_grad=True)
    y = (x * x * w).sum()
    (gx,) = autograd.grad(y, x, create_graph=True)  # 2 x w
    (gw,) = autograd.grad(gx.sum(), w)  # 2 x
    assert_close(gw, [2.0, 4.0])


CORE = {
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a.abs() ** b,
    "matmul": lambda a, b: a @ b.T,
    "exp_log": lambda a, b: a.exp() + b.abs().log(),
    "tanh_sigmoid": lambda a, b: a.tanh() * b.sigmoid(),
    "sum_mean": lambda a, b: (a * b).sum(1) + a.mean(1),
    "reshape_transpose": lambda a, b: a.reshape(3, 2).T * b,
    "index": lambda a, b: a[:, 1:] * b[0, 1:],
    "max_relu": lambda a, b: a.relu() + b.max(1)[0][:, None],
    "sqrt_sin": lambda a, b: a.abs().sqrt() * b.sin(),
    # losses: their nodes must keep the inputs, not a detached intermediate
    "mse_loss": lambda a, b: gpugrad.nn.functional.mse_loss(a, b),
    "mse_loss_none": lambda a, b: gpugrad.nn.functional.mse_loss(a, b, reduction="none"),
    "cross_entropy": lambda a, b: gpugrad.nn.functional.cross_entropy(
        a * b, gpugrad.tensor([2, 0], device=a.device)
    ),
    "logaddexp_fmod": lambda a, b: gpugrad.logaddexp(a, b) + gpugrad.fmod(a * 3, b.abs() + 1),
}


@pytest.mark.parametrize("name", sorted(CORE))
def test_gradgradcheck_core_ops(device, name):
    a = t(rnd(2, 3), device, requires_grad=True)
    b = t(rnd(2, 3), device, requires_grad=True)
    assert autograd.gradgradcheck(CORE[name], (a, b), atol=1e-4, rtol=1e-3)


def test_gradgradcheck_catches_wrong_double_backward(device):
    class BadSquare(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * x.detach()  # first derivative right, second lost

    x = t(rnd(3), device, requires_grad=True)
    assert autograd.gradcheck(BadSquare.apply, (x,))
    with pytest.raises(RuntimeError):
        autograd.gradgradcheck(BadSquare.apply, (x,))
    assert not autograd.gradgradcheck(BadSquare.apply, (x,), raise_exception=False)


def test_second_derivative_float32(device):
    x = gpugrad.tensor([0.3, 1.2], device=device, requires_grad=True)
    (g,) = autograd.grad(x.sin().sum(), x, create_graph=True)
    (gg,) = autograd.grad(g.sum(), x)
    assert gg.dtype == gpugrad.float32
    assert_close(gg, -np.sin([0.3, 1.2]), rtol=1e-5, atol=1e-6)
