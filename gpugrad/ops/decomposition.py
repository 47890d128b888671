"""Matrix decompositions of ``gpugrad.linalg``: svd / svdvals, eigh / eigvalsh, qr and
cholesky / cholesky_ex, through the device's ``xp.linalg`` (NumPy's or CuPy's LAPACK), with
PyTorch's backward formulas written in Tensor ops (so they differentiate again)."""

from __future__ import annotations

from .. import _dtype as D
from .. import return_types as _rt
from .._tensor import Tensor
from ..autograd.graph import Node
from ._util import grad_for, meta, needs_grad, record

# PyTorch's torch.return_types of these functions
linalg_svd = _rt.linalg_svd
linalg_eigh = _rt.linalg_eigh
linalg_qr = _rt.linalg_qr
linalg_cholesky_ex = _rt.linalg_cholesky_ex


class LinAlgError(RuntimeError):
    """A decomposition that could not be computed (PyTorch's ``torch.linalg.LinAlgError``)."""


def _matrices(A: Tensor, op: str, square: bool = False) -> None:
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg_{op}(): argument 'A' must be Tensor, not {type(A).__name__}")
    s = A._data.shape
    if len(s) < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions.")
    if square and s[-1] != s[-2]:
        raise RuntimeError(
            f"linalg.{op}: A must be batches of square matrices, but they are {s[-2]} by "
            f"{s[-1]} matrices"
        )
    if not D.is_floating(A._data.dtype):
        if op in ("eigh", "eigvalsh"):
            raise NotImplementedError(
                f"\"linalg_eigh_cpu\" not implemented for '{D.scalar_type_name(A._data.dtype)}'"
            )
        raise RuntimeError(
            f"linalg.{op}: Expected a floating point or complex tensor as input. "
            f"Got {D.scalar_type_name(A._data.dtype)}"
        )


def _lapack(A: Tensor):
    """(xp, the matrices in a dtype LAPACK takes, the result dtype): float16 and bfloat16
    run in float32."""
    xp = A._device.backend.xp
    d = A._data
    return xp, d.astype(D.accumulation_np(d.dtype), copy=False), d.dtype


def _eye(like: Tensor, n: int) -> Tensor:
    xp = like._device.backend.xp
    return Tensor._make(xp.eye(n, dtype=like._data.dtype), like._device)


def _zero(xp, g) -> bool:
    """True for a gradient the engine filled with zeros (an output nobody used): PyTorch
    takes those as undefined and skips their terms, which keeps repeated values finite."""
    return g is None or not bool(xp.any(g._data))


# ---- svd -----------------------------------------------------------------------------
class LinalgSvdBackward0(Node):
    """PyTorch's svd_backward (full_matrices=False; full U / Vh are narrowed to k)."""

    def backward(self, gU, gS, gVh):
        U, S, Vh = self.saved_tensors
        k = S.shape[-1]
        xp = S._device.backend.xp
        if U.shape[-1] != k:  # full_matrices=True: the extra columns have no gradient
            U, gU = U[..., :k], None if gU is None else gU[..., :k]
        if Vh.shape[-2] != k:
            Vh, gVh = Vh[..., :k, :], None if gVh is None else gVh[..., :k, :]
        gU = None if _zero(xp, gU) else gU
        gVh = None if _zero(xp, gVh) else gVh
        m, n = U.shape[-2], Vh.shape[-1]
        if gU is None and gVh is None:
            if gS is None:
                return (None,)
            ga = U @ (gS.unsqueeze(-1) * Vh) if m >= n else (U * gS.unsqueeze(-2)) @ Vh
            return (grad_for(ga, self.m),)
        V, gV = Vh.mT, None if gVh is None else gVh.mT
        S2 = S * S
        E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + _eye(S, k)  # diagonal 1, off it S_j^2 - S_i^2
        if gU is not None:
            UhgU = U.mT @ gU
            UhgU = UhgU - UhgU.mT
        if gV is not None:
            VhgV = Vh @ gV
            VhgV = VhgV - VhgV.mT
        if gU is not None and gV is not None:
            ga = (UhgU * S.unsqueeze(-2) + S.unsqueeze(-1) * VhgV) / E
        elif gU is not None:
            ga = (UhgU / E) * S.unsqueeze(-2)
        else:
            ga = S.unsqueeze(-1) * (VhgV / E)
        if gS is not None:
            ga = ga + gS.unsqueeze(-1) * _eye(S, k)
        if m > n and gU is not None:
            ga = U @ ga
            gUSinv = gU / S.unsqueeze(-2)
            ga = (ga + gUSinv - U @ (U.mT @ gUSinv)) @ Vh
        elif m < n and gV is not None:
            ga = ga @ Vh
            gVSinv = gV / S.unsqueeze(-2)
            ga = U @ (ga + gVSinv.mT - (gVSinv.mT @ V) @ Vh)
        else:
            ga = U @ (ga @ Vh) if m >= n else (U @ ga) @ Vh
        return (grad_for(ga, self.m),)


def svd(A: Tensor, full_matrices: bool = True, *, driver=None) -> tuple:
    """``A = U diag(S) Vh`` with singular values in descending order (named tuple U, S, Vh)."""
    _matrices(A, "svd")
    xp, a, dt = _lapack(A)
    u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
    dev = A._device
    outs = tuple(Tensor._make(x.astype(dt, copy=False), dev) for x in (u, s, vh))
    if needs_grad(A):
        node = record(LinalgSvdBackward0(), (A,), outs)
        node.save(*outs)
        node.m = meta(A)
    return linalg_svd(*outs)


def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values of ``A``, descending (its gradient is ``U diag(gS) Vh``)."""
    _matrices(A, "svdvals")
    xp, a, dt = _lapack(A)
    if not needs_grad(A):
        return Tensor._make(xp.linalg.svd(a, compute_uv=False).astype(dt, copy=False), A._device)
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    dev = A._device
    outs = tuple(Tensor._make(x.astype(dt, copy=False), dev) for x in (u, s, vh))
    # U and Vh are outputs of the node too, so a double backward differentiates them
    node = record(LinalgSvdBackward0(), (A,), outs)
    node.save(*outs)
    node.m = meta(A)
    return outs[1]


# ---- eigh ----------------------------------------------------------------------------
class LinalgEighBackward0(Node):
    """PyTorch's linalg_eig_backward for Hermitian input: V (skew(V^T gV) / E + diag(gL)) V^T."""

    def backward(self, gL, gV):
        L, V = self.saved_tensors
        xp = L._device.backend.xp
        if _zero(xp, gV):
            if gL is None:
                return (None,)
            return (grad_for((V * gL.unsqueeze(-2)) @ V.mT, self.m),)
        n = L.shape[-1]
        VhgV = V.mT @ gV
        VhgV = 0.5 * (VhgV - VhgV.mT)
        E = L.unsqueeze(-2) - L.unsqueeze(-1) + _eye(L, n)
        inner = VhgV / E  # its diagonal is 0: skew-symmetric
        if gL is not None:
            inner = inner + gL.unsqueeze(-1) * _eye(L, n)
        return (grad_for(V @ (inner @ V.mT), self.m),)


def _uplo(UPLO: str) -> None:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")


def eigh(A: Tensor, UPLO: str = "L") -> tuple:  # noqa: N803 - PyTorch's argument name
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric ``A``, read from
    its lower (``UPLO='L'``) or upper triangle (named tuple eigenvalues, eigenvectors)."""
    _matrices(A, "eigh", square=True)
    _uplo(UPLO)
    xp, a, dt = _lapack(A)
    w, v = xp.linalg.eigh(a, UPLO=UPLO)
    dev = A._device
    outs = (Tensor._make(w.astype(dt, copy=False), dev), Tensor._make(v.astype(dt), dev))
    if needs_grad(A):
        node = record(LinalgEighBackward0(), (A,), outs)
        node.save(*outs)
        node.m = meta(A)
    return linalg_eigh(*outs)


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:  # noqa: N803
    """The eigenvalues of symmetric ``A``, ascending."""
    _matrices(A, "eigvalsh", square=True)
    _uplo(UPLO)
    xp, a, dt = _lapack(A)
    if not needs_grad(A):
        return Tensor._make(xp.linalg.eigvalsh(a, UPLO=UPLO).astype(dt, copy=False), A._device)
    w, v = xp.linalg.eigh(a, UPLO=UPLO)
    outs = (
        Tensor._make(w.astype(dt, copy=False), A._device),
        Tensor._make(v.astype(dt), A._device),
    )
    node = record(LinalgEighBackward0(), (A,), outs)  # V an output too: double backward
    node.save(*outs)
    node.m = meta(A)
    return outs[0]


# ---- qr ------------------------------------------------------------------------------
def _qr_square_backward(gQ, gR, Q, R):
    """PyTorch's linalg_qr_backward for m >= n (reduced): Q sym(triu(gR R^T - Q^T gQ)) plus
    gQ, times R^-T."""
    if gQ is None:
        M = gR @ R.mT
    elif gR is None:
        M = -(Q.mT @ gQ)
    else:
        M = gR @ R.mT - Q.mT @ gQ
    M = M.triu()
    n = M.shape[-1]
    M = M + M.mT - M * _eye(M, n)  # PyTorch's syminvadj: M + M^T, the diagonal once
    gA = Q @ M
    if gQ is not None:
        gA = gA + gQ
    return _solve_right_upper(gA, R)


def _solve_right_upper(B: Tensor, R: Tensor) -> Tensor:
    """``B R^-T``: X with ``X R^T = B`` (R upper triangular, so R^T is lower)."""
    from .linalg import solve

    return solve(R.mT, B, left=False)


class LinalgQrBackward0(Node):
    def backward(self, gQ, gR):
        Q, R = self.saved_tensors
        if self.mode == "r":
            raise RuntimeError(
                "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                "through linalg.qr."
            )
        m, n = Q.shape[-2], R.shape[-1]
        if self.mode == "complete" and m > n:
            raise RuntimeError(
                "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
            )
        xp = Q._device.backend.xp
        gQ = None if _zero(xp, gQ) else gQ
        gR = None if _zero(xp, gR) else gR
        if gQ is None and gR is None:
            return (None,)
        if m >= n:
            return (grad_for(_qr_square_backward(gQ, gR, Q, R), self.m),)
        # m < n: A = [X | Y] with X = Q U (U: R's first m columns) and Y = Q V
        U, V = R[..., :m], R[..., m:]
        gU = None if gR is None else gR[..., :m]
        gV = None if gR is None else gR[..., m:]
        A_y = Q @ V
        gQx = gQ
        if gV is not None:
            gQx = A_y @ gV.mT if gQx is None else gQx + A_y @ gV.mT
        gX = _qr_square_backward(gQx, gU, Q, U)
        if gV is not None:
            gY = Q @ gV
        else:
            gY = Tensor._make(xp.zeros(gX.shape[:-1] + (n - m,), dtype=gX._data.dtype), Q._device)
        from .shape import cat

        return (grad_for(cat([gX, gY], -1), self.m),)


def qr(A: Tensor, mode: str = "reduced") -> tuple:
    """``A = Q R`` with orthonormal Q and upper-triangular R (named tuple Q, R); ``mode`` is
    'reduced' (k = min(m, n) columns of Q), 'complete' (square Q) or 'r' (R only, Q empty)."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
            "'r', or 'complete'"
        )
    _matrices(A, "qr")
    xp, a, dt = _lapack(A)
    dev = A._device
    if mode == "r":
        q = xp.zeros((0,), dtype=dt)
        r = xp.linalg.qr(a, mode="r")
    else:
        q, r = xp.linalg.qr(a, mode=mode)
    outs = (Tensor._make(q.astype(dt, copy=False), dev), Tensor._make(r.astype(dt), dev))
    if needs_grad(A):
        node = record(LinalgQrBackward0(), (A,), outs)
        node.save(*outs)
        node.mode, node.m = mode, meta(A)
    return linalg_qr(*outs)


# ---- cholesky ------------------------------------------------------------------------
class LinalgCholeskyExBackward0(Node):
    """PyTorch's cholesky_backward: sym(L^-T Phi L^-1), Phi = tril(L^T gL), diagonal halved."""

    def backward(self, gL, ginfo=None):
        (L,) = self.saved_tensors
        if self.upper:
            L, gL = L.mT, gL.mT
        n = L.shape[-1]
        phi = (L.mT @ gL).tril()
        phi = phi - 0.5 * (phi * _eye(L, n))
        from .linalg import inv

        Linv = inv(L)
        ga = Linv.mT @ (phi @ Linv)
        return (grad_for(0.5 * (ga + ga.mT), self.m),)


def _failing_minor(xp, a) -> int:
    """The order (1-based) of the first leading minor of one matrix that is not positive
    definite (LAPACK's info), 0 when ``a`` is positive definite."""
    for k in range(1, a.shape[-1] + 1):
        try:
            xp.linalg.cholesky(a[:k, :k])
        except Exception:  # NumPy's LinAlgError
            return k
        if not bool(xp.isfinite(xp.linalg.cholesky(a[:k, :k])).all()):  # CuPy: NaNs instead
            return k
    return 0


def _cholesky(A: Tensor, upper: bool, op: str):
    _matrices(A, op, square=True)
    xp, a, dt = _lapack(A)
    batch = a.shape[:-2]
    count = 1
    for b in batch:
        count *= b
    flat = a.reshape((count,) + a.shape[-2:])  # (-1 cannot be inferred for 0 x 0 matrices)
    info = xp.zeros(flat.shape[0], dtype="int32")
    try:
        lower = xp.linalg.cholesky(flat)
        ok = bool(xp.isfinite(lower).all())
    except Exception:  # NumPy's LinAlgError: find which matrices failed, one by one
        ok = False
    if not ok:
        lower = xp.zeros_like(flat)
        for i in range(flat.shape[0]):
            info[i] = _failing_minor(xp, flat[i])
            if int(info[i]) == 0:
                lower[i] = xp.linalg.cholesky(flat[i])
    lower = xp.tril(lower).reshape(a.shape).astype(dt, copy=False)
    data = xp.ascontiguousarray(xp.swapaxes(lower, -1, -2)) if upper else lower
    L = Tensor._make(data, A._device)
    if needs_grad(A):
        node = record(LinalgCholeskyExBackward0(), (A,), L)
        node.save(L)
        node.upper, node.m = upper, meta(A)
    return L, info.reshape(batch)


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False) -> tuple:
    """The Cholesky factor and LAPACK's ``info`` (0, or the order of the first leading minor
    that is not positive definite; that matrix's factor is zeros here). Named tuple L, info."""
    L, info = _cholesky(A, upper, "cholesky")
    if check_errors:
        _raise_not_pd(info, "linalg.cholesky_ex")
    return linalg_cholesky_ex(L, Tensor._make(info, A._device))


def _raise_not_pd(info, op: str) -> None:
    flat = info.reshape(-1)
    for i in range(flat.shape[0]):
        k = int(flat[i])
        if k:
            where = f"(Batch element {i}): " if info.ndim else ""
            raise LinAlgError(
                f"{op}: {where}The factorization could not be completed because the input is "
                f"not positive-definite (the leading minor of order {k} is not "
                "positive-definite)."
            )


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The lower (or ``upper``) Cholesky factor of symmetric positive-definite ``A``."""
    L, info = _cholesky(A, upper, "cholesky")
    _raise_not_pd(info, "linalg.cholesky")
    return L
