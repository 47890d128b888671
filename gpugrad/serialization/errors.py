"""The errors of loading a checkpoint: each names the file and what is wrong with it."""

from __future__ import annotations

import pickle


class CheckpointError(RuntimeError):
    """A file that is not a readable checkpoint (truncated, corrupted, not a checkpoint, or
    holding what gpugrad cannot load); the message names the file and the reason."""


class WeightsOnlyError(CheckpointError, pickle.UnpicklingError):
    """A ``weights_only=True`` load refused the file's pickle (PyTorch raises
    ``pickle.UnpicklingError`` here, with the same text)."""
