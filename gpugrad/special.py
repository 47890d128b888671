"""gpugrad.special: PyTorch's ``torch.special`` names for gpugrad's special functions.

The gamma family (gammaln, digamma/psi, polygamma, multigammaln) and erfinv are ops of their
own (ops/special.py, on SciPy / cupyx.scipy.special kernels); the rest are gpugrad's existing
ops under PyTorch's special names, or short compositions of them (so all are differentiable).
"""

from __future__ import annotations

import math
import sys

from gpugrad import _creation, ops
from gpugrad import _dtype as D
from gpugrad._tensor import Tensor
from gpugrad.backend.quiet import quiet_namespace

from .ops._checks import not_implemented_for
from .ops.special import digamma, erfinv, polygamma
from .ops.special import gammainc as _gammainc

# private here: torch.special spells them gammaln and multigammaln (checkpoints name them so)
from .ops.special import lgamma as _lgamma
from .ops.special import mvlgamma as _mvlgamma

__all__ = [
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammainc",
    "gammaincc",
    "gammaln",
    "log1p",
    "log_softmax",
    "logit",
    "logsumexp",
    "multigammaln",
    "ndtr",
    "polygamma",
    "psi",
    "round",
    "sinc",
    "softmax",
    "xlog1py",
    "xlogy",
]

gammaln = _lgamma
psi = digamma
erf = ops.erf
expit = ops.sigmoid
exp2 = ops.exp2
expm1 = ops.expm1
log1p = ops.log1p
logit = ops.logit
logsumexp = ops.logsumexp
xlogy = ops.xlogy


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """torch.round, float-only here: PyTorch's special_round has no integer loop."""
    if decimals == 0 and not D.is_floating(input._data.dtype):
        raise not_implemented_for("round_vml_cpu", input._data.dtype)
    return ops.round(input, decimals=decimals)


def multigammaln(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function of dimension ``p``."""
    return _mvlgamma(input, p)


def gammainc(input: Tensor, other: Tensor) -> Tensor:
    """The regularized lower incomplete gamma function P(a, x)."""
    return _gammainc(input, other)


def gammaincc(input: Tensor, other: Tensor) -> Tensor:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    return _gammainc(input, other, upper=True)


erfc = ops.erfc


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF."""
    return (ops.erf(input * (1 / math.sqrt(2))) + 1) * 0.5


def entr(input: Tensor) -> Tensor:
    """-x log x elementwise: 0 at 0, -inf below 0 (NaN stays NaN)."""
    x = input if input.is_floating_point() else input.to(D.get_default_dtype())
    positive = x > 0
    safe = ops.where(positive, x, 1.0)  # no log of 0 or of a negative number
    out = ops.where(positive, -safe * safe.log(), 0.0)
    out = ops.where(x < 0, -math.inf, out)
    return ops.where(ops.isnan(x), x, out)


def xlog1py(input: Tensor, other) -> Tensor:
    """x * log1p(y), 0 where x is 0 (unless y is NaN)."""
    y = other if isinstance(other, Tensor) else _creation.tensor(other, dtype=input.dtype)
    out = input * ops.log1p(y)
    zero = (input == 0) & ~ops.isnan(y)
    return ops.where(zero, 0.0, out)


def sinc(input: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    x = input if input.is_floating_point() else input.to(D.get_default_dtype())
    px = x * math.pi
    safe = ops.where(x == 0, 1.0, px)
    return ops.where(x == 0, 1.0, ops.sin(safe) / safe)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return ops.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return ops.log_softmax(input, dim, dtype=dtype)


# silent on IEEE edge cases, as every face of the ops (gpugrad.backend.quiet)
quiet_namespace(sys.modules[__name__], prefix="special_")  # PyTorch's names: special_erf()
