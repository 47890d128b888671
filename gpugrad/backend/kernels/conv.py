"""Convolution kernels: the patch gathers (im2col) and scatters (col2im) that feed the GEMMs."""

from __future__ import annotations

from .engine import kernel  # noqa: F401  (marks the names below)


class ConvKernels:
    """The conv names (docs/kernels.md); references written against ``self.xp``."""
