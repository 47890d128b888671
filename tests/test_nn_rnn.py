"""RNN, LSTM, GRU and their cells: a NumPy reference in float64, gradcheck, PyTorch's
parameter names/shapes/reprs/errors, and (when torch is there) outputs and gradients against
torch with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import nn
from tests.utils import assert_close, rnd, t


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _np_layer(mode, x, p, h, c=None):
    """One unidirectional layer over (L, N, I) in NumPy: the reference formulas."""
    w_ih, w_hh = p["weight_ih_l0"], p["weight_hh_l0"]
    b_ih, b_hh = p.get("bias_ih_l0", 0.0), p.get("bias_hh_l0", 0.0)
    outs = []
    for xt in x:
        gi, gh = xt @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if mode == "LSTM":
            i, f, g, o = np.split(gi + gh, 4, -1)
            c = _sig(f) * c + _sig(i) * np.tanh(g)
            h = _sig(o) * np.tanh(c)
        elif mode == "GRU":
            (xr, xz, xn), (hr, hz, hn) = np.split(gi, 3, -1), np.split(gh, 3, -1)
            r, z = _sig(xr + hr), _sig(xz + hz)
            h = (1 - z) * np.tanh(xn + r * hn) + z * h
        else:
            h = np.tanh(gi + gh)
        outs.append(h)
    return np.stack(outs), h, c


def _params(m) -> dict:
    return {k: v.detach().cpu().numpy() for k, v in m.named_parameters()}


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bias", [True, False])
def test_against_numpy(name, bias, device):
    m = getattr(nn, name)(3, 4, bias=bias).double().to(device)
    x = rnd(5, 2, 3)
    h0 = rnd(1, 2, 4)
    hx = (t(h0, device), t(h0 * 0.5, device)) if name == "LSTM" else t(h0, device)
    out, hn = m(t(x, device), hx)
    ref_out, ref_h, ref_c = _np_layer(name, x, _params(m), h0[0], h0[0] * 0.5)
    assert_close(out, ref_out)
    if name == "LSTM":
        assert_close(hn[0], ref_h[None]) and assert_close(hn[1], ref_c[None])
    else:
        assert_close(hn, ref_h[None])


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_gradcheck(name, device):
    """Gradients to the input, the initial state and a recurrent weight of the second,
    reverse-direction layer (the longest path through the recurrence)."""
    m = getattr(nn, name)(2, 3, num_layers=2, bidirectional=True).double().to(device)
    key = "weight_hh_l1_reverse"

    def f(x, h0, w):
        m._parameters[key] = w  # the weight as a gradcheck input
        hx = (h0, h0 * 0.5) if name == "LSTM" else h0
        out, _ = m(x, hx)
        return out

    w = m._parameters[key].detach().cpu().numpy()
    inputs = [
        t(rnd(3, 2, 2), device, requires_grad=True),
        t(rnd(4, 2, 3), device, requires_grad=True),
        t(w, device, requires_grad=True),
    ]
    assert gpugrad.autograd.gradcheck(f, inputs)


def test_shapes_and_names(device):
    m = nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True).to(device)
    names = [n for n, _ in m.named_parameters()]
    assert names[:5] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse"
    ]  # fmt: skip
    assert m.weight_ih_l1.shape == (16, 8) and m.weight_hh_l0.shape == (16, 4)
    assert all(p.abs().max().item() <= 0.5 for p in m.parameters())  # U(-1/sqrt(4), 1/sqrt(4))
    out, (h, c) = m(gpugrad.randn(2, 5, 3, device=device))
    assert out.shape == (2, 5, 8) and h.shape == (4, 2, 4) and c.shape == (4, 2, 4)
    out, h = nn.GRU(3, 4).to(device)(gpugrad.randn(5, 3, device=device))  # unbatched
    assert out.shape == (5, 4) and h.shape == (1, 4)
    assert repr(nn.LSTM(3, 4, 2, batch_first=True, dropout=0.1)) == (
        "LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.1)"
    )
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu", bias=False)) == (
        "RNNCell(3, 4, bias=False, nonlinearity=relu)"
    )
    hc = nn.LSTMCell(3, 4).to(device)(gpugrad.randn(2, 3, device=device))
    assert hc[0].shape == (2, 4) and hc[1].shape == (2, 4)
    assert nn.GRUCell(3, 4).to(device)(gpugrad.randn(3, device=device)).shape == (4,)


def test_errors(device):
    m = nn.LSTM(3, 4).to(device)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        m(gpugrad.randn(5, 2, 2, device=device))
    with pytest.raises(RuntimeError, match="Expected hidden size \\(1, 2, 4\\), got \\[1, 3, 4\\]"):
        h = gpugrad.zeros(1, 3, 4, device=device)
        m(gpugrad.randn(5, 2, 3, device=device), (h, h))
    with pytest.raises(ValueError, match="dropout should be a number in range \\[0, 1\\]"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("LSTM", dict(num_layers=2, bidirectional=True, batch_first=True)),
        ("GRU", dict(num_layers=2)),
        ("RNN", dict(nonlinearity="relu", bidirectional=True)),
        ("LSTM", dict(bias=False)),
        ("LSTMCell", {}),
        ("GRUCell", {}),
        ("RNNCell", {}),
    ],
)
def test_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, name)(3, 4, **kw).double()
    gm = getattr(nn, name)(3, 4, **kw).double()
    gm.load_state_dict({k: t(v.detach().numpy()) for k, v in tm.state_dict().items()})
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in gm.named_parameters()]
    assert repr(gm) == repr(tm)
    cell = name.endswith("Cell")
    shape = (2, 3) if cell else ((2, 5, 3) if kw.get("batch_first") else (5, 2, 3))
    x = np.random.default_rng(0).standard_normal(shape)
    to, go = tm(torch.tensor(x, requires_grad=True)), gm(t(x, requires_grad=True))
    to, go = (to[0], go[0]) if isinstance(to, tuple) else (to, go)
    assert_close(go, to.detach().numpy())
    up = np.random.default_rng(1).standard_normal(tuple(to.shape))
    (to * torch.tensor(up)).sum().backward()
    (go * t(up)).sum().backward()
    for p, q in zip(tm.parameters(), gm.parameters()):
        assert_close(q.grad, p.grad.numpy())


def test_pad_sequence(device):
    from gpugrad.nn.utils.rnn import pad_sequence, unpad_sequence

    a, b = t(rnd(3, 2), device), t(rnd(1, 2), device)
    out = pad_sequence([a, b])
    assert out.shape == (3, 2, 2)
    assert_close(out[:, 0], a.cpu().numpy())
    assert_close(out[1:, 1], np.zeros((2, 2)))
    left = pad_sequence([a, b], batch_first=True, padding_value=-1.0, padding_side="left")
    assert_close(left[1], np.vstack([-np.ones((2, 2)), b.cpu().numpy()]))
    back = unpad_sequence(out, gpugrad.tensor([3, 1]))
    assert [s.shape[0] for s in back] == [3, 1]
    av = t(rnd(3), device, requires_grad=True)
    assert gpugrad.autograd.gradcheck(
        lambda x: pad_sequence([x, x[:1]], batch_first=True), [av]
    )  # differentiable through the padding
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        pad_sequence([])
