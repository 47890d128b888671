"""Adagrad: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ._flags import check_flags, check_fused_param, next_step, step_counter
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad with PyTorch's update rule: ``clr = lr / (1 + (step - 1) * lr_decay)``."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        check_flags("Adagrad", fused, foreach, differentiable)
        self._need_device_dtype_check_for_fused = bool(fused)
        # PyTorch creates Adagrad's state eagerly, so a fresh state_dict already holds it.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        st = self.state[p]
        st["step"] = step_counter(p, group["fused"])
        xp = p._device.backend.xp
        st["sum"] = Tensor._make(
            xp.full_like(p._data, group["initial_accumulator_value"]), p._device
        )
        return st

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        for group in self.param_groups:
            lr = float(group["lr"])
            lr_decay = group["lr_decay"]
            eps = group["eps"]
            for p, d, gd, st in self._coupled_grads(group):
                if group["fused"] and self.__dict__.get("_need_device_dtype_check_for_fused"):
                    check_fused_param(p)
                    self._need_device_dtype_check_for_fused = False
                xp = p._device.backend.xp
                if len(st) == 0:
                    st = self._init_state(p, group)
                step = next_step(st)
                clr = lr / (1 + (step - 1) * lr_decay)
                s = st["sum"]._data
                s += gd * gd
                std = xp.sqrt(s)
                std += eps
                xp.divide(gd, std, out=std)
                std *= clr
                d -= std
                p._vc[0] += 1
        return loss
