"""Index validation: out-of-range, negative and wrongly typed indices raise PyTorch's
exception with PyTorch's text, and a failed in-place call leaves the tensor unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from tests.utils import host

torch = pytest.importorskip("torch", reason="the expected texts come from PyTorch")


def _ops(L):
    """name -> (make the target, call the op on it with index ``i``)."""
    return {
        "gather": (lambda: L.ones(2, 3), lambda x, i: L.gather(x, 1, i.reshape(1, -1))),
        "index_select": (lambda: L.ones(3), lambda x, i: L.index_select(x, 0, i)),
        "index_add_": (lambda: L.zeros(3), lambda x, i: x.index_add_(0, i, L.ones(i.numel()))),
        "index_add": (lambda: L.zeros(3), lambda x, i: x.index_add(0, i, L.ones(i.numel()))),
        "index_copy_": (lambda: L.zeros(3), lambda x, i: x.index_copy_(0, i, L.ones(i.numel()))),
        "index_fill_": (lambda: L.zeros(3), lambda x, i: x.index_fill_(0, i, 1.0)),
        "scatter_": (
            lambda: L.zeros(2, 3),
            lambda x, i: x.scatter_(1, i.reshape(1, -1), L.ones(1, i.numel())),
        ),
        "scatter_value": (lambda: L.zeros(2, 3), lambda x, i: x.scatter_(1, i.reshape(1, -1), 2.0)),
        "scatter_add_": (
            lambda: L.zeros(2, 3),
            lambda x, i: x.scatter_add_(1, i.reshape(1, -1), L.ones(1, i.numel())),
        ),
        "scatter_add": (
            lambda: L.zeros(2, 3),
            lambda x, i: x.scatter_add(1, i.reshape(1, -1), L.ones(1, i.numel())),
        ),
        "take": (lambda: L.ones(3), lambda x, i: L.take(x, i)),
        "take_along_dim flat": (lambda: L.ones(3), lambda x, i: L.take_along_dim(x, i)),
        "put_": (lambda: L.zeros(3), lambda x, i: x.put_(i, L.ones(i.numel()))),
        "put_ accumulate": (
            lambda: L.zeros(3),
            lambda x, i: x.put_(i, L.ones(i.numel()), accumulate=True),
        ),
        "getitem": (lambda: L.ones(3), lambda x, i: x[i]),
        "getitem 2-d": (lambda: L.ones(2, 3), lambda x, i: x[:, i]),
        "setitem": (lambda: L.zeros(3), lambda x, i: x.__setitem__(i, 1.0)),
        "setitem 2-d": (lambda: L.zeros(2, 3), lambda x, i: x.__setitem__((slice(None), i), 1.0)),
        "index_put_": (lambda: L.zeros(3), lambda x, i: x.index_put_((i,), L.ones(i.numel()))),
        "index_put_ accumulate": (
            lambda: L.zeros(3),
            lambda x, i: x.index_put_((i,), L.ones(i.numel()), accumulate=True),
        ),
    }


INDICES = {
    "in range": [0, 2, 1],
    "negative in range": [0, -1],
    "too large": [1, 3, 0],
    "too negative": [1, -4],
    "first bad reported": [0, 7, -9],
    "float": [0.0, 1.0],
    "int32": np.array([0, 2], dtype=np.int32),
    "int16": np.array([0, 1], dtype=np.int16),
    "empty": np.zeros(0, dtype=np.int64),
}


def _outcome(L, op: str, idx):
    make, call = _ops(L)[op]
    x = make()
    i = L.tensor(idx) if not isinstance(idx, np.ndarray) else L.from_numpy(idx.copy())
    before = x.clone()
    try:
        r = call(x, i)
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        unchanged = bool((x == before).all())
        return type(e).__name__, str(e), unchanged
    return "ok", np.asarray(r.tolist() if r is not None else x.tolist()), True


@pytest.mark.parametrize("idx", list(INDICES))
@pytest.mark.parametrize("op", list(_ops(torch)))
def test_index_errors_match_torch(op, idx):
    want = _outcome(torch, op, INDICES[idx])
    got = _outcome(gpugrad, op, INDICES[idx])
    assert got[0] == want[0], (got, want)
    if want[0] == "ok":
        np.testing.assert_array_equal(got[1], want[1])
    else:
        assert got[1] == want[1]
        assert got[2], "a failed in-place call changed the tensor"


def test_take_along_dim_wraps_negatives_and_refuses_out_of_range(device):
    x = gpugrad.arange(6.0, device=device).reshape(2, 3)
    i = gpugrad.tensor([[-1], [0]], device=device)
    np.testing.assert_array_equal(host(gpugrad.take_along_dim(x, i, 1)), [[2.0], [3.0]])
    # broadcasting in the other dimensions, as PyTorch's
    j = gpugrad.tensor([[2, 0]], device=device)
    np.testing.assert_array_equal(host(gpugrad.take_along_dim(x, j, 1)), [[2.0, 0.0], [5.0, 3.0]])
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 1 with size 3"):
        gpugrad.take_along_dim(x, gpugrad.tensor([[3], [0]], device=device), 1).cpu()


def test_take_along_dim_gradient(device):
    x = gpugrad.randn(3, 4, dtype=gpugrad.float64, device=device, requires_grad=True)
    i = gpugrad.tensor([[0, -1], [2, 2], [1, -4]], device=device)
    assert gpugrad.autograd.gradcheck(lambda t: gpugrad.take_along_dim(t, i, 1), (x,))


def test_put_values_and_gradients_match_torch():
    for accumulate in (False, True):
        xs = [L.arange(6.0, dtype=L.float64).reshape(2, 3) for L in (torch, gpugrad)]
        for x in xs:
            x.requires_grad_(True)
        srcs = [
            L.tensor([10.0, 20.0, 30.0], dtype=L.float64, requires_grad=True)
            for L in (torch, gpugrad)
        ]
        idx = [0, -1, 0] if accumulate else [0, -1, 2]
        outs = [x.put(L.tensor(idx), s, accumulate) for x, s, L in zip(xs, srcs, (torch, gpugrad))]
        np.testing.assert_array_equal(host(outs[1]), outs[0].detach().numpy())
        w = np.arange(6.0).reshape(2, 3) + 1
        outs[0].backward(torch.tensor(w))
        outs[1].backward(gpugrad.tensor(w))
        np.testing.assert_array_equal(host(xs[1].grad), xs[0].grad.numpy())
        np.testing.assert_array_equal(host(srcs[1].grad), srcs[0].grad.numpy())


def test_put_gradcheck(device):
    x = gpugrad.randn(2, 3, dtype=gpugrad.float64, device=device, requires_grad=True)
    s = gpugrad.randn(2, dtype=gpugrad.float64, device=device, requires_grad=True)
    i = gpugrad.tensor([4, -6], device=device)
    assert gpugrad.autograd.gradcheck(lambda a, b: a.put(i, b), (x, s))
    assert gpugrad.autograd.gradcheck(lambda a, b: a.put(i, b, accumulate=True), (x, s))


@pytest.mark.parametrize(
    "call",
    [
        lambda L: L.gather(L.ones(2, 2), 1, L.zeros(3, 1, dtype=L.long)),
        lambda L: L.zeros(2, 2).scatter_(1, L.zeros(3, 1, dtype=L.long), L.ones(3, 1)),
        lambda L: L.zeros(2, 2).scatter_(1, L.zeros(2, 2, dtype=L.long), L.ones(1, 1)),
        lambda L: L.zeros(2, 2).scatter_(1, L.zeros(3, 1, dtype=L.long), 1.0),
        lambda L: L.zeros(2, 2).scatter_(1, L.zeros(1, 1, dtype=L.long), L.ones(1, 1).double()),
        lambda L: L.zeros(2, 2).scatter_(1, L.zeros(1, 1, dtype=L.long), 1.0, reduce="foo"),
        lambda L: L.zeros(2).index_add_(0, L.zeros(1, dtype=L.long), L.ones(1).double()),
        lambda L: L.zeros(2).index_add_(0, L.zeros(2, dtype=L.long), L.ones(1)),
        lambda L: L.zeros(2, 3).index_add_(0, L.zeros(1, dtype=L.long), L.ones(1, 2)),
        lambda L: L.zeros(2).index_copy_(0, L.zeros(1, dtype=L.long), L.ones(1).double()),
        lambda L: L.zeros(2, 3).index_copy_(0, L.zeros(1, dtype=L.long), L.ones(1, 2)),
        lambda L: L.zeros(2).index_fill_(0, L.zeros(1, 1, dtype=L.long), 1.0),
        lambda L: L.zeros(2).put_(L.zeros(2, dtype=L.long), L.ones(1)),
        lambda L: L.zeros(2).put_(L.zeros(1, dtype=L.long), L.ones(1).double()),
        lambda L: L.zeros(3).__setitem__(L.tensor([0, 1]), L.ones(3)),
        lambda L: L.zeros(3).__setitem__(slice(0, 2), L.ones(3)),
        lambda L: L.zeros(3).index_put_((L.tensor([True, False]),), L.ones(1)),
    ],
)
def test_shape_and_dtype_errors_match_torch(call):
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(Exception) as got:
        call(gpugrad)
    assert type(got.value) is type(want.value)
    assert str(got.value) == str(want.value)


def test_uint8_index_is_a_mask_with_pytorch_warning():
    x = gpugrad.arange(3.0)
    with pytest.warns(UserWarning, match="indexing with dtype torch.uint8 is now deprecated"):
        out = x[gpugrad.tensor([1, 0, 1], dtype=gpugrad.uint8)]
    np.testing.assert_array_equal(host(out), [0.0, 2.0])
