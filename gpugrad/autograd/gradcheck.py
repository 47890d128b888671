"""gradcheck / gradgradcheck: analytical gradients against central finite differences."""

from __future__ import annotations

import numpy as np

from .. import _warn
from .engine import grad as autograd_grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _outputs(fn, inputs) -> list:
    from .._tensor import Tensor

    out = fn(*inputs)
    outs = [out] if isinstance(out, Tensor) else list(out)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]


def gradcheck(
    fn,
    inputs,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    n_upstream: int = 2,
    seed: int = 0,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    **_ignored,
) -> bool:
    """Check ``fn``'s gradients against central differences, in float64, on any device.

    For a few random upstream gradients ``v`` (never only ones), the vector-Jacobian product
    from backward must match ``sum(v * (f(x + eps e_i) - f(x - eps e_i)) / 2 eps)`` for every
    input element ``i``.
    """
    from .._tensor import Tensor
    from .grad_mode import no_grad

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x._requires_grad]
    for i in diff:
        if inputs[i].dtype.name != "float64":
            _warn.warn(
                f"Input #{i} requires gradient and is not a double precision floating point. "
                "gradcheck is reliable only for float64 inputs."
            )
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    for k in range(n_upstream):
        vs = []
        for o in outs:
            xp = o._device.backend.xp
            v = rng.uniform(0.5, 1.5, size=o._data.shape) * rng.choice([-1, 1], o._data.shape)
            vs.append(Tensor._make(xp.asarray(v, dtype=o._data.dtype), o._device))
        outs = _outputs(fn, inputs)
        used = [o for o in outs if o._requires_grad]
        if not used:
            break
        analytical = autograd_grad(
            used,
            [inputs[i] for i in diff],
            [v for o, v in zip(outs, vs) if o._requires_grad],
            allow_unused=True,
        )
        for slot, i in enumerate(diff):
            x = inputs[i]
            host = x._device.backend.to_host(x._data)
            numerical = np.zeros(host.size)
            flat = x._data.reshape(-1)
            with no_grad():
                for j in range(host.size):
                    orig = flat[j].item()
                    flat[j] = orig + eps
                    plus = _dot(_outputs(fn, inputs), vs)
                    flat[j] = orig - eps
                    minus = _dot(_outputs(fn, inputs), vs)
                    flat[j] = orig
                    numerical[j] = (plus - minus) / (2 * eps)
            a = analytical[slot]
            a_host = (
                np.zeros(host.size)
                if a is None
                else a._device.backend.to_host(a._data).reshape(-1).astype(np.float64)
            )
            if a is not None and a._data.shape != x._data.shape:
                raise GradcheckError(
                    f"Gradient for input {i} has shape {a.shape}, expected {x.shape}"
                )
            if not np.allclose(a_host, numerical, rtol=rtol, atol=atol):
                msg = (
                    f"Jacobian mismatch for output 0 with respect to input {i} "
                    f"(upstream #{k}),\nnumerical:{numerical}\nanalytical:{a_host}\n"
                )
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def _dot(outs, vs) -> float:
    total = 0.0
    for o, v in zip(outs, vs):
        total += float((o._data.astype("float64") * v._data).sum())
    return total


def gradgradcheck(
    fn,
    inputs,
    grad_outputs=None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
    **_ignored,
) -> bool:
    """gradcheck of the backward pass itself (second derivatives, via create_graph)."""
    from .._tensor import Tensor
    from .grad_mode import enable_grad

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    rng = np.random.default_rng(seed + 1)
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        grad_outputs = []
        for o in outs:
            v = rng.uniform(0.5, 1.5, size=o._data.shape)
            xp = o._device.backend.xp
            g = Tensor._make(xp.asarray(v, dtype=o._data.dtype), o._device)
            g._requires_grad = True
            grad_outputs.append(g)
    n_in = len(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x._requires_grad]

    def first_grads(*args):
        # gradcheck's finite differences run under no_grad; the inner backward needs grad
        with enable_grad():
            ins, gos = args[:n_in], args[n_in:]
            os = _outputs(fn, ins)
            gs = autograd_grad(
                os, [ins[i] for i in diff], list(gos), create_graph=True, allow_unused=True
            )
        return tuple(g for g in gs if g is not None)

    return gradcheck(
        first_grads,
        tuple(inputs) + tuple(grad_outputs),
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        seed=seed,
    )
