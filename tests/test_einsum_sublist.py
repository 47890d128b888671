"""einsum's sublist form ``einsum(op1, sublist1, op2, sublist2, ..., [out_sublist])`` against
PyTorch: values, the implicit output (ellipsis dims first), gradients and the errors for bad
subscripts (issue #16)."""

import numpy as np
import pytest

import gpugrad

torch = pytest.importorskip("torch", reason="compared with PyTorch")


def _pair(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float64)
    return gpugrad.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize(
    "subs",
    [
        ([0, 1], [1, 2], [0, 2]),  # matmul, explicit output
        ([0, 1], [1, 2]),  # implicit output
        ([Ellipsis, 0, 1], [1, 2], [Ellipsis, 0, 2]),
        ([Ellipsis, 0, 1], [1, 2]),  # implicit: the ellipsis dims come first
        ([27, 1], [1, 30], [30, 27]),  # lower-case letters (26..51)
    ],
)
def test_sublist_values_and_grads_match_torch(subs):
    lead = (5,) if subs[0][0] is Ellipsis else ()
    ga, ta = _pair(*lead, 2, 3, seed=1)
    gb, tb = _pair(3, 4, seed=2)
    args_g = (ga, subs[0], gb, subs[1]) + tuple(subs[2:])
    args_t = (ta, subs[0], tb, subs[1]) + tuple(subs[2:])
    g, t = gpugrad.einsum(*args_g), torch.einsum(*args_t)
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=1e-12)
    g.sum().backward()
    t.sum().backward()
    np.testing.assert_allclose(ga.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gb.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


def test_sublist_single_operand_permutes():
    ga, ta = _pair(2, 3, 4)
    g, t = gpugrad.einsum(ga, (4, 3, 2)), torch.einsum(ta, (4, 3, 2))
    assert tuple(g.shape) == tuple(t.shape) == (4, 3, 2)
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy())


@pytest.mark.parametrize(
    "call,exc,text",
    [
        (
            lambda L: L.einsum(L.ones(2, 3), [-1, 0]),
            ValueError,
            "not within the valid range [0, 52)",
        ),
        (
            lambda L: L.einsum(L.ones(2, 3), [0, 52]),
            ValueError,
            "not within the valid range [0, 52)",
        ),
        (
            lambda L: L.einsum(L.ones(5), [0, 1, 2]),
            RuntimeError,
            "does not match the number of dimensions (1)",
        ),
        (
            lambda L: L.einsum(L.ones(2, 3), [Ellipsis, 0, 1, 2]),
            RuntimeError,
            "is more than the number of dimensions (2)",
        ),
        (lambda L: L.einsum(L.ones(2, 3)), ValueError, "must specify the equation string"),
    ],
)
def test_sublist_errors_match_torch(call, exc, text):
    for L in (torch, gpugrad):
        with pytest.raises(exc) as info:
            call(L)
        assert text in str(info.value), (L.__name__, info.value)
