"""SparseAdam (torch.optim.SparseAdam): Adam for dense parameters with sparse COO gradients,
as ``nn.Embedding(sparse=True)`` gives them. Only the rows (positions) a gradient names are
updated: their moments, and the parameter there."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..ops.sparse import coalesce
from .optimizer import Optimizer


class SparseAdam(Optimizer):
    """The masked Adam of PyTorch's SparseAdam: moments and parameters change only at the
    gradient's indices (no weight decay, no AMSGrad)."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)
        sparse_params = [
            [index, d_index]
            for index, group in enumerate(self.param_groups)
            for d_index, p in enumerate(group["params"])
            if p.is_sparse
        ]
        if sparse_params:
            raise ValueError(
                f"Sparse params at indices {sparse_params}: SparseAdam requires dense parameter "
                "tensors"
            )

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a (sparse) gradient; returns the closure's
        loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps = float(group["lr"]), group["eps"]
            maximize = group.get("maximize", False)
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if not g.is_sparse:
                    raise RuntimeError(
                        "SparseAdam does not support dense gradients, please consider Adam instead"
                    )
                st = self.state[p]
                if len(st) == 0:
                    xp = p._device.backend.xp
                    st["step"] = 0  # a Python int, as PyTorch's SparseAdam keeps it
                    st["exp_avg"] = Tensor._make(xp.zeros_like(p._data), p._device)
                    st["exp_avg_sq"] = Tensor._make(xp.zeros_like(p._data), p._device)
                st["step"] += 1
                if _update(p, g, st, st["step"], lr, beta1, beta2, eps, maximize):
                    p._vc[0] += 1
        return loss


def _update(p: Tensor, grad: Tensor, st: dict, step: int, lr, beta1, beta2, eps, maximize) -> bool:
    """PyTorch's sparse_adam for one parameter, on the arrays at the gradient's (coalesced,
    so unique) indices; False when the gradient holds no values."""
    with no_grad():
        grad = coalesce(grad)
    parts = grad._sparse
    values = parts.values._data
    if values.size == 0:
        return False
    xp = p._device.backend.xp
    idx = parts.indices._data
    at = tuple(idx[d] for d in range(idx.shape[0]))
    gv = -values if maximize else values
    m, v, d = st["exp_avg"]._data, st["exp_avg_sq"]._data, p._data
    # old <- b * old + (1 - b) * new, as old += (1 - b) * (new - old), at the indices only
    old_m = m[at]
    upd_m = (gv - old_m) * (1 - beta1)
    m[at] = old_m + upd_m
    old_v = v[at]
    upd_v = (gv * gv - old_v) * (1 - beta2)
    v[at] = old_v + upd_v
    numer = upd_m + old_m
    denom = xp.sqrt(upd_v + old_v) + eps
    step_size = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
    d[at] = d[at] + -step_size * (numer / denom)
    st["exp_avg"]._vc[0] += 1
    st["exp_avg_sq"]._vc[0] += 1
    return True
