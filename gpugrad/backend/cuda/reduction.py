"""The reduction catalogue names on the GPU, over every element or over the last dim of a
contiguous array; other axes keep the reference (CuPy's) reductions."""

from __future__ import annotations

import numpy as np

from ... import _dtype as D
from . import ENGINE, reduce_source
from .compile import function
from .launch import BLOCKS_PER_SM, sm_count
from .pointwise import SERVED
from .rows import block_for

ALL_BLOCK = 512
_kernels: dict = {}


def _kernel(kernel: str, dtype: str):
    key = (kernel, dtype)
    fn = _kernels.get(key)
    if fn is None:
        fn = _kernels[key] = function(
            reduce_source.source(dtype), reduce_source.kernel_name(kernel, dtype)
        )
    return fn


def _axes(x, axis) -> str | None:
    """'all', 'last', or None (not served) for a reduction of ``x`` over ``axis``."""
    nd = x.ndim
    if axis is None:
        return "all"
    if isinstance(axis, int):
        axis = (axis,)
    dims = sorted({a % nd for a in axis}) if nd else []
    if len(dims) == nd:
        return "all"
    if dims == [nd - 1]:
        return "last"
    return None


def _served(x, axis) -> bool:
    return (
        x.dtype in SERVED
        and x.size > 0
        and x.ndim >= 1
        and x.flags.c_contiguous
        and _axes(x, axis) is not None
    )


def reduce(op: str, x, axis, keepdims: bool, correction: float = 0.0):
    """``op`` (reduce_source.OPS) of ``x`` over ``axis``: a new array of x's dtype."""
    import cupy

    code = reduce_source.OPS[op]
    dtype = D.np_name(x.dtype)
    compute = np.float64 if dtype == "float64" else np.float32
    if _axes(x, axis) == "last":
        cols = x.shape[-1]
        rows = x.size // cols
        out = cupy.empty(x.shape[:-1], x.dtype)
        grid = max(1, min(rows, sm_count(x.device.id) * BLOCKS_PER_SM))
        args = (x, out, np.int64(rows), np.int64(cols), np.int32(code), compute(correction))
        _kernel("reduce_rows", dtype)((grid,), (block_for(cols),), args)
        return out[..., None] if keepdims else out
    n = x.size
    grid = max(1, min(-(-n // ALL_BLOCK), sm_count(x.device.id) * 4))
    partial = cupy.empty(grid, compute)
    scalar = cupy.zeros(1, compute)
    out = cupy.empty((), x.dtype)
    fin = _kernel("reduce_final", dtype)
    part = _kernel("reduce_partial", dtype)
    part(
        (grid,),
        (ALL_BLOCK,),
        (x, partial, np.int64(n), np.int32(reduce_source.first_kind(code)), scalar),
    )
    if code in (4, 5):  # a second pass centred on the first's max or mean
        fin(
            (1,),
            (ALL_BLOCK,),
            (
                partial,
                np.int32(grid),
                np.int64(n),
                np.int32(code),
                np.int32(0),
                compute(correction),
                scalar,
                out,
            ),
        )
        part(
            (grid,),
            (ALL_BLOCK,),
            (x, partial, np.int64(n), np.int32(6 if code == 4 else 7), scalar),
        )
    fin(
        (1,),
        (ALL_BLOCK,),
        (
            partial,
            np.int32(grid),
            np.int64(n),
            np.int32(code),
            np.int32(1),
            compute(correction),
            scalar,
            out,
        ),
    )
    return out.reshape((1,) * x.ndim) if keepdims else out


def _register(name: str, op: str) -> None:
    ENGINE.implements(name, when=lambda x, axis, keepdims=False: _served(x, axis))(
        lambda: lambda x, axis, keepdims=False: reduce(op, x, axis, keepdims)
    )


for _name in ("sum", "amax", "mean", "logsumexp"):
    _register(_name, _name)


@ENGINE.implements("var", when=lambda x, axis, correction=1, keepdims=False: _served(x, axis))
def _build_var():
    return lambda x, axis, correction=1, keepdims=False: reduce(
        "var", x, axis, keepdims, correction
    )
