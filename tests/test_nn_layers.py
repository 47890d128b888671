"""Linear, activations, normalisation, embedding, dropout and attention layers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from utils import assert_close, check_grad, host, rnd, t

import gpugrad as torch
import gpugrad.nn as nn
import gpugrad.nn.functional as F


def _np(x):
    return host(x).astype(np.float64)


# ---- linear ------------------------------------------------------------------------------
def test_linear_forward_grad_and_init(device):
    lin = nn.Linear(5, 3).to(device).double()
    x = rnd(4, 5)
    assert_close(lin(t(x, device)), x @ _np(lin.weight).T + _np(lin.bias))
    assert lin(t(rnd(2, 4, 5), device)).shape == (2, 4, 3)
    check_grad(lambda x, w, b: F.linear(x, w, b), x, rnd(3, 5), rnd(3), device=device)
    big = nn.Linear(100, 50)
    w = _np(big.weight)
    bound = 1 / math.sqrt(100)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound  # U(-b, b) has std b / sqrt(3)
    assert np.abs(_np(big.bias)).max() <= bound
    assert nn.Linear(3, 2, bias=False).bias is None


def test_bilinear(device):
    m = nn.Bilinear(2, 3, 4).to(device).double()
    a, b = rnd(5, 2), rnd(5, 3)
    ref = np.einsum("ni,kij,nj->nk", a, _np(m.weight), b) + _np(m.bias)
    assert_close(m(t(a, device), t(b, device)), ref)


# ---- activations -----------------------------------------------------------------------
def _sig(x):
    return 1 / (1 + np.exp(-x))


def _erf(x):
    return np.vectorize(math.erf)(x)


ACTIVATIONS = {
    "relu": (nn.ReLU(), lambda x: np.maximum(x, 0)),
    "leaky_relu": (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "gelu": (nn.GELU(), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "gelu_tanh": (
        nn.GELU("tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    ),
    "silu": (nn.SiLU(), lambda x: x * _sig(x)),
    "sigmoid": (nn.Sigmoid(), _sig),
    "tanh": (nn.Tanh(), np.tanh),
    "softplus": (
        nn.Softplus(beta=2.0, threshold=3.0),
        lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2),
    ),
    "elu": (nn.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    "hardtanh": (nn.Hardtanh(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7)),
    "mish": (nn.Mish(), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    "softmax": (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    "log_softmax": (nn.LogSoftmax(dim=-1), lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_modules(device, name):
    mod, ref = ACTIVATIONS[name]
    x = rnd(3, 5)
    assert_close(mod(t(x, device)), ref(x))
    check_grad(mod, x, device=device)


def test_softplus_and_bce_logits_gradient_at_zero(device):
    x = t(np.zeros(3), device, requires_grad=True)
    F.softplus(x).sum().backward()
    assert_close(x.grad, np.full(3, 0.5))


def test_inplace_relu_and_softmax_implicit_dim(device):
    x = t(rnd(2, 3), device)
    y = nn.ReLU(inplace=True)(x)
    assert y is x and (host(x) >= 0).all()
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = F.softmax(t(rnd(2, 3), device))
    assert_close(out.sum(1), np.ones(2))


# ---- normalisation ---------------------------------------------------------------------
def test_layer_norm(device):
    ln = nn.LayerNorm((3, 4)).to(device).double()
    with torch.no_grad():
        ln.weight.copy_(t(rnd(3, 4), device))
        ln.bias.copy_(t(rnd(3, 4), device))
    x = rnd(2, 3, 4)
    mu = x.mean((1, 2), keepdims=True)
    var = x.var((1, 2), keepdims=True)
    ref = (x - mu) / np.sqrt(var + 1e-5) * _np(ln.weight) + _np(ln.bias)
    assert_close(ln(t(x, device)), ref)
    check_grad(lambda x, w, b: F.layer_norm(x, (4,), w, b), x, rnd(4), rnd(4), device=device)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    with pytest.raises(
        RuntimeError,
        match=r"Given normalized_shape=\[5\], expected input with "
        r"shape \[\*, 5\], but got input of size\[2, 3, 4\]",
    ):
        F.layer_norm(t(x, device), (5,))


def test_group_and_rms_norm(device):
    x = rnd(2, 4, 3)
    g = x.reshape(2, 2, -1)
    ref = (g - g.mean(2, keepdims=True)) / np.sqrt(g.var(2, keepdims=True) + 1e-5)
    assert_close(nn.GroupNorm(2, 4).to(device).double()(t(x, device)), ref.reshape(x.shape))
    rms = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6)
    assert_close(F.rms_norm(t(x, device), (3,), eps=1e-6), rms)
    check_grad(lambda x: F.group_norm(x, 2), x, device=device)


def test_batch_norm_train_eval_and_running_stats(device):
    bn = nn.BatchNorm2d(3).to(device).double()
    rm, rv = np.zeros(3), np.ones(3)
    for _ in range(2):
        x = rnd(4, 3, 2, 2) * 2 + 1
        out = bn(t(x, device))
        mu, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
        ref = (x - mu.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5)
        assert_close(out, ref)
        n = x.size / 3
        rm, rv = 0.9 * rm + 0.1 * mu, 0.9 * rv + 0.1 * var * n / (n - 1)
    assert_close(bn.running_mean, rm)
    assert_close(bn.running_var, rv)
    assert bn.num_batches_tracked.item() == 2
    bn.eval()
    x = rnd(2, 3, 2, 2)
    ref = (x - rm.reshape(1, 3, 1, 1)) / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-5)
    assert_close(bn(t(x, device)), ref)
    assert bn.num_batches_tracked.item() == 2  # eval does not count
    check_grad(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        rnd(4, 3, 2),
        rnd(3),
        rnd(3),
        device=device,
    )


def test_batch_norm_cumulative_momentum_and_errors(device):
    bn = nn.BatchNorm1d(2, momentum=None).to(device).double()
    xs = [rnd(5, 2) for _ in range(3)]
    for x in xs:
        bn(t(x, device))
    assert_close(bn.running_mean, np.mean([x.mean(0) for x in xs], axis=0))
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 4D input\\)"):
        bn(t(rnd(2, 2, 2, 2), device))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(t(rnd(1, 2), device))
    plain = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == [] and plain.running_mean is None
    plain.eval()
    x = rnd(6, 2)
    assert_close(plain.double()(t(x, device)), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))


# ---- embedding ---------------------------------------------------------------------------
def test_embedding(device):
    emb = nn.Embedding(6, 3, padding_idx=2).to(device).double()
    w = _np(emb.weight)
    assert (w[2] == 0).all() and w.std() > 0.5  # N(0, 1) init, padding row zeroed
    idx = torch.tensor([[0, 2, 2], [5, 1, 0]], device=device)
    out = emb(idx)
    assert_close(out, w[host(idx)])
    (out * t(rnd(2, 3, 3), device)).sum().backward()
    assert (host(emb.weight.grad)[2] == 0).all() and (host(emb.weight.grad)[3] == 0).all()
    check_grad(lambda w: F.embedding(idx, w), rnd(6, 3), device=device)
    w2 = t(rnd(6, 3), device, requires_grad=True)
    up = rnd(2, 3, 3)
    (F.embedding(idx, w2, scale_grad_by_freq=True) * t(up, device)).sum().backward()
    flat, counts = host(idx).reshape(-1), np.bincount(host(idx).reshape(-1), minlength=6)
    expected = np.zeros((6, 3))
    np.add.at(expected, flat, up.reshape(-1, 3) / counts[flat][:, None])
    assert_close(w2.grad, expected)
    with pytest.raises(IndexError, match="index out of range in self"):
        emb(torch.tensor([6], device=device)).cpu()  # on cuda, raised at the sync
    frozen = nn.Embedding.from_pretrained(t(rnd(4, 2), device))
    assert not frozen.weight.requires_grad


def test_embedding_max_norm(device):
    w = t(rnd(4, 3) * 5, device)
    F.embedding(torch.tensor([0, 1], device=device), w, max_norm=1.0)
    norms = np.linalg.norm(host(w), axis=1)
    assert (norms[:2] <= 1.0 + 1e-6).all() and (norms[2:] > 1.0).all()


def test_one_hot(device):
    out = F.one_hot(torch.tensor([0, 2, 1], device=device))
    assert out.dtype == torch.int64 and host(out).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert F.one_hot(torch.tensor([1], device=device), 4).shape == (1, 4)
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        F.one_hot(torch.tensor([3], device=device), 2)


# ---- dropout -----------------------------------------------------------------------------
def test_dropout_train_and_eval(device):
    d = nn.Dropout(0.25)
    x = torch.ones(200, 50, device=device, requires_grad=True)
    y = d(x)
    vals = host(y)
    zero = (vals == 0).mean()
    assert 0.2 < zero < 0.3
    assert np.allclose(vals[vals != 0], 1 / 0.75)
    y.sum().backward()
    assert np.array_equal(host(x.grad), vals)  # gradient is the same mask and scale
    d.eval()
    assert d(x) is x
    assert (host(F.dropout(x, 1.0)) == 0).all()
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)
    mask = host(F.dropout2d(torch.ones(4, 8, 3, 3, device=device), 0.5))
    assert (mask.std(axis=(2, 3)) == 0).all()  # whole channels dropped


def test_dropout_reproducible_with_seed(device):
    x = torch.ones(10, 10, device=device)
    torch.manual_seed(3)
    a = host(F.dropout(x, 0.5))
    torch.manual_seed(3)
    assert np.array_equal(a, host(F.dropout(x, 0.5)))


# ---- attention ---------------------------------------------------------------------------
def _sdpa_ref(q, k, v, mask=None, causal=False, scale=None):
    s = q @ np.swapaxes(k, -1, -2) * (scale or 1 / math.sqrt(q.shape[-1]))
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ v


def test_scaled_dot_product_attention(device):
    q, k, v = rnd(2, 3, 4, 5), rnd(2, 3, 6, 5), rnd(2, 3, 6, 2)
    assert_close(
        F.scaled_dot_product_attention(t(q, device), t(k, device), t(v, device)), _sdpa_ref(q, k, v)
    )
    mask = np.random.default_rng(0).uniform(size=(4, 6)) > 0.3
    mask[:, 0] = True
    got = F.scaled_dot_product_attention(
        t(q, device), t(k, device), t(v, device), attn_mask=torch.tensor(mask, device=device)
    )
    assert_close(got, _sdpa_ref(q, k, v, mask))
    fm = rnd(4, 6)
    got = F.scaled_dot_product_attention(t(q, device), t(k, device), t(v, device), t(fm, device))
    assert_close(got, _sdpa_ref(q, k, v, fm))
    got = F.scaled_dot_product_attention(
        t(q, device), t(k[:, :, :4], device), t(v[:, :, :4], device), is_causal=True, scale=0.3
    )
    assert_close(got, _sdpa_ref(q, k[:, :, :4], v[:, :, :4], causal=True, scale=0.3))
    check_grad(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        rnd(1, 2, 3, 4),
        rnd(1, 2, 3, 4),
        rnd(1, 2, 3, 2),
        device=device,
    )
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set"):
        F.scaled_dot_product_attention(
            t(q, device), t(k, device), t(v, device), t(fm, device), is_causal=True
        )


def test_multihead_attention_matches_reference(device):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True).to(device).double()
    assert [n for n, _ in mha.named_parameters()] == [
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]
    assert host(mha.in_proj_bias).sum() == 0 and host(mha.out_proj.bias).sum() == 0
    x = rnd(3, 4, 8)  # (N, L, E)
    kpm = np.zeros((3, 4), bool)
    kpm[0, -1] = True
    out, weights = mha(
        t(x, device), t(x, device), t(x, device), key_padding_mask=torch.tensor(kpm, device=device)
    )
    w_in, b_in = _np(mha.in_proj_weight), _np(mha.in_proj_bias)
    q, k, v = np.split(x @ w_in.T + b_in, 3, axis=-1)

    def heads(a):  # (N, L, E) -> (N, H, L, hd)
        return a.reshape(3, 4, 2, 4).transpose(0, 2, 1, 3)

    mask = np.broadcast_to(~kpm[:, None, None, :], (3, 2, 4, 4))
    att = _sdpa_ref(heads(q), heads(k), heads(v), mask)
    ref = att.transpose(0, 2, 1, 3).reshape(3, 4, 8) @ _np(mha.out_proj.weight).T
    assert_close(out, ref + _np(mha.out_proj.bias))
    assert weights.shape == (3, 4, 4)
    assert_close(weights.sum(-1), np.ones((3, 4)))
    out2, none = mha(
        t(x, device),
        t(x, device),
        t(x, device),
        need_weights=False,
        key_padding_mask=torch.tensor(kpm, device=device),
    )
    assert none is None
    assert_close(out2, out)


def test_multihead_attention_against_torch(device):
    ref_torch = pytest.importorskip("torch")
    if ref_torch is torch:
        pytest.skip("real PyTorch not importable")
    for kw in [dict(), dict(kdim=3, vdim=5), dict(add_bias_kv=True, add_zero_attn=True)]:
        tm = ref_torch.nn.MultiheadAttention(8, 2, **kw).double()
        gm = nn.MultiheadAttention(8, 2, **kw).double().to(device)
        assert list(tm.state_dict()) == list(gm.state_dict())
        gm.load_state_dict({k: t(v.detach().numpy(), device) for k, v in tm.state_dict().items()})
        q, k, v = rnd(4, 2, 8), rnd(5, 2, kw.get("kdim", 8)), rnd(5, 2, kw.get("vdim", 8))
        am = np.triu(np.ones((4, 5), bool), 2)
        to, tw = tm(*(ref_torch.tensor(a) for a in (q, k, v)), attn_mask=ref_torch.tensor(am))
        go, gw = gm(
            t(q, device), t(k, device), t(v, device), attn_mask=torch.tensor(am, device=device)
        )
        assert_close(go, to.detach().numpy())
        assert_close(gw, tw.detach().numpy())


def test_multihead_attention_backward(device):
    mha = nn.MultiheadAttention(4, 2).to(device).double()
    x = t(rnd(3, 2, 4), device, requires_grad=True)
    causal = torch.tensor(np.triu(np.ones((3, 3), bool), 1), device=device)
    out, _ = mha(x, x, x, attn_mask=causal, need_weights=False, is_causal=True)
    out.sum().backward()
    assert x.grad.shape == x.shape
    assert all(p.grad is not None for p in mha.parameters())
