"""``gpugrad.linalg``: norms, inverse, determinant and solve, as ``torch.linalg``.

Norms are compositions of differentiable ops; ``inv``, ``det`` and ``solve`` are nodes whose
backward formulas are written with Tensor ops (so they have higher-order gradients too).
"""

from __future__ import annotations

from . import _dtype as D
from ._tensor import Tensor
from .autograd.graph import Node
from .ops import _util
from .ops.reduction import norm as _norm
from .ops.shape import broadcast_shapes

_MATRIX_ORDS = ("fro", 1, -1, float("inf"), float("-inf"))


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` as a vector over ``dim`` (every element by default)."""
    if isinstance(ord, str):
        raise TypeError("linalg_vector_norm(): argument 'ord' must be Number, not str")
    return _norm(x, ord, dim, keepdim, dtype)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):
    """Frobenius norm, or the max/min absolute column (1, -1) or row (inf, -inf) sum, of the
    matrices over the two dims ``dim``. The spectral (2) and nuclear norms need an SVD, which
    gpugrad does not have yet."""
    if A._data.ndim < 2:
        raise RuntimeError(
            "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."
        )
    if ord not in _MATRIX_ORDS:
        raise NotImplementedError(
            f"linalg.matrix_norm: ord={ord!r} needs an SVD, which gpugrad does not have; "
            f"supported: {', '.join(repr(o) for o in _MATRIX_ORDS)}"
        )
    x = A if dtype is None else A.to(dtype)
    d0, d1 = (_util.wrap_dim(d, x._data.ndim) for d in dim)
    if ord == "fro":
        return _norm(x, 2, (d0, d1), keepdim)
    # 1/-1: sums down the columns (over d0), then max/min across d1; inf/-inf: the rows
    summed, across = (d0, d1) if ord in (1, -1) else (d1, d0)
    s = x.abs().sum(summed, keepdim=True)
    out = s.amax(across, keepdim=True) if ord > 0 else s.amin(across, keepdim=True)
    return out if keepdim else out.squeeze((d0, d1))


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``vector_norm`` or ``matrix_norm`` by ``dim`` (an int or a pair), as torch.linalg.norm;
    with neither ``ord`` nor ``dim``, the 2-norm of all elements."""
    if isinstance(dim, int):
        dim = (dim,)
    matrix = len(dim) == 2 if dim is not None else ord is not None and A.ndim == 2
    if matrix:
        return matrix_norm(A, "fro" if ord is None else ord, dim or (-2, -1), keepdim, dtype=dtype)
    if dim is None and ord is not None and A.ndim != 1:
        raise RuntimeError(
            f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
            f"Got {A.ndim}D."
        )
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


def _square(A: Tensor, op: str) -> None:
    s = A._data.shape
    if len(s) < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions.")
    if s[-1] != s[-2]:
        raise RuntimeError(
            f"linalg.{op}: A must be batches of square matrices, but they are {s[-2]} by "
            f"{s[-1]} matrices"
        )
    if A._data.dtype.kind != "f":
        raise RuntimeError(
            f"linalg.{op}: Expected a floating point or complex tensor as input. "
            f"Got {D.scalar_type_name(A._data.dtype)}"
        )


class LinalgInvExBackward0(Node):
    def backward(self, grad):
        (inv_a,) = self.saved_tensors
        return (-(inv_a.mT @ grad @ inv_a.mT),)


def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix in ``A``; singular ones raise."""
    _square(A, "inv")
    xp = A._device.backend.xp
    try:
        data = xp.linalg.inv(A._data)
    except Exception:  # NumPy's LinAlgError (CuPy returns inf/nan instead)
        raise RuntimeError(
            "linalg.inv: The input matrix is singular, the inversion could not be completed."
        ) from None
    out = Tensor._make(data, A._device)
    if _util.needs_grad(A):
        _util.record(LinalgInvExBackward0(), (A,), out).save(out)
    return out


class LinalgDetBackward0(Node):
    def backward(self, grad):
        A, d = self.saved_tensors
        # d det / dA = det(A) * A^-T (A invertible; a singular A gives inf/nan here)
        return ((grad * d).unsqueeze(-1).unsqueeze(-1) * inv(A).mT,)


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix in ``A``."""
    _square(A, "det")
    out = Tensor._make(A._device.backend.xp.linalg.det(A._data), A._device)
    if _util.needs_grad(A):
        _util.record(LinalgDetBackward0(), (A,), out).save(A, out)
    return out


class LinalgSolveExBackward0(Node):
    def backward(self, grad):
        A, X = self.saved_tensors
        # X = A^-1 B: dB = A^-T dX, dA = -dB X^T (Tensor ops: differentiable again)
        gb = solve(A.mT, grad)
        if self.vector:
            ga = -(gb.unsqueeze(-1) * X.unsqueeze(-2))
        else:
            ga = -(gb @ X.mT)
        return (_util.grad_for(ga, self.ma), _util.grad_for(gb, self.mb))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution X of ``A X = B`` for square ``A`` (batched, broadcasting). ``B`` is a
    (batch of) vector(s) when it is 1-D or has ``A``'s shape without the last dim, as in
    PyTorch; ``left=False`` solves ``X A = B``."""
    if not left:
        return solve(A.mT, B.mT).mT
    _square(A, "solve")
    _util.check_device(A, B, "linalg.solve")
    a, b = A._data, B._data
    if a.dtype != b.dtype:
        raise RuntimeError(
            "linalg.solve: Expected A and B to have the same dtype, but found A of type "
            f"{D.scalar_type_name(a.dtype)} and B of type "
            f"{D.scalar_type_name(b.dtype)} instead"
        )
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    bm = b[..., None] if vector else b
    if bm.shape[-2] != a.shape[-1]:
        raise RuntimeError(
            "linalg.solve: Incompatible shapes of A and B for the equation AX = B "
            f"({a.shape[-2]}x{a.shape[-1]} and {bm.shape[-2]}x{bm.shape[-1]})"
        )
    xp = A._device.backend.xp
    try:
        batch = broadcast_shapes(a.shape[:-2], bm.shape[:-2])
    except RuntimeError:
        raise _util.broadcast_error(bm[..., 0, 0], a[..., 0, 0]) from None
    try:
        data = xp.linalg.solve(
            xp.broadcast_to(a, batch + a.shape[-2:]), xp.broadcast_to(bm, batch + bm.shape[-2:])
        )
    except Exception:  # NumPy's LinAlgError (CuPy returns inf/nan instead)
        raise RuntimeError(
            "torch.linalg.solve: The solver failed because the input matrix is singular."
        ) from None
    out = Tensor._make(data[..., 0] if vector else data, A._device)
    if _util.needs_grad(A, B):
        node = _util.record(LinalgSolveExBackward0(), (A, B), out)
        node.save(A, out)
        node.vector, node.ma, node.mb = vector, _util.meta(A), _util.meta(B)
    return out
