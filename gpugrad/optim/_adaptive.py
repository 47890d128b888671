"""What Adamax, NAdam, RAdam and Adadelta share: argument checks, the moment updates and one
step loop over parameters with gradients (each optimizer has its own file, as in PyTorch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ._flags import check_capturable, check_flags, next_step, step_counter
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
    # PyTorch's capturable assertion per path (single-tensor, foreach): see check_capturable
    _capturable_xla: tuple[bool, bool] = (True, False)
    _capturable_what: tuple[str, str] = ("params and state_steps",) * 2

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        check_flags(type(self).__name__, None, defaults["foreach"], defaults["differentiable"])

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        for group in self.param_groups:
            if group["capturable"]:
                for p in group["params"]:
                    if p._grad is not None:
                        check_capturable(p, group["foreach"], self._capturable_xla,
                                         self._capturable_what)  # fmt: skip
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
                    st["step"] = step_counter(p, group["capturable"])
                    for name in self._buffers:
                        st[name] = _zeros_like(p)
                self._update(p, d, gd, st, next_step(st), group)
                p._vc[0] += 1
        return loss

    def _update(self, p: Tensor, d, gd, st: dict, step: float, group: dict) -> None:
        raise NotImplementedError
