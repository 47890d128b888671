"""Transitional re-export, until nn/functional.py imports from ops/ directly."""

from ...ops.conv import fold, unfold  # noqa: F401
