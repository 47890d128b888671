"""The backward graph: Node (a grad_fn), AccumulateGrad (a leaf's sink), saved tensors.

A Node is created by an op in the forward pass. ``next_functions`` points at the nodes that
produced its inputs (or a leaf's AccumulateGrad), so the graph is a DAG from the output back
to the leaves. Backward formulas are written with Tensor ops, so the same code builds a new
graph when ``create_graph=True`` and runs on whichever device holds the gradient.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable

from .grad_mode import active as _active
from .grad_mode import counted_flag
from .grad_mode import state as _grad_state

Tensor = None  # gpugrad._tensor sets this (it imports this module, so not the other way)

_seq = itertools.count()
_next_seq = _seq.__next__
_new = object.__new__
_MAX_SEQ = 1 << 62  # AccumulateGrad runs as soon as it is ready, as in PyTorch

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class RemovableHandle:
    """Returned by register_*hook; ``remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks_dict: dict) -> None:
        self._ref = weakref.ref(hooks_dict)
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        d = self._ref()
        if d is not None:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _add_hook(d: OrderedDict | None, fn: Callable) -> tuple[OrderedDict, RemovableHandle]:
    if d is None:
        d = OrderedDict()
    h = RemovableHandle(d)
    d[h.id] = fn
    return d, h


class Node:
    """A backward function in the graph (PyTorch's ``grad_fn``).

    Subclasses implement ``backward(*grad_outputs) -> tuple`` with one entry per input
    (None where no gradient flows).
    """

    # Class-level defaults: a node records only what it needs (see _tensor.Tensor).
    _saved = ()
    # ``_arrays(backend, grad) -> tuple``: the backward formula on bare arrays, for nodes on
    # the hot path (one output, nothing recorded); the engine's plain backward uses it.
    _arrays = None
    # ``_fuse_next(backend, grad, nxt) -> tuple | None``: this node and ``nxt``, its only
    # successor, as one array formula (the outputs of ``nxt``), or None where it does not
    # apply. The engine's plain path tries it when nothing can observe ``nxt`` in between.
    _fuse_next = None
    _hooked = False  # any pre/post/tensor/retain-grad hook: the engine's slow path
    _pre_hooks = None
    _post_hooks = None
    _tensor_pre_hooks = None
    _retain_grad_hooks = None
    _out_meta = None
    _trace = None
    _meta = None
    next_functions = ()
    # Edges recorded into this node (other graphs' too). 1 tells the plain backward walk
    # that one gradient is all the node will get (engine._run_arrays). A leaf's count is
    # reset when it accumulates: the training loop's next graph reuses the AccumulateGrad
    # node while last step's loss is still alive.
    _nin = 0

    def __init__(self) -> None:
        self._seq = _next_seq()
        if _active.anomaly and _grad_state.anomaly:
            import traceback

            self._trace = "".join(traceback.format_stack()[:-2])

    # ---- PyTorch's public Node API ------------------------------------------------
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    @property
    def metadata(self) -> dict:
        if self._meta is None:
            self._meta = {}
        return self._meta

    def register_hook(self, fn: Callable) -> RemovableHandle:
        """fn(grad_inputs, grad_outputs) runs after this node; may return new grad_inputs."""
        self._post_hooks, h = _add_hook(self._post_hooks, fn)
        self._hooked = True
        return h

    def register_prehook(self, fn: Callable) -> RemovableHandle:
        """fn(grad_outputs) runs before this node; may return new grad_outputs."""
        self._pre_hooks, h = _add_hook(self._pre_hooks, fn)
        self._hooked = True
        return h

    def _register_tensor_hook(self, output_nr: int, fn: Callable) -> RemovableHandle:
        if self._tensor_pre_hooks is None:
            self._tensor_pre_hooks = {}
        d, h = _add_hook(self._tensor_pre_hooks.get(output_nr), fn)
        self._tensor_pre_hooks[output_nr] = d
        self._hooked = True
        return h

    def __call__(self, *grads):
        return self.backward(*grads)

    def backward(self, *grads) -> tuple:
        raise NotImplementedError(f"{self.name()} has no backward formula")

    # ---- saved tensors ----------------------------------------------------------------
    # An input is saved as a plain ``(tensor, version)`` pair: it is the common case on
    # every recorded op. A SavedTensor is needed only for the node's own output (kept
    # without its grad_fn), under saved-tensor hooks, and to raise for inference tensors.
    def save(self, *tensors) -> None:
        """Save inputs/outputs for backward; each remembers its version (in-place checks)."""
        if _active.saved_hooks and _saved_hooks.active:
            self._saved = tuple([None if t is None else SavedTensor(t, self) for t in tensors])
            return
        saved = []
        for t in tensors:
            if t is None:
                saved.append(None)
            elif t._inference:
                saved.append(SavedTensor(t, self))  # raises PyTorch's error
            elif t._grad_fn is self:
                saved.append(_saved_output(t))
            else:
                saved.append((t, t._vc[0]))
        self._saved = tuple(saved)

    @property
    def saved_tensors(self) -> tuple:
        return self.saved_arrays(tensors=True)

    def saved_arrays(self, tensors: bool = False) -> tuple:
        """The saved tensors' arrays (version-checked): for the array formulas, which call
        it on every node of every backward; ``tensors=True``: the tensors themselves."""
        saved = self._saved
        if saved is None:
            raise RuntimeError(_FREED_MSG)
        out = []
        for s in saved:
            if type(s) is tuple:  # an input: (tensor, version when saved)
                t, version = s
                if t._vc[0] != version:
                    raise RuntimeError(_input_version_message(t, version, self))
                out.append(t if tensors else t._data)
            elif s is None:
                out.append(None)
            elif tensors or s.unpack_hook is not None or s.vc[0] != s.version:
                out.append(s.unpack(self) if tensors else s.unpack_data(self))
            else:  # unpack_data's common case, inlined
                t = s.tensor
                out.append(s.data if t is None else t._data)
        return tuple(out)

    def _backward_arrays(self, grad) -> tuple:
        """``backward`` through the node's ``_arrays`` formula, Tensors in and out: what a
        node does when nothing is being recorded but it is not called by the array path."""
        dev = grad._device
        make = Tensor._make
        return tuple(
            [None if a is None else make(a, dev) for a in self._arrays(dev.backend, grad._data)]
        )

    def check_not_freed(self) -> None:
        if self._saved is None:
            raise RuntimeError(_FREED_MSG)

    def release_variables(self) -> None:
        if self._saved:
            self._saved = None

    def needs_input_grad(self, i: int) -> bool:
        return self.next_functions[i][0] is not None


class SavedTensor:
    """A tensor kept for backward, with the version it had when saved.

    An op's own output is saved without its grad_fn (the node would otherwise hold itself
    through the tensor, a reference cycle refcounting cannot free) and rebuilt on unpack.
    """

    __slots__ = (
        "tensor",
        "data",
        "version",
        "vc",
        "requires_grad",
        "output_nr",
        "packed",
        "unpack_hook",
        "producer",
        "device",
        "meta",
    )

    def __init__(self, t, node) -> None:
        if t._inference:
            raise RuntimeError(
                "Inference tensors cannot be saved for backward. Please do not use Tensors "
                "created in inference mode in computation tracked by autograd. To work around "
                "this, you can make a clone to get a normal tensor and use it in autograd, or "
                "use `torch.no_grad()` instead of `torch.inference_mode()`."
            )
        self.vc = vc = t._vc
        self.version = vc[0]
        gf = t._grad_fn
        # the node that made t, for error messages (None for leaves and for our own output:
        # keeping the node here would make it hold itself)
        self.producer = gf if gf is not node else None
        hooks = _saved_hooks.stack if _active.saved_hooks and _saved_hooks.active else None
        if hooks:
            pack, unpack = hooks[-1]
            self.packed, self.unpack_hook = pack(t), unpack
            self.tensor = self.data = None
            self.output_nr = -1
            self.device, self.meta = t._device, (t._data.shape, t._data.dtype)  # for errors
            return
        self.packed = self.unpack_hook = None
        if gf is node and gf is not None:
            self.tensor, self.data, self.device = None, t._data, t._device
            self.requires_grad, self.output_nr = t._requires_grad, t._output_nr
        else:
            self.tensor, self.data, self.output_nr = t, None, -1

    def unpack_data(self, node):
        if self.unpack_hook is not None:
            return self.unpack(node)._data
        if self.vc[0] != self.version:
            raise RuntimeError(_version_message(self, node))
        t = self.tensor
        return t._data if t is not None else self.data

    def unpack(self, node):
        if self.vc[0] != self.version:
            raise RuntimeError(_version_message(self, node))
        if self.unpack_hook is not None:
            return self.unpack_hook(self.packed)
        t = self.tensor
        if t is not None:
            return t
        t = Tensor._make(self.data, self.device)
        t._vc = self.vc
        if self.requires_grad:
            t._requires_grad = True
            t._grad_fn, t._output_nr = node, self.output_nr
        return t


def _saved_output(t) -> SavedTensor:
    """``SavedTensor(t, node)`` for a node's own output ``t`` with no hooks active: the
    common case of every op that saves its result (exp, tanh, ...), without the checks."""
    s = _new(SavedTensor)
    s.vc = vc = t._vc
    s.version = vc[0]
    s.producer = s.packed = s.unpack_hook = s.tensor = None
    s.data, s.device = t._data, t._device
    s.requires_grad, s.output_nr = t._requires_grad, t._output_nr
    return s


def _version_message(saved: SavedTensor, node) -> str:
    t = saved.tensor
    if t is not None:
        shape, dt, dev = t._data.shape, t._data.dtype, t._device
    elif saved.data is not None:
        shape, dt, dev = saved.data.shape, saved.data.dtype, saved.device
    else:  # packed by saved-tensor hooks
        (shape, dt), dev = saved.meta, saved.device
    maker = node if saved.output_nr >= 0 else saved.producer
    return _modified_message(
        shape, dt, dev, maker, max(saved.output_nr, 0), saved.vc[0], saved.version
    )


def _input_version_message(t, version: int, node) -> str:
    # PyTorch names the tensor's grad_fn as it is now (after an in-place rebase, the
    # in-place op), not the one it had when saved
    d = t._data
    return _modified_message(
        d.shape, d.dtype, t._device, t._grad_fn, t._output_nr, t._vc[0], version
    )


def _modified_message(shape, dt, dev, maker, output_nr: int, now: int, expected: int) -> str:
    desc = f"[{_type_name(dt, dev)} [{', '.join(str(s) for s in shape)}]]"
    # PyTorch names the forward op here ("Mul"), not its node ("MulBackward0")
    op = re.sub(r"Backward\d*$", "", maker.name()) if maker else ""
    which = f", which is output {output_nr} of {op}," if maker else ""
    return (
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {desc}{which} is at version {now}; expected version "
        f"{expected} instead. Hint: enable anomaly detection to find the operation that "
        "failed to compute its gradient, with torch.autograd.set_detect_anomaly(True, "
        "check_nan=False)."
    )


_TYPE_NAMES = {
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "float16": "HalfTensor",
    "bfloat16": "BFloat16Tensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "bool": "BoolTensor",
}


def _type_name(array_dtype, dev) -> str:
    """PyTorch's legacy type name ("torch.cuda.FloatTensor") used in its error texts."""
    name = _TYPE_NAMES.get(str(array_dtype), "Tensor")
    return f"torch.cuda.{name}" if dev.type == "cuda" else f"torch.{name}"


class AccumulateGrad(Node):
    """The sink for a leaf's gradient: adds it into ``variable.grad``."""

    _seq = _MAX_SEQ  # runs as soon as it is ready, as in PyTorch

    def __init__(self, variable) -> None:  # no Node.__init__: nothing else to set
        self.variable = variable

    def backward(self, grad):
        var = self.variable
        hooks = var._backward_hooks
        if hooks:
            for fn in tuple(hooks.values()):
                new = fn(grad)
                if new is not None:
                    grad = new
        accumulate_grad(var, grad, _grad_state.enabled)
        if var._post_acc_hooks:
            for fn in tuple(var._post_acc_hooks.values()):
                fn(var)
        return ()

    def _arrays(self, backend, grad) -> tuple:
        var = self.variable
        if type(grad) is Tensor:  # a sparse gradient (see engine._call_with_tensors)
            return self.backward(grad)
        g = Tensor._make(grad, var._device)
        if var._backward_hooks or var._post_acc_hooks:
            return self.backward(g)
        shared = _owned.shared
        if var._grad is None and grad.base is None and id(grad) not in shared:
            var._grad = g  # accumulate_grad's first case, inlined: once per parameter
            shared.add(id(grad))
        else:
            accumulate_grad(var, g, False)
        return ()


class _Owned(threading.local):
    # ids of gradients the running backward must not keep without a copy (None: no backward
    # running). A class default, so reading it never raises AttributeError internally.
    shared = None


_owned = _Owned()


def accumulate_grad(var, grad, create_graph: bool) -> None:
    """Add ``grad`` into ``var.grad`` as PyTorch does: in place without create_graph.

    Within one backward each AccumulateGrad runs once, so a gradient kept without a copy
    can only be aliased by another leaf it also reached; the engine's ``shared`` set of ids
    (root gradients, and gradients already kept) makes that second leaf copy.
    """
    old = var._grad
    if grad._sparse is not None or (old is not None and old._sparse is not None):
        var._grad = _sparse_sum(old, grad)
        return
    if old is None:
        # Keep the incoming tensor only when nothing else can see its memory (the engine
        # marks gradients it routed to several places); otherwise store a private copy.
        shared = _owned.shared
        if (
            grad._base is None
            and grad._data.base is None
            and (shared is None or id(grad._data) not in shared)
        ):
            # without create_graph the gradient has no history: keep the tensor itself
            var._grad = grad if create_graph or grad._grad_fn is None else grad.detach()
            if shared is not None:
                shared.add(id(grad._data))  # kept: a second leaf reached by it must copy
        else:
            var._grad = grad.clone() if create_graph else grad.detach().clone()
    elif create_graph or old._grad_fn is not None:
        var._grad = old + grad
    else:
        old._data += grad._data
        old._vc[0] += 1


class _SavedHooks(threading.local):
    stack: list = []
    _saved_hooks = False
    active = counted_flag("saved_hooks")  # any hooks pushed in this thread (checked on saves)

    def __init__(self) -> None:
        self.stack = []


_saved_hooks = _SavedHooks()


def refresh_view(t) -> None:
    """A view whose base was written in place since its grad_fn was made: it is now a view
    of the base's new history (PyTorch regenerates it the same way, as AsStridedBackward0)."""
    t._vver = t._vc[0]
    base = t._base
    if base._requires_grad and base._grad_fn is not None:
        # The one import of the op layer from autograd, late by design: only a stale view
        # (its base written in place) needs the op's node; pyproject's import contract lists it.
        from ..ops.view_inplace import AsStridedBackward0, region_of

        try:
            region = region_of(t, base)
        except RuntimeError:
            return  # a base we cannot describe regions of keeps the old history
        node = AsStridedBackward0()
        node.next_functions = ((base._grad_fn, base._output_nr),)
        base._grad_fn._nin += 1
        node.region = region
        t._grad_fn, t._output_nr, t._requires_grad = node, 0, True


def _edge(t) -> tuple:
    if t is not None and t._base is not None and t._vver != t._vc[0]:
        refresh_view(t)
    if t is None or not t._requires_grad:
        return _NO_EDGE
    gf = t._grad_fn
    if gf is None:
        gf = t._grad_accumulator()
        gf._nin += 1
        return (gf, 0)
    gf._nin += 1
    return (gf, t._output_nr)


_NO_EDGE = (None, 0)


def collect_next_functions(inputs) -> tuple:
    """``next_functions`` for a node whose inputs are ``inputs`` (None for non-tensors)."""
    # _edge inlined: this runs for every recorded op
    edges = []
    for t in inputs:
        if t is not None and t._base is not None and t._vver != t._vc[0]:
            refresh_view(t)
        if t is None or not t._requires_grad:
            edges.append(_NO_EDGE)
        else:
            gf = t._grad_fn
            if gf is None:
                gf = t._grad_accumulator()
                gf._nin += 1
                edges.append((gf, 0))
            else:
                gf._nin += 1
                edges.append((gf, t._output_nr))
    return tuple(edges)


def mark_meta(node: Node, outputs) -> None:
    """Remember each output's shape/dtype/device, to fill zero gradients for unused ones."""
    node._out_meta = tuple((o._data.shape, o._data.dtype, o._device) for o in outputs)


class saved_tensors_hooks:  # noqa: N801 - PyTorch's name
    """Within this block, tensors saved for backward go through ``pack_hook`` and come back
    through ``unpack_hook`` when backward needs them."""

    def __init__(self, pack_hook: Callable, unpack_hook: Callable) -> None:
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self):
        _saved_hooks.stack.append((self.pack_hook, self.unpack_hook))
        _saved_hooks.active = True
        return self

    def __exit__(self, *exc) -> None:
        _saved_hooks.stack.pop()
        _saved_hooks.active = bool(_saved_hooks.stack)


class save_on_cpu(saved_tensors_hooks):  # noqa: N801
    """Keep saved activations in host memory until backward needs them (frees GPU memory)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        def pack(t):
            if t._device.type == "cpu":
                return (t._device, t)
            return (t._device, t.detach().cpu())

        def unpack(packed):
            dev, host = packed
            return host if dev.type == "cpu" else host.to(dev)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801
    """Raise if saved-tensor hooks are used inside this block."""

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message

    def __enter__(self):
        self.prev = _saved_hooks.stack
        _saved_hooks.stack = _Raising(self.error_message)
        return self

    def __exit__(self, *exc) -> None:
        _saved_hooks.stack = self.prev
        _saved_hooks.active = bool(self.prev)


class _Raising(list):
    def __init__(self, msg: str) -> None:
        super().__init__()
        self.msg = msg

    def append(self, item) -> None:
        raise RuntimeError(self.msg)


def add_grads(a, b):
    """Two gradients for one input added: arrays, or a sparse gradient Tensor (the engine
    carries those as Tensors) with anything."""
    if type(a) is Tensor or type(b) is Tensor:
        dev = a._device if type(a) is Tensor else b._device
        a = a if type(a) is Tensor else Tensor._make(a, dev)
        b = b if type(b) is Tensor else Tensor._make(b, dev)
        return _sparse_sum(a, b)
    return a + b


def _sparse_sum(old, grad):
    """``old + grad`` where one is sparse (``old`` may be None); the sparse layout's own
    ``sum_grads`` builds it, as PyTorch sums them (so autograd imports no op)."""
    parts = grad._sparse if grad._sparse is not None else old._sparse
    return parts.sum_grads(old, grad)
