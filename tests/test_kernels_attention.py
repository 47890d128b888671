"""The attention kernels ``sdpa`` / ``sdpa_backward`` and F.scaled_dot_product_attention's
fused path: the compiled CPU kernels against the NumPy references and torch (values and
gradients), causal with L != S (top-left alignment), bool and additive masks (broadcast),
fully masked rows (zeros, as torch), non-contiguous q/k/v, Ev != E, odd, empty and
one-element sizes, NaN propagation, float32/float64 (float16 through the reference);
gradcheck and gradgradcheck through the fused node."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F
from gpugrad.autograd import gradcheck, gradgradcheck
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import attention as NA

torch = pytest.importorskip("torch")

B = gpugrad.device("cpu").backend
SDPA_REF = getattr(B.sdpa, "reference", B.sdpa)
BWD_REF = getattr(B.sdpa_backward, "reference", B.sdpa_backward)
numba_only = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")
NODE = "ScaledDotProductFlashAttentionForCpuBackward0"

# (B, H, L, S, E, Ev, causal, mask kind)
CASES = [
    (2, 3, 5, 7, 4, 6, False, None),
    (2, 3, 7, 5, 4, 4, True, None),  # causal, L > S
    (1, 2, 4, 9, 3, 3, True, None),  # causal, L < S
    (2, 2, 6, 6, 3, 5, False, "bool"),
    (2, 3, 6, 9, 8, 8, False, "float"),
    (1, 1, 1, 1, 1, 1, False, None),
    (3, 1, 13, 17, 5, 7, True, None),
    (2, 2, 6, 6, 4, 4, False, "bool4d"),
]


def _mask(kind, b, h, L, S, dtype, rng):
    if kind is None:
        return None
    if kind == "bool":
        m = rng.random((L, S)) > 0.4
        m[1] = False  # a fully masked row
        return m
    if kind == "bool4d":
        m = rng.random((b, 1, L, S)) > 0.5
        m[0, 0, 2] = False
        return m
    m = rng.standard_normal((b, 1, L, S)).astype(dtype)
    m[0, 0, 2] = -np.inf
    m[-1, 0, 3, :] = -np.inf  # fully masked by -inf
    return m


def _inputs(case, dtype, rng, strided=False):
    b, h, L, S, E, Ev, causal, kind = case
    if strided:  # (B, L, H, E) transposed, as attention heads are usually made
        q = rng.standard_normal((b, L, h, E)).astype(dtype).transpose(0, 2, 1, 3)
        k = rng.standard_normal((b, S, h, E)).astype(dtype).transpose(0, 2, 1, 3)
        v = rng.standard_normal((b, S, h, 2 * Ev)).astype(dtype).transpose(0, 2, 1, 3)[..., ::2]
    else:
        q = rng.standard_normal((b, h, L, E)).astype(dtype)
        k = rng.standard_normal((b, h, S, E)).astype(dtype)
        v = rng.standard_normal((b, h, S, Ev)).astype(dtype)
    return q, k, v, _mask(kind, b, h, L, S, dtype, rng), causal


def _torch(q, k, v, mask, causal, scale, grad):
    tq, tk, tv = (torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in (q, k, v))
    tm = None if mask is None else torch.tensor(mask)
    out = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=tm, is_causal=causal, scale=scale
    )
    out.backward(torch.tensor(grad))
    return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("strided", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_kernels_against_reference_and_torch(case, dtype, strided):
    rng = np.random.default_rng(0)
    q, k, v, mask, causal = _inputs(case, dtype, rng, strided)
    scale = 0.37
    out, lse = SDPA_REF(q, k, v, mask, causal, scale)
    assert out.dtype == dtype and lse.dtype == (np.float64 if dtype == np.float64 else np.float32)
    grad = rng.standard_normal(out.shape).astype(dtype)
    grads = BWD_REF(grad, q, k, v, out, lse, mask, causal, scale)
    expected = _torch(q, k, v, mask, causal, scale, grad)
    for ours, ref in zip((out,) + grads, expected):
        np.testing.assert_allclose(ours, ref, **_tol(dtype))
    if not ENGINE.enabled():
        return
    cout, clse = ENGINE.compiled("sdpa")(q, k, v, mask, causal, scale)
    np.testing.assert_allclose(cout, out, **_tol(dtype))
    np.testing.assert_allclose(clse, lse, **_tol(dtype))
    cgrads = ENGINE.compiled("sdpa_backward")(grad, q, k, v, cout, clse, mask, causal, scale)
    for c, r in zip(cgrads, grads):
        assert c.dtype == dtype and c.shape == r.shape
        np.testing.assert_allclose(c, r, **_tol(dtype))


def test_fully_masked_rows_give_zeros_as_torch():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, 2, 4, 3)) for _ in range(3))
    mask = np.ones((4, 4), bool)
    mask[2] = False
    grad = np.ones((1, 2, 4, 3))
    kernels = [(SDPA_REF, BWD_REF)]
    if ENGINE.enabled():
        kernels.append((ENGINE.compiled("sdpa"), ENGINE.compiled("sdpa_backward")))
    expected = _torch(q, k, v, mask, False, None or 1 / math.sqrt(3), grad)
    for fwd, bwd in kernels:
        out, lse = fwd(q, k, v, mask, False, 1 / math.sqrt(3))
        assert np.all(out[:, :, 2] == 0) and np.all(np.isneginf(lse[:, :, 2]))
        grads = bwd(grad, q, k, v, out, lse, mask, False, 1 / math.sqrt(3))
        assert np.all(grads[0][:, :, 2] == 0)
        for ours, ref in zip((out,) + grads, expected):
            np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_nan_propagates_as_torch():
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((1, 1, 4, 3)) for _ in range(3))
    k[0, 0, 1, 0] = np.nan
    expected = _torch(q, k, v, None, True, 0.5, np.ones((1, 1, 4, 3)))[0]
    kernels = [SDPA_REF] + ([ENGINE.compiled("sdpa")] if ENGINE.enabled() else [])
    for fwd in kernels:
        out, _ = fwd(q, k, v, None, True, 0.5)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))  # rows 1.. are NaN
        np.testing.assert_allclose(out[0, 0, 0], expected[0, 0, 0], rtol=1e-12)


@pytest.mark.parametrize("shape", [(0, 2, 3, 4), (2, 2, 0, 4)])
def test_empty(shape):
    q = np.zeros(shape, np.float32)
    kernels = [(SDPA_REF, BWD_REF)]
    if ENGINE.enabled():
        kernels.append((ENGINE.compiled("sdpa"), ENGINE.compiled("sdpa_backward")))
    for fwd, bwd in kernels:
        out, lse = fwd(q, q, q, None, False, 0.5)
        assert out.shape == shape and lse.shape == shape[:3]
        assert all(g.shape == shape for g in bwd(out, q, q, q, out, lse, None, False, 0.5))


def test_float16_through_the_reference():
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 2, 5, 4)).astype(np.float16) for _ in range(3))
    assert not NA._when(q, k, v, None, True, 0.5)
    out, lse = B.sdpa(q, k, v, None, True, 0.5)
    assert out.dtype == np.float16 and lse.dtype == np.float32
    ref = _torch(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), None, True,
                 0.5, np.ones((2, 2, 5, 4), np.float32))[0]  # fmt: skip
    np.testing.assert_allclose(out.astype(np.float32), ref, rtol=2e-3, atol=2e-3)


@numba_only
def test_predicate():
    q = np.zeros((1, 1, 2, 4), np.float32)
    assert NA._when(q, q, q, None, False, 1.0)
    assert NA._when(q, q, q, np.ones((2, 2), bool), False, 1.0)
    assert not NA._when(q.astype(np.float16), q, q, None, False, 1.0)
    assert not NA._when(q, q.astype(np.float64), q, None, False, 1.0)
    big = np.zeros((1, 1, 2, NA.MAX_HEAD_DIM + 1), np.float32)
    assert not NA._when(big, big, big, None, False, 1.0)


# ---- F.scaled_dot_product_attention: the fused node ----------------------------------
MODES = [(False, None), (True, None), (False, "bool"), (False, "float")]


@pytest.mark.parametrize(
    "causal,kind", [(False, None), (True, None), (False, "bool"), (False, "float")]
)
def test_functional_fused_path_matches_torch(causal, kind):
    rng = np.random.default_rng(4)
    case = (2, 3, 6, 8 if not causal else 5, 4, 4, causal, kind)
    q, k, v, mask, _ = _inputs(case, np.float32, rng, strided=True)
    gq, gk, gv = (gpugrad.tensor(np.ascontiguousarray(a), requires_grad=True) for a in (q, k, v))
    gm = None if mask is None else gpugrad.tensor(mask)
    out = F.scaled_dot_product_attention(gq, gk, gv, attn_mask=gm, is_causal=causal)
    assert out.grad_fn.name() == NODE
    grad = rng.standard_normal(tuple(out.shape)).astype(np.float32)
    out.backward(gpugrad.tensor(grad))
    expected = _torch(q, k, v, mask, causal, None, grad)
    for ours, ref in zip((out.detach(), gq.grad, gk.grad, gv.grad), expected):
        np.testing.assert_allclose(ours.numpy(), ref, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    "causal,kind", [(False, None), (True, None), (False, "bool"), (False, "float")]
)
def test_gradcheck_through_the_fused_node(causal, kind):
    rng = np.random.default_rng(5)
    q, k, v, mask, _ = _inputs(
        (1, 2, 4, 5 if not causal else 3, 3, 3, causal, kind), np.float64, rng
    )
    gm = None if mask is None else gpugrad.tensor(mask[:1])
    args = [gpugrad.tensor(a, requires_grad=True) for a in (q, k, v)]

    def fn(a, b, c):
        return F.scaled_dot_product_attention(a, b, c, attn_mask=gm, is_causal=causal)

    assert fn(*args).grad_fn.name() == NODE
    assert gradcheck(fn, args)
    assert gradgradcheck(fn, args)


def test_composed_path_where_the_kernels_do_not_apply():
    rng = np.random.default_rng(6)
    q = gpugrad.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)  # 3-d
    assert F.scaled_dot_product_attention(q, q, q).grad_fn.name() != NODE
    q4 = gpugrad.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    v6 = gpugrad.tensor(rng.standard_normal((1, 2, 3, 6)), requires_grad=True)  # Ev != E
    assert F.scaled_dot_product_attention(q4, q4, v6).grad_fn.name() != NODE
    m = gpugrad.zeros((3, 3), dtype=q4.dtype, requires_grad=True)  # a mask that needs a grad
    out = F.scaled_dot_product_attention(q4, q4, q4, attn_mask=m)
    out.sum().backward()
    assert m.grad is not None
    gpugrad.manual_seed(0)
    out = F.scaled_dot_product_attention(q4, q4, q4, dropout_p=0.5)  # dropout: composed
    assert out.grad_fn.name() != NODE


def test_gqa_through_the_fused_path():
    rng = np.random.default_rng(7)
    q = rng.standard_normal((1, 4, 5, 3)).astype(np.float32)
    k = rng.standard_normal((1, 2, 5, 3)).astype(np.float32)
    ours = F.scaled_dot_product_attention(
        gpugrad.tensor(q), gpugrad.tensor(k), gpugrad.tensor(k), is_causal=True, enable_gqa=True
    )
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(k), is_causal=True, enable_gqa=True
    )
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_composed_path_fully_masked_rows_as_torch():
    rng = np.random.default_rng(8)
    q, k = (rng.standard_normal((1, 2, 4, 3)) for _ in range(2))
    v = rng.standard_normal((1, 2, 4, 5))  # Ev != E: the composed path
    mask = np.ones((4, 4), bool)
    mask[1] = False
    grad = rng.standard_normal((1, 2, 4, 5))
    args = [gpugrad.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*args, attn_mask=gpugrad.tensor(mask))
    assert out.grad_fn.name() != NODE
    out.backward(gpugrad.tensor(grad))
    expected = _torch(q, k, v, mask, False, None, grad)
    for ours, ref in zip((out.detach(),) + tuple(a.grad for a in args), expected):
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-12)
