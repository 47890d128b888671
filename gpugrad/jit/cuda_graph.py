"""gpugrad.compile on CUDA: the whole step captured once into a CUDA graph, then replayed.

What PyTorch's ``mode="reduce-overhead"`` does with CUDA graphs. A call whose key (shapes,
strides, dtypes, devices, grad and autocast modes) has already run eagerly once runs the step
inside a capture, on a side stream, with its input tensors replaced by static copies the graph
keeps; the capture itself runs nothing, so that call and every later one with the same key
copy their inputs into the static tensors and replay the graph: one launch, no Python per op.

A key is captured only after an eager call with it: state a step makes on first use (momentum
buffers, Adam's moments, cached index ranges) must exist before the capture, since work inside
a capture is only recorded (a buffer made there would start as uninitialised memory).

Guards, checked before each replay: the optimizers' settings (a new lr captures again: the
graph holds it as a kernel argument), the identity of the arrays the graph reads and writes
(every parameter, its gradient tensor, the optimizer state, module buffers) and the module
settings the CPU recordings guard. Outputs are returned as copies: the graph's own output
tensors are overwritten by the next replay.
"""

from __future__ import annotations

import gc
import warnings

from .._tensor import Tensor
from ..backend.cuda import capture


class GraphEntry:
    """One captured step: the graph, the static inputs it reads, its outputs, its guards."""

    __slots__ = ("graph", "statics", "out", "hyper", "arrays", "modules")
    replay = None  # CompiledFunction calls run(tensors), as for a module's training entry

    def __init__(self, graph, statics, out, hyper, arrays, modules) -> None:
        self.graph = graph
        self.statics = statics
        self.out = out
        self.hyper = hyper  # (group, key, value) the capture baked in
        self.arrays = arrays  # (tensor, its array, its grad tensor) as captured
        self.modules = modules  # (module, probe, snapshot), as compiled.module_probe

    def holds(self) -> bool:
        from .compiled import settings_hold

        for t, arr, grad in self.arrays:
            if t.__dict__.get("_data") is not arr or t._grad is not grad:
                return False
        return settings_hold(self.hyper, self.modules)

    def run(self, inputs: list):
        for static, t in zip(self.statics, inputs):
            if static is not t:
                static._data[...] = t._data  # a copy kernel on the current stream
        capture.replay(self.graph)
        return _copied(self.out)


def record(fn, args, kwargs, inputs: list):
    """Capture ``fn(*args, **kwargs)`` and run it once by replaying; returns (output, entry,
    reason): entry None and the reason when the step cannot be captured (nothing of this call
    ran then: the caller runs it eagerly)."""
    from .compiled import hooks_in

    device = inputs[0]._device
    if any(t._device is not device for t in inputs):
        return None, None, "inputs on more than one device"
    backend = device.backend
    statics = [_static(t) for t in inputs]
    swap = {id(t): s for t, s in zip(inputs, statics)}
    s_args = tuple(swap.get(id(a), a) for a in args)
    s_kwargs = {k: swap.get(id(v), v) for k, v in kwargs.items()}
    optimizers, modules = _live_objects(device)
    modules_flags = _module_flags(modules)
    why = hooks_in(modules_flags, [p for o in optimizers for p in _params(o)])
    if why is not None:
        return None, None, why
    backend.synchronize()  # the copies above are done before the side stream starts
    # what a failed capture must put back: the Python side of its work happened, the GPU
    # side did not (a gradient or buffer rebound inside it holds uninitialised memory)
    touched = _touched(optimizers, modules)
    before = [(t, t.__dict__.get("_data"), t._grad, t._vc[0]) for t in touched]
    c = capture.Capture(backend)
    with capture.side_stream(backend.index):
        c.begin()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a warning of the capture run repeats eagerly
                out = fn(*s_args, **s_kwargs)
        except Exception as e:
            _end_quietly(c)
            _restore(before)
            return None, None, f"{type(e).__name__}: {e}"
        graph = c.end()
    if not _rebuildable(out):
        _restore(before)
        return None, None, "the function returned something other than tensors and numbers"
    hyper = [
        (group, k, v) for o in optimizers for group in o.param_groups for k, v in group.items()
        if k != "params"
    ]  # fmt: skip
    arrays = [(t, t.__dict__.get("_data"), t._grad) for t in _touched(optimizers, modules)]
    entry = GraphEntry(graph, statics, out, hyper, arrays, modules_flags)
    return entry.run(inputs), entry, None


def _restore(before: list) -> None:
    for t, data, grad, version in before:
        t._data, t._grad = data, grad
        t._vc[0] = version


def _static(t: Tensor) -> Tensor:
    s = Tensor._make(t._data.copy(), t._device)
    if t._requires_grad:
        s.requires_grad_(True)
    return s


def _live_objects(device) -> tuple[list, list]:
    """The optimizers and modules alive with a parameter on ``device`` (each module with
    its whole tree: a parameterless Dropout's ``p`` is baked in too): the capture may bake in
    any of their settings."""
    from ..nn.modules.module import Module
    from ..optim.optimizer import Optimizer

    with warnings.catch_warnings():  # isinstance() on a deprecated alias object warns
        warnings.simplefilter("ignore")
        objects = [o for o in gc.get_objects() if isinstance(o, (Optimizer, Module))]
    optimizers = [
        o for o in objects
        if isinstance(o, Optimizer) and any(p._device is device for p in _params(o))
    ]  # fmt: skip
    modules: dict = {}
    for m in objects:
        if isinstance(m, Module) and any(p._device is device for p in m.parameters()):
            modules.update((id(x), x) for x in m.modules())
    return optimizers, list(modules.values())


def _module_flags(modules: list) -> list:
    from .compiled import module_probe

    out = []
    for m in modules:
        if "_parameters" in m.__dict__:
            probe = module_probe(m)
            out.append((m, probe, probe(m.__dict__)))
    return out


def _params(opt) -> list:
    return [p for g in opt.param_groups for p in g["params"]]


def _touched(optimizers: list, modules: list) -> list:
    """The tensors whose memory a captured step reads or writes: parameters, optimizer state,
    module buffers (each once)."""
    seen, out = set(), []
    tensors = [p for o in optimizers for p in _params(o)]
    for o in optimizers:
        for st in o.state.values():
            tensors += [v for v in st.values() if isinstance(v, Tensor)]
    for m in modules:
        tensors += [t for t in m.__dict__.get("_parameters", {}).values() if t is not None]
        tensors += [t for t in m.__dict__.get("_buffers", {}).values() if t is not None]
    for t in tensors:
        if id(t) not in seen and t._device.type == "cuda":  # the graph's device
            seen.add(id(t))
            out.append(t)
    return out


def _rebuildable(out) -> bool:
    if isinstance(out, Tensor):
        return out._sparse is None
    if isinstance(out, (tuple, list)):
        return all(_rebuildable(o) for o in out)
    return out is None or type(out) in (int, float, bool, str)


def _copied(out):
    if isinstance(out, Tensor):
        return Tensor._make(out._data.copy(), out._device)
    if isinstance(out, (tuple, list)):
        return type(out)(_copied(o) for o in out)
    return out


def _end_quietly(c) -> None:
    """End a capture the step broke; CUDA may also report it invalidated (already said)."""
    try:
        c.end()
    except Exception:
        pass
