"""gpugrad.special: PyTorch's ``torch.special`` names for gpugrad's special functions.

The gamma family (gammaln, digamma/psi, polygamma, multigammaln) and erfinv are ops of their
own (ops/special.py, on SciPy / cupyx.scipy.special kernels); the rest are gpugrad's existing
ops under PyTorch's special names, or short compositions of them (so all are differentiable).
"""

from __future__ import annotations

import math

import gpugrad
from gpugrad import Tensor

from .ops.special import digamma, erfinv, lgamma, mvlgamma, polygamma
from .ops.special import gammainc as _gammainc

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

gammaln = lgamma
psi = digamma
erf = gpugrad.erf
expit = gpugrad.sigmoid
exp2 = gpugrad.exp2
expm1 = gpugrad.expm1
log1p = gpugrad.log1p
logit = gpugrad.logit
logsumexp = gpugrad.logsumexp
round = gpugrad.round  # noqa: A001 - PyTorch's name
xlogy = gpugrad.xlogy


def multigammaln(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function of dimension ``p``."""
    return mvlgamma(input, p)


def gammainc(input: Tensor, other: Tensor) -> Tensor:
    """The regularized lower incomplete gamma function P(a, x)."""
    return _gammainc(input, other)


def gammaincc(input: Tensor, other: Tensor) -> Tensor:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    return _gammainc(input, other, upper=True)


def erfc(input: Tensor) -> Tensor:
    """The complementary error function, 1 - erf(x)."""
    return 1 - gpugrad.erf(input)


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF."""
    return (gpugrad.erf(input * (1 / math.sqrt(2))) + 1) * 0.5


def entr(input: Tensor) -> Tensor:
    """-x log x elementwise: 0 at 0, -inf below 0 (NaN stays NaN)."""
    x = input if input.is_floating_point() else input.to(gpugrad.get_default_dtype())
    out = gpugrad.where(x > 0, -gpugrad.xlogy(x, x), 0.0)
    return gpugrad.where(x < 0, -math.inf, out)


def xlog1py(input: Tensor, other) -> Tensor:
    """x * log1p(y), 0 where x is 0 (unless y is NaN)."""
    y = other if isinstance(other, Tensor) else gpugrad.tensor(other, dtype=input.dtype)
    out = input * gpugrad.log1p(y)
    zero = (input == 0) & ~gpugrad.isnan(y)
    return gpugrad.where(zero, 0.0, out)


def sinc(input: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    x = input if input.is_floating_point() else input.to(gpugrad.get_default_dtype())
    px = x * math.pi
    safe = gpugrad.where(x == 0, 1.0, px)
    return gpugrad.where(x == 0, 1.0, gpugrad.sin(safe) / safe)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return gpugrad.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return gpugrad.log_softmax(input, dim, dtype=dtype)
