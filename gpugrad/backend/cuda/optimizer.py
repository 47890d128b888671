"""The optimizer catalogue names on the GPU: one multi-tensor launch per step and dtype."""

from __future__ import annotations

import math

import numpy as np

from ... import _dtype as D
from . import ENGINE, optimizer_source
from .compile import function

BLOCK = 512
_kernels: dict = {}
_tables: dict = {}  # (kernel, pointers, sizes) -> device tables of the params and their state


def _kernel(kernel: str, dtype: str):
    key = (kernel, dtype)
    fn = _kernels.get(key)
    if fn is None:
        fn = _kernels[key] = function(
            optimizer_source.source(dtype), optimizer_source.kernel_name(kernel, dtype)
        )
    return fn


def _table(kernel: str, roles: list[list]):
    """The device tables for one list of tensors per role (params first), made once per
    parameter list: their storage stays put across steps."""
    import cupy

    ptrs = tuple(0 if a is None else a.data.ptr for role in roles for a in role)
    key = (kernel, ptrs, tuple(a.size for a in roles[0]))
    hit = _tables.get(key)
    if hit is None:
        if len(_tables) > 64:  # parameter lists change rarely; never grow without bound
            _tables.clear()
        sizes = [a.size for a in roles[0]]
        tensor, start = optimizer_source.chunks(sizes)
        hit = _tables[key] = (
            cupy.asarray(np.array(ptrs, np.int64)),
            cupy.asarray(np.array(sizes, np.int64)),
            cupy.asarray(np.array(tensor, np.int32)),
            cupy.asarray(np.array(start, np.int64)),
            len(tensor),
        )
    return hit


def _grad_table(grads):
    """The gradients' pointers: new arrays each step, so a small upload per step."""
    import cupy

    return cupy.asarray(np.array([g.data.ptr for g in grads], np.int64))


def _dense_floats(params, grads, *states) -> bool:
    if not params:
        return False
    dt = params[0].dtype
    if dt.kind != "f":
        return False
    for group in (params, grads, *states):
        if group is None:
            continue
        for a in group:
            if a is not None and (a.dtype != dt or not a.flags.c_contiguous):
                return False
    return True


def _capturing() -> bool:
    """Inside a CUDA graph capture the multi-tensor kernels cannot upload their pointer
    tables (a host-to-device copy): the reference's per-parameter array calls capture."""
    from .capture import current_stream_capturing

    return current_stream_capturing()


def _adam_when(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step, *rest):
    # a 0-d step array (capturable=True) keeps its bias correction on the device: reference
    return (
        isinstance(step, (int, float))
        and _dense_floats(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
        and not _capturing()
    )


@ENGINE.implements("adam_step_", when=_adam_when)
def _build_adam():
    def adam_step_(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        max_exp_avg_sqs,
        step,
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        decoupled,
        amsgrad,
        maximize,
    ):
        dtype = params[0].dtype
        F = np.float64 if dtype == np.float64 else np.float32
        vmax = max_exp_avg_sqs if amsgrad else [None] * len(params)
        table, sizes, ct, cs, nchunks = _table("adam", [params, exp_avgs, exp_avg_sqs, vmax])
        step_size = lr / (1 - beta1**step)
        bc2_sqrt = math.sqrt(1 - beta2**step)
        args = (
            table,
            _grad_table(grads),
            sizes,
            ct,
            cs,
            np.int32(len(params)),
            F(lr),
            F(beta1),
            F(beta2),
            F(eps),
            F(weight_decay),
            F(step_size),
            F(bc2_sqrt),
            np.int32(bool(decoupled)),
            np.int32(bool(amsgrad)),
            np.int32(bool(maximize)),
        )
        if nchunks:
            _kernel("adam", D.np_name(dtype))((nchunks,), (BLOCK,), args)

    return adam_step_


def _sgd_when(params, grads, bufs, *rest):
    return _dense_floats(params, grads, bufs) and not _capturing()


@ENGINE.implements("sgd_step_", when=_sgd_when)
def _build_sgd():
    def sgd_step_(
        params, grads, bufs, lr, momentum, dampening, nesterov, weight_decay, maximize, first
    ):
        dtype = params[0].dtype
        F = np.float64 if dtype == np.float64 else np.float32
        bufs = bufs if momentum else [None] * len(params)
        table, sizes, ct, cs, nchunks = _table("sgd", [params, bufs])
        args = (
            table,
            _grad_table(grads),
            sizes,
            ct,
            cs,
            np.int32(len(params)),
            F(lr),
            F(momentum),
            F(dampening),
            F(weight_decay),
            np.int32(bool(nesterov)),
            np.int32(bool(maximize)),
            np.int32(bool(first)),
        )
        if nchunks:
            _kernel("sgd", D.np_name(dtype))((nchunks,), (BLOCK,), args)

    return sgd_step_
