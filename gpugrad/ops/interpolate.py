"""interpolate: resize the spatial dims of (N, C, *spatial) by nearest, (bi/tri)linear or
bicubic sampling, one spatial dim at a time (all three are separable), or by area averaging
(adaptive average pooling); a composition of differentiable ops (index_select gathers,
weighted sums), so gradients and devices come for free."""

from __future__ import annotations

import math

from .._tensor import Tensor
from ._checks import float_only
from .indexing import index_select
from .pooling import adaptive_avg_pool1d, adaptive_avg_pool2d

_LINEAR = {"linear": 3, "bilinear": 4, "trilinear": 5}  # mode -> the input's ndim


_NEAREST = ("nearest", "nearest-exact")
_CUBIC_A = -0.75  # PyTorch's (and OpenCV's) bicubic convolution constant


def _src_coords(out: int, inp: int, scale: float, align_corners: bool):
    """Source coordinate of each output position (PyTorch's area_pixel_compute_source_index)."""
    if align_corners:
        step = (inp - 1) / (out - 1) if out > 1 else 0.0
        return [i * step for i in range(out)]
    return [max((i + 0.5) * scale - 0.5, 0.0) for i in range(out)]


def _along(x: Tensor, dim: int, out: int, scale: float, mode: str, align_corners: bool):
    inp = x.shape[dim]
    if mode in _NEAREST:
        half = 0.5 if mode == "nearest-exact" else 0.0
        idx = [min(math.floor((i + half) * scale), inp - 1) for i in range(out)]
        return index_select(x, dim, _ints(x, idx))
    if mode == "bicubic":
        return _cubic_along(x, dim, out, inp, scale, align_corners)
    src = _src_coords(out, inp, scale, align_corners)
    lo = [min(math.floor(s), inp - 1) for s in src]
    hi = [min(i + 1, inp - 1) for i in lo]
    shape = [1] * x.ndim
    shape[dim] = out
    xp = x._device.backend.xp
    w = xp.asarray([s - i for s, i in zip(src, lo)], x._data.dtype).reshape(shape)
    a, b = index_select(x, dim, _ints(x, lo)), index_select(x, dim, _ints(x, hi))
    return a + (b - a) * Tensor._make(w, x._device)


def _cubic_weights(t: float) -> tuple:
    """The four taps' weights at fraction ``t`` (PyTorch's cubic_convolution1/2)."""
    A = _CUBIC_A

    def near(d):  # |d| <= 1
        return ((A + 2) * d - (A + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _cubic_along(x: Tensor, dim: int, out: int, inp: int, scale: float, align_corners: bool):
    # PyTorch's source index for cubic: no clamp at 0; taps floor-1 .. floor+2, each index
    # clamped into the input (the border is repeated)
    if align_corners:
        step = (inp - 1) / (out - 1) if out > 1 else 0.0
        src = [i * step for i in range(out)]
    else:
        src = [(i + 0.5) * scale - 0.5 for i in range(out)]
    base = [math.floor(s) for s in src]
    weights = [_cubic_weights(s - b) for s, b in zip(src, base)]
    shape = [1] * x.ndim
    shape[dim] = out
    xp = x._device.backend.xp
    acc = None
    for k in range(4):
        idx = [min(max(b - 1 + k, 0), inp - 1) for b in base]
        w = xp.asarray([ws[k] for ws in weights], x._data.dtype).reshape(shape)
        term = index_select(x, dim, _ints(x, idx)) * Tensor._make(w, x._device)
        acc = term if acc is None else acc + term
    return acc


def _ints(x: Tensor, values: list) -> Tensor:
    """An int64 index tensor on ``x``'s device."""
    return Tensor._make(x._device.backend.xp.asarray(values, dtype="int64"), x._device)


def _kernel(mode: str, ndim: int) -> str:
    """The CPU kernel PyTorch names when it refuses an integer or bool input."""
    if mode in _NEAREST:
        return (
            "upsample_nearest2d_channels_last" if ndim == 4 else "compute_indices_weights_nearest"
        )
    if mode == "bilinear":
        return "upsample_bilinear2d_channels_last"
    return (
        "compute_indices_weights_cubic" if mode == "bicubic" else "compute_indices_weights_linear"
    )


def _check_sizes(in_sizes, sizes) -> None:
    """PyTorch's refusal of an empty or negative output size (NumPy would give an empty one)."""
    if all(o > 0 for o in sizes) and all(i > 0 for i in in_sizes):
        return
    names = ("D", "H", "W")[3 - len(sizes) :]
    given, wanted = (", ".join(f"{n}: {x}" for n, x in zip(names, v)) for v in (in_sizes, sizes))
    sep = " and" if len(sizes) == 1 else ""  # PyTorch's 1-D text has it, the others not
    raise RuntimeError(
        "Input and output sizes should be greater than 0, but got input "
        f"({given}){sep} output ({wanted})"
    )


# PyTorch's texts for a size / scale_factor list of the wrong length
_LENGTH_TEXTS = (
    ("size", "output", "output size of", "output size in (o1, o2, ...,oK)"),
    ("scale_factor", "scale_factor", "scale_factor of shape", "scale_factor in (s1, s2, ...,sK)"),
)


def interpolate(
    input: Tensor,
    size=None,
    scale_factor=None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize to ``size`` or by ``scale_factor``: modes nearest, nearest-exact, linear (3-D
    input), bilinear and bicubic (4-D), trilinear (5-D), area (3-D / 4-D: adaptive average
    pooling); PyTorch's coordinate rules and errors."""
    n_spatial = input.ndim - 2
    if (mode in _NEAREST or mode == "area") and align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    for given, first, what, form in _LENGTH_TEXTS:
        given = size if given == "size" else scale_factor
        if isinstance(given, (list, tuple)) and len(given) != n_spatial:
            raise ValueError(
                f"Input and {first} must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(input.shape[2:])} and {what} {given}. "
                f"Please provide input tensor in (N, C, d1, d2, ...,dK) format and {form} "
                "format."
            )
    known = mode in _NEAREST or mode in _LINEAR or mode in ("bicubic", "area", "lanczos")
    if input.ndim not in (3, 4, 5) or not known:  # PyTorch's last resort, after its dispatch
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})"
        )
    if mode in _LINEAR and input.ndim != _LINEAR[mode]:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode]}D input"
        )
    if mode == "bicubic" and input.ndim != 4:
        raise NotImplementedError(f"Got {input.ndim}D input, but bicubic mode needs 4D input")
    if mode == "area" and input.ndim not in (3, 4):
        raise NotImplementedError(
            f"interpolate: mode 'area' on {input.ndim}D input is not supported by gpugrad "
            "(3D and 4D are)"
        )
    if mode not in _NEAREST and mode not in _LINEAR and mode not in ("bicubic", "area"):
        raise NotImplementedError(
            f"interpolate: mode '{mode}' is not supported by gpugrad (nearest, nearest-exact, "
            "linear, bilinear, bicubic, trilinear, area are)"
        )
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by gpugrad")
    in_sizes = input.shape[2:]
    if size is not None:
        sizes = [int(size)] * n_spatial if isinstance(size, int) else [int(s) for s in size]
        scales = [i / o for i, o in zip(in_sizes, sizes)]
    else:
        factors = (
            [float(scale_factor)] * n_spatial
            if isinstance(scale_factor, (int, float))
            else [float(f) for f in scale_factor]
        )
        sizes = [int(math.floor(i * f)) for i, f in zip(in_sizes, factors)]
        # PyTorch maps coordinates with 1/scale_factor unless asked to recompute from sizes
        scales = (
            [i / o for i, o in zip(in_sizes, sizes)]
            if recompute_scale_factor
            else [1.0 / f for f in factors]
        )
    if mode == "area":  # the pooling checks the sizes and the dtype
        pool = adaptive_avg_pool1d if n_spatial == 1 else adaptive_avg_pool2d
        return pool(input, sizes[0] if n_spatial == 1 else tuple(sizes))
    _check_sizes(in_sizes, sizes)
    float_only(input, _kernel(mode, input.ndim))
    out = input
    for k, (o, s) in enumerate(zip(sizes, scales)):
        out = _along(out, 2 + k, o, s, mode, bool(align_corners))
    return out
