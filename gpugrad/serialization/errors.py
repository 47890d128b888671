"""The errors of loading a checkpoint: each names the file and what is wrong with it."""

from __future__ import annotations

import pickle


class CheckpointError(RuntimeError):
    """A file that is not a readable checkpoint (truncated, corrupted, not a checkpoint, or
    holding what gpugrad cannot load); the message names the file and the reason, and the
    entry at fault where there is one. ``path`` and ``key`` hold the two when known."""

    def __init__(self, message: str, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path, self.key = path, key


class WeightsOnlyError(CheckpointError, pickle.UnpicklingError):
    """A ``weights_only=True`` load refused the file's pickle (PyTorch raises
    ``pickle.UnpicklingError`` here, with the same text)."""
