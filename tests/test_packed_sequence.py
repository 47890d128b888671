"""nn.utils.rnn PackedSequence, pack_padded_sequence, pad_packed_sequence, pack_sequence,
and RNN / LSTM / GRU on packed input: against PyTorch with the same weights (outputs,
final states, gradients)."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn as gnn
from gpugrad.nn.utils import rnn as R

torch = pytest.importorskip("torch")
TR = torch.nn.utils.rnn


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float64")


def _eq(g, t, atol=1e-10):
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), atol=atol, rtol=1e-7)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted,lengths", [(True, [5, 3, 3, 1]), (False, [2, 5, 1, 4])])
def test_pack_pad_round_trip_vs_torch(batch_first, enforce_sorted, lengths):
    shape = (4, 5, 3) if batch_first else (5, 4, 3)
    a = _x(shape)
    t = torch.tensor(a, requires_grad=True)
    g = gpugrad.tensor(a, requires_grad=True)
    tp = TR.pack_padded_sequence(t, lengths, batch_first, enforce_sorted)
    gp = R.pack_padded_sequence(g, lengths, batch_first, enforce_sorted)
    _eq(gp.data, tp.data)
    assert gp.batch_sizes.tolist() == tp.batch_sizes.tolist()
    assert gp.batch_sizes.dtype == gpugrad.int64
    for gi, ti in (
        (gp.sorted_indices, tp.sorted_indices),
        (gp.unsorted_indices, tp.unsorted_indices),
    ):
        assert (gi is None) == (ti is None)
        if ti is not None:
            assert gi.tolist() == ti.tolist()
    tu, tl = TR.pad_packed_sequence(tp, batch_first, padding_value=-2.0, total_length=7)
    gu, gl = R.pad_packed_sequence(gp, batch_first, padding_value=-2.0, total_length=7)
    _eq(gu, tu)
    assert gl.tolist() == tl.tolist()
    w = _x(tuple(tu.shape), seed=3)
    (tu * torch.tensor(w)).sum().backward()
    (gu * gpugrad.tensor(w)).sum().backward()
    _eq(g.grad, t.grad)


def test_pack_sequence_and_errors():
    seqs = [_x((4, 2)), _x((2, 2), 1), _x((3, 2), 2)]
    tp = TR.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    gp = R.pack_sequence([gpugrad.tensor(s) for s in seqs], enforce_sorted=False)
    _eq(gp.data, tp.data)
    assert isinstance(gp, tuple) and gp._fields == tp._fields
    back = R.unpack_sequence(gp)
    for b, s in zip(back, seqs):
        np.testing.assert_array_equal(b.numpy(), s)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        R.pack_sequence([gpugrad.tensor(s) for s in seqs])
    with pytest.raises(RuntimeError, match="has to be greater than 0"):
        R.pack_padded_sequence(gpugrad.zeros(3, 2, 1), [3, 0])
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        R.pad_packed_sequence(gp, total_length=2)


def _pair_modules(kind, **kw):
    tm = getattr(torch.nn, kind)(3, 4, **kw).double()
    gm = getattr(gnn, kind)(3, 4, **kw).double()
    gm.load_state_dict({k: gpugrad.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, gm


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidir", [(1, False), (2, True)])
@pytest.mark.parametrize("with_hx", [False, True])
def test_rnn_on_packed_input_vs_torch(kind, layers, bidir, with_hx):
    tm, gm = _pair_modules(kind, num_layers=layers, bidirectional=bidir, batch_first=True)
    lengths = [2, 5, 1, 4]
    a = _x((4, 5, 3))
    t = torch.tensor(a, requires_grad=True)
    g = gpugrad.tensor(a, requires_grad=True)
    tp = TR.pack_padded_sequence(t, lengths, True, enforce_sorted=False)
    gp = R.pack_padded_sequence(g, lengths, True, enforce_sorted=False)
    thx = ghx = None
    if with_hx:
        h = _x((layers * (2 if bidir else 1), 4, 4), seed=5)
        if kind == "LSTM":
            thx = (torch.tensor(h), torch.tensor(h * 0.5))
            ghx = (gpugrad.tensor(h), gpugrad.tensor(h * 0.5))
        else:
            thx, ghx = torch.tensor(h), gpugrad.tensor(h)
    to, ts = tm(tp, thx)
    go, gs = gm(gp, ghx)
    assert isinstance(go, R.PackedSequence)
    _eq(go.data, to.data)
    assert go.batch_sizes.tolist() == to.batch_sizes.tolist()
    assert go.unsorted_indices.tolist() == to.unsorted_indices.tolist()
    for gx, tx in zip(gs if kind == "LSTM" else (gs,), ts if kind == "LSTM" else (ts,)):
        _eq(gx, tx)
    w = _x(tuple(to.data.shape), seed=7)
    loss_t = (to.data * torch.tensor(w)).sum() + (ts[0] if kind == "LSTM" else ts).sum()
    loss_g = (go.data * gpugrad.tensor(w)).sum() + (gs[0] if kind == "LSTM" else gs).sum()
    loss_t.backward()
    loss_g.backward()
    _eq(g.grad, t.grad, atol=1e-9)
    _eq(gm.weight_hh_l0.grad, tm.weight_hh_l0.grad, atol=1e-9)
    tu, _ = TR.pad_packed_sequence(to, batch_first=True)
    gu, _ = R.pad_packed_sequence(go, batch_first=True)
    _eq(gu, tu)
