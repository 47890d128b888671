"""Parameter: a tensor that a Module registers as learnable; Buffer: one it registers as state."""

from __future__ import annotations

from .._tensor import Tensor


def _alias(cls, data: Tensor | None) -> Tensor:
    """A new leaf of class ``cls`` sharing ``data``'s memory and version counter (a detach)."""
    if data is None:
        from .._creation import empty

        data = empty(0)
    if not isinstance(data, Tensor):
        raise TypeError(
            f"{cls.__name__}.__new__() expects a Tensor as data, got {type(data).__name__}"
        )
    out = cls._make(data._data, data._device)
    out._vc = data._vc
    return out


class Parameter(Tensor):
    """A Tensor that is a module parameter: assigning it to a Module attribute registers it.

    ``requires_grad`` is True by default; ops on a Parameter return plain Tensors.
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        p = _alias(cls, data)
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # all done in __new__ (Tensor.__init__ refuses direct construction)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo) -> Parameter:
        # as PyTorch: a fresh Parameter with the values and requires_grad; .grad is not copied
        new = type(self)(Tensor._make(self._data.copy(), self._device), self._requires_grad)
        memo[id(self)] = new
        return new


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute."""

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Buffer:
        b = _alias(cls, data)
        b.persistent = persistent
        return b

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        pass
