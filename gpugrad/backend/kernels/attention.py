"""Attention kernels: scaled dot-product attention forward and backward.

Layouts: ``q`` (B, H, L, E), ``k`` (B, H, S, E), ``v`` (B, H, S, Ev), any strides, one B and H
for all three. ``mask`` is None, a bool array (True keeps a score) or an additive float array,
broadcastable to (B, H, L, S). ``is_causal`` keeps score (i, j) where j <= i (PyTorch's
top-left alignment, also when L != S). A row with every score masked out gives zeros (out, and
every gradient through it), as PyTorch's CPU kernels. ``lse`` (B, H, L) is each row's
log-sum-exp of the scaled, masked scores in float32 (float64 for float64 inputs; -inf for a
fully masked row), saved for the backward.
"""

from __future__ import annotations

from .engine import kernel


def _lse_dtype(xp, dtype):
    """lse's dtype: float64 for float64 inputs (their gradients keep full precision), else
    float32."""
    return xp.dtype(xp.float64) if dtype == xp.float64 else xp.dtype(xp.float32)


class AttentionKernels:
    """The attention names (docs/kernels.md); references written against ``self.xp``."""

    def _sdpa_probs(self, q, k, mask, is_causal, scale, lse=None):
        """The attention probabilities in the compute dtype (float32 for half types), and lse."""
        xp = self.xp
        ct = xp.dtype(xp.float32) if q.dtype.itemsize < 4 else q.dtype
        s = self.matmul(q.astype(ct, copy=False), xp.swapaxes(k.astype(ct, copy=False), -1, -2))
        s *= scale
        L, S = s.shape[-2:]
        if is_causal:
            keep = xp.arange(L)[:, None] >= xp.arange(S)[None, :]
            s = xp.where(keep, s, -xp.inf)
        if mask is not None:
            if mask.dtype == bool:
                s = xp.where(mask, s, -xp.inf)
            else:
                s = s + mask.astype(ct, copy=False)
        return self.quiet(self._sdpa_softmax, s, lse)

    def _sdpa_softmax(self, s, lse):
        """exp(s - lse) (lse computed here when None); zeros on fully masked rows."""
        xp = self.xp
        if lse is None:
            if s.shape[-1]:
                m = xp.max(s, axis=-1, keepdims=True)
            else:
                m = xp.full(s.shape[:-1] + (1,), -xp.inf, s.dtype)
            m_safe = xp.where(xp.isneginf(m), 0, m)
            total = xp.sum(xp.exp(s - m_safe), axis=-1, keepdims=True)
            lse_c = xp.log(total) + m_safe
            lse = lse_c[..., 0].astype(_lse_dtype(xp, s.dtype))
        else:
            lse_c = lse.astype(s.dtype)[..., None]
        dead = xp.isneginf(lse_c)
        p = xp.where(dead, 0, xp.exp(s - xp.where(dead, 0, lse_c)))  # PyTorch: zeros
        return p, lse

    @kernel
    def sdpa(self, q, k, v, mask, is_causal, scale):
        """softmax(q k^T * scale + mask) v -> (out, lse); see the module docstring."""
        xp = self.xp
        p, lse = self._sdpa_probs(q, k, mask, is_causal, scale)
        out = self.matmul(p, v.astype(p.dtype, copy=False))
        return xp.ascontiguousarray(out.astype(q.dtype, copy=False)), xp.ascontiguousarray(lse)

    @kernel
    def sdpa_backward(self, grad, q, k, v, out, lse, mask, is_causal, scale):
        """Gradients (dq, dk, dv) of sdpa for the output gradient ``grad``."""
        xp = self.xp
        p, _ = self._sdpa_probs(q, k, mask, is_causal, scale, lse)
        ct = p.dtype
        g = grad.astype(ct, copy=False)
        dv = self.matmul(xp.swapaxes(p, -1, -2), g)
        dp = self.matmul(g, xp.swapaxes(v.astype(ct, copy=False), -1, -2))
        rows = xp.sum(g * out.astype(ct, copy=False), axis=-1, keepdims=True)
        ds = p * (dp - rows)
        ds *= scale
        dq = self.matmul(ds, k.astype(ct, copy=False))
        dk = self.matmul(xp.swapaxes(ds, -1, -2), q.astype(ct, copy=False))
        return tuple(
            xp.ascontiguousarray(a.astype(ref.dtype, copy=False))
            for a, ref in ((dq, q), (dk, k), (dv, v))
        )
