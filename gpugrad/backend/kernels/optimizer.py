"""Optimizer kernels: in-place multi-tensor parameter updates (SGD, Adam, AdamW)."""

from __future__ import annotations

from .engine import kernel  # noqa: F401  (marks the names below)


class OptimizerKernels:
    """The optimizer names (docs/kernels.md); references written against ``self.xp``."""
