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

F = TypeVar("F", bound=Callable)

try:  # NumPy 2: the error state is a context variable holding an "extobj"
    from numpy._core._ufunc_config import _extobj_contextvar as _STATE
    from numpy._core._ufunc_config import _make_extobj

    _IGNORE = _make_extobj(all="ignore")
except ImportError:  # NumPy 1.x or a later layout: the public (slower) context manager
    _STATE = _IGNORE = None


def quiet(fn: F) -> F:
    """``fn`` running under NumPy's "ignore" error state, the caller's restored on return."""
    if getattr(fn, "_gpugrad_quiet", False):
        return fn
    if _STATE is None:

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with np.errstate(all="ignore"):
                return fn(*args, **kwargs)

    else:
        set_, reset, ignore = _STATE.set, _STATE.reset, _IGNORE

        @functools.wraps(fn)
        def call(*args, **kwargs):
            token = set_(ignore)  # nested (a face calling a face): the same state again
            try:
                return fn(*args, **kwargs)
            finally:
                reset(token)

    call._gpugrad_quiet = True
    return call  # type: ignore[return-value]


# modules whose ops only move values (views, reshapes): no floating-point exception can
# arise, so they skip the scope's cost (~0.3 us a call); the joins among them promote mixed
# dtypes, and a cast can overflow, so they keep it
_NO_ARITHMETIC = frozenset(("gpugrad.ops.shape", "gpugrad.ops.view_inplace"))
_JOINS = frozenset(
    "cat concat concatenate stack hstack vstack dstack column_stack row_stack".split()
)
_WRAPPED: dict[int, Callable] = {}  # one quiet wrapper per function, whichever face shows it


def quiet_namespace(module: ModuleType) -> None:
    """Make the public functions of ``module``'s namespace (a face: ``gpugrad.ops``,
    ``nn.functional``, ``linalg`` ...) quiet where gpugrad defines them. Only the faces are
    wrapped: the ops' calls to each other inside gpugrad stay plain (no wrapper per call)."""
    for name, obj in list(vars(module).items()):
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if not obj.__module__.startswith("gpugrad"):
            continue
        if obj.__module__ in _NO_ARITHMETIC and obj.__name__ not in _JOINS:
            continue
        key = id(obj)
        if key not in _WRAPPED:
            _WRAPPED[key] = quiet(obj)
        setattr(module, name, _WRAPPED[key])
