"""Elementwise math: the functions of one array, the arithmetic of two, and the backward
formulas of the one-array functions.

Every name takes arrays (any strides; two operands broadcast together) or, for a two-operand
name, one array and a Python number, and returns a new array of the operands' dtype: the op
layer has promoted the operands to one dtype already. The references are the array module's
own functions, so on the CPU ``backend.exp`` is ``numpy.exp`` itself (the NumPy backend binds
the ufuncs without a Python frame). They raise no warnings of their own only under
``backend.quiet``, which the op layer wraps around the names that can leave their domain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from .engine import kernel

# catalogue name -> the array module's function (PyTorch's names, NumPy's functions)
UNARY: dict[str, str] = {
    "neg": "negative",
    "abs": "abs",
    "exp": "exp",
    "expm1": "expm1",
    "exp2": "exp2",
    "log": "log",
    "log1p": "log1p",
    "log2": "log2",
    "log10": "log10",
    "sqrt": "sqrt",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "sinh": "sinh",
    "cosh": "cosh",
    "asinh": "arcsinh",
    "acosh": "arccosh",
    "atanh": "arctanh",
    "floor": "floor",
    "ceil": "ceil",
    "trunc": "trunc",
}
BINARY: dict[str, str] = {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "div": "true_divide",
    "maximum": "maximum",
    "minimum": "minimum",
    "fmax": "fmax",
    "fmin": "fmin",
    "pow": "power",
    "atan2": "arctan2",
    "hypot": "hypot",
    "copysign": "copysign",
    "logaddexp": "logaddexp",
    "logaddexp2": "logaddexp2",
}


class Derivative(NamedTuple):
    """The backward of a one-array function, from what its node saves: ``"input"`` (x) or
    ``"output"`` (f(x)). ``grad(g, v, f)`` is ``g * d f / dx`` in PyTorch's own form
    (derivatives.yaml: ``g / x`` for log, not ``g * (1 / x)``, which overflows where the
    quotient does not), written against a namespace ``f`` holding ``cos``, ``sin``, ``cosh``,
    ``sinh`` and ``sqrt``: the array module for the kernels here, gpugrad's own functions
    when the op layer differentiates the backward (create_graph)."""

    saves: str
    grad: Callable


_LN2, _LN10 = math.log(2.0), math.log(10.0)
DERIVATIVES: dict[str, Derivative] = {
    "exp": Derivative("output", lambda g, r, f: g * r),
    "expm1": Derivative("output", lambda g, r, f: g * (r + 1)),
    "exp2": Derivative("output", lambda g, r, f: g * r * _LN2),
    "log": Derivative("input", lambda g, x, f: g / x),
    "log1p": Derivative("input", lambda g, x, f: g / (x + 1)),
    "log2": Derivative("input", lambda g, x, f: g / (x * _LN2)),
    "log10": Derivative("input", lambda g, x, f: g / (x * _LN10)),
    "sqrt": Derivative("output", lambda g, r, f: g / (r * 2)),
    "rsqrt": Derivative("output", lambda g, r, f: g * -0.5 * (r * r * r)),
    "reciprocal": Derivative("output", lambda g, r, f: -g * (r * r)),
    "sin": Derivative("input", lambda g, x, f: g * f.cos(x)),
    "cos": Derivative("input", lambda g, x, f: g * -f.sin(x)),
    "tan": Derivative("output", lambda g, r, f: g * (r * r + 1)),
    "asin": Derivative("input", lambda g, x, f: g * (1 / f.sqrt(1 - x * x))),
    "acos": Derivative("input", lambda g, x, f: g * (-1 / f.sqrt(1 - x * x))),
    "atan": Derivative("input", lambda g, x, f: g / (x * x + 1)),
    "sinh": Derivative("input", lambda g, x, f: g * f.cosh(x)),
    "cosh": Derivative("input", lambda g, x, f: g * f.sinh(x)),
    "asinh": Derivative("input", lambda g, x, f: g * (1 / f.sqrt(x * x + 1))),
    "acosh": Derivative("input", lambda g, x, f: g * (1 / f.sqrt(x * x - 1))),
    "atanh": Derivative("input", lambda g, x, f: g / (1 - x * x)),
}


def backward_name(fn: str) -> str:
    """The catalogue name of ``fn``'s backward formula: ``grad * d fn / d x``."""
    return f"{fn}_backward"


# the names whose references are several array operations (the others are one ufunc each)
COMPOSITE: tuple[str, ...] = ("rsqrt", "reciprocal", *map(backward_name, DERIVATIVES))


class ElementwiseKernels:
    """UNARY's names, ``rsqrt`` and ``reciprocal`` (one array), BINARY's (two operands), and
    ``<fn>_backward(grad, saved)`` = ``grad * d fn / dx`` for each function in DERIVATIVES
    (``saved`` the input or the output, as the Derivative says). The tables' methods are
    made below."""

    @kernel
    def rsqrt(self, x):
        """``1 / sqrt(x)``."""
        return 1 / self.xp.sqrt(x)

    @kernel
    def reciprocal(self, x):
        """``1 / x`` (a Python 1 keeps the array's dtype)."""
        return 1 / x


def _unary(fn: str):
    def reference(self, x):
        return getattr(self.xp, fn)(x)

    return reference


def _binary(fn: str):
    def reference(self, a, b):
        return getattr(self.xp, fn)(a, b)

    return reference


def _backward(formula: Callable):
    def reference(self, grad, saved):
        return formula(grad, saved, self.xp)

    return reference


for _name, _fn in UNARY.items():
    setattr(ElementwiseKernels, _name, kernel(_unary(_fn)))
for _name, _fn in BINARY.items():
    setattr(ElementwiseKernels, _name, kernel(_binary(_fn)))
for _name, _d in DERIVATIVES.items():
    setattr(ElementwiseKernels, backward_name(_name), kernel(_backward(_d.grad)))
for _name in (*UNARY, *BINARY, *map(backward_name, DERIVATIVES)):
    getattr(ElementwiseKernels, _name).__name__ = _name
    getattr(ElementwiseKernels, _name).__qualname__ = f"ElementwiseKernels.{_name}"
del _name, _fn, _d
