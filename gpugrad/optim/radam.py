"""RAdam with PyTorch's update rule (torch.optim.radam)."""

from __future__ import annotations

import math

from ._adaptive import _Adaptive, _check, _moments


class RAdam(_Adaptive):
    """Rectified Adam (Liu et al., 2019): plain momentum SGD until the variance estimate is
    trustworthy (rho_t > 5), then Adam with a rectification factor."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach=None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:  # fmt: skip
        _check(lr, eps, weight_decay, betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, foreach=foreach,
                        maximize=maximize, capturable=capturable,
                        differentiable=differentiable)  # fmt: skip
        super().__init__(params, defaults)

    _buffers = ("exp_avg", "exp_avg_sq")

    def _update(self, p, d, gd, st, step, group) -> None:
        (b1, b2), eps, lr = group["betas"], group["eps"], float(group["lr"])
        m, v = st["exp_avg"]._data, st["exp_avg_sq"]._data
        _moments(m, v, gd, b1, b2)
        bc1, bc2 = 1 - b1**step, 1 - b2**step
        m_hat = m / bc1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2**step) / bc2
        if rho_t > 5.0:
            rect = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            adaptive = math.sqrt(bc2) / (p._device.backend.xp.sqrt(v) + eps)
            d -= m_hat * lr * adaptive * rect
        else:
            d -= m_hat * lr
