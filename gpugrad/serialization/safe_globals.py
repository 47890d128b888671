"""The user's allowlist for ``weights_only`` loads (PyTorch's ``torch.serialization``
``add_safe_globals`` / ``safe_globals`` / ``get_safe_globals`` / ``clear_safe_globals``).

A checkpoint names each class or function by its full path ``{module}.{qualname}``; an entry
is the object itself (its own path is used) or ``(object, "full.path")`` for a checkpoint that
names it differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SafeGlobal = Callable | tuple[Callable, str]

_marked: set = set()


def add_safe_globals(safe_globals: list[SafeGlobal]) -> None:
    """Mark classes/functions as safe for ``weights_only`` loads: they may be called,
    instantiated and have their state set while unpickling."""
    global _marked
    _marked = _marked | set(safe_globals)


def get_safe_globals() -> list[SafeGlobal]:
    """The user-added globals that are safe for ``weights_only`` loads."""
    return list(_marked)


def clear_safe_globals() -> None:
    """Forget every user-added safe global."""
    global _marked
    _marked = set()


def _remove(safe_globals: list[SafeGlobal]) -> None:
    global _marked
    _marked = _marked - set(safe_globals)


class safe_globals:  # noqa: N801 - PyTorch's name
    """Context manager: the given globals are safe for ``weights_only`` loads inside it."""

    def __init__(self, safe_globals: list[SafeGlobal]) -> None:
        self.safe_globals = safe_globals

    def __enter__(self) -> None:
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc: Any) -> None:
        _remove(self.safe_globals)


def user_allowed() -> dict[str, Any]:
    """Full path -> object for every user-added global (PyTorch's checks and messages)."""
    out: dict[str, Any] = {}
    for f in _marked:
        if isinstance(f, tuple):
            if len(f) != 2:
                raise ValueError(
                    "Expected tuple of length 2 (global, str of callable full path), but got "
                    f"tuple of length: {len(f)}"
                )
            if type(f[1]) is not str:
                raise TypeError(
                    "Expected second item in tuple to be str of callable full path, but got: "
                    f"{type(f[1])}"
                )
            out[f[1]] = f[0]
        else:
            out[f"{f.__module__}.{f.__qualname__}"] = f
    return out
