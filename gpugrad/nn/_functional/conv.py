"""Transitional re-export, until nn/functional.py imports from ops/ directly."""

from ...ops.conv import conv1d, conv2d, conv_transpose2d  # noqa: F401
