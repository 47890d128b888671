"""Adam, with AMSGrad, maximize, and the decoupled weight decay AdamW (adamw.py) turns on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._device import cpu
from .._tensor import Tensor
from ._flat import flat_group_for
from .optimizer import Optimizer


def _step_counter() -> Tensor:
    # PyTorch keeps the step count in a float32 0-d tensor on the CPU (capturable=False).
    return Tensor._make(np.zeros((), np.float32), cpu)


def _next_step(st: dict) -> float:
    """Add one to ``st['step']`` and return the new count as a Python float.

    The count's 0-d array is replaced, never changed in place: flat updates give every
    parameter of a group the same (immutable) array.
    """
    t = st["step"]
    if not isinstance(t, Tensor):  # a count loaded as a plain number
        t = st["step"] = Tensor._make(np.asarray(float(t), np.float32), cpu)
    arr = np.asarray(float(t._data) + 1, np.float32)
    t._data = arr
    return float(arr)


def _use_flat(foreach, params) -> bool:
    """foreach=None picks flat updates on GPUs, and on the CPU for groups of small tensors
    (where per-call overhead dominates); True forces them, False never uses them."""
    if foreach is not None:
        return bool(foreach)
    p = params[0]
    if p._device.type != "cpu":
        return True
    return sum(q._data.size for q in params) <= _SMALL * len(params)


_SMALL = 1 << 13


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with PyTorch's update rule and bias correction.

    ``decoupled_weight_decay=True`` turns it into AdamW.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError(
                f"gpugrad's {type(self).__name__} does not support differentiable=True"
            )
        defaults = {
            "lr": lr,
            "betas": (float(betas[0]), float(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        for gi, group in enumerate(self.param_groups):
            params = group["params"]
            if (
                len(params) > 1
                and group["foreach"] is not False
                and all(p._grad is not None for p in params)
                and _use_flat(group["foreach"], params)
                and self._step_flat(gi, group)
            ):
                continue
            self._step_each(gi, group)
        return loss

    def _init_state(self, p: Tensor, group: dict) -> dict:
        st = self.state[p]
        if len(st) == 0:
            xp, d = p._device.backend.xp, p._data
            st["step"] = _step_counter()
            st["exp_avg"] = Tensor._make(xp.zeros_like(d), p._device)
            st["exp_avg_sq"] = Tensor._make(xp.zeros_like(d), p._device)
            if group["amsgrad"]:
                st["max_exp_avg_sq"] = Tensor._make(xp.zeros_like(d), p._device)
        return st

    def _step_each(self, gi: int, group: dict) -> None:
        """Parameter by parameter (PyTorch's single-tensor path); skips missing gradients."""
        lr = float(group["lr"])
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        wd = group["weight_decay"]
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        skipped = False
        for p in group["params"]:
            g = p._grad
            if g is None:
                skipped = True
                continue
            d = p._data
            xp = p._device.backend.xp
            st = self._init_state(p, group)
            step = _next_step(st)
            gd = -g._data if maximize else g._data
            if wd != 0:
                if decoupled:
                    d *= 1 - lr * wd
                else:
                    gd = gd + wd * d
            m = st["exp_avg"]._data
            v = st["exp_avg_sq"]._data
            # m.lerp_(g, 1 - beta1) and v = beta2 * v + (1 - beta2) * g * g
            m += (gd - m) * (1 - beta1)
            v *= beta2
            v += (gd * gd) * (1 - beta2)
            step_size = lr / (1 - beta1**step)
            bc2_sqrt = (1 - beta2**step) ** 0.5
            if amsgrad:
                vmax = st["max_exp_avg_sq"]._data
                xp.maximum(vmax, v, out=vmax)
                denom = xp.sqrt(vmax)
            else:
                denom = xp.sqrt(v)
            denom /= bc2_sqrt
            denom += eps
            # p.addcdiv_(m, denom, value=-step_size); reuse denom's memory for m / denom
            xp.divide(m, denom, out=denom)
            denom *= step_size
            d -= denom
            p._vc[0] += 1
        if skipped:  # step counts may now differ inside the group: rebuild before going flat
            self._flat.pop(gi, None)

    def _step_flat(self, gi: int, group: dict) -> bool:
        """The whole group at once on flat buffers; False when it cannot be flattened."""
        params = group["params"]
        amsgrad = group["amsgrad"]
        keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if amsgrad else ("exp_avg", "exp_avg_sq")
        fg = self._flat.get(gi)
        if fg is None or fg.keys != keys or not fg.matches(params, self.state):
            for p in params:
                self._init_state(p, group)
            steps = {float(self.state[p]["step"]._data) for p in params}
            if len(steps) != 1:
                return False
            fg = flat_group_for(self._flat, gi, params, self.state, keys)
            if fg is None:
                return False
        lr = float(group["lr"])
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        wd = group["weight_decay"]
        xp = fg.xp
        st0 = self.state[params[0]]
        step = float(st0["step"]._data) + 1
        counter = np.asarray(step, np.float32)
        for p in params:
            self.state[p]["step"]._data = counter
        gd = fg.gather([p._grad._data for p in params], "grad")
        tmp = fg.scratch("tmp")
        if group["maximize"]:
            xp.negative(gd, out=gd)
        flat_p = None
        if wd != 0:
            flat_p = fg.gather(fg.arrays, "param")
            if group["decoupled_weight_decay"]:
                flat_p *= 1 - lr * wd
            else:
                xp.multiply(flat_p, wd, out=tmp)
                gd += tmp
        m, v = fg.bufs["exp_avg"], fg.bufs["exp_avg_sq"]
        xp.subtract(gd, m, out=tmp)
        tmp *= 1 - beta1
        m += tmp
        v *= beta2
        xp.multiply(gd, gd, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        step_size = lr / (1 - beta1**step)
        bc2_sqrt = (1 - beta2**step) ** 0.5
        if amsgrad:
            vmax = fg.bufs["max_exp_avg_sq"]
            xp.maximum(vmax, v, out=vmax)
            xp.sqrt(vmax, out=tmp)
        else:
            xp.sqrt(v, out=tmp)
        tmp /= bc2_sqrt
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        if flat_p is None:
            fg.subtract(tmp)
        else:
            flat_p -= tmp
            fg.assign(flat_p)
        return True
