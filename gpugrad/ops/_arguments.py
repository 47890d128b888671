"""PyTorch's TypeError for a non-Tensor where an op takes a Tensor (or a None where it takes a
Number), found after the fact.

An op given ``None`` (or a list, a NumPy array ...) for a Tensor argument fails on its first
``input._data``: an AttributeError that names gpugrad's internals; given ``alpha=None``, on
``alpha * other``: a TypeError about operand types. PyTorch's argument parser raises
``TypeError: add(): argument 'other' (position 2) must be Tensor, not NoneType`` (``... 'alpha'
must be Number, not NoneType``) instead. Checking every argument up front would cost every
call; the faces' wrapper (gpugrad.backend.quiet) calls ``not_a_tensor`` only when an
AttributeError or TypeError leaves the op, and it finds the argument whose value is the object
that lacked the attribute among the op's Tensor parameters (annotated ``Tensor``, not
optional), or, for a TypeError naming NoneType, the None given to a Tensor or Number parameter
that does not take None. Where none is, the exception is a real bug (or the op's own
refusal) and goes on unchanged.
"""

from __future__ import annotations

import inspect
from functools import cache

from .._tensor import Tensor
from ..backend.quiet import ArgumentTypeError

_SEQUENCES = (list, tuple)


_NUMBERS = ("float", "Number", "complex")


def _number_kind(p, ann: str) -> str | None:
    """What PyTorch's parser calls a scalar parameter that does not take None ("Number",
    "int", "bool"), from its annotation or, unannotated, its default; None for any other."""
    if p.default is None or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
        return None
    if ann:
        if "None" in ann or "Optional" in ann or "Tensor" in ann:
            return None
        if any(n in ann for n in _NUMBERS):
            return "Number"
        return ann if ann in ("int", "bool") else None
    d = p.default
    if isinstance(d, bool):
        return "bool"
    return "Number" if isinstance(d, (int, float)) else None


@cache
def _slots(fn) -> tuple:
    """``fn``'s parameters as (name, kind, tensor, sequence, number) in order: ``tensor``
    where the annotation takes a Tensor and not None (an unannotated required parameter
    counts too); ``sequence`` where it takes Tensors in a list or as ``*tensors``; ``number``:
    PyTorch's name for a scalar parameter that does not take None, else None."""
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
        out.append((p.name, p.kind, takes, seq, None if takes else _number_kind(p, ann)))
    return tuple(out)


def _type(v) -> str:
    return type(v).__name__


def _bad_object(exc: Exception, name: str):
    """(the object an exception leaving op ``name`` blames, whether a Number slot may hold
    it), or None where the exception blames no argument."""
    if isinstance(exc, AttributeError):
        # raised by hand, not by a lookup: nothing says which object lacked it
        return None if exc.name is None else (exc.obj, False)
    if isinstance(exc, ArgumentTypeError):
        return exc.obj, False
    text = str(exc)
    # arithmetic on a None (or an inner op's refusal of it: ``input * alpha`` names mul's
    # 'other'), not this op's own PyTorch-style refusal, which already names the argument
    if "NoneType" in text and not text.startswith(f"{name}(") and "invalid combination" not in text:
        return None, True
    return None


def not_a_tensor(fn, name: str, skip: int, args: tuple, kwargs: dict, exc: Exception):
    """PyTorch's TypeError for the argument of ``fn`` (shown as ``name``) that is the object
    ``exc`` blames (the one an AttributeError found lacking an attribute, the one an op
    refused, the None a TypeError met), or None where no Tensor (or, for a None, Number)
    parameter holds it. ``skip``: leading positional arguments PyTorch does not count (a
    method's self)."""
    found = _bad_object(exc, name)
    if found is None:
        return None
    bad, numbers = found
    if isinstance(bad, Tensor):
        return None
    pos = 0
    for pname, kind, takes, seq, number in _slots(fn):
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
            if numbers and number is not None and value is None:
                return TypeError(
                    f"{name}(): argument '{pname}'{where} must be {number}, not NoneType"
                )
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
    return any(slot[2] for slot in _slots(fn)[1:])
