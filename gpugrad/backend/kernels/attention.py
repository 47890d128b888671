"""Attention kernels: scaled dot-product attention forward and backward."""

from __future__ import annotations

from .engine import kernel  # noqa: F401  (marks the names below)


class AttentionKernels:
    """The attention names (docs/kernels.md); references written against ``self.xp``."""
