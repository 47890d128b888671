"""``autocast``: mixed precision regions, as ``torch.autocast``.

Inside ``autocast(device_type, dtype)``, ops on that device type cast their floating
inputs (float64 excepted) by PyTorch's lists:

- to ``dtype`` (lower precision): linear, matmul / mm / bmm / ``@``, conv1d, conv2d,
  conv_transpose2d. On a GPU, float16 matmuls run on the tensor cores.
- to float32: cross_entropy, nll_loss, mse_loss, l1_loss, prod; on ``cuda`` also softmax,
  log_softmax, layer_norm and group_norm.

``dtype`` defaults to PyTorch's: bfloat16 on ``cpu`` (float16 is taken too), float16 on
``cuda`` (gpugrad's CUDA path has no bfloat16).

Every other op runs in its inputs' dtype (PyTorch's type promotion for mixed ones). The casts
are ordinary differentiable ``to()`` calls, so float32 parameters get float32 gradients.
Run ``backward()`` outside the region, as PyTorch recommends.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .. import _warn
from ..autograd.grad_mode import _DecoratorContextManager
from ..backend import cuda_status
from ..ops._autocast import _DEVICE_TYPES, SUPPORTED_DTYPES, _state, clear_cache


def _device_type(device_type: str) -> str:
    if not isinstance(device_type, str):
        raise ValueError(
            f"Expected `device_type` of type `str`, got: `{type(device_type).__name__}`"
        )
    if device_type not in _DEVICE_TYPES:
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
    return device_type


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is on for ``device_type`` (``cuda`` when not given, as PyTorch)."""
    return _state.enabled[_device_type(device_type or "cuda")]


def get_autocast_dtype(device_type: str) -> D.dtype:
    """The lower precision dtype autocast uses on ``device_type``."""
    return _state.dtype[_device_type(device_type)]


def clear_autocast_cache() -> None:
    """Drop autocast's cached low-precision copies of weights (made once per region)."""
    clear_cache()


def is_autocast_cache_enabled() -> bool:
    return _state.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    """Whether autocast caches each weight's low-precision copy within a region."""
    _state.cache_enabled = bool(enabled)


def is_autocast_available(device_type: str) -> bool:
    return device_type in _DEVICE_TYPES


class autocast(_DecoratorContextManager):  # noqa: N801 - PyTorch's name
    """Run the block (or decorated function) in mixed precision on ``device_type``."""

    def __init__(
        self,
        device_type: str,
        dtype: D.dtype | None = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ) -> None:
        self.device = _device_type(device_type)
        self._cache_enabled = cache_enabled
        # no dtype: the enclosing region's, else the device's default (PyTorch's: bfloat16 on
        # the CPU, float16 on CUDA)
        self.fast_dtype = dtype if dtype is not None else _state.dtype[self.device]
        self._enabled = bool(enabled)
        if not self._enabled:
            return
        if self.device == "cuda":
            if cuda_status()[0] == 0:  # gpugrad.cuda.is_available(), from the backend
                _warn.warn("CUDA is not available or torch_xla is imported. Disabling autocast.")
                self._enabled = False
                return
        supported = SUPPORTED_DTYPES[self.device]
        if self.fast_dtype not in supported:
            names = ", ".join(f"{D.PRINTED_MODULE}.{d.name}" for d in supported)
            why = " (gpugrad's CUDA path has no bfloat16)" if self.device == "cuda" else ""
            _warn.warn(
                f"In {self.device.upper()} autocast, "
                "but the target dtype is not supported. Disabling autocast.\n"
                f"{self.device.upper()} Autocast only supports dtypes of {names} currently"
                f"{why}."
            )
            self._enabled = False

    def __enter__(self) -> None:
        d = self.device
        self._prev = (_state.enabled[d], _state.dtype[d], _state.cache_enabled)
        _state.enabled[d] = self._enabled
        if self._enabled:
            _state.dtype[d] = self.fast_dtype
        if self._cache_enabled is not None:
            _state.cache_enabled = bool(self._cache_enabled)
        _state.depth += 1
        _state.on = any(_state.enabled.values())

    def __exit__(self, *exc: Any) -> None:
        d = self.device
        _state.enabled[d], _state.dtype[d], _state.cache_enabled = self._prev
        _state.depth -= 1
        if _state.depth == 0:  # the outermost region closed: its copies go (PyTorch's rule)
            clear_cache()
        _state.on = any(_state.enabled.values())

    def clone(self):
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        return out
