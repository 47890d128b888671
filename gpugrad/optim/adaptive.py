"""More adaptive optimizers with PyTorch's update rules: Adamax, NAdam, RAdam, Adadelta."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._tensor import Tensor
from .adam import _next_step, _step_counter
from .optimizer import Optimizer


def _check(lr: float, eps: float, weight_decay: float, betas=None) -> None:
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if betas is not None:
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {b}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _lerp_(a, b, w: float) -> None:
    """a += w * (b - a) in place, by PyTorch's lerp formula (exact at w == 1)."""
    if w < 0.5:
        a += (b - a) * w
    else:
        a[...] = b - (b - a) * (1 - w)


def _zeros_like(p: Tensor) -> Tensor:
    return Tensor._make(p._device.backend.xp.zeros_like(p._data), p._device)


def _moments(m, v, gd, b1: float, b2: float) -> None:
    """Adam's running first and second moments, updated in place."""
    _lerp_(m, gd, 1 - b1)
    v *= b2
    v += (gd * gd) * (1 - b2)


class _Adaptive(Optimizer):
    """Shared step loop: a new parameter's state is a step count and zero buffers named
    ``_buffers``; then ``_update(p, d, gd, st, step, group)`` per parameter with a gradient."""

    _buffers: tuple = ()

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        for group in self.param_groups:
            decoupled = group.get("decoupled_weight_decay", False)
            wd = group["weight_decay"]
            if decoupled and wd:
                # the decay applies to the weights, not the gradients (AdamW's rule)
                coupled = dict(group, weight_decay=0)
                for p in group["params"]:
                    if p._grad is not None:
                        p._data *= 1 - float(group["lr"]) * wd
                pairs = self._coupled_grads(coupled)
            else:
                pairs = self._coupled_grads(group)
            for p, d, gd, st in pairs:
                if not st:
                    st["step"] = _step_counter()
                    for name in self._buffers:
                        st[name] = _zeros_like(p)
                self._update(p, d, gd, st, _next_step(st), group)
                p._vc[0] += 1
        return loss

    def _update(self, p: Tensor, d, gd, st: dict, step: float, group: dict) -> None:
        raise NotImplementedError


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
