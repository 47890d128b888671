"""The CPU backend: NumPy arrays, a PCG64 generator for random numbers."""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .base import (
    ArrayBackend,
    digamma_host,
    erf_host,
    erfc_host,
    erfinv_host,
    gammainc_host,
    lgamma_host,
    polygamma_host,
)
from .kernels.elementwise import BINARY, COMPOSITE, UNARY
from .kernels.engine import kernel_names
from .quiet import _IGNORE  # NumPy's error state, shared with the faces' scope
from .quiet import _STATE as _ERRSTATE  # (None on NumPy 1.x: np.errstate instead)

_UNSIGNED = {1: np.dtype("u1"), 2: np.dtype("u2"), 4: np.dtype("u4"), 8: np.dtype("u8")}
_SIGNED = {2: np.dtype("i2"), 4: np.dtype("i4"), 8: np.dtype("i8")}


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
        self.amin = np.minimum.reduce
        self.matmul = np.matmul
        for name, fn in (*UNARY.items(), *BINARY.items()):
            setattr(self, name, getattr(np, fn))  # the ufunc itself: no Python frame per op
        # bfloat16 first, so the engine's dispatchers fall back to these: bfloat16 never
        # satisfies a compiled kernel's predicate, and its float32 call then can
        for name in kernel_names(type(self)):
            if name in _STEPWISE:
                continue
            setattr(self, name, _bfloat16_in_float32(self, name, getattr(self, name)))
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

    def erfc(self, x):
        return erfc_host(np, x)

    def quiet(self, fn, *args):
        # np.errstate costs ~0.8 us per use (a Python context object built each time); the
        # context variable it sets, with the "ignore" state made once, costs a fraction
        if _ERRSTATE.get() is _IGNORE:  # inside a public op or a backward pass already
            return fn(*args)
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
        # Below ~1500 elements where() is the faster one (two calls instead of three).
        ints = _SIGNED.get(grad.dtype.itemsize)
        if ints is None or grad.size <= 1024 or not D.is_floating(grad.dtype):
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
        if dtype == np.float16 or dtype == _BF16:
            return rng.random(shape, dtype=np.float32).astype(dtype)
        return rng.random(shape, dtype=dtype)

    def randn(self, shape, dtype, rng=None):
        rng = rng or self._rng
        if dtype == np.float16 or dtype == _BF16:
            return rng.standard_normal(shape, dtype=np.float32).astype(dtype)
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
        return np.asarray(rng.poisson(rate)).astype(rate.dtype)  # a 0-d rate: a Python int

    def binomial(self, count, prob, rng=None):
        rng = rng or self._rng
        return rng.binomial(count.astype(np.int64), prob).astype(prob.dtype)


_BF16 = D.BFLOAT16_NP
_F32 = np.dtype(np.float32)
# Outputs that stay float32 for bfloat16 inputs, as the contract keeps saved statistics
_FLOAT32_OUTPUTS = {
    "layer_norm": (1, 2),
    "rms_norm": (1,),
    "group_norm": (1, 2),
    "cross_entropy": (1,),
    "sdpa": (1,),
}
# PyTorch composes these of bfloat16 steps (logsumexp: amax, exp, a float32-accumulated sum,
# log, add, each rounded): the reference's steps on bfloat16 arrays are the same ones
# names whose bfloat16 arrays go to the reference as they are: logsumexp's steps; the
# elementwise names, whose ufuncs compute bfloat16 through float32 per element already
_STEPWISE = frozenset(("logsumexp", "logsumexp_backward", *UNARY, *BINARY, *COMPOSITE))


def _bfloat16_in_float32(backend, name: str, reference):
    """The kernel ``name`` for bfloat16 arrays: its arguments widened to float32, the float32
    kernel run (compiled where the engine has one), float32 results rounded back to bfloat16
    once, as PyTorch's CPU kernels compute bfloat16 (ml_dtypes has no BLAS matmul, sums in
    bfloat16, and rounds every step of a composite). Other dtypes call ``reference`` as is.

    Only the first argument is looked at (each kernel's primary array, or the list of them
    for the optimizer steps): the op layer has promoted the operands to one dtype already.
    """
    keep = _FLOAT32_OUTPUTS.get(name, ())
    in_place = name.endswith("_")

    def wide(*args, **kwargs):
        into = kwargs.pop("out", None)  # im2col / col2im: the result written into out=
        copies = [_widened(a) for a in args]
        out = getattr(backend, name)(*copies, **{k: _widened(v) for k, v in kwargs.items()})
        if in_place:  # the optimizer steps: write the float32 results back, rounded once
            for orig, w in zip(args, copies):
                _write_back(orig, w)
            return out
        if isinstance(out, tuple):
            return tuple(o if i in keep else _narrowed(o) for i, o in enumerate(out))
        out = _narrowed(out)
        if into is None:
            return out
        into[...] = out
        return into

    # the hottest names get a fixed signature: *args/**kwargs cost ~0.5 us a call here
    if name == "matmul":

        def kernel(a, b):
            if a.dtype is not _BF16:
                return reference(a, b)
            return wide(a, b)
    elif name in ("sum", "amax", "amin", "argmax", "argmin"):

        def kernel(x, axis, keepdims=False):
            if x.dtype is not _BF16:
                return reference(x, axis, keepdims=keepdims)
            return wide(x, axis, keepdims=keepdims)
    else:

        def kernel(x, *args, **kwargs):
            dt = getattr(x, "dtype", None)
            if dt is not _BF16 and (
                dt is not None or type(x) is not list or not x or x[0].dtype is not _BF16
            ):
                return reference(x, *args, **kwargs)
            return wide(x, *args, **kwargs)

    kernel.__name__ = name
    kernel.__doc__ = reference.__doc__
    return kernel


def _widened(a):
    if getattr(a, "dtype", None) is _BF16:
        return a.astype(_F32)
    if type(a) is list and a and getattr(a[0], "dtype", None) is _BF16:
        return [v.astype(_F32) for v in a]
    return a


def _narrowed(o):
    return o.astype(_BF16) if getattr(o, "dtype", None) is _F32 else o


def _write_back(orig, wide) -> None:
    if orig is wide:
        return
    if type(orig) is list:
        for o, w in zip(orig, wide):
            _write_back(o, w)
    elif getattr(orig, "dtype", None) is _BF16 and orig.flags.writeable:
        orig[...] = wide


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
