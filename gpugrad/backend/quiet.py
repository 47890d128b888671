"""Silent IEEE edge cases at the public API, as PyTorch's ops are silent.

NumPy warns (or raises, under ``-W error``) for x / 0, log(0), inf - inf and overflow, where
PyTorch returns inf or NaN without a word. Rather than each op remembering to ask, every public
op runs its array work under NumPy's "ignore" error state, set once at the outermost call and
restored on return, so the user's own NumPy code keeps its warnings; the backward engine does
the same once per pass. CuPy never warns; the state costs it nothing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

import numpy as np

from .._out_names import OUT_NAMES

F = TypeVar("F", bound=Callable)

try:  # NumPy 2: the error state is a context variable holding an "extobj"
    from numpy._core._ufunc_config import _extobj_contextvar as _STATE
    from numpy._core._ufunc_config import _make_extobj

    _IGNORE = _make_extobj(all="ignore")
except ImportError:  # NumPy 1.x or a later layout: the public (slower) context manager
    _STATE = _IGNORE = None


# Set by the op layer (ops/_arguments.py): (fn, name, skip, args, kwargs, exc) -> the
# TypeError PyTorch raises for a non-Tensor where ``fn`` takes a Tensor (or a None where it
# takes a Number), or None. Called only when an AttributeError or TypeError leaves the op: the
# normal path pays for the ``try`` alone.
_explain: Callable | None = None


class ArgumentTypeError(TypeError):
    """An op's own refusal of an argument's type (``obj``: the value), raised with a text
    that cannot name the argument; the faces' wrapper names it, as PyTorch's parser does."""

    name = ""

    def __init__(self, obj, message: str) -> None:
        super().__init__(message)
        self.obj = obj


# what the wrappers look into (an ``except`` clause costs nothing until something is raised):
# a lookup on the wrong object, an op's own refusal, and the TypeError of arithmetic on a None
# (``alpha * other`` with alpha=None), which the explanation only rewrites where a None sits
# in a parameter that does not take one
_CAUGHT = (AttributeError, TypeError)


# Set by gpugrad/__init__.py (gpugrad.ops.out_argument.call_with_out): (fn, name, out, args,
# kwargs) -> ``fn(*args, **kwargs)`` written into ``out``. The backend may not import the op
# layer, and the faces are built while it loads; the hook is read only when a call has out=.
_write_out: Callable | None = None


def set_out_argument(write: Callable) -> None:
    """Install the op layer's ``out=`` writer (see ``_write_out``)."""
    global _write_out
    _write_out = write


def _with_out(fn, name: str, args, kwargs):
    """``fn``'s call whose ``kwargs`` hold ``out``: written into it (``out=None``: no out)."""
    given = kwargs.pop("out")
    if given is None:
        return fn(*args, **kwargs)
    if _write_out is None:  # only while gpugrad itself is importing
        raise RuntimeError(f"{name}(): out= is not available before gpugrad is imported")
    return _write_out(fn, name, given, args, kwargs)


def set_argument_check(explain: Callable) -> None:
    """Install the op layer's explanation of an argument's failure (see ``_explain``)."""
    global _explain
    _explain = explain


def _reraise(fn, name: str, skip: int, args, kwargs, exc: Exception) -> None:
    """Raise PyTorch's TypeError for the argument that is not a Tensor, if one is the cause;
    return (the caller re-raises ``exc`` unchanged) where none is: a real bug."""
    err = None if _explain is None else _explain(fn, name, skip, args, kwargs, exc)
    if err is not None:
        raise err from exc


def unwrapped(fn: Callable) -> Callable:
    """The op inside a face's wrapper (``fn`` itself where it has none)."""
    wrapped = getattr(fn, "_gpugrad_quiet", False) or getattr(fn, "_gpugrad_checked", False)
    return fn.__wrapped__ if wrapped else fn


def quiet(
    fn: F, *, name: str | None = None, method: bool = False, check: bool = True, out: bool = False
) -> F:
    """``fn`` running under NumPy's "ignore" error state, the caller's restored on return;
    a non-Tensor where it takes a Tensor raises PyTorch's TypeError naming the argument, as
    ``name()`` (``fn``'s own name by default), counted as a method's (``method``: self is not
    position 1); ``out``: it takes PyTorch's ``out=`` (gpugrad.ops.out_argument), which ``fn``
    does not. Given a face's wrapper, the new one wraps the same op: never two scopes."""
    if getattr(fn, "_gpugrad_quiet", False) and name is None and not method and check:
        if out == getattr(fn, "_gpugrad_out", False):
            return fn
    fn = unwrapped(fn)
    shown, skip = name or fn.__name__, int(method)
    # the plain path pays one test of ``out`` (a face without it) or of ``kwargs`` (empty in
    # most calls)
    if _STATE is None:

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with np.errstate(all="ignore"):
                try:
                    if out and kwargs and "out" in kwargs:
                        return _with_out(fn, shown, args, kwargs)
                    return fn(*args, **kwargs)
                except _CAUGHT as e:
                    if check:
                        _reraise(fn, shown, skip, args, kwargs, e)
                    raise

    elif check:
        set_, reset, ignore = _STATE.set, _STATE.reset, _IGNORE

        @functools.wraps(fn)
        def call(*args, **kwargs):
            token = set_(ignore)  # nested (a face calling a face): the same state again
            try:
                if out and kwargs and "out" in kwargs:
                    return _with_out(fn, shown, args, kwargs)
                return fn(*args, **kwargs)
            except _CAUGHT as e:
                _reraise(fn, shown, skip, args, kwargs, e)
                raise
            finally:
                reset(token)

    else:
        set_, reset, ignore = _STATE.set, _STATE.reset, _IGNORE

        @functools.wraps(fn)
        def call(*args, **kwargs):
            token = set_(ignore)
            try:
                if out and kwargs and "out" in kwargs:
                    return _with_out(fn, shown, args, kwargs)
                return fn(*args, **kwargs)
            finally:
                reset(token)

    call._gpugrad_quiet = True
    call._gpugrad_out = out
    return call  # type: ignore[return-value]


def checked(fn: F, *, name: str | None = None, method: bool = False, out: bool = False) -> F:
    """``fn`` with ``quiet``'s argument check but not its error state: for ops that only move
    values (a view, a reshape), where no floating-point exception can arise; ``out`` as
    ``quiet``'s."""
    fn = unwrapped(fn)
    shown, skip = name or fn.__name__, int(method)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            if out and kwargs and "out" in kwargs:
                return _with_out(fn, shown, args, kwargs)
            return fn(*args, **kwargs)
        except _CAUGHT as e:
            _reraise(fn, shown, skip, args, kwargs, e)
            raise

    call._gpugrad_checked = True
    call._gpugrad_out = out
    return call  # type: ignore[return-value]


def as_method(fn: F, name: str | None = None) -> F:
    """The Tensor-method face of a face's op (``Tensor.add`` from ``gpugrad.add``): the same
    single wrapper, its argument positions counted after self (a plain function gets the
    check alone)."""
    if getattr(fn, "_gpugrad_quiet", False):
        return quiet(fn, name=name, method=True)
    return checked(fn, name=name, method=True)


# modules whose ops only move values (views, reshapes): no floating-point exception can
# arise, so they skip the scope's cost (~0.3 us a call); the joins among them promote mixed
# dtypes, and a cast can overflow, so they keep it
_NO_ARITHMETIC = frozenset(("gpugrad.ops.shape", "gpugrad.ops.view_inplace"))
_JOINS = frozenset(
    "cat concat concatenate stack hstack vstack dstack column_stack row_stack".split()
)
_WRAPPED: dict[tuple, Callable] = {}  # one wrapper per function and face style


def quiet_namespace(
    module: ModuleType, *, prefix: str = "", unchecked=frozenset(), own: bool = False
) -> None:
    """Make the public functions of ``module``'s namespace (a face: ``gpugrad.ops``,
    ``nn.functional``, ``linalg`` ...) quiet where gpugrad defines them. Only the faces are
    wrapped: the ops' calls to each other inside gpugrad stay plain (no wrapper per call).
    ``prefix``: PyTorch's prefix of the op's name in its argument errors (``linalg_``);
    ``unchecked``: names whose AttributeError on a None argument goes on unchanged, as in
    PyTorch, whose Python implementation touches the argument first (F.softmax: "'NoneType'
    object has no attribute 'dim'"); ``own``: the module is an op file serving as a face
    (inplace, convert): only the functions it defines, not the helpers it imports (wrapped,
    its own calls to them would each pay a wrapper and name the helper in errors). The
    functions of OUT_FACES' namespaces that PyTorch's take out= on take it here too."""
    outs = OUT_NAMES[OUT_FACES[module.__name__]] if module.__name__ in OUT_FACES else ()
    for name, obj in list(vars(module).items()):
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if not obj.__module__.startswith("gpugrad"):
            continue
        if own and obj.__module__ != module.__name__:
            continue
        key = (id(obj), prefix, name, name in unchecked, name in outs and not _takes_out(obj))
        if key not in _WRAPPED:
            _WRAPPED[key] = _face(obj, prefix + name, key[3], key[4])
        setattr(module, name, _WRAPPED[key])


# the faces of torch's namespaces whose functions take out= (gpugrad/_out_names.py: which do);
# gpugrad's top-level functions defined outside gpugrad.ops get theirs from ``install_out``
OUT_FACES = {
    "gpugrad.ops": "torch",
    "gpugrad.linalg": "torch.linalg",
    "gpugrad.special": "torch.special",
}


def _takes_out(fn: Callable) -> bool:
    """Whether the op writes ``out=`` itself (left as it is)."""
    try:
        return "out" in inspect.signature(unwrapped(fn)).parameters
    except (TypeError, ValueError):
        return False


def install_out(namespace: dict, torch_namespace: str = "torch") -> None:
    """Give each function of ``namespace`` (a module's globals) that PyTorch's
    ``torch_namespace`` takes out= on, and that does not take it yet, a face that does: the
    face it has, rebuilt with out=, or a quiet one for a plain function; one that writes
    out= itself keeps its own."""
    for name in OUT_NAMES[torch_namespace]:
        obj = namespace.get(name)
        if not inspect.isfunction(obj) or getattr(obj, "_gpugrad_out", False):
            continue
        if _takes_out(obj):
            continue
        if getattr(obj, "_gpugrad_checked", False):
            namespace[name] = checked(obj, name=name, out=True)
        else:
            namespace[name] = quiet(obj, name=name, out=True)


def _face(obj: Callable, name: str, unchecked: bool, out: bool) -> Callable:
    base = unwrapped(obj)
    if base.__module__ in _NO_ARITHMETIC and base.__name__ not in _JOINS:
        if unchecked and not out:
            return base
        return checked(base, name=name, out=out)
    return quiet(base, name=name, check=not unchecked, out=out)
