"""Gradient clipping: clip_grad_norm_, clip_grad_value_, get_total_norm, clip_grads_with_norm_.

Everything stays on the gradients' devices as arrays: no host synchronisation unless
``error_if_nonfinite`` asks for a check.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad


def _as_list(tensors) -> list:
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _vector_norm(backend, arr, norm_type: float):
    """``linalg.vector_norm`` of all of ``arr``: the backend's kernel (float16 accumulates in
    float32; one pass where an engine serves it), with PyTorch's answers for no elements."""
    if arr.size == 0:
        if norm_type < 0 or norm_type == float("inf"):  # no identity, as linalg.vector_norm
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {norm_type:g} norm on an empty tensor "
                "because the operation does not have an identity"
            )
        return backend.xp.zeros((), arr.dtype)
    return backend.vector_norm(arr, norm_type, None)


def _to_device(arr, src, dst):
    if src is dst:
        return arr
    return dst.backend.asarray(src.backend.to_host(arr))


def get_total_norm(
    tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: bool | None = None
) -> Tensor:
    """The norm of all tensors together, as if concatenated into one vector."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        from ... import _creation

        return _creation.tensor(0.0)
    first = tensors[0]._device
    xp = first.backend.xp
    norms = [
        _to_device(_vector_norm(t._device.backend, t._data, norm_type), t._device, first)
        for t in tensors
    ]
    dt = norms[0].dtype
    for n in norms[1:]:
        dt = xp.promote_types(dt, n.dtype)
    total = _vector_norm(first.backend, xp.stack([n.astype(dt) for n in norms]), norm_type)
    out = Tensor._make(xp.asarray(total), first)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return out


def clip_grads_with_norm_(
    parameters, max_norm: float, total_norm: Tensor, foreach: bool | None = None
) -> None:
    """Scale gradients in place by min(1, max_norm / (total_norm + 1e-6))."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    xp = total_norm._device.backend.xp
    coef = xp.minimum(float(max_norm) / (total_norm._data + 1e-6), 1.0)
    with no_grad():
        for g in grads:
            c = _to_device(coef, total_norm._device, g._device).astype(g._data.dtype)
            g._data *= c
            g._vc[0] += 1


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale gradients so their total norm is at most max_norm; returns the norm before."""
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            g = p.grad
            if g is None:
                continue
            xp = g._device.backend.xp
            xp.clip(g._data, -clip_value, clip_value, out=g._data)
            g._vc[0] += 1


clip_grad_norm = clip_grad_norm_  # PyTorch's deprecated name
