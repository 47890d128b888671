"""Silent IEEE edge cases at the public API, as PyTorch's ops are silent.

NumPy warns (or raises, under ``-W error``) for x / 0, log(0), inf - inf and overflow, where
PyTorch returns inf or NaN without a word. Rather than each op remembering to ask, every public
op runs its array work under NumPy's "ignore" error state, set once at the outermost call and
restored on return, so the user's own NumPy code keeps its warnings. CuPy never warns; the
state costs it nothing.
"""

from __future__ import annotations

import functools
import inspect
import sys
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
    """``fn`` running under NumPy's "ignore" error state (nested calls pay one lookup)."""
    if getattr(fn, "_gpugrad_quiet", False):
        return fn
    if _STATE is None:

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with np.errstate(all="ignore"):
                return fn(*args, **kwargs)

    else:
        get, set_, reset, ignore = _STATE.get, _STATE.set, _STATE.reset, _IGNORE

        @functools.wraps(fn)
        def call(*args, **kwargs):
            if get() is ignore:  # inside another public op, or a backward pass
                return fn(*args, **kwargs)
            token = set_(ignore)
            try:
                return fn(*args, **kwargs)
            finally:
                reset(token)

    call._gpugrad_quiet = True
    return call  # type: ignore[return-value]


def quiet_package(package: ModuleType) -> None:
    """Make every public function defined in ``package`` and its imported submodules quiet,
    in each of their namespaces (re-exports included, one wrapper per function), so every face
    that imports them afterwards (``gpugrad.x``, Tensor methods, ``nn.functional``) and the
    modules' own calls get the quiet ones."""
    prefix = package.__name__
    modules = [m for n, m in list(sys.modules.items()) if n == prefix or n.startswith(prefix + ".")]
    wrapped: dict[int, Callable] = {}
    for module in modules:
        for name, obj in list(vars(module).items()):
            if (
                name.startswith("_")
                or not inspect.isfunction(obj)
                or not (obj.__module__ == prefix or obj.__module__.startswith(prefix + "."))
            ):
                continue
            if id(obj) not in wrapped:
                wrapped[id(obj)] = quiet(obj)
            setattr(module, name, wrapped[id(obj)])
