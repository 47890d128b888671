"""CUDA C source for the reductions: over the last (contiguous) dim, and over every element.

Ops (the ``op`` argument): 0 sum, 1 mean, 2 amax, 3 amin, 4 logsumexp, 5 var (with a
``correction``). Accumulation is in the compute type ``F`` (float for half inputs, as
PyTorch's accumulate type). Over rows, a block owns a row at a time (``rows_source``'s
``block_reduce``); logsumexp and var read the row twice (its maximum or mean first), which
keeps them exact where a one-pass formula would cancel. Over every element, a first launch
leaves one partial per block and a one-block launch combines them; logsumexp and var run that
pair twice, the second pass centred on the first's result, which stays on the device.
"""

from __future__ import annotations

from .rows_source import _COMMON, MAX_BLOCK
from .templates import DTYPES, PRELUDE

OPS = {"sum": 0, "mean": 1, "amax": 2, "amin": 3, "logsumexp": 4, "var": 5}

_KERNELS = r"""
struct MinOp {{ template <class F> __device__ F operator()(F a, F b) const {{
    return (a < b || a != a) ? a : b; }} }};

// the first pass's combine, and its value for one element, by op (and pass)
__device__ __forceinline__ F gg_identity(int kind) {{
    return kind == 2 ? -F(GG_INF) : kind == 3 ? F(GG_INF) : F(0);
}}
__device__ __forceinline__ F gg_combine(int kind, F a, F b) {{
    return kind == 2 ? MaxOp()(a, b) : kind == 3 ? MinOp()(a, b) : a + b;
}}
// kind: 0 sum, 2 max, 3 min, 6 sum of exp(v - c), 7 sum of (v - c)^2
__device__ __forceinline__ F gg_term(int kind, F v, F c) {{
    if (kind == 6) return exp(v - c);
    if (kind == 7) {{ const F d = v - c; return d * d; }}
    return v;
}}

extern "C" __global__ void gg_reduce_rows_{dt}(const S* __restrict__ x, S* __restrict__ out,
        long long rows, long long cols, int op, F correction) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* xr = x + r * cols;
        const int first = op == 3 ? 3 : (op == 2 || op == 4) ? 2 : 0;
        F acc = gg_identity(first);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x)
            acc = gg_combine(first, acc, LOAD(xr[c]));
        if (first == 2) acc = block_reduce(acc, red, MaxOp());
        else if (first == 3) acc = block_reduce(acc, red, MinOp());
        else acc = block_reduce(acc, red, SumOp());
        F result = acc;
        if (op == 1) result = acc / F(cols);
        if (op == 4 || op == 5) {{
            // logsumexp: centre on the max (0 when it is not finite, as the reference);
            // var: centre on the mean
            F centre = op == 5 ? acc / F(cols) : ((acc - acc == F(0)) ? acc : F(0));
            F s = F(0);
            for (long long c = threadIdx.x; c < cols; c += blockDim.x)
                s += gg_term(op == 4 ? 6 : 7, LOAD(xr[c]), centre);
            s = block_reduce(s, red, SumOp());
            result = op == 4 ? log(s) + centre : s / (F(cols) - correction);
        }}
        if (threadIdx.x == 0) out[r] = STORE(result);
    }}
}}

// every element: one partial per block; centre (a device scalar) for kinds 6 and 7
extern "C" __global__ void gg_reduce_partial_{dt}(const S* __restrict__ x,
        F* __restrict__ partial, long long n, int kind, const F* __restrict__ centre) {{
    __shared__ F red[{max_block}];
    const F c = (kind >= 6) ? centre[0] : F(0);
    const int comb = kind >= 6 ? 0 : kind;
    F acc = gg_identity(comb);
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        acc = gg_combine(comb, acc, gg_term(kind, LOAD(x[i]), c));
    if (comb == 2) acc = block_reduce(acc, red, MaxOp());
    else if (comb == 3) acc = block_reduce(acc, red, MinOp());
    else acc = block_reduce(acc, red, SumOp());
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}}

// one block: combine the partials; stage 0 leaves the centre for a second pass in *scalar,
// stage 1 writes the op's result to out[0]
extern "C" __global__ void gg_reduce_final_{dt}(const F* __restrict__ partial, int nparts,
        long long n, int op, int stage, F correction, F* __restrict__ scalar,
        S* __restrict__ out) {{
    __shared__ F red[{max_block}];
    const bool second = stage == 1 && (op == 4 || op == 5);
    const int comb = second ? 0 : (op == 3 ? 3 : (op == 2 || op == 4) ? 2 : 0);
    F acc = gg_identity(comb);
    for (int i = threadIdx.x; i < nparts; i += blockDim.x) acc = gg_combine(comb, acc, partial[i]);
    if (comb == 2) acc = block_reduce(acc, red, MaxOp());
    else if (comb == 3) acc = block_reduce(acc, red, MinOp());
    else acc = block_reduce(acc, red, SumOp());
    if (threadIdx.x != 0) return;
    if (stage == 0) {{
        // the centre: logsumexp's finite max (else 0), var's mean
        scalar[0] = op == 5 ? acc / F(n) : ((acc - acc == F(0)) ? acc : F(0));
        return;
    }}
    F result = acc;
    if (op == 1) result = acc / F(n);
    if (op == 4) result = log(acc) + scalar[0];
    if (op == 5) result = acc / (F(n) - correction);
    out[0] = STORE(result);
}}
"""

PARAMS: dict[str, list[tuple[str, str]]] = {
    "reduce_rows": [
        ("const S*", "x"),
        ("S*", "out"),
        ("long long", "rows"),
        ("long long", "cols"),
        ("int", "op"),
        ("F", "correction"),
    ],
    "reduce_partial": [
        ("const S*", "x"),
        ("F*", "partial"),
        ("long long", "n"),
        ("int", "kind"),
        ("const F*", "centre"),
    ],
    "reduce_final": [
        ("const F*", "partial"),
        ("int", "nparts"),
        ("long long", "n"),
        ("int", "op"),
        ("int", "stage"),
        ("F", "correction"),
        ("F*", "scalar"),
        ("S*", "out"),
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
    body = _KERNELS.format(dt=dtype, max_block=MAX_BLOCK)
    return "\n".join([PRELUDE, defs, _COMMON, body])


def first_kind(op: int) -> int:
    """The first pass's kind for ``op`` over every element (a second pass uses 6 or 7)."""
    return {0: 0, 1: 0, 2: 2, 3: 3, 4: 2, 5: 0}[op]
