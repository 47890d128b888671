"""scaled_dot_product_attention (the backend's fused sdpa kernels where they apply, else
composed ops) and multi_head_attention_forward (a composite)."""

from __future__ import annotations

import math

from .._tensor import Tensor
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node
from . import activation as _act
from . import linalg as _linalg
from . import shape as _shape
from ._checks import cpp_type_name
from ._util import needs_grad, record
from .dropout import dropout
from .padding import pad


def _bool_mask_array(xp, shape):
    return xp.tril(xp.ones(shape, dtype=bool))


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(Q K^T * scale + mask) V over the last two dims.

    A boolean attn_mask marks positions that may be attended (True = keep); a float mask is
    added to the scores. is_causal applies a lower-triangular mask. Dropout is applied
    whenever dropout_p > 0, as in PyTorch (pass 0.0 when evaluating).
    """
    _check_qkv(query, key, value)
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
            "is_causal=True"
        )
    if value._data.size == 0:
        return _empty_value(query, key, value)
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key = _repeat_heads(key, rep)
        value = _repeat_heads(value, rep)
    if dropout_p == 0.0 and _fusable(query, key, value, attn_mask):
        return _sdpa_fused(query, key, value, attn_mask, is_causal, scale)
    scores = query @ key.transpose(-2, -1)
    scores = scores * scale
    xp = query._device.backend.xp
    if is_causal:
        keep = Tensor._make(_bool_mask_array(xp, (L, S)), query._device)
        scores = scores.masked_fill(~keep, -math.inf)
    if attn_mask is not None:
        if attn_mask.dtype.name == "bool":
            scores = scores.masked_fill(~attn_mask, -math.inf)
        else:
            scores = scores + attn_mask
    dead = None
    if is_causal or attn_mask is not None:  # rows with every score masked: zeros, as PyTorch
        rows = xp.isneginf(scores._data).all(-1, keepdims=True)
        if rows.any():
            dead = Tensor._make(rows, query._device)
            scores = scores.masked_fill(dead, 0.0)
    weights = _act.softmax(scores, -1)
    if dead is not None:
        weights = weights.masked_fill(dead, 0.0)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights @ value


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    """PyTorch's validate_sdpa_input: one dtype (its text names C++ types), then ranks."""
    if not q.dtype == k.dtype == v.dtype:
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{cpp_type_name(q.dtype)} key.dtype: {cpp_type_name(k.dtype)} and value.dtype: "
            f"{cpp_type_name(v.dtype)} instead."
        )
    if q._data.ndim < 2 or k._data.ndim < 2 or v._data.ndim < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got "
            f"query.dim: {q._data.ndim} key.dim: {k._data.ndim} and value.dim: "
            f"{v._data.ndim} instead."
        )


def _empty_value(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """PyTorch's result for a value with no elements: zeros of shape (..., L, Ev), whatever
    the batch shapes (a zero-scaled sum of the inputs keeps them in the graph, as its)."""
    shape = tuple(q.shape[:-1]) + (v.shape[-1],)
    out = Tensor._make(q._device.backend.xp.zeros(shape, dtype=q._data.dtype), q._device)
    if needs_grad(q, k, v):
        out = out + (q.sum() + k.sum() + v.sum()) * 0.0
    return out


def _fusable(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> bool:
    """Whether the backend's sdpa kernels serve this call: 4-d q/k/v of one (B, H), one float
    dtype, E == Ev (PyTorch's CPU flash kernel, whose node this is), and a bool mask or a float
    one of q's dtype that needs no gradient."""
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4 or not q.dtype.is_floating_point:
        return False
    if k.dtype != q.dtype or v.dtype != q.dtype or not q._device == k._device == v._device:
        return False
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[3] != v.shape[3]:
        return False
    if q.shape[3] != k.shape[3]:
        return False
    if mask is not None:
        if mask._device != q._device or mask.ndim > 4:
            return False
        if mask.dtype.name != "bool" and (mask.dtype != q.dtype or mask._requires_grad):
            return False
        target = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
        if any(m not in (1, t) for m, t in zip(reversed(mask.shape), reversed(target))):
            return False
    return True


class ScaledDotProductFlashAttentionForCpuBackward0(Node):
    """The backend's sdpa_backward; under create_graph the same formulas as Tensor ops."""

    def backward(self, grad):
        if not _grad_state.enabled:
            return self._backward_arrays(grad)
        q, k, v, _ = self.saved_tensors
        # rows with every key masked (lse -inf) are zeros; looked for only here, so the
        # forward makes no data-dependent branch (gpugrad.compile records straight through)
        dead = q._device.backend.xp.isneginf(self.lse)[..., None]
        p = _probs(q, k, self.mask, self.is_causal, self.scale, dead if dead.any() else None)
        out = p @ v
        rows = (grad * out).sum(-1, keepdim=True)
        dv = p.transpose(-2, -1) @ grad
        ds = p * (grad @ v.transpose(-2, -1) - rows) * self.scale
        return ds @ k, ds.transpose(-2, -1) @ q, dv

    def _arrays(self, backend, g):
        q, k, v, out = self.saved_arrays()
        mask = None if self.mask is None else self.mask._data
        return backend.sdpa_backward(g, q, k, v, out, self.lse, mask, self.is_causal, self.scale)


def _probs(q: Tensor, k: Tensor, mask, is_causal: bool, scale: float, dead) -> Tensor:
    """softmax of the scaled, masked scores as Tensor ops; zero rows where all are masked."""
    scores = (q @ k.transpose(-2, -1)) * scale
    xp = q._device.backend.xp
    if is_causal:
        L, S = scores.shape[-2:]
        keep = Tensor._make(xp.arange(L)[:, None] >= xp.arange(S)[None, :], q._device)
        scores = scores.masked_fill(~keep, -math.inf)
    if mask is not None:
        if mask.dtype.name == "bool":
            scores = scores.masked_fill(~mask, -math.inf)
        else:
            scores = scores + mask
    if dead is None:
        return _act.softmax(scores, -1)
    rows = Tensor._make(dead, q._device)
    return _act.softmax(scores.masked_fill(rows, 0.0), -1).masked_fill(rows, 0.0)


def _sdpa_fused(q: Tensor, k: Tensor, v: Tensor, mask, is_causal: bool, scale: float) -> Tensor:
    backend = q._device.backend
    m = None if mask is None else mask._data
    out_data, lse = backend.sdpa(q._data, k._data, v._data, m, bool(is_causal), float(scale))
    out = Tensor._make(out_data, q._device)
    if needs_grad(q, k, v):
        node = record(ScaledDotProductFlashAttentionForCpuBackward0(), (q, k, v), out)
        node.save(q, k, v, out)
        node.lse, node.mask = lse, mask
        node.is_causal, node.scale = bool(is_causal), float(scale)
    return out


def _repeat_heads(x: Tensor, rep: int) -> Tensor:
    """(..., Hk, S, E) -> (..., Hk*rep, S, E), each head repeated rep times in place."""
    shape = tuple(x.shape)
    lead, (hk, s, e) = shape[:-3], shape[-3:]
    x = x.unsqueeze(-3).expand(*lead, hk, rep, s, e)
    return x.reshape(*lead, hk * rep, s, e)


def _canonical_mask(mask: Tensor | None, name: str, target_dtype) -> Tensor | None:
    """MHA's masks as additive floats: a bool True (masked out) becomes -inf."""
    if mask is None:
        return None
    if mask.dtype.name == "bool":
        xp = mask._device.backend.xp
        data = xp.where(mask._data, -math.inf, 0.0).astype(target_dtype.np)
        return Tensor._make(data, mask._device)
    if not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of {name} are supported")
    return mask


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention on (L, N, E) inputs (or unbatched (L, E)), PyTorch's algorithm."""
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")

    if not use_separate_proj_weight:
        if query is key and key is value:
            q, k, v = _linalg.linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
        else:
            wq, wk, wv = in_proj_weight.chunk(3)
            bq, bk, bv = in_proj_bias.chunk(3) if in_proj_bias is not None else (None,) * 3
            q = _linalg.linear(query, wq, bq)
            k, v = _linalg.linear(key, wk, bk), _linalg.linear(value, wv, bv)
    else:
        bq, bk, bv = in_proj_bias.chunk(3) if in_proj_bias is not None else (None,) * 3
        q = _linalg.linear(query, q_proj_weight, bq)
        k, v = _linalg.linear(key, k_proj_weight, bk), _linalg.linear(value, v_proj_weight, bv)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                    f"{(tgt_len, src_len)}."
                )
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                    f"{(bsz * num_heads, tgt_len, src_len)}."
                )
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")

    if bias_k is not None and bias_v is not None:
        k = _shape.cat([k, bias_k.repeat(1, bsz, 1)])
        v = _shape.cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))

    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = (
        static_k
        if static_k is not None
        else k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    )
    v = (
        static_v
        if static_v is not None
        else v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    )

    if add_zero_attn:
        xp = k._device.backend.xp
        zeros = Tensor._make(
            xp.zeros((bsz * num_heads, 1, head_dim), dtype=k._data.dtype), k._device
        )
        k, v = _shape.cat([k, zeros], 1), _shape.cat([v, zeros], 1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(
                f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                f"{key_padding_mask.shape}"
            )
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    if not training:
        dropout_p = 0.0

    if need_weights:
        q_scaled = q * math.sqrt(1.0 / float(head_dim))
        scores = q_scaled @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = _act.softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = weights @ v  # (N*H, L, hd)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _linalg.linear(out, out_proj_weight, out_proj_bias)
        out = out.reshape(tgt_len, bsz, out.shape[1])
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
        if unbatched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.ndim == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = _linalg.linear(out, out_proj_weight, out_proj_bias)
    out = out.reshape(tgt_len, bsz, out.shape[1])
    if unbatched:
        out = out.squeeze(1)
    return out, None
