"""The CPU backend: NumPy arrays, a PCG64 generator for random numbers."""

from __future__ import annotations

import numpy as np

from .base import (
    ArrayBackend,
    digamma_host,
    erf_host,
    erfinv_host,
    gammainc_host,
    lgamma_host,
    polygamma_host,
)

_UNSIGNED = {1: np.dtype("u1"), 2: np.dtype("u2"), 4: np.dtype("u4"), 8: np.dtype("u8")}
_SIGNED = {2: np.dtype("i2"), 4: np.dtype("i4"), 8: np.dtype("i8")}


try:  # NumPy 2's floating-point error state: a context variable holding an "extobj"
    from numpy._core._ufunc_config import _extobj_contextvar as _ERRSTATE
    from numpy._core._ufunc_config import _make_extobj

    _IGNORE = _make_extobj(all="ignore")
except ImportError:  # NumPy 1.x, or a later layout: the public (slower) context manager
    _ERRSTATE = _IGNORE = None


class NumpyBackend(ArrayBackend):
    name = "numpy"

    def __init__(self) -> None:
        from .._device import cpu

        if _ERRSTATE is None:
            self.quiet = _quiet_errstate

        super().__init__(np, cpu)
        self._rng = np.random.Generator(np.random.PCG64())
        self.sum = np.add.reduce  # same call as ArrayBackend.sum, without a Python frame
        self.amax = np.maximum.reduce
        self.matmul = np.matmul
        from .numba_kernels import ENGINE

        ENGINE.bind(self)  # last: the engine's dispatchers wrap the NumPy kernels set above

    def _shared_arange(self, n: int):
        a = np.arange(n)
        a.flags.writeable = False  # shared by every caller of arange_cached
        return a

    def ones(self, shape, dtype):
        # np.ones is a Python function; a loss's 0-d seed gradient needs none of it
        return np.array(1, dtype) if shape == () else np.ones(shape, dtype)

    def index_top(self, arr) -> int:
        return int(np.maximum.reduce(arr.view(_UNSIGNED[arr.dtype.itemsize]), None))

    def minmax(self, arr) -> tuple:
        return int(np.minimum.reduce(arr, None)), int(np.maximum.reduce(arr, None))

    def to_host(self, arr):
        return arr

    def scatter_add(self, out, index, values) -> None:
        np.add.at(out, index, values)

    def as_strided(self, arr, shape, strides, writeable: bool = False):
        return np.lib.stride_tricks.as_strided(arr, shape, strides, writeable=writeable)

    def erf(self, x):
        return erf_host(np, x)

    def quiet(self, fn, *args):
        # np.errstate costs ~0.8 us per use (a Python context object built each time); the
        # context variable it sets, with the "ignore" state made once, costs a fraction
        token = _ERRSTATE.set(_IGNORE)
        try:
            return fn(*args)
        finally:
            _ERRSTATE.reset(token)

    def sparse_module(self):
        try:
            import scipy.sparse
        except ImportError:
            raise RuntimeError(
                "sparse tensors on the CPU need SciPy: pip install 'gpugrad[sparse]' (scipy)"
            ) from None
        return scipy.sparse

    def lgamma(self, x):
        return lgamma_host(np, x)

    def digamma(self, x):
        return digamma_host(np, x)

    def polygamma(self, n: int, x):
        return polygamma_host(np, n, x)

    def erfinv(self, x):
        return erfinv_host(np, x)

    def gammainc(self, a, x, upper: bool = False):
        return gammainc_host(np, a, x, upper)

    def cum_extreme(self, arr, axis: int, largest: bool):
        return (np.maximum if largest else np.minimum).accumulate(arr, axis=axis)

    def threshold_backward(self, grad, x):  # the catalogue's reference, on NumPy
        # where() branches per element: on a random mask it is ~8x slower from a few
        # thousand elements on. Multiplying the gradient's bits, read as integers, by the
        # 0/1 mask is one branch-free call and exact: a masked position is +0 (as PyTorch
        # gives) even for a NaN or inf gradient, which a float multiply would keep.
        # The mask is "not x <= 0", PyTorch's test, so a NaN x passes its gradient.
        ints = _SIGNED.get(grad.dtype.itemsize)
        if ints is None or grad.dtype.kind != "f":
            return np.where(x <= 0, 0, grad)  # a Python 0 keeps grad's dtype
        keep = np.less_equal(x, 0)
        np.logical_not(keep, out=keep)
        return np.multiply(grad.view(ints), keep, dtype=ints).view(grad.dtype)

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

    def standard_gamma(self, alpha, rng=None):
        rng = rng or self._rng
        if alpha.dtype in (np.float32, np.float64):
            return rng.standard_gamma(alpha, dtype=alpha.dtype)
        return rng.standard_gamma(alpha.astype(np.float64)).astype(alpha.dtype)

    def poisson(self, rate, rng=None):
        rng = rng or self._rng
        return rng.poisson(rate).astype(rate.dtype)

    def binomial(self, count, prob, rng=None):
        rng = rng or self._rng
        return rng.binomial(count.astype(np.int64), prob).astype(prob.dtype)


def _quiet_errstate(fn, *args):
    with np.errstate(all="ignore"):
        return fn(*args)


# NumPy scalar types: what a reduction or ufunc on 0-d data returns instead of an array
SCALAR_TYPES = frozenset(
    np.dtype(c).type
    for c in ("?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "e", "f", "d", "g")
)


def as_array(data):
    """NumPy turns 0-d results into scalars (np.float32 ...); tensors always hold arrays."""
    return np.asarray(data) if isinstance(data, np.generic) else data
