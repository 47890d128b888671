"""The Python values a compiled step can see, probed before and after its recording and
before each replay.

A recording bakes in every Python number the step fed its ops (``loss * SCALE``) and skips
every Python side effect of the step (``n += 1``, ``sched.step()``); neither is visible in the
array calls. What the step function names is visible: its closure variables, the globals its
code reads, its own attributes, and, one level in, the scalars of the plain objects and the
items of the short lists and dicts among them (a config object, a ``[0]`` counter). Those are
probed: a change during the recorded call is a side effect a replay would skip (the step runs
eagerly), a change between calls makes the recording stale (it is recorded again), as
torch.compile's guards on globals and closures do. Functions the step names are followed into
the same way (a user's helper's globals); gpugrad's own are not. Python state reached any
other way (a helper's helper, a generator's position) is not seen.
"""

from __future__ import annotations

import dis
import types
from collections.abc import Callable
from typing import Any

_SCALARS = frozenset((bool, int, float, complex, str, bytes, type(None)))
_SHORT = 16  # a list or dict up to this long is probed item by item (longer: its length)
_DEPTH = 2  # functions followed from the step
_MISSING = object()
_SKIPPED_TYPES = (type, types.ModuleType, types.BuiltinFunctionType, types.MethodWrapperType)


def probe_for(fn: Callable) -> tuple[Callable[[], tuple], list[str]] | None:
    """(a function giving the current values, a label for each) for what ``fn`` can see of
    Python state, or None when it sees none (most steps: a model, an optimizer, a loss)."""
    getters: list[Callable[[], Any]] = []
    labels: list[str] = []
    seen: set[int] = set()
    _function(fn, getters, labels, seen, 0)
    if not getters:
        return None
    if len(getters) == 1:
        (g,) = getters

        def probe() -> tuple:
            return (g(),)
    else:

        def probe() -> tuple:
            return tuple([g() for g in getters])

    return probe, labels


def changed(labels: list[str], before: tuple, after: tuple) -> str | None:
    """The label of the first probed value that differs, or None."""
    for label, a, b in zip(labels, before, after):
        if a != b:
            return label
    return None


def _function(fn, getters: list, labels: list, seen: set, depth: int) -> None:
    if isinstance(fn, types.MethodType):
        _value(fn.__self__, "self", getters, labels, seen, depth)
        fn = fn.__func__
    if not isinstance(fn, types.FunctionType) or id(fn) in seen or _ours(fn):
        return
    seen.add(id(fn))
    name = fn.__name__
    code = fn.__code__
    for var, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            v = cell.cell_contents
        except ValueError:  # not bound yet
            v = _MISSING
        label = f"the closure variable {var!r} of {name}"
        if not isinstance(v, _SKIPPED_TYPES):
            getters.append(_cell_getter(cell))
            labels.append(label)
            _value(v, label, getters, labels, seen, depth)
    g = fn.__globals__
    for var in sorted(_global_names(code)):
        v = g.get(var, _MISSING)
        if v is not _MISSING and not isinstance(v, _SKIPPED_TYPES):
            label = f"the global {var!r} read by {name}"
            getters.append(_item_getter(g, var))
            labels.append(label)
            _value(v, label, getters, labels, seen, depth)
    if fn.__dict__:
        _object(fn, f"an attribute of {name}", getters, labels)


def _value(v, label: str, getters: list, labels: list, seen: set, depth: int) -> None:
    """Probe what lies one level inside ``v`` (its binding is probed by the caller)."""
    t = type(v)
    if t in _SCALARS or v is _MISSING or isinstance(v, _SKIPPED_TYPES):
        return
    if isinstance(v, (types.FunctionType, types.MethodType)):
        if depth < _DEPTH:
            _function(v, getters, labels, seen, depth + 1)
        return
    if id(v) in seen or _ours(v):
        return
    seen.add(id(v))
    if t is list or t is dict:
        getters.append(_container_getter(v))
        labels.append(f"the contents of {label}")
    elif hasattr(v, "__dict__") and not isinstance(v, type):
        _object(v, label, getters, labels)


def _object(v, label: str, getters: list, labels: list) -> None:
    d = v.__dict__
    getters.append(lambda: tuple([(k, x) for k, x in d.items() if type(x) in _SCALARS]))
    labels.append(f"an attribute of {label}")


def _ours(v) -> bool:
    """gpugrad's own objects: modules and optimizers are guarded by their own probes (their
    settings), tensors by the recording, and gpugrad's functions read no user state."""
    mod = getattr(v, "__module__", None) or getattr(type(v), "__module__", "")
    if isinstance(v, types.FunctionType):
        mod = v.__module__ or ""
    else:
        from .._tensor import Tensor
        from ..nn.modules.module import Module
        from ..optim.optimizer import Optimizer

        if isinstance(v, (Tensor, Module, Optimizer)):
            return True
        mod = type(v).__module__ or ""
    return mod == "gpugrad" or mod.startswith("gpugrad.")


def _global_names(code) -> set[str]:
    """The names ``code`` (and the code nested in it: comprehensions, lambdas) reads as
    globals: its LOAD_GLOBAL / LOAD_NAME operands, not its attribute names (``opt.step()``
    must not make a loop's global ``step`` a guard)."""
    names = {
        ins.argval
        for ins in dis.get_instructions(code)
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")
    }
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _cell_getter(cell):
    def get():
        try:
            v = cell.cell_contents
        except ValueError:
            return _MISSING
        return (type(v), v) if type(v) in _SCALARS else id(v)

    return get


def _item_getter(d: dict, key: str):
    def get():
        v = d.get(key, _MISSING)
        return (type(v), v) if type(v) in _SCALARS else id(v)

    return get


def _container_getter(c):
    def get():
        n = len(c)
        if n > _SHORT:
            return n
        items = c.items() if type(c) is dict else enumerate(c)
        return tuple([(k, (type(x), x) if type(x) in _SCALARS else id(x)) for k, x in items])

    return get


__all__ = ["changed", "probe_for"]
