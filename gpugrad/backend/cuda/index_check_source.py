"""CUDA C source of the deferred index check: one kernel per index dtype (int32, int64).

Each thread grid-strides over the index array, writes a safe copy (an entry in ``[lo, hi)``,
negatives wrapped by adding ``hi``; 0 for a bad entry and for one equal to ``ignore``) and, for
its first bad entry, lowers the stream's scratch position with ``atomicMin``: positions grow
along each thread's loop, so the smallest over all threads is the first bad entry in memory
order, the one PyTorch reports. The last block to finish (a done-counter in the scratch, after
a fence) takes that position, resets the scratch for the next launch on the stream, and, when
something failed and no earlier failure holds the device's error record (a claim word in
device memory, compared and swapped), writes the check's id, the position and the bad value to
the record in mapped host memory, then its flag, after a system-wide fence. One launch, no
host synchronisation; the host reads the record after its next wait.

Only device memory takes atomics (the scratch, the claim): the record in host memory is
written by one thread with plain stores.
"""

from __future__ import annotations

import numpy as np

# index dtype name -> its C type
INDEX_TYPES: dict[str, str] = {"int32": "int", "int64": "long long"}

NO_POSITION = (1 << 64) - 1  # the scratch's position while nothing has failed

# the device error record (mapped host memory) and the per-stream scratch (device memory)
RECORD_DTYPE = np.dtype([("flag", "<i4"), ("check", "<i4"), ("position", "<i8"), ("value", "<i8")])
SCRATCH_WORDS = 2  # uint64: the position, then the done-counter (low 32 bits)

# the kernel's parameters as (C type, name), in launch order
PARAMS: list[tuple[str, str]] = [
    ("const I*", "idx"),
    ("I*", "out"),
    ("long long", "count"),
    ("long long", "lo"),
    ("long long", "hi"),
    ("long long", "ignore"),
    ("int", "has_ignore"),
    ("int", "check"),
    ("gg_index_scratch*", "scratch"),
    ("int*", "claim"),
    ("gg_index_error*", "record"),
]

_COMMON = r"""
#define GG_NO_POSITION 0xffffffffffffffffULL

struct gg_index_error {  // the host's record, written through its device pointer
    int flag;            // 0: no error; 1: the fields below name the first failure
    int check;           // the failed check's id (the host's table of pending checks)
    long long position;  // the first bad entry's index in memory order
    long long value;     // the bad index itself
};

struct gg_index_scratch {  // per stream, device memory; reset by each launch's last block
    unsigned long long position;  // the smallest failing position so far, or GG_NO_POSITION
    unsigned int blocks_done;
    unsigned int unused;
};

template <class I>
__device__ __forceinline__ void gg_index_check(const I* __restrict__ idx, I* __restrict__ out,
        long long count, long long lo, long long hi, long long ignore, int has_ignore,
        int check, gg_index_scratch* scratch, int* claim, gg_index_error* record) {
    const long long stride = (long long)blockDim.x * gridDim.x;
    bool failed = false;  // this thread's first bad entry is its smallest one
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const long long v = (long long)idx[i];
        long long safe = 0;
        if (has_ignore && v == ignore) {
            safe = 0;
        } else if (v >= lo && v < hi) {
            safe = v < 0 ? v + hi : v;
        } else if (!failed) {
            atomicMin(&scratch->position, (unsigned long long)i);
            failed = true;
        }
        out[i] = (I)safe;
    }
    __threadfence();  // this thread's atomicMin before its block counts itself done
    __syncthreads();
    if (threadIdx.x != 0) return;
    if (atomicAdd(&scratch->blocks_done, 1u) != gridDim.x - 1) return;
    // the last block: every block's atomicMin is in; reset the scratch for the next launch
    const unsigned long long pos = atomicExch(&scratch->position, GG_NO_POSITION);
    atomicExch(&scratch->blocks_done, 0u);
    if (pos == GG_NO_POSITION || atomicCAS(claim, 0, 1) != 0) return;  // an earlier one holds
    volatile gg_index_error* r = record;
    r->check = check;
    r->position = (long long)pos;
    r->value = (long long)idx[pos];
    __threadfence_system();  // the fields before the flag, as the host sees them
    r->flag = 1;
}
"""

_KERNEL = r"""
extern "C" __global__ void {name}(const {t}* __restrict__ idx, {t}* __restrict__ out,
        long long count, long long lo, long long hi, long long ignore, int has_ignore,
        int check, gg_index_scratch* scratch, int* claim, gg_index_error* record) {{
    gg_index_check<{t}>(idx, out, count, lo, hi, ignore, has_ignore, check, scratch, claim,
                        record);
}}
"""


def kernel_name(dtype: str) -> str:
    return f"gg_index_check_{dtype}"


def source() -> str:
    """The CUDA C source of the check kernel for every index dtype."""
    parts = [_COMMON]
    for dtype, t in INDEX_TYPES.items():
        parts.append(_KERNEL.format(name=kernel_name(dtype), t=t))
    return "\n".join(parts)
