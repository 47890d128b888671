"""Autocast's state and casts, as the ops consult them: whether a mixed-precision region is on
for a device type, its lower-precision dtype, PyTorch's per-device lists, and the casts
linear / matmul / conv (to the lower dtype) and the losses and normalisations (to float32)
apply to their inputs. ``gpugrad.amp.autocast`` (a layer above) opens and closes regions."""

from __future__ import annotations

import threading

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import counted_flag
from ..autograd.grad_mode import state as _grad_state

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
        self.depth = 0  # nested regions open; the cache is emptied when the last one closes
        self.cache_enabled = True
        # (id(weight), dtype) -> (weight, its version when cast, the low-precision copy)
        self.cache: dict = {}


_state = _AutocastState()


def _cast(tensors: tuple, dtype: D.dtype, cache: bool = False) -> tuple:
    np_dtype = dtype.np
    out = []
    for t in tensors:
        if _castable(t) and t._data.dtype != np_dtype:
            t = _cached_cast(t, dtype) if cache else t.to(dtype)
        out.append(t)
    return tuple(out)


def _castable(t) -> bool:
    """A floating Tensor autocast may cast (float64 is left alone, as in PyTorch)."""
    return isinstance(t, Tensor) and D.is_floating(t._data.dtype) and t._data.dtype.itemsize < 8


def _cached_cast(t: Tensor, dtype: D.dtype) -> Tensor:
    """The low-precision copy of a float32 leaf that requires grad (a weight), made once per
    region as PyTorch's cache does: a weight used by several ops (an RNN's steps, tied
    embeddings) is cast once and its gradient gathered through one ToCopyBackward0. Unlike
    PyTorch's, the cache is keyed by the target dtype too and an in-place change of the weight
    (its version) casts it again, so a stale copy is never used."""
    if not (
        _state.cache_enabled
        and _state.depth
        and t._requires_grad
        and t._grad_fn is None
        and t._data.dtype == D.float32.np
        and _grad_state.enabled
    ):
        return t.to(dtype)
    key = (id(t), dtype)
    hit = _state.cache.get(key)
    version = t._vc[0]
    if hit is not None and hit[0] is t and hit[1] == version:
        return hit[2]
    low = t.to(dtype)
    _state.cache[key] = (t, version, low)  # holds t: its id is not reused while cached
    return low


def clear_cache() -> None:
    """Forget every cached low-precision copy (PyTorch's ``torch.clear_autocast_cache``)."""
    _state.cache.clear()


def _device_type_of(tensors: tuple) -> str:
    return next(t for t in tensors if isinstance(t, Tensor))._device.type


def lower(*tensors):
    """Inputs of a lower-precision op (linear, matmul, conv), cast if autocast is on for
    their device type. Callers check ``active.autocast`` first (cheap)."""
    dev = _device_type_of(tensors)
    if not _state.enabled[dev]:
        return tensors
    return _cast(tensors, _state.dtype[dev], cache=True)


def casts(*tensors) -> bool:
    """Whether ``lower`` would cast these floating inputs to one dtype (mixed-dtype inputs of
    a lower-precision op are then no error)."""
    dev = _device_type_of(tensors)
    return _state.enabled[dev] and all(map(_castable, tensors))


def fp32(op: str, *tensors):
    """Inputs of an op that autocast runs in float32 on their device type (``op`` names
    it in PyTorch's lists)."""
    dev = _device_type_of(tensors)
    if not _state.enabled[dev] or op not in _FP32_OPS[dev]:
        return tensors
    return _cast(tensors, D.float32)
