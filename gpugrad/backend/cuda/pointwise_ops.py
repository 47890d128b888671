"""The pointwise and elementwise catalogue names as CUDA C expressions, one table for every
dtype and layout.

Each entry: the kernel's array inputs, its scalar parameters, and the expression of one output
element in the compute type ``F`` (float for float16/bfloat16/float32, double for float64).
Inputs are read into variables of their names; parameters arrive as ``F`` kernel arguments.
Every two-operand name also has a scalar-operand form per side (``scalar_op``): the same
expression with that operand a kernel argument, so ``x * 0.5`` needs no device scalar.
The same text compiles with NVRTC for the GPU and as C++ on the host (tests/cuda_host.py), so
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


# ---- elementwise math (backend/kernels/elementwise.py): one array ----------------------
_UNARY = {
    "neg": "-x",
    "abs": "fabs(x)",
    "rsqrt": "F(1) / sqrt(x)",
    "reciprocal": "F(1) / x",
    **{f: f"{f}(x)" for f in "exp expm1 exp2 log log1p log2 log10 sqrt sin cos tan".split()},
    **{f: f"{f}(x)" for f in "asin acos atan sinh cosh asinh acosh atanh floor ceil trunc".split()},
}
OPS.update({name: PointwiseOp(("x",), (), expr) for name, expr in _UNARY.items()})

# ---- two operands ------------------------------------------------------------------------
# maximum / minimum propagate a NaN from either side (fmax / fmin ignore it), as PyTorch's;
# logaddexp(inf, inf) is inf, not inf - inf
_BINARY = {
    "add": "a + b",
    "sub": "a - b",
    "mul": "a * b",
    "div": "a / b",
    "maximum": "(a != a) ? a : ((b != b) ? b : (a > b ? a : b))",
    "minimum": "(a != a) ? a : ((b != b) ? b : (a < b ? a : b))",
    "fmax": "fmax(a, b)",
    "fmin": "fmin(a, b)",
    "pow": "pow(a, b)",
    "atan2": "atan2(a, b)",
    "hypot": "hypot(a, b)",
    "copysign": "copysign(a, b)",
    "logaddexp": "(a == b && a - a != a - a) ? a : fmax(a, b) + log1p(exp(-fabs(a - b)))",
    "logaddexp2": (
        "(a == b && a - a != a - a) ? a"
        " : fmax(a, b) + log1p(exp2(-fabs(a - b))) * F(1.44269504088896340736)"
    ),
}
BINARY_NAMES = tuple(_BINARY)
OPS.update({name: PointwiseOp(("a", "b"), (), expr) for name, expr in _BINARY.items()})


def scalar_op(name: str, side: int) -> str:
    """The table entry of two-operand ``name`` with operand ``side`` (0: a, 1: b) a scalar."""
    return f"{name}_scalar_{'ab'[side]}"


for _name, _expr in _BINARY.items():
    OPS[scalar_op(_name, 0)] = PointwiseOp(("b",), ("a",), _expr)
    OPS[scalar_op(_name, 1)] = PointwiseOp(("a",), ("b",), _expr)

# ---- the backward formulas of the one-array functions (DERIVATIVES' forms: PyTorch's, so
# log's is grad / x, which stays finite where grad * (1 / x) overflows) ---------------------
_LN2, _LN10 = "F(0.69314718055994530942)", "F(2.30258509299404568402)"
_BY_OUTPUT = {  # y: the function's output, saved by its node
    "exp": "grad * y",
    "expm1": "grad * (y + F(1))",
    "exp2": f"grad * y * {_LN2}",
    "sqrt": "grad / (y * F(2))",
    "rsqrt": "grad * F(-0.5) * (y * y * y)",
    "reciprocal": "-grad * (y * y)",
    "tan": "grad * (y * y + F(1))",
}
_BY_INPUT = {  # x: the function's input
    "log": "grad / x",
    "log1p": "grad / (x + F(1))",
    "log2": f"grad / (x * {_LN2})",
    "log10": f"grad / (x * {_LN10})",
    "sin": "grad * cos(x)",
    "cos": "grad * -sin(x)",
    "asin": "grad * (F(1) / sqrt(F(1) - x * x))",
    "acos": "grad * (F(-1) / sqrt(F(1) - x * x))",
    "atan": "grad / (x * x + F(1))",
    "sinh": "grad * cosh(x)",
    "cosh": "grad * sinh(x)",
    "asinh": "grad * (F(1) / sqrt(x * x + F(1)))",
    "acosh": "grad * (F(1) / sqrt(x * x - F(1)))",
    "atanh": "grad / (F(1) - x * x)",
}
for _saved, _table in (("y", _BY_OUTPUT), ("x", _BY_INPUT)):
    for _f, _expr in _table.items():
        OPS[f"{_f}_backward"] = PointwiseOp(("grad", _saved), (), _expr)
BACKWARD_NAMES = tuple(f"{f}_backward" for f in (*_BY_OUTPUT, *_BY_INPUT))
UNARY_NAMES = tuple(_UNARY)
del _name, _expr, _saved, _table, _f
