"""SGD with optional momentum, dampening, Nesterov momentum, weight decay and maximize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ._flags import check_flags, check_fused_param
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's update rule.

    ``g = grad + weight_decay * p``; ``buf = momentum * buf + (1 - dampening) * g`` (``g`` on
    the first step); ``g = g + momentum * buf`` if nesterov else ``buf``; ``p -= lr * g``.
    Steps run the ``sgd_step_`` kernel over a group's parameters; ``foreach`` and ``fused`` are
    checked and kept as PyTorch does and change no result.
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
        super().__init__(params, defaults)
        check_flags("SGD", fused, foreach, differentiable)
        self._need_device_dtype_check_for_fused = bool(fused)

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure) if closure is not None else None
        self._opt_called = True
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        """``sgd_step_`` over the parameters with a gradient: one call per device and dtype,
        and with momentum, one for parameters that have a buffer and one (``first``) for those
        whose buffer this step creates."""
        momentum = group["momentum"]
        calls: dict = {}
        stepped = []
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            if group["fused"] and self.__dict__.get("_need_device_dtype_check_for_fused", True):
                check_fused_param(p)
                self._need_device_dtype_check_for_fused = False
            if g._sparse is not None:  # a sparse COO gradient (Embedding(sparse=True))
                _sparse_step(p, g, group)
                stepped.append(p)
                continue
            first = False
            buf = None
            if momentum != 0:
                st = self.state[p]
                t = st.get("momentum_buffer")
                if t is None:  # created by this step: the kernel writes the gradient into it
                    first = True
                    t = st["momentum_buffer"] = Tensor._make(
                        p._device.backend.xp.empty_like(p._data), p._device
                    )
                else:
                    t._vc[0] += 1
                buf = t._data
            # devices are singletons: their id hashes in C (Device.__hash__ is Python)
            key = (id(p._device), p._data.dtype, first)
            lists = calls.get(key)
            if lists is None:
                lists = calls[key] = (p._device, [], [], [] if momentum != 0 else None)
            lists[1].append(p._data)
            lists[2].append(g._data)
            if buf is not None:
                lists[3].append(buf)
            stepped.append(p)
        lr = float(group["lr"])
        for (_, _, first), (dev, ps, gs, bufs) in calls.items():
            dev.backend.sgd_step_(
                ps, gs, bufs, lr, momentum, group["dampening"], group["nesterov"],
                group["weight_decay"], group["maximize"], first,
            )  # fmt: skip
        for p in stepped:
            p._vc[0] += 1


def _sparse_step(p: Tensor, grad: Tensor, group: dict) -> None:
    """``p.add_(grad, alpha=-lr)`` for a sparse COO gradient (repeated indices add up), as
    PyTorch's SGD takes one; its errors where it has no sparse form."""
    if group["fused"]:
        raise RuntimeError("`_fused_sgd` does not support sparse gradients")
    if group["weight_decay"] != 0:
        raise RuntimeError("add(sparse, dense) is not supported. Use add(dense, sparse) instead.")
    if group["momentum"] != 0:
        raise NotImplementedError("gpugrad's SGD does not support momentum with sparse gradients")
    parts = grad._sparse
    idx = parts.indices._data
    lr = float(group["lr"])
    step = parts.values._data * (lr if group["maximize"] else -lr)
    p._device.backend.scatter_add(p._data, tuple(idx[d] for d in range(idx.shape[0])), step)
