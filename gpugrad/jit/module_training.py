"""``gpugrad.compile(model)`` in training: the forward and its backward as two replays.

The recording call runs the module's forward under the recorder, then, still recording, the
backward of its output to every parameter (and input) that requires grad, with the output's
gradient an input slot of its own (``autograd.grad`` with ``retain_graph``: the caller keeps
the eager graph of this one call). The steps before that split are the forward, the rest the
backward; the forward's arrays the backward reads are what the forward hands over ("saved").
A replayed call then runs the forward replay and returns its output as a Tensor whose
``grad_fn`` is one node, ``CompiledFunctionBackward`` (PyTorch's name for the node of a
compiled region), whose backward is the backward replay: one node instead of the graph.
"""

from __future__ import annotations

import numpy as np

from .. import autograd
from .._dtype import is_floating
from .._tensor import Tensor
from ..autograd.compiled_node import CompiledFunctionBackward
from ..autograd.graph import collect_next_functions
from .compiled import _EAGER, _bindings, _Entry, _module_flags, hooks_in
from .recording import Recorder
from .replay import build_split, read_slots
from .tracked import Tracked


class TrainingEntry(_Entry):
    """A recording of forward + backward; ``run`` replays the forward and links the node."""

    __slots__ = (
        "forward", "backward", "order", "targets", "device", "dtype", "versioned", "req",
        "saved_inputs", "output_saved",
    )  # fmt: skip

    def holds(self) -> bool:
        # a parameter frozen or unfrozen since: the recorded backward has the wrong targets
        for t, flag in self.req:
            if t._requires_grad is not flag:
                return False
        return _Entry.holds(self)

    def run(self, tensors: list) -> Tensor:
        """The forward replayed on the call's input Tensors; the output's node linked to
        their edges and the parameters'."""
        (out,), saved = self.forward(*[tensors[k]._data for k in self.order])
        node = CompiledFunctionBackward()
        node.next_functions = collect_next_functions(
            [tensors[t] if type(t) is int else t for t in self.targets]
        )
        node.replay_backward = self.backward
        node._saved = saved
        node.dtype = self.dtype
        result = Tensor._make(out, self.device)
        result._requires_grad = True
        result._grad_fn = node
        # what the backward reads must not change in place before it runs (the eager
        # nodes' version check): the weights, this call's inputs, the output itself
        versions = [_version(t) for t in self.versioned]
        versions += [_version(tensors[k]) for k in self.saved_inputs]
        if self.output_saved:
            versions.append(_version(result))
        node.versions = versions
        return result


def _version(t: Tensor) -> tuple:
    # the counter itself, not the tensor (the output's node must not hold its output); the
    # error's type and shape come from these only if it is raised
    return (t._vc, t._vc[0], t._device, t._data.dtype, t._data.shape)


def record_training(fn, args, kwargs, inputs: list, fullgraph: bool):
    """Run ``fn`` (a module's call) once, eagerly, under the recorder; returns (its output,
    an entry or None, the reason it could not be recorded or None). An output that needs no
    gradient (every parameter frozen) gets ``_EAGER``: eager is right whatever is unfrozen
    later."""
    rec = Recorder(fullgraph)
    rec.start(inputs)
    entry = None
    try:
        out = fn(*args, **kwargs)
        if rec.active and rec.unconsumed_reads():
            rec.abort("a value read back to Python was used in Python arithmetic")
        if rec.active:
            if isinstance(out, Tensor) and out._grad_fn is None and not out._requires_grad:
                entry = _EAGER
            else:
                entry = _split(rec, out, inputs)
    finally:
        rec.stop()
    return out, entry, rec.reason


def _split(rec: Recorder, out, inputs: list) -> TrainingEntry | None:
    d = out.__dict__.get("_data") if isinstance(out, Tensor) else None
    if type(d) is not Tracked or d._rec is not rec or d._s is None or not is_floating(d.dtype):
        rec.abort("a compiled module's training forward must return one floating Tensor")
        return None
    if len({id(t) for t in inputs}) != len(inputs):
        rec.abort("the same Tensor passed as two arguments")
        return None
    read = read_slots(rec.steps)
    input_ids = {id(t) for t in inputs}
    by_slot = {sw.tracked._s: sw for sw in rec.swapped}
    for s in read:
        sw = by_slot.get(s)
        if sw is not None and sw.tensor._grad_fn is not None and id(sw.tensor) not in input_ids:
            # a tensor with a history from before the call (an autocast region's cached
            # weight copy): its gradient must flow on to that history, which a replay cuts
            rec.abort("the forward read a tensor made by an earlier call's graph")
            return None
    state = [
        (sw.tensor, sw.plain)
        for s, sw in by_slot.items()
        if s in read and rec.sources[s][0] == "const"
    ]
    modules = _module_flags(rec, {id(t) for t, _ in state})
    why = hooks_in(modules, [t for t, _ in state] + list(inputs))
    if why is not None:  # before the backward runs: no hook fires twice
        rec.abort(why)
        return None
    # the targets: the inputs and the leaves the forward read that require grad
    params = [t for t, _ in state if t._requires_grad and t._grad_fn is None]
    wanted = [t for t in inputs if t._requires_grad] + params
    split = len(rec.steps)
    g_plain = np.ones(d.shape, d.dtype)
    g_slot = rec._slot(("input", len(inputs)))
    g = Tensor._make(rec._track(g_plain, g_slot), out._device)
    grads = autograd.grad(out, wanted, grad_outputs=g, retain_graph=True, allow_unused=True)
    if not rec.active:
        return None
    grad_slots = []
    for gr in grads:
        gd = None if gr is None else gr.__dict__.get("_data")
        if gr is not None and (type(gd) is not Tracked or gd._rec is not rec or gd._s is None):
            rec.abort("a gradient the replay cannot rebuild")
            return None
        grad_slots.append(None if gr is None else gd._s)
    bindings = _bindings(rec)
    if rec.reason is not None or any(kind == "grad" for kind, _, _ in bindings):
        rec.abort("the forward changed a gradient")
        return None
    forward, backward, order = build_split(rec, bindings, split, [d._s], [g_slot], grad_slots)
    k_of = {i: k for i, (kind, k) in enumerate(rec.sources) if kind == "input"}
    in_backward = read_slots(rec.steps[split:])
    entry = TrainingEntry(None, state, [], modules)
    entry.forward, entry.backward = forward, backward
    entry.order = [k_of[i] for i in order]
    # inputs by position (each call brings its own), parameters as themselves
    position = {id(t): k for k, t in enumerate(inputs)}
    entry.targets = tuple(position.get(id(t), t) for t in wanted)
    entry.device, entry.dtype = out._device, d.dtype
    entry.versioned = [
        sw.tensor for s, sw in by_slot.items() if s in in_backward and rec.sources[s][0] == "const"
    ]
    entry.saved_inputs = [k for i, k in k_of.items() if i in in_backward and k < len(inputs)]
    entry.output_saved = d._s in in_backward
    entry.req = [(t, t._requires_grad) for t, _ in state]
    return entry
