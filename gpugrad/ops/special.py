"""Gamma-family special functions (lgamma, digamma, polygamma, mvlgamma), erfinv, and the samplers
built on them: Gamma draws with their reparameterization gradient, Poisson and binomial.

The array work is the backend's (``lgamma``, ``digamma``, ``polygamma``, ``standard_gamma``,
``poisson``, ``binomial`` kernels); the gradient of a Gamma draw is written here once over the
backend's array module, so it runs on either device.
"""

from __future__ import annotations

import math

from .. import _dtype as D
from .._generator import rng_for
from .._tensor import Tensor
from .._type_info import finfo
from ..autograd.graph import Node
from ._checks import require_floating
from ._util import broadcast_pair, check_device, float_data, needs_grad, record


def _require_tensor(x, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")


class LgammaBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * digamma(x),)


def lgamma(input: Tensor) -> Tensor:
    """log|gamma(x)| elementwise (``torch.lgamma``)."""
    _require_tensor(input, "lgamma")
    backend = input._device.backend
    x = float_data(input)
    data = backend.lgamma(x)
    # log|gamma(-inf)| is +inf (PyTorch's; SciPy's gammaln says -inf)
    data = backend.xp.where(x == -math.inf, data.dtype.type(math.inf), data)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        record(LgammaBackward0(), (input,), out).save(input)
    return out


class DigammaBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * polygamma(1, x),)


def digamma(input: Tensor) -> Tensor:
    """The logarithmic derivative of gamma, elementwise (``torch.digamma``)."""
    _require_tensor(input, "digamma")
    backend = input._device.backend
    x = float_data(input)
    data = backend.digamma(x)
    # PyTorch: digamma(-0.0) = +inf (the limit from the left), digamma(+0.0) = -inf
    data = backend.xp.where((x == 0) & backend.xp.signbit(x), x.dtype.type(math.inf), data)
    out = Tensor._make(data, input._device)
    if needs_grad(input):
        record(DigammaBackward0(), (input,), out).save(input)
    return out


class PolygammaBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * polygamma(self.n + 1, x),)


def polygamma(n: int, input: Tensor) -> Tensor:
    """The n-th derivative of digamma, elementwise (``torch.polygamma``)."""
    _require_tensor(input, "polygamma")
    if int(n) != n or n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    n = int(n)
    if n == 0:
        return digamma(input)
    out = Tensor._make(input._device.backend.polygamma(n, float_data(input)), input._device)
    if needs_grad(input):
        node = record(PolygammaBackward0(), (input,), out)
        node.save(input)
        node.n = n
    return out


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma of dimension ``p`` (composite of lgamma, so differentiable)."""
    _require_tensor(input, "mvlgamma")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    if input._data.dtype.kind == "b":
        raise RuntimeError("The input tensor may not be a boolean tensor.")
    x = input if input.is_floating_point() else input.to(D.get_default_dtype())
    # (PyTorch 2.13 no longer checks the domain: log|Gamma| of each term, inf at its poles)
    shifts = Tensor._make(input._device.backend.xp.arange(p, dtype=x._data.dtype) * -0.5, x._device)
    return lgamma(x.unsqueeze(-1) + shifts).sum(-1) + p * (p - 1) / 4 * math.log(math.pi)


class ErfinvBackward0(Node):
    def backward(self, grad):
        (y,) = self.saved_tensors  # the output: d erfinv(x)/dx = sqrt(pi)/2 exp(y^2)
        return (grad * (y * y).exp() * (math.sqrt(math.pi) / 2),)


def erfinv(input: Tensor) -> Tensor:
    """The inverse error function on [-1, 1] (``torch.erfinv``)."""
    _require_tensor(input, "erfinv")
    out = Tensor._make(input._device.backend.erfinv(float_data(input)), input._device)
    if needs_grad(input):
        record(ErfinvBackward0(), (input,), out).save(out)
    return out


class IgammaBackward0(Node):
    def backward(self, grad):
        a, x = self.saved_tensors
        if self.needs_a:
            name = "igammac" if self.upper else "igamma"
            raise RuntimeError(f"derivative for aten::{name} is not implemented")
        # d/dx P(a, x) is the Gamma(a, 1) density
        density = ((a - 1) * x.log() - x - lgamma(a)).exp()
        return (None, grad * (-density if self.upper else density))


def gammainc(input: Tensor, other: Tensor, upper: bool = False) -> Tensor:
    """The regularized lower incomplete gamma P(input, other) (``torch.special.gammainc``);
    the upper one, 1 - P, when ``upper`` (``gammaincc``). Differentiable in ``other``."""
    _require_tensor(input, "gammainc")
    _require_tensor(other, "gammainc")
    check_device(input, other, "gammainc")
    backend = input._device.backend
    a, x = broadcast_pair(backend.xp, float_data(input), float_data(other))
    out = Tensor._make(backend.gammainc(a, x, upper), input._device)
    if needs_grad(input, other):
        node = record(IgammaBackward0(), (input, other), out)
        node.save(input, other)
        node.upper, node.needs_a = upper, input.requires_grad
    return out


# ---- Gamma draws and their reparameterization gradient ------------------------------------


class StandardGammaBackward0(Node):
    def backward(self, grad):
        alpha, x = self.saved_tensors
        return (grad * _standard_gamma_grad(alpha, x),)


def _standard_gamma(concentration: Tensor, generator=None) -> Tensor:
    """Gamma(concentration, 1) draws, differentiable in ``concentration``
    (``torch._standard_gamma``).

    The gradient is the implicit one (Figurnov et al. 2018): the draw moves with its
    parameter so that its CDF level stays fixed, dx/dalpha = -(dP/dalpha) / p(x).
    """
    _require_tensor(concentration, "_standard_gamma")
    dev = concentration._device
    alpha = float_data(concentration)
    data = dev.backend.standard_gamma(alpha, rng_for(generator, dev))
    # a draw that underflows to 0 would give log_prob -inf and a NaN gradient; PyTorch
    # clamps it to the smallest normal number too
    tiny = finfo(D.from_numpy_dtype(data.dtype)).tiny
    data = dev.backend.xp.maximum(data, data.dtype.type(tiny))
    out = Tensor._make(data, dev)
    if needs_grad(concentration):
        node = record(StandardGammaBackward0(), (concentration,), out)
        node.save(concentration, out.detach())
    return out


# Above this concentration a corrected uniform asymptotic expansion is accurate to 1e-4
# (relative, falling as 1/alpha**2), and cheaper than the ~18 sqrt(alpha) terms of the series.
_SERIES_MAX_ALPHA = 40.0


def _standard_gamma_grad(concentration: Tensor, sample: Tensor) -> Tensor:
    """dx/dalpha of a Gamma(alpha, 1) draw x at a fixed CDF level (``torch._standard_gamma_grad``).

    Computed in float64 and returned in the sample's dtype; it carries no gradient itself.
    """
    check_device(concentration, sample, "_standard_gamma_grad")
    backend = sample._device.backend
    xp = backend.xp
    a, x = xp.broadcast_arrays(
        concentration._data.astype("float64"), sample._data.astype("float64")
    )
    a, x = a.reshape(-1), x.reshape(-1)
    out = xp.zeros(a.shape, "float64")  # a draw at 0 does not move
    series = (a <= _SERIES_MAX_ALPHA) & (x > 0)
    big = (a > _SERIES_MAX_ALPHA) & (x > 0)
    if bool(series.any()):
        out[series] = backend.quiet(_gamma_grad_series, backend, a[series], x[series])
    if bool(big.any()):
        out[big] = backend.quiet(_gamma_grad_asymptotic, backend, a[big], x[big])
    bad = xp.isnan(a) | xp.isnan(x)
    out = xp.where(bad, xp.nan, out)
    shape = xp.broadcast_shapes(concentration._data.shape, sample._data.shape)
    return Tensor._make(out.reshape(shape).astype(sample._data.dtype), sample._device)


# the series stops for an element once past its largest term and a term is below e**-40
# of it (4e-18: below float64's resolution); a hard cap guards against a runaway loop
_LOG_TERM_FLOOR = -40.0
_MAX_TERMS = 200_000


def _gamma_grad_series(backend, a, x):
    """-(dP/da)/p from P(a, x) = sum_k e^-x x^(a+k) / gamma(a+k+1), a series that converges
    for every x > 0. Divided by the pdf e^-x x^(a-1) / gamma(a), term k is
    r_k = x^(k+1) gamma(a) / gamma(a+k+1), and its a-derivative r_k (log x - digamma(a+k+1)).

    Terms are summed scaled by the largest one (near k = x - a) so none overflows. Each
    element stops when its terms fall below float64's resolution: every few terms the ones
    still running are compacted, so the work is the sum of what each element needs, not
    the most any needs times their number."""
    xp = backend.xp
    out = xp.empty(a.shape, "float64")
    logx = xp.log(x)
    peak = xp.maximum(xp.ceil(x - a - 1), 0)
    log_scale = (peak + 1) * logx + backend.lgamma(a) - backend.lgamma(a + peak + 1)
    log_r = logx - xp.log(a) - log_scale
    psi = backend.digamma(a + 1)
    total = xp.exp(log_r) * (logx - psi)
    active = xp.arange(a.size)
    k = 1
    while active.size:
        for _ in range(8):
            ak = a + k
            log_r = log_r + logx - xp.log(ak)
            psi = psi + 1 / ak
            total = total + xp.exp(log_r) * (logx - psi)
            k += 1
        done = ((k > peak + 1) & (log_r < _LOG_TERM_FLOOR)) | (k > _MAX_TERMS)
        if bool(done.any()):
            out[active[done]] = -xp.exp(log_scale[done]) * total[done]
            keep = ~done
            active, a, logx, peak, log_scale = (
                active[keep],
                a[keep],
                logx[keep],
                peak[keep],
                log_scale[keep],
            )
            log_r, psi, total = log_r[keep], psi[keep], total[keep]
    return out


def _gamma_grad_asymptotic(backend, a, x):
    """Large a: with lam = x/a and eta = sign(lam-1) sqrt(2 (lam - 1 - log lam)), the Gamma
    CDF is Phi(eta sqrt(a)) to leading order; holding eta sqrt(a) fixed gives
    dx/da = lam - eta^2 lam / (2 (lam - 1)) (the ratio's limit at lam = 1 taken by series).
    That leading term is low by the factor 1 + 1/(6a) + O(1/a^2) (measured against the
    exact implicit derivative; tests/test_special.py checks it to 1e-4 from a = 40)."""
    xp = backend.xp
    lam = x / a
    d = lam - 1
    eta2 = 2 * (d - xp.log(lam))
    ratio = xp.where(xp.abs(d) > 1e-4, eta2 / d, d - 2 * d * d / 3)
    return (lam - ratio * lam / 2) * (1 + 1 / (6 * a))


# ---- counts ------------------------------------------------------------------------------


def poisson(input: Tensor, generator=None) -> Tensor:
    """Poisson(rate) counts, one per element of ``input``, in its dtype (``torch.poisson``)."""
    _require_tensor(input, "poisson")
    dev = input._device
    require_floating(input._data, "poisson_cpu")
    if input._data.size and not bool((input._data >= 0).all()):  # NaN fails it too
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return Tensor._make(dev.backend.poisson(input._data, rng_for(generator, dev)), dev)


def binomial(count: Tensor, prob: Tensor, generator=None) -> Tensor:
    """Binomial(count, prob) counts in ``prob``'s dtype (``torch.binomial``)."""
    _require_tensor(count, "binomial")
    _require_tensor(prob, "binomial")
    check_device(count, prob, "binomial")
    for t, what in ((count, "count"), (prob, "prob")):
        if not D.is_floating(t._data.dtype):
            raise ValueError(
                f"binomial only supports floating-point dtypes for {what}, got: "
                f"{D.scalar_type_name(t._data.dtype)}"
            )
    if count._data.dtype != prob._data.dtype:
        raise RuntimeError(
            f"Found dtype {D.scalar_type_name(prob._data.dtype)} but expected "
            f"{D.scalar_type_name(count._data.dtype)}"
        )
    dev = count._device
    xp = dev.backend.xp
    c, p = broadcast_pair(xp, count._data, prob._data)
    # PyTorch's sampler gives 0 draws for a negative count, a probability past [0, 1] counts
    # as its nearest end, and a NaN probability gives NaN (NumPy's sampler refuses all three)
    nan = xp.isnan(p)
    q = xp.where(nan, 0, xp.clip(p, 0, 1)).astype(p.dtype, copy=False)
    out = dev.backend.binomial(xp.maximum(c, 0), q, rng_for(generator, dev))
    return Tensor._make(xp.where(nan, p, out), dev)
