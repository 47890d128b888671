"""Activation checkpointing: keep a block's inputs, recompute its insides during backward.

    y = checkpoint(block, x, use_reentrant=False)

The forward pass keeps none of the tensors ``block`` would save for backward; backward runs
``block`` again (with the random state it saw the first time, so dropout masks match) and
uses the recomputed tensors. Gradients equal those without checkpointing; peak memory for
the block's activations drops to the recomputation of one block at a time.

Two variants, as in PyTorch:
- ``use_reentrant=False`` (recommended): saved-tensor hooks swap each saved tensor for a
  number; the first unpack recomputes the block and hands back the recomputed tensors. Works
  with ``autograd.grad``, inputs that do not require grad, and keyword arguments.
- ``use_reentrant=True`` (PyTorch's default when not given, with a warning): a custom
  Function (``CheckpointFunctionBackward``) that runs the block under no_grad and, in
  backward, recomputes it with grad enabled and backpropagates through it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .. import _warn, autograd
from .._tensor import Tensor
from ..autograd.graph import saved_tensors_hooks

__all__ = ["checkpoint", "checkpoint_sequential"]


# ---- random state ------------------------------------------------------------------------
def _backends(args) -> list:
    """The backends of the devices the block's tensor inputs live on (cpu always)."""
    from .._device import device as _device

    found = {}
    cpu = _device("cpu").backend
    found[id(cpu)] = cpu
    for a in args:
        if isinstance(a, Tensor):
            found.setdefault(id(a._device.backend), a._device.backend)
    return list(found.values())


def _get_rng_states(args) -> list:
    """A snapshot of each backend's generator: a copy, or a fresh seed it now draws from.

    NumPy generators copy. CuPy's do not (they hold a lock), so the backend is reseeded from
    one draw of its own stream and that seed is replayed at recomputation.
    """
    states = []
    for b in _backends(args):
        try:
            states.append((b, copy.deepcopy(b._rng)))
        except Exception:
            seed = int(b.randint(0, 1 << 62, (), "int64"))
            b.seed(seed)
            states.append((b, seed))
    return states


class _RngState:
    """Within this block each backend replays the saved state; its own is restored after."""

    def __init__(self, states: list) -> None:
        self.states = states

    def __enter__(self) -> None:
        self.prev = [(b, b._rng) for b, _ in self.states]
        for b, st in self.states:
            if isinstance(st, int):
                b.seed(st)
            else:
                b._rng = copy.deepcopy(st)

    def __exit__(self, *exc) -> None:
        for b, rng in self.prev:
            b._rng = rng


class _NoRng:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


# ---- reentrant variant ---------------------------------------------------------------------
class CheckpointFunction(autograd.Function):
    """Forward under no_grad; backward recomputes with grad and backpropagates inside."""

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        ctx.run_function = run_function
        ctx.rng = _get_rng_states(args) if preserve_rng_state else None
        ctx.tensor_idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.inputs = [None if isinstance(a, Tensor) else a for a in args]
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        args = list(ctx.inputs)
        for i, t in zip(ctx.tensor_idx, ctx.saved_tensors):
            d = t.detach()
            d.requires_grad_(t.requires_grad)
            args[i] = d
        with _RngState(ctx.rng) if ctx.rng else _NoRng(), autograd.enable_grad():
            outs = ctx.run_function(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        roots, root_grads = [], []
        for o, g in zip(outs, grads):
            if isinstance(o, Tensor) and o.requires_grad and g is not None:
                roots.append(o)
                root_grads.append(g)
        if not roots:
            raise RuntimeError(
                "none of output has requires_grad=True, this checkpoint() is not necessary"
            )
        autograd.backward(roots, root_grads)
        tensor_grads = [
            args[i].grad if isinstance(args[i], Tensor) else None for i in range(len(args))
        ]
        return (None, None, *tensor_grads)


# ---- non-reentrant variant ---------------------------------------------------------------
class _Frame:
    """One checkpointed call: what to rerun and, after the rerun, the recomputed tensors."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, rng: list | None) -> None:
        self.fn, self.args, self.kwargs, self.rng = fn, args, kwargs, rng
        self.count = 0
        self.recomputed: dict[int, Tensor] | None = None

    def pack(self, t: Tensor) -> int:
        i = self.count
        self.count += 1
        return i

    def unpack(self, i: int) -> Tensor:
        # Recompute on first need (and again if a retained graph is walked a second time).
        if self.recomputed is None or i not in self.recomputed:
            self._recompute()
        t = self.recomputed.pop(i)
        if not self.recomputed:
            self.recomputed = None  # all handed out: drop the recomputed block now
        return t

    def _recompute(self) -> None:
        store: dict[int, Tensor] = {}
        counter = iter(range(1 << 62))

        def keep(t: Tensor) -> int:
            i = next(counter)
            store[i] = t.detach()
            return i

        args = [
            a.detach().requires_grad_(a.requires_grad)
            if isinstance(a, Tensor) and a.dtype.is_floating_point
            else a
            for a in self.args
        ]
        with saved_tensors_hooks(keep, lambda i: None), autograd.enable_grad():
            with _RngState(self.rng) if self.rng else _NoRng():
                self.fn(*args, **self.kwargs)
        if len(store) != self.count:
            raise RuntimeError(
                "torch.utils.checkpoint: A different number of tensors was saved during the "
                f"original forward and recomputation.\nNumber of tensors saved during forward: "
                f"{self.count}\nNumber of tensors saved during recomputation: {len(store)}"
            )
        self.recomputed = store


def _checkpoint_no_reentrant(fn, preserve_rng_state, args, kwargs):
    frame = _Frame(fn, args, kwargs, _get_rng_states(args) if preserve_rng_state else None)
    with saved_tensors_hooks(frame.pack, frame.unpack):
        return fn(*args, **kwargs)


# ---- public API ----------------------------------------------------------------------------
def checkpoint(
    function: Callable,
    *args: Any,
    use_reentrant: bool | None = None,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """Run ``function(*args, **kwargs)`` without keeping its activations; recompute in backward."""
    if use_reentrant is None:
        _warn.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
            "Starting in PyTorch 2.9, calling checkpoint without use_reentrant will raise an "
            "exception. use_reentrant=False is recommended, but if you need to preserve the "
            "current default behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.",
            UserWarning,
        )
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        return CheckpointFunction.apply(function, preserve_rng_state, *args)
    return _checkpoint_no_reentrant(function, preserve_rng_state, args, kwargs)


def checkpoint_sequential(
    functions, segments: int, input: Any, use_reentrant: bool | None = None, **kwargs: Any
) -> Any:
    """Split ``functions`` (a list or Sequential) into ``segments`` checkpointed chunks."""
    fns = list(functions.children()) if hasattr(functions, "children") else list(functions)
    size = max(1, len(fns) // segments)

    def run(start: int, end: int) -> Callable:
        def forward(x):
            for f in fns[start:end]:
                x = f(x)
            return x

        return forward

    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end + 1), input, use_reentrant=use_reentrant, **kwargs)
    return run(end + 1, len(fns))(input)
