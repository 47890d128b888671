"""Transitional re-export, until nn/functional.py imports from ops/ directly."""

from ...ops.normalization import (  # noqa: F401
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    normalize,
    rms_norm,
)
