"""Transitional re-export, until nn/functional.py imports from ops/ directly."""

from ...ops.embedding import embedding, one_hot  # noqa: F401
