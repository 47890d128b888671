"""CUDA C source for the fused optimizer steps: every parameter of one dtype in one launch.

Multi-tensor apply, as PyTorch's fused optimizers: the host describes the parameter list once
(a table of device pointers per role, each tensor's size, and which tensor and offset every
block's chunk covers); a block updates one chunk of one tensor in place. The table is cached
per parameter list, so a step uploads nothing and never waits for the device. The update
reads each element of param, grad and state once and writes param and state once.
"""

from __future__ import annotations

from .templates import DTYPES, PRELUDE

CHUNK = 65536  # elements per block (PyTorch's multi_tensor_apply: 65536)

_KERNELS = r"""
// table: ROLES rows of ntensors device pointers (role-major) to the parameters and their state,
// stable across steps; gtable: the gradients' pointers, new each step. sizes[t]: elements of t.
// Chunk b covers tensor chunk_tensor[b], elements [chunk_start[b], chunk_start[b] + CHUNK).
#define GG_ROW(role, t) (table[(long long)(role) * ntensors + (t)])

extern "C" __global__ void gg_adam_{dt}(const long long* __restrict__ table,
        const long long* __restrict__ gtable, const long long* __restrict__ sizes,
        const int* __restrict__ chunk_tensor,
        const long long* __restrict__ chunk_start, int ntensors, F lr, F beta1, F beta2, F eps,
        F weight_decay, F step_size, F bc2_sqrt, int decoupled, int amsgrad, int maximize) {{
    const int t = chunk_tensor[blockIdx.x];
    const long long start = chunk_start[blockIdx.x];
    const long long end = min(start + {chunk}LL, sizes[t]);
    S* p = (S*)GG_ROW(0, t);
    const S* g = (const S*)gtable[t];
    S* m = (S*)GG_ROW(1, t);
    S* v = (S*)GG_ROW(2, t);
    S* vmax = amsgrad ? (S*)GG_ROW(3, t) : (S*)0;
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {{
        F param = LOAD(p[i]);
        F grad = LOAD(g[i]);
        if (maximize) grad = -grad;
        if (weight_decay != F(0)) {{
            if (decoupled) param = param * (F(1) - lr * weight_decay);
            else grad = grad + weight_decay * param;
        }}
        const F mi = LOAD(m[i]) + (grad - LOAD(m[i])) * (F(1) - beta1);  // lerp, as PyTorch
        const F vi = LOAD(v[i]) * beta2 + (F(1) - beta2) * grad * grad;
        m[i] = STORE(mi);
        v[i] = STORE(vi);
        F second = vi;
        if (amsgrad) {{
            const F top = LOAD(vmax[i]);
            second = top > vi ? top : vi;
            vmax[i] = STORE(second);
        }}
        const F denom = sqrt(second) / bc2_sqrt + eps;
        p[i] = STORE(param - step_size * mi / denom);
    }}
}}

// SGD: table rows param, momentum buffer (row 1 unused without momentum).
extern "C" __global__ void gg_sgd_{dt}(const long long* __restrict__ table,
        const long long* __restrict__ gtable, const long long* __restrict__ sizes,
        const int* __restrict__ chunk_tensor,
        const long long* __restrict__ chunk_start, int ntensors, F lr, F momentum,
        F dampening, F weight_decay, int nesterov, int maximize, int first) {{
    const int t = chunk_tensor[blockIdx.x];
    const long long start = chunk_start[blockIdx.x];
    const long long end = min(start + {chunk}LL, sizes[t]);
    S* p = (S*)GG_ROW(0, t);
    const S* g = (const S*)gtable[t];
    S* buf = momentum != F(0) ? (S*)GG_ROW(1, t) : (S*)0;
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {{
        const F param = LOAD(p[i]);
        F d = LOAD(g[i]);
        if (maximize) d = -d;
        if (weight_decay != F(0)) d = d + weight_decay * param;
        if (buf) {{
            const F b = first ? d : LOAD(buf[i]) * momentum + (F(1) - dampening) * d;
            buf[i] = STORE(b);
            d = nesterov ? d + momentum * b : b;
        }}
        p[i] = STORE(param - lr * d);
    }}
}}
"""

PARAMS: dict[str, list[tuple[str, str]]] = {
    "adam": [
        ("const long long*", "table"),
        ("const long long*", "gtable"),
        ("const long long*", "sizes"),
        ("const int*", "chunk_tensor"),
        ("const long long*", "chunk_start"),
        ("int", "ntensors"),
        ("F", "lr"),
        ("F", "beta1"),
        ("F", "beta2"),
        ("F", "eps"),
        ("F", "weight_decay"),
        ("F", "step_size"),
        ("F", "bc2_sqrt"),
        ("int", "decoupled"),
        ("int", "amsgrad"),
        ("int", "maximize"),
    ],
    "sgd": [
        ("const long long*", "table"),
        ("const long long*", "gtable"),
        ("const long long*", "sizes"),
        ("const int*", "chunk_tensor"),
        ("const long long*", "chunk_start"),
        ("int", "ntensors"),
        ("F", "lr"),
        ("F", "momentum"),
        ("F", "dampening"),
        ("F", "weight_decay"),
        ("int", "nesterov"),
        ("int", "maximize"),
        ("int", "first"),
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
    return "\n".join([PRELUDE, defs, _KERNELS.format(dt=dtype, chunk=CHUNK)])


def chunks(sizes: list[int]) -> tuple[list[int], list[int]]:
    """(tensor index, start) of every chunk: the blocks of one launch over ``sizes``."""
    tensor, start = [], []
    for t, n in enumerate(sizes):
        for s in range(0, n, CHUNK):
            tensor.append(t)
            start.append(s)
    return tensor, start
