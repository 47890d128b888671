"""InstanceNorm1d/2d/3d: normalise each sample's channels over their own spatial extent."""

from __future__ import annotations

from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .batchnorm import _BatchNorm


class _InstanceNorm(_BatchNorm):
    """PyTorch's defaults differ from BatchNorm's: no affine, no running statistics."""

    _ndim = 2  # spatial dims + 2 of a batched input

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def _check_input_dim(self, input: Tensor) -> None:
        n = self._ndim
        if input.dim() not in (n, n + 1):
            raise ValueError(f"expected {n}D or {n + 1}D input (got {input.dim()}D input)")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        batched = input.dim() == self._ndim + 1
        x = input if batched else input.unsqueeze(0)
        if self.training or not self.track_running_stats:
            y = F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
            if self.training and self.track_running_stats:
                self._track(x.detach())
        else:  # evaluation with running statistics: per channel, as batch norm's
            y = F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                self.eps,
            )  # fmt: skip
        return y if batched else y.squeeze(0)

    def _track(self, x: Tensor) -> None:
        """Running mean and unbiased variance: the per-instance statistics averaged over the
        batch, mixed in with ``momentum``."""
        dims = tuple(range(2, x.dim()))
        n = x[0, 0].numel()
        mean = x.mean(dims)
        var = x.var(dims, correction=1 if n > 1 else 0)
        m = self.momentum if self.momentum is not None else 0.1
        with no_grad():
            self.running_mean.mul_(1 - m).add_(mean.mean(0) * m)
            self.running_var.mul_(1 - m).add_(var.mean(0) * m)
            # num_batches_tracked stays 0, as in PyTorch (instance norm never counts)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) input."""

    _ndim = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) input."""

    _ndim = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) input."""

    _ndim = 4
