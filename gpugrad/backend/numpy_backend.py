"""The CPU backend: NumPy arrays, a PCG64 generator for random numbers."""

from __future__ import annotations

import numpy as np

from .base import ArrayBackend, erf_host


class NumpyBackend(ArrayBackend):
    name = "numpy"

    def __init__(self) -> None:
        from .._device import cpu

        super().__init__(np, cpu)
        self._rng = np.random.Generator(np.random.PCG64())

    def to_host(self, arr):
        return arr

    def scatter_add(self, out, index, values) -> None:
        np.add.at(out, index, values)

    def as_strided(self, arr, shape, strides, writeable: bool = False):
        return np.lib.stride_tricks.as_strided(arr, shape, strides, writeable=writeable)

    def erf(self, x):
        return erf_host(np, x)

    def new_rng(self, seed: int):
        """A generator of this backend's kind (gpugrad.Generator holds one)."""
        return np.random.Generator(np.random.PCG64(seed))

    def seed(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def rand(self, shape, dtype, rng=None):
        rng = rng or self._rng
        if dtype == np.float16:
            return rng.random(shape, dtype=np.float32).astype(np.float16)
        return rng.random(shape, dtype=dtype)

    def randn(self, shape, dtype, rng=None):
        rng = rng or self._rng
        if dtype == np.float16:
            return rng.standard_normal(shape, dtype=np.float32).astype(np.float16)
        return rng.standard_normal(shape, dtype=dtype)

    def randint(self, low, high, shape, dtype, rng=None):
        rng = rng or self._rng
        return rng.integers(low, high, shape, dtype=np.int64).astype(dtype, copy=False)

    def randperm(self, n, dtype, rng=None):
        rng = rng or self._rng
        return rng.permutation(n).astype(dtype, copy=False)


# NumPy scalar types: what a reduction or ufunc on 0-d data returns instead of an array
SCALAR_TYPES = frozenset(
    np.dtype(c).type
    for c in ("?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "e", "f", "d", "g")
)


def as_array(data):
    """NumPy turns 0-d results into scalars (np.float32 ...); tensors always hold arrays."""
    return np.asarray(data) if isinstance(data, np.generic) else data
