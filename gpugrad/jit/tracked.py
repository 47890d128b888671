"""Tracked: the ndarray subclass a recording sees arrays through, and HostInt, a recorded int.

Every NumPy operation on a Tracked array (ufuncs, array functions, the methods and operators
below) goes to the active recorder, which runs it on the plain arrays and writes it down as one
step. A Tracked array made any other way (a C path that makes a view without asking) has no
slot: using it in a later step stops the recording rather than baking its values in.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

_nd = np.ndarray


class Tracked(np.ndarray):
    """A view of a plain array (``_plain``) that stands for slot ``_s`` of a recording."""

    _s = None  # slot; None: made by a path the recorder did not see
    _plain = None
    _rec = None  # the recorder that made it

    def __array_finalize__(self, obj: Any) -> None:
        pass  # a view NumPy made by itself: no slot (see the module docstring)

    # ---- NumPy's protocols --------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        return _recorder(self).call(fn, inputs, kwargs, f"{ufunc.__name__}.{method}")

    def __array_function__(self, func, types, args, kwargs):
        return _recorder(self).call(func, args, kwargs, func.__name__)

    # ---- indexing ---------------------------------------------------------------
    def __getitem__(self, index):
        rec = _recorder(self)
        if rec.active and _has_bool_index(index):
            rec.abort("boolean-mask indexing (a data-dependent shape)")
        return rec.call(operator.getitem, (self, index), {}, "getitem")

    def __setitem__(self, index, value) -> None:
        _recorder(self).call(operator.setitem, (self, index, value), {}, "setitem")

    def __iter__(self):
        _recorder(self).abort("iterating over an array in Python")
        return iter(self._plain)

    # ---- reads back to Python ----------------------------------------------------
    def __bool__(self) -> bool:
        _recorder(self).abort("bool() of an array (a data-dependent branch)")
        return bool(self._plain)

    def __index__(self) -> int:
        _recorder(self).abort("an array used as a Python index")
        return operator.index(self._plain)

    def __float__(self) -> float:
        return _recorder(self).host_read(self, float)

    def __int__(self) -> int:
        return _recorder(self).host_read(self, int)

    def __complex__(self) -> complex:
        _recorder(self).abort("complex() of an array")
        return complex(self._plain)

    def item(self, *args):
        _recorder(self).abort("array.item() (a read back to Python)")
        return self._plain.item(*args)

    def tolist(self):
        _recorder(self).abort("array.tolist() (a read back to Python)")
        return self._plain.tolist()

    def __repr__(self) -> str:
        _recorder(self).abort("printing an array")
        return repr(self._plain)

    __str__ = __repr__

    def __reduce__(self):
        _recorder(self).abort("pickling an array")
        return self._plain.__reduce__()

    @property
    def base(self):
        # the plain array's own base: code that asks "is this a fresh array?" (the engine
        # keeps a fresh gradient without a copy) sees what eager mode sees
        return self._plain.base if self._plain is not None else _nd.base.__get__(self)

    @property
    def shape(self):
        return _nd.shape.__get__(self)

    @shape.setter
    def shape(self, value) -> None:
        # ``a.shape = s`` reshapes in place (the normalizations do it to fresh kernel
        # results): the plain array must change with it, in the recording and in the replay
        _recorder(self).call(_set_shape, (self, value), {}, "set_shape")
        _nd.shape.__set__(self, value)

    @property
    def device(self):
        return _TRACKED_DEVICE

    @property
    def T(self):  # noqa: N802 - NumPy's name
        return _recorder(self).call(_transpose, (self,), {}, "T")

    @property
    def mT(self):  # noqa: N802 - NumPy's name
        return _recorder(self).call(_mT, (self,), {}, "mT")

    @property
    def real(self):
        return _recorder(self).call(np.real, (self,), {}, "real")

    @property
    def imag(self):
        return _recorder(self).call(np.imag, (self,), {}, "imag")


class _TrackedDevice:
    """What ``Tracked.device`` answers: ``backend_of`` finds the CPU backend under this id
    while a recording is installed (a plain array's ``device`` is the string "cpu")."""

    id = "gpugrad.jit.tracked"

    def __str__(self) -> str:
        return "cpu"


_TRACKED_DEVICE = _TrackedDevice()


def _set_shape(a, shape) -> None:
    a.shape = shape


def _transpose(a):
    return a.T


def _mT(a):  # noqa: N802
    return a.mT


def _recorder(arr: Tracked):
    return arr._rec


def _has_bool_index(index) -> bool:
    items = index if type(index) is tuple else (index,)
    for it in items:
        dt = getattr(it, "dtype", None)
        if dt is not None and dt == np.bool_ and getattr(it, "ndim", 0) > 0:
            return True
        if type(it) is list and it and isinstance(it[0], bool):
            return True
    return False


# Methods recorded as one step each: ndarray's own method on the plain array.
_ABORT_METHODS = {
    "nonzero": "nonzero() (a data-dependent shape)",
    "compress": "compress() (a data-dependent shape)",
}
_METHODS = (
    "sum mean max min prod std var any all argmax argmin cumsum cumprod clip reshape "
    "transpose swapaxes view astype copy ravel flatten squeeze repeat take dot round fill "
    "sort argsort conj conjugate diagonal trace ptp put partition argpartition searchsorted "
    "byteswap resize choose __copy__ __deepcopy__ __array__ __matmul__ __rmatmul__ __imatmul__"
).split()


def _method(name: str):
    unbound = getattr(_nd, name)

    def method(self, *args, **kwargs):
        return _recorder(self).call(unbound, (self, *args), kwargs, name)

    method.__name__ = name
    return method


def _aborting(name: str, reason: str):
    unbound = getattr(_nd, name)

    def method(self, *args, **kwargs):
        _recorder(self).abort(reason)
        return unbound(self._plain, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _METHODS:
    if hasattr(_nd, _name):
        setattr(Tracked, _name, _method(_name))
for _name, _why in _ABORT_METHODS.items():
    setattr(Tracked, _name, _aborting(_name, _why))


class HostInt(int):
    """An int a backend method returned (``index_top``, ``minmax``): comparing it is recorded
    as a guard the replay checks; any other use of it stops the recording."""

    _s: int
    _rec: Any

    def _cmp(self, other, op):
        result = op(int(self._v), other)
        self._rec.guard(self, op, other, result)
        return result

    def __lt__(self, other):
        return self._cmp(other, operator.lt)

    def __le__(self, other):
        return self._cmp(other, operator.le)

    def __gt__(self, other):
        return self._cmp(other, operator.gt)

    def __ge__(self, other):
        return self._cmp(other, operator.ge)

    def __eq__(self, other):
        return self._cmp(other, operator.eq)

    def __ne__(self, other):
        return self._cmp(other, operator.ne)

    __hash__ = int.__hash__

    def _other(self, *args, **kwargs):
        self._rec.abort("a value read back to Python used in arithmetic")
        return NotImplemented


for _name in (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __floordiv__ __rfloordiv__ __mod__ "
    "__rmod__ __truediv__ __rtruediv__ __pow__ __rpow__ __neg__ __abs__ __bool__ __index__ "
    "__int__ __float__ __format__ __repr__ __str__ __and__ __or__ __xor__ __lshift__ __rshift__"
).split():

    def _op(self, *args, _name=_name):
        self._rec.abort("a value read back to Python used in Python code")
        return getattr(int, _name)(self._v, *args)

    setattr(HostInt, _name, _op)


def host_int(value: int, slot: int, rec) -> HostInt:
    h = HostInt(value)
    h._v = int.__int__(value) if type(value) is not int else value
    h._s = slot
    h._rec = rec
    return h
