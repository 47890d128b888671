"""PyTorch's ``out=``: an op's result written into a tensor the caller gives, and returned.

Ops do not take ``out`` themselves: the faces' wrapper (gpugrad.backend.quiet) of each
function whose PyTorch counterpart takes it (the generated list in gpugrad/_out_names.py)
hands a call given ``out=`` to ``call_with_out``, which runs the op as usual and writes its
result. One place, so each op's forward stays as it is and a call without ``out`` pays nothing.

As PyTorch:
- ``out`` is a Tensor, or for an op returning several (max, sort, linalg.eigh ...) a tuple or
  list of as many Tensors, else PyTorch's TypeError; the same tensors are what is returned
  (a tuple in the op's named result type).
- With grad mode on, an argument, ``out`` or the result requiring grad is PyTorch's
  RuntimeError: ``out=`` calls are not differentiable.
- The result must be castable to ``out``'s dtype (no float into an integer tensor), and is
  cast on write; ``out`` is on the result's device.
- ``out`` of another shape is resized: silently where it has no elements, with PyTorch's
  UserWarning otherwise. gpugrad resizes by giving ``out`` a new array, which is right only
  where nothing else sees the old one: where ``out`` is a view, has views (or a ``.detach()``
  alias), is saved for backward or shares memory with a NumPy array, it raises a RuntimeError
  naming both shapes instead (PyTorch would resize the shared storage).
- A write bumps ``out``'s version counter, so a saved tensor it changed fails at backward.

The op runs to the end before anything is written, so a call that fails (in the op or in a
check) leaves every ``out`` as it was, and ``out`` may alias an input (``add(a, b, out=a)``).
"""

from __future__ import annotations

import functools
import inspect
import math
import sys

from .. import _dtype as D
from .._tensor import Tensor
from .._warn import warn
from ..autograd.grad_mode import state as _grad_state

_SEQUENCES = (tuple, list)


class _Alone:
    pass


def _alone_count() -> int:
    """The reference count an attribute of an object has when nothing else holds it, read
    as ``_shared`` reads one (interpreters count temporaries differently)."""
    probe = _Alone()
    probe.value = object()
    return sys.getrefcount(probe.value)


_ALONE = _alone_count()


def _shared(t: Tensor) -> bool:
    """Whether anything but ``t`` sees its memory: a view or ``.detach()`` alias shares the
    version counter, a saved tensor or a NumPy view (``t.numpy()``) the array."""
    return (
        t._base is not None
        or sys.getrefcount(t._vc) > _ALONE
        or sys.getrefcount(t._data) > _ALONE
        or getattr(t._data, "base", None) is not None
    )


def _shape_text(shape: tuple) -> str:
    return f"[{', '.join(map(str, shape))}]"


def _out_position(fn) -> int:
    """``out``'s argument position in PyTorch's texts: after the op's own parameters."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def _requires_grad(values) -> bool:
    for v in values:
        if isinstance(v, Tensor):
            if v._requires_grad:
                return True
        elif isinstance(v, _SEQUENCES) and _requires_grad(v):
            return True
    return False


def _not_differentiable(name: str) -> RuntimeError:
    return RuntimeError(
        f"{name}(): functions with out=... arguments don't support automatic differentiation, "
        "but one of the arguments requires grad."
    )


def _outs(fn, name: str, out) -> tuple[Tensor, ...]:
    """``out`` as a tuple of Tensors (PyTorch's TypeError for anything else)."""
    if isinstance(out, Tensor):
        return (out,)
    if isinstance(out, _SEQUENCES):
        for i, o in enumerate(out):
            if not isinstance(o, Tensor):
                raise TypeError(
                    f"expected Tensor as element {i} in argument {_out_position(fn)}, "
                    f"but got {type(o).__name__}"
                )
        return tuple(out)
    raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")


def _results(name: str, result, out, outs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The op's result tensors, one per ``out`` tensor (PyTorch's TypeError where the
    counts or kinds differ)."""
    if isinstance(result, Tensor):
        if not isinstance(out, Tensor):
            raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
        return (result,)
    if isinstance(result, _SEQUENCES) and all(isinstance(r, Tensor) for r in result):
        if isinstance(out, Tensor):
            raise TypeError(f"{name}(): argument 'out' must be tuple of Tensors, not Tensor")
        if len(outs) != len(result):
            raise TypeError(f"expected tuple of {len(result)} elements but got {len(outs)}")
        return tuple(result)
    raise RuntimeError(f"{name}(): out= needs a Tensor result; gpugrad's op returned {result!r}")


def _plan(fn, name: str, o: Tensor, r: Tensor):
    """Check that ``r`` can be written into ``o``; return the write (done once every out
    tensor passed, so a refused one leaves all of them as they were) and the resize warning
    (or None), which is given before any write (under ``-W error`` it raises: no partial
    write either)."""
    if o._inference and not _grad_state.inference:
        raise RuntimeError(
            "Inplace update to inference tensor outside InferenceMode is not allowed."
        )
    if o._sparse is not None or r._sparse is not None:
        raise RuntimeError(f"{name}(): gpugrad writes out= only with strided (dense) tensors")
    if o._device is not r._device:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{o.device} and {r.device}!"
        )
    src, dst = r.dtype, o.dtype
    if src._category > dst._category:
        if name in _JOINS:
            raise TypeError(
                "torch.cat(): input types can't be cast to the desired output type "
                f"{D.scalar_type_name(dst)}"
            )
        raise RuntimeError(
            f"result type {D.scalar_type_name(src)} can't be cast to the desired output type "
            f"{D.scalar_type_name(dst)}"
        )
    data, have, want = r._data, o._data.shape, r._data.shape
    if any(st == 0 and n > 1 for st, n in zip(o._data.strides, have)):  # an expanded out
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    if have == want:
        if name in _UNINITIALISED:  # its values are unspecified: out keeps what it holds
            return lambda: None, None
        return lambda: _copy_into(o, data), None
    if _shared(o):
        raise RuntimeError(
            f"{name}(): out= has shape {_shape_text(have)} but the result has shape "
            f"{_shape_text(want)}, and gpugrad resizes an out= tensor only where nothing else "
            "sees its memory (not a view, no views or .detach() aliases, not saved for "
            "backward, not shared with NumPy)"
        )
    return lambda: _resize_into(o, data), _resize_warning(fn, name, have, want)


def _resize_warning(fn, name: str, have: tuple, want: tuple) -> str | None:
    """PyTorch's warning for resizing an out= of shape ``have`` (None where it is silent):
    an empty out= is resized silently (shape [] has an element); so is a factory's, but for
    arange's (range's) own count warning."""
    n = math.prod(have)
    if not n:
        return None
    if getattr(fn, "__module__", "") == _FACTORIES:
        if name in ("arange", "range") and n != math.prod(want):
            return (
                f"The number of elements in the out tensor of shape {_shape_text(have)} is {n} "
                f"which does not match the computed number of elements {math.prod(want)}. Note "
                "that this may occur as a result of rounding error. The out tensor will be "
                f"resized to a tensor of shape ({math.prod(want)},)."
            )
        return None
    return (
        f"An output with one or more elements was resized since it had shape "
        f"{_shape_text(have)}, which does not match the required output shape "
        f"{_shape_text(want)}. This behavior is deprecated, and in a future PyTorch "
        "release outputs will not be resized unless they have zero elements. You can "
        "explicitly reuse an out tensor t by resizing it, inplace, to zero elements with "
        "t.resize_(0)."
    )


def _copy_into(o: Tensor, data) -> None:
    if data is not o._data:  # an op that returned its input (out) itself: nothing to copy
        o._data[...] = data  # the array copy handles an overlapping (aliased) source
    o._vc[0] += 1


def _resize_into(o: Tensor, data) -> None:
    # a contiguous array of its own, as PyTorch's resized storage (never the result's, which
    # may be a view of an input)
    o._data = data.astype(o._data.dtype, order="C", copy=True)
    o._vc[0] += 1


# ops whose PyTorch out= kernel computes in out's dtype where no ``dtype=`` is given (ATen
# takes the result type from out), rather than casting its own result: the factories (by
# module) and these reductions; torch.sum(x, 1, out=long_tensor) sums in int64
_DTYPE_FROM_OUT = frozenset(("sum", "nansum", "prod", "cumsum", "cumprod"))
_FACTORIES = "gpugrad._creation"
# factories of uninitialised memory: out= of their shape is left as it is (PyTorch's too)
_UNINITIALISED = frozenset(("empty", "empty_strided", "empty_permuted"))
# the joins, whose cast check is cat's own: a TypeError with its text
_JOINS = frozenset(
    "cat concat concatenate stack hstack vstack dstack column_stack row_stack".split()
)


@functools.cache
def _takes_dtype(fn) -> bool:
    try:
        return "dtype" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _dtype_from_out(fn, name: str, kwargs: dict, outs: tuple) -> dict:
    """``kwargs`` with out's dtype as ``dtype=`` where PyTorch computes in it (see above)."""
    factory = getattr(fn, "__module__", "") == _FACTORIES
    if len(outs) != 1 or not (factory or name in _DTYPE_FROM_OUT) or not _takes_dtype(fn):
        return kwargs
    want = outs[0].dtype
    given = kwargs.get("dtype")
    if given is None:
        return {**kwargs, "dtype": want}
    if factory and given is not want:
        raise RuntimeError(
            f"dtype {D.scalar_type_name(given)} does not match dtype of out parameter "
            f"({D.scalar_type_name(want)})"
        )
    return kwargs


def call_with_out(fn, name: str, out, args: tuple, kwargs: dict):
    """``fn(*args, **kwargs)`` written into ``out`` (a Tensor or a tuple of them), which is
    returned; ``name``: the op's name in PyTorch's texts."""
    outs = _outs(fn, name, out)
    if _grad_state.enabled and (
        _requires_grad(args) or _requires_grad(kwargs.values()) or _requires_grad(outs)
    ):
        raise _not_differentiable(name)
    result = fn(*args, **_dtype_from_out(fn, name, kwargs, outs))
    results = _results(name, result, out, outs)
    plans = [_plan(fn, name, o, r) for o, r in zip(outs, results)]
    for _, resized in plans:
        if resized is not None:
            warn(resized)
    for write, _ in plans:
        write()
    if kwargs.get("requires_grad") and getattr(fn, "__module__", "") == _FACTORIES:
        for o in outs:  # a factory's requires_grad=True is out's, as in PyTorch
            o.requires_grad_(True)
    if isinstance(out, Tensor):
        return out
    kind = type(result)
    return kind(*outs) if hasattr(kind, "_fields") else tuple(outs)
