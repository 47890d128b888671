"""``gpugrad.backends``: PyTorch's per-backend switches that scripts set.

``cuda.matmul.allow_tf32`` is real: it is the float32 matmul precision
(``gpugrad.set_float32_matmul_precision``), and True lets CUDA float32 matmuls use TF32. gpugrad
does not use cuDNN (convolutions are im2col and matmul), so the cudnn flags are recorded and
read back and change nothing; ``cudnn.is_available()`` says False.
"""

from __future__ import annotations

from types import SimpleNamespace

from .backend import matmul_precision


def set_float32_matmul_precision(precision: str) -> None:
    """ "highest" (full float32, the default), "high" or "medium" (TF32 for CUDA float32
    matmuls)."""
    matmul_precision.set_precision(precision)


def get_float32_matmul_precision() -> str:
    return matmul_precision.get()


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


class _CudaMatmul:
    """``backends.cuda.matmul``: ``allow_tf32`` reads and sets the float32 matmul precision
    ("high" when True, "highest" when False), as PyTorch's does."""

    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self) -> bool:
        return matmul_precision.tf32()

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        matmul_precision.set_precision("high" if value else "highest")


cuda = SimpleNamespace(matmul=_CudaMatmul(), is_built=_false)
mps = SimpleNamespace(is_available=_false, is_built=_false)
