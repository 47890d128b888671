"""PyTorch's TypeError for a non-Tensor where an op takes a Tensor, found after the fact.

An op given ``None`` (or a list, a NumPy array ...) for a Tensor argument fails on its first
``input._data``: an AttributeError that names gpugrad's internals. PyTorch's argument parser
raises ``TypeError: add(): argument 'other' (position 2) must be Tensor, not NoneType``
instead. Checking every argument up front would cost every call; the faces' wrapper
(gpugrad.backend.quiet) calls ``not_a_tensor`` only when an AttributeError leaves the op, and
it finds the argument whose value is the object that lacked the attribute among the op's
Tensor parameters (annotated ``Tensor``, not optional). Where none is, the AttributeError is a
real bug and goes on unchanged.
"""

from __future__ import annotations

import inspect
from functools import cache

from .._tensor import Tensor

_SEQUENCES = (list, tuple)


@cache
def _slots(fn) -> tuple:
    """``fn``'s parameters as (name, kind, tensor, sequence) in order: ``tensor`` where the
    annotation takes a Tensor and not None (an unannotated required parameter counts too);
    ``sequence`` where it takes Tensors in a list or as ``*tensors``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return ()
    out = []
    for p in params:
        ann = p.annotation
        if ann is p.empty:  # unannotated: a Tensor only where one is required (not *sizes)
            takes, ann = p.default is p.empty and p.kind is not p.VAR_POSITIONAL, ""
        else:
            ann = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
            takes = "Tensor" in ann and "None" not in ann and "Optional" not in ann
            takes = takes and p.default is not None
        seq = takes and (p.kind is p.VAR_POSITIONAL or not ann or "Tensor]" in ann or "...]" in ann)
        out.append((p.name, p.kind, takes, seq))
    return tuple(out)


def _type(v) -> str:
    return type(v).__name__


def not_a_tensor(fn, name: str, skip: int, args: tuple, kwargs: dict, exc: AttributeError):
    """PyTorch's TypeError for the argument of ``fn`` (shown as ``name``) that is the object
    ``exc`` found lacking an attribute, or None where no Tensor parameter holds it. ``skip``:
    leading positional arguments PyTorch does not count (a method's self)."""
    if exc.name is None:  # raised by hand, not by a lookup: nothing says which object lacked it
        return None
    bad = exc.obj
    if isinstance(bad, Tensor):
        return None
    pos = 0
    for pname, kind, takes, seq in _slots(fn):
        if kind is inspect.Parameter.VAR_POSITIONAL:
            values, pos = args[pos:], len(args)
            if takes and len(values) == 1 and isinstance(values[0], _SEQUENCES):
                values = values[0]  # broadcast_tensors([a, b]) as broadcast_tensors(a, b)
            if takes:
                err = _in_sequence(name, values, bad, 0)
                if err is not None:
                    return err
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if pos < len(args) and kind is not inspect.Parameter.KEYWORD_ONLY:
            value, where, pos = args[pos], f" (position {pos + 1 - skip})", pos + 1
            index = pos - 1 - skip
        elif pname in kwargs:
            value, where, index = kwargs[pname], "", None
        else:
            continue
        if not takes:
            continue
        if value is bad:
            return TypeError(
                f"{name}(): argument '{pname}'{where} must be Tensor, not {_type(value)}"
            )
        if seq and isinstance(value, _SEQUENCES):
            err = _in_sequence(name, value, bad, index or 0)
            if err is not None:
                return err
    return None


def _in_sequence(name: str, values, bad, index: int):
    for j, v in enumerate(values):
        if v is bad:
            return TypeError(
                f"expected Tensor as element {j} in argument {index}, but got {_type(v)}"
            )
    return None


def takes_tensor_after_self(fn) -> bool:
    """Whether ``fn`` takes a Tensor besides its first argument (as a method: besides self),
    so its method face needs the check; self alone is always a Tensor."""
    return any(takes for _, _, takes, _ in _slots(fn)[1:])
