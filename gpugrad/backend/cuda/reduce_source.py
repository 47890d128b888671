"""CUDA C source for the reductions, over a C-contiguous array viewed as (outer, r, inner):
the r elements of each output lie ``inner`` apart (reduction.py makes the view and the
launches).

Ops (the ``op`` argument, ``OPS``): 0 sum, 1 mean, 2 amax, 3 amin, 4 logsumexp, 5 var (with a
``correction``), 6-10 vector norms (ord 2, 1, inf, -inf, 0). A pass reduces one *kind* of
term (``KINDS``: the element, its square, magnitude, exp(v - c) ...) with one combine (sum,
max or min, a NaN winning both extremes); logsumexp and var take two passes, the second
centred on the first's result (its maximum or mean), which keeps them exact where a one-pass
formula would cancel. Accumulation is in the compute type ``F`` (float for half inputs, as
PyTorch's accumulate type); results are rounded to the storage type once.

Kernels:

- ``gg_reduce_rows`` (inner == 1, a block per row: ``rows_source``'s ``block_reduce``);
- ``gg_reduce_partial`` / ``gg_reduce_final`` (every element: one partial per block, then a
  one-block launch combining them; the centre of a second pass stays on the device);
- ``gg_reduce_inner`` (any view): the block's threads are a (TX, TY) tile, TX adjacent outputs
  (reads coalesced along ``inner``; for inner 1 and a short r, a row per thread) by TY threads
  striding over r and combined through shared memory; with ``splits`` > 1 a block reduces
  one chunk of r and leaves a partial, and ``gg_reduce_combine`` (the same tile over the
  (splits, outputs) partials) finishes;
- ``gg_argreduce_inner`` / ``gg_argreduce_combine``: argmax / argmin the same way, carrying
  (value, index) pairs: the larger (smaller) value wins, a NaN wins over any number, and the
  smaller index wins among equal values and among NaNs (PyTorch's rule: the first index).

Blocks are one-dimensional (the tile is ``threadIdx.x % tx``, ``threadIdx.x / tx``) and grids
grid-stride over their work, so the host build (``host_runtime.h``) runs them unchanged.
"""

from __future__ import annotations

from .rows_source import _COMMON, MAX_BLOCK
from .templates import DTYPES, PRELUDE

OPS = {
    "sum": 0,
    "mean": 1,
    "amax": 2,
    "amin": 3,
    "logsumexp": 4,
    "var": 5,
    "norm2": 6,
    "norm1": 7,
    "norm_inf": 8,
    "norm_neg_inf": 9,
    "norm0": 10,
}
# the term one pass reduces: 0 v, 2 v (max), 3 v (min), 6 exp(v - c), 7 (v - c)^2, 8 v^2,
# 9 |v|, 10 |v| (max), 11 |v| (min), 12 v != 0; every kind not named max/min sums
KINDS = (0, 2, 3, 6, 7, 8, 9, 10, 11, 12)
_FIRST_KIND = {0: 0, 1: 0, 2: 2, 3: 3, 4: 2, 5: 0, 6: 8, 7: 9, 8: 10, 9: 11, 10: 12}

_KERNELS = r"""
struct MinOp { template <class T> __device__ T operator()(T a, T b) const {
    return (a < b || a != a) ? a : b; } };  // NaN wins, as PyTorch's min

// ---- what a pass reduces (kinds) and how each op finishes ------------------------------
__device__ constexpr int gg_comb_of(int kind) {  // 0 sum, 2 max, 3 min
    return (kind == 2 || kind == 10) ? 2 : (kind == 3 || kind == 11) ? 3 : 0;
}
__device__ __forceinline__ int gg_first_kind(int op) {
    switch (op) {
    case 2: case 4: return 2;
    case 3: return 3;
    case 6: return 8;
    case 7: return 9;
    case 8: return 10;
    case 9: return 11;
    case 10: return 12;
    default: return 0;
    }
}
__device__ __forceinline__ bool gg_two_pass(int op) { return op == 4 || op == 5; }
// stage 0: the first pass (the only one for a one-pass op, if stage 1 is asked: its kind)
__device__ __forceinline__ int gg_pass_kind(int op, int stage) {
    if (stage == 1 && op == 4) return 6;
    if (stage == 1 && op == 5) return 7;
    return gg_first_kind(op);
}
__device__ __forceinline__ F gg_identity(int comb) {
    return comb == 2 ? -F(GG_INF) : comb == 3 ? F(GG_INF) : F(0);
}
__device__ __forceinline__ F gg_combine(int comb, F a, F b) {
    return comb == 2 ? MaxOp()(a, b) : comb == 3 ? MinOp()(a, b) : a + b;
}
__device__ __forceinline__ F gg_term(int kind, F v, F c) {
    switch (kind) {
    case 6: return exp(v - c);
    case 7: { const F d = v - c; return d * d; }
    case 8: return v * v;
    case 9: case 10: case 11: return fabs(v);
    case 12: return v != F(0) ? F(1) : F(0);  // a NaN is not zero: counted, as PyTorch
    default: return v;
    }
}
__device__ __forceinline__ bool gg_centred(int kind) { return kind == 6 || kind == 7; }
// the second pass's centre: logsumexp's maximum when finite (else 0, so an all -inf row
// stays -inf and an inf one inf), var's mean
__device__ __forceinline__ F gg_centre(int op, F acc, long long n) {
    return op == 5 ? acc / F(n) : ((acc - acc == F(0)) ? acc : F(0));
}
// the result from the last pass's combined ``acc`` over ``n`` elements (centre ``c``)
__device__ __forceinline__ F gg_finish(int op, F acc, long long n, F c, F correction) {
    switch (op) {
    case 1: return acc / F(n);
    case 4: return log(acc) + c;
    case 5: {  // PyTorch's max(n - correction, 0) degrees of freedom
        const F dof = F(n) - correction;
        return acc / (dof > F(0) ? dof : F(0));
    }
    case 6: return sqrt(acc);
    default: return acc;
    }
}

// a kind known at compile time inside the loops: ``K`` in __VA_ARGS__
#define GG_KIND_SWITCH(kind, ...) switch (kind) { \
    case 2: { constexpr int K = 2; __VA_ARGS__; } \
    case 3: { constexpr int K = 3; __VA_ARGS__; } \
    case 6: { constexpr int K = 6; __VA_ARGS__; } \
    case 7: { constexpr int K = 7; __VA_ARGS__; } \
    case 8: { constexpr int K = 8; __VA_ARGS__; } \
    case 9: { constexpr int K = 9; __VA_ARGS__; } \
    case 10: { constexpr int K = 10; __VA_ARGS__; } \
    case 11: { constexpr int K = 11; __VA_ARGS__; } \
    case 12: { constexpr int K = 12; __VA_ARGS__; } \
    default: { constexpr int K = 0; __VA_ARGS__; } }

template <int K> __device__ F gg_block_combine(F acc, F* red) {
    constexpr int comb = gg_comb_of(K);
    if (comb == 2) return block_reduce(acc, red, MaxOp());
    if (comb == 3) return block_reduce(acc, red, MinOp());
    return block_reduce(acc, red, SumOp());
}

// This thread's terms of the contiguous p[0, n), it taking elements first, first + stride ...
// of the scalar head (up to p's first 16-byte boundary) and tail, and the same of the
// 16-byte vectors between: a row at any offset still reads in 128-bit loads, as PyTorch's
// reductions over a contiguous dim do.
struct __align__(16) GgVec { S v[16 / sizeof(S)]; };
template <int K> __device__ F gg_span(const S* __restrict__ p, long long n, long long first,
                                      long long stride, F c, F acc) {
    constexpr int comb = gg_comb_of(K), VEC = 16 / sizeof(S);
    long long head = (long long)(((16 - ((unsigned long long)p & 15)) & 15) / sizeof(S));
    head = head < n ? head : n;
    for (long long i = first; i < head; i += stride)
        acc = gg_combine(comb, acc, gg_term(K, LOAD(p[i]), c));
    const GgVec* pv = (const GgVec*)(p + head);
    const long long nv = (n - head) / VEC;
    for (long long i = first; i < nv; i += stride) {
        const GgVec v = pv[i];
#pragma unroll
        for (int k = 0; k < VEC; ++k) acc = gg_combine(comb, acc, gg_term(K, LOAD(v.v[k]), c));
    }
    for (long long i = head + nv * VEC + first; i < n; i += stride)
        acc = gg_combine(comb, acc, gg_term(K, LOAD(p[i]), c));
    return acc;
}

// one block's threads over xr[0, n) (stride 1), combined over the block
template <int K> __device__ F gg_row_pass(const S* __restrict__ xr, long long n, F c, F* red) {
    F acc = gg_span<K>(xr, n, threadIdx.x, blockDim.x, c, gg_identity(gg_comb_of(K)));
    return gg_block_combine<K>(acc, red);
}
__device__ F gg_row_pass_any(int kind, const S* __restrict__ xr, long long n, F c, F* red) {
    GG_KIND_SWITCH(kind, return gg_row_pass<K>(xr, n, c, red))
}

// ---- rows: inner == 1, a block per row --------------------------------------------------
GG_KERNEL gg_reduce_rows_$DT(const S* __restrict__ x, S* __restrict__ out,
        long long rows, long long cols, int op, F correction) {
    __shared__ F red[$MAXB];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const S* xr = x + r * cols;
        F acc = gg_row_pass_any(gg_first_kind(op), xr, cols, F(0), red);
        F c = F(0);
        if (gg_two_pass(op)) {
            c = gg_centre(op, acc, cols);
            acc = gg_row_pass_any(gg_pass_kind(op, 1), xr, cols, c, red);
        }
        if (threadIdx.x == 0) out[r] = STORE(gg_finish(op, acc, cols, c, correction));
    }
}

// ---- every element: one partial per block; centre (a device scalar) for kinds 6 and 7 ----
template <int K> __device__ F gg_flat_pass(const S* __restrict__ x, long long n, F c, F* red) {
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long stride = (long long)blockDim.x * gridDim.x;
    F acc = gg_span<K>(x, n, first, stride, c, gg_identity(gg_comb_of(K)));
    return gg_block_combine<K>(acc, red);
}

GG_KERNEL gg_reduce_partial_$DT(const S* __restrict__ x,
        F* __restrict__ partial, long long n, int kind, const F* __restrict__ centre) {
    __shared__ F red[$MAXB];
    const F c = gg_centred(kind) ? centre[0] : F(0);
    F acc;
    GG_KIND_SWITCH(kind, acc = gg_flat_pass<K>(x, n, c, red); break)
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// one block: combine the partials; stage 0 leaves the centre for a second pass in *scalar,
// stage 1 writes the op's result to out[0]
GG_KERNEL gg_reduce_final_$DT(const F* __restrict__ partial, int nparts,
        long long n, int op, int stage, F correction, F* __restrict__ scalar,
        S* __restrict__ out) {
    __shared__ F red[$MAXB];
    const int comb = gg_comb_of(gg_pass_kind(op, stage));
    F acc = gg_identity(comb);
    for (int i = threadIdx.x; i < nparts; i += blockDim.x) acc = gg_combine(comb, acc, partial[i]);
    if (comb == 2) acc = block_reduce(acc, red, MaxOp());
    else if (comb == 3) acc = block_reduce(acc, red, MinOp());
    else acc = block_reduce(acc, red, SumOp());
    if (threadIdx.x != 0) return;
    if (stage == 0 && gg_two_pass(op)) {
        scalar[0] = gg_centre(op, acc, n);
        return;
    }
    out[0] = STORE(gg_finish(op, acc, n, gg_two_pass(op) ? scalar[0] : F(0), correction));
}

// ---- any (outer, r, inner) view: a (TX, TY) tile per block ------------------------------
struct GgLoadS { __device__ F operator()(const S* p, long long i) const { return LOAD(p[i]); } };
struct GgLoadF { __device__ F operator()(const F* p, long long i) const { return p[i]; } };

// Output m = o * inner + j of the view of x: TX adjacent outputs by TY threads over a chunk
// of r (adjacent j are adjacent in memory: coalesced; for a short r and inner 1, adjacent
// rows, each thread a row, as PyTorch's thread-per-output reductions).
// splits > 1: the block of split s writes its partial at partial[s * outer * inner + m];
// else it finishes: stage 0 of a two-pass op writes centre[m], a last stage out[m]. ``n``
// is the count the op finishes with (r, or the original r when x holds partials).
template <int K, class T, class Ld>
__device__ void gg_inner(const T* __restrict__ x, F* __restrict__ partial, S* __restrict__ out,
        F* __restrict__ centre, long long outer, long long r, long long inner, int tx_n,
        int splits, long long chunk, long long n, int op, int stage, F correction, F* red) {
    constexpr int comb = gg_comb_of(K);
    const int tx = threadIdx.x % tx_n, ty = threadIdx.x / tx_n, ty_n = blockDim.x / tx_n;
    const long long m_total = outer * inner, tiles = (m_total + tx_n - 1) / tx_n;
    for (long long b = blockIdx.x; b < tiles * splits; b += gridDim.x) {
        const long long s = b / tiles, m = (b % tiles) * tx_n + tx;
        const long long o = m / inner, j = m % inner;
        const long long k0 = s * chunk, k1 = k0 + chunk < r ? k0 + chunk : r;
        F acc = gg_identity(comb);
        if (m < m_total) {
            const F c = gg_centred(K) ? centre[m] : F(0);
            const T* xo = x + o * r * inner + j;
#pragma unroll 4
            for (long long k = k0 + ty; k < k1; k += ty_n)
                acc = gg_combine(comb, acc, gg_term(K, Ld()(xo, k * inner), c));
        }
        red[threadIdx.x] = acc;
        __syncthreads();
        for (int h = ty_n / 2; h > 0; h >>= 1) {
            if (ty < h)
                red[threadIdx.x] = gg_combine(comb, red[threadIdx.x], red[threadIdx.x + h * tx_n]);
            __syncthreads();
        }
        if (ty == 0 && m < m_total) {
            const F v = red[tx];
            if (splits > 1) partial[s * m_total + m] = v;
            else if (stage == 0 && gg_two_pass(op)) centre[m] = gg_centre(op, v, n);
            else out[m] = STORE(gg_finish(op, v, n, op == 4 ? centre[m] : F(0), correction));
        }
        __syncthreads();  // red is reused by the next tile
    }
}

GG_KERNEL gg_reduce_inner_$DT(const S* __restrict__ x,
        F* __restrict__ partial, S* __restrict__ out, F* __restrict__ centre, long long outer,
        long long r, long long inner, int tx, int splits, long long chunk, long long n, int op,
        int stage, F correction) {
    __shared__ F red[$MAXB];
    GG_KIND_SWITCH(gg_pass_kind(op, stage),
        gg_inner<K, S, GgLoadS>(x, partial, out, centre, outer, r, inner, tx, splits, chunk,
                                n, op, stage, correction, red); break)
}

// the (splits, m) partials of gg_reduce_inner combined into the m outputs, then finished
GG_KERNEL gg_reduce_combine_$DT(const F* __restrict__ partial,
        S* __restrict__ out, F* __restrict__ centre, long long m, long long splits, int tx,
        long long n, int op, int stage, F correction) {
    __shared__ F red[$MAXB];
    switch (gg_comb_of(gg_pass_kind(op, stage))) {
    case 2: gg_inner<2, F, GgLoadF>(partial, nullptr, out, centre, 1, splits, m, tx, 1,
                                    splits, n, op, stage, correction, red); break;
    case 3: gg_inner<3, F, GgLoadF>(partial, nullptr, out, centre, 1, splits, m, tx, 1,
                                    splits, n, op, stage, correction, red); break;
    default: gg_inner<0, F, GgLoadF>(partial, nullptr, out, centre, 1, splits, m, tx, 1,
                                     splits, n, op, stage, correction, red);
    }
}

// ---- argmax / argmin: (value, index) pairs ----------------------------------------------
// whether (a, ia) beats (b, ib): NaN beats a number, then the larger (MAX) or smaller value,
// and among equals (NaNs included) the smaller index
template <bool MAX> __device__ __forceinline__ bool gg_arg_beats(F a, long long ia, F b,
                                                                 long long ib) {
    if (a != a) return !(b == b) ? ia < ib : true;
    if (b != b) return false;
    if (a == b) return ia < ib;
    return MAX ? a > b : a < b;
}

#define GG_NO_INDEX 0x7fffffffffffffffLL

// as gg_inner, over values of x (PART false: the index is the position k along r) or over
// the (value, index) partials pv / pi (PART true); splits > 1 leaves partials in ov / oi
template <bool MAX, bool PART>
__device__ void gg_arg_inner(const S* __restrict__ x, const F* __restrict__ pv,
        const long long* __restrict__ pi, F* __restrict__ ov, long long* __restrict__ oi,
        long long* __restrict__ out, long long outer, long long r, long long inner, int tx_n,
        int splits, long long chunk, F* rv, long long* ri) {
    const int tx = threadIdx.x % tx_n, ty = threadIdx.x / tx_n, ty_n = blockDim.x / tx_n;
    const long long m_total = outer * inner, tiles = (m_total + tx_n - 1) / tx_n;
    for (long long b = blockIdx.x; b < tiles * splits; b += gridDim.x) {
        const long long s = b / tiles, m = (b % tiles) * tx_n + tx;
        const long long o = m / inner, j = m % inner;
        const long long k0 = s * chunk, k1 = k0 + chunk < r ? k0 + chunk : r;
        F v = MAX ? -F(GG_INF) : F(GG_INF);
        long long vi = GG_NO_INDEX;  // loses every tie with a real element
        if (m < m_total) {
            const long long base = o * r * inner + j;
            for (long long k = k0 + ty; k < k1; k += ty_n) {
                const F e = PART ? pv[base + k * inner] : LOAD(x[base + k * inner]);
                const long long ei = PART ? pi[base + k * inner] : k;
                if (gg_arg_beats<MAX>(e, ei, v, vi)) { v = e; vi = ei; }
            }
        }
        rv[threadIdx.x] = v;
        ri[threadIdx.x] = vi;
        __syncthreads();
        for (int h = ty_n / 2; h > 0; h >>= 1) {
            if (ty < h) {
                const int other = threadIdx.x + h * tx_n;
                if (gg_arg_beats<MAX>(rv[other], ri[other], rv[threadIdx.x], ri[threadIdx.x])) {
                    rv[threadIdx.x] = rv[other];
                    ri[threadIdx.x] = ri[other];
                }
            }
            __syncthreads();
        }
        if (ty == 0 && m < m_total) {
            if (splits > 1) {
                ov[s * m_total + m] = rv[tx];
                oi[s * m_total + m] = ri[tx];
            } else {
                out[m] = ri[tx];
            }
        }
        __syncthreads();
    }
}

GG_KERNEL gg_argreduce_inner_$DT(const S* __restrict__ x,
        F* __restrict__ part_v, long long* __restrict__ part_i, long long* __restrict__ out,
        long long outer, long long r, long long inner, int tx, int splits, long long chunk,
        int is_max) {
    __shared__ F rv[$MAXB];
    __shared__ long long ri[$MAXB];
    if (is_max)
        gg_arg_inner<true, false>(x, nullptr, nullptr, part_v, part_i, out, outer, r, inner,
                                  tx, splits, chunk, rv, ri);
    else
        gg_arg_inner<false, false>(x, nullptr, nullptr, part_v, part_i, out, outer, r, inner,
                                   tx, splits, chunk, rv, ri);
}

GG_KERNEL gg_argreduce_combine_$DT(const F* __restrict__ part_v,
        const long long* __restrict__ part_i, long long* __restrict__ out, long long m,
        long long splits, int tx, int is_max) {
    __shared__ F rv[$MAXB];
    __shared__ long long ri[$MAXB];
    if (is_max)
        gg_arg_inner<true, true>(nullptr, part_v, part_i, nullptr, nullptr, out, 1, splits, m,
                                 tx, 1, splits, rv, ri);
    else
        gg_arg_inner<false, true>(nullptr, part_v, part_i, nullptr, nullptr, out, 1, splits, m,
                                  tx, 1, splits, rv, ri);
}
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
    "reduce_inner": [
        ("const S*", "x"),
        ("F*", "partial"),
        ("S*", "out"),
        ("F*", "centre"),
        ("long long", "outer"),
        ("long long", "r"),
        ("long long", "inner"),
        ("int", "tx"),
        ("int", "splits"),
        ("long long", "chunk"),
        ("long long", "n"),
        ("int", "op"),
        ("int", "stage"),
        ("F", "correction"),
    ],
    "reduce_combine": [
        ("const F*", "partial"),
        ("S*", "out"),
        ("F*", "centre"),
        ("long long", "m"),
        ("long long", "splits"),
        ("int", "tx"),
        ("long long", "n"),
        ("int", "op"),
        ("int", "stage"),
        ("F", "correction"),
    ],
    "argreduce_inner": [
        ("const S*", "x"),
        ("F*", "part_v"),
        ("long long*", "part_i"),
        ("long long*", "out"),
        ("long long", "outer"),
        ("long long", "r"),
        ("long long", "inner"),
        ("int", "tx"),
        ("int", "splits"),
        ("long long", "chunk"),
        ("int", "is_max"),
    ],
    "argreduce_combine": [
        ("const F*", "part_v"),
        ("const long long*", "part_i"),
        ("long long*", "out"),
        ("long long", "m"),
        ("long long", "splits"),
        ("int", "tx"),
        ("int", "is_max"),
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
    body = _KERNELS.replace("$DT", dtype).replace("$MAXB", str(MAX_BLOCK))
    return "\n".join([PRELUDE, defs, _COMMON, body])


def first_kind(op: int) -> int:
    """The first pass's kind for ``op`` (a second pass uses 6 for logsumexp, 7 for var)."""
    return _FIRST_KIND[op]


def second_kind(op: int) -> int | None:
    """The second pass's kind for ``op`` (None for a one-pass op)."""
    return {4: 6, 5: 7}.get(op)
