"""Creating tensors: tensor, zeros, ones, full, arange, linspace, eye, random sampling, *_like."""

from __future__ import annotations

import math
import os
import sys

import numpy as np

from . import _dtype as D
from . import _warn
from ._device import canonical
from ._device import device as Device
from ._generator import rng_for
from ._tensor import Tensor
from .backend import backend_for, backend_of, seed_all
from .backend.quiet import quiet_namespace
from .ops._checks import not_implemented_for, require_floating


class _Defaults:
    device: Device | None = None


_defaults = _Defaults()


def set_default_device(device) -> None:
    """Device for new tensors when ``device=`` is not given (None means cpu)."""
    _defaults.device = None if device is None else canonical(device)


def get_default_device() -> Device:
    return _defaults.device or Device("cpu")


def _device(device) -> Device:
    if device is None:
        return _defaults.device or Device("cpu")
    return canonical(device)


def _finish(data, dev: Device, requires_grad: bool) -> Tensor:
    t = Tensor._make(data, dev)
    if requires_grad:
        if not D.is_floating(data.dtype):
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        t._requires_grad = True
    return t


def _size(size) -> tuple:
    """A creation op's ``*size`` as a shape; PyTorch's error for a negative dimension (NumPy
    raises a ValueError of its own, CuPy another)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        shape = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"size must be a sequence of ints, got {size!r}") from None
    for s in shape:
        if s < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {s}: {list(shape)}"
            )
    return shape


def _canonical_bfloat16(arr: np.ndarray) -> np.ndarray:
    """A bfloat16 array viewed with ml_dtypes' own dtype object, which the kernels recognise
    by identity (``newbyteorder`` and some readers make equal but distinct ones)."""
    dt = arr.dtype
    if dt.kind == "V" and dt is not D.BFLOAT16_NP and dt == D.BFLOAT16_NP:
        return arr.view(D.BFLOAT16_NP)
    return arr


def _infer_host(data, explicit: bool = False):
    """Host NumPy array with PyTorch's dtype inference for Python data. ``explicit``: the
    caller casts to a dtype it was given, so Python floats keep their full (double)
    precision until then instead of passing through the default dtype."""
    if isinstance(data, Tensor):
        return data._device.backend.to_host(data._data)
    if isinstance(data, np.ndarray):
        return _canonical_bfloat16(data)
    if isinstance(data, (list, tuple)) and _holds_tensor(data):
        # only tensors inside are converted one by one: a nested list of Python numbers is
        # inferred as a whole, so [[1., 2], [3, 4]] is one float list, not float32 + int64
        data = [
            _infer_host(x, explicit) if isinstance(x, (Tensor, list, tuple)) else x for x in data
        ]
    arr = np.asarray(data)
    if arr.dtype == object:
        raise TypeError(f"can't convert data of type {type(data).__name__} to a tensor")
    if D.is_floating(arr.dtype) and not _has_numpy_float(data):
        if not explicit:
            arr = arr.astype(D.get_default_dtype().np)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64 and not _has_numpy_scalar(data):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "U":
        raise TypeError("new(): invalid data type 'str'")
    return arr


def _holds_tensor(data) -> bool:
    return any(
        isinstance(x, Tensor) or (isinstance(x, (list, tuple)) and _holds_tensor(x)) for x in data
    )


def _has_numpy_float(data) -> bool:
    if isinstance(data, np.ndarray):
        return True
    if isinstance(data, (list, tuple)):
        return any(_has_numpy_float(x) for x in data[:1])
    return isinstance(data, np.floating)


def _has_numpy_scalar(data) -> bool:
    if isinstance(data, np.ndarray):
        return True
    if isinstance(data, (list, tuple)):
        return any(_has_numpy_scalar(x) for x in data[:1])
    return isinstance(data, np.generic)


def tensor(
    data,
    *,
    dtype: D.dtype | None = None,
    device=None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A new tensor holding a copy of ``data`` (lists, scalars, NumPy arrays, tensors)."""
    if isinstance(data, Tensor):
        _warn.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.clone()."
            "detach() or sourceTensor.clone().detach().requires_grad_(True), rather than "
            "torch.tensor(sourceTensor).",
            UserWarning,
        )
        if device is None:
            device = data._device
    host = _infer_host(data, explicit=dtype is not None)
    if device is not None or _defaults.device is not None:
        D.check_dtype_on(_device(device), dtype or D.from_numpy_dtype(host.dtype))
    if dtype is not None:
        if not isinstance(data, (np.ndarray, Tensor)):
            _check_fits(host, dtype)
        host = D.cast_array(host, dtype.np)
    else:
        D.from_numpy_dtype(host.dtype)  # rejects unsupported dtypes with PyTorch's message
    dev = _device(device)
    arr = dev.backend.asarray(host)
    if arr is host or (dev.type == "cpu" and np.shares_memory(arr, host)):
        arr = arr.copy()
    return _finish(arr, dev, requires_grad)


_C_TYPES = {"int32": "int"}  # full()'s texts name C types: uint8_t, int8_t ..., int


def _check_fits(host, dtype: D.dtype, c_types: dict | None = None) -> None:
    """PyTorch refuses Python integers outside an integer dtype's range (NumPy wraps)."""
    if host.dtype.kind not in "iu" or dtype.is_floating_point or dtype is D.bool_ or not host.size:
        return
    info = np.iinfo(dtype.np)
    # PyTorch reads a negative value for an unsigned type as two's complement: uint8 takes
    # -128..255
    lo = info.min if info.min < 0 else -(info.max + 1) // 2
    if int(host.min()) < lo or int(host.max()) > info.max:
        raise RuntimeError(
            "value cannot be converted to type "
            f"{_c_type(dtype.np.name) if c_types is not None else dtype.np.name} without overflow"
        )


def _c_type(name: str) -> str:
    return _C_TYPES.get(name, name + "_t")


def as_tensor(data, dtype: D.dtype | None = None, device=None) -> Tensor:
    """Like tensor(), but shares memory when it can, as PyTorch's: with a tensor, a NumPy
    array (on the cpu) or a GPU array exposing ``__cuda_array_interface__`` (CuPy, Numba ...,
    on its GPU), unless ``dtype`` or ``device`` asks for a different one."""
    if isinstance(data, Tensor):
        return data.to(device=device or data._device, dtype=dtype or data.dtype)
    if isinstance(data, np.ndarray) and (device is None or _device(device).type == "cpu"):
        t = from_numpy(data)
        return t if dtype is None else t.to(dtype)
    if hasattr(data, "__cuda_array_interface__"):
        arr = backend_for(Device("cuda")).asarray(data)  # a view, on the GPU that holds it
        D.from_numpy_dtype(arr.dtype)
        t = Tensor._make(arr, backend_of(arr).device)
        return t.to(device=device or t._device, dtype=dtype or t.dtype)
    return tensor(data, dtype=dtype, device=device)


class _Warned:
    read_only = False  # PyTorch warns about a read-only array once per program


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with a NumPy array (PyTorch's checks and errors)."""
    if not isinstance(ndarray, np.ndarray):
        kind = type(ndarray)
        name = (
            kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        )
        raise TypeError(f"expected np.ndarray (got {name})")
    if not ndarray.dtype.isnative:
        raise ValueError(
            "given numpy array has byte order different from the native byte order. "
            "Conversion between byte orders is currently not supported."
        )
    D.from_numpy_dtype(ndarray.dtype)
    ndarray = _canonical_bfloat16(ndarray)
    if any(s < 0 for s in ndarray.strides):
        raise ValueError(
            "At least one stride in the given numpy array is negative, and tensors with "
            "negative strides are not currently supported. (You can probably work around "
            "this by making a copy of your array  with array.copy().) "
        )
    if not ndarray.flags.writeable and not _Warned.read_only:
        _Warned.read_only = True
        _warn.warn(
            "The given NumPy array is not writable, and PyTorch does not support non-writable "
            "tensors. This means writing to this tensor will result in undefined behavior. You "
            "may want to copy the array to protect its data or make it writable before "
            "converting it to a tensor. This type of warning will be suppressed for the rest "
            "of this program.",
            UserWarning,
        )
    return Tensor._make(ndarray, Device("cpu"))


def scalar_tensor(value, like: Tensor) -> Tensor:
    dt = D.result_type(like, value) if not isinstance(value, Tensor) else value.dtype
    return Tensor._make(like._device.backend.asarray(value, dtype=dt.np), like._device)


def _filled(fill, size, dtype, device, requires_grad, name: str) -> Tensor:
    dev = _device(device)
    dt = dtype or (
        D.get_default_dtype()
        if fill is None or isinstance(fill, float)
        else (D.bool_ if isinstance(fill, bool) else D.int64)
    )
    D.check_dtype_on(dev, dt)
    shape = _size(size)
    xp = dev.backend.xp
    with _on(dev):
        if fill is None:
            data = xp.empty(shape, dt.np)
        elif fill == 0:
            data = xp.zeros(shape, dt.np)
        elif fill == 1:
            data = xp.ones(shape, dt.np)
        else:
            data = xp.full(shape, fill, dt.np)
    return _finish(data, dev, requires_grad)


def _on(dev: Device):
    """Context that makes ``dev`` current for allocations (matters for cuda:N, N > 0)."""
    ctx = getattr(dev.backend, "_cuda_device", None)
    return ctx if ctx is not None else _NULL


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NULL = _Null()


# the keywords PyTorch's factories take besides dtype, device and requires_grad, which only
# have one value on gpugrad's dense strided tensors (pin_memory: host memory is not pinned)
_LAYOUT_KEYWORDS = frozenset(("layout", "pin_memory"))


def sizes_from(name: str, size: tuple, kwargs: dict, allowed=_LAYOUT_KEYWORDS) -> tuple:
    """A factory's ``*size``, or its ``size=`` keyword (``zeros(size=(2, 3))``), with
    Python's TypeErrors, as PyTorch's parser gives them, for both at once or for a keyword
    the factory does not take."""
    for key in kwargs:
        if key != "size" and key not in allowed:
            raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")
    if "size" in kwargs:
        if size:
            raise TypeError(f"{name}() got multiple values for argument 'size'")
        given = kwargs["size"]
        if not isinstance(given, (tuple, list)):
            raise TypeError(
                f"{name}(): argument 'size' must be tuple of ints, not {type(given).__name__}"
            )
        size = (given,)
    return size


def zeros(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    if kw:
        size = sizes_from("zeros", size, kw)
    return _filled(0, size, dtype or D.get_default_dtype(), device, requires_grad, "zeros")


def ones(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    if kw:
        size = sizes_from("ones", size, kw)
    return _filled(1, size, dtype or D.get_default_dtype(), device, requires_grad, "ones")


_EMPTY_KEYWORDS = _LAYOUT_KEYWORDS | {"memory_format"}


def empty(*size, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    if kw:
        size = sizes_from("empty", size, kw, _EMPTY_KEYWORDS)
    return _filled(None, size, dtype or D.get_default_dtype(), device, requires_grad, "empty")


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False, **kw) -> Tensor:
    if kw:
        sizes_from("full", (), kw, _LAYOUT_KEYWORDS - {"size"})
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    elif not isinstance(fill_value, D.SCALAR_TYPES):  # a None would make an empty (garbage) tensor
        raise TypeError(
            "full(): argument 'fill_value' (position 2) must be Number, not "
            f"{type(fill_value).__name__}"
        )
    if dtype is not None and type(fill_value) is int:
        _check_fits(np.asarray(fill_value), dtype, _C_TYPES)
    return _filled(
        fill_value,
        (size,) if isinstance(size, int) else tuple(size),
        dtype,
        device,
        requires_grad,
        "full",
    )


def _like(input: Tensor, dtype, device):
    return dtype or input.dtype, input._device if device is None else device


def zeros_like(
    input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None
) -> Tensor:
    dt, dev = _like(input, dtype, device)
    return zeros(input._data.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(
    input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None
) -> Tensor:
    dt, dev = _like(input, dtype, device)
    return ones(input._data.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def empty_like(
    input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None
) -> Tensor:
    dt, dev = _like(input, dtype, device)
    return empty(input._data.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(
    input: Tensor,
    fill_value,
    *,
    dtype=None,
    device=None,
    requires_grad: bool = False,
    memory_format=None,
) -> Tensor:
    dt, dev = _like(input, dtype, device)
    return full(input._data.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def arange(
    start, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False
) -> Tensor:
    """Values from start (inclusive) to end (exclusive) by step."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        is_float = any(isinstance(v, float) for v in vals)
        dtype = D.get_default_dtype() if is_float else D.int64
    dev = _device(device)
    D.check_dtype_on(dev, dtype)
    n = max(math.ceil((end - start) / step), 0)
    with _on(dev):
        data = dev.backend.xp.arange(n, dtype=np.float64) * step + start
    return _finish(D.cast_array(data, dtype.np), dev, requires_grad)


def linspace(
    start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False
) -> Tensor:
    dev = _device(device)
    dt = dtype or D.get_default_dtype()
    D.check_dtype_on(dev, dt)
    _check_steps(steps)
    if dt is D.bfloat16:
        return _finish(_linspace_bfloat16(float(start), float(end), int(steps)), dev, requires_grad)
    with _on(dev):
        data = dev.backend.xp.linspace(float(start), float(end), int(steps))
    return _finish(data.astype(dt.np), dev, requires_grad)


def _check_steps(steps) -> None:
    if int(steps) < 0:  # NumPy's ValueError names its own parameter
        raise RuntimeError("number of steps must be non-negative")


def _linspace_bfloat16(start: float, end: float, steps: int) -> np.ndarray:
    """PyTorch's linspace kernel in bfloat16 arithmetic (each step rounded): a bfloat16 step,
    the first half counted up from ``start``, the second down from ``end``."""
    bf = D.BFLOAT16_NP
    s, e = np.array(start, np.float32).astype(bf), np.array(end, np.float32).astype(bf)
    if steps <= 1:
        return np.full(max(steps, 0), s, bf)
    step = (e - s) / np.array(steps - 1, bf)
    i = np.arange(steps)
    half = steps // 2
    up = s + step * i[:half].astype(bf)
    down = e - step * (steps - i[half:] - 1).astype(bf)
    return np.concatenate([up, down]).astype(bf)


def logspace(
    start,
    end,
    steps: int,
    base: float = 10.0,
    *,
    dtype=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    dev = _device(device)
    D.check_dtype_on(dev, dtype)
    _check_steps(steps)
    with _on(dev):
        data = dev.backend.xp.logspace(float(start), float(end), int(steps), base=base)
    return _finish(D.cast_array(data, (dtype or D.get_default_dtype()).np), dev, requires_grad)


def eye(
    n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False
) -> Tensor:
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is not None and m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    dev = _device(device)
    D.check_dtype_on(dev, dtype)
    with _on(dev):
        data = dev.backend.xp.eye(n, m, dtype=(dtype or D.get_default_dtype()).np)
    return _finish(data, dev, requires_grad)


# ---- random numbers ------------------------------------------------------------------
_initial_seed: int | None = None  # the default generators' seed, once one was set or asked for


def manual_seed(seed: int):
    """Seed the random generators of every device (cpu and all cuda devices)."""
    global _initial_seed
    seed = int(seed)
    if not -0x8000_0000_0000_0000 <= seed <= 0xFFFF_FFFF_FFFF_FFFF:
        raise ValueError("Overflow when unpacking long long")
    seed &= 0xFFFF_FFFF_FFFF_FFFF  # a negative seed counts as its 64-bit two's complement
    seed_all(seed)
    _initial_seed = seed
    return _GeneratorInfo(seed)


def seed() -> int:
    """Seed every device's default generator with a non-deterministic number; return it."""
    s = int.from_bytes(os.urandom(8), "little") >> 1
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed of the default generators (the last manual_seed or seed). Never seeded: one
    drawn from the OS now, so the value is the seed of every draw that follows."""
    if _initial_seed is None:
        seed()
    return _initial_seed


class _GeneratorInfo:
    """What manual_seed returns (PyTorch returns the default Generator)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed

    def initial_seed(self) -> int:
        return self._seed


def _random(kind: str, size, dtype, device, requires_grad, generator=None) -> Tensor:
    dev = _device(device)
    dt = dtype or D.get_default_dtype()
    if not dt.is_floating_point:  # PyTorch's kernel names in its texts
        raise not_implemented_for(
            "check_uniform_bounds" if kind == "uniform" else "normal_kernel_cpu", dt
        )
    D.check_dtype_on(dev, dt)
    backend = dev.backend
    shape = _size(size)
    rng = rng_for(generator, dev)
    data = (
        backend.rand(shape, dt.np, rng) if kind == "uniform" else backend.randn(shape, dt.np, rng)
    )
    return _finish(data, dev, requires_grad)


def rand(
    *size, dtype=None, device=None, requires_grad: bool = False, generator=None, **kw
) -> Tensor:
    """Uniform samples on [0, 1)."""
    if kw:
        size = sizes_from("rand", size, kw)
    return _random("uniform", size, dtype, device, requires_grad, generator)


def randn(
    *size, dtype=None, device=None, requires_grad: bool = False, generator=None, **kw
) -> Tensor:
    """Standard normal samples."""
    if kw:
        size = sizes_from("randn", size, kw)
    return _random("normal", size, dtype, device, requires_grad, generator)


def rand_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(input, dtype, device)
    return rand(input._data.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(input, dtype, device)
    return randn(input._data.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def bernoulli(input: Tensor, p: float | None = None, *, generator=None) -> Tensor:
    """0/1 draws with probabilities ``input`` (or ``p``), in ``input``'s dtype; no gradient."""
    require_floating(input._data, "bernoulli_tensor_cpu_p_")
    if p is not None and not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    if p is None and input._data.size:
        xp = input._device.backend.xp
        if not bool(xp.all((input._data >= 0) & (input._data <= 1))):
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    out = empty_like(input)
    u = input._device.backend.rand(input._data.shape, out._data.dtype)
    out._data[...] = u < (input._data if p is None else p)
    return out


def randint(
    low,
    high=None,
    size=None,
    *,
    dtype=None,
    device=None,
    generator=None,
    requires_grad: bool = False,
) -> Tensor:
    """Integers uniform on [low, high)."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    if int(low) >= int(high):
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={int(low)} >= "
            f"to={int(high)}"
        )
    dev = _device(device)
    dt = dtype or D.int64
    shape = _size((size,) if isinstance(size, int) else tuple(size))
    data = dev.backend.randint(int(low), int(high), shape, dt.np, rng_for(generator, dev))
    return _finish(data, dev, requires_grad)


def randint_like(input: Tensor, low, high=None, *, dtype=None, device=None) -> Tensor:
    dt, dev = _like(input, dtype, device)
    return randint(low, high, input._data.shape, dtype=dt, device=dev)


def randperm(
    n: int, *, dtype=None, device=None, generator=None, requires_grad: bool = False
) -> Tensor:
    """A random permutation of 0..n-1."""
    (n,) = _size((n,))
    dev = _device(device)
    data = dev.backend.randperm(n, (dtype or D.int64).np, rng_for(generator, dev))
    return _finish(data, dev, requires_grad)


def normal(
    mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, **kw
) -> Tensor:
    """Samples of N(mean, std^2): elementwise for tensor ``mean``/``std`` (broadcast
    together), else of shape ``size``."""
    if kw:
        sizes_from("normal", (), kw, _LAYOUT_KEYWORDS | {"requires_grad"})
    tensors = isinstance(mean, Tensor) or isinstance(std, Tensor)
    if tensors == (size is not None):  # PyTorch's overloads: a size goes with float arguments
        got = ", ".join(type(v).__name__ for v in (mean, std))
        got += f", size={type(size).__name__}" if size is not None else ""
        raise TypeError(f"normal() received an invalid combination of arguments - got ({got})")
    if not isinstance(std, Tensor) and std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    if tensors:
        ref = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(
            tuple(getattr(mean, "shape", ())), tuple(getattr(std, "shape", ()))
        )
        z = randn(shape, dtype=dtype or ref.dtype, device=ref._device, generator=generator)
        return z * std + mean
    return randn(size, dtype=dtype, device=device, generator=generator) * std + mean


def multinomial(
    input: Tensor, num_samples: int, replacement: bool = False, *, generator=None
) -> Tensor:
    """Sample category indices from (rows of) non-negative weights (inverse-CDF sampling)."""
    if input._data.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not D.is_floating(input._data.dtype):
        raise RuntimeError(
            "multinomial only supports floating-point dtypes for input, got: "
            f"{D.scalar_type_name(input._data.dtype)}"
        )
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > input.shape[-1]:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    probs = input.detach().double()
    xp = input._device.backend.xp
    pd = probs._data
    if pd.size and not bool(xp.all(xp.isfinite(pd) & (pd >= 0))):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if pd.size and bool(xp.any(pd.sum(-1) <= 0)):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    p = probs / probs.sum(-1, keepdim=True)
    rows = p._data.reshape(-1, p._data.shape[-1])
    out = []
    for _ in range(num_samples):
        cdf = xp.cumsum(rows, axis=1)
        u = input._device.backend.rand((rows.shape[0], 1), np.float64) * cdf[:, -1:]
        idx = (cdf <= u).sum(axis=1)
        idx = xp.minimum(idx, rows.shape[1] - 1)
        out.append(idx)
        if not replacement:
            rows = rows.copy()
            rows[xp.arange(rows.shape[0]), idx] = 0
    data = xp.stack(out, axis=1).astype(np.int64)
    shape = input._data.shape[:-1] + (num_samples,)
    return Tensor._make(data.reshape(shape), input._device)


# silent on IEEE edge cases (a float64 value overflowing float32 becomes inf), as the ops
quiet_namespace(sys.modules[__name__])
