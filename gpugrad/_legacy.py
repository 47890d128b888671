"""PyTorch's legacy constructors: ``Tensor(2, 3)``, ``Tensor([1, 2])``, ``FloatTensor(...)``,
``LongTensor(...)``, ``isinstance(t, LongTensor)`` and ``t.type(DoubleTensor)``.

Old code and many custom layers still write ``nn.Parameter(torch.Tensor(out, in))``; new code
should use ``gpugrad.tensor`` / ``gpugrad.empty``.
"""

from __future__ import annotations

from typing import Any

from . import _dtype as D
from ._device import device as Device


def legacy_new(args: tuple, dtype: D.dtype, device: Any = None):
    """``Tensor(*sizes)`` (uninitialized), ``Tensor(data)`` (a copy in ``dtype``) or
    ``Tensor(tensor)`` (an alias), as PyTorch's ``torch.Tensor.__new__``."""
    from . import _creation
    from ._tensor import Size, Tensor

    if len(args) == 1 and isinstance(args[0], Tensor):
        t = args[0]
        if device is not None and Device(device) != t._device:
            raise RuntimeError(
                f"Attempted to create a tensor on {Device(device)} from one on {t._device}"
            )
        if t.dtype != dtype:
            raise TypeError(f"expected {dtype} (got {t.dtype})")
        return t.view(t.shape)
    if all(type(a) is int for a in args) or (len(args) == 1 and type(args[0]) is Size):
        size = tuple(args[0]) if args and type(args[0]) is Size else args
        return _creation.empty(size or (0,), dtype=dtype, device=device)  # (): 1-d, empty
    if len(args) != 1:
        raise TypeError(
            "new(): expected sizes as ints or one object to copy, got "
            f"({', '.join(type(a).__name__ for a in args)})"
        )
    return _creation.tensor(args[0], dtype=dtype, device=device)


class _TypedMeta(type):
    """``isinstance(t, gpugrad.LongTensor)``: a CPU tensor of that dtype, as in PyTorch."""

    def __instancecheck__(cls, obj: object) -> bool:
        from ._tensor import Tensor

        return isinstance(obj, Tensor) and obj.device.type == "cpu" and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        return f"<class '{D.PRINTED_MODULE}.{cls.__name__}'>"


def _typed(name: str, dtype: D.dtype) -> type:
    def __new__(cls, *args: Any, device: Any = None):  # noqa: N807 - the class's own
        return legacy_new(args, cls.dtype, device)

    doc = f"``{name}(*sizes)`` or ``{name}(data)``: a CPU tensor of dtype {dtype}."
    return _TypedMeta(name, (), {"__new__": __new__, "dtype": dtype, "__doc__": doc})


FloatTensor = _typed("FloatTensor", D.float32)
DoubleTensor = _typed("DoubleTensor", D.float64)
HalfTensor = _typed("HalfTensor", D.float16)
BFloat16Tensor = _typed("BFloat16Tensor", D.bfloat16)
LongTensor = _typed("LongTensor", D.int64)
IntTensor = _typed("IntTensor", D.int32)
BoolTensor = _typed("BoolTensor", D.bool_)

_BY_NAME = {
    c.__name__: c
    for c in (
        FloatTensor,
        DoubleTensor,
        HalfTensor,
        BFloat16Tensor,
        LongTensor,
        IntTensor,
        BoolTensor,
    )
}


def resolve_type(spec: Any) -> tuple[D.dtype, str] | None:
    """(dtype, device type) for ``Tensor.type(spec)``: a legacy class or its name as a string
    (``"torch.cuda.FloatTensor"``); None for anything else (a dtype)."""
    if isinstance(spec, _TypedMeta):
        return spec.dtype, "cpu"
    if isinstance(spec, type) and getattr(spec, "_legacy_device", None) == "cuda":
        return spec.dtype, "cuda"  # gpugrad.cuda.FloatTensor ... (that layer is above this one)
    if isinstance(spec, str):
        parts = spec.split(".")
        cls = _BY_NAME.get(parts[-1])
        if cls is None or parts[0] not in ("torch", "gpugrad") or len(parts) > 3:
            raise ValueError(f"invalid type: '{spec}'")
        return cls.dtype, "cuda" if len(parts) == 3 and parts[1] == "cuda" else "cpu"
    return None
