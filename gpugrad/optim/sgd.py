"""SGD with optional momentum, dampening, Nesterov momentum, weight decay and maximize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's update rule.

    ``g = grad + weight_decay * p``; ``buf = momentum * buf + (1 - dampening) * g`` (``g`` on
    the first step); ``g = g + momentum * buf`` if nesterov else ``buf``; ``p -= lr * g``.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if differentiable:
            raise NotImplementedError("gpugrad's SGD does not support differentiable=True")
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        state = self.state
        for group in self.param_groups:
            lr = float(group["lr"])
            momentum = group["momentum"]
            wd = group["weight_decay"]
            maximize = group["maximize"]
            if momentum == 0 and wd == 0 and not maximize:  # plain SGD: p -= lr * grad
                for p in group["params"]:
                    g = p._grad
                    if g is not None:
                        p._data -= lr * g._data
                        p._vc[0] += 1
                continue
            dampening = group["dampening"]
            nesterov = group["nesterov"]
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                d = p._data
                gd = -g._data if maximize else g._data
                if wd != 0:
                    gd = gd + wd * d
                if momentum != 0:
                    st = state[p]
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        # The first step's buffer is the gradient itself (copied).
                        st["momentum_buffer"] = Tensor._make(gd.copy(), p._device)
                        bd = st["momentum_buffer"]._data
                    else:
                        bd = buf._data
                        bd *= momentum
                        if dampening != 0:
                            bd += (1 - dampening) * gd
                        else:
                            bd += gd
                        buf._vc[0] += 1
                    gd = gd + momentum * bd if nesterov else bd
                d -= lr * gd
                p._vc[0] += 1
        return loss
