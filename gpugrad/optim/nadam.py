"""NAdam with PyTorch's update rule (torch.optim.nadam)."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ._adaptive import _Adaptive, _check, _moments


class NAdam(_Adaptive):
    """Adam with Nesterov momentum and momentum decay (Dozat, 2016)."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:  # fmt: skip
        _check(lr, eps, weight_decay, betas)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, foreach=foreach,
                        maximize=maximize, capturable=capturable,
                        differentiable=differentiable)  # fmt: skip
        super().__init__(params, defaults)

    _buffers = ("exp_avg", "exp_avg_sq")
    _capturable_what = ("params, mu_products and state_steps",
                        "params, mu_products, and state_steps")  # fmt: skip

    def _update(self, p, d, gd, st, step, group) -> None:
        if "mu_product" not in st:  # PyTorch keeps it in a float32 0-d CPU tensor
            st["mu_product"] = Tensor._make(np.ones((), np.float32), st["step"]._device)
        (b1, b2), eps, lr = group["betas"], group["eps"], float(group["lr"])
        decay = group["momentum_decay"]
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        prod = np.float32(st["mu_product"]._data) * np.float32(mu)
        st["mu_product"]._data = np.asarray(prod, np.float32)
        prod, prod_next = float(prod), float(prod) * mu_next
        m, v = st["exp_avg"]._data, st["exp_avg_sq"]._data
        _moments(m, v, gd, b1, b2)
        denom = p._device.backend.xp.sqrt(v / (1 - b2**step)) + eps
        d += gd / denom * (-lr * (1.0 - mu) / (1.0 - prod))
        d += m / denom * (-lr * mu_next / (1.0 - prod_next))
