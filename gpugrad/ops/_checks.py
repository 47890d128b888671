"""Argument checks shared by the indexing ops, with PyTorch's exception types and texts.

Index ranges are checked before any work: NumPy raises for some out-of-range indices but
wraps negative ones where PyTorch refuses them, and CuPy wraps every out-of-range index
silently. Two kinds of check:

- **Reads** (gather, index_select, take, take_along_dim, embedding, fancy-index reads; class
  targets in ops/loss.py): ``checked_*`` return the indices to use. On the CPU, one min/max
  reduction read back (only a failing check looks for the offending index, the first one in
  memory order, as PyTorch reports it) and the input itself. On CUDA (by default), the check
  runs on the device and the error is raised at the next host synchronisation,
  as PyTorch's device-side asserts: the result is a safe copy (in range, 0 where an index was
  bad), so the op reads nothing out of bounds (backend ``index_checks``).
- **Writes** (scatter_, scatter_add_, index_add_, index_copy_, index_fill_, index_put_, put_,
  fancy-index assignment): ``check_*`` raise at the call on every device, before any write,
  so a failed call changes nothing; a deferred error could not undo the write.
"""

from __future__ import annotations

from numbers import Number

from .. import _dtype as D

_INT32_64 = frozenset(("int32", "int64"))


def first_bad_index(backend, idx, n: int, negative: bool):
    """The first entry of the integer array ``idx`` outside ``[-n, n)`` (``[0, n)`` when
    ``negative`` is False), or None when every entry is in range (synchronous)."""
    return backend.index_checks.first_bad(idx, n, negative)


def _dim_error(n: int, dim: int, exc, op: str):
    return lambda bad: exc(f"{op}index {bad} is out of bounds for dimension {dim} with size {n}")


def _self_error(bad) -> IndexError:
    return IndexError("index out of range in self")


def _flat_error(n: int):
    return lambda bad: IndexError(
        f"out of range: tried to access index {bad} on a tensor of {n} elements."
    )


# ---- writes: synchronous, before any write ----------------------------------------------
def check_dim_index(backend, idx, n: int, dim: int, negative: bool, exc=RuntimeError, op=""):
    """Raise PyTorch's "index i is out of bounds for dimension d with size n" (prefixed with
    ``op``, as index_copy_'s is) for an index outside the dimension."""
    bad = first_bad_index(backend, idx, n, negative)
    if bad is not None:
        raise _dim_error(n, dim, exc, op)(bad)


def check_in_self(backend, idx, n: int) -> None:
    """index_add's range check: ``[0, n)`` or "index out of range in self"."""
    if first_bad_index(backend, idx, n, negative=False) is not None:
        raise _self_error(None)


def check_flat_index(backend, idx, n: int) -> None:
    """put_'s range check over the flattened tensor of ``n`` elements."""
    bad = first_bad_index(backend, idx, n, negative=True)
    if bad is not None:
        raise _flat_error(n)(bad)


# ---- reads: the indices to use (deferred on CUDA with the kernel engine) ------------------
def checked_dim_index(
    backend, idx, n: int, dim: int, negative: bool, exc=RuntimeError, *, wrap: bool = False
):
    """``idx`` checked as ``check_dim_index`` checks it, for a read (``wrap``: negative
    entries come back as ``i + n``)."""
    return backend.index_checks.checked(idx, n, negative, _dim_error(n, dim, exc, ""), wrap=wrap)


def checked_in_self(backend, idx, n: int):
    """index_select / embedding's ``[0, n)`` check, for a read: "index out of range in self"."""
    return backend.index_checks.checked(idx, n, False, _self_error)


def checked_flat_index(backend, idx, n: int):
    """take's check over the flattened tensor of ``n`` elements, for a read."""
    return backend.index_checks.checked(idx, n, True, _flat_error(n))


def checked_class_targets(backend, tgt, c: int, ignore_index: int) -> tuple:
    """``(ignore, safe)`` of class-index targets (cross_entropy, nll_loss): the mask of
    targets equal to ``ignore_index`` (None if none is) and the targets to index with
    (ignored ones 0); PyTorch's "Target t is out of bounds." for one outside ``[0, c)``."""
    return backend.index_checks.class_targets(tgt, c, ignore_index, _target_error)


def _target_error(bad) -> IndexError:
    return IndexError(f"Target {bad} is out of bounds.")


def require_number(op: str, value, *given) -> None:
    """PyTorch's TypeError where a Python scalar stands for a Tensor or Number and is neither
    (a None would otherwise become NaN, or garbage, silently); ``given``: the call's
    arguments, whose types the text lists as PyTorch's parser does."""
    # a NumPy scalar (np.bool_ is no Number) has an empty shape
    if not isinstance(value, Number) and getattr(value, "shape", None) != ():
        got = ", ".join(type(v).__name__ for v in given)
        raise TypeError(f"{op}() received an invalid combination of arguments - got ({got})")


def not_implemented_for(kernel: str, dt) -> NotImplementedError:
    """PyTorch's error for a dtype a kernel has no loop for: ``"kernel" not implemented for
    'Long'`` (``dt`` a gpugrad or array dtype)."""
    return NotImplementedError(f"\"{kernel}\" not implemented for '{D.scalar_type_name(dt)}'")


def require_floating(arr, kernel: str) -> None:
    """Raise ``not_implemented_for(kernel, ...)`` unless the array ``arr`` is floating (a
    float-only kernel: NumPy would compute integers or booleans in float, or in their own
    dtype, where PyTorch refuses them)."""
    if not D.is_floating(arr.dtype):
        raise not_implemented_for(kernel, arr.dtype)


def float_only(t, kernel: str):
    """The data of the Tensor ``t`` for a float-only kernel (PyTorch's name ``kernel``, as its
    CPU error gives it): ``not_implemented_for`` where it is an integer or bool tensor."""
    d = t._data
    if not D.is_floating(d.dtype):
        raise not_implemented_for(kernel, d.dtype)
    return d


# C++'s names of the dtypes, as some of PyTorch's checks print them (TypeMeta: lerp,
# baddbmm)
_CPP_NAMES = {
    "float32": "float",
    "float64": "double",
    "float16": "c10::Half",
    "bfloat16": "c10::BFloat16",
    "int64": "long int",
    "int32": "int",
    "int16": "short int",
    "int8": "signed char",
    "uint8": "unsigned char",
    "bool": "bool",
}


def cpp_type_name(dt) -> str:
    """C++'s name of a gpugrad dtype ("float", "long int" ...), as lerp's and baddbmm's
    texts give it."""
    return _CPP_NAMES.get(dt.name, dt.name)


def type_name(arr) -> str:
    return D.scalar_type_name(arr.dtype)


def require_int32_64(arr, message: str, exc=RuntimeError) -> None:
    """Raise ``exc(message)`` unless ``arr`` is int32 or int64 (``{}`` gets the dtype name)."""
    if D.np_name(arr.dtype) not in _INT32_64:
        raise exc(message.format(type_name(arr)))


def require_int64(arr, message: str, exc=RuntimeError) -> None:
    """Raise ``exc(message)`` unless ``arr`` is int64 (``{}`` gets the dtype name)."""
    if D.np_name(arr.dtype) != "int64":
        raise exc(message.format(type_name(arr)))


def check_key_ranges(backend, shape: tuple, key: tuple) -> None:
    """Check the integer-array entries of a converted indexing key against ``shape``, for a
    write (synchronous).

    PyTorch names the dimension by the entry's place among the key's tensor indices (a
    boolean mask counts as its number of dimensions), not by the indexed tensor's axis:
    ``x[:, t]`` with a bad ``t`` reports "dimension 0"; the size is that of the axis.
    """
    for _, k, n, place in _int_entries(shape, key):
        bad = first_bad_index(backend, k, n, negative=True)
        if bad is not None:
            raise _dim_error(n, place, IndexError, "")(bad)


def checked_key(backend, shape: tuple, key: tuple) -> tuple:
    """``key`` with each integer-array entry checked as ``check_key_ranges`` checks it, for
    a read: the key to index with (on CUDA with the kernel engine, with safe copies)."""
    checks = backend.index_checks
    out = None
    for i, k, n, place in _int_entries(shape, key):
        # the place now, not in the builder: a deferred check keeps it past the call
        safe = checks.checked(k, n, True, _dim_error(n, place, IndexError, ""))
        if safe is not k:
            out = list(key) if out is None else out
            out[i] = safe
    return key if out is None else tuple(out)


def _int_entries(shape: tuple, key: tuple) -> list:
    """(position, entry, size of the axis it indexes, its place among the key's tensor
    indices: PyTorch's "dimension") of each integer-array entry of ``key``."""
    out = []
    consumed = 0  # axes of ``shape`` the entries before this one address
    place = 0
    for i, k in enumerate(key):
        if k is None:
            continue
        if k is Ellipsis:
            consumed += len(shape) - sum(_width(e) for e in key)
            continue
        kind = getattr(getattr(k, "dtype", None), "kind", None)
        if kind in ("i", "u") and consumed < len(shape):
            out.append((i, k, shape[consumed], place))
        if kind == "b":
            place += k.ndim
            consumed += k.ndim
        else:
            place += kind in ("i", "u")
            consumed += 1
    return out


def _width(k) -> int:
    """How many axes of the indexed tensor a key entry addresses."""
    if k is None or k is Ellipsis:
        return 0
    if getattr(getattr(k, "dtype", None), "kind", None) == "b":
        return k.ndim
    return 1
