"""Helpers every op uses: record a node, check devices, promote dtypes, reduce gradients.

How a primitive op is written (see elementwise.py for many):

    class ExpBackward0(Node):
        def backward(self, grad):
            (result,) = self.saved_tensors
            return (grad * result,)

    def exp(input):
        out = Tensor._make(input._device.backend.xp.exp(input._data), input._device)
        if needs_grad(input):
            record(ExpBackward0(), (input,), out).save(out)
        return out

Backward formulas use Tensor ops, so they are differentiable (create_graph) and run on the
device of the gradient without naming NumPy or CuPy.
"""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import state as _grad_state
from ..autograd.graph import collect_next_functions, mark_meta
from ..backend.quiet import ArgumentTypeError

_SCALARS = (bool, int, float)


def needs_grad(*tensors) -> bool:
    """True when grad mode is on and any input requires grad."""
    if not _grad_state.enabled:
        return False
    for t in tensors:
        if t is not None and t._requires_grad:
            return True
    return False


def record(node, inputs: tuple, outputs):
    """Link ``node`` into the graph: inputs' edges into next_functions, outputs' grad_fn."""
    node.next_functions = collect_next_functions(inputs)
    if isinstance(outputs, Tensor):
        outputs._requires_grad = True
        outputs._grad_fn = node
    else:
        for i, o in enumerate(outputs):
            o._requires_grad = True
            o._grad_fn = node
            o._output_nr = i
        mark_meta(node, outputs)
    return node


def check_device(a: Tensor, b: Tensor, op: str) -> None:
    if a._device is not b._device:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{a._device} and {b._device}! (when checking arguments for {op})"
        )


def check_devices(tensors, op: str) -> None:
    first = tensors[0]
    for t in tensors[1:]:
        check_device(first, t, op)


def binary_arrays(a: Tensor, b, op: str, floating: bool = False):
    """The two operands as arrays of the PyTorch result dtype (a Tensor and Tensor/scalar).

    Python scalars stay Python scalars (NumPy/CuPy keep the array's dtype for them), unless
    they are of a higher category than the tensor, as PyTorch's promotion demands.
    """
    ad = a._data
    tb = type(b)
    if not floating and (
        tb is float and D.is_floating(ad.dtype) or tb is int and ad.dtype.kind in "fiu"
    ):
        return ad, b  # the common case: no promotion needed
    if isinstance(b, Tensor):
        if a._device is not b._device:
            check_device(a, b, op)
        bd = b._data
        if ad.dtype is not bd.dtype and ad.dtype != bd.dtype:
            rt = D.result_type(a, b)
            if floating and not rt.is_floating_point:
                rt = D.get_default_dtype()
            ad, bd = ad.astype(rt.np, copy=False), bd.astype(rt.np, copy=False)
        elif floating and ad.dtype.kind in "biu":
            f = D.get_default_dtype().np
            ad, bd = ad.astype(f), bd.astype(f)
        return ad, bd
    if not isinstance(b, _SCALARS):
        b = _to_scalar(b, op)
    kind = ad.dtype.kind
    if kind in "biu":
        if isinstance(b, float) or floating:
            ad = ad.astype(D.get_default_dtype().np)
        elif kind == "b" and not isinstance(b, bool):
            ad = ad.astype("int64")
    return ad, b


def broadcast_error(a, b) -> RuntimeError:
    """PyTorch's message for shapes that do not broadcast (NumPy raises a ValueError)."""
    return shapes_error(tuple(a.shape), tuple(getattr(b, "shape", ())))


def shapes_error(sa: tuple, sb: tuple) -> RuntimeError:
    """``broadcast_error`` of two shapes."""
    n = max(len(sa), len(sb))
    pa, pb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    for i in range(n - 1, -1, -1):
        if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
            return RuntimeError(
                f"The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) at "
                f"non-singleton dimension {i}"
            )
    return RuntimeError(f"shapes {list(sa)} and {list(sb)} cannot be broadcast together")


def broadcast_pair(xp, a, b) -> tuple:
    """``xp.broadcast_arrays(a, b)`` with PyTorch's error for shapes that do not broadcast."""
    try:
        return xp.broadcast_arrays(a, b)
    except ValueError:
        raise broadcast_error(a, b) from None


def _to_scalar(b, op: str):
    if hasattr(b, "item") and getattr(b, "ndim", 1) == 0:  # NumPy scalars, 0-d arrays
        return b.item()
    raise ArgumentTypeError(  # the face names the argument and its position, as PyTorch
        b, f"{op}(): argument 'other' must be Tensor or Number, not {type(b).__name__}"
    )


def _summed_axes(gshape: tuple, shape: tuple) -> tuple[tuple, tuple]:
    """What reduces a broadcast gradient of shape ``gshape`` to ``shape``: the leading axes
    to sum away, then the size-1 axes to sum keeping them (after the first sum)."""
    lead = len(gshape) - len(shape)
    ones = tuple(i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
    return tuple(range(lead)), ones


def sum_to(grad: Tensor, shape: tuple) -> Tensor:
    """Sum a broadcast gradient back to an input's shape (the backward of broadcasting)."""
    if grad._data.shape == shape:
        return grad
    # Usually one sum does it, and its result is a fresh array (a view would cost a copy
    # in AccumulateGrad).
    lead, ones = _summed_axes(grad._data.shape, shape)
    out = grad.sum(lead) if lead else grad
    if ones:
        out = out.sum(ones, keepdim=True)
    return out


def meta(t: Tensor) -> tuple:
    """(shape, array dtype): what reducing a gradient needs; cheaper to keep than the tensor."""
    return (t._data.shape, t._data.dtype)


def grad_for(grad: Tensor, m: tuple) -> Tensor:
    """``sum_to`` an input's shape, in its dtype (a gradient has its input's dtype).

    ``m`` is ``meta(input)``.
    """
    g = sum_to(grad, m[0])
    if g._data.dtype != m[1]:
        g = g.to(D._BY_NP[m[1]])
    return g


def sum_to_array(backend, g, m: tuple):
    """``grad_for`` on a bare array (the engine's array path): ``m`` is ``meta(input)``."""
    shape, dtype = m
    if g.shape != shape:
        lead, ones = _summed_axes(g.shape, shape)
        if lead:
            g = backend.sum(g, lead)
        if ones:
            g = backend.sum(g, ones, keepdims=True)
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


def wrap_dims(dim, ndim: int) -> tuple:
    """Normalise an int / tuple / None ``dim`` to a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    n = max(ndim, 1)
    out = []
    for d in dim:
        if not -n <= d < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            )
        d = d + n if d < 0 else d
        if d in out:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(sorted(out)) if ndim else ()


def wrap_dim(dim: int, ndim: int, wrap_scalar: bool = True) -> int:
    """``dim`` as a non-negative axis of an ``ndim``-d tensor (PyTorch's maybe_wrap_dim: a 0-d
    tensor takes dims -1 and 0 unless ``wrap_scalar`` is False)."""
    if not wrap_scalar and ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim + n if dim < 0 else dim


def float_data(t: Tensor):
    """The data of ``t`` for a float function: integer and bool inputs compute in the default
    float dtype, as PyTorch's do."""
    d = t._data
    return d if D.is_floating(d.dtype) else d.astype(D.get_default_dtype().np)


def index_tensor(data, like: Tensor) -> Tensor:
    """An int64 index Tensor of ``data`` on ``like``'s device (sort, unique, diag ...)."""
    return Tensor._make(data.astype("int64", copy=False), like._device)


def broadcast_shape(*shapes) -> tuple:
    """The shape that ``shapes`` (tuples, or ints for 1-D shapes) broadcast to."""
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {s}")
            if n != 1:
                if out[i] != 1 and out[i] != n:
                    raise RuntimeError(
                        "Shape mismatch: objects cannot be broadcast to a single shape"
                    )
                out[i] = n
    return tuple(out)
