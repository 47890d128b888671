"""Transformer layers: PyTorch's submodule names, causal masking as a property, gradcheck in
float64, and (when torch is there) outputs equal to torch's with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import nn
from tests.utils import assert_close, rnd, t

ENCODER_KEYS = [
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
    "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
    "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
]  # fmt: skip


def test_names_and_shapes(device):
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0).to(device)
    assert list(layer.state_dict()) == ENCODER_KEYS  # torch 2.13's keys, in its order
    enc = nn.TransformerEncoder(layer, 2).to(device)
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight  # deep copies
    assert enc(gpugrad.randn(5, 3, 8, device=device)).shape == (5, 3, 8)
    model = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, batch_first=True).to(device)
    out = model(gpugrad.randn(2, 6, 8, device=device), gpugrad.randn(2, 4, 8, device=device))
    assert out.shape == (2, 4, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.tolist() == [[0.0, -np.inf, -np.inf], [0.0, 0.0, -np.inf], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("norm_first", [False, True])
def test_causal_mask_hides_the_future(norm_first, device):
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first)
    layer = layer.double().to(device).eval()
    x = rnd(5, 2, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=gpugrad.float64, device=device)
    with gpugrad.no_grad():
        out = layer(t(x, device), src_mask=mask)
        x2 = x.copy()
        x2[3:] += 1.0  # change only the last two positions
        out2 = layer(t(x2, device), src_mask=mask)
    assert_close(out[:3], out2[:3].cpu().numpy())  # earlier positions cannot see them
    assert np.abs((out[3:] - out2[3:]).cpu().numpy()).max() > 1e-3


def test_gradcheck(device):
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu")
    layer = layer.double().to(device)
    assert gpugrad.autograd.gradcheck(layer, [t(rnd(3, 2, 4), device, requires_grad=True)])


@pytest.mark.parametrize(
    "kw", [{}, {"norm_first": True, "activation": "gelu", "batch_first": True}]
)
def test_matches_torch(kw):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tt = torch.nn.Transformer(8, 2, 2, 2, 16, dropout=0.0, **kw).double().eval()
    gt = nn.Transformer(8, 2, 2, 2, 16, dropout=0.0, **kw).double().eval()
    assert list(tt.state_dict()) == list(gt.state_dict())
    gt.load_state_dict({k: t(v.detach().numpy()) for k, v in tt.state_dict().items()})
    bf = kw.get("batch_first", False)
    src, tgt = rnd(*((2, 6, 8) if bf else (6, 2, 8))), rnd(*((2, 4, 8) if bf else (4, 2, 8)))
    pad = np.array([[False] * 6, [False] * 4 + [True] * 2])
    causal = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    theirs = tt(
        torch.tensor(src), torch.tensor(tgt), tgt_mask=causal,
        src_key_padding_mask=torch.tensor(pad), memory_key_padding_mask=torch.tensor(pad),
    )  # fmt: skip
    ours = gt(
        t(src), t(tgt), tgt_mask=t(causal.numpy()),
        src_key_padding_mask=gpugrad.tensor(pad), memory_key_padding_mask=gpugrad.tensor(pad),
    )  # fmt: skip
    assert_close(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert repr(gt.encoder.layers[0]) == repr(tt.encoder.layers[0])
