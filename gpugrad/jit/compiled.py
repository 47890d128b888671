"""gpugrad.compile's callable: warm up eagerly, record one call, replay it on later calls.

On CUDA inputs the recording is a CUDA graph capture instead (``cuda_graph.py``).

TinyJit's scheme on the CPU: the first ``warmup`` calls run eagerly (optimizer state gets made),
the next records (it runs eagerly too, seeing arrays through Tracked), and later calls whose
guards hold run the generated replay. A guard miss records again, up to ``cache_size``
recordings; past that, and after any recording that had to stop, calls run eagerly with one
warning, as torch.compile's recompile limit.

The guards: the call's key (input shapes, strides, dtypes, devices, requires_grad and whether
an input's gradient is there; grad mode; this thread's autocast regions), then per entry the
arrays and gradients it binds, the parameters' requires_grad, the optimizer settings and module
probes it baked in, and the Python values the step function can see (``python_state.py``). A
recording stops (eager from then on) where the step reads data back to Python, makes a
data-dependent shape, or changes a Python value, an optimizer setting or a module setting a
replay would not change. Under ``fullgraph=True`` it raises ``GraphBreak`` instead, with the
call's in-place writes, gradients and optimizer state put back as they were.
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
from .python_state import changed, probe_for
from .recording import Const, GraphBreak, InputRef, LiveLR, Recorder, Slot
from .replay import GuardMiss, build, read_slots
from .tracked import Tracked

_LR_ARG = {"sgd_step_": 3, "adam_step_": 6}  # where the optimizer kernels take lr


class _Entry:
    """One recording: its replay, the inputs it reads, and what must still hold."""

    __slots__ = ("replay", "state", "hyper", "modules", "grads", "req", "python")

    def __init__(self, replay, state, hyper, modules, grads=(), req=(), python=None) -> None:
        self.replay = replay
        self.state = state  # (tensor, plain array) pairs the steps read in place
        self.hyper = hyper  # (group, key, value) the recording baked in
        self.modules = modules  # (module, module_probe(module), its result when recorded)
        # (tensor, its .grad) where the steps depend on that gradient: one the replay writes
        # into in place must still be the tensor's (not dropped by a zero_grad outside), and
        # one the replay assigns must be what it was (``_rebound``)
        self.grads = grads
        self.req = req  # (tensor, requires_grad) of the parameters a backward may reach
        self.python = python  # (python_state probe, its values when recorded) or None

    def holds(self) -> bool:
        for t, arr in self.state:
            if t._data is not arr or t._backward_hooks or t._post_acc_hooks:
                return False
        for t, g in self.grads:
            if t._grad is not g:
                return False
        for t, rg in self.req:
            if t._requires_grad is not rg:
                return False
        if self.python is not None and self.python[0]() != self.python[1]:
            return False
        return settings_hold(self.hyper, self.modules)


def settings_now(optimizers: list, modules: list) -> tuple:
    """The optimizers' group settings and the modules' probes, before a recorded call."""
    hyper = [
        (opt, i, group, dict(group)) for opt in optimizers
        for i, group in enumerate(opt.param_groups)
    ]  # fmt: skip
    probes = []
    for m in modules:
        if "_parameters" in m.__dict__:
            probe = module_probe(m)
            probes.append((m, probe, probe(m.__dict__)))
    return hyper, probes


def settings_changed(before: tuple) -> str | None:
    """What the call changed of the settings ``settings_now`` gave: a Python change a replay
    would not make (an lr scheduler stepped inside the step), or None."""
    hyper, probes = before
    for opt, i, group, was in hyper:
        for k in group.keys() | was.keys():
            if k != "params" and group.get(k, _MISSING) is not was.get(k, _MISSING):
                if group.get(k) != was.get(k):
                    return (
                        f"param_groups[{i}][{k!r}] of {type(opt).__name__} set in the step "
                        "(a Python change a replay would skip; an lr scheduler steps outside "
                        "the compiled step)"
                    )
    for m, probe, was in probes:
        if probe(m.__dict__) != was:
            return f"a setting of the module {type(m).__name__} changed in the step"
    return None


_MISSING = object()


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
                        out = entry.replay(args, kwargs)
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
        # the gradients the inputs carry in: a step that drops them (x.grad = None) before its
        # backward replays; one whose steps read them (autograd accumulating into the input's
        # own gradient) cannot, as a replay is bound to this call's arrays: eager for this key
        carried = {id(t._grad) for t in inputs if t._requires_grad and t._grad is not None}
        self.recordings += 1
        if self.module_outputs and _grad_state.enabled:
            return self._record_training(key, args, kwargs, inputs)
        python = probe_for(self.fn if self.module is None else self.module.forward)
        seen = python[0]() if python is not None else None
        rec = Recorder(self.fullgraph)
        rec.start(inputs)
        settings = settings_now(rec.optimizers, rec.modules)
        broke = False
        try:
            out = self.fn(*args, **kwargs)
            if rec.active and rec.unconsumed_reads():
                rec.abort("a value read back to Python was used in Python arithmetic")
            if rec.active:
                why = settings_changed(settings)
                if why is None and python is not None:
                    label = changed(python[1], seen, python[0]())
                    if label is not None:
                        why = f"a change of {label} (a Python side effect a replay would skip)"
                if why is not None:
                    rec.abort(why)
            if rec.active:
                if self.module_outputs and _needs_grad(out):
                    self.entries[key] = _EAGER
                    return out
                entry = self._entry(rec, out, inputs)
                if entry is not None and carried and _reads_any(rec, carried):
                    self.entries[key] = _EAGER
                elif entry is not None:
                    if python is not None:
                        entry.python = (python[0], python[0]())
                    self.entries[key] = entry
        except GraphBreak:
            broke = True
            raise
        finally:
            rec.stop()
            if broke:  # fullgraph=True: the call raises, so none of it may stay applied
                rec.rollback()
        if rec.reason is not None:
            if self.fullgraph:
                rec.rollback()
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
        bound = {id(t) for kind, t, _ in bindings if kind == "grad"}
        slot_of = {id(sw.tensor): s for s, sw in by_slot.items()}
        grads = [
            (t, t._grad)
            for t, _ in state
            if t._grad is not None and id(t) not in bound and slot_of.get(id(t._grad)) in used
        ]
        # with grad mode on, a parameter frozen or unfrozen since changes what the backward
        # computes (a replay would still update a frozen one)
        req = [
            (t, t._requires_grad)
            for t, _ in state
            if _grad_state.enabled and (t._requires_grad or _is_param(t))
        ]
        rebound = _rebound(rec, bound, used)
        grads += rebound
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
        why = hooks_in(modules, [t for t, _ in state] + [t for t, _ in rebound])
        if why is not None:
            rec.abort(why)
            return None
        bindings, tensor_inputs = _input_bindings(rec, bindings)
        replay, order = build(rec, bindings, result, tensor_inputs)
        k_of = {i: k for i, (kind, k) in enumerate(rec.sources) if kind == "input"}
        replay.input_order = [k_of[i] for i in order]
        if tensor_inputs:
            run = _ReplayWithTensors(replay, replay.input_order, tensor_inputs)
        else:
            run = _Replay(replay, replay.input_order)
        return _Entry(run, state, hyper, modules, grads, req)


class _Replay:
    """The generated function, fed the call's input arrays in its slot order."""

    __slots__ = ("fn", "order")

    def __init__(self, fn, order) -> None:
        self.fn, self.order = fn, order

    def __call__(self, args, kwargs):
        arrays = [a._data for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        return self.fn(*[arrays[k] for k in self.order])


class _ReplayWithTensors(_Replay):
    """A replay that also sets what the call left on its input Tensors (an input's fresh
    .grad, its version): it is handed those Tensors after the arrays."""

    __slots__ = ("tensors",)

    def __init__(self, fn, order, tensors) -> None:
        super().__init__(fn, order)
        self.tensors = tensors

    def __call__(self, args, kwargs):
        inputs = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        return self.fn(*[inputs[k]._data for k in self.order], *[inputs[k] for k in self.tensors])


def _reads_any(rec: Recorder, tensors: set) -> bool:
    """Whether the recorded steps read the data of any of ``tensors`` (ids)."""
    used = read_slots(rec.steps)
    return any(id(sw.tensor) in tensors for sw in rec.swapped if sw.tracked._s in used)


def _rebound(rec: Recorder, bound: set, used: set) -> list:
    """(tensor, its .grad when the call began) for the gradients the replay
    assigns whose earlier value the recorded steps depend on: None (autograd then assigns,
    where it would accumulate into one that is there) or a gradient the steps read (added to
    out of place). One the step dropped unread (``zero_grad()`` inside) needs no guard."""
    slot_of = {id(sw.tensor): sw.tracked._s for sw in rec.swapped}
    out = []
    for sw in rec.swapped:  # an input's gradient (None or not) is in the call's key
        if id(sw.tensor) in bound and rec.sources[sw.tracked._s][0] != "input":
            g = sw.grad
            if g is None or slot_of.get(id(g)) in used:
                out.append((sw.tensor, g))
    return out


def _input_bindings(rec: Recorder, bindings: list) -> tuple[list, list]:
    """Bindings on an input Tensor retargeted to the call's own input (``InputRef``): a
    replay's call brings new Tensors, the recorded ones must not get their gradients."""
    slot_of = {id(sw.tensor): sw.tracked._s for sw in rec.swapped}
    vc_of = {}  # a version counter shared with a non-input (an alias) stays that one's
    for sw in sorted(rec.swapped, key=lambda sw: rec.sources[sw.tracked._s][0] != "input"):
        vc_of[id(sw.tensor._vc)] = sw.tensor
    out, used = [], []
    for kind, target, value in bindings:
        t = vc_of.get(id(target)) if kind == "vc" else target
        source = rec.sources[slot_of[id(t)]] if t is not None and id(t) in slot_of else None
        if source is not None and source[0] == "input" and source[1] is not None:
            target = InputRef(source[1])
            if source[1] not in used:
                used.append(source[1])
        out.append((kind, target, value))
    return out, used


_EAGER = object()


def _key(args, kwargs):
    """The per-call guard: each input Tensor's shape, strides, dtype, device, requires_grad, the
    other arguments' values, grad mode and autocast; None when an argument has no hash."""
    parts = [_grad_state.enabled, _active.autocast and _autocast_key(), _active.inference]
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor):
            d = a._data
            # requires_grad, and with it whether a gradient is there to accumulate into
            rg = a._requires_grad and (a._grad is None or 2)
            parts.append((d.shape, d.strides, d.dtype, id(a._device), rg))
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


def _autocast_key() -> tuple | None:
    """This thread's autocast regions (which device types, which dtypes, the weight cast
    cache): a recording casts to one dtype; None when no region is open here."""
    from ..ops._autocast import _state

    if not _state.on:
        return None
    return (*_state.enabled.items(), *_state.dtype.items(), _state.cache_enabled)


def _is_param(t) -> bool:
    from ..nn.parameter import Parameter

    return isinstance(t, Parameter)


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
