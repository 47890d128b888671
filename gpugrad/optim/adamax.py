"""Adamax with PyTorch's update rule (torch.optim.adamax)."""

from __future__ import annotations

from ._adaptive import _Adaptive, _check, _lerp_


class Adamax(_Adaptive):
    """Adam with the infinity norm: exp_inf = max(beta2 * exp_inf, |g| + eps)."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:  # fmt: skip
        _check(lr, eps, weight_decay, betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)  # fmt: skip
        super().__init__(params, defaults)

    _buffers = ("exp_avg", "exp_inf")

    def _update(self, p, d, gd, st, step, group) -> None:
        (b1, b2), eps = group["betas"], group["eps"]
        m, u = st["exp_avg"]._data, st["exp_inf"]._data
        _lerp_(m, gd, 1 - b1)
        xp = p._device.backend.xp
        xp.maximum(u * b2, xp.abs(gd) + eps, out=u)
        d -= (float(group["lr"]) / (1 - b1**step)) * (m / u)
