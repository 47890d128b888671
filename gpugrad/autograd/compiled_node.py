"""The node of a compiled region's output (``gpugrad.compile(model)`` in training): its
backward is a recorded backward's array calls, replayed (PyTorch's node of the same role has
this name)."""

from __future__ import annotations

from .grad_mode import state as _grad_state
from .graph import _FREED_MSG, Node, _type_name


class CompiledFunctionBackward(Node):
    """The backward of one replayed forward: the recorded backward's array calls."""

    def backward(self, grad):
        if _grad_state.enabled:  # create_graph: the replay makes no graph of its own
            raise RuntimeError(
                "gpugrad.compile: double backward (create_graph=True) through a compiled "
                "module's forward is not supported; call the module uncompiled for it"
            )
        return self._backward_arrays(grad)

    def _arrays(self, backend, g):
        saved = self._saved
        if saved is None:
            raise RuntimeError(_FREED_MSG)
        for vc, version, device, dtype, shape in self.versions:
            if vc[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: [{_type_name(dtype, device)} {list(shape)}] is "
                    f"at version {vc[0]}; expected version {version} instead."
                )
        return self.replay_backward(*saved, backend.xp.asarray(g, dtype=self.dtype))
