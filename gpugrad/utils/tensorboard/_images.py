"""Image layout for summaries: any of NCHW / CHW / HWC / HW ... to HWC, batches as a grid."""

from __future__ import annotations

import numpy as np


def make_grid(images: np.ndarray, ncols: int = 8) -> np.ndarray:
    """N1HW or N3HW images tiled into one 3HW canvas, ``ncols`` per row."""
    if images.shape[1] == 1:
        images = np.concatenate([images, images, images], 1)
    if images.ndim != 4 or images.shape[1] != 3:
        raise AssertionError("Input should be a 4D numpy array with 3 channels")
    n, _, h, w = images.shape
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    canvas = np.zeros((3, h * nrows, w * ncols), dtype=images.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h : (y + 1) * h, x * w : (x + 1) * w] = images[i]
    return canvas


def convert_to_HWC(tensor: np.ndarray, input_format: str) -> np.ndarray:  # noqa: N802
    """``tensor`` laid out as ``input_format`` -> height x width x channels (grey as RGB)."""
    if len(set(input_format)) != len(input_format):
        raise AssertionError(
            f"You can not use the same dimension shorthand twice. input_format: {input_format}"
        )
    if len(tensor.shape) != len(input_format):
        raise AssertionError(
            "size of input tensor and input format are different. tensor shape: "
            f"{tensor.shape}, input_format: {input_format}"
        )
    fmt = input_format.upper()
    if len(fmt) == 4:
        nchw = tensor.transpose([fmt.find(c) for c in "NCHW"])
        return make_grid(nchw).transpose(1, 2, 0)
    if len(fmt) == 3:
        hwc = tensor.transpose([fmt.find(c) for c in "HWC"])
        return np.concatenate([hwc] * 3, 2) if hwc.shape[2] == 1 else hwc
    hw = tensor.transpose([fmt.find(c) for c in "HW"])
    return np.stack([hw, hw, hw], 2)
