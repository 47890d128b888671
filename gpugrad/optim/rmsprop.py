"""RMSprop, optionally centered and with momentum."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ._flags import check_capturable, next_step, step_counter
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop with PyTorch's update rule (eps added outside the square root)."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        if differentiable:
            raise NotImplementedError("gpugrad's RMSprop does not support differentiable=True")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        for group in self.param_groups:
            lr = float(group["lr"])
            alpha = group["alpha"]
            eps = group["eps"]
            momentum = group["momentum"]
            centered = group["centered"]
            for p, d, gd, st in self._coupled_grads(group):
                if group["capturable"]:
                    check_capturable(p, group["foreach"], xla=(True, True))
                xp = p._device.backend.xp
                if len(st) == 0:
                    st["step"] = step_counter(p, group["capturable"])
                    st["square_avg"] = Tensor._make(xp.zeros_like(d), p._device)
                    if momentum > 0:
                        st["momentum_buffer"] = Tensor._make(xp.zeros_like(d), p._device)
                    if centered:
                        st["grad_avg"] = Tensor._make(xp.zeros_like(d), p._device)
                next_step(st)
                sq = st["square_avg"]._data
                sq *= alpha
                sq += (gd * gd) * (1 - alpha)
                if centered:
                    ga = st["grad_avg"]._data
                    ga += (gd - ga) * (1 - alpha)
                    avg = sq - ga * ga
                    xp.sqrt(avg, out=avg)
                else:
                    avg = xp.sqrt(sq)
                avg += eps
                if momentum > 0:
                    buf = st["momentum_buffer"]._data
                    buf *= momentum
                    buf += gd / avg
                    d -= lr * buf
                else:
                    xp.divide(gd, avg, out=avg)
                    avg *= lr
                    d -= avg
                p._vc[0] += 1
        return loss
