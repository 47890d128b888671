"""CUDA C source for the pointwise kernels: one template per layout class, any op and dtype.

Layout classes (``layout_of`` chooses one per call):

- ``vec``: every array contiguous and 16-byte aligned: 16-byte vector loads and stores, a
  grid-stride loop over vectors, then a scalar tail for the last ``n % VEC`` elements;
- ``flat``: contiguous but not aligned for vectors (a view at an odd offset): a scalar loop;
- ``strided``: anything else (broadcast inputs with zero strides, transposes, slices): each
  output index is decomposed over up to ``MAX_DIMS`` dims of the output's shape.

Half types are stored as 16-bit integers and computed in float: the conversions are single
PTX instructions on the GPU (``cvt``) and exact software routines in the host build
(``host_runtime.h``), so the same source also runs, and is tested, on a CPU.
"""

from __future__ import annotations

from .pointwise_ops import HELPERS, OPS

MAX_DIMS = 8

# dtype name -> (storage type, compute type F, load expression of storage s, store of F f)
DTYPES: dict[str, tuple[str, str, str, str]] = {
    "float16": ("unsigned short", "float", "gg_h2f({s})", "gg_f2h({f})"),
    "bfloat16": ("unsigned short", "float", "gg_b2f({s})", "gg_f2b({f})"),
    "float32": ("float", "float", "{s}", "{f}"),
    "float64": ("double", "double", "{s}", "{f}"),
}
ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
LAYOUTS = ("vec", "flat", "strided")

PRELUDE = r"""
#ifndef GG_HOST
#define GG_INF __int_as_float(0x7f800000)
__device__ __forceinline__ float gg_h2f(unsigned short h) {
    float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ unsigned short gg_f2h(float f) {
    unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float gg_b2f(unsigned short b) {
    return __uint_as_float(((unsigned int)b) << 16); }
__device__ __forceinline__ unsigned short gg_f2b(float f) {
    unsigned short h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
#endif
"""


def kernel_name(op: str, dtype: str, layout: str) -> str:
    return f"gg_{op}_{dtype}_{layout}"


def params_of(op: str, layout: str) -> list[tuple[str, str]]:
    """The kernel's parameters as (C type, name), in launch order (launchers use this)."""
    spec = OPS[op]
    out: list[tuple[str, str]] = [("const S*", f"in_{a}") for a in spec.inputs]
    out += [("S*", "out"), ("long long", "n")]
    out += [("F", p) for p in spec.params]
    if layout == "strided":
        out += [("long long", f"shape{d}") for d in range(MAX_DIMS)]
        out += [("long long", f"st_{a}{d}") for a in spec.inputs for d in range(MAX_DIMS)]
    return out


def _signature(op: str, dtype: str, layout: str) -> str:
    storage, compute, _, _ = DTYPES[dtype]
    ctypes = {
        "const S*": f"const {storage}* __restrict__",
        "S*": f"{storage}* __restrict__",
        "F": compute,
        "long long": "long long",
    }
    ps = ", ".join(f"{ctypes[t]} {name}" for t, name in params_of(op, layout))
    return f'extern "C" __global__ void {kernel_name(op, dtype, layout)}({ps})'


def _body(op: str, dtype: str, layout: str) -> str:
    spec = OPS[op]
    storage, compute, load, store = DTYPES[dtype]

    def element(index: dict[str, str], target: str) -> str:
        reads = "".join(f"        const F {a} = {load.format(s=index[a])};\n" for a in spec.inputs)
        return f"{reads}        {target} = {store.format(f='(' + spec.expr + ')')};\n"

    grid_loop = (
        "    const long long stride = (long long)blockDim.x * gridDim.x;\n"
        "    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
    )
    head = f"    typedef {compute} F;\n" + grid_loop
    if layout == "flat":
        idx = {a: f"in_{a}[i]" for a in spec.inputs}
        return head + (
            "    for (long long i = first; i < n; i += stride) {\n"
            + element(idx, "out[i]")
            + "    }\n"
        )
    if layout == "vec":
        vec = 16 // ITEMSIZE[dtype]
        lines = [
            head,
            f"    struct __align__(16) V {{ {storage} v[{vec}]; }};\n",
            f"    const long long nvec = n / {vec};\n",
            "    for (long long i = first; i < nvec; i += stride) {\n",
        ]
        lines += [f"        const V v_{a} = ((const V*)in_{a})[i];\n" for a in spec.inputs]
        lines.append("        V r;\n")
        lines.append(f"        #pragma unroll\n        for (int k = 0; k < {vec}; ++k) {{\n")
        idx = {a: f"v_{a}.v[k]" for a in spec.inputs}
        lines.append(element(idx, "r.v[k]").replace("\n        ", "\n            "))
        lines.append("        }\n        ((V*)out)[i] = r;\n    }\n")
        lines.append(f"    for (long long i = nvec * {vec} + first; i < n; i += stride) {{\n")
        lines.append(element({a: f"in_{a}[i]" for a in spec.inputs}, "out[i]"))
        lines.append("    }\n")
        return "".join(lines)
    # strided: decompose the (contiguous) output index over the output's shape
    shape = ", ".join(f"shape{d}" for d in range(MAX_DIMS))
    lines = [head, f"    const long long shape[{MAX_DIMS}] = {{{shape}}};\n"]
    for a in spec.inputs:
        sts = ", ".join(f"st_{a}{d}" for d in range(MAX_DIMS))
        lines.append(f"    const long long st_{a}[{MAX_DIMS}] = {{{sts}}};\n")
    lines.append("    for (long long i = first; i < n; i += stride) {\n")
    lines.append("        long long rest = i;\n")
    lines += [f"        long long off_{a} = 0;\n" for a in spec.inputs]
    lines.append(f"        for (int d = {MAX_DIMS - 1}; d >= 0; --d) {{\n")
    lines.append(
        "            const long long c = rest % shape[d];\n            rest /= shape[d];\n"
    )
    lines += [f"            off_{a} += c * st_{a}[d];\n" for a in spec.inputs]
    lines.append("        }\n")
    lines.append(element({a: f"in_{a}[off_{a}]" for a in spec.inputs}, "out[i]"))
    lines.append("    }\n")
    return "".join(lines)


def source(op: str, dtype: str, *, prelude: bool = True) -> str:
    """The CUDA C source of ``op`` on ``dtype``: its three layout kernels (and the helpers they
    call, unless ``prelude`` is False: then sources of several ops concatenate)."""
    parts = [PRELUDE, HELPERS] if prelude else []
    for layout in LAYOUTS:
        parts.append(_signature(op, dtype, layout) + " {\n" + _body(op, dtype, layout) + "}\n")
    return "\n".join(parts)


def layout_of(shape: tuple, arrays: list[tuple[tuple, tuple, int]], itemsize: int) -> str:
    """Which kernel serves a call: ``arrays`` are (shape, byte strides, address) of each
    input; the output is a new contiguous array of ``shape`` (always vector-aligned)."""
    expect = []
    step = itemsize
    for extent in reversed(shape):
        expect.append(step)
        step *= extent
    contiguous = tuple(reversed(expect))
    flat = True
    aligned = True
    for a_shape, a_strides, address in arrays:
        if tuple(a_shape) != tuple(shape):
            flat = False
            break
        sig = [s for e, s in zip(shape, a_strides) if e != 1]  # size-1 dims: any stride
        want = [s for e, s in zip(shape, contiguous) if e != 1]
        if sig != want:
            flat = False
            break
        aligned = aligned and address % 16 == 0
    if not flat:
        return "strided"
    return "vec" if aligned else "flat"


def broadcast_strides(a_shape: tuple, a_strides: tuple, shape: tuple) -> tuple:
    """The byte strides of an array of ``a_shape`` / ``a_strides`` read broadcast to
    ``shape``: 0 along the dims it lacks or has as 1 where ``shape`` does not."""
    lead = len(shape) - len(a_shape)
    out = [0] * lead
    for extent, want, stride in zip(a_shape, shape[lead:], a_strides):
        out.append(stride if extent == want else 0)
    return tuple(out)


def trailing_args(
    layout: str, shape: tuple, arrays: list, n: int, params: tuple, compute, itemsize: int
) -> list:
    """The kernel arguments after the array pointers and ``out``, in ``params_of`` order:
    ``n``, the op's scalar parameters (as ``compute``, the kernel's ``F``), and for the
    strided layout the output's shape and each input's element strides over MAX_DIMS dims
    (leading size-1 dims padded). ``arrays`` are (shape, byte strides, address) of the
    inputs, as ``layout_of`` takes them."""
    import numpy as np

    args = [np.int64(n), *(compute(p) for p in params)]
    if layout == "strided":
        pad = MAX_DIMS - len(shape)
        args += [np.int64(1)] * pad + [np.int64(e) for e in shape]
        for a_shape, a_strides, _ in arrays:
            strides = broadcast_strides(a_shape, a_strides, shape)
            args += [np.int64(0)] * pad + [np.int64(s // itemsize) for s in strides]
    return args
