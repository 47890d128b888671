"""PyTorch's legacy ``Variable``: every tensor is one; ``Variable(t)`` gives ``t`` back."""

from __future__ import annotations

from .engine import _execution_engine


class _VariableMeta(type):
    def __instancecheck__(cls, other) -> bool:
        from .._tensor import Tensor  # late: autograd sits below Tensor (docs/architecture.md)

        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(data, requires_grad=False)``: old PyTorch code's wrapper, now ``data``
    itself (a leaf that requires grad when asked); ``Variable._execution_engine`` queues
    end-of-backward callbacks (``queue_callback``), as DistributedDataParallel does."""

    _execution_engine = _execution_engine

    def __new__(cls, data=None, requires_grad: bool = False, volatile: bool = False):
        from .._tensor import Tensor

        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(True) if requires_grad else data
