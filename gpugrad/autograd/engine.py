"""The backward engine: an iterative walk of the graph, newest node first.

1. Run nodes newest first (highest sequence number, as PyTorch's ready queue), each once
   all its incoming gradients arrived, summing gradients that reach one input by several
   paths. The general walk (create_graph, ``inputs=``, autograd.grad, anomaly mode, several
   roots) counts the edges into each reachable node first; the plain ``loss.backward()``
   walk (``_run_arrays``) needs no count, see there.
2. Free each node's saved tensors right after it ran, unless ``retain_graph``.
3. When the walk has ended without an error, run the callbacks queued during it
   (``queue_callback``, PyTorch's ``Variable._execution_engine.queue_callback``), in the
   thread that ran the pass, under the pass's grad mode: DistributedDataParallel waits
   for its gradient all-reduces there.

Nothing here asks which array library holds a gradient: nodes compute with Tensor ops.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from itertools import count

from .. import _dtype as D
from .. import _warn
from ..backend import BACKEND_BY_TYPE, backend_of
from ..backend.quiet import quiet
from . import graph
from .grad_mode import active as _active
from .grad_mode import state as _grad_state
from .graph import AccumulateGrad, _owned

_tasks = threading.local()  # .stack: one callback list per backward pass running in the thread


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` when the backward pass that is running in this thread ends.

    Callbacks run in the order queued, after every gradient of the pass was accumulated;
    one queued by a callback runs too. A pass that raises runs none of them.
    """
    stack = getattr(_tasks, "stack", None)
    if not stack:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    stack[-1].append(callback)


class ImperativeEngine:
    """PyTorch's ``Variable._execution_engine``: the engine's face for hooks and DDP."""

    @staticmethod
    def queue_callback(callback: Callable[[], None]) -> None:
        queue_callback(callback)


_execution_engine = ImperativeEngine()


def _begin_task() -> list:
    stack = getattr(_tasks, "stack", None)
    if stack is None:
        stack = _tasks.stack = []
    callbacks: list = []
    stack.append(callbacks)
    return callbacks


def _run_callbacks(callbacks: list) -> None:
    i = 0
    while i < len(callbacks):  # by index: a callback may queue more
        callbacks[i]()
        i += 1


def _dependencies(roots) -> dict:
    """How many edges point at each node reachable from ``roots``."""
    deps: dict = {}
    first = set(roots)
    stack = list(first)
    while stack:
        node = stack.pop()
        for nxt, _ in node.next_functions:
            if nxt is not None:
                n = deps.get(nxt)
                if n is None:
                    deps[nxt] = 1
                    # leaves (AccumulateGrad) have no edges to follow; roots are stacked
                    if nxt.next_functions and nxt not in first:
                        stack.append(nxt)
                else:
                    deps[nxt] = n + 1
    return deps


def _needed(roots, deps: dict, targets: set) -> set:
    """Nodes with a path to a target; only those run when gradients are asked for inputs."""
    remaining = dict(deps)
    order, stack = [], [r for r in set(roots) if r not in deps]
    while stack:  # Kahn's order: parents before children
        node = stack.pop()
        order.append(node)
        for nxt, _ in node.next_functions:
            if nxt is not None:
                remaining[nxt] -= 1
                if remaining[nxt] == 0:
                    stack.append(nxt)
    needed = set()
    for node in reversed(order):
        if node in targets or any(n in needed for n, _ in node.next_functions if n is not None):
            needed.add(node)
    return needed


# a backward pass is silent on IEEE edge cases, as the ops are (one error-state scope per pass)
@quiet
def run_backward(
    roots: list,
    grads: list,
    retain_graph: bool,
    create_graph: bool,
    inputs: list | None = None,
    accumulate: bool = True,
):
    """Backpropagate ``grads`` from ``roots`` (tensors), then run the queued callbacks.

    With ``accumulate`` gradients go into ``.grad`` (of ``inputs`` only, when given).
    Without it (autograd.grad) nothing is accumulated and the gradients reaching ``inputs``
    are returned, None for those the graph never reached.
    """
    callbacks = _begin_task()
    try:
        return _walk(roots, grads, retain_graph, create_graph, inputs, accumulate, callbacks)
    finally:
        _tasks.stack.pop()


def _walk(roots, grads, retain_graph, create_graph, inputs, accumulate, callbacks) -> list:
    root_edges = []
    for i, t in enumerate(roots):
        if not t._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        root_edges.append(t._grad_edge())
    plain = inputs is None and accumulate and not create_graph  # loss.backward()
    if plain and len(roots) == 1 and not (_active.anomaly and _grad_state.anomaly):
        (node, nr), g = root_edges[0], grads[0]._data
        buffers: dict = {}
        _add_to_buffer(buffers, node, nr, g)
        # The caller may hold the root gradient: never keep it as a leaf's .grad.
        _run_arrays(buffers, node, retain_graph, {id(g)}, callbacks)
        return []
    root_nodes = [e[0] for e in root_edges]
    deps = _dependencies(root_nodes)

    captures: dict = {}  # node -> [(output_nr, slot)]
    results: list = []
    target_nodes: set = set()
    if inputs is not None:
        for i, t in enumerate(inputs):
            node, nr = t._grad_edge()
            captures.setdefault(node, []).append((nr, i))
            target_nodes.add(node)
        results = [None] * len(inputs)
    needed = _needed(root_nodes, deps, target_nodes) if inputs is not None else None

    buffers: dict = {}
    for (node, nr), g in zip(root_edges, grads):
        _add_to_buffer(buffers, node, nr, g)

    prev_enabled, prev_shared = _grad_state.enabled, _owned.shared
    _grad_state.enabled = create_graph
    # The caller may hold the root gradients: never store one of them as a leaf's .grad.
    _owned.shared = {id(g._data) for g in grads}
    tie = count()
    heap = [(-n._seq, next(tie), n) for n in set(root_nodes) if n not in deps]
    heapq.heapify(heap)
    anomaly = _grad_state.anomaly
    inline_acc = needed is None and accumulate and not anomaly
    pop, push = heapq.heappop, heapq.heappush
    try:
        node = pop(heap)[2] if heap else None
        while node is not None:
            buf = buffers.pop(node, None)
            outs = None
            if buf is not None:
                if node._hooked:
                    _run_tensor_hooks(node, buf)
                if captures and not (accumulate and type(node) is AccumulateGrad):
                    # (a leaf that accumulates runs its own hooks, once)
                    _capture(node, captures.get(node), buf, results)
                if (
                    needed is None
                    or node in needed
                    and not (
                        type(node) is AccumulateGrad
                        and (not accumulate or node not in target_nodes)
                    )
                ):
                    if node._out_meta is None and not (anomaly or node._hooked):
                        outs = node.backward(*buf)  # the common case, without _call's checks
                    else:
                        outs = _call(node, buf, anomaly)
                    if node._saved and not retain_graph:
                        node.release_variables()
            follow = None  # a successor that is ready and newest runs next without the heap
            i = 0
            for nxt, nr in node.next_functions:
                if nxt is not None:
                    if outs is not None:
                        g = outs[i]
                        if (
                            g is not None
                            and inline_acc
                            and type(nxt) is AccumulateGrad
                            and (deps[nxt] == 1 and nxt not in buffers and not nxt._hooked)
                        ):
                            # A leaf's only gradient: accumulate now. AccumulateGrad runs first
                            # among ready nodes anyway, so the order is unchanged.
                            del deps[nxt]
                            nxt.backward(g)
                            i += 1
                            continue
                        if g is not None:
                            b = buffers.get(nxt)
                            if b is None:
                                meta = nxt._out_meta
                                if meta is None:
                                    buffers[nxt] = [g]
                                else:
                                    b = buffers[nxt] = [None] * len(meta)
                                    b[nr] = g
                            else:
                                old = b[nr]
                                b[nr] = g if old is None else old + g
                    left = deps[nxt] - 1
                    deps[nxt] = left
                    if left == 0 and (needed is None or nxt in needed):
                        if follow is None and (not heap or -heap[0][0] < nxt._seq):
                            follow = nxt
                        else:
                            if follow is not None and follow._seq < nxt._seq:
                                follow, nxt = nxt, follow
                            push(heap, (-nxt._seq, next(tie), nxt))
                i += 1
            node = follow if follow is not None else (pop(heap)[2] if heap else None)
        if callbacks:
            _run_callbacks(callbacks)  # under the pass's grad mode, as PyTorch's
    finally:
        _grad_state.enabled = prev_enabled
        _owned.shared = prev_shared
    return results


@quiet
def backward_scalar(t) -> None:
    """``t.backward()`` with no arguments, the call of every training step.

    The same checks, in the same order, as ``autograd.backward`` (implicit gradient of
    ones, then the root's requires_grad), without its argument handling.
    """
    d = t._data
    if d.size != 1:
        raise RuntimeError("grad can be implicitly created only for scalar outputs")
    if not D.is_floating(d.dtype):
        raise RuntimeError(
            f"grad can be implicitly created only for real scalar outputs but got {t.dtype}"
        )
    seed = t._device.backend.ones(d.shape, d.dtype)
    if not t._requires_grad or (_active.anomaly and _grad_state.anomaly):
        run_backward([t], [graph.Tensor._make(seed, t._device)], False, False)
        return
    node, nr = t._grad_edge()
    buffers: dict = {}
    _add_to_buffer(buffers, node, nr, seed)
    callbacks = _begin_task()
    try:
        _run_arrays(buffers, node, False, {id(seed)}, callbacks)
    finally:
        _tasks.stack.pop()


def _run_arrays(buffers: dict, root, retain_graph: bool, shared: set, callbacks: list) -> None:
    """The plain ``loss.backward()`` from one root: bare arrays between nodes.

    Nothing is recorded without create_graph, so gradients need not be Tensors until they
    reach a leaf. Nodes with an ``_arrays(backend, *grads)`` formula (the hot ones) take
    and return arrays; any other node, and any node with hooks, gets Tensors as usual.
    ``buffers`` holds the root's gradient; ``shared`` the ids of arrays that a leaf's
    ``.grad`` must not keep without a copy (the caller's).

    No dependency count up front: a node runs when it is the newest (highest sequence
    number) node holding a gradient. Every node that can still send it one is newer than
    it (inputs are recorded before the ops that use them) and is either waiting in the
    heap or downstream of a node there that is newer still, so this is the order the
    counting walk takes. Leaves (AccumulateGrad, newest of all) are the exception: one
    recorded edge (``_nin``) means one gradient, accumulated on arrival; a leaf used
    several times, or with hooks, waits for the count of edges that reach it, worked out
    once, on demand. The queued ``callbacks`` run at the end, with grad mode off.
    """
    prev_enabled, prev_shared = _grad_state.enabled, _owned.shared
    _grad_state.enabled = False
    _owned.shared = shared
    tie = count()
    heap: list = []
    pop, push = heapq.heappop, heapq.heappush
    by_type = BACKEND_BY_TYPE
    make = graph.Tensor._make
    deps = arrived = None  # for leaves used more than once: edges that reach, that arrived
    try:
        node = root
        while node is not None:
            buf = buffers.pop(node)
            fn = node._arrays
            if buf is _NO_GRAD:  # reached by None gradients only: passes on None
                outs = (None,) * len(node.next_functions)
            else:
                if (
                    fn is None
                    or node._hooked
                    or node._out_meta is not None
                    or type(buf[0]) is graph.Tensor  # a sparse gradient: Tensor formulas only
                ):
                    outs = _call_with_tensors(node, buf)
                else:
                    outs = None
                    g = buf[0]
                    be = by_type.get(type(g)) or backend_of(g)
                    if node._fuse_next is not None:
                        nxt = node.next_functions[0][0]
                        # nxt's only input is this node and it has no hooks: running the two
                        # as one formula cannot be told apart (cross_entropy's two nodes)
                        if nxt is not None and nxt._nin == 1 and not nxt._hooked:
                            outs = node._fuse_next(be, g, nxt)
                            if outs is not None:
                                if node._saved and not retain_graph:
                                    node._saved = None
                                node = nxt
                    if outs is None:
                        outs = fn(be, g)
                if node._saved and not retain_graph:
                    node._saved = None
            follow = None  # a successor that is newest runs next without the heap
            i = 0
            for nxt, nr in node.next_functions:
                if nxt is not None:
                    g = outs[i]
                    if type(nxt) is AccumulateGrad:
                        if nxt._nin == 1 and not nxt._hooked:
                            nxt._nin = 0  # this graph's use is spent (see Node._nin)
                            if g is not None:
                                var = nxt.variable
                                if (
                                    var._grad is None
                                    and type(g) is not graph.Tensor
                                    and g.base is None
                                    and id(g) not in shared
                                    and not (var._backward_hooks or var._post_acc_hooks)
                                ):
                                    # AccumulateGrad._arrays' first case, inlined
                                    var._grad = make(g, var._device)
                                    shared.add(id(g))
                                else:
                                    nxt._arrays(None, g)
                        else:
                            if deps is None:
                                deps, arrived = _dependencies((root,)), {}
                            if g is not None:
                                _add_to_buffer(buffers, nxt, 0, g)
                            n = arrived.pop(nxt, 0) + 1
                            if n < deps[nxt]:
                                arrived[nxt] = n
                            else:
                                _run_leaf(nxt, buffers.pop(nxt, None))
                    else:
                        b = buffers.get(nxt)
                        if b is not None and b is not _NO_GRAD:
                            if g is not None:
                                old = b[nr]
                                b[nr] = g if old is None else old + g
                            i += 1
                            continue
                        if g is not None:
                            meta = nxt._out_meta
                            if meta is None:
                                buffers[nxt] = [g]
                            else:
                                buffers[nxt] = [None] * len(meta)
                                buffers[nxt][nr] = g
                        elif b is None:
                            # visited all the same: the leaves it reaches count on it
                            buffers[nxt] = _NO_GRAD
                        if b is None:  # newly reached: it runs next if newest, else waits
                            if follow is None and (not heap or -heap[0][0] < nxt._seq):
                                follow = nxt
                            else:
                                if follow is not None and follow._seq < nxt._seq:
                                    follow, nxt = nxt, follow
                                push(heap, (-nxt._seq, next(tie), nxt))
                i += 1
            node = follow if follow is not None else (pop(heap)[2] if heap else None)
        if arrived:
            # leaves that expected more (their count of uses was reset by an earlier
            # backward through a retained graph): what arrived is all there is
            for nxt in arrived:
                _run_leaf(nxt, buffers.pop(nxt, None))
        if callbacks:
            _run_callbacks(callbacks)
    finally:
        _grad_state.enabled = prev_enabled
        _owned.shared = prev_shared


_NO_GRAD = object()  # the buffer of a node that only None gradients reached


def _run_leaf(acc, buf) -> None:
    """Run an AccumulateGrad that waited for all its gradients (hooks as any node)."""
    acc._nin = 0
    if buf is not None:
        if acc._hooked:
            _call_with_tensors(acc, buf)
        else:
            acc._arrays(None, buf[0])


def _call_with_tensors(node, buf: list) -> tuple:
    """A node without an array formula (or with hooks): Tensors in, arrays out."""
    make = graph.Tensor._make
    tbuf = [
        None if a is None else a if type(a) is graph.Tensor else make(a, backend_of(a).device)
        for a in buf
    ]
    if node._hooked:
        _run_tensor_hooks(node, tbuf)
    outs = _call(node, tbuf, False)
    # a sparse gradient (embedding's sparse=True) travels as its Tensor: it has no array
    return tuple([None if o is None else (o if o._sparse is not None else o._data) for o in outs])


def _add_to_buffer(buffers, node, nr, g) -> None:
    buf = buffers.get(node)
    if buf is None:
        meta = node._out_meta
        buf = buffers[node] = [None] * (len(meta) if meta else 1)
    old = buf[nr]
    buf[nr] = g if old is None else graph.add_grads(old, g)


def _capture(node, cap, buf, results) -> None:
    if cap is not None:
        for nr, slot in cap:
            g = buf[nr]
            if type(node) is AccumulateGrad and node.variable._backward_hooks and g is not None:
                for fn in tuple(node.variable._backward_hooks.values()):  # a leaf's own hooks
                    new = fn(g)
                    if new is not None:
                        g = new
            results[slot] = g if results[slot] is None or g is None else results[slot] + g


def _run_tensor_hooks(node, buf) -> None:
    hooks = node._tensor_pre_hooks
    if hooks:
        for nr, d in hooks.items():
            if buf[nr] is not None:
                for fn in tuple(d.values()):
                    new = fn(buf[nr])
                    if new is not None:
                        buf[nr] = new
    retain = node._retain_grad_hooks
    if retain:
        for nr, ref in retain.items():
            t = ref()
            if t is not None and buf[nr] is not None:
                g = buf[nr]
                t._grad = g.detach().clone() if t._grad is None else t._grad + g.detach()


def _call(node, buf: list, anomaly: bool) -> tuple:
    meta = node._out_meta
    if meta is not None and any(g is None for g in buf):
        _fill_zeros(buf, meta)
    if node._pre_hooks:
        for fn in tuple(node._pre_hooks.values()):
            new = fn(tuple(buf))
            if new is not None:
                buf = list(new)
    if anomaly:
        outs = _call_with_anomaly(node, buf)
    else:
        outs = node.backward(*buf)
    if node._post_hooks:
        for fn in tuple(node._post_hooks.values()):
            new = fn(outs, tuple(buf))
            if new is not None:
                outs = tuple(new)
    return outs


def _fill_zeros(buf: list, meta) -> None:
    from .._tensor import Tensor

    for i, (shape, dt, dev) in enumerate(meta):
        if buf[i] is None:
            buf[i] = Tensor._make(dev.backend.xp.zeros(shape, dt), dev)


def _call_with_anomaly(node, buf):
    try:
        outs = node.backward(*buf)
    except Exception as e:
        if node._trace:
            note = (
                f"Error detected in {node.name()}. Traceback of forward call that caused "
                f"the error:\n{node._trace}"
            )
            if hasattr(e, "add_note"):
                e.add_note(note)
            else:  # Python 3.10
                e.args = (f"{e.args[0] if e.args else ''}\n{note}",) + e.args[1:]
        raise
    for i, g in enumerate(outs):
        if g is not None and g.dtype.is_floating_point:
            xp = g._device.backend.xp
            if bool(xp.isnan(g._data).any()):
                msg = f"Function '{node.name()}' returned nan values in its {i}th output."
                if node._trace:
                    msg += f"\nTraceback of forward call that caused the error:\n{node._trace}"
                raise RuntimeError(msg)
    return outs


# ---- the user's calls: autograd.backward and autograd.grad (PyTorch's argument handling) ----
def _as_list(x) -> list:
    if x is None:
        return []
    return [x] if isinstance(x, graph.Tensor) else list(x)


def _make_grads(outputs: list, grads: list, is_grads_batched: bool = False) -> list:
    Tensor = graph.Tensor  # noqa: N806 - the class, bound late (see graph.py)

    if len(grads) < len(outputs):
        grads = grads + [None] * (len(outputs) - len(grads))
    if len(grads) != len(outputs):
        raise RuntimeError(
            "grad can be implicitly created only for scalar outputs"
            if not grads
            else f"Mismatch in number of outputs: {len(grads)} gradients for {len(outputs)} outputs"
        )
    out = []
    for i, (o, g) in enumerate(zip(outputs, grads)):
        if g is None:
            if o._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not D.is_floating(o._data.dtype):
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {o.dtype}"
                )
            g = Tensor._make(o._device.backend.ones(o._data.shape, o._data.dtype), o._device)
        else:
            if not isinstance(g, Tensor):
                raise TypeError(
                    f"gradients can be either Tensors or None, but got {type(g).__name__}"
                )
            if g._data.shape != o._data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and "
                    f"output[{i}] has a shape of {o.shape}."
                )
            if g._device is not o._device:
                raise RuntimeError(
                    f"Mismatch in device: grad_output[{i}] is on {g._device} but output[{i}] "
                    f"is on {o._device}."
                )
        out.append(g)
    return out


def backward(
    tensors,
    grad_tensors=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    grad_variables=None,
    inputs=None,
) -> None:
    """Accumulate gradients of ``tensors`` (with ``grad_tensors``) into the leaves' ``.grad``."""
    roots = _as_list(tensors)
    grads = _make_grads(
        roots, _as_list(grad_tensors if grad_tensors is not None else grad_variables)
    )
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        _warn.warn(
            "Using backward() with create_graph=True will create a reference cycle between the "
            "parameter and its gradient which can cause a memory leak. We recommend using "
            "autograd.grad when creating the graph to avoid this. If you have to use this "
            "function, make sure to reset the .grad fields of your parameters to None after "
            "use to break the cycle and avoid the leak.",
            UserWarning,
        )
    ins = _as_list(inputs) if inputs is not None else None
    if ins is not None and not ins:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    if ins is not None:
        for t in ins:
            if not t._requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
        results = run_backward(
            roots, grads, retain_graph, create_graph, inputs=ins, accumulate=True
        )
        # Non-leaf inputs get their gradient in .grad too (PyTorch's behaviour).
        for t, g in zip(ins, results):
            if t._grad_fn is not None and g is not None:
                graph.accumulate_grad(t, g, create_graph)
        return
    run_backward(roots, grads, retain_graph, create_graph)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``; ``.grad`` is left untouched."""
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but "
            "got: allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    for t in ins:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _make_grads(outs, _as_list(grad_outputs))
    if retain_graph is None:
        retain_graph = create_graph
    results = run_backward(outs, grads, retain_graph, create_graph, inputs=ins, accumulate=False)
    final = []
    for i, (t, g) in enumerate(zip(ins, results)):
        if g is None:
            if materialize_grads:
                g = t.new_zeros(t.shape)
            elif not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior."
                )
        elif not create_graph:
            g = g.detach()
        final.append(g)
    return tuple(final)
