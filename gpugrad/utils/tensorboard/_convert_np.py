"""make_np: what the summaries are built from (tensors, arrays, numbers) as a NumPy array."""

from __future__ import annotations

import numpy as np

from ..._tensor import Tensor


def make_np(x) -> np.ndarray:
    """A NumPy array of ``x``: a gpugrad Tensor (any device), an array,
    or a Python / NumPy scalar (as a one-element array, as PyTorch's)."""
    if isinstance(x, np.ndarray):
        return x
    if np.isscalar(x):
        return np.array([x])
    if isinstance(x, Tensor):
        arr = x.detach().cpu().numpy()
        # an extension float type (bfloat16 from ml_dtypes): plain floats for NumPy's histogram
        return arr.astype(np.float32) if arr.dtype.kind == "V" else arr
    raise NotImplementedError(f"Got {type(x)}, but numpy array or gpugrad tensor are expected.")
