"""Custom autograd.Function, including PyTorch's Legendre-P3 tutorial run unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gpugrad
from gpugrad import autograd
from tests.utils import assert_close, rnd, t

FREED = "Trying to backward through the graph a second time"


class Square(autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * scale

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x * ctx.scale, None


def test_function_values_name_and_grad(device):
    x = t([1.0, -2.0], device, requires_grad=True)
    y = Square.apply(x, 3.0)
    assert y.grad_fn.name() == "SquareBackward" and type(y.grad_fn).__name__ == "SquareBackward"
    assert_close(y, [3.0, 12.0])
    y.sum().backward()
    assert_close(x.grad, [6.0, -12.0])
    with pytest.raises(RuntimeError, match=FREED):
        _ = y.grad_fn.saved_tensors  # freed after backward


def test_function_is_twice_differentiable(device):
    x = t(rnd(3), device, requires_grad=True)
    assert autograd.gradcheck(lambda a: Square.apply(a, 2.0), (x,))
    (g,) = autograd.grad(Square.apply(x, 1.0).sum(), x, create_graph=True)
    (gg,) = autograd.grad(g.sum(), x)
    assert_close(gg, [2.0, 2.0, 2.0])


def test_setup_context_style(device):
    class Mul(autograd.Function):
        @staticmethod
        def forward(a, b):
            return a * b

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a

    a = t([2.0, 3.0], device, requires_grad=True)
    b = t([5.0, 7.0], device, requires_grad=True)
    Mul.apply(a, b).sum().backward()
    assert_close(a.grad, [5.0, 7.0])
    assert_close(b.grad, [2.0, 3.0])


def test_needs_input_grad(device):
    seen = {}

    class F(autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen["fwd"] = ctx.needs_input_grad
            return a + b

        @staticmethod
        def backward(ctx, g):
            seen["bwd"] = ctx.needs_input_grad
            return g if ctx.needs_input_grad[0] else None, None, None

    a = t([1.0], device, requires_grad=True)
    F.apply(a, t([2.0], device), 3).sum().backward()
    assert seen["fwd"] == (True, False, False) and seen["bwd"] == (True, False, False)


def test_wrong_number_of_gradients(device):
    class G(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    x = t([1.0], device, requires_grad=True)
    with pytest.raises(RuntimeError) as e:
        G.apply(x).sum().backward()
    assert (
        str(e.value)
        == "function GBackward returned an incorrect number of gradients (expected 1, got 2)"
    )


def test_saved_tensors_version_checked(device):
    class H(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x

    x = gpugrad.ones(2, device=device, requires_grad=True)
    h = x * 1
    out = H.apply(h)
    h.mul_(2)
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0 instead"):
        out.sum().backward()


def test_mark_non_differentiable(device):
    class TwoOut(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            doubled, tripled = x * 2, x * 3
            ctx.mark_non_differentiable(tripled)
            return doubled, tripled

        @staticmethod
        def backward(ctx, g2, g3):
            return g2 * 2

    x = t([3.0, 1.0, 2.0], device, requires_grad=True)
    d, tr = TwoOut.apply(x)
    assert d.requires_grad and not tr.requires_grad and tr.grad_fn is None
    (d * t([1.0, 2.0, 3.0], device)).sum().backward()
    assert_close(x.grad, [2.0, 4.0, 6.0])


def test_mark_non_differentiable_input_returned_as_is(device):
    # forward returns an input unchanged (PyTorch makes an alias): the mark still holds
    class PassThrough(autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.mark_non_differentiable(y)
            return x, y

        @staticmethod
        def backward(ctx, gx, gy):
            assert_close(gy, [0.0, 0.0])  # materialized: y's output gets no gradient
            return gx, gy

    x = t([1.0, 2.0], device, requires_grad=True)
    y = t([3.0, 4.0], device, requires_grad=True)
    a, b = PassThrough.apply(x, y)
    assert a is not x and a.requires_grad and a.grad_fn.name() == "PassThroughBackward"
    assert b is not y and not b.requires_grad and b.grad_fn is None
    (a * 2).sum().backward()
    assert_close(x.grad, [2.0, 2.0])
    assert_close(y.grad, [0.0, 0.0])


def test_mark_dirty(device):
    class Double(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = gpugrad.ones(2, device=device, requires_grad=True)
    h = x * 1
    out = Double.apply(h)
    assert out is h
    assert h.grad_fn.name() == "DoubleBackward"
    out.sum().backward()
    assert_close(x.grad, [2.0, 2.0])


def test_mark_dirty_bumps_version(device):
    class Double(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    h = gpugrad.ones(2, device=device, requires_grad=True) * 1
    Double.apply(h)
    assert h._version == 2  # PyTorch 2.13: the mul_ inside, plus one for the dirty mark


def test_once_differentiable(device):
    class Cube(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        @autograd.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x**2

    x = t([2.0], device, requires_grad=True)
    (g,) = autograd.grad(Cube.apply(x), x, create_graph=True)
    assert_close(g, [12.0])
    assert not g.requires_grad  # backward ran without recording


# ---- PyTorch tutorial: polynomial_custom_function.py, with gpugrad in place of torch ----------
def _legendre_tutorial(torch, device_name: str, iterations: int) -> list:
    class LegendrePolynomial3(torch.autograd.Function):
        """
        We can implement our own custom autograd Functions by subclassing
        torch.autograd.Function and implementing the forward and backward passes
        which operate on Tensors.
        """

        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input**2 - 1)

    dtype = torch.float
    device = torch.device(device_name)
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)

    learning_rate = 5e-6
    losses = []
    for t in range(iterations):  # noqa: B007, F402 - the tutorial loop, unchanged
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    assert (
        LegendrePolynomial3.apply(x.requires_grad_()).grad_fn.name()
        == "LegendrePolynomial3Backward"
    )
    return losses + [a.item(), b.item(), c.item(), d.item()]


def test_legendre_tutorial(device):
    n = 500
    out = _legendre_tutorial(gpugrad, device, n)
    losses = out[:n]
    assert losses[-1] < 0.15 * losses[0]  # 462 -> 51 in PyTorch
    try:
        import torch
    except ImportError:
        return
    ref = _legendre_tutorial(torch, "cpu", n)
    np.testing.assert_allclose(out, ref, rtol=2e-3, atol=1e-5)
