"""``gpugrad.linalg``: norms, inverse, determinant, solve and the decompositions (svd,
eigh, qr, cholesky), as ``torch.linalg``.

A face: the ops, their nodes and backward formulas live in ``gpugrad.ops.linalg`` and
``gpugrad.ops.decomposition``.
"""

import sys

from .backend.quiet import quiet_namespace
from .ops.decomposition import (
    LinAlgError,
    cholesky,
    cholesky_ex,
    eigh,
    eigvalsh,
    qr,
    svd,
    svdvals,
)
from .ops.linalg import det, inv, matrix_norm, solve, vector_norm
from .ops.linalg import linalg_norm as norm

__all__ = [
    "LinAlgError",
    "cholesky",
    "cholesky_ex",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "matrix_norm",
    "norm",
    "qr",
    "solve",
    "svd",
    "svdvals",
    "vector_norm",
]


# silent on IEEE edge cases, as every face of the ops (gpugrad.backend.quiet)
quiet_namespace(sys.modules[__name__], prefix="linalg_")  # PyTorch's names: linalg_det()
