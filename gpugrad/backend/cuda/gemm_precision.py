"""CuPy's compute type for float32 GEMMs: TF32 tensor cores or full float32."""

from __future__ import annotations


def set_tf32(enabled: bool) -> None:
    """float32 matmuls through cuBLAS with TF32 (``enabled``) or full float32 (CuPy's default).

    The setting is CuPy's, process-wide (every device). A card without TF32 (before sm_80)
    keeps full float32, as PyTorch quietly does there."""
    import cupy
    from cupy._core import _routines_linalg as linalg

    kind = linalg.COMPUTE_TYPE_TF32 if enabled else linalg.COMPUTE_TYPE_DEFAULT
    try:
        linalg.set_compute_type(cupy.float32, kind)
    except (ValueError, RuntimeError):  # no TF32 on this card: full float32 it is
        linalg.set_compute_type(cupy.float32, linalg.COMPUTE_TYPE_DEFAULT)


def tf32_enabled() -> bool:
    """Whether CuPy's float32 GEMMs are set to TF32 now."""
    import cupy
    from cupy._core import _routines_linalg as linalg

    return linalg.get_compute_type(cupy.float32) == linalg.COMPUTE_TYPE_TF32
