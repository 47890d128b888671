"""The pointwise catalogue names as CUDA C expressions, one table for every dtype and layout.

Each entry: the kernel's array inputs, its scalar parameters, and the expression of one output
element in the compute type ``F`` (float for float16/bfloat16/float32, double for float64).
Inputs are read into variables of their names; parameters arrive as ``F`` kernel arguments.
The same text compiles with NVRTC for the GPU and as C++ on the host (tests/cuda_host/), so
one source is checked both ways.
"""

from __future__ import annotations

from typing import NamedTuple


class PointwiseOp(NamedTuple):
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    expr: str


# erf / tanh / exp / log1p are the CUDA math library's (C++ overloads on F); the host build
# maps them to <cmath>'s.
OPS: dict[str, PointwiseOp] = {
    "relu": PointwiseOp(("x",), (), "(x > F(0) || x != x) ? x : F(0)"),
    "threshold_backward": PointwiseOp(("grad", "x"), (), "x <= F(0) ? F(0) : grad"),
    "sigmoid": PointwiseOp(("x",), (), "F(1) / (F(1) + exp(-x))"),
    "sigmoid_backward": PointwiseOp(("grad", "y"), (), "grad * y * (F(1) - y)"),
    "tanh": PointwiseOp(("x",), (), "tanh(x)"),
    "tanh_backward": PointwiseOp(("grad", "y"), (), "grad * (F(1) - y * y)"),
    "gelu": PointwiseOp(("x",), (), "F(0.5) * x * (F(1) + erf(x * F(0.70710678118654752440)))"),
    "gelu_tanh": PointwiseOp(
        ("x",),
        (),
        "F(0.5) * x * (F(1) + tanh(F(0.79788456080286535588) * (x + F(0.044715) * x * x * x)))",
    ),
    "gelu_backward": PointwiseOp(
        ("grad", "x"),
        (),
        "grad * (F(0.5) * (F(1) + erf(x * F(0.70710678118654752440)))"
        " + x * F(0.39894228040143267794) * exp(F(-0.5) * x * x))",
    ),
    "gelu_tanh_backward": PointwiseOp(
        ("grad", "x"),
        (),
        "grad * gelu_tanh_grad(x)",
    ),
    "silu": PointwiseOp(("x",), (), "x / (F(1) + exp(-x))"),
    "silu_backward": PointwiseOp(
        ("grad", "x"), (), "grad * sigmoid_of(x) * (F(1) + x * (F(1) - sigmoid_of(x)))"
    ),
    "softplus": PointwiseOp(
        ("x",),
        ("beta", "threshold"),
        "x * beta > threshold ? x : log1p(exp(x * beta)) / beta",
    ),
    "softplus_backward": PointwiseOp(
        ("grad", "x"),
        ("beta", "threshold"),
        "x * beta > threshold ? grad : grad * (F(1) - F(1) / (F(1) + exp(x * beta)))",
    ),
}

# Device functions the expressions above may call (written once per compute type F).
HELPERS = """
template <typename F> __device__ __forceinline__ F sigmoid_of(F x) {
    return F(1) / (F(1) + exp(-x));
}
template <typename F> __device__ __forceinline__ F gelu_tanh_grad(F x) {
    const F k = F(0.79788456080286535588), c = F(0.044715);
    F t = tanh(k * (x + c * x * x * x));
    return F(0.5) * (F(1) + t) + F(0.5) * x * (F(1) - t * t) * k * (F(1) + F(3) * c * x * x);
}
"""
