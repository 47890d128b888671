"""float32 matmul precision, PyTorch's ``set_float32_matmul_precision``: "highest" keeps full
float32 GEMMs; "high" and "medium" let CUDA float32 matmuls run on TF32 tensor cores (about
8x the float32 rate on an H100/H200, 10 mantissa bits per product). CPU matmuls stay full
float32 (NumPy's BLAS has no reduced mode), as PyTorch's do without oneDNN's bfloat16 path."""

from __future__ import annotations

from .. import _warn

PRECISIONS = ("highest", "high", "medium")
_state = {"precision": "highest"}


def get() -> str:
    return _state["precision"]


def set_precision(precision: str) -> None:
    """Switch the precision; an unknown name warns and changes nothing (PyTorch's rule)."""
    if precision not in PRECISIONS:
        _warn.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
            "setFloat32MatmulPrecision call has no effect.",
            UserWarning,
        )
        return
    _state["precision"] = precision
    from . import _cuda_backends

    if _cuda_backends:  # CUDA in use: switch CuPy now (a new backend applies it itself)
        apply_cuda()


def tf32() -> bool:
    """Whether float32 CUDA matmuls may use TF32."""
    return _state["precision"] != "highest"


def apply_cuda() -> None:
    from . import _cuda_backends
    from .cuda.gemm_precision import set_tf32

    set_tf32(tf32(), sorted(i for i in _cuda_backends if isinstance(i, int) and i >= 0))
