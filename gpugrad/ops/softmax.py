"""softmax, log_softmax and softmin along one dim: the backend's row kernels, and nodes that
save the output."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node
from . import _autocast as _amp
from ._util import needs_grad, record, wrap_dim


class SoftmaxBackward0(Node):
    def backward(self, grad):
        if not _grad_state.enabled:  # the same formula on arrays: nothing to record
            return self._backward_arrays(grad)
        (y,) = self.saved_tensors
        return (y * (grad - (grad * y).sum(self.dim, keepdim=True)),)

    def _arrays(self, backend, g):
        (y,) = self.saved_arrays()
        return (backend.softmax_backward(g, y, self.dim),)


class LogSoftmaxBackward0(Node):
    def backward(self, grad):
        if not _grad_state.enabled:  # the same formula on arrays: nothing to record
            return self._backward_arrays(grad)
        (y,) = self.saved_tensors
        return (grad - y.exp() * grad.sum(self.dim, keepdim=True),)

    def _arrays(self, backend, g):
        (y,) = self.saved_arrays()
        return (backend.log_softmax_backward(g, y, self.dim),)


def _softmax_dim(input: Tensor, dim) -> int:
    if dim is None:  # PyTorch's legacy implicit choice
        nd = input._data.ndim
        return 0 if nd in (0, 1, 3) else 1
    return wrap_dim(dim, input._data.ndim)


def check_floating_rows(x: Tensor, dim: int, name: str) -> None:
    """PyTorch's error for softmax / log_softmax of an integer or bool tensor (its CPU
    kernel's name: the last-dim kernel or the general one)."""
    if x._data.dtype.kind in "iub":
        last = "_lastdim" if dim == max(x._data.ndim - 1, 0) else ""
        raise NotImplementedError(
            f"\"{name}{last}_kernel_impl\" not implemented for '{D.scalar_type_name(x.dtype)}'"
        )


def _softmax_family(input: Tensor, dim, dtype, name: str, node_cls) -> Tensor:
    """softmax / log_softmax: the backend's stable kernel of that name along ``dim``, and a
    node that saves the output."""
    if _active.autocast:
        (input,) = _amp.fp32(name, input)
    x = input if dtype is None else input.to(dtype)
    d = _softmax_dim(x, dim)
    check_floating_rows(x, d, name)
    data = x._data if x._data.ndim else x._data.reshape(1)
    kernel = getattr(x._device.backend, name)
    out = Tensor._make(kernel(data, d).reshape(x._data.shape), x._device)
    if needs_grad(x):
        node = record(node_cls(), (x,), out)
        node.save(out)
        node.dim = d
    return out


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed stably."""
    return _softmax_family(input, dim, dtype, "softmax", SoftmaxBackward0)


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably."""
    return _softmax_family(input, dim, dtype, "log_softmax", LogSoftmaxBackward0)


def softmin(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """softmax(-x) along ``dim``."""
    return softmax(-input, dim, dtype=dtype)
