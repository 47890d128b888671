"""Matrix products: matmul (1-D, 2-D, batched with broadcasting), mm, bmm, dot, outer, addmm."""

from __future__ import annotations

from .._tensor import Tensor
from ..amp import autocast_mode as _amp
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import Node, collect_next_functions
from ._util import (
    check_device,
    grad_for,
    meta,
    needs_grad,
    record,
    sum_to_array,
)


def _check(a: Tensor, b: Tensor, op: str) -> None:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        bad = b if isinstance(a, Tensor) else a
        raise TypeError(f"{op}(): argument must be Tensor, not {type(bad).__name__}")
    if a._device is not b._device:
        check_device(a, b, op)
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {a.dtype.name} != {b.dtype.name}"
        )


def _shape_error(a: Tensor, b: Tensor) -> RuntimeError:
    sa, sb = a._data.shape, b._data.shape
    if a._data.ndim == 1 and b._data.ndim == 1:
        return RuntimeError(
            f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have the "
            f"same number of elements, but got {sa[0]} and {sb[0]} elements respectively"
        )
    ra = sa if len(sa) != 1 else (1, sa[0])
    rows = 1
    for s in ra[:-1]:
        rows *= s
    rb = sb if len(sb) != 1 else (sb[0], 1)
    return RuntimeError(
        f"mat1 and mat2 shapes cannot be multiplied ({rows}x{ra[-1]} and {rb[-2]}x{rb[-1]})"
    )


class MmBackward0(Node):
    """Gradient of matmul for any ranks (1-D operands are promoted, then squeezed back)."""

    def backward(self, grad):
        a, b = self.saved_tensors
        a_vec, b_vec = len(self.ma[0]) == 1, len(self.mb[0]) == 1
        g = grad
        if a_vec and b_vec:
            g = g.reshape((1, 1))
        elif a_vec:
            g = g.unsqueeze(-2)
        elif b_vec:
            g = g.unsqueeze(-1)
        ga = gb = None
        if self.needs_input_grad(0):
            ga = g.matmul((b.unsqueeze(-1) if b_vec else b).mT)
            ga = grad_for(ga.squeeze(-2) if a_vec else ga, self.ma)
        if self.needs_input_grad(1):
            gb = (a.unsqueeze(0) if a_vec else a).mT.matmul(g)
            gb = grad_for(gb.squeeze(-1) if b_vec else gb, self.mb)
        return (ga, gb)


class DotBackward0(MmBackward0):
    pass


class MvBackward0(MmBackward0):
    pass


class BmmBackward0(MmBackward0):
    pass


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and broadcast batch dims."""
    if _active.autocast:
        input, other = _amp.lower(input, other)
    _check(input, other, "matmul")
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise _shape_error(input, other)
    try:
        data = input._device.backend.matmul(a, b)
    except ValueError:
        raise _shape_error(input, other) from None
    out = Tensor._make(data, input._device)
    if needs_grad(input, other):
        if a.ndim == 2 and b.ndim == 2:
            cls = MmBackward0
        elif a.ndim == 1 and b.ndim == 1:
            cls = DotBackward0
        elif a.ndim == 2 and b.ndim == 1:
            cls = MvBackward0
        else:
            cls = BmmBackward0
        node = record(cls(), (input, other), out)
        node.save(input if other._requires_grad else None, other if input._requires_grad else None)
        node.ma, node.mb = meta(input), meta(other)
    return out


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two 2-D matrices."""
    _check(input, mat2, "mm")
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(f"{'self' if input._data.ndim != 2 else 'mat2'} must be a matrix")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched product of two 3-D tensors with equal batch sizes."""
    _check(input, mat2, "bmm")
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError(
            "batch1 must be a 3D tensor" if input._data.ndim != 3 else "batch2 must be a 3D tensor"
        )
    if input._data.shape[0] != mat2._data.shape[0] or input._data.shape[2] != mat2._data.shape[1]:
        a, b = input._data.shape, mat2._data.shape
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a[0]}, {a[2]}] "
            f"but got: [{b[0]}, {b[1]}]."
        )
    return matmul(input, mat2)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors."""
    _check(input, other, "dot")
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors"
        )
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors (composite: broadcasting multiply)."""
    return input.unsqueeze(-1) * vec2.unsqueeze(0)


class AddmmBackward0(Node):
    def backward(self, grad):
        if not grad._requires_grad and not _grad_state.enabled:
            return self._backward_arrays(grad)
        x, w = self.saved_tensors
        gx = grad.matmul(w) if self.needs_input_grad(0) else None
        gw = grad.mT.matmul(x) if self.needs_input_grad(1) else None
        gb = None
        if len(self.next_functions) > 2 and self.needs_input_grad(2):
            gb = grad_for(grad, self.mb)
        return (gx, gw, gb)

    def _arrays(self, backend, g):
        # The same formulas on arrays: linear layers are the hot path of training.
        x, w = self.saved_arrays()
        nf = self.next_functions
        gx = backend.matmul(g, w) if nf[0][0] is not None else None
        gw = backend.matmul(g.T, x) if nf[1][0] is not None else None
        gb = None
        if len(nf) > 2 and nf[2][0] is not None:
            mb = self.mb
            if mb[0] == g.shape[1:] and mb[1] == g.dtype:  # the usual (out_features,) bias
                gb = backend.sum(g, 0)
            else:
                gb = sum_to_array(backend, g, mb)
        return (gx, gw, gb)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b; one fused node (AddmmBackward0) for 2-D input, as in PyTorch."""
    if _active.autocast:
        input, weight, bias = _amp.lower(input, weight, bias)
    _check(input, weight, "linear")
    x, w = input._data, weight._data
    if x.shape[-1] != w.shape[-1]:
        raise _shape_error(input, weight.mT)
    if x.ndim != 2:
        out = input.matmul(weight.mT)
        return out if bias is None else out + bias
    data = input._device.backend.matmul(x, w.T)
    if bias is not None:
        if bias._device is not input._device:
            check_device(input, bias, "linear")
        data += bias._data
    out = Tensor._make(data, input._device)
    # record(), needs_grad() and node.save() inlined: every layer of every step runs this
    if _grad_state.enabled and (
        input._requires_grad or weight._requires_grad or (bias is not None and bias._requires_grad)
    ):
        node = AddmmBackward0()
        if bias is None:
            node.next_functions = collect_next_functions((input, weight))
            node.mb = None
        else:
            node.next_functions = collect_next_functions((input, weight, bias))
            node.mb = (bias._data.shape, bias._data.dtype)
        out._requires_grad, out._grad_fn = True, node
        sx = input if weight._requires_grad else None
        sw = weight if input._requires_grad else None
        if _active.saved_hooks or input._inference or weight._inference:
            node.save(sx, sw)  # saved-tensor hooks, or inference tensors (an error)
        else:
            node._saved = (
                None if sx is None else (sx, sx._vc[0]),
                None if sw is None else (sw, sw._vc[0]),
            )
    return out
