"""Text rendering of tensor values, matching PyTorch's ``repr(tensor)`` character for character.

The rules follow ``torch/_tensor_str.py``: one formatter (width, fixed/scientific/integer
mode) is chosen from the values that will actually be shown, rows are wrapped at
``linewidth``, large tensors are summarized with ``...``, and trailing keyword suffixes
(``dtype=...``, ``grad_fn=...``) move onto their own line when the last line gets too long.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _dtype as D

__all__ = ["format_tensor", "get_printoptions", "set_printoptions"]


@dataclasses.dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


_OPTS = _PrintOptions()

_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set printing options, like ``torch.set_printoptions``.

    ``profile`` ("default", "short" or "full") is applied first, then the explicit options.
    As in PyTorch, ``sci_mode`` is always assigned, so leaving it out restores automatic
    choice of scientific notation.
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(
                f"unknown print profile {profile!r}; expected one of {list(_PROFILES)}"
            )
        for name, value in _PROFILES[profile].items():
            setattr(_OPTS, name, value)
    if precision is not None:
        _OPTS.precision = precision
    if threshold is not None:
        _OPTS.threshold = threshold
    if edgeitems is not None:
        _OPTS.edgeitems = edgeitems
    if linewidth is not None:
        _OPTS.linewidth = linewidth
    _OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """Return the current options as a dict that can be passed back to ``set_printoptions``."""
    return dataclasses.asdict(_OPTS)


class _Formatter:
    """Formats scalars with one common width, chosen from a sample of the shown values."""

    def __init__(self, sample: np.ndarray) -> None:
        self.floating = D.is_floating(sample.dtype)
        self.int_mode = True  # floats that are all whole numbers print as "1." etc.
        self.sci_mode = False
        self.width = 1
        precision = _OPTS.precision

        if not self.floating:
            for value in sample.ravel().tolist():
                self.width = max(self.width, len(str(value)))
            return

        # Only nonzero finite values decide the mode; compute in float64 as torch does, since
        # float16 would overflow at 1e8.
        flat = sample.ravel().astype(np.float64)
        values = flat[np.isfinite(flat) & (flat != 0)]
        if values.size == 0:
            return
        magnitudes = np.abs(values)
        smallest, largest = float(magnitudes.min()), float(magnitudes.max())
        self.int_mode = bool(np.all(values == np.ceil(values)))
        if _OPTS.sci_mode is None:
            self.sci_mode = largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4
        else:
            self.sci_mode = _OPTS.sci_mode

        for value in values.tolist():
            if self.sci_mode:
                text = f"{value:.{precision}e}"
            elif self.int_mode:
                text = f"{value:.0f}."
            else:
                text = f"{value:.{precision}f}"
            self.width = max(self.width, len(text))

    def format(self, value: float | int | bool) -> str:
        """Format one Python scalar, left-padded to the common width."""
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{_OPTS.precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            if math.isfinite(value):
                text += "."  # marks the tensor as floating point; torch leaves nan/inf bare
        else:
            text = f"{value:.{_OPTS.precision}f}"
        # Non-finite values were not measured, so they may be wider than `width` (no padding).
        return text.rjust(self.width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """Keep only the leading and trailing ``edgeitems`` along every long axis.

    These are exactly the elements a summarized print shows, so the formatter is fitted
    to them alone (as torch does).
    """
    edge = _OPTS.edgeitems
    keep = []
    for n in values.shape:
        if n > 2 * edge:
            keep.append(np.r_[0:edge, n - edge : n])
        else:
            keep.append(np.arange(n))
    return values[np.ix_(*keep)] if values.ndim else values


def _render(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    """Render the bracketed body; ``indent`` is the column where the opening '[' sits."""
    if values.ndim == 0:
        return fmt.format(values.item())

    edge = _OPTS.edgeitems
    n = values.shape[0]
    elide = summarize and n > 2 * edge
    head, tail = range(edge), range(n - edge, n)

    if values.ndim == 1:
        if summarize and not edge:
            items = ["..."]
        elif elide:
            items = [fmt.format(values[i].item()) for i in head] + [" ..."]
            items += [fmt.format(values[i].item()) for i in tail]
        else:
            items = [fmt.format(v) for v in values.tolist()]
        # Each item takes its width plus ", "; the " ..." marker counts as an item too.
        per_line = max(1, math.floor((_OPTS.linewidth - indent) / (fmt.width + 2)))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"

    if elide:
        rows = [_render(values[i], indent + 1, summarize, fmt) for i in head] + ["..."]
        rows += [_render(values[i], indent + 1, summarize, fmt) for i in tail]
    else:
        rows = [_render(values[i], indent + 1, summarize, fmt) for i in range(n)]
    # Higher-dimensional blocks are separated by (ndim - 1) newlines, i.e. blank lines.
    separator = "," + "\n" * (values.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(rows) + "]"


def _add_suffixes(text: str, suffixes: Sequence[str], indent: int) -> str:
    """Append ", suffix" items and the closing ')', wrapping onto new lines like torch."""
    parts = [text]
    # Deliberately 2 more than the true last-line length: torch computes it this way.
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def format_tensor(values: np.ndarray, suffixes: Sequence[str] = (), prefix: str = "tensor(") -> str:
    """Return ``prefix + values + suffixes + ")"`` exactly as ``repr`` of a torch tensor would.

    ``values`` is a host NumPy array (bfloat16, float16/32/64, signed/unsigned ints or bool,
    any shape).
    ``suffixes`` are preformatted keyword items such as ``"dtype=gpugrad.float64"`` or
    ``"grad_fn=<MulBackward0>"``, in torch's order (device, dtype, grad_fn/requires_grad).
    A ``size=(...)`` suffix is added here when torch would add one (empty tensors that are
    not 1-D, or ``edgeitems == 0``); it is placed after any leading ``device=`` suffix.
    Note that torch also shows ``dtype=`` for *empty* tensors of any non-default dtype
    (int64 and bool included); that choice is left to the caller.
    """
    values = np.asarray(values)
    if values.dtype == D.BFLOAT16_NP:  # exact in float32, which NumPy's printing knows
        values = values.astype(np.float32)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"cannot format tensor values of dtype {values.dtype}")
    indent = len(prefix)
    size_suffix = "size=" + str(tuple(int(n) for n in values.shape))

    extra: list[str] = []
    if values.size == 0:
        body = "[]"
        if values.ndim != 1:  # "[]" alone cannot tell (0,) from (2, 0) etc.
            extra.append(size_suffix)
    else:
        if not _OPTS.edgeitems:  # nothing but "..." is shown, so the shape is spelled out
            extra.append(size_suffix)
        summarize = values.size > _OPTS.threshold
        fmt = _Formatter(_summarized(values) if summarize else values)
        body = _render(values, indent, summarize, fmt)

    ordered = list(suffixes)
    at = 0
    while at < len(ordered) and ordered[at].startswith("device="):
        at += 1
    ordered[at:at] = extra
    return _add_suffixes(prefix + body, ordered, indent)
