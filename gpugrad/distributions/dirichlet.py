"""The Dirichlet distribution (``torch.distributions.Dirichlet``)."""

from __future__ import annotations

from gpugrad import ops
from gpugrad._tensor import Tensor
from gpugrad.nn.functional import one_hot
from gpugrad.ops.special import _standard_gamma
from gpugrad.special import digamma, gammaln, xlogy

from . import constraints
from .exp_family import ExponentialFamily

__all__ = ["Dirichlet"]


class Dirichlet(ExponentialFamily):
    """Dirichlet over the simplex with ``concentration`` (the last dim is the event).

    ``rsample`` normalizes independent Gamma(concentration_i) draws, each differentiable by
    its implicit reparameterization gradient, so the sample is differentiable too."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Tensor, validate_args: bool | None = None) -> None:
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        batch_shape, event_shape = concentration.shape[:-1], concentration.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(
            Dirichlet, batch_shape, _instance, ("concentration",), self._event_shape
        )

    def rsample(self, sample_shape=()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        draws = _standard_gamma(self.concentration.expand(shape))
        return draws / draws.sum(-1, keepdim=True)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return xlogy(c - 1.0, value).sum(-1) + gammaln(c.sum(-1)) - gammaln(c).sum(-1)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, keepdim=True)
        # every concentration below 1: the density peaks at the vertex of the largest
        corner = one_hot(cm1.argmax(-1), cm1.shape[-1]).to(mode.dtype)
        below = (self.concentration < 1).all(-1, keepdim=True)
        return ops.where(below, corner, mode)

    @property
    def variance(self) -> Tensor:
        c = self.concentration
        c0 = c.sum(-1, keepdim=True)
        return c * (c0 - c) / (c0.pow(2) * (c0 + 1))

    def entropy(self) -> Tensor:
        c = self.concentration
        k = c.size(-1)
        a0 = c.sum(-1)
        return (
            gammaln(c).sum(-1)
            - gammaln(a0)
            - (k - a0) * digamma(a0)
            - ((c - 1.0) * digamma(c)).sum(-1)
        )

    @property
    def _natural_params(self) -> tuple:
        return (self.concentration,)

    def _log_normalizer(self, x):
        return gammaln(x).sum(-1) - gammaln(x.sum(-1))
