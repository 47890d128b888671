"""Autocast's state and casts, as the ops consult them: whether a mixed-precision region is on
for a device type, its lower-precision dtype, PyTorch's per-device lists, and the casts
linear / matmul / conv (to the lower dtype) and the losses and normalisations (to float32)
apply to their inputs. ``gpugrad.amp.autocast`` (a layer above) opens and closes regions."""

from __future__ import annotations

import threading

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import counted_flag

_DEVICE_TYPES = ("cpu", "cuda")
# The ops here that PyTorch's lists run in float32 (on the CPU: its losses and prod; softmax
# and the normalisations stay in their inputs' dtype there)
_FP32_OPS = {
    "cpu": frozenset({"cross_entropy", "nll_loss", "mse_loss", "l1_loss", "prod"}),
    "cuda": frozenset(
        {
            "cross_entropy",
            "nll_loss",
            "mse_loss",
            "l1_loss",
            "softmax",
            "log_softmax",
            "layer_norm",
            "group_norm",
            "prod",
        }
    ),
}
# The lower-precision dtypes each device type's autocast takes (PyTorch's CPU takes both;
# gpugrad's CUDA path has no bfloat16)
SUPPORTED_DTYPES = {"cpu": (D.bfloat16, D.float16), "cuda": (D.float16,)}


class _AutocastState(threading.local):
    _autocast = False
    on = counted_flag("autocast")  # any device type enabled in this thread

    def __init__(self) -> None:
        self.enabled = {"cpu": False, "cuda": False}
        self.dtype = {"cpu": D.bfloat16, "cuda": D.float16}  # PyTorch's defaults


_state = _AutocastState()


def _cast(tensors: tuple, dtype: D.dtype) -> tuple:
    np_dtype = dtype.np
    out = []
    for t in tensors:
        if (
            isinstance(t, Tensor)
            and D.is_floating(t._data.dtype)
            and t._data.dtype.itemsize < 8  # float64 is left alone, as in PyTorch
            and t._data.dtype != np_dtype
        ):
            t = t.to(dtype)
        out.append(t)
    return tuple(out)


def _device_type_of(tensors: tuple) -> str:
    return next(t for t in tensors if isinstance(t, Tensor))._device.type


def lower(*tensors):
    """Inputs of a lower-precision op (linear, matmul, conv), cast if autocast is on for
    their device type. Callers check ``active.autocast`` first (cheap)."""
    dev = _device_type_of(tensors)
    if not _state.enabled[dev]:
        return tensors
    return _cast(tensors, _state.dtype[dev])


def fp32(op: str, *tensors):
    """Inputs of an op that autocast runs in float32 on their device type (``op`` names
    it in PyTorch's lists)."""
    dev = _device_type_of(tensors)
    if not _state.enabled[dev] or op not in _FP32_OPS[dev]:
        return tensors
    return _cast(tensors, D.float32)
