"""Warnings that point at the user's line, whatever path inside gpugrad raised them."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` of the innermost frame outside gpugrad, seen from the caller of
    ``warnings.warn``: wrappers (the quiet faces, Tensor methods, modules) add frames, so a
    fixed level would point into gpugrad on some paths."""
    frame = sys._getframe(1)  # the caller of this function
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str | Warning, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the user's code (PyTorch's warnings show the user's
    line, not the library's)."""
    warnings.warn(message, category, stacklevel=user_stacklevel())
