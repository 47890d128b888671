"""Custom differentiable functions: ``class F(gpugrad.autograd.Function)`` as in PyTorch.

``F.apply(*args)`` runs ``forward`` without recording, then links one node (named
``FBackward``; it is also the ``ctx``) whose ``backward`` calls ``F.backward(ctx, *grads)``.
"""

from __future__ import annotations

import functools
from typing import Any

from .grad_mode import no_grad
from .grad_mode import state as _grad_state
from .graph import Node, collect_next_functions, mark_meta


class FunctionCtx:
    """What ``forward``/``setup_context`` may call on ``ctx`` (the node implements these)."""

    def save_for_backward(self, *tensors) -> None:
        self._to_save = tensors

    def mark_dirty(self, *tensors) -> None:
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize = bool(value)


class BackwardCFunction(Node, FunctionCtx):
    """The node of a custom Function; ``ctx`` in forward and backward."""

    _forward_cls: Any = None

    def __init__(self) -> None:
        super().__init__()
        self._to_save = None
        self._dirty = ()
        self._non_differentiable = ()
        self._materialize = True
        self.needs_input_grad = ()

    def backward(self, *grads):
        cls = self._forward_cls
        if not self._materialize:
            grads = tuple(grads)
        result = cls.backward(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n = len(self.next_functions)
        if len(result) < n or any(r is not None for r in result[n:]):
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients (expected "
                f"{n}, got {len(result)})"
            )
        from .._tensor import Tensor

        out = []
        for i, r in enumerate(result[:n]):
            if r is not None and not isinstance(r, Tensor):
                raise TypeError(
                    f"function {self.name()} returned a gradient different than None at "
                    f"position {i + 1}, but the corresponding forward input was not a Variable"
                )
            out.append(r)
        return tuple(out)


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs) -> None:
        super().__init__(name, bases, attrs)
        cls._backward_cls = type(f"{name}Backward", (BackwardCFunction,), {"_forward_cls": cls})


class Function(metaclass=_FunctionMeta):
    """Base class for custom autograd functions with static ``forward`` and ``backward``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        from .._tensor import Tensor

        ctx = cls._backward_cls()
        is_t = [isinstance(a, Tensor) for a in args]
        recording = _grad_state.enabled and any(t and a._requires_grad for t, a in zip(is_t, args))
        ctx.needs_input_grad = tuple(
            bool(t and a._requires_grad and _grad_state.enabled) for t, a in zip(is_t, args)
        )
        uses_setup = cls.setup_context is not Function.setup_context
        with no_grad():
            if uses_setup:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if not recording:
            return outputs
        ctx.next_functions = collect_next_functions([a if t else None for t, a in zip(is_t, args)])
        dirty = {id(t) for t in ctx._dirty}
        for t in ctx._dirty:
            t._vc[0] += 1  # PyTorch counts the recorded in-place write once more
        non_diff = {id(t) for t in ctx._non_differentiable}
        inputs = {id(a) for t, a in zip(is_t, args) if t}
        fixed = []
        for i, o in enumerate(outs):
            if isinstance(o, Tensor):
                oid = id(o)  # what forward returned: the marks name it, not its alias
                if oid in inputs and oid not in dirty:
                    o = _alias(o)  # an input returned as is: a new tensor, same memory
                if oid not in non_diff and o.dtype.is_floating_point:
                    o._requires_grad, o._grad_fn, o._output_nr = True, ctx, i
                elif oid in dirty:
                    o._requires_grad = False
            fixed.append(o)
        tensor_outs = [o for o in fixed if isinstance(o, Tensor)]
        if len(fixed) > 1 or not single:
            mark_meta(ctx, [o if isinstance(o, Tensor) else _dummy(tensor_outs[0]) for o in fixed])
        if ctx._to_save:
            ctx.save(*ctx._to_save)
            ctx._to_save = None
        return fixed[0] if single else tuple(fixed)


def _alias(t):
    from .._tensor import Tensor

    out = Tensor._make(t._data, t._device)
    out._vc = t._vc
    return out


def _dummy(like):
    from .._tensor import Tensor

    return Tensor._make(like._device.backend.xp.zeros((), like._data.dtype), like._device)


def once_differentiable(fn):
    """Mark a backward as not differentiable itself: it runs without recording."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            return fn(ctx, *args)

    return wrapper
