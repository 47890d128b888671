"""embedding (a row gather with a scatter-add backward, max_norm renormalisation) and
one_hot."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..autograd.graph import Node
from ._checks import check_in_self, checked_in_self
from ._util import (
    check_device,
    needs_grad,
    record,
    wrap_dim,
)


class _EmbCtx:
    __slots__ = ("idx", "num", "padding_idx", "counts", "sparse")

    def __init__(self, idx, num, padding_idx, counts, sparse=False) -> None:
        self.idx, self.num, self.padding_idx, self.counts = idx, num, padding_idx, counts
        self.sparse = sparse


class EmbeddingBackward0(Node):
    def backward(self, grad):
        if self.ctx.sparse and not needs_grad(grad):
            return (None, _sparse_rows(grad, self.ctx))
        return (None, _scatter_rows(grad, self.ctx))


def _sparse_rows(grad: Tensor, ctx: _EmbCtx) -> Tensor:
    """sparse=True: the gradient as an uncoalesced COO tensor, one row per lookup (PyTorch's
    embedding_sparse_backward: padding_idx lookups left out, repeats not summed)."""
    from .sparse import _make

    if ctx.counts is not None:
        raise RuntimeError(
            "embedding_backward: scale_grad_by_freq not supported with sparse gradients"
        )
    xp = grad._device.backend.xp
    d = grad.shape[-1]
    g = grad._data.reshape(-1, d)
    scale = _row_scale(ctx, xp, g.dtype)
    if scale is not None:
        g = g * scale[:, None]
    idx = ctx.idx
    if ctx.padding_idx is not None:
        keep = idx != ctx.padding_idx
        idx, g = idx[keep], g[keep]
    dev = grad._device
    indices = Tensor._make(idx.reshape(1, -1).astype("int64"), dev)
    return _make(indices, Tensor._make(xp.array(g), dev), (ctx.num, d), False)


class EmbeddingScatterBackward(Node):
    def backward(self, h):
        return (_gather_rows(h, self.ctx).reshape(self.out_shape),)


def _row_scale(ctx: _EmbCtx, xp, dtype):
    """Per-lookup factor: 0 for padding_idx, 1/count with scale_grad_by_freq, else None."""
    scale = None
    if ctx.counts is not None:
        scale = (1.0 / ctx.counts[ctx.idx]).astype(dtype)
    if ctx.padding_idx is not None:
        keep = (ctx.idx != ctx.padding_idx).astype(dtype)
        scale = keep if scale is None else scale * keep
    return scale


def _scatter_rows(grad: Tensor, ctx: _EmbCtx) -> Tensor:
    backend = grad._device.backend
    xp = backend.xp
    d = grad.shape[-1]
    g = grad._data.reshape(-1, d)
    scale = _row_scale(ctx, xp, g.dtype)
    if scale is not None:
        g = g * scale[:, None]
    out = xp.zeros((ctx.num, d), dtype=g.dtype)
    backend.scatter_add(out, ctx.idx, g)
    t = Tensor._make(out, grad._device)
    if needs_grad(grad):
        node = record(EmbeddingScatterBackward(), (grad,), t)
        node.ctx, node.out_shape = ctx, grad.shape
    return t


def _gather_rows(h: Tensor, ctx: _EmbCtx) -> Tensor:
    xp = h._device.backend.xp
    rows = h._data[ctx.idx]
    scale = _row_scale(ctx, xp, rows.dtype)
    if scale is not None:
        rows = rows * scale[:, None]
    t = Tensor._make(rows, h._device)
    if needs_grad(h):
        record(EmbeddingBackward0(), (None, h), t).ctx = ctx
    return t


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` picked by the integer tensor ``input`` (shape input.shape + (D,))."""
    wshape = weight._data.shape
    num = wshape[0] if wshape else 0
    if padding_idx is not None:
        if not wshape:  # PyTorch's weight.size(0)
            wrap_dim(0, 0, wrap_scalar=False)
        if padding_idx > 0:
            if padding_idx >= num:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -num:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = num + padding_idx
    if len(wshape) != 2:  # PyTorch's checks, in its order (embedding_renorm_'s first)
        if max_norm is not None:
            raise RuntimeError(
                f"Expected 2-dimensional tensor, but got {len(wshape)}-dimensional tensor for "
                "argument #1 'self' (while checking arguments for embedding_renorm_)"
            )
        raise RuntimeError("'weight' must be 2-D")
    if input._data.dtype.kind not in "iu":
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {input.type()} instead (while checking arguments for "
            "embedding)"
        )
    check_device(weight, input, "embedding")
    if num == 0 and input._data.size:
        raise RuntimeError("index_select(): self indexing axis dim should be positive")
    xp = weight._device.backend.xp
    idx = input._data.reshape(-1)
    if max_norm is not None:  # renormalising writes to weight: checked first, at the call
        check_in_self(weight._device.backend, idx, num)
        _renorm_rows(weight, idx, max_norm, norm_type)
    else:  # a read: on CUDA possibly checked on the device (idx then a safe copy)
        idx = checked_in_self(weight._device.backend, idx, num)
    counts = xp.bincount(idx, minlength=num) if scale_grad_by_freq and idx.size else None
    ctx = _EmbCtx(idx, num, padding_idx, counts, bool(sparse))
    data = weight._data[idx].reshape(tuple(input.shape) + (weight.shape[1],))
    out = Tensor._make(data, weight._device)
    if needs_grad(weight):
        record(EmbeddingBackward0(), (None, weight), out).ctx = ctx
    return out


def _renorm_rows(weight: Tensor, idx, max_norm: float, norm_type: float) -> None:
    """PyTorch's embedding_renorm_: rescale looked-up rows whose norm exceeds max_norm."""
    xp = weight._device.backend.xp
    with no_grad():
        rows = xp.unique(idx)
        w = weight._data[rows]
        norms = (xp.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
        weight._data[rows] = w * scale[:, None]
        weight._vc[0] += 1


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(..., num_classes) int64 tensor with a 1 at each value's position."""
    if D.np_name(tensor._data.dtype) != "int64":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = tensor._device.backend.xp
    x = tensor._data
    if num_classes == -1:
        if x.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(x.max()) + 1
    if x.size:
        if int(x.min()) < 0:
            raise RuntimeError("Class values must be non-negative.")
        if int(x.max()) >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    out = (x[..., None] == xp.arange(num_classes)).astype("int64")
    return Tensor._make(out, tensor._device)
