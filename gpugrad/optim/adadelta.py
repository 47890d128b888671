"""Adadelta with PyTorch's update rule (torch.optim.adadelta)."""

from __future__ import annotations

from ._adaptive import _Adaptive, _check


class Adadelta(_Adaptive):
    """Adadelta (Zeiler, 2012): step sizes from running averages of squared gradients and
    squared updates; ``lr`` scales the update."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach=None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:  # fmt: skip
        _check(lr, eps, weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        capturable=capturable, maximize=maximize,
                        differentiable=differentiable)  # fmt: skip
        super().__init__(params, defaults)

    _capturable_xla = (False, False)  # PyTorch's Adadelta lists no 'xla' on either path

    _buffers = ("square_avg", "acc_delta")

    def _update(self, p, d, gd, st, step, group) -> None:
        rho, eps = group["rho"], group["eps"]
        sq, acc = st["square_avg"]._data, st["acc_delta"]._data
        xp = p._device.backend.xp
        sq *= rho
        sq += (gd * gd) * (1 - rho)
        delta = xp.sqrt(acc + eps) / xp.sqrt(sq + eps) * gd
        acc *= rho
        acc += (delta * delta) * (1 - rho)
        d -= float(group["lr"]) * delta
