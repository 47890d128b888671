"""Transitional re-export, until nn/functional.py imports from ops/ directly."""

from ...ops.attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: F401
