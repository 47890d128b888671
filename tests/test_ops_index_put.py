"""index_put / index_put_ / gpugrad.index_put against torch: values, repeated indices with
accumulate, broadcasting values, boolean masks, gradients of both inputs, errors."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from tests.utils import assert_close, rnd

torch = pytest.importorskip("torch")

CASES = [
    # (indices as lists, values shape)
    (([0, 2, 0],), (3, 4)),  # repeated rows
    (([0, 0, 1], [1, 1, 3]), (3,)),  # repeated elements
    (([1, 2], [0, 3]), ()),  # a broadcast scalar
    (([2, 0],), (4,)),  # values broadcast over rows
]


def _both(idx, device):
    return (
        tuple(gpugrad.tensor(i, device=device) for i in idx),
        tuple(torch.tensor(i) for i in idx),
    )


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_index_put_values_and_gradients(device, case, accumulate):
    idx, vshape = CASES[case]
    if not accumulate and case < 2:
        idx = tuple(i[:2] for i in idx) if case == 1 else ([0, 2],)  # no repeats: defined
        vshape = (2, 4) if case == 0 else (2,)
    x, v = rnd(3, 4), rnd(*vshape)
    gi, ti = _both(idx, device)
    gx = gpugrad.tensor(x, device=device, requires_grad=True)
    gv = gpugrad.tensor(v, device=device, requires_grad=True)
    tx, tv = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
    go = gx.index_put(gi, gv, accumulate=accumulate)
    to = tx.index_put(ti, tv, accumulate=accumulate)
    assert_close(go, to.detach().numpy())
    assert_close(gpugrad.index_put(gx, gi, gv, accumulate), to.detach().numpy())
    assert go.grad_fn.name() == to.grad_fn.name() == "IndexPutBackward0"
    up = rnd(3, 4)
    go.backward(gpugrad.tensor(up, device=device))
    to.backward(torch.tensor(up))
    assert_close(gx.grad, tx.grad.numpy())
    assert_close(gv.grad, tv.grad.numpy())


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_in_place(device, accumulate):
    x, v = rnd(3, 4), rnd(3)
    idx = ([0, 0, 2], [1, 1, 3]) if accumulate else ([0, 1, 2], [1, 1, 3])
    gi, ti = _both(idx, device)
    g = gpugrad.tensor(x, device=device)
    t = torch.tensor(x)
    assert g.index_put_(gi, gpugrad.tensor(v, device=device), accumulate) is g
    t.index_put_(ti, torch.tensor(v), accumulate)
    assert_close(g, t.numpy())
    # recorded: through a non-leaf, gradients reach the base and the values
    gb = gpugrad.tensor(x, device=device, requires_grad=True)
    gv = gpugrad.tensor(v, device=device, requires_grad=True)
    tb, tv = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
    gy, ty = gb * 2, tb * 2
    gy.index_put_(gi, gv, accumulate=accumulate)
    ty.index_put_(ti, tv, accumulate=accumulate)
    assert_close(gy, ty.detach().numpy())
    up = rnd(3, 4)
    gy.backward(gpugrad.tensor(up, device=device))
    ty.backward(torch.tensor(up))
    assert_close(gb.grad, tb.grad.numpy())
    assert_close(gv.grad, tv.grad.numpy())


def test_index_put_bool_mask_and_gradcheck(device):
    mask = [True, False, True]
    g = gpugrad.zeros(3, 4, device=device).index_put(
        (gpugrad.tensor(mask, device=device),),
        gpugrad.tensor(2.0, device=device),
        accumulate=True,
    )
    t = torch.zeros(3, 4).index_put((torch.tensor(mask),), torch.tensor(2.0), accumulate=True)
    assert_close(g, t.numpy())
    gi = (gpugrad.tensor([0, 2, 0], device=device), gpugrad.tensor([1, 1, 1], device=device))

    def f(x, v):
        return x.index_put(gi, v, accumulate=True)

    x = gpugrad.tensor(rnd(3, 4), device=device, requires_grad=True)
    v = gpugrad.tensor(rnd(3), device=device, requires_grad=True)
    assert gpugrad.autograd.gradcheck(f, (x, v))


def test_index_put_errors_match_torch(device):
    gx, tx = gpugrad.zeros(3, 4, device=device), torch.zeros(3, 4)
    g0, t0 = gpugrad.tensor([0], device=device), torch.tensor([0])
    cases = [
        (
            lambda: gx.index_put_(g0, gpugrad.tensor(1.0, device=device)),
            lambda: tx.index_put_(t0, torch.tensor(1.0)),
        ),
        (lambda: gx.index_put_((g0,), 1.0), lambda: tx.index_put_((t0,), 1.0)),
        (
            lambda: gx.index_put_((g0,), gpugrad.tensor(1.0, dtype=gpugrad.float64, device=device)),
            lambda: tx.index_put_((t0,), torch.tensor(1.0, dtype=torch.float64)),
        ),
        (
            lambda: gx.index_put_(
                (gpugrad.tensor([5], device=device),),
                gpugrad.tensor(1.0, device=device),
                accumulate=True,
            ),
            lambda: tx.index_put_((torch.tensor([5]),), torch.tensor(1.0), accumulate=True),
        ),
        (
            lambda: gx.index_put_((g0,), gpugrad.ones(2, device=device), accumulate=True),
            lambda: tx.index_put_((t0,), torch.ones(2), accumulate=True),
        ),
    ]
    for fg, ft in cases:
        with pytest.raises(Exception) as eg:
            fg()
        with pytest.raises(Exception) as et:
            ft()
        assert type(eg.value) is type(et.value)
        assert str(eg.value) == str(et.value)
    assert np.all(gx.cpu().numpy() == 0)  # a failed call changed nothing
