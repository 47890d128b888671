"""float32 GEMMs through cuBLAS with TF32 tensor cores or in full float32.

Two switches, because CuPy's matmuls take two routes: 2-D products (``dot``/``tensordot``)
pass CuPy's float32 compute type, batched ones (``matmul`` over 3-D and more: bmm, batched
Linear, attention, convolution's im2col product) call gemmStridedBatchedEx with plain
float32 compute, which cuBLAS runs on TF32 tensor cores only under the handle's math mode.
"""

from __future__ import annotations

# cuBLAS's cublasMath_t values (CuPy's binding takes the int)
_DEFAULT_MATH = 0
_TF32_TENSOR_OP_MATH = 3


def set_tf32(enabled: bool, devices) -> None:
    """TF32 (``enabled``) or full float32 for float32 matmuls on ``devices`` (indices).

    CuPy's compute type is process-wide; the math mode is per cuBLAS handle, one per device
    and thread: set here for the calling thread. A card before sm_80 has no TF32 and keeps
    full float32, as PyTorch quietly does there."""
    import cupy
    from cupy._core import _routines_linalg as linalg
    from cupy_backends.cuda.libs import cublas

    on_all = enabled
    for index in devices:
        with cupy.cuda.Device(index) as dev:
            tf32 = enabled and int(dev.compute_capability) >= 80
            on_all = on_all and tf32
            mode = _TF32_TENSOR_OP_MATH if tf32 else _DEFAULT_MATH
            cublas.setMathMode(cupy.cuda.device.get_cublas_handle(), mode)
    # set_compute_type warns (not raises) on a card without TF32: only ask where all have it
    kind = linalg.COMPUTE_TYPE_TF32 if on_all else linalg.COMPUTE_TYPE_DEFAULT
    linalg.set_compute_type(cupy.float32, kind)


def tf32_enabled(index: int) -> bool:
    """Whether device ``index``'s float32 GEMMs (2-D and batched) are set to TF32 now."""
    import cupy
    from cupy._core import _routines_linalg as linalg
    from cupy_backends.cuda.libs import cublas

    with cupy.cuda.Device(index):
        mode = cublas.getMathMode(cupy.cuda.device.get_cublas_handle())
    return (
        linalg.get_compute_type(cupy.float32) == linalg.COMPUTE_TYPE_TF32
        and mode == _TF32_TENSOR_OP_MATH
    )
