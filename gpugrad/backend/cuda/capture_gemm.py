"""Matrix products while a CUDA graph is being captured: cuBLAS called directly.

CuPy's cuBLAS binding refuses every call on a capturing stream (its ``setStream`` raises
NotImplementedError there), although cuBLAS itself supports capture. So while gpugrad captures,
the CUDA backend's ``matmul`` comes here: one ``cublasGemmStridedBatchedEx`` on CuPy's handle
of the device, through ctypes on the cuBLAS library CuPy's binding already loaded, with a
workspace fixed per device as PyTorch fixes one per stream (cuBLAS must not allocate inside a
capture, and ``cublasSetStream`` resets the workspace, so both are set before each call).

The layout logic is pure and runs on the CPU in tests against NumPy: :func:`plan` turns two
row-major operands (any strides, broadcast batch dims) into the column-major call, or says
which operand needs a contiguous copy first.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np

from ... import _dtype as D

# cudaDataType_t and cublasComputeType_t values (cuBLAS's headers)
DATA_TYPES = {"float16": 2, "bfloat16": 14, "float32": 0, "float64": 1}
COMPUTE_32F, COMPUTE_32F_FAST_TF32, COMPUTE_64F = 68, 77, 70
OP_N, OP_T = 0, 1
GEMM_DEFAULT = -1
WORKSPACE_BYTES = 32 * 2**20  # PyTorch's default cuBLAS workspace on sm_90 is of this order
_INT32_MAX = (1 << 31) - 1


@dataclass(frozen=True)
class Gemm:
    """One strided-batched cuBLAS call. cuBLAS's A is our ``b`` and its B our ``a``: the
    row-major product C = a @ b is the column-major product C^T = b^T a^T on the same memory."""

    trans_first: int  # cuBLAS's transa, for our b
    trans_second: int  # cuBLAS's transb, for our a
    m: int  # columns of C
    n: int  # rows of C
    k: int
    ld_first: int
    ld_second: int
    ldc: int
    stride_first: int  # batch strides, in elements
    stride_second: int
    stride_c: int
    batch: int


def _matrix(rows: int, cols: int, s_row: int, s_col: int) -> tuple[int, int] | None:
    """(cuBLAS op, leading dim) that reads the row-major ``rows x cols`` matrix with element
    strides ``(s_row, s_col)`` as its column-major transpose, or None (needs a copy)."""
    if (s_col == 1 or cols == 1) and (rows == 1 or s_row >= max(1, cols)):
        return OP_N, (s_row if rows > 1 else max(1, cols))  # memory already holds X^T
    if (s_row == 1 or rows == 1) and (cols == 1 or s_col >= max(1, rows)):
        return OP_T, (s_col if cols > 1 else max(1, rows))  # memory holds X: transpose it
    return None


def _batch_stride(shape: tuple[int, ...], strides: tuple[int, ...]) -> int | None:
    """The one stride that steps through the C-order flattened batch dims, or None."""
    dims = [(n, s) for n, s in zip(shape, strides) if n > 1]
    if not dims:
        return 0
    if all(s == 0 for _, s in dims):
        return 0  # broadcast: every batch reads the same matrix
    for (_, s), (n_next, s_next) in zip(dims, dims[1:]):
        if s != s_next * n_next:
            return None
    return dims[-1][1]


def plan(
    batch: tuple[int, ...],
    m: int,
    k: int,
    n: int,
    a_strides: tuple[int, ...],
    b_strides: tuple[int, ...],
) -> tuple[Gemm | None, bool, bool]:
    """The call for C (batch..., m, n) = a (batch..., m, k) @ b (batch..., k, n), C fresh and
    contiguous; strides are in elements over the broadcast batch (0 where broadcast). Returns
    (call, copy_a, copy_b): where an operand's layout cannot be read directly (or an index
    would overflow cuBLAS's int), the call is None and that operand is to be made contiguous."""
    nb = len(batch)
    la = _matrix(m, k, a_strides[nb], a_strides[nb + 1])
    lb = _matrix(k, n, b_strides[nb], b_strides[nb + 1])
    sa = _batch_stride(batch, a_strides[:nb])
    sb = _batch_stride(batch, b_strides[:nb])
    copy_a = la is None or sa is None or sa < 0 or la[1] > _INT32_MAX
    copy_b = lb is None or sb is None or sb < 0 or lb[1] > _INT32_MAX
    if copy_a or copy_b or max(m, n, k) > _INT32_MAX:
        return None, copy_a, copy_b
    count = math.prod(batch)
    gemm = Gemm(
        trans_first=lb[0],
        trans_second=la[0],
        m=n,
        n=m,
        k=k,
        ld_first=lb[1],
        ld_second=la[1],
        ldc=max(1, n),
        stride_first=sb,
        stride_second=sa,
        stride_c=m * n,
        batch=count,
    )
    return gemm, False, False


def emulate(g: Gemm, first, first_offset: int, second, second_offset: int, out) -> None:
    """What cuBLAS computes for ``g``, on flat NumPy buffers (the test's reference of the
    layout logic): column-major reads at the given leading dims, written into flat ``out``."""

    def read(buf, offset, trans, rows, cols, ld, batch_stride, i):
        # op(X) is rows x cols; X itself is stored column-major, (rows x cols) or transposed
        r, c = (cols, rows) if trans == OP_T else (rows, cols)
        idx = offset + i * batch_stride + np.arange(r)[:, None] + np.arange(c)[None, :] * ld
        x = buf[idx]
        return x.T if trans == OP_T else x

    for i in range(g.batch):
        x = read(first, first_offset, g.trans_first, g.m, g.k, g.ld_first, g.stride_first, i)
        y = read(second, second_offset, g.trans_second, g.k, g.n, g.ld_second, g.stride_second, i)
        c = x @ y
        idx = i * g.stride_c + np.arange(g.m)[:, None] + np.arange(g.n)[None, :] * g.ldc
        out[idx] = c


class _Cublas:
    """The three cuBLAS entry points, from the library CuPy's binding is linked to."""

    def __init__(self) -> None:
        import cupy
        from cupy_backends.cuda.libs import cublas  # noqa: F401 - loads libcublas

        major = cupy.cuda.runtime.runtimeGetVersion() // 1000
        lib = None
        for name in (f"libcublas.so.{major}", "libcublas.so"):
            try:
                lib = ctypes.CDLL(name)  # already loaded: dlopen returns that copy
                break
            except OSError:
                continue
        if lib is None:
            raise RuntimeError(f"cuBLAS (libcublas.so.{major}) could not be loaded")
        vp, i, ll = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
        self.set_stream = lib.cublasSetStream_v2
        self.set_stream.argtypes = [vp, vp]
        self.set_workspace = lib.cublasSetWorkspace_v2
        self.set_workspace.argtypes = [vp, vp, ctypes.c_size_t]
        self.gemm = lib.cublasGemmStridedBatchedEx
        self.gemm.argtypes = [vp, i, i, i, i, i, vp, vp, i, i, ll, vp, i, i, ll, vp, vp, i, i]
        self.gemm.argtypes += [ll, i, i, i]
        for f in (self.set_stream, self.set_workspace, self.gemm):
            f.restype = ctypes.c_int


_lib: _Cublas | None = None
# (device, stream) -> the workspace of the GEMMs captured on that stream, as PyTorch keeps
# one per handle and stream: graphs captured on different streams may replay concurrently,
# and a shared scratch would be written by both (each lives as long as the process)
_workspaces: dict[tuple[int, int], object] = {}


def prepare(device_id: int) -> None:
    """Load cuBLAS and allocate the current stream's workspace on the device before a
    capture begins on that stream (neither may happen inside one)."""
    global _lib
    import cupy

    if _lib is None:
        _lib = _Cublas()
    key = (device_id, cupy.cuda.get_current_stream().ptr)
    if key not in _workspaces:
        with cupy.cuda.Device(device_id):
            _workspaces[key] = cupy.empty(WORKSPACE_BYTES, dtype=np.uint8)
            cupy.cuda.device.get_cublas_handle()  # made now, not inside the capture


def _check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"cuBLAS error {status} in {what} while capturing a CUDA graph")


def matmul(xp, a, b, tf32: bool):
    """``a @ b`` (NumPy's matmul rules) on the current, capturing stream through cuBLAS."""
    dtype = np.result_type(a.dtype, b.dtype)
    name = D.np_name(dtype)
    if name not in DATA_TYPES:  # integer products are CuPy kernels, which capture as they are
        return xp.matmul(a, b)
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    a2 = a[None, :] if a_vec else a
    b2 = b[:, None] if b_vec else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(
            f"matmul: the inner dimensions differ: {a.shape} @ {b.shape} ({a2.shape[-1]} != "
            f"{b2.shape[-2]})"
        )
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    m, k, n = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    a2 = xp.broadcast_to(a2, batch + (m, k))
    b2 = xp.broadcast_to(b2, batch + (k, n))
    out = xp.empty(batch + (m, n), dtype=dtype)
    if out.size and k == 0:
        out.fill(0)
    elif out.size:
        gemm, copy_a, copy_b = plan(batch, m, k, n, _elements(a2), _elements(b2))
        if gemm is None:
            a2 = xp.ascontiguousarray(a2) if copy_a else a2
            b2 = xp.ascontiguousarray(b2) if copy_b else b2
            gemm, _, _ = plan(batch, m, k, n, _elements(a2), _elements(b2))
        _launch(gemm, a2, b2, out, name, tf32)
    if a_vec:
        out = out[..., 0, :]
    if b_vec:
        out = out[..., 0]
    return out


def _elements(arr) -> tuple[int, ...]:
    """``arr``'s strides in elements."""
    size = arr.dtype.itemsize
    return tuple(s // size for s in arr.strides)


def _launch(g: Gemm, a, b, out, name: str, tf32: bool) -> None:
    import cupy

    device_id = out.device.id
    prepare(device_id)
    lib = _lib
    handle = cupy.cuda.device.get_cublas_handle()
    stream = cupy.cuda.get_current_stream().ptr
    workspace = _workspaces[(device_id, stream)]
    _check(lib.set_stream(handle, stream), "cublasSetStream")
    _check(lib.set_workspace(handle, workspace.data.ptr, WORKSPACE_BYTES), "cublasSetWorkspace")
    if name == "float64":
        compute, one, zero = COMPUTE_64F, ctypes.c_double(1.0), ctypes.c_double(0.0)
    else:
        compute = COMPUTE_32F_FAST_TF32 if tf32 and name == "float32" else COMPUTE_32F
        one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
    dt = DATA_TYPES[name]
    status = lib.gemm(
        handle,
        g.trans_first,
        g.trans_second,
        g.m,
        g.n,
        g.k,
        ctypes.addressof(one),
        b.data.ptr,
        dt,
        g.ld_first,
        g.stride_first,
        a.data.ptr,
        dt,
        g.ld_second,
        g.stride_second,
        ctypes.addressof(zero),
        out.data.ptr,
        dt,
        g.ldc,
        g.stride_c,
        g.batch,
        compute,
        GEMM_DEFAULT,
    )
    _check(status, f"cublasGemmStridedBatchedEx ({name}, {g.batch} x {g.n}x{g.k} @ {g.k}x{g.m})")
