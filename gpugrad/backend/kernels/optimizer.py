"""Optimizer kernels: in-place multi-tensor parameter updates (SGD, Adam, AdamW).

Each name updates a list of same-dtype arrays in place (PyTorch's multi-tensor apply): the
parameters, their gradients and their state, one entry per parameter. The references run
PyTorch's single-tensor update rule one array at a time, in the order of operations the
optimizers used before these names existed, so a fallback reproduces their results bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .engine import kernel


class OptimizerKernels:
    """The optimizer names (docs/kernels.md); references written against ``self.xp``."""

    xp: Any

    @kernel
    def sgd_step_(
        self,
        params: Sequence,
        grads: Sequence,
        bufs: Sequence | None,
        lr: float,
        momentum: float,
        dampening: float,
        nesterov: bool,
        weight_decay: float,
        maximize: bool,
        first: bool,
    ) -> None:
        """PyTorch's SGD on every ``params[i]`` in place.

        ``g = -grad if maximize else grad``, plus ``weight_decay * p``; with momentum,
        ``buf = g`` when ``first`` else ``momentum * buf + (1 - dampening) * g``, and
        ``g = g + momentum * buf`` (nesterov) or ``buf``; then ``p -= lr * g``. ``bufs`` (the
        momentum buffers, written in place) is ignored when ``momentum == 0``.
        """
        self.quiet(
            _sgd_step,
            params, grads, bufs, lr, momentum, dampening, nesterov, weight_decay, maximize, first,
        )  # fmt: skip

    @kernel
    def adam_step_(
        self,
        params: Sequence,
        grads: Sequence,
        exp_avgs: Sequence,
        exp_avg_sqs: Sequence,
        max_exp_avg_sqs: Sequence | None,
        step,
        lr: float,
        beta1: float,
        beta2: float,
        eps: float,
        weight_decay: float,
        decoupled: bool,
        amsgrad: bool,
        maximize: bool,
    ) -> None:
        """Adam (AdamW when ``decoupled``) on every ``params[i]`` in place, PyTorch's rule.

        ``step`` is the 1-based step count after this step's increment, the same for every
        parameter of the call: a number, or a 0-d float array on the device (capturable=True:
        the bias correction is then computed there). ``max_exp_avg_sqs`` is None unless
        ``amsgrad``.
        """
        self.quiet(
            _adam_step,
            self.xp, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step, lr, beta1,
            beta2, eps, weight_decay, decoupled, amsgrad, maximize,
        )  # fmt: skip


def _sgd_step(
    params, grads, bufs, lr, momentum, dampening, nesterov, weight_decay, maximize, first
):
    for i, d in enumerate(params):
        gd = grads[i]
        if maximize:
            gd = -gd
        if weight_decay != 0:
            gd = gd + weight_decay * d
        if momentum != 0:
            bd = bufs[i]
            if first:
                bd[...] = gd
            else:
                bd *= momentum
                if dampening != 0:
                    bd += (1 - dampening) * gd
                else:
                    bd += gd
            gd = gd + momentum * bd if nesterov else bd
        d -= lr * gd


def _adam_step(
    xp, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step, lr, beta1, beta2, eps,
    weight_decay, decoupled, amsgrad, maximize,
):  # fmt: skip
    step_size = lr / (1 - beta1**step)
    bc2_sqrt = (1 - beta2**step) ** 0.5
    for i, d in enumerate(params):
        gd = grads[i]
        if maximize:
            gd = -gd
        if weight_decay != 0:
            if decoupled:
                d *= 1 - lr * weight_decay
            else:
                gd = gd + weight_decay * d
        m = exp_avgs[i]
        v = exp_avg_sqs[i]
        # m.lerp_(g, 1 - beta1) and v = beta2 * v + (1 - beta2) * g * g
        m += (gd - m) * (1 - beta1)
        v *= beta2
        v += (gd * gd) * (1 - beta2)
        if amsgrad:
            vmax = max_exp_avg_sqs[i]
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
