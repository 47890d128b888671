"""gpugrad.compile: record a call's work once, replay it without Tensors or Python per op.

``step = gpugrad.compile(step)`` on a whole training step (zero_grad, forward, loss, backward,
optimizer.step): on the CPU its array work is recorded and replayed (``compiled.py``), on CUDA
tensors the step is captured into one CUDA graph (``cuda_graph.py``). ``gpugrad.compile(model)``
for a module's forward on the CPU: under ``no_grad`` its forward is replayed, in training its
forward and its backward (``module_training.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _runtime
from .compiled import CompiledFunction
from .recording import GraphBreak

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class CompiledModule:
    """A module whose calls go through a CompiledFunction; everything else is the module's."""

    def __init__(self, module, compiled: CompiledFunction) -> None:
        self.__dict__["_orig_mod"] = module
        self.__dict__["_compiled"] = compiled

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._orig_mod, name, value)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"


def compile(  # noqa: A001 - PyTorch's name
    model: Callable | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: Any = "inductor",
    mode: str | None = None,
    options: dict | None = None,
    disable: bool = False,
    warmup: int = 1,
    cache_size: int = 8,
) -> Any:
    """Record ``model`` (a function or a Module) once and replay its array work on later
    calls; also usable as ``@compile(...)``. ``backend`` and ``options`` are accepted and
    ignored; ``dynamic=True`` is refused (each new input shape records again)."""
    if dynamic:
        raise NotImplementedError(
            "gpugrad.compile does not support dynamic=True: each new input shape is recorded "
            "again (up to cache_size recordings); pass dynamic=None or False"
        )
    if mode not in _MODES:
        modes = ", ".join(map(str, _MODES[1:]))
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {modes}")

    def wrap(fn):
        if disable:
            return fn
        from ..nn.modules.module import Module

        if isinstance(fn, Module):
            inner = CompiledFunction(
                fn.__call__, fullgraph=fullgraph, warmup=warmup, cache_size=cache_size,
                module_outputs=True,
            )  # fmt: skip
            return CompiledModule(fn, inner)
        return CompiledFunction(fn, fullgraph=fullgraph, warmup=warmup, cache_size=cache_size)

    if model is None:
        return wrap
    return wrap(model)


_runtime.compile_hooks[:] = [compile]

__all__ = ["CompiledFunction", "CompiledModule", "GraphBreak", "compile"]
