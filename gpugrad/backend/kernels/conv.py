"""Convolution kernels: the patch gathers (im2col) and scatters (col2im) that feed the GEMMs.

Layouts, for a convolution over ``d`` spatial dims (d = 1, 2 or 3):

- ``x`` is (N, C, *spatial) of any strides; ``kernel_size``, ``stride``, ``dilation`` are
  d-tuples of positive ints; ``padding`` is a d-tuple of ``(low, high)`` zero paddings.
- ``cols`` is (N, C * prod(kernel_size), prod(out)), C-ordered: sample ``n``, row
  ``(c, k_1, ..., k_d)``, column ``(o_1, ..., o_d)``, where ``out_i = (spatial_i + low_i +
  high_i - dilation_i * (kernel_i - 1) - 1) // stride_i + 1``. Batch-major, so each sample's
  GEMM ``W @ cols[n]`` writes its (O, prod(out)) slab of an NCHW output in place (no
  transpose), and F.unfold's (N, C*prod(k), L) is ``cols`` itself. Channels lead the rows so
  that groups are a reshape to (N, G, C/G * prod(kernel_size), prod(out)).
- ``out``, where given, is a C-contiguous array of the result's shape and dtype that the
  kernel writes and returns (a buffer reused across calls: a fresh multi-megabyte result
  costs its page faults on every call).
"""

from __future__ import annotations

import itertools
import math

from .engine import kernel


def conv_out_shape(spatial, kernel_size, stride, padding, dilation) -> tuple[int, ...]:
    """The output's spatial shape of a convolution (the formula in the module docstring)."""
    return tuple(
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, k, st, (lo, hi), d in zip(spatial, kernel_size, stride, padding, dilation)
    )


class ConvKernels:
    """The conv names (docs/kernels.md); references written against ``self.xp``."""

    @kernel
    def im2col(self, x, kernel_size, stride, padding, dilation, out=None):
        """Patches of zero-padded ``x`` as the (N, C*prod(k), prod(out)) GEMM operand."""
        xp = self.xp
        n, c = x.shape[:2]
        nd = len(kernel_size)
        o = conv_out_shape(x.shape[2:], kernel_size, stride, padding, dilation)
        if any(lo or hi for lo, hi in padding):
            x = xp.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in padding))
        s = x.strides
        # (N, C, *k, *o) is already the result's order: one gathering copy
        win = self.as_strided(
            x,
            (n, c) + tuple(kernel_size) + o,
            s[:2]
            + tuple(s[2 + i] * dilation[i] for i in range(nd))
            + tuple(s[2 + i] * stride[i] for i in range(nd)),
        )
        shape = (n, c * math.prod(kernel_size), math.prod(o))
        if out is None:
            return xp.ascontiguousarray(win).reshape(shape)
        xp.copyto(out.reshape(win.shape), win)
        return out

    @kernel
    def col2im(self, cols, input_shape, kernel_size, stride, padding, dilation, out=None):
        """The adjoint of im2col: patch gradients summed back into an (N, C, *spatial) array."""
        xp = self.xp
        n, c = input_shape[:2]
        spatial = tuple(input_shape[2:])
        o = conv_out_shape(spatial, kernel_size, stride, padding, dilation)
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, padding))
        img = xp.zeros((n, c) + padded, dtype=cols.dtype)
        cols = cols.reshape((n, c) + tuple(kernel_size) + o)
        # One strided add of a whole image slab per kernel offset (prod(kernel_size) steps);
        # no window (a 0 in o) adds nothing, and its slices would wrap.
        for offs in itertools.product(*(range(k) for k in kernel_size)) if all(o) else ():
            dst = (slice(None), slice(None)) + tuple(
                slice(j * dilation[i], j * dilation[i] + stride[i] * (o[i] - 1) + 1, stride[i])
                for i, j in enumerate(offs)
            )
            img[dst] += cols[(slice(None), slice(None)) + offs]  # (N, C, *o)
        keep = (slice(None), slice(None)) + tuple(
            slice(lo, lo + s) for s, (lo, _) in zip(spatial, padding)
        )
        if out is None:
            return xp.ascontiguousarray(img[keep])
        out[...] = img[keep]
        return out
