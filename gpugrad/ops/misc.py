"""Smaller ops users reach for: any/all, tril/triu, cumsum, repeat_interleave, einsum, addmm,
cdist."""

from __future__ import annotations

from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import check_devices, needs_grad, record, wrap_dim


def _bool_reduce(input: Tensor, dim, keepdim: bool, fn: str) -> Tensor:
    xp = input._device.backend.xp
    d = input._data
    axis = None if dim is None else wrap_dim(dim, d.ndim)
    return Tensor._make(getattr(xp, fn)(d, axis=axis, keepdims=keepdim), input._device)


def any(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where any element (over ``dim``) is non-zero."""
    return _bool_reduce(input, dim, keepdim, "any")


def all(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every element (over ``dim``) is non-zero."""
    return _bool_reduce(input, dim, keepdim, "all")


class TrilBackward0(Node):
    def backward(self, grad):
        return (tril(grad, self.diagonal) if self.lower else triu(grad, self.diagonal),)


class TriuBackward0(TrilBackward0):
    pass


def _tri(input: Tensor, diagonal: int, lower: bool) -> Tensor:
    xp = input._device.backend.xp
    data = xp.tril(input._data, diagonal) if lower else xp.triu(input._data, diagonal)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        node = record((TrilBackward0 if lower else TriuBackward0)(), (input,), out)
        node.diagonal, node.lower = diagonal, lower
    return out


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle (last two dims); the rest zero."""
    return _tri(input, diagonal, True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle (last two dims); the rest zero."""
    return _tri(input, diagonal, False)


class CumsumBackward0(Node):
    def backward(self, grad):
        # the reverse cumulative sum: flip, cumsum, flip
        return (cumsum(grad.flip(self.dim), self.dim).flip(self.dim),)


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative sum along ``dim``."""
    d = wrap_dim(dim, input._data.ndim)
    data = input._data if dtype is None else input._data.astype(dtype.np)
    if dtype is None and data.dtype.kind in "biu":
        data = data.astype("int64")
    xp = input._device.backend.xp
    out = Tensor._make(xp.cumsum(data, axis=d) if data.ndim else data.copy(), input._device)
    if needs_grad(input):
        record(CumsumBackward0(), (input,), out).dim = d
    return out


def repeat_interleave(input: Tensor, repeats, dim: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times (a gather, so it is differentiable)."""
    from .indexing import index_select

    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, input._data.ndim)
    n = x._data.shape[d]
    xp = input._device.backend.xp
    reps = repeats._data if isinstance(repeats, Tensor) else repeats
    idx = xp.repeat(xp.arange(n), reps)
    return index_select(x, d, Tensor._make(idx.astype("int64"), input._device))


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation; each operand's gradient is another einsum (differentiable)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    check_devices(list(operands), "einsum")
    xp = operands[0]._device.backend.xp
    lhs, _, rhs = equation.replace(" ", "").partition("->")
    inputs = lhs.split(",")
    if not _:
        letters = sorted(
            {
                c
                for s in inputs
                for c in s
                if s.count(c) == 1 and sum(t.count(c) for t in inputs) == 1
            }
        )
        rhs = "".join(letters)
    data = xp.einsum(f"{lhs}->{rhs}", *[o._data for o in operands])
    out = Tensor._make(data, operands[0]._device)
    if needs_grad(*operands):
        node = record(EinsumBackward0(), tuple(operands), out)
        node.save(*operands)
        node.inputs, node.rhs = inputs, rhs
    return out


class EinsumBackward0(Node):
    def backward(self, grad):
        ops = self.saved_tensors
        grads = []
        for i, spec in enumerate(self.inputs):
            if not self.needs_input_grad(i) or len(set(spec)) != len(spec):
                grads.append(None if not self.needs_input_grad(i) else _diag_error())
                continue
            others = [o for j, o in enumerate(ops) if j != i]
            specs = [s for j, s in enumerate(self.inputs) if j != i]
            g = einsum(",".join([self.rhs] + specs) + "->" + spec, grad, *others)
            grads.append(g)
        return tuple(grads)


def _diag_error():
    raise RuntimeError("einsum backward with a repeated index in one operand is not supported")


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2) (composite)."""
    prod = mat1.matmul(mat2)
    prod = prod if alpha == 1 else prod * alpha
    return prod + (input if beta == 1 else input * beta)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (batch1 @ batch2) for batches of matrices (composite)."""
    prod = batch1.bmm(batch2)
    prod = prod if alpha == 1 else prod * alpha
    return prod + (input if beta == 1 else input * beta)


def clamp_min(input: Tensor, min) -> Tensor:  # noqa: A002
    from .unary import clamp

    return clamp(input, min=min)


def clamp_max(input: Tensor, max) -> Tensor:  # noqa: A002
    from .unary import clamp

    return clamp(input, max=max)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, **_: object) -> Tensor:
    """Pairwise p-norm distances between the rows of ``x1`` (..., P, M) and ``x2``
    (..., R, M): (..., P, R). A composition of differentiable ops."""
    if x1._data.ndim < 2 or x2._data.ndim < 2 or x1._data.shape[-1] != x2._data.shape[-1]:
        raise RuntimeError(
            "X1 and X2 must have the same number of columns. "
            f"X1: {x1._data.shape[-1]} X2: {x2._data.shape[-1]}"
        )
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return diff.norm(p, -1)
