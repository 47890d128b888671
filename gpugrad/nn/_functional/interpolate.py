"""Transitional re-export, until nn/functional.py imports from ops/ directly."""

from ...ops.interpolate import interpolate  # noqa: F401
