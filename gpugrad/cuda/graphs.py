"""CUDA graphs as PyTorch's (``torch.cuda.graphs``), over CuPy's stream capture.

A capture records the GPU work queued on the current (side) stream into a graph instead of
running it; :meth:`CUDAGraph.replay` runs the whole recording with one launch. What gpugrad
adds to CuPy's capture so that a training step can be captured (private memory pools,
matmuls through cuBLAS directly, index checks on the device, waits refused with an error
naming them) is the backend's: ``backend/cuda/capture.py``.

As in PyTorch, run the step a few times before capturing it (warm-up: kernels are compiled
and optimizer state and cached index ranges are made on first use; made inside a capture,
their initialising work would only be recorded, not run), and keep the captured tensors: a
replay reads and writes the same memory every time, so new data goes in by
``static_input.copy_(batch)``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..backend import backend_for
from ..backend.cuda import capture
from ._utils import available, lazy_init, not_compiled_error

__all__ = [
    "CUDAGraph",
    "graph",
    "graph_pool_handle",
    "is_current_stream_capturing",
    "make_graphed_callables",
]


def _dummy(name: str) -> RuntimeError:
    """PyTorch's CPU-only error for a CUDA graph object, with gpugrad's reason added."""
    return RuntimeError(f"Tried to instantiate dummy base class {name} ({not_compiled_error()})")


def graph_pool_handle() -> tuple[int, int]:
    """A token naming a new private memory pool, for graphs that should share one
    (``CUDAGraph.capture_begin(pool=...)``, ``graph(..., pool=...)``)."""
    if not available():
        raise _dummy("_graph_pool_handle")
    return capture.new_pool_handle()


def is_current_stream_capturing() -> bool:
    """Whether the current CUDA stream is capturing a graph (False when CUDA is unusable)."""
    if not available():
        return False
    lazy_init()
    return capture.current_stream_capturing()


class CUDAGraph:
    """One captured CUDA graph (``torch.cuda.CUDAGraph``): ``capture_begin``/``capture_end``
    around the work to record (or the :class:`graph` context), then ``replay()``."""

    def __new__(cls, keep_graph: bool = False) -> CUDAGraph:
        if not available():
            raise _dummy("CUDAGraph")
        return super().__new__(cls)

    def __init__(self, keep_graph: bool = False) -> None:
        self.keep_graph = keep_graph
        self._graph = None  # CuPy's Graph, once captured
        self._pool: tuple[int, int] | None = None
        self._capture: capture.Capture | None = None

    def capture_begin(
        self, pool: tuple[int, int] | None = None, capture_error_mode: str = "global"
    ) -> None:
        """Begin capturing the work queued on the current stream (a non-default one)."""
        cp = lazy_init()
        if self._capture is not None or self._graph is not None:
            raise RuntimeError(
                "This CUDAGraph instance already owns a captured graph. To capture a new graph, "
                "create a new instance."
            )
        backend = backend_for(_cuda(cp.cuda.runtime.getDevice()))
        c = capture.Capture(backend, pool, capture_error_mode)
        c.begin()
        self._capture, self._pool = c, c.pool

    def capture_end(self) -> None:
        """End the capture begun by :meth:`capture_begin` (on the same stream)."""
        if self._capture is None:
            raise RuntimeError("capture_end() called without a capture_begin()")
        c, self._capture = self._capture, None
        self._graph = c.end()

    def replay(self) -> None:
        """Run the captured work on the current stream."""
        if self._graph is None:
            raise RuntimeError("Called CUDAGraph::replay without a preceding successful capture.")
        capture.replay(self._graph)

    def instantiate(self) -> None:
        """Kept for PyTorch's API: CuPy instantiates the graph when the capture ends."""
        if self._graph is None:
            raise RuntimeError("Called CUDAGraph::instantiate without a preceding capture.")

    def reset(self) -> None:
        """Drop the captured graph and this graph's hold on its memory pool."""
        self._graph = None
        self._pool = None

    def pool(self) -> tuple[int, int]:
        """The handle of this graph's memory pool, to share it with a later capture."""
        if self._pool is None:
            raise RuntimeError("Called CUDAGraph::pool() without a preceding successful capture.")
        return self._pool

    def debug_dump(self, debug_path: str) -> None:
        """Write the captured graph in Graphviz's dot format to ``debug_path``."""
        if self._graph is None:
            raise RuntimeError("Called CUDAGraph::debug_dump without a preceding capture.")
        with open(debug_path, "w") as f:
            f.write(self._graph.debug_dot_str())


def _cuda(index: int):
    from .._device import device

    return device("cuda", index)


class graph:  # noqa: N801 - PyTorch's name
    """``with gpugrad.cuda.graph(g):`` captures the block into ``g`` on a side stream
    (``stream``, or one shared by all captures), synchronising the device before it."""

    default_capture_stream = None

    def __init__(
        self,
        cuda_graph: CUDAGraph,
        pool: tuple[int, int] | None = None,
        stream=None,
        capture_error_mode: str = "global",
    ) -> None:
        from .streams import Stream

        if not available():
            raise RuntimeError("torch.cuda.Stream requires CUDA support")
        if self.__class__.default_capture_stream is None:
            self.__class__.default_capture_stream = Stream()
        self.cuda_graph = cuda_graph
        self.pool = pool
        self.capture_stream = stream if stream is not None else self.default_capture_stream
        self.capture_error_mode = capture_error_mode
        self._context = None

    def __enter__(self) -> None:
        from . import synchronize
        from .streams import stream

        synchronize()  # work queued before the block must not run inside the capture
        self._context = stream(self.capture_stream)
        self._context.__enter__()
        try:
            self.cuda_graph.capture_begin(self.pool, self.capture_error_mode)
        except BaseException:
            self._context.__exit__(None, None, None)
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.cuda_graph.capture_end()
        except Exception:
            if exc_type is None:  # the block's own error says more than the broken capture
                raise
        finally:
            self._context.__exit__(None, None, None)


def make_graphed_callables(
    callables,
    sample_args,
    num_warmup_iters: int = 3,
    allow_unused_input: bool = False,
    pool: tuple[int, int] | None = None,
):
    """Graphed versions of ``callables`` (modules or functions; one, or a tuple): each one's
    forward and backward are captured once with its ``sample_args`` and replayed on every call.
    A module's graphed forward runs only in the training mode it was captured in; otherwise its
    own forward runs."""
    if not available():
        raise not_compiled_error()
    single = not isinstance(callables, tuple)
    if single:
        callables, sample_args = (callables,), (sample_args,)
    if len(callables) != len(sample_args):
        raise ValueError("make_graphed_callables: one tuple of sample args per callable")
    pool = pool if pool is not None else graph_pool_handle()
    out = []
    for fn, args in zip(callables, sample_args):
        out.append(_graphed(fn, tuple(args), num_warmup_iters, allow_unused_input, pool))
    return out[0] if single else tuple(out)


def _graphed(fn, args: tuple, warmup: int, allow_unused: bool, pool) -> Callable:
    from .. import autograd, ones_like
    from .._tensor import Tensor
    from ..nn import Module
    from . import current_stream, synchronize

    if not all(isinstance(a, Tensor) and a.device.type == "cuda" for a in args):
        raise TypeError("make_graphed_callables: every sample arg must be a CUDA Tensor")
    module = fn if isinstance(fn, Module) else None
    params = tuple(p for p in module.parameters() if p.requires_grad) if module else ()
    surface = args + params  # what the backward returns gradients for
    needs = tuple(t for t in surface if t.requires_grad)

    def grads_of(outputs, grad_outputs):
        diff = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
        if not diff or not needs:
            return ()
        return autograd.grad(
            tuple(o for o, _ in diff),
            needs,
            grad_outputs=tuple(g for _, g in diff),
            allow_unused=allow_unused,
        )

    side = graph.default_capture_stream or _new_stream()
    graph.default_capture_stream = side
    side.wait_stream(current_stream())
    with _on_stream(side):  # warm-up where the capture will run
        for _ in range(warmup):
            outs = _as_tuple(fn(*args))
            grads_of(outs, tuple(ones_like(o) for o in outs))
    current_stream().wait_stream(side)
    synchronize()
    fwd, bwd = CUDAGraph(), CUDAGraph()
    with graph(fwd, pool=pool, stream=side):
        returned = fn(*args)
    single_out = not isinstance(returned, tuple)
    static_out = _as_tuple(returned)
    static_grad_out = tuple(o.detach().new_empty(o.shape) for o in static_out)
    with graph(bwd, pool=fwd.pool(), stream=side):
        static_grads = grads_of(static_out, static_grad_out)
    grad_slot = {id(t): i for i, t in enumerate(needs)}
    param_arrays = [p.__dict__.get("_data") for p in params]

    class Graphed(autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            for static, new in zip(args, inputs[: len(args)]):
                if new.data_ptr() != static.data_ptr():
                    static.copy_(new)
            fwd.replay()
            return tuple(o.detach() for o in static_out)

        @staticmethod
        def backward(ctx, *grads):
            for static, g in zip(static_grad_out, grads):
                if g is not None:
                    static.copy_(g)
            bwd.replay()
            result = []
            for t in surface:
                i = grad_slot.get(id(t))
                g = static_grads[i] if i is not None and static_grads else None
                result.append(None if g is None else g.detach().clone())
            return tuple(result)

    def run(*inputs):
        if len(inputs) != len(args):
            raise TypeError(
                f"graphed callable takes {len(args)} tensor arguments as captured, got "
                f"{len(inputs)}"
            )
        for new, static in zip(inputs, args):
            if tuple(new.shape) != tuple(static.shape) or new.dtype != static.dtype:
                raise RuntimeError(
                    f"graphed callable: an input of shape {tuple(new.shape)} and dtype "
                    f"{new.dtype} where the graph was captured with {tuple(static.shape)}, "
                    f"{static.dtype}"
                )
        for p, arr in zip(params, param_arrays):
            if p.__dict__.get("_data") is not arr:
                # the graphs read and write the memory captured: a replaced array is not seen
                raise RuntimeError(
                    "graphed callable: a parameter's storage was replaced after the capture "
                    f"(shape {tuple(p.shape)}); capture again with make_graphed_callables"
                )
        outs = Graphed.apply(*inputs, *params)
        return outs[0] if single_out else outs

    if module is None:
        return run
    training = module.training
    original = module.forward

    def forward(*inputs):
        return run(*inputs) if module.training == training else original(*inputs)

    module.forward = forward
    return module


def _as_tuple(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def _new_stream():
    from .streams import Stream

    return Stream()


def _on_stream(s):
    from .streams import stream

    return stream(s)
