// Runs gpugrad's CUDA kernel sources on the host, so CPU-only CI executes their logic.
// The CUDA built-ins become host equivalents: each block's threads are std::threads (blocks run
// one after another), threadIdx / blockIdx are thread-local, __syncthreads() is a barrier over
// the block, __shared__ memory is static (one block at a time uses it), and the half-type
// conversions are exact software routines in place of the PTX cvt instructions; the atomics
// the kernels use are std::atomic_ref operations and the fences std::atomic_thread_fence.
#pragma once
#define GG_HOST 1
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

struct dim3 { unsigned x = 1, y = 1, z = 1; };
static thread_local dim3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

#define __global__
#define __launch_bounds__(...)
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __align__(n) alignas(n)
#define __shared__ static

using std::erf;
using std::max;
using std::min;
using std::exp;
using std::log;
using std::log1p;
using std::sqrt;
using std::tanh;
using std::expm1; using std::exp2; using std::log2; using std::log10;
using std::sin; using std::cos; using std::tan; using std::asin; using std::acos; using std::atan;
using std::sinh; using std::cosh; using std::asinh; using std::acosh; using std::atanh;
using std::fabs; using std::floor; using std::ceil; using std::trunc;
using std::fmax; using std::fmin; using std::pow; using std::atan2; using std::hypot;
using std::copysign;

#define GG_INF INFINITY

inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float gg_h2f(unsigned short h) {
    unsigned sign = (unsigned)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
    if (e == 0x1f) {
        x = sign | 0x7f800000u | (m << 13);
    } else if (e == 0) {
        if (m == 0) {
            x = sign;
        } else {  // subnormal: normalise
            int sh = 0;
            while (!(m & 0x400)) { m <<= 1; ++sh; }
            x = sign | ((unsigned)(113 - sh) << 23) | ((m & 0x3ff) << 13);
        }
    } else {
        x = sign | ((e + 112) << 23) | (m << 13);
    }
    return __uint_as_float(x);
}

inline unsigned short gg_f2h(float f) {  // round to nearest even, as cvt.rn.f16.f32
    unsigned x; std::memcpy(&x, &f, 4);
    unsigned sign = (x >> 16) & 0x8000, ex = (x >> 23) & 0xff, mant = x & 0x7fffff;
    if (ex == 0xff) return (unsigned short)(sign | 0x7c00 | (mant ? 0x200 : 0));
    int e = (int)ex - 112;
    if (e >= 0x1f) return (unsigned short)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (unsigned short)sign;
        mant |= 0x800000;
        int shift = 14 - e;
        unsigned m = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (m & 1))) ++m;
        return (unsigned short)(sign | m);
    }
    unsigned h = sign | ((unsigned)e << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry rounds into the exponent
    return (unsigned short)h;
}

inline float gg_b2f(unsigned short b) { return __uint_as_float((unsigned)b << 16); }

inline unsigned short gg_f2b(float f) {  // round to nearest even, as cvt.rn.bf16.f32
    unsigned x; std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (unsigned short)((x >> 16) | 0x40);  // quiet NaN
    x += 0x7fff + ((x >> 16) & 1);
    return (unsigned short)(x >> 16);
}

// CUDA's atomics return the old value; a block's threads really run concurrently here
template <class T> inline T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <class T> inline T atomicExch(T* p, T v) { return std::atomic_ref<T>(*p).exchange(v); }
template <class T> inline T atomicCAS(T* p, T expected, T desired) {
    std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
    return expected;  // the old value, whether or not it was replaced
}
template <class T> inline T atomicMin(T* p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (v < old && !a.compare_exchange_weak(old, v)) {
    }
    return old;
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

static std::barrier<>* gg_block_barrier = nullptr;
inline void __syncthreads() { gg_block_barrier->arrive_and_wait(); }

template <class Kernel>
void gg_launch(unsigned grid, unsigned block, Kernel kernel) {
    gridDim.x = grid;
    blockDim.x = block;
    for (unsigned b = 0; b < grid; ++b) {
        std::barrier<> bar(block);
        gg_block_barrier = &bar;
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t)
            threads.emplace_back([&kernel, b, t] {
                blockIdx.x = b;
                threadIdx.x = t;
                kernel();
            });
        for (auto& th : threads) th.join();
    }
}
