"""Dropout on the GPU: the mask drawn in the kernel from a counter-based hash, no stored draws.

Element ``i`` of a call with ``seed`` keeps when splitmix64's ``(i + 1)``-th output for
``seed``, as a 53-bit uniform in [0, 1), is ``>= p``: the same draws as the reference kernel
(``kernels/pointwise.py``'s ``dropout_uniforms``) and the CPU's compiled one, so a seed gives
one mask on every device.
"""

from __future__ import annotations

import numpy as np

from ... import _dtype as D
from . import ENGINE
from .compile import function
from .launch import BLOCK, grid_for, sm_count
from .pointwise import SERVED
from .templates import DTYPES, PRELUDE

_KERNELS = r"""
__device__ __forceinline__ double gg_uniform(unsigned long long seed, unsigned long long i) {{
    unsigned long long z = (i + 1ULL) * 0x9E3779B97F4A7C15ULL + seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}}

extern "C" __global__ void gg_dropout_{dt}(const S* __restrict__ x, S* __restrict__ out,
        unsigned char* __restrict__ mask, long long n, unsigned long long seed, double p,
        F scale) {{
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {{
        const bool keep = gg_uniform(seed, (unsigned long long)i) >= p;
        mask[i] = keep;
        out[i] = STORE(keep ? LOAD(x[i]) * scale : F(0));
    }}
}}

extern "C" __global__ void gg_dropout_backward_{dt}(const S* __restrict__ g,
        const unsigned char* __restrict__ mask, S* __restrict__ dx, long long n, F scale) {{
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        dx[i] = STORE(mask[i] ? LOAD(g[i]) * scale : F(0));
}}
"""

PARAMS: dict[str, list[tuple[str, str]]] = {
    "dropout": [
        ("const S*", "x"),
        ("S*", "out"),
        ("unsigned char*", "mask"),
        ("long long", "n"),
        ("unsigned long long", "seed"),
        ("double", "p"),
        ("F", "scale"),
    ],
    "dropout_backward": [
        ("const S*", "g"),
        ("const unsigned char*", "mask"),
        ("S*", "dx"),
        ("long long", "n"),
        ("F", "scale"),
    ],
}


def kernel_name(kernel: str, dtype: str) -> str:
    return f"gg_{kernel}_{dtype}"


def source(dtype: str) -> str:
    storage, compute, load, store = DTYPES[dtype]
    defs = (
        f"typedef {storage} S;\ntypedef {compute} F;\n"
        f"#define LOAD(s) {load.format(s='(s)')}\n#define STORE(f) {store.format(f='(f)')}\n"
    )
    return "\n".join([PRELUDE, defs, _KERNELS.format(dt=dtype)])


def _contiguous_float(x, *rest) -> bool:
    return x.dtype in SERVED and x.flags.c_contiguous


def _compute(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def _dropout_when(x, p, seed) -> bool:
    # a device scalar seed (inside a graph capture) goes to the reference, which reads it there
    return isinstance(seed, int) and _contiguous_float(x)


@ENGINE.implements("dropout", when=_dropout_when)
def _build_dropout():
    import cupy

    def dropout(x, p, seed):
        out = cupy.empty_like(x)
        mask = cupy.empty(x.shape, cupy.bool_)
        n = x.size
        if n:
            scale = 0.0 if p >= 1 else 1.0 / (1.0 - p)
            name = D.np_name(x.dtype)
            fn = function(source(name), kernel_name("dropout", name))
            grid = grid_for(n, sm_count(x.device.id))
            args = (
                x,
                out,
                mask,
                np.int64(n),
                np.uint64(seed & (2**64 - 1)),
                np.float64(p),
                _compute(x.dtype)(scale),
            )
            fn((grid,), (BLOCK,), args)
        return out, mask

    return dropout


def _backward_when(grad, mask, scale) -> bool:
    return (
        grad.dtype in SERVED
        and grad.flags.c_contiguous
        and mask.flags.c_contiguous
        and mask.shape == grad.shape
    )


@ENGINE.implements("dropout_backward", when=_backward_when)
def _build_dropout_backward():
    import cupy

    def dropout_backward(grad, mask, scale):
        dx = cupy.empty_like(grad)
        n = grad.size
        if n:
            name = D.np_name(grad.dtype)
            fn = function(source(name), kernel_name("dropout_backward", name))
            grid = grid_for(n, sm_count(grad.device.id))
            fn((grid,), (BLOCK,), (grad, mask, dx, np.int64(n), _compute(grad.dtype)(scale)))
        return dx

    return dropout_backward
