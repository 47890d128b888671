"""``gpugrad.linalg``: norms, inverse, determinant and solve, as ``torch.linalg``.

A face: the ops, their nodes and backward formulas live in ``gpugrad.ops.linalg``.
"""

from .ops.linalg import det, inv, matrix_norm, solve, vector_norm
from .ops.linalg import linalg_norm as norm

__all__ = ["det", "inv", "matrix_norm", "norm", "solve", "vector_norm"]
