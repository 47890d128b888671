"""The pointwise and elementwise catalogue names on the GPU: one generated kernel per (op,
dtype, layout); a Python-number operand of a two-operand name is a kernel argument."""

from __future__ import annotations

import functools

import numpy as np

from ... import _dtype as D
from . import ENGINE, templates
from .compile import function
from .launch import BLOCK, grid_for, sm_count
from .pointwise_ops import BACKWARD_NAMES, BINARY_NAMES, UNARY_NAMES, scalar_op

# gpugrad's floating dtypes on CUDA (bfloat16 joins once gpugrad has the dtype)
SERVED = frozenset(np.dtype(d) for d in ("float16", "float32", "float64"))
_kernels: dict = {}  # (op, dtype, layout) -> loaded kernel


def _kernel(op: str, dtype: str, layout: str):
    key = (op, dtype, layout)
    fn = _kernels.get(key)
    if fn is None:
        fn = _kernels[key] = function(
            templates.source(op, dtype), templates.kernel_name(op, dtype, layout)
        )
    return fn


def launch(op: str, arrays: tuple, params: tuple = ()):
    """Run ``op`` elementwise over ``arrays`` (broadcast together) into a new array."""
    import cupy

    first = arrays[0]
    shape = first.shape
    for a in arrays[1:]:
        if a.shape != shape:  # broadcast_shapes only where the shapes differ (~2 us a call)
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
            break
    out = cupy.empty(shape, first.dtype)
    n = out.size
    if n == 0:
        return out
    dtype = D.np_name(first.dtype)
    itemsize = first.dtype.itemsize
    metas = [(a.shape, a.strides, a.data.ptr) for a in arrays]
    layout = templates.layout_of(shape, metas, itemsize)
    compute = np.float64 if dtype == "float64" else np.float32
    args = [
        *arrays,
        out,
        *templates.trailing_args(layout, shape, metas, n, params, compute, itemsize),
    ]
    work = n // (16 // itemsize) if layout == "vec" else n
    grid = grid_for(max(work, 1), sm_count(first.device.id))
    _kernel(op, dtype, layout)((grid,), (BLOCK,), tuple(args))
    return out


@functools.cache
def _array_type() -> type:
    import cupy

    return cupy.ndarray


def _same_float(*arrays) -> bool:
    """CuPy arrays (not NumPy scalars, nor a sparse tensor's metadata) of one served float
    dtype, of at most MAX_DIMS dims."""
    kind = _array_type()
    dt = getattr(arrays[0], "dtype", None)
    return dt in SERVED and all(
        type(a) is kind and a.dtype == dt and a.ndim <= templates.MAX_DIMS for a in arrays
    )


def _unary(op: str):
    ENGINE.implements(op, when=lambda x: _same_float(x))(lambda: lambda x: launch(op, (x,)))


def _binary(op: str):
    ENGINE.implements(op, when=lambda g, x: _same_float(g, x))(
        lambda: lambda g, x: launch(op, (g, x))
    )


for _op in ("relu", "sigmoid", "tanh", "silu", *UNARY_NAMES):
    _unary(_op)
for _op in ("threshold_backward", "sigmoid_backward", "tanh_backward", "silu_backward"):
    _binary(_op)
for _op in BACKWARD_NAMES:
    _binary(_op)

# a Python number beside an array: the scalar-operand kernels (bool is not a number here: the
# reference's promotion rules for it stay CuPy's)
_NUMBERS = (int, float)
# integers beyond float64's exact range keep the reference (their conversion would round)
_EXACT_INT = 1 << 53


def _number(v) -> bool:
    t = type(v)
    return t is float or t is int and -_EXACT_INT <= v <= _EXACT_INT


def _operands(a, b) -> bool:
    """Two same-dtype float CuPy arrays, or one such array and a Python number (a NumPy
    scalar keeps the reference: CuPy's promotion rules for it)."""
    if _number(b):
        return _same_float(a)
    if _number(a):
        return _same_float(b)
    return _same_float(a, b)


def _two_operands(op: str):
    def run(a, b):
        if _number(b):
            return launch(scalar_op(op, 1), (a,), (b,))
        if _number(a):
            return launch(scalar_op(op, 0), (b,), (a,))
        return launch(op, (a, b))

    ENGINE.implements(op, when=_operands)(lambda: run)


for _op in BINARY_NAMES:
    _two_operands(_op)


@ENGINE.implements("gelu", when=lambda x, approximate="none": _same_float(x))
def _build_gelu():
    def gelu(x, approximate="none"):
        return launch("gelu" if approximate == "none" else "gelu_tanh", (x,))

    return gelu


@ENGINE.implements("gelu_backward", when=lambda g, x, approximate="none": _same_float(g, x))
def _build_gelu_backward():
    def gelu_backward(g, x, approximate="none"):
        op = "gelu_backward" if approximate == "none" else "gelu_tanh_backward"
        return launch(op, (g, x))

    return gelu_backward


@ENGINE.implements("softplus", when=lambda x, beta=1.0, threshold=20.0: _same_float(x))
def _build_softplus():
    return lambda x, beta=1.0, threshold=20.0: launch("softplus", (x,), (beta, threshold))


@ENGINE.implements(
    "softplus_backward", when=lambda g, x, beta=1.0, threshold=20.0: _same_float(g, x)
)
def _build_softplus_backward():
    return lambda g, x, beta=1.0, threshold=20.0: launch(
        "softplus_backward", (g, x), (beta, threshold)
    )
