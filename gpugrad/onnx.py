"""``torch.onnx``: enough for training scripts that import it; gpugrad does not export ONNX.

``export`` raises ``OnnxExporterError`` (a RuntimeError, as PyTorch's) saying so, so that a
script that exports at its end still trains; the names such scripts touch on the way
(``is_in_onnx_export``, ``TrainingMode``, ``select_model_mode_for_export``, custom-op
registration) behave as PyTorch's outside an export.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["OnnxExporterError", "export", "is_in_onnx_export"]

producer_name = "gpugrad"
producer_version = "0.1.0"


class OnnxExporterError(RuntimeError):
    """Raised by ``export``: gpugrad has no ONNX exporter."""


class TrainingMode(enum.IntEnum):
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(enum.IntEnum):
    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3


def export(model, args: tuple = (), f=None, *pos, **kwargs) -> None:
    """Not supported: gpugrad does not export ONNX. Export from PyTorch itself (load the
    weights there with ``torch.load`` / safetensors) if you need an ONNX file."""
    raise OnnxExporterError(
        "gpugrad does not export ONNX models (torch.onnx.export is a documented limit); "
        "save the weights with gpugrad.save and export from PyTorch if you need ONNX"
    )


def is_in_onnx_export() -> bool:
    """Whether an ONNX export is running: never, in gpugrad."""
    return False


def register_custom_op_symbolic(
    symbolic_name: str, symbolic_fn: Callable, opset_version: int
) -> None:
    """Accepted and ignored: symbolics only matter to an exporter, which gpugrad lacks."""


def unregister_custom_op_symbolic(symbolic_name: str, opset_version: int) -> None:
    """Accepted and ignored (see ``register_custom_op_symbolic``)."""


@contextlib.contextmanager
def select_model_mode_for_export(model, mode: TrainingMode) -> Iterator[None]:
    """Put ``model`` in the mode an export would use, restoring its own mode afterwards."""
    if not isinstance(mode, TrainingMode):
        raise TypeError(f"'mode' should be a torch.onnx.TrainingMode enum, but got '{type(mode)}'.")
    was_training: Any = getattr(model, "training", None)
    if mode is not TrainingMode.PRESERVE and was_training is not None:
        model.train(mode is TrainingMode.TRAINING)
    try:
        yield
    finally:
        if was_training is not None:
            model.train(was_training)
