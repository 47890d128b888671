"""Recording one call: every array operation it makes, as steps over numbered slots.

While a ``Recorder`` is installed, every Tensor's array is seen through ``Tracked``; the CPU
backend's methods (named kernels and the rest) and the ``xp`` module the ops call are wrapped
so each call is ONE step, run on plain arrays (compiled Numba kernels keep working). Random
draws are backend calls, so a replay draws afresh. A read back to Python that is not a
known kernel argument (the optimizers' step count, dropout's seed) stops the recording: the
call finishes eagerly and the recording is thrown away.
"""

from __future__ import annotations

import gc
import sys
import types
import warnings
from typing import Any

import numpy as np

from .._tensor import Tensor
from ..backend import BACKEND_BY_TYPE, _cuda_backends, cpu_backend
from ..backend.kernels.elementwise import COMPOSITE
from .tracked import _TRACKED_DEVICE, HostInt, Tracked, host_int

# Modules whose float()/int() of an array feeds a kernel argument directly (checked at the
# end: a read no step consumed was used in Python arithmetic, and stops the recording).
_HOST_READERS = frozenset({"gpugrad.optim._flags"})
# Backend attributes that are not array work: called through unchanged.
_PASS = frozenset({"quiet", "arange_cached", "synchronize", "sparse_module", "xp", "device"})
# The CPU's kernels written as a few array operations in Python (the elementwise backward
# formulas): recorded by those operations, so a replay runs the ufuncs inline rather than
# calling back into a Python method per step.
_COMPOSITE = frozenset(COMPOSITE)
# Tensor methods that read values back to Python: each stops the recording.
_TENSOR_READS = (
    "item tolist numpy __bool__ __float__ __int__ __index__ __complex__ __repr__ __format__"
).split()
# Array functions whose result's shape depends on the data (torch.compile breaks on them too
# unless told to trace such shapes): the shapes the ops compute from it are baked in.
_DATA_DEPENDENT = frozenset(
    "nonzero flatnonzero argwhere unique unique_all unique_counts unique_inverse unique_values "
    "extract compress trim_zeros".split()
)


class GraphBreak(RuntimeError):
    """Raised (with ``fullgraph=True``) where a recording cannot continue."""


class Slot:
    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


class Const:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class LiveLR:
    """A kernel's ``lr`` argument read from its optimizer group on each replay."""

    __slots__ = ("group",)

    def __init__(self, group: dict) -> None:
        self.group = group


class InputRef:
    """The call's ``k``-th input Tensor, as a binding's target: a replay sets the gradient or
    version of the Tensor it is called with, not of the one the recording saw."""

    __slots__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = k


class Step:
    __slots__ = ("fn", "args", "kwargs", "out", "name", "to_array")

    def __init__(self, fn, args, kwargs, out, name, to_array=()) -> None:
        self.fn, self.args, self.kwargs, self.out, self.name = fn, args, kwargs, out, name
        self.to_array = to_array  # output slots NumPy gave as scalars: made 0-d arrays


class Guard:
    __slots__ = ("op", "left", "right", "result")

    def __init__(self, op, left, right, result) -> None:
        self.op, self.left, self.right, self.result = op, left, right, result


class Swapped:
    __slots__ = ("tensor", "plain", "tracked", "grad", "vc")

    def __init__(self, tensor, plain, tracked) -> None:
        self.tensor, self.plain, self.tracked = tensor, plain, tracked
        self.grad = tensor._grad
        self.vc = tensor._vc[0]


class Recorder:
    """Records one call. ``start`` installs it, ``finish`` removes it and says what the
    call left behind (bindings); ``reason`` is set when the recording stopped."""

    def __init__(self, fullgraph: bool = False) -> None:
        self.active = True
        self.fullgraph = fullgraph
        self.reason: str | None = None
        self.depth = 0
        self.steps: list = []
        self.sources: list = []  # per slot: ("const", value) | ("input", k) | ("step", None)
        self.owners: dict[int, Any] = {}
        self.host_reads: dict[int, tuple[int, Any]] = {}
        self.consumed: set[int] = set()
        self.swapped: list[Swapped] = []
        self.lr_groups: list = []  # (optimizer, group) whose lr a kernel reads live
        self.optimizers: list = []
        self.modules: list = []
        self._patched: list = []
        # fullgraph=True: each recorded array's contents before the first step that was
        # handed it, so that a graph break can put the call's in-place writes back
        self.undo: dict[int, tuple] | None = {} if fullgraph else None
        self._opt_state: list = []

    # ---- slots ------------------------------------------------------------------
    def _slot(self, source) -> int:
        self.sources.append(source)
        return len(self.sources) - 1

    def _track(self, plain, slot: int) -> Tracked:
        t = plain.view(Tracked)
        t._plain, t._s, t._rec = plain, slot, self
        base = plain.base
        owner = plain if base is None else base
        self.owners[id(owner)] = owner
        return t

    # ---- stopping ---------------------------------------------------------------
    def abort(self, reason: str) -> None:
        if not self.active:
            return
        self.active = False
        self.reason = reason
        if self.fullgraph:
            raise GraphBreak(f"gpugrad.compile(fullgraph=True): graph break: {reason}")

    # ---- arguments --------------------------------------------------------------
    def _conv(self, x):
        """(the plain value, its template) of one argument."""
        t = type(x)
        if t is Tracked:
            if x._rec is not self or x._s is None:
                self.abort("an array view made outside NumPy's dispatch")
                return x._plain if x._plain is not None else x.view(np.ndarray), None
            return x._plain, Slot(x._s)
        if t is HostInt:
            return x._v, Slot(x._s)
        if t is float or t is int:
            hit = self.host_reads.get(id(x))
            if hit is not None and hit[1] is x:
                self.consumed.add(hit[0])
                return x, Slot(hit[0])
            return x, Const(x)
        if t is tuple or t is list:
            pairs = [self._conv(v) for v in x]
            return t(p for p, _ in pairs), t(tm for _, tm in pairs)
        if t is dict:
            pairs = {k: self._conv(v) for k, v in x.items()}
            return {k: p for k, (p, _) in pairs.items()}, {k: tm for k, (_, tm) in pairs.items()}
        if t is slice:
            parts = [self._conv(v) for v in (x.start, x.stop, x.step)]
            if any(type(tm) is Slot for _, tm in parts):
                self.abort("a slice bound read back from an array")
            return slice(*(p for p, _ in parts)), Const(slice(*(p for p, _ in parts)))
        if isinstance(x, np.ndarray) and t is not Tracked:
            base = x.base
            if id(x if base is None else base) in self.owners:
                self.abort("a plain view of a recorded array (made outside NumPy's dispatch)")
        return x, Const(x)

    # ---- steps ------------------------------------------------------------------
    def call(self, fn, args, kwargs, name: str, resolve: bool = False):
        """Run ``fn`` on the plain arrays behind ``args`` and record it as one step
        (``resolve``: a backend method, recorded as the function its dispatch picks)."""
        if not self.active or self.depth:
            return fn(*_plain(args), **_plain(kwargs))
        pargs, targs = self._conv(tuple(args))
        pkw, tkw = self._conv(dict(kwargs))
        if not self.active:  # stopped by an argument
            return fn(*pargs, **pkw)
        if resolve:
            fn = _resolve(fn, pargs, pkw)
        if self.undo is not None:
            self._keep(targs, pargs)
            self._keep(tkw, pkw)
        self.depth += 1
        try:
            res = fn(*pargs, **pkw)
        finally:
            self.depth -= 1
        known = {}
        _collect(args, known)
        _collect(kwargs, known)
        out, wrapped, to_array = self._wrap(res, known, name)
        if self.active:
            self.steps.append(Step(fn, targs, tkw, out, name, to_array))
        return wrapped

    def _wrap(self, res, known: dict, name: str):
        """(output template, what the caller gets, slots to make 0-d arrays)."""
        hit = known.get(id(res))
        if hit is not None:
            return None, hit, ()  # an argument returned (out=, to_host): no new slot
        t = type(res)
        if t is np.ndarray:
            s = self._slot(("step", None))
            return s, self._track(res, s), ()
        if isinstance(res, np.generic):
            s = self._slot(("step", None))
            return s, self._track(np.asarray(res), s), (s,)
        if t is tuple or t is list:
            outs, wraps, arrs = [], [], []
            for r in res:
                o, w, a = self._wrap(r, known, name)
                if isinstance(o, tuple):
                    self.abort(f"{name} returned nested tuples")
                outs.append(o)
                wraps.append(w)
                arrs.extend(a)
            return tuple(outs), t(wraps), tuple(arrs)
        if res is None or t is str or t is type or callable(res) or isinstance(res, np.dtype):
            return None, res, ()
        if t is int:
            s = self._slot(("step", None))
            return s, host_int(res, s, self), ()
        if t is bool or t is float or t is complex:
            self.abort(f"{name} returned a Python {t.__name__} read from array data")
            return None, res, ()
        return None, res, ()

    def _keep(self, tm, plain) -> None:
        """Copy the arrays of recorded (not step-made) slots in ``tm`` not copied before."""
        t = type(tm)
        if t is Slot:
            if tm.i not in self.undo and self.sources[tm.i][0] != "step":
                if type(plain) is np.ndarray:
                    self.undo[tm.i] = (plain, plain.copy())
        elif t is tuple or t is list:
            for x, p in zip(tm, plain):
                self._keep(x, p)
        elif t is dict:
            for k, x in tm.items():
                self._keep(x, plain[k])

    def rollback(self) -> None:
        """Put back what the call changed of the tensors it found and the optimizers' state
        (after ``stop``): a fullgraph=True graph break raises, and leaves nothing applied."""
        for arr, saved in reversed(list((self.undo or {}).values())):
            arr[...] = saved
        for sw in self.swapped:
            t = sw.tensor
            t._data, t._grad = sw.plain, sw.grad
            t._vc[0] = sw.vc
        for opt, state in self._opt_state:
            for p in [p for p in opt.state if all(p is not q for q, _, _ in state)]:
                del opt.state[p]
            for p, st, saved in state:
                st.clear()
                st.update(saved)
                opt.state[p] = st

    def guard(self, h: HostInt, op, other, result: bool) -> None:
        if not self.active or self.depth:
            return
        _, right = self._conv(other)
        self.steps.append(Guard(op, Slot(h._s), right, result))

    def host_read(self, arr: Tracked, kind):
        """float()/int() of an array: a slot when a known kernel argument, else a stop."""
        value = kind(arr._plain)
        if not self.active or self.depth:
            return value
        caller = sys._getframe(2).f_globals.get("__name__")
        if caller not in _HOST_READERS:
            self.abort(f"{kind.__name__}() of an array (a read back to Python)")
            return value
        if kind is int and -5 <= value <= 256:  # a cached small int: no identity to follow
            self.abort("a small int read back to Python")
            return value
        s = self._slot(("step", None))
        self.steps.append(Step(kind, (Slot(arr._s),), {}, s, kind.__name__))
        self.host_reads[id(value)] = (s, value)
        return value

    # ---- installing ---------------------------------------------------------------
    def start(self, inputs: list) -> None:
        """See every Tensor through Tracked, wrap the backend, patch Tensor's reads."""
        from ..nn.modules.module import Module
        from ..optim.optimizer import Optimizer

        input_ids = {id(t): k for k, t in enumerate(inputs)}
        gc.collect()
        with warnings.catch_warnings():  # isinstance() on a deprecated alias object warns
            warnings.simplefilter("ignore")
            objects = gc.get_objects()
            tensors_etc = [o for o in objects if isinstance(o, (Tensor, Optimizer, Module))]
        del objects
        for o in tensors_etc:
            if isinstance(o, Tensor):
                d = o.__dict__.get("_data")
                if type(d) is np.ndarray and o._sparse is None:
                    k = input_ids.get(id(o))
                    s = self._slot(("input", k) if k is not None else ("const", d))
                    tr = self._track(d, s)
                    self.swapped.append(Swapped(o, d, tr))
                    o._data = tr
            elif isinstance(o, Optimizer):
                self.optimizers.append(o)
                if self.undo is not None:
                    saved = [(p, st, dict(st)) for p, st in o.state.items()]
                    self._opt_state.append((o, saved))
            elif isinstance(o, Module):
                self.modules.append(o)
        for cuda_be in list(_cuda_backends.values()):
            self._refuse_backend(cuda_be)
        be = cpu_backend()
        BACKEND_BY_TYPE[Tracked] = be
        _cuda_backends[_TRACKED_DEVICE.id] = be  # backend_of(arr) asks arr.device.id
        self._patch_backend(be)
        for name in _TENSOR_READS:
            orig = Tensor.__dict__.get(name)
            if orig is None:
                continue
            self._patched.append((Tensor, name, orig))
            setattr(Tensor, name, _reading(self, name, orig))

    def _patch_backend(self, be) -> None:
        self._wrap_methods(be, _backend_method, _XpProxy, through=_COMPOSITE)
        be.to_host = _host_copy(self, be.to_host)  # (stop() restores the original)

    def _wrap_methods(self, be, wrap, xp_proxy, through=frozenset()) -> None:
        """Every public method of ``be`` as ``wrap(self, name, fn)``, its ``xp`` proxied;
        the names in ``through`` are left as they are (recorded by what they call)."""
        inst = be.__dict__
        names = set(inst) | {n for n in dir(type(be)) if not n.startswith("_")}
        for name in sorted(names):
            if name.startswith("_") or name in _PASS or name in through:
                continue
            fn = getattr(be, name)
            if not callable(fn) or isinstance(fn, type):
                continue
            self._patched.append((be, name, inst.get(name, _MISSING)))
            setattr(be, name, wrap(self, name, fn))
        self._patched.append((be, "xp", inst.get("xp", _MISSING)))
        be.xp = xp_proxy(be.xp, self)

    def _refuse_backend(self, be) -> None:
        """A CUDA backend's work is not recorded (replays are CPU array calls): any use of it
        stops the recording, so such a step runs eagerly instead of replaying without it."""
        self._wrap_methods(be, _refusing, _XpRefusal)

    def stop(self) -> None:
        """Undo ``start``: plain arrays everywhere again, the backend and Tensor as before."""
        for obj, name, orig in reversed(self._patched):
            if orig is _MISSING:
                delattr(obj, name)
            else:
                setattr(obj, name, orig)
        self._patched.clear()
        BACKEND_BY_TYPE.pop(Tracked, None)
        _cuda_backends.pop(_TRACKED_DEVICE.id, None)
        self.active = False
        for o in gc.get_objects():
            # type(), not isinstance(): that also reads __class__, which some module-level
            # objects (torch's deprecated aliases) answer with a warning
            if issubclass(type(o), Tensor):
                d = o.__dict__.get("_data")
                if type(d) is Tracked:
                    o._data = d._plain if d._plain is not None else d.view(np.ndarray)

    def unconsumed_reads(self) -> bool:
        """Whether a read no step took is unlike every read one did (reads of equal values
        are grouped by the optimizers, which pass one of them on)."""
        taken = {v for s, v in self.host_reads.values() if s in self.consumed}
        return any(s not in self.consumed and v not in taken for s, v in self.host_reads.values())


_MISSING = object()


def _plain(x):
    t = type(x)
    if t is Tracked:
        return x._plain if x._plain is not None else x.view(np.ndarray)
    if t is HostInt:
        return x._v
    if t is tuple or t is list:
        return t(_plain(v) for v in x)
    if t is dict:
        return {k: _plain(v) for k, v in x.items()}
    return x


def _collect(x, known: dict) -> None:
    """Map each argument's plain array to the Tracked the caller passed."""
    t = type(x)
    if t is Tracked and x._plain is not None:
        known[id(x._plain)] = x
    elif t is tuple or t is list:
        for v in x:
            _collect(v, known)
    elif t is dict:
        for v in x.values():
            _collect(v, known)


def _resolve(fn, args, kwargs):
    """The function a backend method's dispatch would run for these arguments: the engine's
    compiled kernel where its predicate holds, else the reference; NumPy's bfloat16 wrapper
    unwrapped for other dtypes. Inputs' shapes, dtypes and strides are guarded, so a replay
    would take the same branches; calling the target directly saves their Python frames."""
    for _ in range(4):
        engine = getattr(fn, "engine", None)
        if engine is not None and hasattr(fn, "reference"):
            name = fn.__name__
            impl = engine._impls.get(name)
            if impl is None or name in engine.failed:
                return fn
            if impl.when(*args, **kwargs):
                try:
                    return engine.compiled(name)
                except Exception:
                    return fn
            fn = fn.reference
            continue
        if getattr(fn, "__qualname__", "").startswith("_bfloat16_in_float32.") and fn.__closure__:
            first = args[0] if args else None
            if type(first) is list:
                first = first[0] if first else None
            if first is None or str(getattr(first, "dtype", "")) == "bfloat16":
                return fn
            cells = dict(zip(fn.__code__.co_freevars, fn.__closure__))
            if "reference" not in cells:
                return fn
            fn = cells["reference"].cell_contents
            continue
        return fn
    return fn


def _backend_method(rec: Recorder, name: str, fn, resolve: bool = True):
    def method(*args, **kwargs):
        return rec.call(fn, args, kwargs, name, resolve)

    method.__name__ = name
    for attr in ("reference", "engine"):
        if hasattr(fn, attr):
            setattr(method, attr, getattr(fn, attr))
    return method


def _host_copy(rec: Recorder, recorded):
    """``to_host`` from the step itself: its data leaves for Python (a checkpoint written, a
    transfer), which a replay of array calls would skip, so the recording stops there."""

    def to_host(*args, **kwargs):
        if rec.active and not rec.depth:
            rec.abort("a tensor's data copied to the host (a read back to Python)")
        return recorded(*args, **kwargs)

    to_host.__name__ = "to_host"
    return to_host


def _reading(rec: Recorder, name: str, orig):
    def read(self, *args, **kwargs):
        rec.abort(f"Tensor.{name.strip('_')}() (a read back to Python)")
        return orig(self, *args, **kwargs)

    read.__name__ = name
    return read


_CUDA_REASON = (
    "a CUDA op in a step with no CUDA tensor argument (on CUDA, gpugrad.compile captures steps "
    "into a CUDA graph from their tensor arguments: pass the batch as an argument)"
)


def _refusing(rec: Recorder, name: str, fn):
    def method(*args, **kwargs):
        rec.abort(_CUDA_REASON)
        return fn(*args, **kwargs)

    method.__name__ = name
    return method


class _XpRefusal:
    """A CUDA backend's array module while recording: using it stops the recording."""

    def __init__(self, module, rec: Recorder) -> None:
        self.__dict__["_m"] = module
        self.__dict__["_rec"] = rec

    def __getattr__(self, name: str):
        self._rec.abort(_CUDA_REASON)
        return getattr(self._m, name)


def _data_dependent(rec: Recorder, name: str, fn):
    """``xp.<name>``: a stop of the recording (``where`` only in its one-argument form)."""
    recorded = _backend_method(rec, name, fn, resolve=False)

    def method(*args, **kwargs):
        if name != "where" or (len(args) + len(kwargs)) == 1:
            rec.abort(f"{name}() (a data-dependent shape)")
            if not rec.active:
                return fn(*_plain(args), **_plain(kwargs))
        return recorded(*args, **kwargs)

    method.__name__ = name
    return method


class _XpProxy:
    """The array module as the ops see it while recording: each function call is a step."""

    def __init__(self, module, rec: Recorder) -> None:
        self.__dict__["_m"] = module
        self.__dict__["_rec"] = rec

    def __getattr__(self, name: str):
        real = getattr(self._m, name)
        if isinstance(real, types.ModuleType):
            out = _XpProxy(real, self._rec)
        elif name in _DATA_DEPENDENT or name == "where":
            out = _data_dependent(self._rec, name, real)
        elif callable(real) and not isinstance(real, type):
            out = _backend_method(self._rec, name, real, resolve=False)
        else:
            out = real
        self.__dict__[name] = out
        return out
