"""Normalization kernels: layer_norm, rms_norm and group_norm, forward and backward."""

from __future__ import annotations

from .engine import kernel  # noqa: F401  (marks the names below)


class NormalizationKernels:
    """The normalization names (docs/kernels.md); references written against ``self.xp``."""
