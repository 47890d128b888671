"""dtypes and PyTorch's type-promotion rules."""

from __future__ import annotations

import ml_dtypes
import numpy as np

# The module name that dtypes, Size, layouts and return types print as: "gpugrad", or "torch"
# while gpugrad stands in for torch (gpugrad.as_torch.install() sets it; reprs read it late).
PRINTED_MODULE = "gpugrad"


class dtype:  # noqa: N801 - PyTorch's name
    """A tensor element type (``gpugrad.float32`` ...). Instances are singletons."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_category")

    def __init__(self, name: str, np_dtype: np.dtype, category: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == FLOAT
        self.is_signed = category != BOOL
        self.itemsize = self.np.itemsize
        self._category = category

    def __repr__(self) -> str:
        return f"{PRINTED_MODULE}.{self.name}"

    def __reduce__(self):
        return (_from_name, (self.name,))

    @property
    def is_complex(self) -> bool:
        return False


BOOL, INT, FLOAT = 0, 1, 2

float16 = dtype("float16", np.float16, FLOAT)
float32 = dtype("float32", np.float32, FLOAT)
float64 = dtype("float64", np.float64, FLOAT)
# NumPy has no bfloat16; ml_dtypes registers one (its kind is "V", hence is_floating below)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, FLOAT)
int32 = dtype("int32", np.int32, INT)
int64 = dtype("int64", np.int64, INT)
bool_ = dtype("bool", np.bool_, BOOL)
uint8 = dtype("uint8", np.uint8, INT)
int8 = dtype("int8", np.int8, INT)
int16 = dtype("int16", np.int16, INT)

# PyTorch's aliases; exported by the package, kept out of this module's namespace so the
# builtins float/int stay usable here.
ALIASES = {
    "half": float16,
    "float": float32,
    "double": float64,
    "int": int32,
    "long": int64,
    "short": int16,
    "bool": bool_,
}

_ALL = (float16, bfloat16, float32, float64, int32, int64, bool_, uint8, int8, int16)
_BY_NP: dict = {d.np: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}


# PyTorch's ScalarType names, which its error texts use ("expected scalar type Float")
_SCALAR_NAMES = {
    "float16": "Half",
    "bfloat16": "BFloat16",
    "float32": "Float",
    "float64": "Double",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "uint8": "Byte",
    "bool": "Bool",
}


_NP_NAMES: dict = {}


def np_name(np_dtype) -> str:
    """``np_dtype.name`` ("float32", "bfloat16" ...), cached: NumPy builds the name in Python
    on every read (~2 us, the cost of a whole small ufunc call), and kernels and launches
    read it on every call."""
    try:
        return _NP_NAMES[np_dtype]
    except KeyError:
        name = _NP_NAMES[np_dtype] = np_dtype.name
        return name


def scalar_type_name(dt) -> str:
    """PyTorch's name of a dtype in error texts ("Float", "Long" ...); ``dt`` is a gpugrad
    dtype or a NumPy/CuPy one."""
    name = dt.name if isinstance(dt, dtype) else np_name(np.dtype(dt))
    return _SCALAR_NAMES.get(name, name)


BFLOAT16_NP = bfloat16.np
_FLOAT32_NP = float32.np


def is_floating(np_dtype) -> bool:
    """True for a floating NumPy/CuPy dtype, bfloat16 included (ml_dtypes' kind is "V", so
    ``dtype.kind == "f"`` misses it): the one test for "is floating" every op uses."""
    kind = np_dtype.kind
    return kind == "f" or (kind == "V" and np_dtype == BFLOAT16_NP)


def is_reduced_float(np_dtype) -> bool:
    """True for the 2-byte floats (float16, bfloat16), which accumulate in float32."""
    return np_dtype.itemsize == 2 and is_floating(np_dtype)


def accumulation_np(np_dtype):
    """The dtype ``np_dtype`` accumulates in, as PyTorch's CPU kernels: float32 for float16
    and bfloat16, else itself."""
    return _FLOAT32_NP if is_reduced_float(np_dtype) else np_dtype


def cast_array(arr, np_dtype):
    """``arr.astype(np_dtype)`` with PyTorch's conversions where ml_dtypes' differ: float64 to
    bfloat16 through float32 (PyTorch rounds twice: 1 + 2**-8 + 2**-30 becomes 1, not
    1.0078125), bfloat16 to integers through float32 (NaN, inf and out-of-range values give
    x86's answers, as PyTorch's, where ml_dtypes gives 0). Overflow to inf is silent."""
    np_dtype = np.dtype(np_dtype)
    src = arr.dtype
    if src.kind in "biu" and np_dtype != BFLOAT16_NP:
        return arr.astype(np_dtype)  # exact, or wrapping as PyTorch's: never a warning
    with np.errstate(over="ignore", invalid="ignore"):
        if np_dtype == BFLOAT16_NP and src != BFLOAT16_NP:
            if src.kind == "f" and src.itemsize > 4:
                arr = arr.astype(_FLOAT32_NP)
            return arr.astype(BFLOAT16_NP)
        if src == BFLOAT16_NP and np_dtype.kind in "iu":
            arr = arr.astype(_FLOAT32_NP)
        return arr.astype(np_dtype)


def check_dtype_on(dev, dt: dtype | None) -> None:
    """Refuse a bfloat16 tensor on a CUDA device with a clear TypeError (never a silent cast):
    gpugrad's CUDA path (CuPy arrays, its generated kernels) holds no bfloat16. ``dev`` is a
    gpugrad device."""
    if dt is bfloat16 and dev.type == "cuda":
        raise TypeError(
            f"gpugrad.bfloat16 tensors are not supported on device '{dev}': gpugrad's CUDA "
            "path (CuPy and its kernels) has no bfloat16; keep bfloat16 tensors on the CPU, "
            "or use float16 or float32 on the GPU"
        )


def _from_name(name: str) -> dtype:
    return _BY_NAME[name]


def from_numpy_dtype(np_dtype) -> dtype:
    """The gpugrad dtype of a NumPy/CuPy dtype; raises TypeError for unsupported ones."""
    try:
        return _BY_NP[np_dtype]
    except KeyError:
        pass
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types "
            "are: float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool."
        ) from None


class _Defaults:
    float_dtype: dtype = float32


_defaults = _Defaults()


def get_default_dtype() -> dtype:
    """The dtype of floating-point tensors created from Python floats (float32 at start)."""
    return _defaults.float_dtype


def set_default_dtype(d: dtype) -> None:
    """Set the default floating-point dtype (float16, bfloat16, float32 or float64)."""
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _defaults.float_dtype = d


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's promote_types: the smallest dtype both can be cast to safely."""
    if a is b:
        return a
    # Across categories the higher one wins as is (int32 + float16 -> float16, unlike NumPy).
    if a._category != b._category:
        return a if a._category > b._category else b
    return _BY_NP[np.promote_types(a.np, b.np)]


def scalar_dtype(value) -> dtype:
    """The dtype PyTorch gives a Python scalar when it stands alone."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    return _defaults.float_dtype


# what counts as a Python (or NumPy) scalar where PyTorch takes a Number
SCALAR_TYPES = (bool, int, float, complex, np.generic)


def result_type(a, b) -> dtype:
    """PyTorch's result_type for two operands, each a Tensor or a Python scalar.

    Priority: tensors with dimensions > zero-dim tensors > Python scalars; a lower-priority
    operand only changes the result when its category (bool < int < float) is higher.
    """
    try:
        da, pa = _dtype_and_priority(a)
        db, pb = _dtype_and_priority(b)
    except TypeError:
        got = ", ".join(type(v).__name__ for v in (a, b))
        raise TypeError(
            f"result_type() received an invalid combination of arguments - got ({got})"
        ) from None
    if da is db:
        return da
    if pa == pb:
        return promote_types(da, db)
    hi, lo = (da, db) if pa > pb else (db, da)
    # e.g. int tensor * 2.5 -> default float; float32 tensor * float64 0-d tensor -> float32
    return lo if lo._category > hi._category else hi


def _dtype_and_priority(x) -> tuple[dtype, int]:
    d = getattr(x, "dtype", None)
    if isinstance(d, dtype):
        return d, 2 if x.ndim else 1
    if not isinstance(x, SCALAR_TYPES):  # a None would count as a float scalar
        raise TypeError(f"expected a Tensor or a Number, got {type(x).__name__}")
    return scalar_dtype(x), 0
