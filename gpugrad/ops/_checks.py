"""Argument checks shared by the indexing ops, with PyTorch's exception types and texts.

Index ranges are checked before any work (and before any write, so a failed in-place call
changes nothing): NumPy raises for some out-of-range indices but wraps negative ones where
PyTorch refuses them, and CuPy wraps every out-of-range index silently. The good path costs
one min/max reduction; only a failing check looks for the offending index, the first one
in memory order, as PyTorch reports it.
"""

from __future__ import annotations

from .. import _dtype as D

_INT32_64 = frozenset(("int32", "int64"))


def first_bad_index(backend, idx, n: int, negative: bool):
    """The first entry of the integer array ``idx`` outside ``[-n, n)`` (``[0, n)`` when
    ``negative`` is False), or None when every entry is in range."""
    if idx.size == 0:
        return None
    lo, hi = backend.minmax(idx)
    if hi < n and lo >= (-n if negative else 0):
        return None
    flat = idx.reshape(-1)
    bad = (flat >= n) | (flat < (-n if negative else 0))
    return int(flat[int(backend.xp.argmax(bad))])


def check_dim_index(backend, idx, n: int, dim: int, negative: bool, exc=RuntimeError, op=""):
    """Raise PyTorch's "index i is out of bounds for dimension d with size n" (prefixed with
    ``op``, as index_copy_'s is) for an index outside the dimension."""
    bad = first_bad_index(backend, idx, n, negative)
    if bad is not None:
        raise exc(f"{op}index {bad} is out of bounds for dimension {dim} with size {n}")


def check_in_self(backend, idx, n: int) -> None:
    """index_select / index_add's range check: ``[0, n)`` or "index out of range in self"."""
    if first_bad_index(backend, idx, n, negative=False) is not None:
        raise IndexError("index out of range in self")


def check_flat_index(backend, idx, n: int) -> None:
    """take / put_'s range check over the flattened tensor of ``n`` elements."""
    bad = first_bad_index(backend, idx, n, negative=True)
    if bad is not None:
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")


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
    """Check the integer-array entries of a converted indexing key against ``shape``.

    PyTorch names the dimension by the entry's place among the key's tensor indices (a
    boolean mask counts as its number of dimensions), not by the indexed tensor's axis:
    ``x[:, t]`` with a bad ``t`` reports "dimension 0"; the size is that of the axis.
    """
    consumed = 0  # axes of ``shape`` the key entries before this one address
    for k in key:
        if k is None:
            continue
        if k is Ellipsis:
            consumed += len(shape) - sum(_width(e) for e in key)
            continue
        kind = getattr(getattr(k, "dtype", None), "kind", None)
        if kind in ("i", "u") and consumed < len(shape):
            n = shape[consumed]
            bad = first_bad_index(backend, k, n, negative=True)
            if bad is not None:
                place = sum(_tensor_width(e) for e in key[: _position(key, k)])
                raise IndexError(
                    f"index {bad} is out of bounds for dimension {place} with size {n}"
                )
        consumed += _width(k)


def _position(key: tuple, entry) -> int:
    for i, e in enumerate(key):
        if e is entry:
            return i
    return len(key)


def _width(k) -> int:
    """How many axes of the indexed tensor a key entry addresses."""
    if k is None or k is Ellipsis:
        return 0
    if getattr(getattr(k, "dtype", None), "kind", None) == "b":
        return k.ndim
    return 1


def _tensor_width(k) -> int:
    """How many of PyTorch's tensor indices a key entry makes (a mask: one per axis)."""
    kind = getattr(getattr(k, "dtype", None), "kind", None)
    if kind == "b":
        return k.ndim
    return 1 if kind in ("i", "u") else 0
