"""PyTorch's ``foreach`` / ``fused`` / ``differentiable`` rules, shared by SGD, Adam and AdamW.

In gpugrad every implementation of a step is the same named kernel (``sgd_step_``,
``adam_step_``) over a list of parameters, so the flags change no result: they are validated
and stored as PyTorch does, ``fused=True`` checks the parameters as PyTorch's fused kernels
do, and ``foreach`` only chooses between the kernel and flat buffers where no compiled kernel
serves the device (optim/adam.py).
"""

from __future__ import annotations

import numpy as np

from .._device import cpu
from .._dtype import float64, get_default_dtype
from .._tensor import Tensor
from ..backend import _cuda_backends

# torch.optim.optimizer._get_fused_kernels_supported_devices(), as its error message lists them
_FUSED_DEVICES = ["mps", "cuda", "xpu", "hpu", "cpu", "mtia", "privateuseone"]


def check_flags(name: str, fused: bool | None, foreach: bool | None, differentiable: bool) -> None:
    """PyTorch's errors for invalid combinations (raised after the param groups are built),
    then gpugrad's own limit: no differentiable steps."""
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError(f"gpugrad's {name} does not support differentiable=True")


def check_fused_param(p: Tensor) -> None:
    """``fused=True`` takes floating-point parameters only (PyTorch's text)."""
    if not (p._device.type in _FUSED_DEVICES and p.dtype.is_floating_point):
        raise RuntimeError(
            "`fused=True` requires all the params to be floating point Tensors of supported "
            f"devices: {_FUSED_DEVICES} but {p.dtype} and {p._device.type}"
        )


def check_capturable(
    p: Tensor,
    foreach: bool | None,
    xla: tuple[bool, bool] = (True, False),
    what: tuple[str, str] = ("params and state_steps", "params and state_steps"),
) -> None:
    """capturable=True (without fused) takes parameters on a GPU only: PyTorch's assertion.
    Its text depends on the optimizer and the path (single-tensor, foreach): ``xla`` says
    whether each path lists 'xla', ``what`` what each names."""
    if p._device.type != "cuda":
        path = 1 if foreach else 0
        devices = ["cuda", "xpu", "hpu", "privateuseone"] + (["xla"] if xla[path] else [])
        raise AssertionError(
            f"If capturable=True, {what[path]} must be on supported devices: {devices}."
        )


def step_counter(p: Tensor, on_device: bool | None) -> Tensor:
    """A new 0-d ``step`` state tensor, where and as PyTorch keeps it: float32 on the
    parameter's device when ``on_device`` (fused or capturable), else on the CPU in float32
    (float64 when that is the default dtype)."""
    if on_device:
        return Tensor._make(p._device.backend.xp.zeros((), np.float32), p._device)
    dt = np.float64 if get_default_dtype() == float64 else np.float32
    return Tensor._make(np.zeros((), dt), cpu)


def next_step(st: dict) -> float:
    """Add one to ``st['step']`` in place (as PyTorch's ``step_t += 1``) and return the new
    count as a Python float."""
    if _cuda_backends and any(b.capturing for b in _cuda_backends.values()):
        # the count is a host number in the step's kernel arguments: a replay would repeat
        # the captured step's bias correction (a wrong update, silently)
        raise RuntimeError(
            "Attempting CUDA graph capture of an optimizer step whose step count is read on "
            "the host (every replay would repeat the captured step's bias correction): for "
            "Adam and AdamW pass capturable=True (the count and the correction then stay on "
            "the GPU); other step-counting optimizers (RMSprop, NAdam ...) cannot be captured "
            "by gpugrad yet: step them outside the graph (make_graphed_callables)."
        )
    t = st["step"]
    if not isinstance(t, Tensor):  # a count loaded as a plain number
        t = st["step"] = Tensor._make(np.asarray(float(t), np.float32), cpu)
    arr = t._data
    flags = getattr(arr, "flags", None)
    if flags is not None and getattr(flags, "writeable", True):
        arr += 1
    else:  # a NumPy scalar or a read-only array (loaded state): a fresh 0-d array
        t._data = arr = t._device.backend.xp.asarray(arr + 1)
    t._vc[0] += 1
    return float(arr)
