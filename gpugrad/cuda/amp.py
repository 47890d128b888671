"""``gpugrad.cuda.amp``: PyTorch's older spellings of ``gpugrad.amp`` for ``cuda``
(``from torch.cuda.amp import autocast, GradScaler`` in older training scripts)."""

from __future__ import annotations

from .. import _warn
from .. import amp as _amp

__all__ = ["GradScaler", "autocast"]


def autocast(enabled: bool = True, dtype=None, cache_enabled: bool = True):
    _warn.warn(
        "`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
        "`torch.amp.autocast('cuda', args...)` instead.",
        FutureWarning,
    )
    return _amp.autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def GradScaler(*args, **kwargs):  # noqa: N802 - PyTorch's name
    _warn.warn(
        "`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use "
        "`torch.amp.GradScaler('cuda', args...)` instead.",
        FutureWarning,
    )
    return _amp.GradScaler("cuda", *args, **kwargs)
