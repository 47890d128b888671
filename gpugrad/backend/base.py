"""What every array backend offers: its array module and the named kernels ops need."""

from __future__ import annotations

import math

from .kernels import kernel
from .kernels.attention import AttentionKernels
from .kernels.conv import ConvKernels
from .kernels.elementwise import ElementwiseKernels
from .kernels.normalization import NormalizationKernels
from .kernels.optimizer import OptimizerKernels
from .kernels.pointwise import PointwiseKernels
from .kernels.reduction import ReductionKernels
from .kernels.rows import RowKernels


class ArrayBackend(
    ElementwiseKernels,
    PointwiseKernels,
    RowKernels,
    ReductionKernels,
    NormalizationKernels,
    AttentionKernels,
    OptimizerKernels,
    ConvKernels,
):
    """Kernels written once against an array module ``xp`` (NumPy and CuPy share most of it).

    Subclasses override only where the two libraries differ. The catalogue's named kernels
    (``backend/kernels/``) come in through the concept mixins; a device's kernel engine
    replaces some of them with compiled ones when the backend binds it.
    """

    name = "base"
    # whether the calling thread is capturing a CUDA graph here (only a CUDA backend can)
    capturing = False
    # whether reading an array's value on the host waits for the device: kernels then skip
    # their read-back shortcuts (a free check on the CPU is a sync on a GPU)
    reads_wait = False

    def __init__(self, xp, dev) -> None:
        self.xp = xp
        self.device = dev
        self._rng = None
        self._aranges: dict = {}
        self.index_checks = IndexChecks(self)

    # ---- moving data -------------------------------------------------------------
    def asarray(self, data, dtype=None):
        """Host data (lists, scalars, NumPy arrays) as an array on this device."""
        return self.xp.asarray(data, dtype=dtype)

    def to_host(self, arr):
        """A NumPy array with the same values (no copy on the CPU)."""
        raise NotImplementedError

    def synchronize(self) -> None:
        """Wait for queued work on this device (no-op on the CPU)."""

    def arange_cached(self, n: int):
        """``arange(n)`` (int64) to index rows with, shared: callers must not write to it."""
        cache = self._aranges
        a = cache.get(n)
        if a is None:
            if len(cache) >= 32:  # a few batch sizes recur; never let it grow unbounded
                cache.clear()
            a = cache[n] = self._shared_arange(n)
        return a

    def _shared_arange(self, n: int):
        return self.xp.arange(n)

    def ones(self, shape, dtype):
        return self.xp.ones(shape, dtype)

    # ---- kernels -----------------------------------------------------------------
    @kernel
    def matmul(self, a, b):
        return self.xp.matmul(a, b)

    # Reductions on the hot paths (bias gradients, softmax). NumPy binds its ufuncs' reduce
    # here directly: its array methods go through a Python wrapper that costs more than the
    # work on small arrays.
    @kernel
    def sum(self, x, axis, keepdims: bool = False):
        return x.sum(axis=axis, keepdims=keepdims)

    @kernel
    def amax(self, x, axis, keepdims: bool = False):
        return x.max(axis=axis, keepdims=keepdims)

    @kernel
    def amin(self, x, axis, keepdims: bool = False):
        return x.min(axis=axis, keepdims=keepdims)

    # The first index of the maximum / minimum over one axis (an int; None: the flattened
    # array), int64. A NaN counts as both the maximum and the minimum (the first NaN's
    # index), as PyTorch's and NumPy's argmax/argmin.
    @kernel
    def argmax(self, x, axis, keepdims: bool = False):
        return x.argmax(axis=axis, keepdims=keepdims).astype("int64", copy=False)

    @kernel
    def argmin(self, x, axis, keepdims: bool = False):
        return x.argmin(axis=axis, keepdims=keepdims).astype("int64", copy=False)

    def scatter_add(self, out, index, values) -> None:
        """``out[index] += values`` with repeated indices accumulated (index backward)."""
        raise NotImplementedError

    def as_strided(self, arr, shape, strides, writeable: bool = False):
        """A strided view of ``arr`` (im2col; regions of views); read-only unless asked."""
        raise NotImplementedError

    def erf(self, x):
        raise NotImplementedError

    def erfc(self, x):
        """1 - erf(x) without the cancellation (erfc(10) is 2e-45, not 0)."""
        raise NotImplementedError

    def argsort_stable(self, arr, axis: int):
        """Indices that sort ``arr`` along ``axis``, ties kept in order."""
        return self.xp.argsort(arr, axis=axis, kind="stable")

    def cum_extreme(self, arr, axis: int, largest: bool):
        """Running maximum (``largest``) or minimum along ``axis``; a NaN propagates.

        CuPy's ufuncs have no ``accumulate`` for maximum/minimum: a log-step scan, each step
        one vectorised maximum of the array with itself shifted (log2(n) kernels)."""
        f = self.xp.maximum if largest else self.xp.minimum
        out = self.xp.moveaxis(arr, axis, -1).copy()
        shift = 1
        while shift < out.shape[-1]:
            out[..., shift:] = f(out[..., shift:], out[..., :-shift])
            shift *= 2
        return self.xp.moveaxis(out, -1, axis)

    def quiet(self, fn, *args):
        """``fn(*args)`` with IEEE edge cases (x / 0, log(0), sqrt(-1)) giving inf/NaN
        silently, as PyTorch does: CuPy never warns; NumPy's backend overrides this."""
        return fn(*args)

    def sparse_module(self):
        """The array library's sparse-matrix module (scipy.sparse / cupyx.scipy.sparse)."""
        raise NotImplementedError

    def coo_matmul(self, rows, cols, values, shape: tuple, dense):
        """The product of the COO matrix ``(values, (rows, cols))`` of ``shape`` with the
        dense 2-D ``dense``; repeated (row, col) entries add, as in an uncoalesced tensor."""
        m = self.sparse_module().coo_matrix((values, (rows, cols)), shape=shape)
        return self.xp.asarray(m @ dense)

    def index_top(self, arr) -> int:
        """The largest value of an integer array read as unsigned, so a negative one counts
        as huge: one reduction (one host round trip) validates class indices."""
        return int(arr.view(f"u{arr.dtype.itemsize}").max())

    def minmax(self, arr) -> tuple:
        """(min, max) of an integer array as Python ints (validating class indices)."""
        return int(arr.min()), int(arr.max())

    # ---- special functions (gpugrad.special, distributions) --------------------------
    def lgamma(self, x):
        """log|gamma(x)| elementwise, in ``x``'s (floating) dtype."""
        raise NotImplementedError

    def digamma(self, x):
        """The logarithmic derivative of gamma, elementwise, in ``x``'s dtype."""
        raise NotImplementedError

    def polygamma(self, n: int, x):
        """The n-th derivative of digamma, elementwise, in ``x``'s dtype."""
        raise NotImplementedError

    def erfinv(self, x):
        """The inverse of erf on [-1, 1], elementwise, in ``x``'s dtype."""
        raise NotImplementedError

    def gammainc(self, a, x, upper: bool = False):
        """The regularized lower incomplete gamma P(a, x) (the upper Q(a, x) when ``upper``)."""
        raise NotImplementedError

    # ---- random numbers ------------------------------------------------------------
    def seed(self, seed: int) -> None:
        raise NotImplementedError

    def new_rng(self, seed: int):
        raise NotImplementedError

    # Each sampler draws from ``rng`` (a gpugrad.Generator's) or the device's default one.
    def rand(self, shape, dtype, rng=None):
        raise NotImplementedError

    def randn(self, shape, dtype, rng=None):
        raise NotImplementedError

    def randint(self, low: int, high: int, shape, dtype, rng=None):
        raise NotImplementedError

    def randperm(self, n: int, dtype, rng=None):
        raise NotImplementedError

    # Samplers with one parameter per element: the output has the parameters' shape and dtype.
    def standard_gamma(self, alpha, rng=None):
        """Gamma(alpha, 1) draws for a floating array of concentrations ``alpha``."""
        raise NotImplementedError

    def poisson(self, rate, rng=None):
        """Poisson(rate) counts, as floats of ``rate``'s dtype."""
        raise NotImplementedError

    def binomial(self, count, prob, rng=None):
        """Binomial(count, prob) counts (``count`` integral floats), as floats of prob's dtype."""
        raise NotImplementedError


class IndexChecks:
    """The range checks of the reading index ops (gather, index_select, take, embedding,
    fancy-index reads, class targets), synchronous: one min/max reduction read back to the
    host validates the good case; only a failing check looks for the offending index, the
    first one in memory order, as PyTorch reports it. ``make_error(value)`` builds the
    exception for a bad ``value`` (the op's own text).

    Each method returns the indices the op should use: here the input itself, checked. The
    CUDA backend replaces this with ``cuda.index_check.DeviceIndexChecks``, which (by
    default) checks on the device and returns a safe copy instead, raising at the next host
    synchronisation. The writing ops never come here: they check synchronously
    (``ops/_checks.py``), because a deferred error could not undo their write.

    An object, not backend methods: gpugrad.compile's recorder wraps every public backend
    method as one step, so the ``minmax`` / ``index_top`` reads made here reach it as the
    guards they are (a method's inner calls would not be recorded).
    """

    def __init__(self, backend) -> None:
        self.backend = backend

    def first_bad(self, idx, n: int, negative: bool):
        """The first entry of the integer array ``idx`` outside ``[-n, n)`` (``[0, n)`` when
        ``negative`` is False), or None when every entry is in range."""
        if idx.size == 0:
            return None
        b = self.backend
        lo, hi = b.minmax(idx)
        if hi < n and lo >= (-n if negative else 0):
            return None
        flat = idx.reshape(-1)
        bad = (flat >= n) | (flat < (-n if negative else 0))
        return int(flat[int(b.xp.argmax(bad))])

    def checked(self, idx, n: int, negative: bool, make_error, *, wrap: bool = False):
        """``idx`` once every entry is in ``[-n, n)`` (``[0, n)`` unless ``negative``), else
        raise ``make_error(first bad entry)``; with ``wrap``, negative entries come back
        wrapped (``i + n``), so the result is in ``[0, n)``."""
        bad = self.first_bad(idx, n, negative)
        if bad is not None:
            raise make_error(bad)
        b = self.backend
        if wrap and idx.size and b.minmax(idx)[0] < 0:
            idx = b.xp.where(idx < 0, idx + n, idx)
        return idx

    def class_targets(self, tgt, c: int, ignore_index: int, make_error) -> tuple:
        """``(ignore, safe)`` for class-index targets: the mask of targets equal to
        ``ignore_index`` (None if none is) and the targets with those set to 0; raises
        ``make_error(t)`` for a target outside ``[0, c)`` that is not ignored."""
        # One host round trip validates targets in the common case: all are classes, none
        # is ignored; only otherwise (or to name a bad target) a second look.
        b = self.backend
        ignore, safe = None, tgt
        if not tgt.size or b.index_top(tgt) >= c or 0 <= ignore_index < c:
            lo, hi = b.minmax(tgt) if tgt.size else (0, 0)
            if lo <= ignore_index <= hi:
                ignore = tgt == ignore_index
                safe = b.xp.where(ignore, 0, tgt)
                lo, hi = b.minmax(safe)
            if hi >= c or lo < 0:
                raise make_error(hi if hi >= c else lo)
        return ignore, safe


def erf_host(np, x):
    """erf on NumPy arrays: SciPy's when present, else math.erf element by element."""
    try:
        from scipy.special import erf
    except ImportError:  # SciPy is optional; math.erf is exact, only slower
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return erf(x).astype(x.dtype, copy=False)


def erfc_host(np, x):
    """erfc on NumPy arrays: SciPy's when present, else math.erfc element by element."""
    sp = _scipy_special()
    if sp is None:
        return np.vectorize(math.erfc, otypes=[x.dtype])(x)
    return sp.erfc(x).astype(x.dtype, copy=False)


def _scipy_special():
    try:
        import scipy.special
    except ImportError:  # SciPy is optional on the CPU
        return None
    return scipy.special


def lgamma_host(np, x):
    """lgamma on NumPy arrays: SciPy's gammaln when present, else math.lgamma per element."""
    sp = _scipy_special()
    if sp is None:
        return np.vectorize(_lgamma_or_inf, otypes=[x.dtype])(x)
    return sp.gammaln(x).astype(x.dtype, copy=False)


def _lgamma_or_inf(v: float) -> float:
    try:
        return math.lgamma(v)
    except ValueError:  # a pole (0, -1, -2 ...): PyTorch and SciPy give inf
        return math.inf


def digamma_host(np, x):
    """digamma on NumPy arrays: SciPy's when present, else a series as accurate in float64."""
    sp = _scipy_special()
    if sp is not None:
        return sp.digamma(x).astype(x.dtype, copy=False)
    v = x.astype(np.float64)
    # reflection for x < 0.5: digamma(x) = digamma(1 - x) - pi / tan(pi x)
    small = v < 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        refl = np.where(small, np.pi / np.tan(np.pi * v), 0.0)
        z = np.where(small, 1.0 - v, v)
        acc = np.zeros_like(z)
        while True:  # the recurrence digamma(z) = digamma(z + 1) - 1/z until z >= 6
            low = z < 6.0
            if not low.any():
                break
            acc -= np.where(low, 1.0 / z, 0.0)
            z = np.where(low, z + 1.0, z)
        r = 1.0 / (z * z)  # the asymptotic series, Bernoulli numbers B2k / 2k
        series = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r * (1 / 132)))))
        out = np.log(z) - 0.5 / z - series + acc - refl
        out = np.where(v == 0, -np.inf, out)
        out = np.where((v < 0) & (v == np.floor(v)), np.nan, out)
    return out.astype(x.dtype, copy=False)


def erfinv_host(np, x):
    """erfinv on NumPy arrays: SciPy's when present, else Newton steps on erf (float64)."""
    sp = _scipy_special()
    if sp is not None:
        return sp.erfinv(x).astype(x.dtype, copy=False)
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        # a start accurate to ~2e-3 (Winitzki), then Newton: erf'(y) = 2/sqrt(pi) exp(-y^2)
        a = 0.147
        ln = np.log1p(-v * v)
        t = 2 / (np.pi * a) + ln / 2
        y = np.sign(v) * np.sqrt(np.sqrt(t * t - ln / a) - t)
        for _ in range(4):
            err = erf_host(np, y) - v
            y = y - err / (2 / math.sqrt(math.pi) * np.exp(-y * y))
        y = np.where(np.abs(v) == 1, np.sign(v) * np.inf, y)
        y = np.where(np.abs(v) > 1, np.nan, y)
    return y.astype(x.dtype, copy=False)


def gammainc_host(np, a, x, upper: bool):
    """The regularized incomplete gamma through SciPy (a clear error without it)."""
    sp = _scipy_special()
    if sp is None:
        raise RuntimeError("gammainc / gammaincc on the CPU need SciPy: pip install scipy")
    out = sp.gammaincc(a, x) if upper else sp.gammainc(a, x)
    return out.astype(np.result_type(a, x), copy=False)


def polygamma_host(np, n: int, x):
    """polygamma on NumPy arrays through SciPy (no fallback: a clear error without it)."""
    if n == 0:
        return digamma_host(np, x)
    sp = _scipy_special()
    if sp is None:
        raise RuntimeError("polygamma(n >= 1) on the CPU needs SciPy: pip install scipy")
    return sp.polygamma(n, x).astype(x.dtype, copy=False)
