"""The categorical distribution (``torch.distributions.Categorical``)."""

from __future__ import annotations

import math

from gpugrad import _creation, ops
from gpugrad import _dtype as D
from gpugrad._tensor import Size, Tensor
from gpugrad._type_info import finfo
from gpugrad.autograd import grad_mode

from . import constraints
from .distribution import Distribution
from .utils import lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Categorical"]


class Categorical(Distribution):
    """One of K categories, from ``probs`` (normalized over the last dim) or unnormalized
    ``logits``; samples are int64 category indices."""

    arg_constraints = {
        "probs": constraints.simplex,
        "logits": constraints.independent(constraints.real, 1),
    }
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)  # normalized
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.size()[-1]
        batch_shape = self._param.size()[:-1] if self._param.dim() > 1 else Size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._expand_params(
            Categorical, batch_shape, _instance, ("probs", "logits"), (self._num_events,)
        )
        new._param = new.probs if "probs" in self.__dict__ else new.logits
        new._num_events = self._num_events
        return new

    def _new(self, *args, **kwargs) -> Tensor:
        return self._param.new_tensor(*args, **kwargs)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits)

    @property
    def param_shape(self) -> Size:
        return self._param.size()

    @property
    def mean(self) -> Tensor:
        return _creation.full(
            tuple(self._extended_shape()),
            math.nan,
            dtype=self.probs.dtype,
            device=self.probs.device,
        )

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    @property
    def variance(self) -> Tensor:
        return self.mean

    def sample(self, sample_shape=()) -> Tensor:
        sample_shape = Size(tuple(sample_shape))
        with grad_mode.no_grad():
            probs = self.probs.reshape(-1, self._num_events)
            draws = _inverse_cdf_draws(probs, sample_shape.numel())
        return draws.reshape(tuple(self._extended_shape(sample_shape)))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = ops.broadcast_tensors(value, self.logits)
        value = value[..., :1]
        return log_pmf.gather(-1, value).squeeze(-1)

    def entropy(self) -> Tensor:
        min_real = finfo(self.logits.dtype).min
        logits = self.logits.clamp(min=min_real)
        p_log_p = logits * self.probs
        return -p_log_p.sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        values = _creation.arange(self._num_events, dtype=D.int64, device=self._param.device)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((-1,) + tuple(self._batch_shape))
        return values


def _inverse_cdf_draws(probs: Tensor, n: int) -> Tensor:
    """``n`` category draws for each row of ``probs`` (B, K), as (n, B) int64 indices.

    One searchsorted over all rows at once: row i's CDF, shifted up by i, is still sorted
    when the rows are laid end to end, and so are the uniform draws shifted by their row."""
    rows, k = probs.shape
    dev = probs.device
    p = probs.double()
    cdf = p.cumsum(-1)
    cdf = cdf / cdf[:, -1:]
    row = _creation.arange(rows, dtype=D.float64, device=dev)
    flat = (cdf + row.unsqueeze(-1)).reshape(-1)
    u = _creation.rand((n, rows), dtype=D.float64, device=dev)
    pos = ops.searchsorted(flat, (u + row).reshape(-1), right=True).reshape(n, rows)
    first = _creation.arange(rows, device=dev) * k
    return (pos - first).clamp(min=0, max=k - 1)
