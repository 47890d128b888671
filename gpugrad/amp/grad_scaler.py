"""``GradScaler``: loss scaling for float16 training, as ``torch.amp.GradScaler``.

``scale(loss)`` multiplies the loss by the scale, so small float16 gradients do not flush
to zero; ``step(optimizer)`` divides the gradients back (``unscale_``) and skips the update
when any is inf or NaN; ``update()`` halves the scale after such a step and doubles it after
``growth_interval`` clean ones.
"""

from __future__ import annotations

from typing import Any

from .. import _warn
from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..backend import cuda_status


class GradScaler:
    """Dynamic loss scaling; disabled (every method a pass-through) when ``enabled=False``
    or when ``device`` is ``cuda`` and no GPU is usable (with PyTorch's warning)."""

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = device
        self._enabled = enabled
        if enabled and device == "cuda":
            if cuda_status()[0] == 0:  # gpugrad.cuda.is_available(), from the backend
                _warn.warn(
                    "torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling."
                )
                self._enabled = False
        if growth_factor <= 1.0:
            raise ValueError("The growth factor must be > 1.0.")
        if backoff_factor >= 1.0:
            raise ValueError("The backoff factor must be < 1.0.")
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict] = {}

    # ---- scaling ----------------------------------------------------------------------
    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        """``outputs`` (a tensor, or nested lists/tuples of them) times the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": "ready", "found_inf": 0})

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place; note any inf/NaN."""
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st["stage"] == "unscaled":
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        if st["stage"] == "stepped":
            raise RuntimeError("unscale_() is being called after step().")
        grads = [
            p._grad
            for group in optimizer.param_groups
            for p in group["params"]
            if p._grad is not None
        ]
        for g in grads:
            if g._data.dtype.itemsize < 4:
                raise ValueError("Attempting to unscale FP16 gradients.")
        inv = 1.0 / self._scale
        checks: dict = {}  # device -> per-gradient "all finite" flags, still on the device
        with no_grad():
            for g in grads:
                g.mul_(inv)
                checks.setdefault(g._device, []).append(
                    g._device.backend.xp.isfinite(g._data).all()
                )
        # one host round trip per device, not one per parameter
        found = any(not bool(d.backend.xp.stack(c).all()) for d, c in checks.items())
        st["found_inf"] = int(found)
        st["stage"] = "unscaled"

    def step(self, optimizer, *args: Any, **kwargs: Any):
        """``optimizer.step()`` unless the unscaled gradients hold an inf or NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        st = self._state(optimizer)
        if st["stage"] == "stepped":
            raise RuntimeError("step() has already been called since the last update().")
        if st["stage"] == "ready":
            self.unscale_(optimizer)
        out = None if st["found_inf"] else optimizer.step(*args, **kwargs)
        st["stage"] = "stepped"
        return out

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Adjust the scale for the next iteration (or set it to ``new_scale``)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            found = [st["found_inf"] for st in self._per_optimizer.values()]
            if not found:
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(found):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer = {}

    # ---- settings and state ----------------------------------------------------------
    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled "
                "instance of GradScaler."
            )
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
