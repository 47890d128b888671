"""Transitional re-export, until nn/functional.py imports from ops/ directly."""

from ...ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle  # noqa: F401
