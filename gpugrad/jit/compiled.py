"""gpugrad.compile's callable: warm up eagerly, record one call, replay it on later calls.

On CUDA inputs the recording is a CUDA graph capture instead (``cuda_graph.py``).

TinyJit's scheme on the CPU: the first ``warmup`` calls run eagerly (optimizer state gets made),
the next records (it runs eagerly too, seeing arrays through Tracked), and later calls whose
guards hold run the generated replay. A guard miss records again, up to ``cache_size``
recordings; past that, and after any recording that had to stop, calls run eagerly with one
warning, as torch.compile's recompile limit.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _warn
from .._tensor import Tensor
from ..autograd.grad_mode import active as _active
from ..autograd.grad_mode import state as _grad_state
from .recording import Const, GraphBreak, LiveLR, Recorder, Slot
from .replay import GuardMiss, build, read_slots
from .tracked import Tracked

_LR_ARG = {"sgd_step_": 3, "adam_step_": 6}  # where the optimizer kernels take lr


class _Entry:
    """One recording: its replay, the inputs it reads, and what must still hold."""

    __slots__ = ("replay", "state", "hyper", "modules")

    def __init__(self, replay, state, hyper, modules) -> None:
        self.replay = replay
        self.state = state  # (tensor, plain array) pairs the steps read in place
        self.hyper = hyper  # (group, key, value) the recording baked in
        self.modules = modules  # (module, module_probe(module), its result when recorded)

    def holds(self) -> bool:
        for t, arr in self.state:
            if t._data is not arr or t._backward_hooks or t._post_acc_hooks:
                return False
        return settings_hold(self.hyper, self.modules)


def settings_hold(hyper: list, modules: list) -> bool:
    """Whether the optimizer settings and module probes a recording baked in are unchanged."""
    for group, k, v in hyper:
        if group[k] != v:
            return False
    for m, probe, snap in modules:
        if probe(m.__dict__) != snap:
            return False
    return True


class CompiledFunction:
    """``fn`` recorded once and replayed; see the module docstring."""

    def __init__(
        self,
        fn: Callable,
        *,
        fullgraph: bool = False,
        warmup: int = 1,
        cache_size: int = 8,
        module_outputs: bool = False,
    ) -> None:
        self.fn = fn
        self.fullgraph = fullgraph
        self.warmup = warmup
        self.cache_size = cache_size
        self.module_outputs = module_outputs  # a module's forward: outputs need autograd
        self.module = getattr(fn, "__self__", None) if module_outputs else None
        self.entries: dict = {}
        self.recordings = 0
        self.calls = 0
        self.broken: str | None = None  # why calls now run eagerly
        self.replays = 0
        self.seen: set = set()  # keys that ran eagerly (a CUDA capture needs one such call)
        self.__wrapped__ = fn
        self.__name__ = getattr(fn, "__name__", "compiled")
        self.__doc__ = getattr(fn, "__doc__", None)

    # ---- the call ---------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self.broken is not None:
            return self.fn(*args, **kwargs)
        self.calls += 1
        key = _key(args, kwargs)
        if key is None:
            return self.fn(*args, **kwargs)
        if self.module is not None:  # train() and eval() recordings kept side by side
            key = (key, self.module.training)
        entry = self.entries.get(key)
        if entry is not None:
            if entry is _EAGER:
                return self.fn(*args, **kwargs)
            if entry.holds():
                try:
                    if entry.replay is None:  # a module's training forward
                        out = entry.run(
                            [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
                        )
                    else:
                        out = entry.replay(*_arrays(args, kwargs))
                except GuardMiss as miss:
                    if not miss.safe:
                        raise RuntimeError(
                            "gpugrad.compile: a value guard failed after the replay had "
                            "updated state in place; the step's inputs changed in a way the "
                            "recording could not check beforehand"
                        ) from None
                    return self.fn(*args, **kwargs)
                self.replays += 1
                return out
            del self.entries[key]
        if self.calls <= self.warmup:
            self.seen.add(key)
            return self.fn(*args, **kwargs)
        if self.recordings >= self.cache_size:
            self._break(f"the recompile limit ({self.cache_size} recordings) was reached")
            return self.fn(*args, **kwargs)
        return self._record(key, args, kwargs)

    def _break(self, reason: str) -> None:
        self.broken = reason
        _warn.warn(
            f"gpugrad.compile: {self.__name__} runs eagerly from now on: {reason}", RuntimeWarning
        )

    # ---- recording --------------------------------------------------------------
    def _record(self, key, args, kwargs):
        inputs = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        if any(t._device.type != "cpu" for t in inputs):
            if not self.module_outputs:
                return self._record_cuda_graph(key, args, kwargs, inputs)
            reason = (
                "a CUDA input to a compiled module (on CUDA, gpugrad.compile captures whole "
                "steps into a CUDA graph: compile the training step instead)"
            )
            if self.fullgraph:
                raise GraphBreak(f"gpugrad.compile(fullgraph=True): graph break: {reason}")
            self._break(reason)
            return self.fn(*args, **kwargs)
        self.recordings += 1
        if self.module_outputs and _grad_state.enabled:
            return self._record_training(key, args, kwargs, inputs)
        rec = Recorder(self.fullgraph)
        rec.start(inputs)
        try:
            out = self.fn(*args, **kwargs)
            if rec.active and rec.unconsumed_reads():
                rec.abort("a value read back to Python was used in Python arithmetic")
            if rec.active:
                if self.module_outputs and _needs_grad(out):
                    self.entries[key] = _EAGER
                    return out
                entry = self._entry(rec, out, inputs)
                if entry is not None:
                    self.entries[key] = entry
        finally:
            rec.stop()
        if rec.reason is not None:
            if self.fullgraph:
                raise GraphBreak(f"gpugrad.compile(fullgraph=True): graph break: {rec.reason}")
            self._break(f"the recording stopped at {rec.reason}")
        return out

    def _record_cuda_graph(self, key, args, kwargs, inputs):
        """CUDA inputs: capture the step into a CUDA graph (``cuda_graph.py``), once a call
        with this key has run eagerly (state made on first use must exist before)."""
        if key not in self.seen:
            self.seen.add(key)
            return self.fn(*args, **kwargs)
        from .cuda_graph import record

        self.recordings += 1
        out, entry, reason = record(self.fn, args, kwargs, inputs)
        if entry is None:
            if self.fullgraph:
                raise GraphBreak(f"gpugrad.compile(fullgraph=True): graph break: {reason}")
            self._break(f"the CUDA graph capture stopped at {reason}")
            return self.fn(*args, **kwargs)
        self.entries[key] = entry
        return out

    def _record_training(self, key, args, kwargs, inputs):
        from .module_training import record_training

        out, entry, reason = record_training(self.fn, args, kwargs, inputs, self.fullgraph)
        if entry is not None:
            self.entries[key] = entry
        if reason is not None:
            if self.fullgraph:
                raise GraphBreak(f"gpugrad.compile(fullgraph=True): graph break: {reason}")
            self._break(f"the recording stopped at {reason}")
        return out

    def _entry(self, rec: Recorder, out, inputs) -> _Entry | None:
        bindings = _bindings(rec)
        result = _result(rec, out)
        if rec.reason is not None or result is None:
            if rec.reason is None:
                rec.abort("the function returned something the replay cannot rebuild")
            return None
        used = read_slots(rec.steps)
        by_slot = {sw.tracked._s: sw for sw in rec.swapped}
        live = _live_lr(rec, by_slot)
        state = [
            (sw.tensor, sw.plain)
            for s, sw in by_slot.items()
            if s in used and rec.sources[s][0] == "const"
        ]
        used_tensors = {id(sw.tensor) for sw, _ in ((by_slot[s], 0) for s in used if s in by_slot)}
        hyper = []
        for opt in rec.optimizers:
            for group in opt.param_groups:
                if not any(id(p) in used_tensors for p in group["params"]):
                    continue
                for k, v in group.items():
                    if k == "params" or (k == "lr" and id(group) in live):
                        continue
                    hyper.append((group, k, v))
        modules = _module_flags(rec, used_tensors)
        why = hooks_in(modules, [t for t, _ in state])
        if why is not None:
            rec.abort(why)
            return None
        replay, order = build(rec, bindings, result)
        k_of = {i: k for i, (kind, k) in enumerate(rec.sources) if kind == "input"}
        replay.input_order = [k_of[i] for i in order]
        return _Entry(_Replay(replay, replay.input_order, len(inputs)), state, hyper, modules)


class _Replay:
    """The generated function, fed the call's input arrays in its slot order."""

    __slots__ = ("fn", "order", "n")

    def __init__(self, fn, order, n) -> None:
        self.fn, self.order, self.n = fn, order, n

    def __call__(self, *arrays):
        order = self.order
        return self.fn(*[arrays[k] for k in order])


_EAGER = object()


def _key(args, kwargs):
    """The per-call guard: each input Tensor's shape, strides, dtype, device, requires_grad, the
    other arguments' values, grad mode and autocast; None when an argument has no hash."""
    parts = [_grad_state.enabled, _active.autocast, _active.inference]
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor):
            d = a._data
            parts.append((d.shape, d.strides, d.dtype, id(a._device), a._requires_grad))
        else:
            parts.append(a)
    if kwargs:
        parts.append(tuple(kwargs))
    key = tuple(parts)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _arrays(args, kwargs) -> list:
    return [a._data for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]


def _needs_grad(out) -> bool:
    if isinstance(out, Tensor):
        return out._requires_grad or out._grad_fn is not None
    if isinstance(out, (tuple, list)):
        return any(_needs_grad(o) for o in out)
    return False


def _bindings(rec: Recorder) -> list:
    """What the call changed in Python that a replay must change too."""
    out = []
    seen_vc = set()
    for sw in rec.swapped:
        t = sw.tensor
        g = t._grad
        if g is not sw.grad:
            if g is None:
                out.append(("grad", t, None))
            else:
                s = _step_slot(rec, g.__dict__.get("_data"))
                if s is None:
                    rec.abort("a gradient the replay cannot rebuild")
                    return out
                out.append(("grad", t, s))
        d = t.__dict__.get("_data")
        if d is not sw.tracked:
            s = _step_slot(rec, d)
            if s is None:
                rec.abort("a tensor's data replaced by one the replay cannot rebuild")
                return out
            out.append(("data", t, s))
        vc = t._vc
        if id(vc) not in seen_vc:
            seen_vc.add(id(vc))
            if vc[0] != sw.vc:
                out.append(("vc", vc, vc[0] - sw.vc))
    return out


def _step_slot(rec: Recorder, d) -> int | None:
    if type(d) is Tracked and d._rec is rec and d._s is not None:
        return d._s
    return None


def _result(rec: Recorder, out):
    if isinstance(out, Tensor):
        d = out.__dict__.get("_data")
        if type(d) is Tracked and d._rec is rec and d._s is not None:
            if rec.sources[d._s][0] != "step":
                return ("const", out)
            return ("tensor", d._s, out._device)
        return None
    if isinstance(out, (tuple, list)):
        parts = [_result(rec, o) for o in out]
        if any(p is None for p in parts):
            return None
        return ("tuple" if isinstance(out, tuple) else "list", parts)
    if out is None or type(out) in (int, float, str, bool):
        return ("const", out)
    return None


def _live_lr(rec: Recorder, by_slot: dict) -> set:
    """Optimizer kernels' lr read from the group on each replay (a scheduler changes it)."""
    live = set()
    groups = []
    for opt in rec.optimizers:
        for group in opt.param_groups:
            groups.append((group, {id(p) for p in group["params"]}))
    for st in rec.steps:
        pos = _LR_ARG.get(getattr(st, "name", None))
        if pos is None or len(st.args) <= pos or type(st.args[pos]) is not Const:
            continue
        params = st.args[0]
        first = params[0] if isinstance(params, list) and params else None
        sw = by_slot.get(first.i) if type(first) is Slot else None
        if sw is None:
            continue
        for group, ids in groups:
            lr = group.get("lr")
            if id(sw.tensor) in ids and isinstance(lr, (int, float)):
                if float(lr) == st.args[pos].value:
                    args = list(st.args)
                    args[pos] = LiveLR(group)
                    st.args = tuple(args)
                    live.add(id(group))
                break
    return live


_SCALARS = frozenset((bool, int, float, str, type(None)))


_HOOKS = operator.itemgetter(
    "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"
)


def module_probe(m):
    """A function of the module's ``__dict__`` giving what a recording baked in from it: its
    hook count, which tensors are its parameters and buffers (one replaced by a new Parameter
    must be read instead), and its scalar settings as they were (``training``, a dropout's
    ``p``, a norm's ``eps``: branches and constants in the steps). Made once per recording,
    from C-level getters: it runs before every replay, for every module."""
    names = [k for k, v in m.__dict__.items() if type(v) in _SCALARS]
    scalars = operator.itemgetter(*names) if names else None

    def probe(d) -> tuple:
        return (
            sum(map(len, _HOOKS(d))),
            tuple(map(id, d["_parameters"].values())),
            tuple(map(id, d["_buffers"].values())),
            scalars(d) if scalars is not None else None,
        )

    return probe


def hooks_in(modules: list, tensors) -> str | None:
    """Why a recording cannot stand for these modules and tensors: a hook runs Python the
    replay would not (a forward hook keeping an activation, a gradient hook), or None."""
    for m, _, snap in modules:
        if snap[0]:
            return f"a hook on the module {type(m).__name__} (hooks run Python a replay skips)"
    for t in tensors:
        if t._backward_hooks or t._post_acc_hooks:
            return "a hook on a parameter's gradient (hooks run Python a replay skips)"
    return None


def _module_flags(rec: Recorder, used_tensors: set) -> list:
    """(module, its probe, what the probe gave) for every module in the trees that hold a
    parameter the steps read: a recording bakes in their train/eval branches and settings."""
    owners = set()
    for m in rec.modules:
        params = m.__dict__.get("_parameters") or {}
        if any(id(p) in used_tensors for p in params.values() if p is not None):
            owners.add(id(m))
    flags = {}
    for m in rec.modules:
        try:
            tree = list(m.modules())
        except Exception:
            continue
        if any(id(x) in owners for x in tree):
            for x in tree:
                if "_parameters" in x.__dict__:
                    probe = module_probe(x)
                    flags[id(x)] = (x, probe, probe(x.__dict__))
    return list(flags.values())


def is_compiled(obj: Any) -> bool:
    return isinstance(obj, CompiledFunction)


__all__ = ["CompiledFunction", "GraphBreak", "is_compiled", "np"]
