"""``gpugrad.backends``: PyTorch's per-backend switches that scripts set.

gpugrad does not use cuDNN (convolutions are im2col and matmul on CuPy) and its CUDA matmuls
are CuPy's, so these flags are recorded and read back, and change nothing;
``cudnn.is_available()`` says False.
"""

from __future__ import annotations

from types import SimpleNamespace


def _false() -> bool:
    return False


cudnn = SimpleNamespace(
    enabled=True,
    benchmark=False,
    deterministic=False,
    allow_tf32=True,
    is_available=_false,
    version=lambda: None,
)
cuda = SimpleNamespace(
    matmul=SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True),
    is_built=_false,
)
mps = SimpleNamespace(is_available=_false, is_built=_false)
