"""``gpugrad.finfo`` / ``gpugrad.iinfo``: the numerical limits of a dtype, as PyTorch's."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from . import _dtype as D


class finfo:  # noqa: N801 - PyTorch's name
    """Limits of a floating dtype (the default dtype when none is given)."""

    def __init__(self, type: D.dtype | None = None) -> None:  # noqa: A002 - PyTorch's name
        dt = D.get_default_dtype() if type is None else type
        if not isinstance(dt, D.dtype) or not dt.is_floating_point:
            raise TypeError(
                "torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                "'torch.finfo'"
            )
        f = ml_dtypes.finfo(dt.np) if dt is D.bfloat16 else np.finfo(dt.np)
        self.bits = int(f.bits)
        self.eps, self.max, self.min = float(f.eps), float(f.max), float(f.min)
        self.tiny = self.smallest_normal = float(f.smallest_normal)
        self.resolution = 10.0 ** -int(f.precision)  # PyTorch: 1e-06, not float32(1e-06)
        self.dtype = dt.name

    def __repr__(self) -> str:
        fields = ("resolution", "min", "max", "eps", "smallest_normal", "tiny")
        body = ", ".join(f"{k}={getattr(self, k):g}" for k in fields)
        return f"finfo({body}, dtype={self.dtype})"


class iinfo:  # noqa: N801 - PyTorch's name
    """Limits of an integer dtype."""

    def __init__(self, type: D.dtype) -> None:  # noqa: A002 - PyTorch's name
        if not isinstance(type, D.dtype) or type.is_floating_point or type.np == np.bool_:
            raise TypeError(
                "torch.iinfo() requires an integer input type. Use torch.finfo to handle "
                "'torch.iinfo'"
            )
        i = np.iinfo(type.np)
        self.bits, self.max, self.min, self.dtype = int(i.bits), int(i.max), int(i.min), type.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"
