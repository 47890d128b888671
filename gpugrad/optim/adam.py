"""Adam, with AMSGrad, maximize, and the decoupled weight decay AdamW (adamw.py) turns on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ._flags import check_capturable, check_flags, check_fused_param, next_step, step_counter
from ._flat import flat_group_for
from .optimizer import Optimizer


def _use_flat(group: dict, params: list[Tensor]) -> bool:
    """Whether to update the group on flat buffers instead of through ``adam_step_``.

    Only where no engine compiles the name for the device (its reference makes a dozen array
    calls per parameter): there foreach=None picks flat updates on GPUs, and on the CPU for
    groups of small tensors (where per-call overhead dominates); True forces them. An engine's
    kernel takes the whole list in one pass, so it always serves; fused=True and capturable=True
    always use it.
    """
    foreach = group["foreach"]
    if foreach is False or group["fused"] or group["capturable"] or len(params) < 2:
        return False
    if any(p._grad is None or p._grad.is_sparse for p in params):
        return False
    p = params[0]
    if hasattr(p._device.backend.adam_step_, "engine"):  # bound to a compiled kernel
        return False
    if foreach:
        return True
    if p._device.type != "cpu":
        return True
    return sum(q._data.size for q in params) <= _SMALL * len(params)


_SMALL = 1 << 13


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with PyTorch's update rule and bias correction.

    ``decoupled_weight_decay=True`` turns it into AdamW. Every step runs the ``adam_step_``
    kernel over a group's parameters (one pass per parameter on the CPU, one launch on a GPU);
    ``foreach`` and ``fused`` are checked and kept as PyTorch does and change no result.
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
        check_flags(type(self).__name__, fused, foreach, differentiable)

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        for gi, group in enumerate(self.param_groups):
            if _use_flat(group, group["params"]) and self._step_flat(gi, group):
                continue
            self._step_lists(gi, group)
        return loss

    def _init_state(self, p: Tensor, group: dict) -> dict:
        st = self.state[p]
        if len(st) == 0:
            if group["fused"]:
                check_fused_param(p)
            xp, d = p._device.backend.xp, p._data
            st["step"] = step_counter(p, group["fused"] or group["capturable"])
            st["exp_avg"] = Tensor._make(xp.zeros_like(d), p._device)
            st["exp_avg_sq"] = Tensor._make(xp.zeros_like(d), p._device)
            if group["amsgrad"]:
                st["max_exp_avg_sq"] = Tensor._make(xp.zeros_like(d), p._device)
        return st

    def _step_lists(self, gi: int, group: dict) -> None:
        """``adam_step_`` over the parameters with a gradient, one call per device, dtype and
        step count (counts differ where a parameter skipped steps)."""
        amsgrad = group["amsgrad"]
        calls: dict = {}
        stepped = []
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            if g._sparse is not None:
                raise RuntimeError(
                    "Adam does not support sparse gradients, please consider SparseAdam instead"
                )
            on_device = group["capturable"] and not group["fused"]
            if on_device:
                check_capturable(p, group["foreach"])
            st = self._init_state(p, group)
            if on_device:
                self._step_on_device(p, g, st, group)
                stepped.append(p)
                continue
            key = (id(p._device), p._data.dtype, next_step(st))  # id: a C hash (see SGD)
            lists = calls.get(key)
            if lists is None:
                lists = calls[key] = (p._device, [], [], [], [], [] if amsgrad else None)
            lists[1].append(p._data)
            lists[2].append(g._data)
            lists[3].append(st["exp_avg"]._data)
            lists[4].append(st["exp_avg_sq"]._data)
            if amsgrad:
                lists[5].append(st["max_exp_avg_sq"]._data)
            stepped.append(p)
        if len(stepped) != len(group["params"]):
            # step counts may now differ inside the group: rebuild before going flat
            self._flat.pop(gi, None)
        lr = float(group["lr"])
        beta1, beta2 = group["betas"]
        for (_, _, step), (dev, ps, gs, ms, vs, tops) in calls.items():
            dev.backend.adam_step_(
                ps, gs, ms, vs, tops, step, lr, beta1, beta2, group["eps"],
                group["weight_decay"], group["decoupled_weight_decay"], amsgrad,
                group["maximize"],
            )  # fmt: skip
        for p in stepped:
            p._vc[0] += 1

    def _step_on_device(self, p: Tensor, g: Tensor, st: dict, group: dict) -> None:
        """capturable=True: the step count stays on the GPU and so does the bias correction
        made from it (``adam_step_`` takes the 0-d count array), so a CUDA graph captures the
        whole update and each replay advances the count. One call per parameter, as
        PyTorch's capturable single-tensor path."""
        t = st["step"]
        t._data += 1  # in place on the device: inside a capture, each replay adds one
        t._vc[0] += 1
        beta1, beta2 = group["betas"]
        tops = [st["max_exp_avg_sq"]._data] if group["amsgrad"] else None
        p._device.backend.adam_step_(
            [p._data], [g._data], [st["exp_avg"]._data], [st["exp_avg_sq"]._data], tops, t._data,
            float(group["lr"]), beta1, beta2, group["eps"], group["weight_decay"],
            group["decoupled_weight_decay"], group["amsgrad"], group["maximize"],
        )  # fmt: skip

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
        for p in params:  # every count in place, one per parameter as PyTorch's
            step = next_step(self.state[p])
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
