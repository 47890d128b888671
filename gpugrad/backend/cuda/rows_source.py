"""CUDA C source for the row kernels: softmax / log_softmax, cross_entropy over class indices,
layer_norm and rms_norm, forward and backward, over the last (contiguous) dim of a 2-D (rows,
cols) array.

A block (a power-of-two number of threads) owns a row at a time, grid-striding over rows: each
thread strides over the row's columns, and the block combines its partial maxima and sums
through shared memory (``block_reduce``, ``__syncthreads`` between steps). Statistics are kept
in the compute type ``F``: float for float16/bfloat16/float32 (as PyTorch's accumulate type),
double for float64. layer_norm's and rms_norm's weight (and bias) gradients are column sums
over rows: one thread per column, threads adjacent in memory.
"""

from __future__ import annotations

from .templates import DTYPES, PRELUDE

MAX_BLOCK = 1024
# the most threads a row or reduction block is launched with; __launch_bounds__ holds the
# compiler to the registers that many threads need (a launch asking more would fail)
MAX_THREADS = 512

_COMMON = (
    f"#define GG_MAX_THREADS {MAX_THREADS}\n"
    + r"""
// a kernel entry point: blocks of at most MAX_THREADS threads (the compiler keeps to the
// registers that many threads need, so no launch of the plans can run out of them)
#define GG_KERNEL extern "C" __global__ void __launch_bounds__(GG_MAX_THREADS)
struct MaxOp { template <class F> __device__ F operator()(F a, F b) const {
    return (a > b || a != a) ? a : b; } };  // NaN wins, as PyTorch's max
struct SumOp { template <class F> __device__ F operator()(F a, F b) const { return a + b; } };

// Every thread of the block gets op over all threads' v (blockDim.x a power of two).
template <class F, class Op> __device__ F block_reduce(F v, F* red, Op op) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] = op(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    F r = red[0];
    __syncthreads();  // red is reused by the next reduction
    return r;
}
"""
)

_KERNELS = r"""
GG_KERNEL gg_softmax_{dt}(const S* __restrict__ x, S* __restrict__ out,
                                          long long rows, long long cols, int take_log) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* xr = x + r * cols;
        S* yr = out + r * cols;
        F m = -F(GG_INF);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) m = MaxOp()(m, LOAD(xr[c]));
        m = block_reduce(m, red, MaxOp());
        F s = F(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) s += exp(LOAD(xr[c]) - m);
        s = block_reduce(s, red, SumOp());
        const F ls = log(s);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            const F v = LOAD(xr[c]) - m;
            yr[c] = STORE(take_log ? v - ls : exp(v) / s);
        }}
    }}
}}

// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g)
GG_KERNEL gg_softmax_backward_{dt}(const S* __restrict__ g,
        const S* __restrict__ y, S* __restrict__ dx, long long rows, long long cols,
        int take_log) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* gr = g + r * cols;
        const S* yr = y + r * cols;
        S* dr = dx + r * cols;
        F s = F(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x)
            s += take_log ? LOAD(gr[c]) : LOAD(gr[c]) * LOAD(yr[c]);
        s = block_reduce(s, red, SumOp());
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            const F gv = LOAD(gr[c]), yv = LOAD(yr[c]);
            dr[c] = STORE(take_log ? gv - exp(yv) * s : yv * (gv - s));
        }}
    }}
}}

// y = (x - mean) * rstd * w + b; mean and rstd (float for half inputs) saved per row.
GG_KERNEL gg_layer_norm_{dt}(const S* __restrict__ x, const S* __restrict__ w,
        const S* __restrict__ b, S* __restrict__ y, F* __restrict__ mean_out,
        F* __restrict__ rstd_out, long long rows, long long cols, F eps) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* xr = x + r * cols;
        S* yr = y + r * cols;
        F s = F(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) s += LOAD(xr[c]);
        const F mean = block_reduce(s, red, SumOp()) / F(cols);
        F q = F(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            const F d = LOAD(xr[c]) - mean;
            q += d * d;
        }}
        const F rstd = F(1) / sqrt(block_reduce(q, red, SumOp()) / F(cols) + eps);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            F v = (LOAD(xr[c]) - mean) * rstd;
            if (w) v = v * LOAD(w[c]);
            if (b) v = v + LOAD(b[c]);
            yr[c] = STORE(v);
        }}
        if (threadIdx.x == 0) {{
            mean_out[r] = mean;
            rstd_out[r] = rstd;
        }}
    }}
}}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w
GG_KERNEL gg_layer_norm_backward_{dt}(const S* __restrict__ g,
        const S* __restrict__ x, const F* __restrict__ mean, const F* __restrict__ rstd,
        const S* __restrict__ w, S* __restrict__ dx, long long rows, long long cols) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* gr = g + r * cols;
        const S* xr = x + r * cols;
        S* dr = dx + r * cols;
        const F mu = mean[r], rs = rstd[r];
        F a = F(0), bsum = F(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            const F gw = w ? LOAD(gr[c]) * LOAD(w[c]) : LOAD(gr[c]);
            bsum += gw;
            a += gw * (LOAD(xr[c]) - mu) * rs;
        }}
        bsum = block_reduce(bsum, red, SumOp()) / F(cols);
        a = block_reduce(a, red, SumOp()) / F(cols);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            const F gw = w ? LOAD(gr[c]) * LOAD(w[c]) : LOAD(gr[c]);
            const F xhat = (LOAD(xr[c]) - mu) * rs;
            dr[c] = STORE(rs * (gw - bsum - xhat * a));
        }}
    }}
}}

// dweight[c] = sum_r g * xhat, dbias[c] = sum_r g: one thread per column
GG_KERNEL gg_layer_norm_weight_grads_{dt}(const S* __restrict__ g,
        const S* __restrict__ x, const F* __restrict__ mean, const F* __restrict__ rstd,
        S* __restrict__ dw, S* __restrict__ db, long long rows, long long cols) {{
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += stride) {{
        F sw = F(0), sb = F(0);
        for (long long r = 0; r < rows; ++r) {{
            const F gv = LOAD(g[r * cols + c]);
            sw += gv * (LOAD(x[r * cols + c]) - mean[r]) * rstd[r];
            sb += gv;
        }}
        dw[c] = STORE(sw);
        db[c] = STORE(sb);
    }}
}}
// y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps) (float for half inputs) saved per row.
GG_KERNEL gg_rms_norm_{dt}(const S* __restrict__ x, const S* __restrict__ w,
        S* __restrict__ y, F* __restrict__ rstd_out, long long rows, long long cols, F eps) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* xr = x + r * cols;
        S* yr = y + r * cols;
        F q = F(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            const F v = LOAD(xr[c]);
            q += v * v;
        }}
        const F rstd = F(1) / sqrt(block_reduce(q, red, SumOp()) / F(cols) + eps);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            F v = LOAD(xr[c]) * rstd;
            if (w) v = v * LOAD(w[c]);
            yr[c] = STORE(v);
        }}
        if (threadIdx.x == 0) rstd_out[r] = rstd;
    }}
}}

// dx = rstd * (gw - xhat * mean(gw * xhat)), xhat = x * rstd, gw = g * w:
// = gw * rstd - x * rstd^3 * sum(gw * x) / cols
GG_KERNEL gg_rms_norm_backward_{dt}(const S* __restrict__ g,
        const S* __restrict__ x, const F* __restrict__ rstd, const S* __restrict__ w,
        S* __restrict__ dx, long long rows, long long cols) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* gr = g + r * cols;
        const S* xr = x + r * cols;
        S* dr = dx + r * cols;
        const F rs = rstd[r];
        F a = F(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            const F gw = w ? LOAD(gr[c]) * LOAD(w[c]) : LOAD(gr[c]);
            a += gw * LOAD(xr[c]);
        }}
        const F k = rs * rs * rs * block_reduce(a, red, SumOp()) / F(cols);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            const F gw = w ? LOAD(gr[c]) * LOAD(w[c]) : LOAD(gr[c]);
            dr[c] = STORE(gw * rs - LOAD(xr[c]) * k);
        }}
    }}
}}

// cross_entropy over class indices, one block per row: the row's logsumexp, its loss
// (1-e) w[t] (lse - x[t]) + e/C sum_c w_c (lse - x_c) and its weight w[t] (0 if t is ignored,
// or out of range: the index check reports that one at the next synchronisation).
GG_KERNEL gg_cross_entropy_{dt}(const S* __restrict__ x,
        const long long* __restrict__ target, const S* __restrict__ w, F* __restrict__ lse_out,
        F* __restrict__ row_loss, F* __restrict__ row_w, long long rows, long long cols,
        long long ignore, int has_ignore, F eps) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* xr = x + r * cols;
        F m = -F(GG_INF);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) m = MaxOp()(m, LOAD(xr[c]));
        m = block_reduce(m, red, MaxOp());
        F s = F(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) s += exp(LOAD(xr[c]) - m);
        const F lse = m + log(block_reduce(s, red, SumOp()));
        F sx = F(0), sw = F(0);  // sum_c w_c x_c and sum_c w_c, for label smoothing
        if (eps != F(0)) {{
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
                const F wc = w ? LOAD(w[c]) : F(1);
                sx += wc * LOAD(xr[c]);
                sw += wc;
            }}
            sx = block_reduce(sx, red, SumOp());
            sw = block_reduce(sw, red, SumOp());
        }}
        if (threadIdx.x == 0) {{
            const long long t = target[r];
            const bool kept = !(has_ignore && t == ignore) && t >= 0 && t < cols;
            const F wt = kept ? (w ? LOAD(w[t]) : F(1)) : F(0);
            const F nll = kept ? wt * (lse - LOAD(xr[t])) : F(0);
            const F smooth = kept ? sw * lse - sx : F(0);
            row_loss[r] = (F(1) - eps) * nll + eps / F(cols) * smooth;
            row_w[r] = wt;
            lse_out[r] = lse;
        }}
    }}
}}

// d loss / d logits: s ((1-e) w[t] (p - onehot(t)) + e/C (p sum(w) - w)), p = exp(x - lse),
// s = scale[r * scale_step] (the row's share of the upstream gradient), 0 if t is ignored.
GG_KERNEL gg_cross_entropy_backward_{dt}(const S* __restrict__ x,
        const long long* __restrict__ target, const F* __restrict__ lse, const S* __restrict__ w,
        const F* __restrict__ scale, long long scale_step, S* __restrict__ dx, long long rows,
        long long cols, long long ignore, int has_ignore, F eps) {{
    __shared__ F red[{max_block}];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {{
        const S* xr = x + r * cols;
        S* dr = dx + r * cols;
        F sw = F(cols);
        if (eps != F(0) && w) {{
            F part = F(0);
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) part += LOAD(w[c]);
            sw = block_reduce(part, red, SumOp());
        }}
        const long long t = target[r];
        const bool kept = !(has_ignore && t == ignore) && t >= 0 && t < cols;
        const F s = kept ? scale[r * scale_step] : F(0);
        const F wt = kept ? (w ? LOAD(w[t]) : F(1)) : F(0);
        const F a = s * ((F(1) - eps) * wt + eps / F(cols) * sw);
        const F l = lse[r];
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {{
            F v = exp(LOAD(xr[c]) - l) * a;
            if (c == t) v -= s * (F(1) - eps) * wt;
            if (eps != F(0)) v -= s * eps / F(cols) * (w ? LOAD(w[c]) : F(1));
            dr[c] = STORE(v);
        }}
    }}
}}

// dweight[c] = sum_r g * x * rstd: one thread per column
GG_KERNEL gg_rms_norm_weight_grads_{dt}(const S* __restrict__ g,
        const S* __restrict__ x, const F* __restrict__ rstd, S* __restrict__ dw,
        long long rows, long long cols) {{
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += stride) {{
        F sw = F(0);
        for (long long r = 0; r < rows; ++r)
            sw += LOAD(g[r * cols + c]) * LOAD(x[r * cols + c]) * rstd[r];
        dw[c] = STORE(sw);
    }}
}}
"""


# each kernel's parameters as (C type, name), in launch order; S storage, F compute type
PARAMS: dict[str, list[tuple[str, str]]] = {
    "cross_entropy": [
        ("const S*", "x"),
        ("const long long*", "target"),
        ("const S*", "w"),
        ("F*", "lse_out"),
        ("F*", "row_loss"),
        ("F*", "row_w"),
        ("long long", "rows"),
        ("long long", "cols"),
        ("long long", "ignore"),
        ("int", "has_ignore"),
        ("F", "eps"),
    ],
    "cross_entropy_backward": [
        ("const S*", "x"),
        ("const long long*", "target"),
        ("const F*", "lse"),
        ("const S*", "w"),
        ("const F*", "scale"),
        ("long long", "scale_step"),
        ("S*", "dx"),
        ("long long", "rows"),
        ("long long", "cols"),
        ("long long", "ignore"),
        ("int", "has_ignore"),
        ("F", "eps"),
    ],
    "softmax": [
        ("const S*", "x"),
        ("S*", "out"),
        ("long long", "rows"),
        ("long long", "cols"),
        ("int", "take_log"),
    ],
    "softmax_backward": [
        ("const S*", "g"),
        ("const S*", "y"),
        ("S*", "dx"),
        ("long long", "rows"),
        ("long long", "cols"),
        ("int", "take_log"),
    ],
    "layer_norm": [
        ("const S*", "x"),
        ("const S*", "w"),
        ("const S*", "b"),
        ("S*", "y"),
        ("F*", "mean_out"),
        ("F*", "rstd_out"),
        ("long long", "rows"),
        ("long long", "cols"),
        ("F", "eps"),
    ],
    "layer_norm_backward": [
        ("const S*", "g"),
        ("const S*", "x"),
        ("const F*", "mean"),
        ("const F*", "rstd"),
        ("const S*", "w"),
        ("S*", "dx"),
        ("long long", "rows"),
        ("long long", "cols"),
    ],
    "layer_norm_weight_grads": [
        ("const S*", "g"),
        ("const S*", "x"),
        ("const F*", "mean"),
        ("const F*", "rstd"),
        ("S*", "dw"),
        ("S*", "db"),
        ("long long", "rows"),
        ("long long", "cols"),
    ],
    "rms_norm": [
        ("const S*", "x"),
        ("const S*", "w"),
        ("S*", "y"),
        ("F*", "rstd_out"),
        ("long long", "rows"),
        ("long long", "cols"),
        ("F", "eps"),
    ],
    "rms_norm_backward": [
        ("const S*", "g"),
        ("const S*", "x"),
        ("const F*", "rstd"),
        ("const S*", "w"),
        ("S*", "dx"),
        ("long long", "rows"),
        ("long long", "cols"),
    ],
    "rms_norm_weight_grads": [
        ("const S*", "g"),
        ("const S*", "x"),
        ("const F*", "rstd"),
        ("S*", "dw"),
        ("long long", "rows"),
        ("long long", "cols"),
    ],
}


def kernel_name(kernel: str, dtype: str) -> str:
    return f"gg_{kernel}_{dtype}"


def source(dtype: str) -> str:
    """The row kernels on ``dtype`` (names ``gg_<kernel>_<dtype>``)."""
    storage, compute, load, store = DTYPES[dtype]
    defs = (
        f"typedef {storage} S;\ntypedef {compute} F;\n"
        f"#define LOAD(s) {load.format(s='(s)')}\n#define STORE(f) {store.format(f='(f)')}\n"
    )
    body = _KERNELS.format(dt=dtype, max_block=MAX_BLOCK, max_threads=MAX_THREADS)
    return "\n".join([PRELUDE, defs, _COMMON, body])
