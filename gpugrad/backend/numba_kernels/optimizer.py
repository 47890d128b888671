"""The optimizer catalogue names on the CPU: one in-place pass per parameter, no temporaries.

The reference makes about a dozen NumPy passes over every parameter (and as many temporaries);
here each parameter is read once and written once, its elements split across threads. The
list is walked in Python: a large tensor gets the parallel kernel, a small one the serial kernel
(a parallel launch costs more than its work below ``PARALLEL_SIZE`` elements), so the cost per
tensor is one Numba call. Scalars are cast to the array's dtype before use and no operation is
fused or reordered (no fastmath), so the results equal the reference's NumPy passes bit for bit.

The predicates take float32 / float64 lists whose parameters and state are C-contiguous and of
one dtype; gradients of any strides are copied to C order first (read only). Anything else
(half types, complex, strided state) goes to the reference.
"""

from __future__ import annotations

import numpy as np

from . import ENGINE
from ._jit import njit, prange

_FLOATS = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
# Measured on a loaded 2-core machine (AdamW, float32): below 8K elements a tensor's serial
# update costs less than waking the thread pool, at 16K the parallel one is 1.3x faster.
PARALLEL_SIZE = 1 << 14


# ---- per-element updates: the reference's operations, in its order, in the array's dtype ---
# Inlined into the loops in Numba's IR, so each loop is one straight-line body that LLVM
# vectorises: the flags are loop invariants, and every data-dependent choice is a select.
@njit(inline="always")
def _adam_elem(p, g, m, v, top, maximize, coupled, decoupled, amsgrad, lr_wd, wd, om_b1, b2,
               om_b2, bc2, eps, ss):  # fmt: skip
    if maximize:
        g = -g
    if coupled:
        g = g + wd * p
    if decoupled:
        p = p * lr_wd
    m = m + (g - m) * om_b1
    v = v * b2
    v = v + (g * g) * om_b2
    if amsgrad:  # np.maximum: the larger, or NaN where either is NaN
        t = v if v > top else top
        top = v if v != v else t
        d = np.sqrt(top)
    else:
        d = np.sqrt(v)
    d = d / bc2
    d = d + eps
    return p - (m / d) * ss, m, v, top


@njit(inline="always")
def _sgd_elem(p, g, b, maximize, decay, momentum, first, damped, nesterov, lr, mom, om_damp,
              wd):  # fmt: skip
    if maximize:
        g = -g
    if decay:
        g = g + wd * p
    if momentum:
        if first:  # the first step's buffer is the gradient itself
            b = g
        else:
            b = b * mom
            b = b + om_damp * g if damped else b + g
        g = g + mom * b if nesterov else b
    return p - lr * g, b


# ---- loops over one flat parameter: serial for small tensors, parallel for large ones -----
# (one body; Numba needs one function per variant, each cached under its own name). The serial
# loops take NumPy's error model: Python's would test every division for a zero divisor (to
# raise ZeroDivisionError), which stops LLVM vectorising them; IEEE results are what we want.
@njit(error_model="numpy")
def _adam_ser(p, g, m, v, vmax, maximize, coupled, decoupled, amsgrad, lr_wd, wd, om_b1, b2,
              om_b2, bc2, eps, ss):  # fmt: skip
    T = p.dtype.type
    a, w, c1, c2, c3, c4, e, s = T(lr_wd), T(wd), T(om_b1), T(b2), T(om_b2), T(bc2), T(eps), T(ss)
    for i in range(p.size):
        top = vmax[i] if amsgrad else T(0)
        p[i], m[i], v[i], top = _adam_elem(
            p[i], g[i], m[i], v[i], top, maximize, coupled, decoupled, amsgrad,
            a, w, c1, c2, c3, c4, e, s,
        )  # fmt: skip
        if amsgrad:
            vmax[i] = top


@njit(parallel=True)
def _adam_par(p, g, m, v, vmax, maximize, coupled, decoupled, amsgrad, lr_wd, wd, om_b1, b2,
              om_b2, bc2, eps, ss):  # fmt: skip
    T = p.dtype.type
    a, w, c1, c2, c3, c4, e, s = T(lr_wd), T(wd), T(om_b1), T(b2), T(om_b2), T(bc2), T(eps), T(ss)
    for i in prange(p.size):
        top = vmax[i] if amsgrad else T(0)
        p[i], m[i], v[i], top = _adam_elem(
            p[i], g[i], m[i], v[i], top, maximize, coupled, decoupled, amsgrad,
            a, w, c1, c2, c3, c4, e, s,
        )  # fmt: skip
        if amsgrad:
            vmax[i] = top


@njit(error_model="numpy")
def _sgd_ser(p, g, buf, maximize, decay, momentum, first, damped, nesterov, lr, mom, om_damp,
             wd):  # fmt: skip
    T = p.dtype.type
    a, b, c, w = T(lr), T(mom), T(om_damp), T(wd)
    keep = momentum and not first
    for i in range(p.size):
        p[i], bi = _sgd_elem(
            p[i], g[i], buf[i] if keep else T(0), maximize, decay, momentum, first, damped,
            nesterov, a, b, c, w
        )  # fmt: skip
        if momentum:
            buf[i] = bi


@njit(parallel=True)
def _sgd_par(p, g, buf, maximize, decay, momentum, first, damped, nesterov, lr, mom, om_damp,
             wd):  # fmt: skip
    T = p.dtype.type
    a, b, c, w = T(lr), T(mom), T(om_damp), T(wd)
    keep = momentum and not first
    for i in prange(p.size):
        p[i], bi = _sgd_elem(
            p[i], g[i], buf[i] if keep else T(0), maximize, decay, momentum, first, damped,
            nesterov, a, b, c, w
        )  # fmt: skip
        if momentum:
            buf[i] = bi


# ---- when the kernels serve a call -----------------------------------------------------
def _same_c(dt, arrays) -> bool:
    for a in arrays:
        if a.dtype != dt or not a.flags.c_contiguous:
            return False
    return True


def _grads_ok(dt, params, grads) -> bool:
    for p, g in zip(params, grads):
        if g.dtype != dt or g.shape != p.shape:
            return False
    return True


# Below this many elements in all, calling a compiled kernel (Numba unboxes every array of
# the lists) costs more than NumPy's few vectorised calls (tiny MLP's SGD step: 15 vs 10 us).
MIN_TOTAL = 1 << 14


def _small(params) -> bool:
    total = 0
    for p in params:
        total += p.size
        if total >= MIN_TOTAL:
            return False
    return True


def _adam_when(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step, lr, beta1, beta2,
               eps, weight_decay, decoupled, amsgrad, maximize) -> bool:  # fmt: skip
    if not params or _small(params):
        return False
    dt = params[0].dtype
    return (
        dt in _FLOATS
        and _same_c(dt, params)
        and _same_c(dt, exp_avgs)
        and _same_c(dt, exp_avg_sqs)
        and (not amsgrad or _same_c(dt, max_exp_avg_sqs))
        and _grads_ok(dt, params, grads)
    )


def _sgd_when(params, grads, bufs, lr, momentum, dampening, nesterov, weight_decay, maximize,
              first) -> bool:  # fmt: skip
    if not params or _small(params):
        return False
    dt = params[0].dtype
    return (
        dt in _FLOATS
        and _same_c(dt, params)
        and (momentum == 0 or _same_c(dt, bufs))
        and _grads_ok(dt, params, grads)
    )


def _flat(a):
    return a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)


def _adam_examples():
    out = []
    for dt in (np.float32, np.float64):
        for n in (4, PARALLEL_SIZE):
            a = [np.zeros(n, dt)]
            for ams in (False, True):
                out.append((a, a, a, a, a if ams else None, 1.0, 1e-3, 0.9, 0.999, 1e-8,
                            0.0, False, ams, False))  # fmt: skip
    return out


@ENGINE.implements("adam_step_", when=_adam_when, examples=_adam_examples)
def _build_adam():
    def adam_step_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step, lr, beta1, beta2,
                   eps, weight_decay, decoupled, amsgrad, maximize) -> None:  # fmt: skip
        # the reference's scalars, computed in double as the reference computes them (floats
        # and bools only: an int hyperparameter would compile another specialisation)
        step_size = float(lr / (1 - beta1**step))
        bc2_sqrt = float((1 - beta2**step) ** 0.5)
        maximize, amsgrad = bool(maximize), bool(amsgrad)
        coupled = bool(weight_decay != 0 and not decoupled)
        decoupled = bool(weight_decay != 0 and decoupled)
        lr_wd, wd = float(1 - lr * weight_decay), float(weight_decay)
        om_b1, om_b2, b2, eps = float(1 - beta1), float(1 - beta2), float(beta2), float(eps)
        for i, p in enumerate(params):
            n = p.size
            if n == 0:
                continue
            top = max_exp_avg_sqs[i].reshape(-1) if amsgrad else p.reshape(-1)
            run = _adam_par if n >= PARALLEL_SIZE else _adam_ser
            run(p.reshape(-1), _flat(grads[i]), exp_avgs[i].reshape(-1),
                exp_avg_sqs[i].reshape(-1), top, maximize, coupled, decoupled, amsgrad, lr_wd, wd,
                om_b1, b2, om_b2, bc2_sqrt, eps, step_size)  # fmt: skip

    return adam_step_


def _sgd_examples():
    out = []
    for dt in (np.float32, np.float64):
        for n in (4, PARALLEL_SIZE):
            a = [np.zeros(n, dt)]
            out.append((a, a, a, 0.1, 0.9, 0.0, False, 0.0, False, False))
    return out


@ENGINE.implements("sgd_step_", when=_sgd_when, examples=_sgd_examples)
def _build_sgd():
    def sgd_step_(params, grads, bufs, lr, momentum, dampening, nesterov, weight_decay, maximize,
                  first) -> None:  # fmt: skip
        has_mom = bool(momentum != 0)
        flags = (bool(maximize), bool(weight_decay != 0), has_mom, bool(first),
                 bool(dampening != 0), bool(nesterov))  # fmt: skip
        # floats only: an int hyperparameter (momentum=0) would compile another specialisation
        scalars = (float(lr), float(momentum), float(1 - dampening), float(weight_decay))
        for i, p in enumerate(params):
            n = p.size
            if n == 0:
                continue
            buf = bufs[i].reshape(-1) if has_mom else p.reshape(-1)
            run = _sgd_par if n >= PARALLEL_SIZE else _sgd_ser
            run(p.reshape(-1), _flat(grads[i]), buf, *flags, *scalars)

    return sgd_step_
