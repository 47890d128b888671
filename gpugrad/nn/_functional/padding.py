"""Transitional re-export, until nn/functional.py imports from ops/ directly."""

from ...ops.padding import pad  # noqa: F401
